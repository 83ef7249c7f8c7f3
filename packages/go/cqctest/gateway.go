package cqctest

import (
	"context"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

type orderEntry struct {
	order *venuesv1.Order
	seq   int // placement order: higher is newer
}

// requestEntry remembers what a request_id was first used for, to answer repeats idempotently.
type requestEntry struct {
	request proto.Message // the NewOrder placed, or the OrderRef canceled
	orderID string
}

// venueGateway implements cqc.services.v1.VenueGateway: orders live in memory, nothing reaches a venue.
type venueGateway struct {
	servicesv1.UnimplementedVenueGatewayServer
	s *state
}

func reused(requestID string) error {
	return newError(codes.AlreadyExists, "REQUEST_ID_REUSED", map[string]string{"request_id": requestID},
		"request_id %s was already used for a different request", requestID)
}

func (g *venueGateway) PlaceOrder(_ context.Context, req *servicesv1.PlaceOrderRequest) (*servicesv1.PlaceOrderResponse, error) {
	in := req.GetOrder()
	if _, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, in.GetAccountId()); err != nil {
		return nil, err
	}
	market, err := get[*marketsv1.Market](g.s, g.s.markets, in.GetMarketId())
	if err != nil {
		return nil, err
	}
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if prior, ok := g.s.requests[req.GetRequestId()]; ok {
		if first, isOrder := prior.request.(*servicesv1.NewOrder); isOrder && proto.Equal(first, in) {
			return &servicesv1.PlaceOrderResponse{Order: proto.Clone(g.s.orders[prior.orderID].order).(*venuesv1.Order)}, nil
		}
		return nil, reused(req.GetRequestId())
	}
	now := g.s.now()
	ulid := newULID(now)
	order := &venuesv1.Order{
		OrderId:                 "ord_" + ulid,
		ClientOrderId:           in.GetClientOrderId(),
		StrategyId:              in.GetStrategyId(),
		Tags:                    in.GetTags(),
		AccountId:               in.GetAccountId(),
		VenueId:                 market.GetVenueId(),
		MarketId:                in.GetMarketId(),
		Side:                    in.GetSide(),
		OrderType:               in.GetOrderType(),
		TimeInForce:             in.GetTimeInForce(),
		ExpireTime:              in.GetExpireTime(),
		Quantity:                in.Quantity,
		QuoteQuantity:           in.QuoteQuantity,
		Price:                   in.Price,
		TriggerPrice:            in.TriggerPrice,
		TriggerPriceType:        in.GetTriggerPriceType(),
		TriggerDirection:        in.GetTriggerDirection(),
		TrailingOffset:          in.TrailingOffset,
		TrailingOffsetType:      in.GetTrailingOffsetType(),
		DisplayQuantity:         in.DisplayQuantity,
		PostOnly:                in.GetPostOnly(),
		ReduceOnly:              in.GetReduceOnly(),
		SelfTradePreventionMode: in.GetSelfTradePreventionMode(),
		PositionSide:            in.GetPositionSide(),
		MarginMode:              in.GetMarginMode(),
		Status:                  venuesv1.OrderStatus_ORDER_STATUS_NEW,
		FilledQuantity:          "0",
		LeavesQuantity:          in.Quantity,
		CreateTime:              timestamppb.New(now),
		UpdateTime:              timestamppb.New(now),
		RequestId:               proto.String(req.GetRequestId()),
	}
	if order.ClientOrderId == "" {
		order.ClientOrderId = ulid
	}
	order = proto.Clone(order).(*venuesv1.Order) // owns no memory of the request
	if err := validate(order); err != nil {
		return nil, status.Errorf(codes.Internal, "the placed order is invalid: %v", err)
	}
	g.s.nextSeq++
	g.s.orders[order.GetOrderId()] = &orderEntry{order: order, seq: g.s.nextSeq}
	g.s.requests[req.GetRequestId()] = requestEntry{request: proto.Clone(in), orderID: order.GetOrderId()}
	return &servicesv1.PlaceOrderResponse{Order: proto.Clone(order).(*venuesv1.Order)}, nil
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
		metadata := map[string]string{"account_id": ref.GetAccountId()}
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

func (g *venueGateway) GetOrder(_ context.Context, req *servicesv1.GetOrderRequest) (*servicesv1.GetOrderResponse, error) {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	e, err := g.find(req.GetOrder())
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetOrderResponse{Order: proto.Clone(e.order).(*venuesv1.Order)}, nil
}

func (g *venueGateway) CancelOrder(_ context.Context, req *servicesv1.CancelOrderRequest) (*servicesv1.CancelOrderResponse, error) {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if prior, ok := g.s.requests[req.GetRequestId()]; ok {
		if first, isRef := prior.request.(*servicesv1.OrderRef); isRef && proto.Equal(first, req.GetOrder()) {
			return &servicesv1.CancelOrderResponse{Order: proto.Clone(g.s.orders[prior.orderID].order).(*venuesv1.Order)}, nil
		}
		return nil, reused(req.GetRequestId())
	}
	e, err := g.find(req.GetOrder())
	if err != nil {
		return nil, err
	}
	o := e.order
	if o.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_NEW && o.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_PARTIALLY_FILLED {
		return nil, newError(codes.FailedPrecondition, "ORDER_NOT_OPEN",
			map[string]string{"order_id": o.GetOrderId(), "status": o.GetStatus().String()},
			"order %s is %s", o.GetOrderId(), o.GetStatus())
	}
	now := timestamppb.New(g.s.now())
	o.PreviousStatus = o.GetStatus()
	o.Status = venuesv1.OrderStatus_ORDER_STATUS_CANCELED
	if o.LeavesQuantity != nil {
		o.LeavesQuantity = proto.String("0")
	}
	o.UpdateTime, o.CloseTime = now, now
	g.s.requests[req.GetRequestId()] = requestEntry{request: proto.Clone(req.GetOrder()), orderID: o.GetOrderId()}
	return &servicesv1.CancelOrderResponse{Order: proto.Clone(o).(*venuesv1.Order)}, nil
}

var openStatuses = map[venuesv1.OrderStatus]bool{
	venuesv1.OrderStatus_ORDER_STATUS_NEW:              true,
	venuesv1.OrderStatus_ORDER_STATUS_PARTIALLY_FILLED: true,
	venuesv1.OrderStatus_ORDER_STATUS_TRIGGERED:        true,
	venuesv1.OrderStatus_ORDER_STATUS_SUSPENDED:        true,
}

func (g *venueGateway) ListOrders(_ context.Context, req *servicesv1.ListOrdersRequest) (*servicesv1.ListOrdersResponse, error) {
	if _, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId()); err != nil {
		return nil, err
	}
	g.s.mu.RLock()
	var found []*orderEntry
	for _, e := range g.s.orders {
		o := e.order
		created := micros(o.GetCreateTime())
		if o.GetAccountId() == req.GetAccountId() && optionalEq(req.MarketId, o.GetMarketId()) &&
			(!req.GetOpenOnly() || openStatuses[o.GetStatus()] || strings.HasPrefix(o.GetStatus().String(), "ORDER_STATUS_PENDING")) &&
			(req.GetSinceTime() == nil || created >= micros(req.GetSinceTime())) &&
			(req.GetUntilTime() == nil || created < micros(req.GetUntilTime())) {
			found = append(found, &orderEntry{order: proto.Clone(o).(*venuesv1.Order), seq: e.seq})
		}
	}
	g.s.mu.RUnlock()
	sort.Slice(found, func(i, j int) bool { return found[i].seq > found[j].seq }) // newest first
	// The token is the last order_id returned; its position in the newest-first list is where the next page starts.
	after, err := decodeToken(req.GetPageToken())
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
			return nil, newError(codes.InvalidArgument, "INVALID_PAGE_TOKEN", map[string]string{"page_token": req.GetPageToken()},
				"page_token %q does not name an order of this listing", req.GetPageToken())
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	end := min(start+size, len(found))
	resp := &servicesv1.ListOrdersResponse{}
	for _, e := range found[start:end] {
		resp.Orders = append(resp.Orders, e.order)
	}
	if end < len(found) {
		resp.NextPageToken = encodeToken(found[end-1].order.GetOrderId())
	}
	return resp, nil
}

// --- venue accounts -----------------------------------------------------------------------------------

func (g *venueGateway) GetVenueAccount(_ context.Context, req *servicesv1.GetVenueAccountRequest) (*servicesv1.GetVenueAccountResponse, error) {
	m, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId())
	return &servicesv1.GetVenueAccountResponse{VenueAccount: m}, err
}

func (g *venueGateway) ListVenueAccounts(_ context.Context, req *servicesv1.ListVenueAccountsRequest) (*servicesv1.ListVenueAccountsResponse, error) {
	items, next, err := list(g.s, g.s.accounts, req.GetPageSize(), req.GetPageToken(), func(a *venuesv1.VenueAccount) bool {
		return optionalEq(req.VenueId, a.GetVenueId())
	})
	return &servicesv1.ListVenueAccountsResponse{VenueAccounts: items, NextPageToken: next}, err
}

func (g *venueGateway) CreateVenueAccount(_ context.Context, req *servicesv1.CreateVenueAccountRequest) (*servicesv1.CreateVenueAccountResponse, error) {
	m, err := create(g.s, g.s.accounts, req.GetVenueAccount())
	return &servicesv1.CreateVenueAccountResponse{VenueAccount: m}, err
}

func (g *venueGateway) UpdateVenueAccount(_ context.Context, req *servicesv1.UpdateVenueAccountRequest) (*servicesv1.UpdateVenueAccountResponse, error) {
	m, err := update(g.s, g.s.accounts, req.GetVenueAccount(), req.GetUpdateMask())
	return &servicesv1.UpdateVenueAccountResponse{VenueAccount: m}, err
}
