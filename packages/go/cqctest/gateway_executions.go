package cqctest

// The reference VenueGateway's execution reports: every change order entry makes to an order (accepted,
// pending, rejected by the simulated venue, replaced, canceled, filled) is recorded as one ExecutionReport,
// as a venue would send it; ListExecutionReports pages them (newest first, filters, read mask, 4 MiB-bounded
// pages) and StreamExecutionReports follows them (since_time replay, snapshot_complete marker, resume
// tokens). The markets' order checks (PRICE_SIGN_NOT_ALLOWED, MARKET_NOT_TRADABLE) live here too.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// VenueFillTag makes the simulated venue fill an accepted order (with a quantity and a price) whole at its
// limit price, so that clients see a TRADE execution report. Nothing else ever fills.
const VenueFillTag = "cqc-testing:venue-fill"

var execTypeByStatus = map[venuesv1.OrderStatus]venuesv1.ExecType{
	venuesv1.OrderStatus_ORDER_STATUS_NEW:              venuesv1.ExecType_EXEC_TYPE_NEW,
	venuesv1.OrderStatus_ORDER_STATUS_PENDING_NEW:      venuesv1.ExecType_EXEC_TYPE_PENDING_NEW,
	venuesv1.OrderStatus_ORDER_STATUS_REJECTED:         venuesv1.ExecType_EXEC_TYPE_REJECTED,
	venuesv1.OrderStatus_ORDER_STATUS_CANCELED:         venuesv1.ExecType_EXEC_TYPE_CANCELED,
	venuesv1.OrderStatus_ORDER_STATUS_EXPIRED:          venuesv1.ExecType_EXEC_TYPE_EXPIRED,
	venuesv1.OrderStatus_ORDER_STATUS_PARTIALLY_FILLED: venuesv1.ExecType_EXEC_TYPE_TRADE,
	venuesv1.OrderStatus_ORDER_STATUS_FILLED:           venuesv1.ExecType_EXEC_TYPE_TRADE,
	venuesv1.OrderStatus_ORDER_STATUS_PENDING_CANCEL:   venuesv1.ExecType_EXEC_TYPE_PENDING_CANCEL,
	venuesv1.OrderStatus_ORDER_STATUS_PENDING_REPLACE:  venuesv1.ExecType_EXEC_TYPE_PENDING_REPLACE,
	venuesv1.OrderStatus_ORDER_STATUS_TRIGGERED:        venuesv1.ExecType_EXEC_TYPE_TRIGGERED,
	venuesv1.OrderStatus_ORDER_STATUS_SUSPENDED:        venuesv1.ExecType_EXEC_TYPE_SUSPENDED,
}

// execState is every execution report of one server state, in recording order (the stream positions);
// guarded by state.mu.
type execState struct {
	log     []*venuesv1.ExecutionReport
	orders  map[string]*venuesv1.Order // order_id -> the order as last reported
	changed chan struct{}              // closed and replaced on every report
}

var execStates sync.Map // *state -> *execState

// execs returns the execution-report state; the caller holds g.s.mu.
func (g *venueGateway) execs() *execState {
	v, _ := execStates.LoadOrStore(g.s, &execState{orders: map[string]*venuesv1.Order{}, changed: make(chan struct{})})
	return v.(*execState)
}

// execTypeOf is what a venue reports for a change: a fill when the order gained fills, a replacement when an
// open order changed without changing status, otherwise the new status's report.
func execTypeOf(previous, o *venuesv1.Order) venuesv1.ExecType {
	if previous != nil && len(o.GetFills()) > len(previous.GetFills()) {
		return venuesv1.ExecType_EXEC_TYPE_TRADE
	}
	t, known := execTypeByStatus[o.GetStatus()]
	if previous != nil && previous.GetStatus() == o.GetStatus() && known {
		return venuesv1.ExecType_EXEC_TYPE_REPLACED
	}
	if !known {
		return venuesv1.ExecType_EXEC_TYPE_ORDER_STATUS
	}
	return t
}

// recordExecution records the report of one order change (o is the order after it) and wakes the streams;
// the caller holds g.s.mu for writing.
func (g *venueGateway) recordExecution(o *venuesv1.Order) error {
	st := g.execs()
	execType := execTypeOf(st.orders[o.GetOrderId()], o)
	st.orders[o.GetOrderId()] = proto.Clone(o).(*venuesv1.Order)
	now := g.s.now()
	ts := timestamppb.New(now)
	r := &venuesv1.ExecutionReport{
		ExecutionId:       "exe_" + newULID(now),
		ExecType:          execType,
		VenueExecType:     strings.TrimPrefix(execType.String(), "EXEC_TYPE_"),
		OrderStatus:       o.GetStatus(),
		VenueOrderStatus:  strings.TrimPrefix(o.GetStatus().String(), "ORDER_STATUS_"),
		OrderId:           proto.String(o.GetOrderId()),
		ClientOrderId:     o.GetClientOrderId(),
		VenueOrderId:      o.GetVenueOrderId(),
		OrigClientOrderId: o.GetOrigClientOrderId(),
		VenueOrderListId:  o.VenueOrderListId,
		AccountId:         o.GetAccountId(),
		VenueId:           o.GetVenueId(),
		MarketId:          o.GetMarketId(),
		Side:              o.GetSide(),
		OrderType:         o.GetOrderType(),
		TimeInForce:       o.GetTimeInForce(),
		PostOnly:          o.GetPostOnly(),
		OrderQuantity:     o.Quantity,
		OrderPrice:        o.Price,
		TriggerPrice:      o.TriggerPrice,
		CumQuantity:       o.GetFilledQuantity(),
		LeavesQuantity:    o.LeavesQuantity,
		AvgPrice:          o.AvgFillPrice,
		TransactTime:      ts,
		ReceiveTime:       ts,
		OrderCreateTime:   o.GetCreateTime(),
		WorkingTime:       o.GetWorkingTime(),
		RejectReason:      o.GetRejectReason(),
		VenueReasonCode:   o.GetVenueReasonCode(),
		ReasonText:        o.GetReasonText(),
		PositionSide:      o.GetPositionSide(),
		ReduceOnly:        o.GetReduceOnly(),
	}
	if r.CumQuantity == "" {
		r.CumQuantity = "0"
	}
	if fills := o.GetFills(); execType == venuesv1.ExecType_EXEC_TYPE_TRADE && len(fills) > 0 {
		f := fills[len(fills)-1]
		r.VenueTradeId, r.VenueExecutionId = f.GetVenueTradeId(), f.GetVenueTradeId()
		r.LastQuantity, r.LastPrice = proto.String(f.GetQuantity()), proto.String(f.GetPrice())
		r.LiquiditySide, r.Commission = f.GetLiquiditySide(), f.GetCommission()
		if f.GetTransactTime() != nil {
			r.TransactTime = f.GetTransactTime()
		}
	}
	raw, _ := json.Marshal(map[string]string{
		"e": "executionReport", "x": r.GetVenueExecType(), "X": r.GetVenueOrderStatus(),
		"i": o.GetVenueOrderId(), "c": o.GetClientOrderId(), "z": r.GetCumQuantity(),
	})
	r.SourceRecord = &typesv1.SourceRecord{
		Source: "cqc-testing", Endpoint: "simulated-venue/executionReport", RawJson: string(raw),
		Format: typesv1.SourceFormat_SOURCE_FORMAT_JSON, ReceiveTime: ts,
	}
	r = proto.Clone(r).(*venuesv1.ExecutionReport) // no field shared with the stored order
	if err := validate(r); err != nil {
		return newError(codes.Internal, "INTERNAL", nil, "built an invalid execution report: %v", err)
	}
	st.log = append(st.log, r)
	close(st.changed)
	st.changed = make(chan struct{})
	return nil
}

// venueFill fills an accepted order tagged VenueFillTag whole at its limit price; the caller holds g.s.mu for
// writing.
func (g *venueGateway) venueFill(o *venuesv1.Order) (*venuesv1.Order, error) {
	if !slices.Contains(o.GetTags(), VenueFillTag) || o.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_NEW ||
		o.Quantity == nil || o.Price == nil {
		return o, nil
	}
	filled := proto.Clone(o).(*venuesv1.Order)
	now := timestamppb.New(g.s.now())
	filled.Fills = append(filled.Fills, &venuesv1.OrderFill{
		VenueTradeId: o.GetVenueOrderId() + "-1", Quantity: o.GetQuantity(), Price: o.GetPrice(),
		LiquiditySide: venuesv1.LiquiditySide_LIQUIDITY_SIDE_TAKER, TransactTime: now,
	})
	filled.PreviousStatus, filled.Status = o.GetStatus(), venuesv1.OrderStatus_ORDER_STATUS_FILLED
	filled.FilledQuantity, filled.LeavesQuantity, filled.AvgFillPrice = o.GetQuantity(), proto.String("0"), o.Price
	filled.UpdateTime, filled.CloseTime = now, now
	if err := g.save(filled); err != nil {
		return nil, err
	}
	return filled, nil
}

// checkTradable refuses an order in a market that takes none by its kind (a published index).
func checkTradable(m *marketsv1.Market) error {
	if m.GetMarketType() == marketsv1.MarketType_MARKET_TYPE_INDEX {
		return newError(codes.FailedPrecondition, "MARKET_NOT_TRADABLE",
			map[string]string{"market_id": m.GetMarketId(), "market_type": m.GetMarketType().String()},
			"market %s is an index and takes no orders", m.GetMarketId())
	}
	return nil
}

// checkPriceSigns refuses a zero or negative price (limit, trigger, activation, attached take-profit /
// stop-loss) in a market whose negative_prices_allowed is false; validation accepts every sign.
func checkPriceSigns(m *marketsv1.Market, path string, prices map[string]*string) error {
	if m.GetNegativePricesAllowed() {
		return nil
	}
	names := make([]string, 0, len(prices))
	for name := range prices {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := prices[name]
		if p == nil {
			continue
		}
		v, ok := new(big.Rat).SetString(*p)
		if !ok || v.Sign() > 0 {
			continue
		}
		where := name
		if path != "" {
			where = path + "." + name
		}
		return newError(codes.InvalidArgument, "PRICE_SIGN_NOT_ALLOWED",
			map[string]string{"market_id": m.GetMarketId(), "field": where, "price": *p},
			"%s %s must be positive: market %s does not allow negative or zero prices", where, *p, m.GetMarketId())
	}
	return nil
}

// newOrderPrices are the prices of a NewOrder that the market's sign rule applies to.
func newOrderPrices(in *servicesv1.NewOrder) map[string]*string {
	prices := map[string]*string{"price": in.Price, "trigger_price": in.TriggerPrice, "activation_price": in.ActivationPrice}
	for name, leg := range map[string]*venuesv1.AttachedOrder{"take_profit": in.GetTakeProfit(), "stop_loss": in.GetStopLoss()} {
		if leg == nil {
			continue
		}
		if leg.GetTriggerPrice() != "" {
			prices[name+".trigger_price"] = proto.String(leg.GetTriggerPrice())
		}
		prices[name+".price"] = leg.Price
	}
	return prices
}

func execScope(accountID string, marketIDs []string) string {
	sorted := slices.Sorted(slices.Values(marketIDs))
	sum := sha256.Sum256([]byte(accountID + "|" + strings.Join(sorted, ",")))
	return hex.EncodeToString(sum[:])[:16]
}

func (g *venueGateway) ListExecutionReports(_ context.Context, req *servicesv1.ListExecutionReportsRequest) (*servicesv1.ListExecutionReportsResponse, error) {
	g.s.mu.Lock()
	_, err := g.account(req.GetAccountId())
	log := slices.Clone(g.execs().log)
	g.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	type positioned struct {
		index int
		r     *venuesv1.ExecutionReport
	}
	var kept []positioned
	for i, r := range log {
		t := r.GetTransactTime().AsTime()
		if r.GetAccountId() != req.GetAccountId() ||
			(len(req.GetMarketIds()) > 0 && !slices.Contains(req.GetMarketIds(), r.GetMarketId())) ||
			(req.OrderId != nil && r.GetOrderId() != req.GetOrderId()) ||
			(req.GetTradesOnly() && r.GetExecType() != venuesv1.ExecType_EXEC_TYPE_TRADE) ||
			(req.GetSinceTime() != nil && t.Before(req.GetSinceTime().AsTime())) ||
			(req.GetUntilTime() != nil && !t.Before(req.GetUntilTime().AsTime())) {
			continue
		}
		kept = append(kept, positioned{i, r})
	}
	// Newest first: by transact time, then by recording order for ties.
	sort.SliceStable(kept, func(i, j int) bool {
		ti, tj := kept[i].r.GetTransactTime().AsTime(), kept[j].r.GetTransactTime().AsTime()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return kept[i].index > kept[j].index
	})
	reports := make([]*venuesv1.ExecutionReport, 0, len(kept))
	for _, p := range kept {
		reports = append(reports, p.r)
	}
	chosen, next, err := acctPage(req, reports, func(r *venuesv1.ExecutionReport) string { return r.GetExecutionId() })
	if err != nil {
		return nil, err
	}
	out := make([]*venuesv1.ExecutionReport, 0, len(chosen))
	for _, r := range chosen {
		c := proto.Clone(r).(*venuesv1.ExecutionReport)
		if err := acctMask(c, req.GetReadMask()); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return &servicesv1.ListExecutionReportsResponse{ExecutionReports: out, NextPageToken: next}, nil
}

func (g *venueGateway) StreamExecutionReports(req *servicesv1.StreamExecutionReportsRequest, stream servicesv1.VenueGateway_StreamExecutionReportsServer) error {
	scope := execScope(req.GetAccountId(), req.GetMarketIds())
	mine := func(r *venuesv1.ExecutionReport) bool {
		return r.GetAccountId() == req.GetAccountId() &&
			(len(req.GetMarketIds()) == 0 || slices.Contains(req.GetMarketIds(), r.GetMarketId()))
	}
	g.s.mu.Lock()
	_, err := g.account(req.GetAccountId())
	st := g.execs()
	position := len(st.log)
	var replay []*venuesv1.ExecutionReport
	if err == nil && req.ResumeToken != nil {
		position, err = acctResumePosition("executions", req.GetResumeToken(), scope, position)
	} else if req.GetSinceTime() != nil {
		since := req.GetSinceTime().AsTime()
		for _, r := range st.log {
			if mine(r) && !r.GetTransactTime().AsTime().Before(since) {
				replay = append(replay, r)
			}
		}
	}
	g.s.mu.Unlock()
	if err != nil {
		return err
	}
	if req.ResumeToken == nil {
		sort.SliceStable(replay, func(i, j int) bool {
			return replay[i].GetTransactTime().AsTime().Before(replay[j].GetTransactTime().AsTime())
		})
		token := acctToken("executions", scope, position)
		for _, r := range replay {
			if err := stream.Send(&servicesv1.StreamExecutionReportsResponse{ExecutionReport: r, IsSnapshot: true, ResumeToken: token}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamExecutionReportsResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	for {
		g.s.mu.Lock()
		st := g.execs()
		changes := slices.Clone(st.log[position:])
		wait := st.changed
		g.s.mu.Unlock()
		for _, r := range changes {
			position++
			if mine(r) {
				if err := stream.Send(&servicesv1.StreamExecutionReportsResponse{ExecutionReport: r, ResumeToken: acctToken("executions", scope, position)}); err != nil {
					return err
				}
			}
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err() // DEADLINE_EXCEEDED or CANCELLED, as the client's side ended it
		case <-g.s.closing:
			return nil
		case <-wait:
		}
	}
}
