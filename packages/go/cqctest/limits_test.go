package cqctest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/cqctest"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

const someAsset = "ast_01JD1MBABYD0GE000000000000"

func startWith(t *testing.T, opts cqctest.Options) *cqctest.Server {
	t.Helper()
	opts.Testdata = corpus.Testdata()
	srv, err := cqctest.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// dial opens a client connection of its own (one peer).
func dial(t *testing.T, srv *cqctest.Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// openTrades opens a StreamTrades call without deadline and waits for its first message.
func openTrades(t *testing.T, conn *grpc.ClientConn) (context.CancelFunc, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := servicesv1.NewMarketDataClient(conn).StreamTrades(ctx, &servicesv1.StreamTradesRequest{MarketIds: []string{spot}})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		cancel()
	}
	return cancel, err
}

func answersWithinASecond(t *testing.T, srv *cqctest.Server) {
	t.Helper()
	other := dial(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	health, err := healthpb.NewHealthClient(other).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", health, err)
	}
	asset, err := servicesv1.NewAssetRegistryClient(other).GetAsset(ctx, &servicesv1.GetAssetRequest{AssetId: someAsset})
	if err != nil || asset.GetAsset().GetAssetId() != someAsset {
		t.Fatalf("GetAsset: %v %v", asset, err)
	}
}

func TestStreamsPerClientAreCapped(t *testing.T) {
	srv := startWith(t, cqctest.Options{})
	conn := dial(t, srv)
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := 0; i < cqctest.MaxStreamsPerClient; i++ {
		cancel, err := openTrades(t, conn)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err := openTrades(t, conn)
	info, _ := errorInfo(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if info.GetMetadata()["limit"] != "streams_per_client" || info.GetMetadata()["limit_value"] != fmt.Sprint(cqctest.MaxStreamsPerClient) {
		t.Fatalf("metadata %v", info.GetMetadata())
	}
	answersWithinASecond(t, srv)
	cancels[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cancel, err := openTrades(t, conn) // the closed stream's slot frees once the server sees the cancel
		if err == nil {
			cancels = append(cancels, cancel)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStreamsInTotalAreCapped(t *testing.T) {
	srv := startWith(t, cqctest.Options{MaxStreamsPerClient: 3, MaxStreamsTotal: 6})
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	conns := []*grpc.ClientConn{dial(t, srv), dial(t, srv), dial(t, srv)}
	for i := 0; i < 6; i++ {
		cancel, err := openTrades(t, conns[i/3])
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		cancels = append(cancels, cancel)
	}
	_, err := openTrades(t, conns[2])
	info, _ := errorInfo(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if info.GetMetadata()["limit"] != "streams_total" {
		t.Fatalf("metadata %v", info.GetMetadata())
	}
	answersWithinASecond(t, srv)
}

func TestStreamEndsAtItsMaximumLifetime(t *testing.T) {
	srv := startWith(t, cqctest.Options{MaxStreamLifetime: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := servicesv1.NewMarketDataClient(dial(t, srv)).StreamTrades(ctx, &servicesv1.StreamTradesRequest{MarketIds: []string{spot}})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = stream.Recv()
	}
	info, _ := errorInfo(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if info.GetMetadata()["limit"] != "stream_lifetime_seconds" || info.GetMetadata()["retry_after_ms"] != "0" {
		t.Fatalf("metadata %v", info.GetMetadata())
	}
}

func TestOversizedRequestIsRefusedByLength(t *testing.T) {
	srv := startWith(t, cqctest.Options{})
	ids := make([]string, 90_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("ast_%026d", i) // each breaks cqc.id too: the full validator would list them all
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := time.Now()
	_, err := servicesv1.NewAssetRegistryClient(dial(t, srv)).BatchGetAssets(ctx, &servicesv1.BatchGetAssetsRequest{AssetIds: ids})
	t.Logf("refused in %s", time.Since(started))
	_, st := errorInfo(t, err, codes.InvalidArgument, cqctest.ReasonValidationFailed)
	var rules []string
	for _, d := range st.Details() {
		if bad, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range bad.GetFieldViolations() {
				rules = append(rules, v.GetField()+" "+v.GetDescription())
			}
		}
	}
	if len(rules) != 1 || rules[0] != "asset_ids must contain no more than 100 item(s) [repeated.max_items]" {
		t.Fatalf("violations %.300v", rules)
	}
	_, err = servicesv1.NewAssetRegistryClient(dial(t, srv)).BatchGetAssets(ctx, &servicesv1.BatchGetAssetsRequest{AssetIds: append(ids, ids...)[:150_000]})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over 4 MiB: %v", err)
	}
}

func TestRetryWithUnknownFieldsIsTheSameRequest(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx := context.Background()
	id := requestID()
	first, err := gateway.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: id, Order: newOrder("0.001")})
	if err != nil {
		t.Fatal(err)
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9000, protowire.VarintType), 1)
	top := &servicesv1.PlaceOrderRequest{RequestId: id, Order: newOrder("0.001")}
	top.ProtoReflect().SetUnknown(unknown)
	nested := &servicesv1.PlaceOrderRequest{RequestId: id, Order: newOrder("0.001")}
	nested.GetOrder().ProtoReflect().SetUnknown(unknown)
	for _, retry := range []*servicesv1.PlaceOrderRequest{top, nested} {
		again, err := gateway.PlaceOrder(ctx, retry)
		if err != nil || again.GetOrder().GetOrderId() != first.GetOrder().GetOrderId() {
			t.Fatalf("retry: %v %v", again, err)
		}
	}
	changed := proto.Clone(top).(*servicesv1.PlaceOrderRequest)
	changed.GetOrder().Quantity = proto.String("0.5")
	_, err = gateway.PlaceOrder(ctx, changed)
	errorInfo(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
}
