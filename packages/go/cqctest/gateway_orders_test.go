package cqctest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

var requestCounter atomic.Int64

// requestID returns a fresh UUID-shaped request id.
func requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", requestCounter.Add(1))
}

func placeWith(t *testing.T, gateway servicesv1.VenueGatewayClient, change func(*servicesv1.NewOrder)) *venuesv1.Order {
	t.Helper()
	order := newOrder("0.001")
	if change != nil {
		change(order)
	}
	resp, err := gateway.PlaceOrder(context.Background(), &servicesv1.PlaceOrderRequest{RequestId: requestID(), Order: order})
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	return resp.GetOrder()
}

func byID(id string) *servicesv1.OrderRef {
	return &servicesv1.OrderRef{AccountId: account, Id: &servicesv1.OrderRef_OrderId{OrderId: id}}
}

func byClientID(id string) *servicesv1.OrderRef {
	return &servicesv1.OrderRef{AccountId: account, Id: &servicesv1.OrderRef_ClientOrderId{ClientOrderId: id}}
}

func TestOrderRejectionShapes(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	rejected := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.Tags = []string{cqctest.VenueRejectTag} })
	if rejected.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_REJECTED || rejected.GetVenueReasonCode() != "-2010" || rejected.GetCloseTime() == nil {
		t.Errorf("venue rejection: %v", rejected)
	}
	if err := cqc.Validate(rejected); err != nil {
		t.Errorf("rejected order invalid: %v", err)
	}
	placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.ClientOrderId = proto.String("dup-1") })
	_, err := gateway.PlaceOrder(context.Background(), &servicesv1.PlaceOrderRequest{RequestId: requestID(),
		Order: func() *servicesv1.NewOrder { o := newOrder("0.001"); o.ClientOrderId = proto.String("dup-1"); return o }()})
	errorInfo(t, err, codes.AlreadyExists, "DUPLICATE_CLIENT_ORDER_ID")
	listed, err := gateway.ListOrders(context.Background(), &servicesv1.ListOrdersRequest{AccountId: account})
	if err != nil || len(listed.GetOrders()) != 2 {
		t.Fatalf("a refusal before the venue must create no order: %v, %v", listed, err)
	}
	closing := placeWith(t, gateway, func(o *servicesv1.NewOrder) {
		o.OrderType, o.Side, o.Quantity, o.Price = venuesv1.OrderType_ORDER_TYPE_STOP_MARKET, venuesv1.Side_SIDE_SELL, nil, nil
		o.TriggerPrice, o.ClosePosition = proto.String("50000"), true
		o.TakeProfit = nil
	})
	if !closing.GetClosePosition() || closing.Quantity != nil || closing.LeavesQuantity != nil {
		t.Errorf("close-position order: %v", closing)
	}
	tp := &venuesv1.AttachedOrder{TriggerPrice: "66000", OrderType: venuesv1.OrderType_ORDER_TYPE_MARKET}
	withTP := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.TakeProfit, o.MinQuantity = tp, proto.String("0.001") })
	if !proto.Equal(withTP.GetTakeProfit(), tp) || withTP.GetMinQuantity() != "0.001" {
		t.Errorf("attached take-profit not kept: %v", withTP)
	}
}

func TestAmendWithNewClientOrderID(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	placed := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.ClientOrderId = proto.String("amend-1") })
	req := &servicesv1.AmendOrderRequest{RequestId: requestID(), Order: byClientID("amend-1"),
		Price: proto.String("60100.00"), Quantity: proto.String("0.002"), NewClientOrderId: proto.String("amend-1-r1")}
	resp, err := gateway.AmendOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetOrder()
	if o.GetOrderId() != placed.GetOrderId() || o.GetClientOrderId() != "amend-1-r1" || o.GetOrigClientOrderId() != "amend-1" ||
		o.GetPrice() != "60100.00" || o.GetQuantity() != "0.002" || o.GetLeavesQuantity() != "0.002" {
		t.Errorf("amended: %v", o)
	}
	again, err := gateway.AmendOrder(ctx, req)
	if err != nil || !proto.Equal(again.GetOrder(), o) {
		t.Errorf("retry: %v, %v", again, err)
	}
	got, err := gateway.GetOrder(ctx, &servicesv1.GetOrderRequest{Order: byClientID("amend-1-r1")})
	if err != nil || got.GetOrder().GetOrderId() != placed.GetOrderId() {
		t.Errorf("GetOrder by the new client id: %v, %v", got, err)
	}
	if _, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: requestID(), Order: byID(placed.GetOrderId())}); err != nil {
		t.Fatal(err)
	}
	_, err = gateway.AmendOrder(ctx, &servicesv1.AmendOrderRequest{RequestId: requestID(), Order: byID(placed.GetOrderId()), Price: proto.String("1")})
	errorInfo(t, err, codes.FailedPrecondition, "ORDER_NOT_OPEN")
}

func TestBatchesReportEachItem(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	good := newOrder("0.001")
	bad := newOrder("0.001")
	bad.MarketId = "mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ"
	placed, err := gateway.BatchPlaceOrders(ctx, &servicesv1.BatchPlaceOrdersRequest{Requests: []*servicesv1.PlaceOrderRequest{
		{RequestId: requestID(), Order: good}, {RequestId: requestID(), Order: bad}}})
	if err != nil {
		t.Fatal(err)
	}
	results := placed.GetResults()
	if len(results) != 2 || results[0].GetOrder() == nil || results[1].GetError().GetReason() != servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_MARKET ||
		results[1].GetError().GetCode() != int32(codes.NotFound) {
		t.Fatalf("batch place: %v", results)
	}
	ref := byID(results[0].GetOrder().GetOrderId())
	canceled, err := gateway.BatchCancelOrders(ctx, &servicesv1.BatchCancelOrdersRequest{Requests: []*servicesv1.CancelOrderRequest{
		{RequestId: requestID(), Order: ref}, {RequestId: requestID(), Order: ref}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := canceled.GetResults(); c[0].GetOrder().GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_CANCELED ||
		c[1].GetError().GetReason() != servicesv1.ErrorReason_ERROR_REASON_ORDER_NOT_OPEN {
		t.Errorf("batch cancel: %v", c)
	}
	amended, err := gateway.BatchAmendOrders(ctx, &servicesv1.BatchAmendOrdersRequest{Requests: []*servicesv1.AmendOrderRequest{
		{RequestId: requestID(), Order: ref, Price: proto.String("1")}}})
	if err != nil || amended.GetResults()[0].GetError().GetReason() != servicesv1.ErrorReason_ERROR_REASON_ORDER_NOT_OPEN {
		t.Errorf("batch amend: %v, %v", amended, err)
	}
}

func TestOTOCOBracket(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	entry, tp, sl := newOrder("0.001"), newOrder("0.001"), newOrder("0.001")
	tp.Side, tp.Price = venuesv1.Side_SIDE_SELL, proto.String("66000")
	sl.Side, sl.OrderType, sl.Price, sl.TriggerPrice = venuesv1.Side_SIDE_SELL, venuesv1.OrderType_ORDER_TYPE_STOP_LIMIT, proto.String("54900"), proto.String("55000")
	req := &servicesv1.PlaceOrderListRequest{RequestId: requestID(), AccountId: account, MarketId: spot,
		ContingencyType: venuesv1.ContingencyType_CONTINGENCY_TYPE_OTOCO, Orders: []*servicesv1.NewOrder{entry, tp, sl}}
	resp, err := gateway.PlaceOrderList(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	o := resp.GetOrders()
	if len(o) != 3 || o[0].GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_NEW ||
		o[1].GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_PENDING_NEW || o[2].GetParentOrderId() != o[0].GetOrderId() ||
		len(o[0].GetLinkedOrderIds()) != 2 || resp.GetOrderList().GetListOrderStatus() != venuesv1.ListOrderStatus_LIST_ORDER_STATUS_EXECUTING {
		t.Fatalf("bracket: %v", resp)
	}
	if err := cqc.Validate(resp); err != nil {
		t.Errorf("response invalid: %v", err)
	}
	again, err := gateway.PlaceOrderList(context.Background(), req)
	if err != nil || !proto.Equal(again, resp) {
		t.Errorf("retry: %v", err)
	}
}

func TestCancelAllFiltersAndDeadManSwitch(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	buyA := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.StrategyId = "a" })
	placeWith(t, gateway, func(o *servicesv1.NewOrder) {
		o.StrategyId, o.Side, o.Price = "a", venuesv1.Side_SIDE_SELL, proto.String("70000")
	})
	buyB := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.StrategyId = "b" })
	all, err := gateway.CancelAllOrders(ctx, &servicesv1.CancelAllOrdersRequest{RequestId: requestID(), AccountId: account,
		Side: venuesv1.Side_SIDE_BUY, StrategyId: proto.String("a")})
	if err != nil || len(all.GetOrders()) != 1 || all.GetOrders()[0].GetOrderId() != buyA.GetOrderId() {
		t.Fatalf("cancel-all by side and strategy: %v, %v", all, err)
	}
	arm := &servicesv1.SetCancelAllAfterRequest{AccountId: account, Timeout: durationpb.New(time.Second)}
	armed, err := gateway.SetCancelAllAfter(ctx, arm)
	if err != nil || armed.GetTriggerTime() == nil {
		t.Fatalf("arm: %v, %v", armed, err)
	}
	disarmed, err := gateway.SetCancelAllAfter(ctx, &servicesv1.SetCancelAllAfterRequest{AccountId: account, Timeout: durationpb.New(0)})
	if err != nil || disarmed.GetTriggerTime() != nil {
		t.Fatalf("disarm: %v, %v", disarmed, err)
	}
	time.Sleep(1300 * time.Millisecond)
	status := func() venuesv1.OrderStatus {
		got, err := gateway.GetOrder(ctx, &servicesv1.GetOrderRequest{Order: byID(buyB.GetOrderId())})
		if err != nil {
			t.Fatal(err)
		}
		return got.GetOrder().GetStatus()
	}
	if s := status(); s != venuesv1.OrderStatus_ORDER_STATUS_NEW {
		t.Fatalf("a disarmed switch canceled the order: %s", s)
	}
	if _, err := gateway.SetCancelAllAfter(ctx, arm); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for status() != venuesv1.OrderStatus_ORDER_STATUS_CANCELED {
		if time.Now().After(deadline) {
			t.Fatal("the armed switch did not cancel the open orders")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestListOrdersFiltersAndReadMask(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	buy := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.ClientOrderId = proto.String("f-buy") })
	sell := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.Side, o.Price = venuesv1.Side_SIDE_SELL, proto.String("70000") })
	if _, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: requestID(), Order: byID(sell.GetOrderId())}); err != nil {
		t.Fatal(err)
	}
	ids := func(req *servicesv1.ListOrdersRequest) []string {
		req.AccountId = account
		resp, err := gateway.ListOrders(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range resp.GetOrders() {
			out = append(out, o.GetOrderId())
		}
		return out
	}
	if got := ids(&servicesv1.ListOrdersRequest{Statuses: []venuesv1.OrderStatus{venuesv1.OrderStatus_ORDER_STATUS_CANCELED}}); fmt.Sprint(got) != fmt.Sprint([]string{sell.GetOrderId()}) {
		t.Errorf("by status: %v", got)
	}
	if got := ids(&servicesv1.ListOrdersRequest{Side: venuesv1.Side_SIDE_BUY}); fmt.Sprint(got) != fmt.Sprint([]string{buy.GetOrderId()}) {
		t.Errorf("by side: %v", got)
	}
	if got := ids(&servicesv1.ListOrdersRequest{ClientOrderId: proto.String("f-buy")}); fmt.Sprint(got) != fmt.Sprint([]string{buy.GetOrderId()}) {
		t.Errorf("by client order id: %v", got)
	}
	resp, err := gateway.ListOrders(ctx, &servicesv1.ListOrdersRequest{AccountId: account, ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"order_id", "status"}}})
	if err != nil || len(resp.GetOrders()) != 2 || resp.GetOrders()[0].GetPrice() != "" || resp.GetOrders()[0].GetOrderId() != sell.GetOrderId() {
		t.Errorf("read mask: %v, %v", resp, err)
	}
	_, err = gateway.GetOrder(ctx, &servicesv1.GetOrderRequest{Order: byID(buy.GetOrderId()), ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"no_such_field"}}})
	errorInfo(t, err, codes.InvalidArgument, "INVALID_READ_MASK")
}

func TestStreamOrdersSnapshotAndResume(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	gone := placeWith(t, gateway, nil)
	if _, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: requestID(), Order: byID(gone.GetOrderId())}); err != nil {
		t.Fatal(err)
	}
	working := placeWith(t, gateway, nil)
	streamCtx, stop := context.WithCancel(ctx)
	stream, err := gateway.StreamOrders(streamCtx, &servicesv1.StreamOrdersRequest{AccountId: account})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]venuesv1.OrderStatus{}
	var marker *servicesv1.StreamOrdersResponse
	for marker == nil {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetResumeToken() == "" {
			t.Fatal("a message without resume_token")
		}
		if msg.GetSnapshotComplete() {
			marker = msg
			continue
		}
		seen[msg.GetOrder().GetOrderId()] = msg.GetOrder().GetStatus()
	}
	// the order canceled while nobody watched is in the snapshot
	if len(seen) != 2 || seen[gone.GetOrderId()] != venuesv1.OrderStatus_ORDER_STATUS_CANCELED || seen[working.GetOrderId()] != venuesv1.OrderStatus_ORDER_STATUS_NEW {
		t.Fatalf("snapshot: %v", seen)
	}
	live := placeWith(t, gateway, nil)
	msg, err := stream.Recv()
	if err != nil || msg.GetOrder().GetOrderId() != live.GetOrderId() || msg.GetIsSnapshot() {
		t.Fatalf("live change: %v, %v", msg, err)
	}
	stop()
	if _, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: requestID(), Order: byID(live.GetOrderId())}); err != nil {
		t.Fatal(err)
	}
	resumeCtx, stopResume := context.WithCancel(ctx)
	defer stopResume()
	resumed, err := gateway.StreamOrders(resumeCtx, &servicesv1.StreamOrdersRequest{AccountId: account, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []venuesv1.OrderStatus{venuesv1.OrderStatus_ORDER_STATUS_NEW, venuesv1.OrderStatus_ORDER_STATUS_CANCELED} {
		msg, err := resumed.Recv()
		if err != nil || msg.GetOrder().GetOrderId() != live.GetOrderId() || msg.GetOrder().GetStatus() != want || msg.GetIsSnapshot() {
			t.Fatalf("replay, want %s: %v, %v", want, msg, err)
		}
	}
	bad, err := gateway.StreamOrders(ctx, &servicesv1.StreamOrdersRequest{AccountId: account, ResumeToken: proto.String("bm90LWEtdG9rZW4")})
	if err == nil {
		_, err = bad.Recv()
	}
	errorInfo(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED")
}
