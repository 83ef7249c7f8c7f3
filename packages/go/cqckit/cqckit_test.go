package cqckit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

func panicText(f func()) (text string) {
	defer func() {
		if r := recover(); r != nil {
			text = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestErrorTakesCodeAndKeysFromSpec(t *testing.T) {
	err := cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_ASSET, "no asset", map[string]string{"asset_id": "ast_1"})
	d := cqckit.Parse(err)
	if d.Code != codes.NotFound || d.Reason != "NOT_FOUND_ASSET" || d.Domain != cqckit.Domain ||
		d.Metadata["asset_id"] != "ast_1" || d.Message != "no asset" {
		t.Fatalf("Parse = %+v", d)
	}
	if d.ErrorReason() != servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_ASSET {
		t.Fatalf("ErrorReason = %v", d.ErrorReason())
	}
	// every reason with a spec builds with no metadata, with its spec's code
	values := servicesv1.ErrorReason(0).Descriptor().Values()
	for i := 1; i < values.Len(); i++ {
		reason := servicesv1.ErrorReason(values.Get(i).Number())
		spec, ok := cqckit.SpecOf(reason)
		if !ok {
			t.Fatalf("%v has no spec", reason)
		}
		if got := status.Code(cqckit.Error(reason, "x", nil)); got != spec.Code {
			t.Fatalf("%v: code %v, spec %v", reason, got, spec.Code)
		}
	}
	// "*_id" admits any snake_case key ending in _id
	err = cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, "no", map[string]string{"portfolio_id": "pfl_1"})
	if cqckit.Parse(err).Metadata["portfolio_id"] != "pfl_1" {
		t.Fatal("portfolio_id refused for NOT_FOUND_RESOURCE")
	}
}

func TestErrorRefusesKeysOutsideSpec(t *testing.T) {
	text := panicText(func() {
		cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_ASSET, "x", map[string]string{"assetId": "a"})
	})
	if !strings.Contains(text, "NOT_FOUND_ASSET") || !strings.Contains(text, `"assetId"`) {
		t.Fatalf("panic %q does not name reason and key", text)
	}
	if panicText(func() {
		cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN, "x", map[string]string{"page_token": "t"})
	}) == "" {
		t.Fatal("INVALID_PAGE_TOKEN accepted a page_token key")
	}
	if panicText(func() {
		cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, "x", map[string]string{"Bad_id": "t"})
	}) == "" {
		t.Fatal("*_id accepted a key that is not snake_case")
	}
	if panicText(func() { cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_UNSPECIFIED, "x", nil) }) == "" {
		t.Fatal("UNSPECIFIED accepted")
	}
	if _, bad := cqckit.NewError(servicesv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED, "x", map[string]string{"id": "1"}); bad == nil {
		t.Fatal("NewError accepted a key outside the spec")
	}
}

func TestValidationErrorRoundTrip(t *testing.T) {
	err := cqckit.ValidationError("bad", []cqc.Violation{
		{Field: "portfolio.name", RuleID: "string.min_len", Message: "too short"},
		{Field: "", RuleID: "portfolio.balances_unique_per_asset", Message: "dup"},
	})
	d := cqckit.Parse(err)
	if d.Code != codes.InvalidArgument || d.Reason != "VALIDATION_FAILED" || d.Domain != cqckit.Domain {
		t.Fatalf("Parse = %+v", d)
	}
	want := []cqckit.FieldViolation{
		{Field: "portfolio.name", RuleID: "string.min_len", Description: "too short [string.min_len]"},
		{Field: "", RuleID: "portfolio.balances_unique_per_asset", Description: "dup [portfolio.balances_unique_per_asset]"},
	}
	if fmt.Sprint(d.Violations) != fmt.Sprint(want) {
		t.Fatalf("violations %v, want %v", d.Violations, want)
	}
	// the wire form: reason carries the rule id
	st, _ := status.FromError(err)
	br := st.Details()[1].(*errdetails.BadRequest)
	if br.GetFieldViolations()[0].GetReason() != "string.min_len" {
		t.Fatalf("FieldViolation.reason = %q", br.GetFieldViolations()[0].GetReason())
	}
	// a server that predates FieldViolation.reason: the rule id comes from the description suffix
	old, _ := status.New(codes.InvalidArgument, "bad").WithDetails(
		&errdetails.ErrorInfo{Reason: "VALIDATION_FAILED", Domain: cqckit.Domain},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "a", Description: "must be set [required]"}}})
	if got := cqckit.Parse(old.Err()).RuleIDs(); fmt.Sprint(got) != "[required]" {
		t.Fatalf("fallback rule ids %v", got)
	}
	if d := cqckit.Parse(nil); d.Code != codes.OK {
		t.Fatalf("Parse(nil) = %+v", d)
	}
	if d := cqckit.Parse(context.DeadlineExceeded); d.Code != codes.DeadlineExceeded {
		t.Fatalf("Parse(deadline) = %+v", d)
	}
	if d := cqckit.Parse(errors.New("boom")); d.Code != codes.Unknown {
		t.Fatalf("Parse(plain) = %+v", d)
	}
}

func TestPageTokens(t *testing.T) {
	tokens := cqckit.NewPageTokens([]byte("k1"))
	const rpc = "cqc.services.v1.Portfolio/ListPortfolios"
	filters := cqckit.FilterDigest(&servicesv1.ListAllocationsRequest{PortfolioId: proto.String("pfl_1"), PageSize: 5, PageToken: "x"})
	if filters != cqckit.FilterDigest(&servicesv1.ListAllocationsRequest{PortfolioId: proto.String("pfl_1")}) {
		t.Fatal("FilterDigest depends on page_size / page_token")
	}
	other := cqckit.FilterDigest(&servicesv1.ListAllocationsRequest{PortfolioId: proto.String("pfl_2")})
	if other == filters {
		t.Fatal("FilterDigest ignores filters")
	}
	tok := tokens.Encode(rpc, filters, "pfl_01ABC")
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not unpadded base64url", tok)
	}
	if pos, err := tokens.Decode(rpc, filters, tok); err != nil || pos != "pfl_01ABC" {
		t.Fatalf("Decode = %q, %v", pos, err)
	}
	if pos, err := tokens.Decode(rpc, filters, ""); err != nil || pos != "" {
		t.Fatalf("Decode(\"\") = %q, %v", pos, err)
	}
	tampered := []byte(tok)
	tampered[3] ^= 1
	if tampered[3] == '-' || tampered[3] == '_' {
		tampered[3] = 'A'
	}
	bad := map[string]func() (string, error){
		"garbage":  func() (string, error) { return tokens.Decode(rpc, filters, "!!not a token!!") },
		"short":    func() (string, error) { return tokens.Decode(rpc, filters, "AQ") },
		"tampered": func() (string, error) { return tokens.Decode(rpc, filters, string(tampered)) },
		"other rpc": func() (string, error) {
			return tokens.Decode("cqc.services.v1.Portfolio/ListAllocations", filters, tok)
		},
		"other filter": func() (string, error) { return tokens.Decode(rpc, other, tok) },
		"other key":    func() (string, error) { return cqckit.NewPageTokens([]byte("k2")).Decode(rpc, filters, tok) },
	}
	for name, decode := range bad {
		_, err := decode()
		if d := cqckit.Parse(err); d.Code != codes.InvalidArgument || d.Reason != "INVALID_PAGE_TOKEN" {
			t.Errorf("%s: %+v", name, d)
		}
	}
}

func TestClampPageSize(t *testing.T) {
	for in, want := range map[int32]int32{0: 100, 1: 1, 100: 100, 1000: 1000, 1001: 1000, 1 << 30: 1000} {
		if got, err := cqckit.ClampPageSize(in); err != nil || got != want {
			t.Errorf("ClampPageSize(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	_, err := cqckit.ClampPageSize(-1)
	if d := cqckit.Parse(err); d.Reason != "VALIDATION_FAILED" || len(d.Violations) != 1 || d.Violations[0].Field != "page_size" || d.Violations[0].RuleID != "int32.gte_lte" {
		t.Fatalf("ClampPageSize(-1): %+v", d)
	}
}

func TestIDs(t *testing.T) {
	a, b := cqckit.NewID("pfl"), cqckit.NewID("pfl")
	if a == b || !strings.HasPrefix(a, "pfl_") || len(a) != 4+26 || !cqckit.IsULID(a[4:]) {
		t.Fatalf("NewID: %q %q", a, b)
	}
	// the id satisfies the contract's id_prefix rule
	if v, err := cqc.Violations(&servicesv1.GetPortfolioRequest{PortfolioId: a}); err != nil || len(v) != 0 {
		t.Fatalf("NewID %q breaks id rules: %v %v", a, v, err)
	}
	if early, late := cqckit.ULIDAt(time.UnixMilli(1000)), cqckit.ULIDAt(time.UnixMilli(2000)); early >= late {
		t.Fatal("ULIDs are not time-ordered")
	}
	if panicText(func() { cqckit.NewID("Bad prefix") }) == "" {
		t.Fatal("bad prefix accepted")
	}
	if id := cqckit.NewEventID(); len(id) != 36 || id[14] != '7' {
		t.Fatalf("NewEventID %q is not a UUIDv7", id)
	}
}

func TestIdempotency(t *testing.T) {
	store := cqckit.NewIdempotency()
	var calls atomic.Int32
	create := func(name string) func() (*servicesv1.CreatePortfolioResponse, error) {
		return func() (*servicesv1.CreatePortfolioResponse, error) {
			calls.Add(1)
			return &servicesv1.CreatePortfolioResponse{Portfolio: &portfoliov1.Portfolio{PortfolioId: cqckit.NewID("pfl"), Name: name}}, nil
		}
	}
	req := &servicesv1.CreatePortfolioRequest{Portfolio: &portfoliov1.Portfolio{Name: "a"}}
	first, err := cqckit.Idempotent(store, "r1", req, create("a"))
	if err != nil {
		t.Fatal(err)
	}
	// the same request with an unknown field (a newer client's retry) gets the first answer
	retry := proto.Clone(req).(*servicesv1.CreatePortfolioRequest)
	retry.Portfolio.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
	again, err := cqckit.Idempotent(store, "r1", retry, create("a"))
	if err != nil || !proto.Equal(first, again) || calls.Load() != 1 {
		t.Fatalf("retry: %v %v calls=%d", again, err, calls.Load())
	}
	// the same key with a different request
	_, err = cqckit.Idempotent(store, "r1", &servicesv1.CreatePortfolioRequest{Portfolio: &portfoliov1.Portfolio{Name: "b"}}, create("b"))
	if d := cqckit.Parse(err); d.Code != codes.AlreadyExists || d.Reason != "REQUEST_ID_REUSED" || d.Metadata["request_id"] != "r1" {
		t.Fatalf("reuse: %+v", d)
	}
	// the first error is the answer too
	boom := cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS, "taken", map[string]string{"portfolio_id": "pfl_1"})
	fail := func() (*servicesv1.CreatePortfolioResponse, error) { calls.Add(1); return nil, boom }
	_, err1 := cqckit.Idempotent(store, "r2", req, fail)
	_, err2 := cqckit.Idempotent(store, "r2", req, create("a"))
	if err1 != boom || err2 != boom {
		t.Fatalf("first error not remembered: %v / %v", err1, err2)
	}
	// concurrent first uses run the handler once
	calls.Store(0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = cqckit.Idempotent(store, "r3", req, create("a"))
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
	if !cqckit.SameRequest(req, retry) || cqckit.SameRequest(req, &servicesv1.GetPortfolioRequest{}) {
		t.Fatal("SameRequest")
	}
}

type portfolioServer struct {
	servicesv1.UnimplementedPortfolioServer
	err error
}

func (s *portfolioServer) GetPortfolio(_ context.Context, req *servicesv1.GetPortfolioRequest) (*servicesv1.GetPortfolioResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &servicesv1.GetPortfolioResponse{Portfolio: &portfoliov1.Portfolio{PortfolioId: req.GetPortfolioId(), Name: "p"}}, nil
}

func (s *portfolioServer) StreamPositions(req *servicesv1.StreamPositionsRequest, stream grpc.ServerStreamingServer[servicesv1.StreamPositionsResponse]) error {
	return stream.Send(&servicesv1.StreamPositionsResponse{SnapshotComplete: true, ResumeToken: "r"})
}

func dial(t *testing.T, impl servicesv1.PortfolioServer) servicesv1.PortfolioClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(cqckit.ServerOptions(cqckit.Options{Trailer: metadata.Pairs("x-test", "1")})...)
	servicesv1.RegisterPortfolioServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return servicesv1.NewPortfolioClient(conn)
}

func TestInterceptors(t *testing.T) {
	impl := &portfolioServer{}
	client := dial(t, impl)
	ctx := metadata.AppendToOutgoingContext(context.Background(), cqckit.RequestIDHeader, "req-1")
	var header, trailer metadata.MD
	if _, err := client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: cqckit.NewID("pfl")},
		grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(header.Get(cqckit.RequestIDHeader)) != "[req-1]" || fmt.Sprint(trailer.Get("x-test")) != "[1]" {
		t.Fatalf("header %v trailer %v", header, trailer)
	}
	// validation before the handler, with rule ids
	_, err := client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: "nope"}, grpc.Header(&header))
	d := cqckit.Parse(err)
	if d.Code != codes.InvalidArgument || d.Reason != "VALIDATION_FAILED" || len(d.Violations) == 0 || d.Violations[0].Field != "portfolio_id" {
		t.Fatalf("validation: %+v", d)
	}
	if fmt.Sprint(header.Get(cqckit.RequestIDHeader)) != "[req-1]" {
		t.Fatalf("request id not echoed on an error: %v", header)
	}
	// size rules first: an oversized list is refused by its length
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = "x"
	}
	stream, err := client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: ids})
	if err == nil {
		_, err = stream.Recv()
	}
	if d := cqckit.Parse(err); d.Reason != "VALIDATION_FAILED" || len(d.Violations) != 1 || d.Violations[0].RuleID != "repeated.max_items" {
		t.Fatalf("stream size validation: %+v", d)
	}
	stream, err = client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: []string{cqckit.NewID("acc")}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || !m.GetSnapshotComplete() {
		t.Fatalf("stream: %v %v", m, err)
	}
	// unexpected errors: INTERNAL with a correlation id, no detail
	impl.err = errors.New("secret /etc/key.pem")
	_, err = client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: cqckit.NewID("pfl")})
	if d := cqckit.Parse(err); d.Code != codes.Internal || strings.Contains(d.Message, "secret") || !strings.Contains(d.Message, "correlation_id=") {
		t.Fatalf("internal: %+v", d)
	}
	// kit errors pass through unchanged
	impl.err = cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, "gone", map[string]string{"portfolio_id": "pfl_x"})
	_, err = client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: cqckit.NewID("pfl")})
	if d := cqckit.Parse(err); d.Code != codes.NotFound || d.Metadata["portfolio_id"] != "pfl_x" {
		t.Fatalf("pass-through: %+v", d)
	}
}
