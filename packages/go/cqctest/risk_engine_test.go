package cqctest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

const (
	usd           = "ast_01JDFVSD000000000000000000"
	noPriceMarket = "mkt_01JDKRKNXBTVSDSP0T00000000"
	riskFund      = "pfl_01JDMA1NFVND00000000000000"
)

// freshAccount creates a new venue account (VenueGateway) so that limits and states of other tests do not count.
func freshAccount(t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	gateway := servicesv1.NewVenueGatewayClient(conn)
	got, err := gateway.GetVenueAccount(context.Background(), &servicesv1.GetVenueAccountRequest{AccountId: account})
	if err != nil {
		t.Fatal(err)
	}
	a := got.GetVenueAccount()
	a.AccountId = cqckit.NewID("acc")
	a.CreateTime, a.UpdateTime = nil, nil
	if _, err := gateway.CreateVenueAccount(context.Background(), &servicesv1.CreateVenueAccountRequest{VenueAccount: a}); err != nil {
		t.Fatal(err)
	}
	return a.GetAccountId()
}

func accountLimit(accountID string, metric portfoliov1.RiskMetric, threshold string) *portfoliov1.RiskLimit {
	return &portfoliov1.RiskLimit{
		LimitId: cqckit.NewID("lim"), Name: "test limit", Scope: &portfoliov1.RiskLimit_AccountId{AccountId: accountID},
		Metric: metric, Threshold: threshold, Unit: portfoliov1.MetricUnit_METRIC_UNIT_ASSET_AMOUNT, UnitAssetId: proto.String(usd),
		Action: portfoliov1.RiskLimitAction_RISK_LIMIT_ACTION_BLOCK_NEW_ORDERS, State: portfoliov1.RiskLimitState_RISK_LIMIT_STATE_ENABLED,
		CreatedBy: "tests",
	}
}

func riskOrder(accountID, quantity string) *servicesv1.NewOrder {
	o := newOrder(quantity)
	o.AccountId, o.Price = accountID, proto.String("40000")
	return o
}

func TestRiskLimitsCRUD(t *testing.T) {
	conn := start(t)
	risk, ctx := servicesv1.NewRiskEngineClient(conn), context.Background()
	acc := freshAccount(t, conn)
	created, err := risk.CreateRiskLimit(ctx, &servicesv1.CreateRiskLimitRequest{RiskLimit: accountLimit(acc, portfoliov1.RiskMetric_RISK_METRIC_ORDER_NOTIONAL, "1")})
	if err != nil || created.GetRiskLimit().GetCreateTime() == nil {
		t.Fatalf("create: %v %v", created, err)
	}
	limit := created.GetRiskLimit()
	if again, err := risk.CreateRiskLimit(ctx, &servicesv1.CreateRiskLimitRequest{RiskLimit: limit}); err != nil || !proto.Equal(again.GetRiskLimit(), limit) {
		t.Errorf("idempotent create: %v %v", again, err)
	}
	other := proto.Clone(limit).(*portfoliov1.RiskLimit)
	other.Name = "renamed"
	_, err = risk.CreateRiskLimit(ctx, &servicesv1.CreateRiskLimitRequest{RiskLimit: other})
	if info, _ := errorInfo(t, err, codes.AlreadyExists, "ALREADY_EXISTS"); info.GetMetadata()["limit_id"] != limit.GetLimitId() {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	updated, err := risk.UpdateRiskLimit(ctx, &servicesv1.UpdateRiskLimitRequest{RiskLimit: other, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	if err != nil || updated.GetRiskLimit().GetName() != "renamed" || !proto.Equal(updated.GetRiskLimit().GetCreateTime(), limit.GetCreateTime()) {
		t.Fatalf("update: %v %v", updated, err)
	}
	for _, paths := range [][]string{{"limit_id"}, {"nope", "name"}, {"create_time"}} {
		_, err := risk.UpdateRiskLimit(ctx, &servicesv1.UpdateRiskLimitRequest{RiskLimit: other, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		errorInfo(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK")
	}
	missing := cqckit.NewID("lim")
	_, err = risk.GetRiskLimit(ctx, &servicesv1.GetRiskLimitRequest{LimitId: missing})
	if info, _ := errorInfo(t, err, codes.NotFound, "NOT_FOUND_RESOURCE"); info.GetMetadata()["limit_id"] != missing {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	first, err := risk.ListRiskLimits(ctx, &servicesv1.ListRiskLimitsRequest{PageSize: 1})
	if err != nil || len(first.GetRiskLimits()) != 1 || first.GetNextPageToken() == "" {
		t.Fatalf("list: %v %v", first, err)
	}
	for _, req := range []*servicesv1.ListRiskLimitsRequest{
		{PageToken: "garbage!"},
		{PageToken: first.GetNextPageToken(), EnabledOnly: true},
	} {
		_, err := risk.ListRiskLimits(ctx, req)
		errorInfo(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
	}
}

func TestRiskCheckAndReservations(t *testing.T) {
	conn := start(t)
	risk, ctx := servicesv1.NewRiskEngineClient(conn), context.Background()
	acc := freshAccount(t, conn)
	l := accountLimit(acc, portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL, "40000")
	l.WarningThreshold = proto.String("32000")
	if _, err := risk.CreateRiskLimit(ctx, &servicesv1.CreateRiskLimitRequest{RiskLimit: l}); err != nil {
		t.Fatal(err)
	}
	checked, err := risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: riskOrder(acc, "0.5")})
	if err != nil || checked.GetResult().GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_ALLOW ||
		checked.GetResult().GetLimitChecks()[0].GetProjectedValue() != "20000" || cqc.Validate(checked.GetResult()) != nil {
		t.Fatalf("check: %v %v", checked, err)
	}
	req := &servicesv1.ReserveOrderRequest{RequestId: requestID(), Order: riskOrder(acc, "0.5")}
	reserved, err := risk.ReserveOrder(ctx, req)
	if err != nil || reserved.GetResult().GetReservationId() == "" {
		t.Fatalf("reserve: %v %v", reserved, err)
	}
	if again, err := risk.ReserveOrder(ctx, req); err != nil || !proto.Equal(again, reserved) {
		t.Errorf("idempotent reserve: %v %v", again, err)
	}
	_, err = risk.ReserveOrder(ctx, &servicesv1.ReserveOrderRequest{RequestId: req.GetRequestId(), Order: riskOrder(acc, "0.6")})
	errorInfo(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
	warned, _ := risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: riskOrder(acc, "0.4")})
	if c := warned.GetResult().GetLimitChecks()[0]; warned.GetResult().GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_WARN ||
		c.GetObservedValue() != "20000" || c.GetProjectedValue() != "36000" {
		t.Errorf("warn: %v", warned)
	}
	denied, err := risk.ReserveOrder(ctx, &servicesv1.ReserveOrderRequest{RequestId: requestID(), Order: riskOrder(acc, "0.6")})
	if err != nil || denied.GetResult().GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_DENY || denied.GetResult().ReservationId != nil {
		t.Fatalf("deny: %v %v", denied, err)
	}
	alerts, err := risk.ListRiskAlerts(ctx, &servicesv1.ListRiskAlertsRequest{Scope: &servicesv1.RiskScope{Id: &servicesv1.RiskScope_AccountId{AccountId: acc}}})
	if err != nil || len(alerts.GetRiskAlerts()) != 1 || cqc.Validate(alerts.GetRiskAlerts()[0]) != nil {
		t.Fatalf("alerts: %v %v", alerts, err)
	}
	id := reserved.GetResult().GetReservationId()
	released, err := risk.ReleaseReservation(ctx, &servicesv1.ReleaseReservationRequest{ReservationId: id})
	if err != nil || released.GetReservation().GetState() != portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_RELEASED {
		t.Fatalf("release: %v %v", released, err)
	}
	_, err = risk.CommitReservation(ctx, &servicesv1.CommitReservationRequest{ReservationId: id, OrderId: cqckit.NewID("ord")})
	if info, _ := errorInfo(t, err, codes.FailedPrecondition, "RISK_RESERVATION_NOT_HELD"); info.GetMetadata()["state"] != "RISK_RESERVATION_STATE_RELEASED" {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	held, _ := risk.ReserveOrder(ctx, &servicesv1.ReserveOrderRequest{RequestId: requestID(), Order: riskOrder(acc, "0.1"), Ttl: durationpb.New(5 * time.Second)})
	commit := &servicesv1.CommitReservationRequest{ReservationId: held.GetResult().GetReservationId(), OrderId: cqckit.NewID("ord")}
	committed, err := risk.CommitReservation(ctx, commit)
	if err != nil || committed.GetReservation().GetOrderId() != commit.GetOrderId() {
		t.Fatalf("commit: %v %v", committed, err)
	}
	if again, err := risk.CommitReservation(ctx, commit); err != nil || !proto.Equal(again, committed) {
		t.Errorf("idempotent commit: %v %v", again, err)
	}
	_, err = risk.ReleaseReservation(ctx, &servicesv1.ReleaseReservationRequest{ReservationId: commit.GetReservationId()})
	if info, _ := errorInfo(t, err, codes.FailedPrecondition, "RISK_RESERVATION_NOT_HELD"); info.GetMetadata()["order_id"] != commit.GetOrderId() {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	market := riskOrder(acc, "0.5")
	market.MarketId, market.Price, market.OrderType = noPriceMarket, nil, venuesv1.OrderType_ORDER_TYPE_MARKET
	_, err = risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: market})
	if info, _ := errorInfo(t, err, codes.Unavailable, "RISK_DATA_UNAVAILABLE"); info.GetMetadata()["missing"] != "mark_price:"+noPriceMarket {
		t.Errorf("metadata %v", info.GetMetadata())
	}
	market.MarketId = spot // valued at the seeded BID price, on top of the committed 0.1 at 40000
	valued, err := risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: market})
	if err != nil || valued.GetResult().GetLimitChecks()[0].GetProjectedValue() != "25525.05" {
		t.Errorf("valued at the reference price: %v %v", valued, err)
	}
}

func TestRiskTradingStateAndFlatten(t *testing.T) {
	conn := start(t)
	risk, ctx := servicesv1.NewRiskEngineClient(conn), context.Background()
	acc := freshAccount(t, conn)
	scope := &servicesv1.RiskScope{Id: &servicesv1.RiskScope_AccountId{AccountId: acc}}
	def, err := risk.GetTradingState(ctx, &servicesv1.GetTradingStateRequest{Scope: scope})
	if err != nil || def.GetState() != venuesv1.TradingState_TRADING_STATE_ACTIVE || def.GetUpdateTime() != nil {
		t.Fatalf("default: %v %v", def, err)
	}
	set := &servicesv1.SetTradingStateRequest{RequestId: requestID(), Scope: scope, State: venuesv1.TradingState_TRADING_STATE_HALTED,
		Reason: "incident", Expiry: &servicesv1.SetTradingStateRequest_Duration{Duration: durationpb.New(time.Minute)}}
	got, err := risk.SetTradingState(ctx, set)
	if err != nil || got.GetExpireTime().AsTime().Sub(got.GetUpdateTime().AsTime()) != time.Minute {
		t.Fatalf("set: %v %v", got, err)
	}
	if again, err := risk.SetTradingState(ctx, set); err != nil || !proto.Equal(again, got) {
		t.Errorf("idempotent set: %v %v", again, err)
	}
	denied, _ := risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: riskOrder(acc, "0.1")})
	if denied.GetResult().GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_DENY {
		t.Errorf("halted: %v", denied)
	}
	_, err = risk.SetTradingState(ctx, &servicesv1.SetTradingStateRequest{RequestId: requestID(), Scope: scope,
		State: venuesv1.TradingState_TRADING_STATE_HALTED, Reason: "x",
		Expiry: &servicesv1.SetTradingStateRequest_ExpireTime{ExpireTime: timestamppb.New(time.Unix(1, 0))}})
	errorInfo(t, err, codes.InvalidArgument, "VALIDATION_FAILED")
	flatten := &servicesv1.FlattenRequest{RequestId: requestID(), Scope: scope, Mode: servicesv1.FlattenMode_FLATTEN_MODE_CANCEL_ONLY,
		TradingStateAfter: venuesv1.TradingState_TRADING_STATE_REDUCING, Reason: "kill", RequestedBy: "user:test"}
	flat, err := risk.Flatten(ctx, flatten)
	if err != nil || flat.GetTradingState() != venuesv1.TradingState_TRADING_STATE_REDUCING || cqc.Validate(flat) != nil {
		t.Fatalf("flatten: %v %v", flat, err)
	}
	reduce := riskOrder(acc, "0.1")
	reduce.ReduceOnly = true
	if ok, _ := risk.CheckOrder(ctx, &servicesv1.CheckOrderRequest{Order: reduce}); ok.GetResult().GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_ALLOW {
		t.Errorf("reduce-only while REDUCING: %v", ok)
	}
	_, err = risk.GetTradingState(ctx, &servicesv1.GetTradingStateRequest{Scope: &servicesv1.RiskScope{Id: &servicesv1.RiskScope_PortfolioId{PortfolioId: cqckit.NewID("pfl")}}})
	errorInfo(t, err, codes.NotFound, "NOT_FOUND_RESOURCE")
}

func TestRiskAlertsAndExposures(t *testing.T) {
	conn := start(t)
	risk := servicesv1.NewRiskEngineClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acc := freshAccount(t, conn)
	scope := &servicesv1.RiskScope{Id: &servicesv1.RiskScope_AccountId{AccountId: acc}}
	streamCtx, stop := context.WithCancel(ctx)
	stream, err := risk.StreamRiskAlerts(streamCtx, &servicesv1.StreamRiskAlertsRequest{Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	marker, err := stream.Recv()
	if err != nil || !marker.GetSnapshotComplete() {
		t.Fatalf("marker: %v %v", marker, err)
	}
	if _, err := risk.CreateRiskLimit(ctx, &servicesv1.CreateRiskLimitRequest{RiskLimit: accountLimit(acc, portfoliov1.RiskMetric_RISK_METRIC_ORDER_NOTIONAL, "100")}); err != nil {
		t.Fatal(err)
	}
	if _, err := risk.ReserveOrder(ctx, &servicesv1.ReserveOrderRequest{RequestId: requestID(), Order: riskOrder(acc, "0.5")}); err != nil {
		t.Fatal(err)
	}
	raised, err := stream.Recv()
	if err != nil || raised.GetRiskAlert().GetStatus() != 1 {
		t.Fatalf("raised: %v %v", raised, err)
	}
	id := raised.GetRiskAlert().GetAlertId()
	acked, err := risk.AcknowledgeRiskAlert(ctx, &servicesv1.AcknowledgeRiskAlertRequest{AlertId: id, AcknowledgedBy: "me"})
	if err != nil || acked.GetRiskAlert().GetStatus() != 2 || cqc.Validate(acked.GetRiskAlert()) != nil {
		t.Fatalf("ack: %v %v", acked, err)
	}
	if next, err := stream.Recv(); err != nil || next.GetRiskAlert().GetStatus() != 2 {
		t.Fatalf("ack on stream: %v %v", next, err)
	}
	if resolved, err := risk.ResolveRiskAlert(ctx, &servicesv1.ResolveRiskAlertRequest{AlertId: id, ResolvedBy: "me"}); err != nil ||
		cqc.Validate(resolved.GetRiskAlert()) != nil {
		t.Fatalf("resolve: %v %v", resolved, err)
	}
	stop()
	_, err = risk.AcknowledgeRiskAlert(ctx, &servicesv1.AcknowledgeRiskAlertRequest{AlertId: id, AcknowledgedBy: "me"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ack resolved: %v", err)
	}
	resumed, err := risk.StreamRiskAlerts(ctx, &servicesv1.StreamRiskAlertsRequest{Scope: scope, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int32{1, 2, 3} {
		if got, err := resumed.Recv(); err != nil || int32(got.GetRiskAlert().GetStatus()) != want {
			t.Fatalf("replay: %v %v, want status %d", got, err, want)
		}
	}
	foreign, _ := risk.StreamRiskAlerts(ctx, &servicesv1.StreamRiskAlertsRequest{ResumeToken: proto.String(marker.GetResumeToken())})
	_, err = foreign.Recv()
	errorInfo(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED")

	fund := &servicesv1.RiskScope{Id: &servicesv1.RiskScope_PortfolioId{PortfolioId: riskFund}}
	listed, err := risk.ListExposures(ctx, &servicesv1.ListExposuresRequest{Scope: fund, Dimension: portfoliov1.ExposureDimension_EXPOSURE_DIMENSION_UNDERLYING})
	if err != nil || len(listed.GetExposures()) != 1 {
		t.Fatalf("exposures: %v %v", listed, err)
	}
	exposures, err := risk.StreamExposures(ctx, &servicesv1.StreamExposuresRequest{Scope: fund, Dimension: portfoliov1.ExposureDimension_EXPOSURE_DIMENSION_UNDERLYING})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := exposures.Recv(); err != nil || !first.GetIsSnapshot() {
		t.Fatalf("snapshot: %v %v", first, err)
	}
	if done, err := exposures.Recv(); err != nil || !done.GetSnapshotComplete() {
		t.Fatalf("marker: %v %v", done, err)
	}
	_, err = risk.ListExposures(ctx, &servicesv1.ListExposuresRequest{Scope: &servicesv1.RiskScope{Id: &servicesv1.RiskScope_AccountId{AccountId: cqckit.NewID("acc")}},
		Dimension: portfoliov1.ExposureDimension_EXPOSURE_DIMENSION_ASSET})
	errorInfo(t, err, codes.NotFound, "NOT_FOUND_ACCOUNT")
}

func TestRiskSeedFromEmbeddedBundle(t *testing.T) {
	srv, err := cqctest.Start(context.Background(), cqctest.Options{}) // no testdata: the embedded seed data
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	risk, ctx := servicesv1.NewRiskEngineClient(conn), context.Background()
	fund := &servicesv1.RiskScope{Id: &servicesv1.RiskScope_PortfolioId{PortfolioId: riskFund}}
	listed, err := risk.ListExposures(ctx, &servicesv1.ListExposuresRequest{Scope: fund, Dimension: portfoliov1.ExposureDimension_EXPOSURE_DIMENSION_UNDERLYING})
	if err != nil || len(listed.GetExposures()) != 1 {
		t.Fatalf("exposures: %v %v", listed, err)
	}
	if _, err := risk.GetRiskLimit(ctx, &servicesv1.GetRiskLimitRequest{LimitId: "lim_01JDBNBTCPERPN0T10NA100000"}); err != nil {
		t.Errorf("seeded limit: %v", err)
	}
	if _, err := risk.GetRiskAlert(ctx, &servicesv1.GetRiskAlertRequest{AlertId: "alr_01JDDEPEGVSDC0000000000000"}); err != nil {
		t.Errorf("seeded alert: %v", err)
	}
}

func TestRiskScopeOfCreatedPortfolio(t *testing.T) {
	conn := start(t)
	ctx := context.Background()
	id := cqckit.NewID("pfl")
	if _, err := servicesv1.NewPortfolioClient(conn).CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: &portfoliov1.Portfolio{
		PortfolioId: id, Name: "risk scope", Owner: "desk:risk", ReportingAssetId: usd, TotalEquity: "0", AsOfTime: timestamppb.Now(),
	}}); err != nil {
		t.Fatalf("CreatePortfolio: %v", err)
	}
	got, err := servicesv1.NewRiskEngineClient(conn).GetTradingState(ctx, &servicesv1.GetTradingStateRequest{
		Scope: &servicesv1.RiskScope{Id: &servicesv1.RiskScope_PortfolioId{PortfolioId: id}},
	})
	if err != nil || got.GetState() != venuesv1.TradingState_TRADING_STATE_ACTIVE {
		t.Fatalf("GetTradingState of a created portfolio: %v %v", got, err)
	}
}

func TestRiskFlattenPortfolioListsUnclosedPositions(t *testing.T) {
	risk := servicesv1.NewRiskEngineClient(start(t))
	flat, err := risk.Flatten(context.Background(), &servicesv1.FlattenRequest{
		RequestId: requestID(), Scope: &servicesv1.RiskScope{Id: &servicesv1.RiskScope_PortfolioId{PortfolioId: riskFund}},
		Mode: servicesv1.FlattenMode_FLATTEN_MODE_CANCEL_AND_CLOSE, TradingStateAfter: venuesv1.TradingState_TRADING_STATE_HALTED,
		Reason: "test", RequestedBy: "user:test",
	})
	want := []string{"pos_01JD0KXBTCVSDSWAPSH0RT0000", "pos_01JDAAVEV3VSDCSVPP1Y000000", "pos_01JDBNBTCVSDTPERP10NG00000", "pos_01JDVN1V3VSDCWETH500000000"}
	if err != nil || !slices.Equal(flat.GetUnclosedPositionIds(), want) || cqc.Validate(flat) != nil {
		t.Fatalf("flatten: %v %v", flat, err)
	}
}
