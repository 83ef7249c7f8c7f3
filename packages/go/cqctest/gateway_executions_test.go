package cqctest_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

const (
	perpMarket  = "mkt_01JDBNBTCVSDTPERP000000000"
	indexMarket = "mkt_01JDDRBBTCVSD1NDEX00000000"
)

// TestExecutionReportsList: every order change is one execution report (NEW, TRADE for the simulated fill,
// REJECTED, REPLACED, CANCELED), listed newest first with the order, trades-only, market and time filters,
// paging and a read mask.
func TestExecutionReportsList(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	working := placeWith(t, gateway, nil)
	filled := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.Tags = []string{cqctest.VenueFillTag} })
	if filled.GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_FILLED || filled.GetFilledQuantity() != "0.001" {
		t.Fatalf("simulated fill: %v", filled)
	}
	rejected := placeWith(t, gateway, func(o *servicesv1.NewOrder) { o.Tags = []string{cqctest.VenueRejectTag} })
	if _, err := gateway.AmendOrder(ctx, &servicesv1.AmendOrderRequest{RequestId: requestID(), Order: byID(working.GetOrderId()), Price: proto.String("59000")}); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.CancelOrder(ctx, &servicesv1.CancelOrderRequest{RequestId: requestID(), Order: byID(working.GetOrderId())}); err != nil {
		t.Fatal(err)
	}
	all, err := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account})
	if err != nil {
		t.Fatal(err)
	}
	reports := all.GetExecutionReports()
	byOrder := map[string][]venuesv1.ExecType{}
	for i := len(reports) - 1; i >= 0; i-- { // oldest first
		r := reports[i]
		if err := cqc.Validate(r); err != nil {
			t.Fatalf("invalid report %v: %v", r, err)
		}
		byOrder[r.GetOrderId()] = append(byOrder[r.GetOrderId()], r.GetExecType())
		if i > 0 && r.GetTransactTime().AsTime().After(reports[i-1].GetTransactTime().AsTime()) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	want := map[string][]venuesv1.ExecType{
		working.GetOrderId():  {venuesv1.ExecType_EXEC_TYPE_NEW, venuesv1.ExecType_EXEC_TYPE_REPLACED, venuesv1.ExecType_EXEC_TYPE_CANCELED},
		filled.GetOrderId():   {venuesv1.ExecType_EXEC_TYPE_NEW, venuesv1.ExecType_EXEC_TYPE_TRADE},
		rejected.GetOrderId(): {venuesv1.ExecType_EXEC_TYPE_REJECTED},
	}
	for id, types := range want {
		if !equalTypes(byOrder[id], types) {
			t.Errorf("order %s reports %v, want %v", id, byOrder[id], types)
		}
	}
	trades, err := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, TradesOnly: true})
	if err != nil || len(trades.GetExecutionReports()) != 1 {
		t.Fatalf("trades only: %v %v", trades, err)
	}
	trade := trades.GetExecutionReports()[0]
	if trade.GetLastQuantity() != "0.001" || trade.GetLastPrice() != "60000.00" || trade.GetCumQuantity() != "0.001" || trade.GetVenueTradeId() == "" {
		t.Errorf("trade report: %v", trade)
	}
	one, _ := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, OrderId: proto.String(working.GetOrderId())})
	if len(one.GetExecutionReports()) != 3 {
		t.Errorf("order filter: %d reports", len(one.GetExecutionReports()))
	}
	other, _ := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, MarketIds: []string{perpMarket}})
	if len(other.GetExecutionReports()) != 0 {
		t.Errorf("market filter: %v", other)
	}
	middle := reports[2].GetTransactTime()
	since, _ := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, SinceTime: middle})
	until, _ := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, UntilTime: middle})
	if len(since.GetExecutionReports())+len(until.GetExecutionReports()) != len(reports) || len(since.GetExecutionReports()) < 3 {
		t.Errorf("time range: %d + %d of %d", len(since.GetExecutionReports()), len(until.GetExecutionReports()), len(reports))
	}
	var seen []string
	token := ""
	for range 10 {
		page, err := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, PageSize: 2, PageToken: token})
		if err != nil || len(page.GetExecutionReports()) > 2 {
			t.Fatalf("page: %v %v", page, err)
		}
		for _, r := range page.GetExecutionReports() {
			seen = append(seen, r.GetExecutionId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != len(reports) || seen[0] != reports[0].GetExecutionId() || seen[len(seen)-1] != reports[len(reports)-1].GetExecutionId() {
		t.Errorf("paging walked %v", seen)
	}
	masked, err := gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account,
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"execution_id", "exec_type"}}})
	if err != nil || masked.GetExecutionReports()[0].GetSourceRecord() != nil || masked.GetExecutionReports()[0].GetExecutionId() != reports[0].GetExecutionId() {
		t.Errorf("read mask: %v %v", masked, err)
	}
	_, err = gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: account, ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"no_such_field"}}})
	errorInfo(t, err, codes.InvalidArgument, "INVALID_READ_MASK")
	_, err = gateway.ListExecutionReports(ctx, &servicesv1.ListExecutionReportsRequest{AccountId: "acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"})
	errorInfo(t, err, codes.NotFound, "NOT_FOUND_ACCOUNT")
}

func equalTypes(a, b []venuesv1.ExecType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExecutionReportsStream: since_time replays the stored reports, the marker ends the replay, live reports
// follow; a resume token replays what came after it; an unknown token fails RESUME_TOKEN_EXPIRED.
func TestExecutionReportsStream(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := placeWith(t, gateway, nil)
	stream, err := gateway.StreamExecutionReports(ctx, &servicesv1.StreamExecutionReportsRequest{AccountId: account, SinceTime: first.GetCreateTime()})
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := stream.Recv()
	if err != nil || !replayed.GetIsSnapshot() || replayed.GetExecutionReport().GetOrderId() != first.GetOrderId() {
		t.Fatalf("replay: %v %v", replayed, err)
	}
	marker, err := stream.Recv()
	if err != nil || !marker.GetSnapshotComplete() || marker.GetExecutionReport() != nil || marker.GetResumeToken() == "" {
		t.Fatalf("marker: %v %v", marker, err)
	}
	second := placeWith(t, gateway, nil)
	live, err := stream.Recv()
	if err != nil || live.GetIsSnapshot() || live.GetExecutionReport().GetOrderId() != second.GetOrderId() {
		t.Fatalf("live: %v %v", live, err)
	}
	if err := cqc.Validate(live); err != nil {
		t.Fatal(err)
	}
	resumed, err := gateway.StreamExecutionReports(ctx, &servicesv1.StreamExecutionReportsRequest{AccountId: account, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	again, err := resumed.Recv()
	if err != nil || again.GetSnapshotComplete() || again.GetExecutionReport().GetOrderId() != second.GetOrderId() {
		t.Fatalf("resumed: %v %v", again, err)
	}
	fresh, err := gateway.StreamExecutionReports(ctx, &servicesv1.StreamExecutionReportsRequest{AccountId: account})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := fresh.Recv(); err != nil || !m.GetSnapshotComplete() {
		t.Fatalf("fresh stream starts with the marker: %v %v", m, err)
	}
	for _, req := range []*servicesv1.StreamExecutionReportsRequest{
		{AccountId: account, ResumeToken: proto.String("bm90LWEtdG9rZW4=")},
		{AccountId: account, MarketIds: []string{perpMarket}, ResumeToken: proto.String(marker.GetResumeToken())},
	} {
		bad, err := gateway.StreamExecutionReports(ctx, req)
		if err == nil {
			_, err = bad.Recv()
		}
		errorInfo(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED")
	}
}

// TestRequestIDsSharedAcrossOrderAndAccountRPCs: one store of request ids for the whole VenueGateway.
func TestRequestIDsSharedAcrossOrderAndAccountRPCs(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	const usdm = "acc_01JDBNVSDMMA1N000000000000"
	if _, err := gateway.CreateVenueAccount(ctx, &servicesv1.CreateVenueAccountRequest{VenueAccount: &venuesv1.VenueAccount{
		AccountId: usdm, VenueId: "ven_01JDB1NANCEFVTVRES00000000", Name: "Binance USD-M main", ExternalAccountId: "354937868",
		AccountType: venuesv1.AccountType_ACCOUNT_TYPE_FUTURES, Status: venuesv1.AccountStatus_ACCOUNT_STATUS_ACTIVE,
		MarginMode: venuesv1.MarginMode_MARGIN_MODE_CROSS, BaseAssetId: proto.String("ast_01JDVSDT000000000000000000"),
		Limits: &venuesv1.AccountLimits{MaxLeverage: proto.String("50")}}}); err != nil {
		t.Fatal(err)
	}
	shared := requestID()
	if _, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: shared, Order: newOrder("0.001")}); err != nil {
		t.Fatal(err)
	}
	_, err := gateway.SetLeverage(ctx, &servicesv1.SetLeverageRequest{RequestId: shared, AccountId: usdm, MarketId: perpMarket, Leverage: "5"})
	errorInfo(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
	other := requestID()
	if _, err := gateway.SetLeverage(ctx, &servicesv1.SetLeverageRequest{RequestId: other, AccountId: usdm, MarketId: perpMarket, Leverage: "5"}); err != nil {
		t.Fatal(err)
	}
	_, err = gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: other, Order: newOrder("0.001")})
	errorInfo(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
}

// TestMarketOrderChecks: PRICE_SIGN_NOT_ALLOWED for a zero or negative price where the market forbids it
// (place and amend), MARKET_NOT_TRADABLE for an index market; neither creates an order.
func TestMarketOrderChecks(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	for _, c := range []struct {
		change func(*servicesv1.NewOrder)
		field  string
	}{
		{func(o *servicesv1.NewOrder) { o.Price = proto.String("0") }, "order.price"},
		{func(o *servicesv1.NewOrder) { o.Price = proto.String("-1") }, "order.price"},
		{func(o *servicesv1.NewOrder) {
			o.OrderType, o.TriggerPrice = venuesv1.OrderType_ORDER_TYPE_STOP_LIMIT, proto.String("-0.5")
		}, "order.trigger_price"},
	} {
		order := newOrder("0.001")
		c.change(order)
		_, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: requestID(), Order: order})
		info, _ := errorInfo(t, err, codes.InvalidArgument, "PRICE_SIGN_NOT_ALLOWED")
		if info.GetMetadata()["field"] != c.field || info.GetMetadata()["market_id"] != spot {
			t.Errorf("metadata %v, want field %s", info.GetMetadata(), c.field)
		}
	}
	listed, _ := gateway.ListOrders(ctx, &servicesv1.ListOrdersRequest{AccountId: account})
	if len(listed.GetOrders()) != 0 {
		t.Fatalf("refused orders were created: %v", listed)
	}
	working := placeWith(t, gateway, nil)
	_, err := gateway.AmendOrder(ctx, &servicesv1.AmendOrderRequest{RequestId: requestID(), Order: byID(working.GetOrderId()), Price: proto.String("0")})
	info, _ := errorInfo(t, err, codes.InvalidArgument, "PRICE_SIGN_NOT_ALLOWED")
	if info.GetMetadata()["field"] != "price" {
		t.Errorf("amend metadata %v", info.GetMetadata())
	}
	index := newOrder("0.001")
	index.MarketId = indexMarket
	_, err = gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: requestID(), Order: index})
	info, _ = errorInfo(t, err, codes.FailedPrecondition, "MARKET_NOT_TRADABLE")
	if info.GetMetadata()["market_type"] != "MARKET_TYPE_INDEX" || info.GetMetadata()["market_id"] != indexMarket {
		t.Errorf("index metadata %v", info.GetMetadata())
	}
}

// TestVenueEtags: UpdateVenue and UpdateVenueAsset compare a non-empty etag (ABORTED ETAG_MISMATCH).
func TestVenueEtags(t *testing.T) {
	registry := servicesv1.NewAssetRegistryClient(start(t))
	ctx := context.Background()
	got, err := registry.GetVenue(ctx, &servicesv1.GetVenueRequest{VenueId: "ven_01JDB1NANCE000000000000000"})
	if err != nil || got.GetVenue().GetEtag() == "" {
		t.Fatalf("GetVenue: %v %v", got, err)
	}
	venue := got.GetVenue()
	venue.Name = "Binance (renamed)"
	mask := &fieldmaskpb.FieldMask{Paths: []string{"name"}}
	_, err = registry.UpdateVenue(ctx, &servicesv1.UpdateVenueRequest{Venue: venue, UpdateMask: mask, Etag: "W1-stale"})
	errorInfo(t, err, codes.Aborted, "ETAG_MISMATCH")
	updated, err := registry.UpdateVenue(ctx, &servicesv1.UpdateVenueRequest{Venue: venue, UpdateMask: mask, Etag: venue.GetEtag()})
	if err != nil || updated.GetVenue().GetName() != "Binance (renamed)" || updated.GetVenue().GetEtag() == venue.GetEtag() {
		t.Fatalf("UpdateVenue: %v %v", updated, err)
	}
	assets, err := registry.ListVenueAssets(ctx, &servicesv1.ListVenueAssetsRequest{PageSize: 1})
	if err != nil || len(assets.GetVenueAssets()) != 1 || assets.GetVenueAssets()[0].GetEtag() == "" {
		t.Fatalf("ListVenueAssets: %v %v", assets, err)
	}
	asset := assets.GetVenueAssets()[0]
	asset.DepositEnabled = proto.Bool(!asset.GetDepositEnabled())
	assetMask := &fieldmaskpb.FieldMask{Paths: []string{"deposit_enabled"}}
	_, err = registry.UpdateVenueAsset(ctx, &servicesv1.UpdateVenueAssetRequest{VenueAsset: asset, UpdateMask: assetMask, Etag: "W1-stale"})
	errorInfo(t, err, codes.Aborted, "ETAG_MISMATCH")
	done, err := registry.UpdateVenueAsset(ctx, &servicesv1.UpdateVenueAssetRequest{VenueAsset: asset, UpdateMask: assetMask, Etag: asset.GetEtag()})
	if err != nil || done.GetVenueAsset().GetEtag() == asset.GetEtag() {
		t.Fatalf("UpdateVenueAsset: %v %v", done, err)
	}
}
