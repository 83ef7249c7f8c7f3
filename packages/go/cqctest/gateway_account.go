package cqctest

// The reference VenueGateway's account side: reconciliation mass status (order, fill and position reports
// built from the stored orders and their fills), margin summary (Get and a resumable stream), account
// control (leverage, margin mode, position mode, isolated margin, internal transfers, borrow/repay, fee
// rates) and withdrawals (request, list, cancel) and deposits (list). Nothing reaches a venue: the store is the
// venue. Every mutation is idempotent by request_id.

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// defaultLeverage is the leverage of a market entry the server creates when only the margin mode was set.
const defaultLeverage = "1"

// maxPageBytes bounds a page's encoded size (the contract's 4 MiB, with headroom).
const maxPageBytes = 3 << 20

// accountState is the account-side state of one server state; guarded by state.mu.
type accountState struct {
	ledger   []*portfoliov1.Transaction
	debts    map[string]*big.Rat // account|asset|market -> principal
	isolated map[string]*big.Rat // account|market|side -> isolated margin
	margin   []*venuesv1.MarginSummary
	changed  chan struct{} // closed and replaced on every margin or balance change

	balances   map[string]*venuesv1.Balance // account|asset|wallet -> balance computed from the ledger
	balanceLog []balanceChange
}

type balanceChange struct {
	balance *venuesv1.Balance
	reason  venuesv1.BalanceChangeReason
}

var accountStates sync.Map // *state -> *accountState

// acct returns the account-side state; the caller holds g.s.mu.
func (g *venueGateway) acct() *accountState {
	v, _ := accountStates.LoadOrStore(g.s, &accountState{
		debts: map[string]*big.Rat{}, isolated: map[string]*big.Rat{},
		changed: make(chan struct{}), balances: map[string]*venuesv1.Balance{},
	})
	return v.(*accountState)
}

var (
	cashAccounts = map[venuesv1.AccountType]bool{
		venuesv1.AccountType_ACCOUNT_TYPE_SPOT: true, venuesv1.AccountType_ACCOUNT_TYPE_FUNDING: true,
		venuesv1.AccountType_ACCOUNT_TYPE_EARN: true, venuesv1.AccountType_ACCOUNT_TYPE_WALLET: true,
	}
	borrowingAccounts = map[venuesv1.AccountType]bool{
		venuesv1.AccountType_ACCOUNT_TYPE_MARGIN: true, venuesv1.AccountType_ACCOUNT_TYPE_UNIFIED: true,
	}
	cancelableWithdrawal = map[portfoliov1.TransactionStatus]bool{
		portfoliov1.TransactionStatus_TRANSACTION_STATUS_PENDING:                    true,
		portfoliov1.TransactionStatus_TRANSACTION_STATUS_AWAITING_USER_CONFIRMATION: true,
		portfoliov1.TransactionStatus_TRANSACTION_STATUS_AWAITING_APPROVAL:          true,
	}
)

// --- helpers ------------------------------------------------------------------------------------------------

func acctRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// acctDec writes r in the contract's decimal grammar (no exponent, no trailing fraction zeros).
func acctDec(r *big.Rat) string {
	s := r.FloatString(18)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// idempotent answers a repeated request_id with its first answer, or runs act and remembers its answer;
// the caller holds g.s.mu for writing. Request ids live in the server's one store (state.requests), shared
// with order entry: a request_id used by any other VenueGateway request is REQUEST_ID_REUSED.
func (g *venueGateway) idempotent(requestID string, req proto.Message, act func() (proto.Message, error)) (proto.Message, error) {
	if prior, ok := g.s.requests[requestID]; ok {
		if !sameRequest(prior.request, req) {
			return nil, newError(codes.AlreadyExists, "REQUEST_ID_REUSED", map[string]string{"request_id": requestID},
				"request_id %s was used for a different request", requestID)
		}
		return proto.Clone(prior.extra), nil
	}
	resp, err := act()
	if err != nil {
		return nil, err
	}
	g.s.requests[requestID] = requestEntry{request: proto.Clone(req), extra: proto.Clone(resp)}
	return resp, nil
}

// account returns a copy of a stored account; the caller holds g.s.mu.
func (g *venueGateway) account(id string) (*venuesv1.VenueAccount, error) {
	m, ok := g.s.accounts.items[id]
	if !ok {
		return nil, notFound("NOT_FOUND_ACCOUNT", "account_id", id)
	}
	return proto.Clone(m).(*venuesv1.VenueAccount), nil
}

func (g *venueGateway) market(id string) (*marketsv1.Market, error) {
	m, ok := g.s.markets.items[id]
	if !ok {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", id)
	}
	return m.(*marketsv1.Market), nil
}

func (g *venueGateway) storeAccount(a *venuesv1.VenueAccount) error {
	a.UpdateTime = timestamppb.New(g.s.now())
	if err := validate(a); err != nil {
		return newError(codes.Internal, "INTERNAL", nil, "built an invalid account: %v", err)
	}
	g.s.accounts.items[a.GetAccountId()] = proto.Clone(a)
	return nil
}

func acctUnsupported(operation string, a *venuesv1.VenueAccount, marketID, why string) error {
	metadata := map[string]string{"operation": operation, "venue_id": a.GetVenueId()}
	if marketID != "" {
		metadata["market_id"] = marketID
	}
	return newError(codes.FailedPrecondition, "ACCOUNT_OPERATION_UNSUPPORTED", metadata, "%s: %s", operation, why)
}

func acctMask(m proto.Message, mask *fieldmaskpb.FieldMask) error {
	if len(mask.GetPaths()) == 0 {
		return nil
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	keep := map[protoreflect.Name]bool{}
	for _, p := range mask.GetPaths() {
		top := protoreflect.Name(strings.SplitN(p, ".", 2)[0])
		if fields.ByName(top) == nil {
			return newError(codes.InvalidArgument, "INVALID_READ_MASK", map[string]string{"paths": p}, "unknown read_mask path %q", p)
		}
		keep[top] = true
	}
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Get(i); !keep[f.Name()] {
			r.Clear(f)
		}
	}
	return nil
}

// acctPage returns the page of items (in listing order, unique keys) after the token's key, bounded by size
// and by maxPageBytes.
// pagedRequest is a List request: its page_size and page_token, and the filters its token is bound to.
type pagedRequest interface {
	proto.Message
	GetPageSize() int32
	GetPageToken() string
}

// acctPage returns one page of items (ordered, keyed by key) for req, with the token of the next page. Tokens
// are cqckit page tokens bound to the RPC and the request's filters: garbage, tampered tokens and tokens of
// another RPC or other filters are INVALID_ARGUMENT INVALID_PAGE_TOKEN (as in the Python server).
func acctPage[T proto.Message](req pagedRequest, items []T, key func(T) string) ([]T, string, error) {
	rpc, filters := string(req.ProtoReflect().Descriptor().FullName()), cqckit.FilterDigest(req)
	size := req.GetPageSize()
	start := 0
	if req.GetPageToken() != "" {
		last, err := pageTokens.Decode(rpc, filters, req.GetPageToken())
		if err != nil {
			return nil, "", err
		}
		start = len(items)
		for i, item := range items {
			if key(item) == last {
				start = i + 1
			}
		}
	}
	if size <= 0 {
		size = defaultPageSize
	}
	var chosen []T
	used := 0
	for _, item := range items[start:min(start+int(size), len(items))] {
		n := proto.Size(item) + 8
		if len(chosen) > 0 && used+n > maxPageBytes {
			break
		}
		chosen = append(chosen, item)
		used += n
	}
	next := ""
	if start+len(chosen) < len(items) && len(chosen) > 0 {
		next = pageTokens.Encode(rpc, filters, key(chosen[len(chosen)-1]))
	}
	return chosen, next, nil
}

func (g *venueGateway) accountOrders(accountID string, marketIDs []string) ([]*venuesv1.Order, error) {
	if _, err := g.account(accountID); err != nil {
		return nil, err
	}
	markets := map[string]bool{}
	for _, m := range marketIDs {
		if _, err := g.market(m); err != nil {
			return nil, err
		}
		markets[m] = true
	}
	var out []*venuesv1.Order
	for _, e := range g.s.orders {
		if o := e.order; o.GetAccountId() == accountID && (len(markets) == 0 || markets[o.GetMarketId()]) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetOrderId() < out[j].GetOrderId() })
	return out, nil
}

func acctVenueOrderID(o *venuesv1.Order) string {
	if o.GetVenueOrderId() != "" {
		return o.GetVenueOrderId()
	}
	return o.GetOrderId()
}

// --- reconciliation -----------------------------------------------------------------------------------------

func acctOrderReport(o *venuesv1.Order, receive *timestamppb.Timestamp) *venuesv1.OrderStatusReport {
	o = proto.Clone(o).(*venuesv1.Order)
	r := &venuesv1.OrderStatusReport{
		AccountId: o.GetAccountId(), MarketId: o.GetMarketId(), ClientOrderId: o.GetClientOrderId(),
		VenueOrderId: acctVenueOrderID(o), VenueOrderListId: o.VenueOrderListId, ContingencyType: o.GetContingencyType(),
		Side: o.GetSide(), OrderType: o.GetOrderType(), TimeInForce: o.GetTimeInForce(), Status: o.GetStatus(),
		Quantity: o.Quantity, FilledQuantity: o.GetFilledQuantity(), AvgPrice: o.AvgFillPrice, Price: o.Price,
		TriggerPrice: o.TriggerPrice, TriggerPriceType: o.GetTriggerPriceType(), TrailingOffset: o.TrailingOffset,
		LimitOffset: o.LimitOffset, TrailingOffsetType: o.GetTrailingOffsetType(), DisplayQuantity: o.DisplayQuantity,
		PostOnly: o.GetPostOnly(), ReduceOnly: o.GetReduceOnly(), ExpireTime: o.GetExpireTime(),
		AcceptTime: o.GetWorkingTime(), TriggerTime: o.GetTriggerTime(), LastUpdateTime: o.GetUpdateTime(),
		ReasonText: o.GetReasonText(), ReceiveTime: receive, OrderId: proto.String(o.GetOrderId()),
		QuoteQuantity: o.QuoteQuantity, ClosePosition: o.GetClosePosition(), PositionSide: o.GetPositionSide(),
		QuantityUnit: o.GetQuantityUnit(),
	}
	if r.FilledQuantity == "" {
		r.FilledQuantity = "0"
	}
	if r.LastUpdateTime == nil {
		r.LastUpdateTime = o.GetCreateTime()
	}
	return r
}

func (g *venueGateway) ListOrderStatusReports(_ context.Context, req *servicesv1.ListOrderStatusReportsRequest) (*servicesv1.ListOrderStatusReportsResponse, error) {
	g.s.mu.RLock()
	orders, err := g.accountOrders(req.GetAccountId(), req.GetMarketIds())
	var reports []*venuesv1.OrderStatusReport
	receive := timestamppb.New(g.s.now())
	for _, o := range orders {
		changed := o.GetUpdateTime()
		if changed == nil {
			changed = o.GetCreateTime()
		}
		if openStatuses[o.GetStatus()] || (req.GetSinceTime() != nil && !changed.AsTime().Before(req.GetSinceTime().AsTime())) {
			reports = append(reports, acctOrderReport(o, receive))
		}
	}
	g.s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	sort.SliceStable(reports, func(i, j int) bool {
		return reports[i].GetLastUpdateTime().AsTime().Before(reports[j].GetLastUpdateTime().AsTime())
	})
	for _, r := range reports {
		if err := acctMask(r, req.GetReadMask()); err != nil {
			return nil, err
		}
	}
	chosen, next, err := acctPage(req, reports, func(r *venuesv1.OrderStatusReport) string { return r.GetVenueOrderId() + r.GetOrderId() })
	return &servicesv1.ListOrderStatusReportsResponse{OrderStatusReports: chosen, NextPageToken: next}, err
}

func acctFillReports(orders []*venuesv1.Order, receive *timestamppb.Timestamp) []*venuesv1.FillReport {
	var out []*venuesv1.FillReport
	for _, o := range orders {
		for _, f := range o.GetFills() {
			f = proto.Clone(f).(*venuesv1.OrderFill)
			r := &venuesv1.FillReport{
				AccountId: o.GetAccountId(), MarketId: o.GetMarketId(), VenueOrderId: acctVenueOrderID(o),
				ClientOrderId: o.GetClientOrderId(), VenueTradeId: f.GetVenueTradeId(), Side: o.GetSide(),
				LastQuantity: proto.String(f.GetQuantity()), LastPrice: f.GetPrice(), Commission: f.GetCommission(),
				LiquiditySide: f.GetLiquiditySide(), TransactTime: f.GetTransactTime(), ReceiveTime: receive,
				ExecutionId: f.ExecutionId, OrderId: proto.String(o.GetOrderId()), PositionSide: o.GetPositionSide(),
				QuantityUnit: o.GetQuantityUnit(),
			}
			if r.TransactTime == nil {
				r.TransactTime = o.GetUpdateTime()
			}
			out = append(out, r)
		}
	}
	return out
}

func (g *venueGateway) ListFillReports(_ context.Context, req *servicesv1.ListFillReportsRequest) (*servicesv1.ListFillReportsResponse, error) {
	g.s.mu.RLock()
	orders, err := g.accountOrders(req.GetAccountId(), req.GetMarketIds())
	all := acctFillReports(orders, timestamppb.New(g.s.now()))
	g.s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	var reports []*venuesv1.FillReport
	for _, r := range all {
		t := r.GetTransactTime().AsTime()
		if !t.Before(req.GetSinceTime().AsTime()) && (req.GetUntilTime() == nil || t.Before(req.GetUntilTime().AsTime())) {
			reports = append(reports, r)
		}
	}
	key := func(r *venuesv1.FillReport) string { return r.GetVenueOrderId() + "/" + r.GetVenueTradeId() }
	sort.SliceStable(reports, func(i, j int) bool {
		ti, tj := reports[i].GetTransactTime().AsTime(), reports[j].GetTransactTime().AsTime()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return key(reports[i]) < key(reports[j])
	})
	for _, r := range reports {
		if err := acctMask(r, req.GetReadMask()); err != nil {
			return nil, err
		}
	}
	chosen, next, err := acctPage(req, reports, key)
	return &servicesv1.ListFillReportsResponse{FillReports: chosen, NextPageToken: next}, err
}

type positionTally struct {
	marketID string
	side     venuesv1.PositionSide
	quantity *big.Rat
	cost     *big.Rat
	last     *timestamppb.Timestamp
}

// positions nets the stored fills per (market, position side) in non-spot markets; the caller holds g.s.mu.
func (g *venueGateway) positions(accountID string, marketIDs []string) ([]*positionTally, error) {
	orders, err := g.accountOrders(accountID, marketIDs)
	if err != nil {
		return nil, err
	}
	book := map[string]*positionTally{}
	for _, o := range orders {
		m, ok := g.s.markets.items[o.GetMarketId()]
		if !ok || m.(*marketsv1.Market).GetMarketType() == marketsv1.MarketType_MARKET_TYPE_SPOT {
			continue
		}
		side := o.GetPositionSide()
		if side == venuesv1.PositionSide_POSITION_SIDE_UNSPECIFIED {
			side = venuesv1.PositionSide_POSITION_SIDE_NET
		}
		k := o.GetMarketId() + "|" + side.String()
		p := book[k]
		if p == nil {
			p = &positionTally{marketID: o.GetMarketId(), side: side, quantity: new(big.Rat), cost: new(big.Rat)}
			book[k] = p
		}
		fills := append([]*venuesv1.OrderFill(nil), o.GetFills()...)
		sort.SliceStable(fills, func(i, j int) bool {
			return fills[i].GetTransactTime().AsTime().Before(fills[j].GetTransactTime().AsTime())
		})
		for _, f := range fills {
			delta := acctRat(f.GetQuantity())
			if o.GetSide() == venuesv1.Side_SIDE_SELL {
				delta.Neg(delta)
			}
			abs := new(big.Rat).Abs(delta)
			held := new(big.Rat).Abs(p.quantity)
			switch {
			case p.quantity.Sign() == 0 || p.quantity.Sign() == delta.Sign():
				p.cost.Add(p.cost, new(big.Rat).Mul(abs, acctRat(f.GetPrice())))
			case abs.Cmp(held) <= 0:
				p.cost.Sub(p.cost, new(big.Rat).Quo(new(big.Rat).Mul(p.cost, abs), held))
			default: // flips: the remainder opens at this fill's price
				p.cost.Mul(new(big.Rat).Sub(abs, held), acctRat(f.GetPrice()))
			}
			p.quantity.Add(p.quantity, delta)
			if t := f.GetTransactTime(); t != nil && (p.last == nil || t.AsTime().After(p.last.AsTime())) {
				p.last = t
			}
		}
	}
	out := make([]*positionTally, 0, len(book))
	for _, p := range book {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].marketID != out[j].marketID {
			return out[i].marketID < out[j].marketID
		}
		return out[i].side < out[j].side
	})
	return out, nil
}

// marginAsset is the asset a market's margin and PnL are paid in (its instrument's settlement asset), or "".
func (g *venueGateway) marginAsset(marketID string) string {
	m, ok := g.s.markets.items[marketID]
	if !ok {
		return ""
	}
	i, ok := g.s.instruments.items[m.(*marketsv1.Market).GetInstrumentId()]
	if !ok {
		return ""
	}
	return i.(*marketsv1.Instrument).GetSettlementAssetId()
}

func (g *venueGateway) positionReport(accountID string, p *positionTally) *venuesv1.PositionStatusReport {
	now := timestamppb.New(g.s.now())
	r := &venuesv1.PositionStatusReport{
		AccountId: accountID, MarketId: p.marketID, PositionSide: p.side, SignedQuantity: acctDec(p.quantity),
		LastUpdateTime: p.last, ReceiveTime: now,
	}
	if r.LastUpdateTime == nil {
		r.LastUpdateTime = now
	}
	if p.quantity.Sign() != 0 {
		r.AvgOpenPrice = proto.String(acctDec(new(big.Rat).Quo(p.cost, new(big.Rat).Abs(p.quantity))))
	}
	if a, err := g.account(accountID); err == nil {
		for _, s := range a.GetMarketLeverages() {
			if s.GetMarketId() == p.marketID {
				r.Leverage = proto.String(s.GetLongLeverage())
				if p.side == venuesv1.PositionSide_POSITION_SIDE_SHORT && s.ShortLeverage != nil {
					r.Leverage = proto.String(s.GetShortLeverage())
				}
				r.MarginMode = s.GetMarginMode()
				if r.MarginMode == venuesv1.MarginMode_MARGIN_MODE_UNSPECIFIED {
					r.MarginMode = a.GetMarginMode()
				}
			}
		}
	}
	if margin, ok := g.acct().isolated[accountID+"|"+p.marketID+"|"+p.side.String()]; ok {
		if asset := g.marginAsset(p.marketID); asset != "" {
			r.IsolatedMargin = &typesv1.AssetAmount{Amount: acctDec(margin), AssetId: asset}
		}
	}
	return r
}

func (g *venueGateway) ListPositionStatusReports(_ context.Context, req *servicesv1.ListPositionStatusReportsRequest) (*servicesv1.ListPositionStatusReportsResponse, error) {
	g.s.mu.Lock()
	tallies, err := g.positions(req.GetAccountId(), req.GetMarketIds())
	var reports []*venuesv1.PositionStatusReport
	for _, p := range tallies {
		if p.quantity.Sign() != 0 || req.GetIncludeFlat() {
			reports = append(reports, g.positionReport(req.GetAccountId(), p))
		}
	}
	g.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, r := range reports {
		if err := acctMask(r, req.GetReadMask()); err != nil {
			return nil, err
		}
	}
	chosen, next, err := acctPage(req, reports, func(r *venuesv1.PositionStatusReport) string {
		return r.GetMarketId() + "/" + r.GetPositionSide().String()
	})
	return &servicesv1.ListPositionStatusReportsResponse{PositionStatusReports: chosen, NextPageToken: next}, err
}

// --- margin -------------------------------------------------------------------------------------------------

// marginSummary is CQC's computed summary (is_reported false): the reference venue publishes no margin figures.
func (g *venueGateway) marginSummary(accountID, wallet, operation string) (*venuesv1.MarginSummary, error) {
	a, err := g.account(accountID)
	if err != nil {
		return nil, err
	}
	if cashAccounts[a.GetAccountType()] {
		return nil, acctUnsupported(operation, a, "", "a cash account has no margin")
	}
	if a.BaseAssetId == nil {
		return nil, acctUnsupported(operation, a, "", "the account has no base asset to state margin figures in")
	}
	s := &venuesv1.MarginSummary{AccountId: accountID, Wallet: wallet, AssetId: a.GetBaseAssetId(), MarginMode: a.GetMarginMode(),
		UpdateTime: timestamppb.New(g.s.now())}
	debt := new(big.Rat)
	for k, v := range g.acct().debts {
		if strings.HasPrefix(k, accountID+"|"+a.GetBaseAssetId()+"|") {
			debt.Add(debt, v)
		}
	}
	if debt.Sign() != 0 {
		s.Borrowed = proto.String(acctDec(debt))
	}
	return s, nil
}

func (g *venueGateway) GetMarginSummary(_ context.Context, req *servicesv1.GetMarginSummaryRequest) (*servicesv1.GetMarginSummaryResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	s, err := g.marginSummary(req.GetAccountId(), req.GetWallet(), "GetMarginSummary")
	return &servicesv1.GetMarginSummaryResponse{MarginSummary: s}, err
}

// marginChanged records a new summary of a margin account for the streams; the caller holds g.s.mu.
func (g *venueGateway) marginChanged(accountID string) {
	s, err := g.marginSummary(accountID, "", "StreamMarginSummaries")
	if err != nil {
		return
	}
	st := g.acct()
	st.margin = append(st.margin, s)
	close(st.changed)
	st.changed = make(chan struct{})
}

func marginToken(scope string, position int) string {
	return base64.URLEncoding.EncodeToString(fmt.Appendf(nil, "margin|%s|%d", scope, position))
}

func (g *venueGateway) StreamMarginSummaries(req *servicesv1.StreamMarginSummariesRequest, stream servicesv1.VenueGateway_StreamMarginSummariesServer) error {
	scope := req.GetAccountId() + "/" + req.GetWallet()
	g.s.mu.Lock()
	summary, err := g.marginSummary(req.GetAccountId(), req.GetWallet(), "StreamMarginSummaries")
	position := len(g.acct().margin)
	if err == nil && req.ResumeToken != nil {
		raw, decodeErr := base64.URLEncoding.DecodeString(req.GetResumeToken())
		parts := strings.Split(string(raw), "|")
		p, atoiErr := 0, fmt.Errorf("malformed")
		if len(parts) == 3 {
			p, atoiErr = strconv.Atoi(parts[2])
		}
		if decodeErr != nil || len(parts) != 3 || parts[0] != "margin" || parts[1] != scope || atoiErr != nil || p < 0 || p > position {
			err = newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil, "resume_token was not issued by this margin stream")
		}
		position = p
	}
	g.s.mu.Unlock()
	if err != nil {
		return err
	}
	if req.ResumeToken == nil {
		token := marginToken(scope, position)
		if err := stream.Send(&servicesv1.StreamMarginSummariesResponse{MarginSummary: summary, IsSnapshot: true, ResumeToken: token}); err != nil {
			return err
		}
		if err := stream.Send(&servicesv1.StreamMarginSummariesResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	for {
		g.s.mu.Lock()
		st := g.acct()
		changes := append([]*venuesv1.MarginSummary(nil), st.margin[position:]...)
		wait := st.changed
		g.s.mu.Unlock()
		for _, c := range changes {
			position++
			if c.GetAccountId() == req.GetAccountId() && c.GetWallet() == req.GetWallet() {
				if err := stream.Send(&servicesv1.StreamMarginSummariesResponse{MarginSummary: c, ResumeToken: marginToken(scope, position)}); err != nil {
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

// --- account control ----------------------------------------------------------------------------------------

func (g *venueGateway) derivativesAccount(operation, accountID, marketID string) (*venuesv1.VenueAccount, error) {
	a, err := g.account(accountID)
	if err != nil {
		return nil, err
	}
	if marketID != "" {
		m, err := g.market(marketID)
		if err != nil {
			return nil, err
		}
		if m.GetMarketType() == marketsv1.MarketType_MARKET_TYPE_SPOT && a.GetAccountType() != venuesv1.AccountType_ACCOUNT_TYPE_MARGIN {
			return nil, acctUnsupported(operation, a, marketID, "market "+marketID+" is a spot market")
		}
	}
	if cashAccounts[a.GetAccountType()] {
		return nil, acctUnsupported(operation, a, marketID, "account "+accountID+" is a cash account")
	}
	return a, nil
}

func acctLeverageEntry(a *venuesv1.VenueAccount, marketID string) *venuesv1.MarketLeverage {
	for _, s := range a.GetMarketLeverages() {
		if s.GetMarketId() == marketID {
			return s
		}
	}
	s := &venuesv1.MarketLeverage{MarketId: marketID, LongLeverage: defaultLeverage}
	a.MarketLeverages = append(a.MarketLeverages, s)
	return s
}

func (g *venueGateway) openOrders(accountID, marketID string) bool {
	for _, e := range g.s.orders {
		o := e.order
		if o.GetAccountId() == accountID && openStatuses[o.GetStatus()] && (marketID == "" || o.GetMarketId() == marketID) {
			return true
		}
	}
	return false
}

func (g *venueGateway) hasPosition(accountID, marketID string) bool {
	var markets []string
	if marketID != "" {
		markets = []string{marketID}
	}
	tallies, _ := g.positions(accountID, markets)
	for _, p := range tallies {
		if p.quantity.Sign() != 0 {
			return true
		}
	}
	return false
}

func (g *venueGateway) SetLeverage(_ context.Context, req *servicesv1.SetLeverageRequest) (*servicesv1.SetLeverageResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		a, err := g.derivativesAccount("SetLeverage", req.GetAccountId(), req.GetMarketId())
		if err != nil {
			return nil, err
		}
		if limit := a.GetLimits().GetMaxLeverage(); a.GetLimits() != nil && a.GetLimits().MaxLeverage != nil && acctRat(req.GetLeverage()).Cmp(acctRat(limit)) > 0 {
			return nil, newError(codes.InvalidArgument, "LEVERAGE_OUT_OF_RANGE",
				map[string]string{"market_id": req.GetMarketId(), "max_leverage": limit},
				"leverage %s is above the account's maximum %s", req.GetLeverage(), limit)
		}
		s := acctLeverageEntry(a, req.GetMarketId())
		switch req.GetPositionSide() {
		case venuesv1.PositionSide_POSITION_SIDE_SHORT:
			s.ShortLeverage = proto.String(req.GetLeverage())
		case venuesv1.PositionSide_POSITION_SIDE_LONG:
			if s.ShortLeverage == nil {
				s.ShortLeverage = proto.String(s.GetLongLeverage())
			}
			s.LongLeverage = req.GetLeverage()
		default:
			s.LongLeverage, s.ShortLeverage = req.GetLeverage(), nil
		}
		if err := g.storeAccount(a); err != nil {
			return nil, err
		}
		return &servicesv1.SetLeverageResponse{MarketLeverage: proto.Clone(s).(*venuesv1.MarketLeverage)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.SetLeverageResponse), nil
}

func acctPositionsOpen(setting, marketID string) error {
	metadata := map[string]string{"setting": setting}
	if marketID != "" {
		metadata["market_id"] = marketID
	}
	return newError(codes.FailedPrecondition, "POSITIONS_OR_ORDERS_OPEN", metadata, "%s cannot change with open orders or positions", setting)
}

func (g *venueGateway) SetMarginMode(_ context.Context, req *servicesv1.SetMarginModeRequest) (*servicesv1.SetMarginModeResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		marketID := req.GetMarketId()
		a, err := g.derivativesAccount("SetMarginMode", req.GetAccountId(), marketID)
		if err != nil {
			return nil, err
		}
		current := a.GetMarginMode()
		if marketID != "" {
			for _, s := range a.GetMarketLeverages() {
				if s.GetMarketId() == marketID && s.GetMarginMode() != venuesv1.MarginMode_MARGIN_MODE_UNSPECIFIED {
					current = s.GetMarginMode()
				}
			}
		}
		if current != req.GetMarginMode() {
			if g.openOrders(req.GetAccountId(), marketID) || g.hasPosition(req.GetAccountId(), marketID) {
				return nil, acctPositionsOpen("margin_mode", marketID)
			}
			if marketID != "" {
				acctLeverageEntry(a, marketID).MarginMode = req.GetMarginMode()
			} else {
				a.MarginMode = req.GetMarginMode()
			}
			if err := g.storeAccount(a); err != nil {
				return nil, err
			}
		}
		return &servicesv1.SetMarginModeResponse{VenueAccount: a}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.SetMarginModeResponse), nil
}

func (g *venueGateway) SetPositionMode(_ context.Context, req *servicesv1.SetPositionModeRequest) (*servicesv1.SetPositionModeResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		a, err := g.derivativesAccount("SetPositionMode", req.GetAccountId(), "")
		if err != nil {
			return nil, err
		}
		if a.GetPositionMode() != req.GetPositionMode() {
			if g.openOrders(req.GetAccountId(), "") || g.hasPosition(req.GetAccountId(), "") {
				return nil, acctPositionsOpen("position_mode", "")
			}
			a.PositionMode = req.GetPositionMode()
			if err := g.storeAccount(a); err != nil {
				return nil, err
			}
		}
		return &servicesv1.SetPositionModeResponse{VenueAccount: a}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.SetPositionModeResponse), nil
}

// entry builds a ledger entry of the account-side RPCs.
func (g *venueGateway) entry(accountID, assetID string, reason venuesv1.BalanceChangeReason, amount *big.Rat, status portfoliov1.TransactionStatus) *portfoliov1.Transaction {
	now := timestamppb.New(g.s.now())
	t := &portfoliov1.Transaction{
		TransactionId: "txn_" + newULID(g.s.now()), AccountId: accountID, AssetId: assetID, Type: reason,
		Amount: acctDec(amount), Direction: portfoliov1.TransactionDirection_TRANSACTION_DIRECTION_IN, Status: status,
		CreateTime: now,
	}
	if amount.Sign() < 0 {
		t.Direction = portfoliov1.TransactionDirection_TRANSACTION_DIRECTION_OUT
	}
	if status == portfoliov1.TransactionStatus_TRANSACTION_STATUS_COMPLETED {
		t.SettleTime = now
	}
	return t
}

func (g *venueGateway) book(t *portfoliov1.Transaction) (*portfoliov1.Transaction, error) {
	if err := validate(t); err != nil {
		return nil, newError(codes.Internal, "INTERNAL", nil, "built an invalid transaction: %v", err)
	}
	st := g.acct()
	st.ledger = append(st.ledger, t)
	borrowed := new(big.Rat)
	if t.GetType() == venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_BORROW || t.GetType() == venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_REPAY {
		borrowed = acctRat(t.GetAmount())
	}
	g.move(t.GetAccountId(), t.GetAssetId(), t.GetWallet(), acctRat(t.GetAmount()), borrowed, t.GetType())
	if t.GetType() == venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_TRANSFER && (t.CounterpartyAccountId != nil || t.GetCounterpartyWallet() != "") &&
		t.GetCounterpartyWallet() != "isolated_margin" { // isolated margin is held by the position, not a ledger
		target := t.GetAccountId()
		if t.CounterpartyAccountId != nil {
			target = t.GetCounterpartyAccountId()
		}
		g.move(target, t.GetAssetId(), t.GetCounterpartyWallet(), new(big.Rat).Neg(acctRat(t.GetAmount())), new(big.Rat), t.GetType())
	}
	return proto.Clone(t).(*portfoliov1.Transaction), nil
}

// move applies a change to the computed balance of (account, asset, wallet) and logs it for StreamBalances;
// the caller holds g.s.mu. These balances are computed by CQC from the server's own ledger (is_reported
// false): the reference venue publishes none.
func (g *venueGateway) move(accountID, assetID, wallet string, amount, borrowed *big.Rat, reason venuesv1.BalanceChangeReason) {
	st := g.acct()
	key := accountID + "|" + assetID + "|" + wallet
	b := st.balances[key]
	if b == nil {
		b = &venuesv1.Balance{AccountId: accountID, AssetId: assetID, Wallet: wallet, WalletBalance: proto.String("0")}
		st.balances[key] = b
	}
	b.WalletBalance = proto.String(acctDec(new(big.Rat).Add(acctRat(b.GetWalletBalance()), amount)))
	if borrowed.Sign() != 0 || b.Borrowed != nil {
		total := new(big.Rat).Add(acctRat(b.GetBorrowed()), borrowed)
		if total.Sign() < 0 {
			total = new(big.Rat)
		}
		b.Borrowed = proto.String(acctDec(total))
	}
	now := timestamppb.New(g.s.now())
	b.UpdateTime = now
	b.LastDelta = &venuesv1.BalanceDelta{Amount: acctDec(amount), ClearTime: now, Reason: reason}
	st.balanceLog = append(st.balanceLog, balanceChange{balance: proto.Clone(b).(*venuesv1.Balance), reason: reason})
	close(st.changed)
	st.changed = make(chan struct{})
}

// accountBalances returns copies of the account's computed balances by (asset_id, wallet); the caller holds g.s.mu.
func (g *venueGateway) accountBalances(accountID string, includeZero bool) []*venuesv1.Balance {
	var out []*venuesv1.Balance
	for _, b := range g.acct().balances {
		if b.GetAccountId() != accountID || (!includeZero && acctRat(b.GetWalletBalance()).Sign() == 0 && acctRat(b.GetBorrowed()).Sign() == 0) {
			continue
		}
		c := proto.Clone(b).(*venuesv1.Balance)
		c.LastDelta = nil
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetAssetId() != out[j].GetAssetId() {
			return out[i].GetAssetId() < out[j].GetAssetId()
		}
		return out[i].GetWallet() < out[j].GetWallet()
	})
	return out
}

func (g *venueGateway) ListBalances(_ context.Context, req *servicesv1.ListBalancesRequest) (*servicesv1.ListBalancesResponse, error) {
	g.s.mu.Lock()
	_, err := g.account(req.GetAccountId())
	balances := g.accountBalances(req.GetAccountId(), req.GetIncludeZero())
	g.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	chosen, next, err := acctPage(req, balances, func(b *venuesv1.Balance) string { return b.GetAssetId() + "/" + b.GetWallet() })
	return &servicesv1.ListBalancesResponse{Balances: chosen, NextPageToken: next}, err
}

func (g *venueGateway) StreamBalances(req *servicesv1.StreamBalancesRequest, stream servicesv1.VenueGateway_StreamBalancesServer) error {
	scope := req.GetAccountId()
	g.s.mu.Lock()
	_, err := g.account(req.GetAccountId())
	snapshot := g.accountBalances(req.GetAccountId(), false)
	position := len(g.acct().balanceLog)
	if err == nil && req.ResumeToken != nil {
		position, err = acctResumePosition("balances", req.GetResumeToken(), scope, position)
	}
	g.s.mu.Unlock()
	if err != nil {
		return err
	}
	if req.ResumeToken == nil {
		token := acctToken("balances", scope, position)
		for _, b := range snapshot {
			if err := stream.Send(&servicesv1.StreamBalancesResponse{Balance: b, IsSnapshot: true, ResumeToken: token}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamBalancesResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	for {
		g.s.mu.Lock()
		st := g.acct()
		changes := append([]balanceChange(nil), st.balanceLog[position:]...)
		wait := st.changed
		g.s.mu.Unlock()
		for _, c := range changes {
			position++
			if c.balance.GetAccountId() == req.GetAccountId() {
				if err := stream.Send(&servicesv1.StreamBalancesResponse{Balance: c.balance, Reason: c.reason, ResumeToken: acctToken("balances", scope, position)}); err != nil {
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

func acctToken(kind, scope string, position int) string {
	return base64.URLEncoding.EncodeToString(fmt.Appendf(nil, "%s|%s|%d", kind, scope, position))
}

// acctResumePosition returns the log position a resume token names, or RESUME_TOKEN_EXPIRED.
func acctResumePosition(kind, token, scope string, end int) (int, error) {
	raw, err := base64.URLEncoding.DecodeString(token)
	parts := strings.Split(string(raw), "|")
	if err != nil || len(parts) != 3 || parts[0] != kind || parts[1] != scope {
		return 0, newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil, "resume_token was not issued by this %s stream", kind)
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil || p < 0 || p > end {
		return 0, newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil, "resume_token was not issued by this %s stream", kind)
	}
	return p, nil
}

func (g *venueGateway) AdjustIsolatedMargin(_ context.Context, req *servicesv1.AdjustIsolatedMarginRequest) (*servicesv1.AdjustIsolatedMarginResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		a, err := g.derivativesAccount("AdjustIsolatedMargin", req.GetAccountId(), req.GetMarketId())
		if err != nil {
			return nil, err
		}
		tallies, err := g.positions(req.GetAccountId(), []string{req.GetMarketId()})
		if err != nil {
			return nil, err
		}
		var position *positionTally
		for _, p := range tallies {
			if p.side == req.GetPositionSide() && p.quantity.Sign() != 0 {
				position = p
			}
		}
		if position == nil {
			return nil, newError(codes.NotFound, "NOT_FOUND_POSITION",
				map[string]string{"account_id": req.GetAccountId(), "market_id": req.GetMarketId(), "position_side": req.GetPositionSide().String()},
				"account %s has no position in %s", req.GetAccountId(), req.GetMarketId())
		}
		mode := a.GetMarginMode()
		for _, s := range a.GetMarketLeverages() {
			if s.GetMarketId() == req.GetMarketId() && s.GetMarginMode() != venuesv1.MarginMode_MARGIN_MODE_UNSPECIFIED {
				mode = s.GetMarginMode()
			}
		}
		if mode != venuesv1.MarginMode_MARGIN_MODE_ISOLATED {
			return nil, acctUnsupported("AdjustIsolatedMargin", a, req.GetMarketId(), "the position is not isolated")
		}
		asset := g.marginAsset(req.GetMarketId())
		if asset == "" {
			return nil, acctUnsupported("AdjustIsolatedMargin", a, req.GetMarketId(), "the market has no margin asset")
		}
		key := req.GetAccountId() + "|" + req.GetMarketId() + "|" + req.GetPositionSide().String()
		st := g.acct()
		held := st.isolated[key]
		if held == nil {
			held = new(big.Rat)
		}
		amount := acctRat(req.GetAmount())
		if req.GetAdjustment() == servicesv1.IsolatedMarginAdjustment_ISOLATED_MARGIN_ADJUSTMENT_REDUCE {
			if amount.Cmp(held) > 0 {
				return nil, newError(codes.FailedPrecondition, "MARGIN_REMOVAL_EXCEEDS_FREE",
					map[string]string{"market_id": req.GetMarketId(), "max_removable": acctDec(held)}, "only %s can be removed", acctDec(held))
			}
			amount.Neg(amount)
		}
		st.isolated[key] = new(big.Rat).Add(held, amount)
		t := g.entry(req.GetAccountId(), asset, venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_TRANSFER, new(big.Rat).Neg(amount),
			portfoliov1.TransactionStatus_TRANSACTION_STATUS_COMPLETED)
		t.CounterpartyWallet = "isolated_margin"
		t.MarketId = proto.String(req.GetMarketId())
		booked, err := g.book(t)
		if err != nil {
			return nil, err
		}
		report := g.positionReport(req.GetAccountId(), position)
		g.marginChanged(req.GetAccountId())
		return &servicesv1.AdjustIsolatedMarginResponse{Position: report, Transaction: booked}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.AdjustIsolatedMarginResponse), nil
}

func (g *venueGateway) assetExists(id string) error {
	if _, ok := g.s.assets.items[id]; !ok {
		return notFound("NOT_FOUND_ASSET", "asset_id", id)
	}
	return nil
}

func (g *venueGateway) TransferInternal(_ context.Context, req *servicesv1.TransferInternalRequest) (*servicesv1.TransferInternalResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		source, err := g.account(req.GetAccountId())
		if err != nil {
			return nil, err
		}
		if err := g.assetExists(req.GetAssetId()); err != nil {
			return nil, err
		}
		t := g.entry(req.GetAccountId(), req.GetAssetId(), venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_TRANSFER,
			new(big.Rat).Neg(acctRat(req.GetAmount())), portfoliov1.TransactionStatus_TRANSACTION_STATUS_COMPLETED)
		t.Wallet, t.CounterpartyWallet = req.GetFromWallet(), req.GetToWallet()
		if req.ToAccountId != nil {
			target, err := g.account(req.GetToAccountId())
			if err != nil {
				return nil, err
			}
			if target.GetVenueId() != source.GetVenueId() {
				return nil, acctUnsupported("TransferInternal", source, "", "account "+target.GetAccountId()+" is at another venue")
			}
			if target.GetAccountId() != source.GetAccountId() {
				t.CounterpartyAccountId = proto.String(target.GetAccountId())
			}
		}
		t.MarketId, t.ClientTransactionId = req.MarketId, req.ClientTransactionId
		booked, err := g.book(t)
		if err != nil {
			return nil, err
		}
		return &servicesv1.TransferInternalResponse{Transfer: booked}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.TransferInternalResponse), nil
}

// loanAccount is the account a Borrow or Repay (operation) acts on: it must exist, be able to borrow, and the
// asset must exist.
func (g *venueGateway) loanAccount(operation, accountID, assetID string) (*venuesv1.VenueAccount, error) {
	a, err := g.account(accountID)
	if err != nil {
		return nil, err
	}
	if !borrowingAccounts[a.GetAccountType()] {
		return nil, acctUnsupported(operation, a, "", "account "+a.GetAccountId()+" cannot borrow")
	}
	if err := g.assetExists(assetID); err != nil {
		return nil, err
	}
	return a, nil
}

func (g *venueGateway) Borrow(_ context.Context, req *servicesv1.BorrowRequest) (*servicesv1.BorrowResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		a, err := g.loanAccount("Borrow", req.GetAccountId(), req.GetAssetId())
		if err != nil {
			return nil, err
		}
		if req.MarketId != nil {
			if _, err := g.market(req.GetMarketId()); err != nil {
				return nil, err
			}
		}
		st := g.acct()
		amount := acctRat(req.GetAmount())
		if limit := a.GetLimits().GetMaxBorrowNotional(); a.GetLimits() != nil && a.GetLimits().MaxBorrowNotional != nil && a.GetLimits().GetLimitAssetId() == req.GetAssetId() {
			total := new(big.Rat)
			for k, v := range st.debts {
				if strings.HasPrefix(k, a.GetAccountId()+"|"+req.GetAssetId()+"|") {
					total.Add(total, v)
				}
			}
			if new(big.Rat).Add(total, amount).Cmp(acctRat(limit)) > 0 {
				return nil, newError(codes.FailedPrecondition, "BORROW_LIMIT_EXCEEDED",
					map[string]string{"asset_id": req.GetAssetId(), "max_borrowable": acctDec(new(big.Rat).Sub(acctRat(limit), total))},
					"borrowing %s would exceed the account's limit %s", req.GetAmount(), limit)
			}
		}
		key := req.GetAccountId() + "|" + req.GetAssetId() + "|" + req.GetMarketId()
		debt := st.debts[key]
		if debt == nil {
			debt = new(big.Rat)
		}
		st.debts[key] = new(big.Rat).Add(debt, amount)
		t := g.entry(req.GetAccountId(), req.GetAssetId(), venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_BORROW, amount,
			portfoliov1.TransactionStatus_TRANSACTION_STATUS_COMPLETED)
		t.MarketId = req.MarketId
		booked, err := g.book(t)
		if err != nil {
			return nil, err
		}
		g.marginChanged(req.GetAccountId())
		return &servicesv1.BorrowResponse{Transaction: booked, Borrowed: proto.String(acctDec(st.debts[key]))}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.BorrowResponse), nil
}

func (g *venueGateway) Repay(_ context.Context, req *servicesv1.RepayRequest) (*servicesv1.RepayResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		if _, err := g.loanAccount("Repay", req.GetAccountId(), req.GetAssetId()); err != nil {
			return nil, err
		}
		st := g.acct()
		key := req.GetAccountId() + "|" + req.GetAssetId() + "|" + req.GetMarketId()
		owed := st.debts[key]
		if owed == nil {
			owed = new(big.Rat)
		}
		amount := owed
		if !req.GetRepayAll() {
			amount = acctRat(req.GetAmount())
		}
		if amount.Cmp(owed) > 0 || amount.Sign() == 0 {
			return nil, newError(codes.InvalidArgument, "REPAY_EXCEEDS_DEBT",
				map[string]string{"asset_id": req.GetAssetId(), "owed": acctDec(owed)}, "repaying %s but %s is owed", acctDec(amount), acctDec(owed))
		}
		st.debts[key] = new(big.Rat).Sub(owed, amount)
		t := g.entry(req.GetAccountId(), req.GetAssetId(), venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_REPAY, new(big.Rat).Neg(amount),
			portfoliov1.TransactionStatus_TRANSACTION_STATUS_COMPLETED)
		t.MarketId = req.MarketId
		booked, err := g.book(t)
		if err != nil {
			return nil, err
		}
		g.marginChanged(req.GetAccountId())
		return &servicesv1.RepayResponse{Transaction: booked, Borrowed: proto.String(acctDec(st.debts[key]))}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.RepayResponse), nil
}

func (g *venueGateway) ListTradingFeeRates(_ context.Context, req *servicesv1.ListTradingFeeRatesRequest) (*servicesv1.ListTradingFeeRatesResponse, error) {
	g.s.mu.RLock()
	a, err := g.account(req.GetAccountId())
	var rates []*servicesv1.MarketFeeRates
	if err == nil {
		var markets []string
		if len(req.GetMarketIds()) > 0 {
			for _, id := range req.GetMarketIds() {
				if _, err = g.market(id); err != nil {
					break
				}
				markets = append(markets, id)
			}
		} else {
			for id, m := range g.s.markets.items {
				if m.(*marketsv1.Market).GetVenueId() == a.GetVenueId() {
					markets = append(markets, id)
				}
			}
		}
		sort.Strings(markets)
		if a.GetCommissionRates() != nil {
			now := timestamppb.New(g.s.now())
			for _, id := range markets {
				rates = append(rates, &servicesv1.MarketFeeRates{MarketId: id, Rates: proto.Clone(a.GetCommissionRates()).(*venuesv1.CommissionRates), UpdateTime: now})
			}
		}
	}
	g.s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	chosen, next, err := acctPage(req, rates, func(r *servicesv1.MarketFeeRates) string { return r.GetMarketId() })
	return &servicesv1.ListTradingFeeRatesResponse{MarketFeeRates: chosen, NextPageToken: next}, err
}

// --- withdrawals and deposits -------------------------------------------------------------------------------

func (g *venueGateway) RequestWithdrawal(_ context.Context, req *servicesv1.RequestWithdrawalRequest) (*servicesv1.RequestWithdrawalResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		a, err := g.account(req.GetAccountId())
		if err != nil {
			return nil, err
		}
		if err := g.assetExists(req.GetAssetId()); err != nil {
			return nil, err
		}
		d, ok := g.s.deployments.items[req.GetDeploymentId()]
		if !ok {
			return nil, notFound("NOT_FOUND_RESOURCE", "deployment_id", req.GetDeploymentId())
		}
		if len(a.GetPermissions()) > 0 && !acctHasPermission(a.GetPermissions(), venuesv1.AccountPermission_ACCOUNT_PERMISSION_WITHDRAW) {
			return nil, newError(codes.PermissionDenied, "PERMISSION_DENIED", map[string]string{"account_id": a.GetAccountId()},
				"account %s has no withdrawal permission", a.GetAccountId())
		}
		if req.ClientTransactionId != nil {
			for _, t := range g.acct().ledger {
				if t.GetAccountId() == req.GetAccountId() && t.GetClientTransactionId() == req.GetClientTransactionId() {
					return nil, newError(codes.AlreadyExists, "ALREADY_EXISTS", map[string]string{"client_transaction_id": req.GetClientTransactionId()},
						"client_transaction_id %s is already used", req.GetClientTransactionId())
				}
			}
		}
		t := g.entry(req.GetAccountId(), req.GetAssetId(), venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_WITHDRAWAL,
			new(big.Rat).Neg(acctRat(req.GetAmount())), portfoliov1.TransactionStatus_TRANSACTION_STATUS_PENDING)
		t.DeploymentId = proto.String(req.GetDeploymentId())
		t.OnChain = &portfoliov1.OnChainDetails{ChainId: d.ProtoReflect().Get(d.ProtoReflect().Descriptor().Fields().ByName("chain_id")).String(),
			ToAddress: req.GetAddress()}
		if req.GetMemo() != "" {
			t.OnChain.Tag = proto.String(req.GetMemo())
		}
		t.ClientTransactionId = req.ClientTransactionId
		booked, err := g.book(t)
		if err != nil {
			return nil, err
		}
		return &servicesv1.RequestWithdrawalResponse{Withdrawal: booked}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.RequestWithdrawalResponse), nil
}

func acctHasPermission(list []venuesv1.AccountPermission, p venuesv1.AccountPermission) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

type ledgerFilter struct {
	reason       venuesv1.BalanceChangeReason
	accountID    string
	assetID      *string
	since, until *timestamppb.Timestamp
	statuses     []portfoliov1.TransactionStatus
	mask         *fieldmaskpb.FieldMask
	req          pagedRequest // page size, page token and the filters the token is bound to
}

func (g *venueGateway) ledgerPage(f ledgerFilter) ([]*portfoliov1.Transaction, string, error) {
	g.s.mu.RLock()
	_, err := g.account(f.accountID)
	wanted := map[portfoliov1.TransactionStatus]bool{}
	for _, s := range f.statuses {
		wanted[s] = true
	}
	var out []*portfoliov1.Transaction
	for _, t := range g.acct().ledger {
		created := t.GetCreateTime().AsTime()
		if t.GetType() == f.reason && t.GetAccountId() == f.accountID && optionalEq(f.assetID, t.GetAssetId()) &&
			(f.since == nil || !created.Before(f.since.AsTime())) && (f.until == nil || created.Before(f.until.AsTime())) &&
			(len(wanted) == 0 || wanted[t.GetStatus()]) {
			out = append(out, proto.Clone(t).(*portfoliov1.Transaction))
		}
	}
	g.s.mu.RUnlock()
	if err != nil {
		return nil, "", err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetCreateTime().AsTime().After(out[j].GetCreateTime().AsTime()) })
	for _, t := range out {
		id := t.GetTransactionId()
		if err := acctMask(t, f.mask); err != nil {
			return nil, "", err
		}
		t.TransactionId = id
	}
	return acctPage(f.req, out, func(t *portfoliov1.Transaction) string { return t.GetTransactionId() })
}

func (g *venueGateway) ListWithdrawals(_ context.Context, req *servicesv1.ListWithdrawalsRequest) (*servicesv1.ListWithdrawalsResponse, error) {
	items, next, err := g.ledgerPage(ledgerFilter{venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_WITHDRAWAL, req.GetAccountId(), req.AssetId,
		req.GetSinceTime(), req.GetUntilTime(), req.GetStatuses(), req.GetReadMask(), req})
	return &servicesv1.ListWithdrawalsResponse{Withdrawals: items, NextPageToken: next}, err
}

func (g *venueGateway) ListDeposits(_ context.Context, req *servicesv1.ListDepositsRequest) (*servicesv1.ListDepositsResponse, error) {
	items, next, err := g.ledgerPage(ledgerFilter{venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_DEPOSIT, req.GetAccountId(), req.AssetId,
		req.GetSinceTime(), req.GetUntilTime(), req.GetStatuses(), req.GetReadMask(), req})
	return &servicesv1.ListDepositsResponse{Deposits: items, NextPageToken: next}, err
}

func (g *venueGateway) CancelWithdrawal(_ context.Context, req *servicesv1.CancelWithdrawalRequest) (*servicesv1.CancelWithdrawalResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	resp, err := g.idempotent(req.GetRequestId(), req, func() (proto.Message, error) {
		if _, err := g.account(req.GetAccountId()); err != nil {
			return nil, err
		}
		key, wanted := "client_transaction_id", req.GetClientTransactionId()
		if req.TransactionId != nil {
			key, wanted = "transaction_id", req.GetTransactionId()
		}
		var found *portfoliov1.Transaction
		for _, t := range g.acct().ledger {
			id := t.GetClientTransactionId()
			if key == "transaction_id" {
				id = t.GetTransactionId()
			}
			if t.GetAccountId() == req.GetAccountId() && t.GetType() == venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_WITHDRAWAL && id == wanted {
				found = t
			}
		}
		if found == nil {
			return nil, newError(codes.NotFound, "NOT_FOUND_TRANSACTION", map[string]string{"account_id": req.GetAccountId(), key: wanted},
				"account %s has no withdrawal %s", req.GetAccountId(), wanted)
		}
		if !cancelableWithdrawal[found.GetStatus()] {
			return nil, newError(codes.FailedPrecondition, "WITHDRAWAL_NOT_CANCELABLE",
				map[string]string{"transaction_id": found.GetTransactionId(), "status": found.GetStatus().String()},
				"withdrawal %s is %s", found.GetTransactionId(), found.GetStatus())
		}
		found.Status = portfoliov1.TransactionStatus_TRANSACTION_STATUS_CANCELED
		found.UpdateTime = timestamppb.New(g.s.now())
		g.move(found.GetAccountId(), found.GetAssetId(), found.GetWallet(), new(big.Rat).Neg(acctRat(found.GetAmount())), new(big.Rat), found.GetType())
		return &servicesv1.CancelWithdrawalResponse{Withdrawal: proto.Clone(found).(*portfoliov1.Transaction)}, nil
	})
	if err != nil {
		return nil, err
	}
	return resp.(*servicesv1.CancelWithdrawalResponse), nil
}
