package cqctest_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

const (
	account = "acc_01JDBNSP0TMA1N000000000000"
	spot    = "mkt_01JDBNBTCVSDTSP0T000000000"
	usdc    = "ast_01JDVSDC000000000000000000"
)

func start(t *testing.T) *grpc.ClientConn {
	t.Helper()
	srv, err := cqctest.Start(context.Background(), cqctest.Options{Testdata: corpus.Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func errorInfo(t *testing.T, err error, code codes.Code, reason string) (*errdetails.ErrorInfo, *status.Status) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %s (%v), want %s", st.Code(), err, code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != reason || info.GetDomain() != cqctest.ErrorDomain {
				t.Fatalf("ErrorInfo %v, want reason %s domain %s", info, reason, cqctest.ErrorDomain)
			}
			return info, st
		}
	}
	t.Fatalf("no ErrorInfo in %v", st.Details())
	return nil, nil
}

func newOrder(quantity string) *servicesv1.NewOrder {
	return &servicesv1.NewOrder{
		AccountId: account, MarketId: spot, Side: venuesv1.Side_SIDE_BUY,
		OrderType: venuesv1.OrderType_ORDER_TYPE_LIMIT, TimeInForce: venuesv1.TimeInForce_TIME_IN_FORCE_GTC,
		Quantity: proto.String(quantity), Price: proto.String("60000.00"),
	}
}

func TestPagination(t *testing.T) {
	registry := servicesv1.NewAssetRegistryClient(start(t))
	ctx := context.Background()
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := registry.ListAssets(ctx, &servicesv1.ListAssetsRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetAssets()) > 3 {
			t.Fatalf("page of %d", len(resp.GetAssets()))
		}
		for _, a := range resp.GetAssets() {
			ids = append(ids, a.GetAssetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if strings.Contains(token, "ast_") {
			t.Errorf("token %q is not opaque", token)
		}
	}
	if len(ids) != 7 { // 8 example files, two of them (bitcoin, bitcoin-detailed) the same asset
		t.Errorf("listed %d assets: %v", len(ids), ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Errorf("not ascending: %v", ids)
		}
	}
	all, err := registry.ListAssets(ctx, &servicesv1.ListAssetsRequest{})
	if err != nil || len(all.GetAssets()) != 7 || all.GetNextPageToken() != "" {
		t.Errorf("page_size 0: %d assets, token %q, %v", len(all.GetAssets()), all.GetNextPageToken(), err)
	}
	filtered, err := registry.ListAssets(ctx, &servicesv1.ListAssetsRequest{Symbol: "USDC"})
	if err != nil || len(filtered.GetAssets()) != 1 || filtered.GetAssets()[0].GetAssetId() != usdc {
		t.Errorf("symbol filter: %v, %v", filtered, err)
	}
	_, err = registry.ListAssets(ctx, &servicesv1.ListAssetsRequest{PageToken: "!!not-a-token!!"})
	errorInfo(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}

func TestPlaceOrderIdempotentAndCancel(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	const requestID = "6f1c1e2a-3b4d-4c5e-8f60-718293a4b5c6"
	first, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: requestID, Order: newOrder("0.001")})
	if err != nil {
		t.Fatal(err)
	}
	o := first.GetOrder()
	if !strings.HasPrefix(o.GetOrderId(), "ord_") || o.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_NEW ||
		o.GetClientOrderId() != strings.TrimPrefix(o.GetOrderId(), "ord_") || o.GetLeavesQuantity() != "0.001" ||
		o.GetFilledQuantity() != "0" || o.GetRequestId() != requestID || o.GetVenueId() == "" {
		t.Errorf("placed order %v", o)
	}
	if err := cqc.Validate(o); err != nil {
		t.Errorf("placed order invalid: %v", err)
	}
	again, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: requestID, Order: newOrder("0.001")})
	if err != nil || again.GetOrder().GetOrderId() != o.GetOrderId() {
		t.Fatalf("retry: %v, %v", again, err)
	}
	_, err = gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: requestID, Order: newOrder("0.002")})
	info, _ := errorInfo(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
	if info.GetMetadata()["request_id"] != requestID {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	second, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{
		RequestId: "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d", Order: newOrder("0.5")})
	if err != nil {
		t.Fatal(err)
	}
	list, err := gateway.ListOrders(ctx, &servicesv1.ListOrdersRequest{AccountId: account, PageSize: 1})
	if err != nil || len(list.GetOrders()) != 1 || list.GetOrders()[0].GetOrderId() != second.GetOrder().GetOrderId() {
		t.Fatalf("ListOrders page 1 (newest first): %v, %v", list, err)
	}
	list, err = gateway.ListOrders(ctx, &servicesv1.ListOrdersRequest{AccountId: account, PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(list.GetOrders()) != 1 || list.GetOrders()[0].GetOrderId() != o.GetOrderId() || list.GetNextPageToken() != "" {
		t.Fatalf("ListOrders page 2: %v, %v", list, err)
	}
	ref := &servicesv1.OrderRef{AccountId: account, Id: &servicesv1.OrderRef_ClientOrderId{ClientOrderId: o.GetClientOrderId()}}
	got, err := gateway.GetOrder(ctx, &servicesv1.GetOrderRequest{Order: ref})
	if err != nil || got.GetOrder().GetOrderId() != o.GetOrderId() {
		t.Fatalf("GetOrder by client_order_id: %v, %v", got, err)
	}
	const cancelID = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"
	for i := 0; i < 2; i++ { // idempotent by request_id
		canceled, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: cancelID, Order: ref})
		if err != nil || canceled.GetOrder().GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_CANCELED {
			t.Fatalf("cancel %d: %v, %v", i, canceled, err)
		}
		if err := cqc.Validate(canceled.GetOrder()); err != nil {
			t.Errorf("canceled order invalid: %v", err)
		}
	}
	_, err = gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: "2b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9", Order: ref})
	errorInfo(t, err, codes.FailedPrecondition, "ORDER_NOT_OPEN")
}

func TestValidationDetails(t *testing.T) {
	conn := start(t)
	_, err := servicesv1.NewVenueGatewayClient(conn).PlaceOrder(context.Background(), &servicesv1.PlaceOrderRequest{
		RequestId: "not-a-uuid",
		Order: &servicesv1.NewOrder{AccountId: account, MarketId: spot, Side: venuesv1.Side_SIDE_BUY,
			OrderType: venuesv1.OrderType_ORDER_TYPE_LIMIT, Quantity: proto.String("0.001")},
	})
	_, st := errorInfo(t, err, codes.InvalidArgument, "VALIDATION_FAILED")
	got := map[string]bool{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got[v.GetField()+" "+v.GetDescription()[strings.LastIndex(v.GetDescription(), "["):]] = true
			}
		}
	}
	for _, want := range []string{"request_id [string.uuid]", "order [new_order.price_required_for_limit_types]"} {
		if !got[want] {
			t.Errorf("BadRequest lacks %q: %v", want, got)
		}
	}
}

func TestCreateUpdateAndMetadata(t *testing.T) {
	registry := servicesv1.NewAssetRegistryClient(start(t))
	ctx := context.Background()
	var header, trailer metadata.MD
	resp, err := registry.GetAsset(metadata.AppendToOutgoingContext(ctx, cqctest.RequestIDHeader, "req-1"),
		&servicesv1.GetAssetRequest{AssetId: usdc}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil || resp.GetAsset().GetSymbol() != "USDC" {
		t.Fatalf("GetAsset: %v, %v", resp, err)
	}
	if h, tr := header.Get(cqctest.RequestIDHeader), trailer.Get(cqctest.ServerTrailer); len(h) != 1 || h[0] != "req-1" ||
		len(tr) != 1 || tr[0] != "go" {
		t.Errorf("header %v trailer %v", header, trailer)
	}
	asset := proto.Clone(resp.GetAsset()).(*assetsv1.Asset)
	asset.Name = "USD Coin (renamed)"
	asset.Symbol = "IGNORED"
	updated, err := registry.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: asset, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	if err != nil || updated.GetAsset().GetName() != "USD Coin (renamed)" || updated.GetAsset().GetSymbol() != "USDC" {
		t.Fatalf("UpdateAsset: %v, %v", updated, err)
	}
	_, err = registry.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: asset, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"no_such_field"}}})
	errorInfo(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK")
	fresh := proto.Clone(asset).(*assetsv1.Asset)
	fresh.AssetId, fresh.Symbol, fresh.CreateTime, fresh.UpdateTime = "ast_01JDNEWASSET00000000000000", "NEW", nil, nil
	created, err := registry.CreateAsset(ctx, &servicesv1.CreateAssetRequest{Asset: fresh})
	if err != nil || created.GetAsset().GetCreateTime() == nil {
		t.Fatalf("CreateAsset: %v, %v", created, err)
	}
	_, err = registry.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{
		Asset: &assetsv1.Asset{AssetId: "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	if status.Code(err) != codes.NotFound && status.Code(err) != codes.InvalidArgument {
		t.Errorf("update of a missing asset: %v", err)
	}
}

func TestHealth(t *testing.T) {
	health := healthpb.NewHealthClient(start(t))
	for _, name := range append([]string{""}, cqctest.Services...) {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v, %v", name, resp, err)
		}
	}
}

func TestReflection(t *testing.T) {
	conn := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v1, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := v1.Recv()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed[s.GetName()] = true
	}
	for _, want := range append([]string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"}, cqctest.Services...) {
		if !listed[want] {
			t.Errorf("reflection does not list %s: %v", want, listed)
		}
	}
	if err := v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: "cqc.services.v1.VenueGateway"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err = v1.Recv(); err != nil || len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Errorf("file containing VenueGateway: %v, %v", resp, err)
	}
	_ = v1.CloseSend()
	alpha, err := reflectionv1alpha.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alpha.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if r, err := alpha.Recv(); err != nil || len(r.GetListServicesResponse().GetService()) < 5 {
		t.Errorf("v1alpha list: %v, %v", r, err)
	}
	_ = alpha.CloseSend()
}

func TestStreamsAndStop(t *testing.T) {
	srv, err := cqctest.Start(context.Background(), cqctest.Options{Testdata: corpus.Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	md := servicesv1.NewMarketDataClient(conn)
	book, err := md.StreamOrderBook(context.Background(), &servicesv1.StreamOrderBookRequest{MarketId: spot, Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for ; ; n++ {
		msg, err := book.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && (!msg.GetOrderBook().GetIsSnapshot() || len(msg.GetOrderBook().GetBids()) != 1) {
			t.Errorf("first message %v", msg)
		}
	}
	if n < 2 {
		t.Errorf("%d order book messages", n)
	}
	trades, err := md.StreamTrades(context.Background(), &servicesv1.StreamTradesRequest{MarketIds: []string{spot}})
	if err != nil {
		t.Fatal(err)
	}
	// The stream starts with the (empty) snapshot's marker, then the seeded spot trade plays the live feed.
	if msg, err := trades.Recv(); err != nil || !msg.GetSnapshotComplete() || msg.GetTrade() != nil {
		t.Fatalf("first trade stream message %v, %v", msg, err)
	}
	if msg, err := trades.Recv(); err != nil || msg.GetTrade() == nil || msg.GetResumeToken() == "" {
		t.Fatalf("second trade stream message %v, %v", msg, err)
	}
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	select { // Stop ends the live trade stream instead of waiting for the client
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop blocked on an open stream")
	}
	if _, err := trades.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("open stream after Stop: %v", err)
	}
}
