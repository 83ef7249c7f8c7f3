package cqctest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// VenueRejectTag makes the simulated venue reject an order after submission: PlaceOrder then answers OK with
// the order in status REJECTED, the contract's shape for venue rejections (a refusal before the venue is a
// gRPC error and creates no order).
const VenueRejectTag = "cqc-testing:venue-reject"

// maxResponseBytes keeps a ListOrders page under the 4 MiB gRPC default, with room for framing.
const maxResponseBytes = 4<<20 - 64<<10

const defaultTerminalLookback = 24 * time.Hour

type orderEntry struct {
	order *venuesv1.Order
	seq   int // placement order: higher is newer
}

// requestEntry remembers what a request_id was first used for and what it answered, for idempotent retries.
type requestEntry struct {
	request  proto.Message // the NewOrder placed, the OrderRef canceled, or the whole request
	orderIDs []string
	extra    proto.Message // the OrderList of a PlaceOrderList
}

// orderLog is the order-entry state beside state.orders: every change in order (for StreamOrders), order
// lists, dead-man switches and counters. Guarded by state.mu.
type orderLog struct {
	changes     []*venuesv1.Order // changes[i] is the order after change i+1
	changed     chan struct{}     // closed and replaced on every change
	lists       map[string]*venuesv1.OrderList
	switches    map[string]*time.Timer
	nextListID  int
	nextVenueID int64
}

var (
	openStatuses = map[venuesv1.OrderStatus]bool{
		venuesv1.OrderStatus_ORDER_STATUS_INITIALIZED:      true,
		venuesv1.OrderStatus_ORDER_STATUS_SUBMITTED:        true,
		venuesv1.OrderStatus_ORDER_STATUS_NEW:              true,
		venuesv1.OrderStatus_ORDER_STATUS_PARTIALLY_FILLED: true,
		venuesv1.OrderStatus_ORDER_STATUS_PENDING_NEW:      true,
		venuesv1.OrderStatus_ORDER_STATUS_PENDING_CANCEL:   true,
		venuesv1.OrderStatus_ORDER_STATUS_PENDING_REPLACE:  true,
		venuesv1.OrderStatus_ORDER_STATUS_TRIGGERED:        true,
		venuesv1.OrderStatus_ORDER_STATUS_SUSPENDED:        true,
	}
	cancelableStatuses = map[venuesv1.OrderStatus]bool{
		venuesv1.OrderStatus_ORDER_STATUS_NEW:              true,
		venuesv1.OrderStatus_ORDER_STATUS_PARTIALLY_FILLED: true,
		venuesv1.OrderStatus_ORDER_STATUS_PENDING_NEW:      true,
		venuesv1.OrderStatus_ORDER_STATUS_TRIGGERED:        true,
	}
)

func reused(requestID string) error {
	return newError(codes.AlreadyExists, "REQUEST_ID_REUSED", map[string]string{"request_id": requestID},
		"request_id %s was already used for a different request", requestID)
}

// log returns the order log, creating it on first use; the caller holds g.s.mu for writing.
func (g *venueGateway) log() *orderLog {
	g.logOnce.Do(func() {
		g.olog = &orderLog{
			changed: make(chan struct{}), lists: map[string]*venuesv1.OrderList{}, switches: map[string]*time.Timer{},
			nextListID: 1000, nextVenueID: 28457100000,
		}
	})
	return g.olog
}

// save stores a changed order and appends it to the change log; the caller holds g.s.mu for writing.
func (g *venueGateway) save(o *venuesv1.Order) error {
	if err := validate(o); err != nil {
		return newError(codes.Internal, "INTERNAL", nil, "built an invalid order: %v", err)
	}
	if e, ok := g.s.orders[o.GetOrderId()]; ok {
		e.order = o
	} else {
		g.s.nextSeq++
		g.s.orders[o.GetOrderId()] = &orderEntry{order: o, seq: g.s.nextSeq}
	}
	l := g.log()
	l.changes = append(l.changes, proto.Clone(o).(*venuesv1.Order))
	close(l.changed)
	l.changed = make(chan struct{})
	return g.recordExecution(o) // what the venue reports about this change (gateway_executions.go)
}

// remembered returns the first use of requestID, nil when unused, or REQUEST_ID_REUSED.
func (g *venueGateway) remembered(requestID string, request proto.Message) (*requestEntry, error) {
	prior, ok := g.s.requests[requestID]
	if !ok {
		return nil, nil
	}
	if !sameRequest(prior.request, request) {
		return nil, reused(requestID)
	}
	return &prior, nil
}

func (g *venueGateway) remember(requestID string, request proto.Message, ids []string, extra proto.Message) {
	g.s.requests[requestID] = requestEntry{request: proto.Clone(request), orderIDs: ids, extra: extra}
}

func (g *venueGateway) clone(id string) *venuesv1.Order {
	return proto.Clone(g.s.orders[id].order).(*venuesv1.Order)
}

func (g *venueGateway) openWithClientID(accountID, clientOrderID string) *venuesv1.Order {
	for _, e := range g.s.orders {
		o := e.order
		if o.GetAccountId() == accountID && o.GetClientOrderId() == clientOrderID && openStatuses[o.GetStatus()] {
			return o
		}
	}
	return nil
}

// find returns the newest order of the account matching ref; the caller holds the lock.
func (g *venueGateway) find(ref *servicesv1.OrderRef) (*orderEntry, error) {
	var best *orderEntry
	for _, e := range g.s.orders {
		o := e.order
		if o.GetAccountId() != ref.GetAccountId() {
			continue
		}
		if (ref.GetOrderId() != "" && o.GetOrderId() == ref.GetOrderId()) ||
			(ref.GetClientOrderId() != "" && o.GetClientOrderId() == ref.GetClientOrderId()) {
			if best == nil || e.seq > best.seq {
				best = e
			}
		}
	}
	if best == nil {
		// errors.proto: NOT_FOUND_ORDER carries order_id or client_order_id only (the account is in the message).
		metadata := map[string]string{}
		id := ref.GetOrderId()
		if id != "" {
			metadata["order_id"] = id
		} else {
			id = ref.GetClientOrderId()
			metadata["client_order_id"] = id
		}
		return nil, newError(codes.NotFound, "NOT_FOUND_ORDER", metadata, "account %s has no order %s", ref.GetAccountId(), id)
	}
	return best, nil
}

// --- placing -------------------------------------------------------------------------------------------

// build makes the Order of a NewOrder after the checks made before the venue (an error creates no order);
// the caller holds the lock for writing.
// path is the NewOrder's field path in the request, for error metadata.
func (g *venueGateway) build(in *servicesv1.NewOrder, requestID, path string) (*venuesv1.Order, error) {
	if _, ok := g.s.accounts.items[in.GetAccountId()]; !ok {
		return nil, notFound("NOT_FOUND_ACCOUNT", "account_id", in.GetAccountId())
	}
	m, ok := g.s.markets.items[in.GetMarketId()]
	if !ok {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", in.GetMarketId())
	}
	market := m.(*marketsv1.Market)
	if err := checkTradable(market); err != nil {
		return nil, err
	}
	if err := checkPriceSigns(market, path, newOrderPrices(in)); err != nil {
		return nil, err
	}
	if in.ClientOrderId != nil {
		if holder := g.openWithClientID(in.GetAccountId(), in.GetClientOrderId()); holder != nil {
			return nil, newError(codes.AlreadyExists, "DUPLICATE_CLIENT_ORDER_ID",
				map[string]string{"client_order_id": in.GetClientOrderId(), "order_id": holder.GetOrderId()},
				"client_order_id %s is used by open order %s", in.GetClientOrderId(), holder.GetOrderId())
		}
	}
	order := &venuesv1.Order{}
	target := order.ProtoReflect()
	fields := target.Descriptor().Fields()
	// Every NewOrder field has a same-named Order field.
	proto.Clone(in).ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		to := fields.ByName(fd.Name())
		switch {
		case fd.IsList():
			list := target.Mutable(to).List()
			for i := 0; i < v.List().Len(); i++ {
				list.Append(v.List().Get(i))
			}
		default:
			target.Set(to, v)
		}
		return true
	})
	now := g.s.now()
	ulid := newULID(now)
	order.OrderId = "ord_" + ulid
	if order.ClientOrderId == "" {
		order.ClientOrderId = ulid
	}
	order.VenueId = market.GetVenueId()
	order.QuantityUnit = market.GetQuantityUnit()
	order.FilledQuantity = "0"
	order.CreateTime, order.SubmitTime, order.UpdateTime = timestamppb.New(now), timestamppb.New(now), timestamppb.New(now)
	order.RequestId = proto.String(requestID)
	order.PreviousStatus = venuesv1.OrderStatus_ORDER_STATUS_SUBMITTED
	if slices.Contains(in.GetTags(), VenueRejectTag) { // the simulated venue refuses it after submission
		order.Status = venuesv1.OrderStatus_ORDER_STATUS_REJECTED
		order.RejectReason = venuesv1.OrderRejectReason_ORDER_REJECT_REASON_OTHER
		order.VenueReasonCode = "-2010"
		order.ReasonText = "rejected by the reference server's simulated venue"
		order.CloseTime = timestamppb.New(now)
		if in.Quantity != nil {
			order.LeavesQuantity = proto.String("0")
		}
		return order, nil
	}
	l := g.log()
	l.nextVenueID++
	order.Status = venuesv1.OrderStatus_ORDER_STATUS_NEW
	order.VenueOrderId = strconv.FormatInt(l.nextVenueID, 10)
	order.VenueCreateTime, order.WorkingTime = timestamppb.New(now), timestamppb.New(now)
	order.LeavesQuantity = in.Quantity
	return order, nil
}

func (g *venueGateway) place(req *servicesv1.PlaceOrderRequest) (*venuesv1.Order, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	prior, err := g.remembered(req.GetRequestId(), req.GetOrder())
	if err != nil || prior != nil {
		if prior != nil {
			return g.clone(prior.orderIDs[0]), nil
		}
		return nil, err
	}
	order, err := g.build(req.GetOrder(), req.GetRequestId(), "order")
	if err != nil {
		return nil, err
	}
	if err := g.save(order); err != nil {
		return nil, err
	}
	if order, err = g.venueFill(order); err != nil {
		return nil, err
	}
	g.remember(req.GetRequestId(), req.GetOrder(), []string{order.GetOrderId()}, nil)
	return proto.Clone(order).(*venuesv1.Order), nil
}

func (g *venueGateway) PlaceOrder(_ context.Context, req *servicesv1.PlaceOrderRequest) (*servicesv1.PlaceOrderResponse, error) {
	order, err := g.place(req)
	if err != nil {
		return nil, err
	}
	return &servicesv1.PlaceOrderResponse{Order: order}, nil
}

// result is one batch item: the order, or the error the single-order RPC would have returned.
func result(order *venuesv1.Order, err error) *servicesv1.OrderResult {
	if err == nil {
		return &servicesv1.OrderResult{Result: &servicesv1.OrderResult_Order{Order: order}}
	}
	item := &servicesv1.BatchItemError{Code: int32(codes.Internal), Reason: servicesv1.ErrorReason(0), Message: err.Error()}
	if api, ok := err.(*apiError); ok {
		item.Code, item.Message, item.Metadata = int32(api.code), api.message, api.metadata
		item.Reason = servicesv1.ErrorReason(servicesv1.ErrorReason_value["ERROR_REASON_"+api.reason])
	}
	return &servicesv1.OrderResult{Result: &servicesv1.OrderResult_Error{Error: item}}
}

func (g *venueGateway) accountExists(id string) error {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	if _, ok := g.s.accounts.items[id]; !ok {
		return notFound("NOT_FOUND_ACCOUNT", "account_id", id)
	}
	return nil
}

func (g *venueGateway) BatchPlaceOrders(_ context.Context, req *servicesv1.BatchPlaceOrdersRequest) (*servicesv1.BatchPlaceOrdersResponse, error) {
	if err := g.accountExists(req.GetRequests()[0].GetOrder().GetAccountId()); err != nil {
		return nil, err
	}
	resp := &servicesv1.BatchPlaceOrdersResponse{}
	for _, r := range req.GetRequests() {
		resp.Results = append(resp.Results, result(g.place(r)))
	}
	return resp, nil
}

func (g *venueGateway) PlaceOrderList(_ context.Context, req *servicesv1.PlaceOrderListRequest) (*servicesv1.PlaceOrderListResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	prior, err := g.remembered(req.GetRequestId(), req)
	if err != nil {
		return nil, err
	}
	if prior != nil {
		resp := &servicesv1.PlaceOrderListResponse{OrderList: proto.Clone(prior.extra).(*venuesv1.OrderList)}
		for _, id := range prior.orderIDs {
			resp.Orders = append(resp.Orders, g.clone(id))
		}
		return resp, nil
	}
	contingency := req.GetContingencyType()
	if contingency == venuesv1.ContingencyType_CONTINGENCY_TYPE_OUO {
		return nil, newError(codes.InvalidArgument, "UNSUPPORTED_ORDER_FEATURE",
			map[string]string{"market_id": req.GetMarketId(), "feature": "contingency_type"}, "the reference venue has no OUO lists")
	}
	var orders []*venuesv1.Order
	var ids []string
	rejected := false
	for i, leg := range req.GetOrders() {
		o, err := g.build(leg, req.GetRequestId(), fmt.Sprintf("orders[%d]", i))
		if err != nil {
			return nil, err
		}
		orders, ids = append(orders, o), append(ids, o.GetOrderId())
		rejected = rejected || o.GetStatus() == venuesv1.OrderStatus_ORDER_STATUS_REJECTED
	}
	l := g.log()
	l.nextListID++
	listID := strconv.Itoa(l.nextListID)
	triggered := contingency == venuesv1.ContingencyType_CONTINGENCY_TYPE_OTO ||
		contingency == venuesv1.ContingencyType_CONTINGENCY_TYPE_OTOCO || contingency == venuesv1.ContingencyType_CONTINGENCY_TYPE_OPO
	now := timestamppb.New(g.s.now())
	for i, o := range orders {
		o.VenueOrderListId, o.ContingencyType = proto.String(listID), contingency
		for _, id := range ids {
			if id != o.GetOrderId() {
				o.LinkedOrderIds = append(o.LinkedOrderIds, id)
			}
		}
		switch {
		case rejected: // the venue accepts or refuses a list as a whole
			o.Status = venuesv1.OrderStatus_ORDER_STATUS_REJECTED
			o.RejectReason = venuesv1.OrderRejectReason_ORDER_REJECT_REASON_OTHER
			o.ReasonText = "order list rejected by the reference server's simulated venue"
			o.CloseTime, o.VenueOrderId, o.VenueCreateTime, o.WorkingTime = now, "", nil, nil
			if o.Quantity != nil {
				o.LeavesQuantity = proto.String("0")
			}
		case triggered && i > 0: // pending legs wait for the working order to fill
			o.Status = venuesv1.OrderStatus_ORDER_STATUS_PENDING_NEW
			o.ParentOrderId, o.WorkingTime = proto.String(ids[0]), nil
		}
		if err := g.save(o); err != nil {
			return nil, err
		}
	}
	list := &venuesv1.OrderList{
		VenueOrderListId: listID, ListClientOrderId: req.GetListClientOrderId(), AccountId: req.GetAccountId(),
		MarketId: req.GetMarketId(), ContingencyType: contingency, OrderIds: ids, TransactTime: now,
		ListStatusType: venuesv1.ListStatusType_LIST_STATUS_TYPE_EXEC_STARTED, ListOrderStatus: venuesv1.ListOrderStatus_LIST_ORDER_STATUS_EXECUTING,
	}
	if list.ListClientOrderId == "" {
		list.ListClientOrderId = "list-" + listID
	}
	if rejected {
		list.ListStatusType, list.ListOrderStatus = venuesv1.ListStatusType_LIST_STATUS_TYPE_ALL_DONE, venuesv1.ListOrderStatus_LIST_ORDER_STATUS_REJECT
		list.RejectReason = venuesv1.OrderRejectReason_ORDER_REJECT_REASON_OTHER
	}
	l.lists[listID] = list
	g.remember(req.GetRequestId(), req, ids, proto.Clone(list))
	resp := &servicesv1.PlaceOrderListResponse{OrderList: list}
	for _, id := range ids {
		resp.Orders = append(resp.Orders, g.clone(id))
	}
	return resp, nil
}

// --- amending and canceling --------------------------------------------------------------------------------

func checkChangeable(o *venuesv1.Order) error {
	metadata := map[string]string{"order_id": o.GetOrderId(), "status": o.GetStatus().String()}
	switch {
	case o.GetStatus() == venuesv1.OrderStatus_ORDER_STATUS_PENDING_CANCEL || o.GetStatus() == venuesv1.OrderStatus_ORDER_STATUS_PENDING_REPLACE:
		return newError(codes.FailedPrecondition, "ORDER_ALREADY_PENDING", metadata, "order %s has a pending cancel or replace", o.GetOrderId())
	case !cancelableStatuses[o.GetStatus()]:
		return newError(codes.FailedPrecondition, "ORDER_NOT_OPEN", metadata, "order %s is %s", o.GetOrderId(), o.GetStatus())
	}
	return nil
}

func decimal(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// decimalString writes r with at most the given number of fraction digits, without trailing zeros.
func decimalString(r *big.Rat, digits int) string {
	s := r.FloatString(digits)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func fractionDigits(values ...string) int {
	most := 0
	for _, v := range values {
		if i := strings.IndexByte(v, '.'); i >= 0 {
			most = max(most, len(v)-i-1)
		}
	}
	return most
}

func (g *venueGateway) amend(req *servicesv1.AmendOrderRequest) (*venuesv1.Order, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	prior, err := g.remembered(req.GetRequestId(), req)
	if err != nil {
		return nil, err
	}
	if prior != nil {
		return g.clone(prior.orderIDs[0]), nil
	}
	e, err := g.find(req.GetOrder())
	if err != nil {
		return nil, err
	}
	o := proto.Clone(e.order).(*venuesv1.Order)
	if err := checkChangeable(o); err != nil {
		return nil, err
	}
	if m, ok := g.s.markets.items[o.GetMarketId()]; ok {
		market := m.(*marketsv1.Market)
		if err := checkTradable(market); err != nil {
			return nil, err
		}
		if err := checkPriceSigns(market, "", map[string]*string{"price": req.Price, "trigger_price": req.TriggerPrice}); err != nil {
			return nil, err
		}
	}
	if req.NewClientOrderId != nil {
		if holder := g.openWithClientID(o.GetAccountId(), req.GetNewClientOrderId()); holder != nil && holder.GetOrderId() != o.GetOrderId() {
			return nil, newError(codes.AlreadyExists, "DUPLICATE_CLIENT_ORDER_ID",
				map[string]string{"client_order_id": req.GetNewClientOrderId(), "order_id": holder.GetOrderId()},
				"client_order_id %s is used by open order %s", req.GetNewClientOrderId(), holder.GetOrderId())
		}
		o.OrigClientOrderId, o.ClientOrderId = o.GetClientOrderId(), req.GetNewClientOrderId()
	}
	if req.Quantity != nil {
		quantity, filled := decimal(req.GetQuantity()), decimal(o.GetFilledQuantity())
		if quantity.Cmp(filled) < 0 {
			return nil, newError(codes.InvalidArgument, "MARKET_RULE_VIOLATED",
				map[string]string{"market_id": o.GetMarketId(), "rule": "quantity_below_filled"},
				"quantity %s is below the filled quantity %s", req.GetQuantity(), o.GetFilledQuantity())
		}
		o.Quantity = req.Quantity
		leaves := new(big.Rat).Sub(quantity, filled)
		o.LeavesQuantity = proto.String(decimalString(leaves, fractionDigits(req.GetQuantity(), o.GetFilledQuantity())))
	}
	if req.Price != nil {
		o.Price = req.Price
	}
	if req.TriggerPrice != nil {
		o.TriggerPrice = req.TriggerPrice
	}
	o.PreviousStatus, o.UpdateTime = o.GetStatus(), timestamppb.New(g.s.now())
	if err := g.save(o); err != nil {
		return nil, err
	}
	g.remember(req.GetRequestId(), req, []string{o.GetOrderId()}, nil)
	return proto.Clone(o).(*venuesv1.Order), nil
}

func (g *venueGateway) AmendOrder(_ context.Context, req *servicesv1.AmendOrderRequest) (*servicesv1.AmendOrderResponse, error) {
	o, err := g.amend(req)
	if err != nil {
		return nil, err
	}
	return &servicesv1.AmendOrderResponse{Order: o}, nil
}

func (g *venueGateway) BatchAmendOrders(_ context.Context, req *servicesv1.BatchAmendOrdersRequest) (*servicesv1.BatchAmendOrdersResponse, error) {
	if err := g.accountExists(req.GetRequests()[0].GetOrder().GetAccountId()); err != nil {
		return nil, err
	}
	resp := &servicesv1.BatchAmendOrdersResponse{}
	for _, r := range req.GetRequests() {
		resp.Results = append(resp.Results, result(g.amend(r)))
	}
	return resp, nil
}

// cancelNow cancels a stored order; the caller holds the lock for writing.
func (g *venueGateway) cancelNow(stored *venuesv1.Order) (*venuesv1.Order, error) {
	o := proto.Clone(stored).(*venuesv1.Order)
	now := timestamppb.New(g.s.now())
	o.PreviousStatus, o.Status = o.GetStatus(), venuesv1.OrderStatus_ORDER_STATUS_CANCELED
	if o.LeavesQuantity != nil || o.Quantity != nil {
		o.LeavesQuantity = proto.String("0")
	}
	o.UpdateTime, o.CloseTime = now, now
	return o, g.save(o)
}

func (g *venueGateway) cancel(req *servicesv1.CancelOrderRequest) (*venuesv1.Order, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	prior, err := g.remembered(req.GetRequestId(), req.GetOrder())
	if err != nil {
		return nil, err
	}
	if prior != nil {
		return g.clone(prior.orderIDs[0]), nil
	}
	e, err := g.find(req.GetOrder())
	if err != nil {
		return nil, err
	}
	if err := checkChangeable(e.order); err != nil {
		return nil, err
	}
	o, err := g.cancelNow(e.order)
	if err != nil {
		return nil, err
	}
	g.remember(req.GetRequestId(), req.GetOrder(), []string{o.GetOrderId()}, nil)
	return proto.Clone(o).(*venuesv1.Order), nil
}

func (g *venueGateway) CancelOrder(_ context.Context, req *servicesv1.CancelOrderRequest) (*servicesv1.CancelOrderResponse, error) {
	o, err := g.cancel(req)
	if err != nil {
		return nil, err
	}
	return &servicesv1.CancelOrderResponse{Order: o}, nil
}

func (g *venueGateway) BatchCancelOrders(_ context.Context, req *servicesv1.BatchCancelOrdersRequest) (*servicesv1.BatchCancelOrdersResponse, error) {
	if err := g.accountExists(req.GetRequests()[0].GetOrder().GetAccountId()); err != nil {
		return nil, err
	}
	resp := &servicesv1.BatchCancelOrdersResponse{}
	for _, r := range req.GetRequests() {
		resp.Results = append(resp.Results, result(g.cancel(r)))
	}
	return resp, nil
}

// cancelMatching cancels every cancelable order keep accepts, oldest first; the caller holds the lock.
func (g *venueGateway) cancelMatching(keep func(*venuesv1.Order) bool) ([]*venuesv1.Order, error) {
	var entries []*orderEntry
	for _, e := range g.s.orders {
		if cancelableStatuses[e.order.GetStatus()] && keep(e.order) {
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	var canceled []*venuesv1.Order
	for _, e := range entries {
		o, err := g.cancelNow(e.order)
		if err != nil {
			return nil, err
		}
		canceled = append(canceled, proto.Clone(o).(*venuesv1.Order))
	}
	return canceled, nil
}

func (g *venueGateway) CancelAllOrders(_ context.Context, req *servicesv1.CancelAllOrdersRequest) (*servicesv1.CancelAllOrdersResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	prior, err := g.remembered(req.GetRequestId(), req)
	if err != nil {
		return nil, err
	}
	resp := &servicesv1.CancelAllOrdersResponse{}
	if prior != nil {
		for _, id := range prior.orderIDs {
			resp.Orders = append(resp.Orders, g.clone(id))
		}
		return resp, nil
	}
	if _, ok := g.s.accounts.items[req.GetAccountId()]; !ok {
		return nil, notFound("NOT_FOUND_ACCOUNT", "account_id", req.GetAccountId())
	}
	if _, ok := g.s.markets.items[req.GetMarketId()]; req.MarketId != nil && !ok {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	canceled, err := g.cancelMatching(func(o *venuesv1.Order) bool {
		return o.GetAccountId() == req.GetAccountId() && optionalEq(req.MarketId, o.GetMarketId()) &&
			(req.GetSide() == venuesv1.Side_SIDE_UNSPECIFIED || o.GetSide() == req.GetSide()) &&
			optionalEq(req.StrategyId, o.GetStrategyId())
	})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, o := range canceled {
		ids = append(ids, o.GetOrderId())
	}
	g.remember(req.GetRequestId(), req, ids, nil)
	resp.Orders = canceled
	return resp, nil
}

func (g *venueGateway) SetCancelAllAfter(_ context.Context, req *servicesv1.SetCancelAllAfterRequest) (*servicesv1.SetCancelAllAfterResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if _, ok := g.s.accounts.items[req.GetAccountId()]; !ok {
		return nil, notFound("NOT_FOUND_ACCOUNT", "account_id", req.GetAccountId())
	}
	if _, ok := g.s.markets.items[req.GetMarketId()]; req.MarketId != nil && !ok {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	scope := req.GetAccountId() + "|" + req.GetMarketId()
	l := g.log()
	if previous, ok := l.switches[scope]; ok {
		previous.Stop()
		delete(l.switches, scope)
	}
	resp := &servicesv1.SetCancelAllAfterResponse{AccountId: req.GetAccountId(), MarketId: req.MarketId}
	timeout := req.GetTimeout().AsDuration()
	if timeout == 0 {
		return resp, nil
	}
	var timer *time.Timer
	timer = time.AfterFunc(timeout, func() {
		g.s.mu.Lock()
		defer g.s.mu.Unlock()
		if l.switches[scope] != timer {
			return // re-armed or disarmed meanwhile
		}
		delete(l.switches, scope)
		_, _ = g.cancelMatching(func(o *venuesv1.Order) bool {
			return o.GetAccountId() == req.GetAccountId() && optionalEq(req.MarketId, o.GetMarketId())
		})
	})
	l.switches[scope] = timer
	resp.TriggerTime = timestamppb.New(g.s.now().Add(timeout))
	return resp, nil
}

// --- reading -------------------------------------------------------------------------------------------

// masked returns o restricted to the mask's paths (all of o when mask is nil).
func masked(o *venuesv1.Order, mask *fieldmaskpb.FieldMask) *venuesv1.Order {
	if mask == nil || len(mask.GetPaths()) == 0 {
		return o
	}
	out := &venuesv1.Order{}
	src, dst := o.ProtoReflect(), out.ProtoReflect()
	for _, path := range mask.GetPaths() {
		fd := src.Descriptor().Fields().ByName(protoreflect.Name(path))
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		}
	}
	return out
}

func checkMask(mask *fieldmaskpb.FieldMask) error {
	if mask == nil {
		return nil
	}
	fields := (&venuesv1.Order{}).ProtoReflect().Descriptor().Fields()
	var unknown []string
	for _, path := range mask.GetPaths() {
		if fields.ByName(protoreflect.Name(path)) == nil {
			unknown = append(unknown, path)
		}
	}
	if len(unknown) > 0 { // as the Python server: INVALID_READ_MASK {paths}
		return newError(codes.InvalidArgument, "INVALID_READ_MASK", map[string]string{"paths": strings.Join(unknown, ",")},
			"read_mask %s names a field Order does not have", strings.Join(unknown, ","))
	}
	return nil
}

func (g *venueGateway) GetOrder(_ context.Context, req *servicesv1.GetOrderRequest) (*servicesv1.GetOrderResponse, error) {
	if err := checkMask(req.GetReadMask()); err != nil {
		return nil, err
	}
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	e, err := g.find(req.GetOrder())
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetOrderResponse{Order: masked(proto.Clone(e.order).(*venuesv1.Order), req.GetReadMask())}, nil
}

func (g *venueGateway) ListOrders(_ context.Context, req *servicesv1.ListOrdersRequest) (*servicesv1.ListOrdersResponse, error) {
	if _, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId()); err != nil {
		return nil, err
	}
	if err := checkMask(req.GetReadMask()); err != nil {
		return nil, err
	}
	statuses := map[venuesv1.OrderStatus]bool{}
	for _, st := range req.GetStatuses() {
		statuses[st] = true
	}
	g.s.mu.RLock()
	var found []*orderEntry
	for _, e := range g.s.orders {
		o := e.order
		created := micros(o.GetCreateTime())
		if o.GetAccountId() == req.GetAccountId() && optionalEq(req.MarketId, o.GetMarketId()) &&
			(!req.GetOpenOnly() || openStatuses[o.GetStatus()]) &&
			(len(statuses) == 0 || statuses[o.GetStatus()]) &&
			(req.GetSide() == venuesv1.Side_SIDE_UNSPECIFIED || o.GetSide() == req.GetSide()) &&
			(req.ClientOrderId == nil || req.GetClientOrderId() == o.GetClientOrderId() || req.GetClientOrderId() == o.GetOrigClientOrderId()) &&
			(req.GetSinceTime() == nil || created >= micros(req.GetSinceTime())) &&
			(req.GetUntilTime() == nil || created < micros(req.GetUntilTime())) {
			found = append(found, &orderEntry{order: proto.Clone(o).(*venuesv1.Order), seq: e.seq})
		}
	}
	g.s.mu.RUnlock()
	sort.Slice(found, func(i, j int) bool { return found[i].seq > found[j].seq }) // newest first
	// The token is the last order_id returned; its position in the newest-first list is where the next page starts.
	// It is bound to this RPC and its filters: another listing's token is INVALID_PAGE_TOKEN.
	filters := cqckit.FilterDigest(req)
	after, err := pageTokens.Decode("ListOrders", filters, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	start := 0
	if after != "" {
		start = -1
		for i, e := range found {
			if e.order.GetOrderId() == after {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, newError(codes.InvalidArgument, "INVALID_PAGE_TOKEN", nil,
				"page_token %q does not name an order of this listing", req.GetPageToken())
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	end := min(start+size, len(found))
	resp := &servicesv1.ListOrdersResponse{}
	bytes := 0
	for i, e := range found[start:end] {
		o := masked(e.order, req.GetReadMask())
		bytes += proto.Size(o) + 8
		if bytes > maxResponseBytes && i > 0 { // a page never exceeds the 4 MiB default: end it early
			end = start + i
			break
		}
		resp.Orders = append(resp.Orders, o)
	}
	if end < len(found) {
		resp.NextPageToken = pageTokens.Encode("ListOrders", filters, found[end-1].order.GetOrderId())
	}
	return resp, nil
}

func streamScope(req *servicesv1.StreamOrdersRequest) string {
	markets := slices.Clone(req.GetMarketIds())
	slices.Sort(markets)
	sum := sha256.Sum256([]byte(req.GetAccountId() + "|" + strings.Join(markets, ",")))
	return hex.EncodeToString(sum[:8])
}

func resumeToken(scope string, position int) string {
	return base64.URLEncoding.EncodeToString(fmt.Appendf(nil, "orders|%s|%d", scope, position))
}

func resumePosition(token, scope string, end int) (int, error) {
	expired := newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil,
		"resume_token was not issued by StreamOrders with the same account and markets")
	raw, err := base64.URLEncoding.DecodeString(token)
	if err != nil {
		return 0, expired
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != "orders" || parts[1] != scope {
		return 0, expired
	}
	position, err := strconv.Atoi(parts[2])
	if err != nil || position < 0 || position > end {
		return 0, expired
	}
	return position, nil
}

func (g *venueGateway) StreamOrders(req *servicesv1.StreamOrdersRequest, stream servicesv1.VenueGateway_StreamOrdersServer) error {
	if _, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId()); err != nil {
		return err
	}
	scope := streamScope(req)
	markets := map[string]bool{}
	for _, m := range req.GetMarketIds() {
		markets[m] = true
	}
	mine := func(o *venuesv1.Order) bool {
		return o.GetAccountId() == req.GetAccountId() && (len(markets) == 0 || markets[o.GetMarketId()])
	}
	g.s.mu.Lock()
	l := g.log()
	position := len(l.changes)
	var snapshot []*orderEntry
	if req.ResumeToken != nil {
		var err error
		if position, err = resumePosition(req.GetResumeToken(), scope, len(l.changes)); err != nil {
			g.s.mu.Unlock()
			return err
		}
	} else {
		since := g.s.now().Add(-defaultTerminalLookback)
		if req.GetTerminalSince() != nil {
			since = req.GetTerminalSince().AsTime()
		}
		for _, e := range g.s.orders {
			o := e.order
			if mine(o) && (openStatuses[o.GetStatus()] || (o.GetCloseTime() != nil && !o.GetCloseTime().AsTime().Before(since))) {
				snapshot = append(snapshot, &orderEntry{order: proto.Clone(o).(*venuesv1.Order), seq: e.seq})
			}
		}
	}
	g.s.mu.Unlock()
	if req.ResumeToken == nil {
		sort.Slice(snapshot, func(i, j int) bool { return snapshot[i].seq > snapshot[j].seq })
		token := resumeToken(scope, position)
		for _, e := range snapshot {
			if err := stream.Send(&servicesv1.StreamOrdersResponse{Order: e.order, IsSnapshot: true, ResumeToken: token}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamOrdersResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	for {
		g.s.mu.RLock()
		changes := slices.Clone(l.changes[position:])
		changed := l.changed
		g.s.mu.RUnlock()
		for _, o := range changes {
			position++
			if mine(o) {
				if err := stream.Send(&servicesv1.StreamOrdersResponse{Order: o, ResumeToken: resumeToken(scope, position)}); err != nil {
					return err
				}
			}
		}
		if len(changes) > 0 {
			continue
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-g.s.closing:
			return nil
		case <-changed:
		}
	}
}
