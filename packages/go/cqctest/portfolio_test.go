package cqctest_test

import (
	"context"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

const (
	mainFund      = "pfl_01JDMA1NFVND00000000000000"
	inverseShort  = "pos_01JD0KXBTCVSDSWAPSH0RT0000"
	perpAccount   = "acc_01JDBNVSDMMA1N000000000000"
	swapAccount   = "acc_01JD0KXSWAPMA1N00000000000"
	unknownAcc    = "acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"
	usdReporting  = "ast_01JDFVSD000000000000000000"
	usdtAsset     = "ast_01JDVSDT000000000000000000"
	btcAsset      = "ast_01JDBTC0000000000000000000"
	strategyBasis = "basis-btc-01"
)

var ulidSeq atomic.Int64

// testULID is a fresh 26-character Crockford base32 id (the time in ms, then a counter).
func testULID() string {
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	ms, n := uint64(time.Now().UnixMilli()), uint64(ulidSeq.Add(1))
	out := make([]byte, 26)
	for i := 25; i >= 10; i-- {
		out[i] = crockford[n%32]
		n /= 32
	}
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms%32]
		ms /= 32
	}
	return string(out)
}

func ts(text string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func newPortfolio(name string) *portfoliov1.Portfolio {
	return &portfoliov1.Portfolio{
		PortfolioId: "pfl_" + testULID(), Name: name, Owner: "desk:test", ReportingAssetId: usdReporting,
		AccountIds: []string{perpAccount}, TotalEquity: "0", AsOfTime: ts("2025-01-01T00:00:00Z"),
	}
}

// wantError checks code, reason and the exact metadata of err; it returns the BadRequest (field, rule) pairs.
func wantError(t *testing.T, err error, code codes.Code, reason string, metadata map[string]string) [][2]string {
	t.Helper()
	info, st := errorInfo(t, err, code, reason)
	if metadata != nil && !maps.Equal(info.GetMetadata(), metadata) {
		t.Fatalf("metadata %v, want %v", info.GetMetadata(), metadata)
	}
	var rules [][2]string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				desc := v.GetDescription()
				rules = append(rules, [2]string{v.GetField(), strings.TrimSuffix(desc[strings.LastIndex(desc, "[")+1:], "]")})
			}
		}
	}
	return rules
}

func TestPortfolioCreateGetUpdate(t *testing.T) {
	client := servicesv1.NewPortfolioClient(start(t))
	ctx := context.Background()
	p := newPortfolio("conformance")
	p.CreateTime = ts("2001-01-01T00:00:00Z") // output only: ignored
	created, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: p})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetPortfolio().GetCreateTime().AsTime().Year() < 2020 ||
		!proto.Equal(created.GetPortfolio().GetCreateTime(), created.GetPortfolio().GetUpdateTime()) {
		t.Fatalf("times %v", created.GetPortfolio())
	}
	again, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: p})
	if err != nil || !proto.Equal(again.GetPortfolio(), created.GetPortfolio()) {
		t.Fatalf("idempotent create: %v %v", again, err)
	}
	other := newPortfolio("other")
	other.PortfolioId = p.GetPortfolioId()
	_, err = client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: other})
	wantError(t, err, codes.AlreadyExists, "ALREADY_EXISTS", map[string]string{"portfolio_id": p.GetPortfolioId()})

	body := newPortfolio("renamed")
	body.PortfolioId, body.Owner = p.GetPortfolioId(), "desk:ignored"
	updated, err := client.UpdatePortfolio(ctx, &servicesv1.UpdatePortfolioRequest{Portfolio: body,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u := updated.GetPortfolio(); u.GetName() != "renamed" || u.GetOwner() != "desk:test" ||
		!proto.Equal(u.GetCreateTime(), created.GetPortfolio().GetCreateTime()) {
		t.Fatalf("updated %v", u)
	}
	_, err = client.UpdatePortfolio(ctx, &servicesv1.UpdatePortfolioRequest{Portfolio: body,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name", "portfolio_id", "nope", "create_time"}}})
	wantError(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK", map[string]string{"paths": "portfolio_id,nope,create_time"})
	missing := newPortfolio("missing")
	_, err = client.UpdatePortfolio(ctx, &servicesv1.UpdatePortfolioRequest{Portfolio: missing,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"portfolio_id": missing.GetPortfolioId()})
	_, err = client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: missing.GetPortfolioId()})
	wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"portfolio_id": missing.GetPortfolioId()})
}

func TestPortfolioListTokens(t *testing.T) {
	client := servicesv1.NewPortfolioClient(start(t))
	ctx := context.Background()
	for range 3 {
		if _, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: newPortfolio("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var seen, tokens []string
	token := ""
	for {
		page, err := client.ListPortfolios(ctx, &servicesv1.ListPortfoliosRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.GetPortfolios() {
			seen = append(seen, p.GetPortfolioId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
		tokens = append(tokens, token)
	}
	if len(seen) != 4 || seen[0] != mainFund {
		t.Fatalf("listed %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("not ascending: %v", seen)
		}
	}
	tampered := "A" + tokens[0][1:]
	if tokens[0][0] == 'A' {
		tampered = "B" + tokens[0][1:]
	}
	for _, bad := range []string{"garbage", tampered} {
		_, err := client.ListPortfolios(ctx, &servicesv1.ListPortfoliosRequest{PageToken: bad})
		wantError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", map[string]string{})
	}
	_, err := client.ListAllocations(ctx, &servicesv1.ListAllocationsRequest{PageToken: tokens[0]})
	wantError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", map[string]string{})
}

func TestPortfolioAllocations(t *testing.T) {
	client := servicesv1.NewPortfolioClient(start(t))
	ctx := context.Background()
	p := newPortfolio("alloc")
	if _, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: p}); err != nil {
		t.Fatal(err)
	}
	newAllocation := func() *portfoliov1.Allocation {
		return &portfoliov1.Allocation{AllocationId: "alc_" + testULID(), PortfolioId: p.GetPortfolioId(),
			Target:       &portfoliov1.Allocation_StrategyId{StrategyId: strategyBasis},
			TargetAmount: &portfoliov1.Allocation_TargetWeight{TargetWeight: "0.2"}, EffectiveFromTime: ts("2025-01-01T00:00:00Z")}
	}
	a, b := newAllocation(), newAllocation()
	for _, x := range []*portfoliov1.Allocation{a, a, b} {
		if _, err := client.CreateAllocation(ctx, &servicesv1.CreateAllocationRequest{Allocation: x}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := client.ListAllocations(ctx, &servicesv1.ListAllocationsRequest{PortfolioId: proto.String(p.GetPortfolioId()), PageSize: 1})
	if err != nil || len(first.GetAllocations()) != 1 || first.GetAllocations()[0].GetAllocationId() != min(a.GetAllocationId(), b.GetAllocationId()) {
		t.Fatalf("first page %v %v", first, err)
	}
	_, err = client.ListAllocations(ctx, &servicesv1.ListAllocationsRequest{PageToken: first.GetNextPageToken()})
	wantError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", nil)
	rest, err := client.ListAllocations(ctx, &servicesv1.ListAllocationsRequest{PortfolioId: proto.String(p.GetPortfolioId()),
		PageSize: 1, PageToken: first.GetNextPageToken()})
	if err != nil || len(rest.GetAllocations()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page %v %v", rest, err)
	}
	unknown := "pfl_" + testULID()
	_, err = client.ListAllocations(ctx, &servicesv1.ListAllocationsRequest{PortfolioId: proto.String(unknown)})
	wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"portfolio_id": unknown})

	body := proto.Clone(a).(*portfoliov1.Allocation)
	body.BandMin, body.Target = proto.String("0.1"), &portfoliov1.Allocation_StrategyId{StrategyId: "ignored"}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"band_min"}}
	updated, err := client.UpdateAllocation(ctx, &servicesv1.UpdateAllocationRequest{Allocation: body, UpdateMask: mask})
	if err != nil || updated.GetAllocation().GetBandMin() != "0.1" || updated.GetAllocation().GetStrategyId() != strategyBasis {
		t.Fatalf("update %v %v", updated, err)
	}
	merged := proto.Clone(a).(*portfoliov1.Allocation)
	merged.TargetAmount = &portfoliov1.Allocation_TargetWeight{TargetWeight: "0.05"} // below the stored band_min once merged
	_, err = client.UpdateAllocation(ctx, &servicesv1.UpdateAllocationRequest{Allocation: merged,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"target_weight"}}})
	rules := wantError(t, err, codes.InvalidArgument, "VALIDATION_FAILED", nil)
	if len(rules) != 1 || rules[0] != [2]string{"allocation", "allocation.band_contains_target"} {
		t.Fatalf("rules %v", rules)
	}
}

func TestPortfolioPositionsTransactionsPnL(t *testing.T) {
	client := servicesv1.NewPortfolioClient(start(t))
	ctx := context.Background()
	got, err := client.GetPosition(ctx, &servicesv1.GetPositionRequest{PositionId: inverseShort})
	if err != nil || got.GetPosition().GetQuantity() != "-5" {
		t.Fatalf("GetPosition %v %v", got, err)
	}
	listed, err := client.ListPositions(ctx, &servicesv1.ListPositionsRequest{AccountId: proto.String(swapAccount), OpenOnly: true})
	if err != nil || len(listed.GetPositions()) != 1 || listed.GetPositions()[0].GetPositionId() != inverseShort {
		t.Fatalf("ListPositions %v %v", listed, err)
	}
	byFund, err := client.ListPositions(ctx, &servicesv1.ListPositionsRequest{PortfolioId: proto.String(mainFund)})
	if err != nil || len(byFund.GetPositions()) != 4 {
		t.Fatalf("ListPositions by portfolio %v %v", byFund, err)
	}
	_, err = client.ListPositions(ctx, &servicesv1.ListPositionsRequest{MarketId: proto.String("mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ")})
	wantError(t, err, codes.NotFound, "NOT_FOUND_MARKET", map[string]string{"market_id": "mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ"})
	_, err = client.ListTransactions(ctx, &servicesv1.ListTransactionsRequest{AccountId: unknownAcc})
	wantError(t, err, codes.NotFound, "NOT_FOUND_ACCOUNT", map[string]string{"account_id": unknownAcc})
	txns, err := client.ListTransactions(ctx, &servicesv1.ListTransactionsRequest{AccountId: perpAccount})
	if err != nil || len(txns.GetTransactions()) != 1 {
		t.Fatalf("ListTransactions %v %v", txns, err)
	}
	none, err := client.ListTransactions(ctx, &servicesv1.ListTransactionsRequest{AccountId: perpAccount, UntilTime: ts("2024-11-27T08:00:00Z")})
	if err != nil || len(none.GetTransactions()) != 0 {
		t.Fatalf("ListTransactions until %v %v", none, err)
	}

	req := &servicesv1.ComputePnLRequest{Scope: portfoliov1.PnlScope_PNL_SCOPE_POSITION, ScopeId: inverseShort,
		PeriodStart: ts("2024-11-26T08:00:00Z"), PeriodEnd: ts("2024-11-27T08:00:00Z")}
	res, err := client.ComputePnL(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	pnl := res.GetPnl()
	if pnl.GetAssetId() != btcAsset || pnl.GetRealizedPnl() != "0" || pnl.GetUnrealizedPnl() != "0.0000196463" ||
		pnl.GetFees() != "0.0000025706" || pnl.GetFunding() != "-0.0000031245" || pnl.GetGrossPnl() != "0.0000196463" ||
		pnl.GetNetPnl() != "0.0000202002" || pnl.GetMarkPrice() != "96880.1" {
		t.Fatalf("position PnL %v", pnl)
	}
	if err := cqc.Validate(pnl); err != nil {
		t.Fatal(err)
	}
	req.Scope, req.ScopeId, req.ReportingAssetId = portfoliov1.PnlScope_PNL_SCOPE_PORTFOLIO, mainFund, proto.String(usdtAsset)
	if res, err = client.ComputePnL(ctx, req); err != nil {
		t.Fatal(err)
	}
	if pnl = res.GetPnl(); pnl.GetUnrealizedPnl() != "95.025" || pnl.GetFees() != "9.65" || pnl.GetFunding() != "2.41" || pnl.GetNetPnl() != "82.965" {
		t.Fatalf("portfolio PnL %v", pnl)
	}
	req.ScopeId = "pfl_" + testULID()
	_, err = client.ComputePnL(ctx, req)
	wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"scope_id": req.GetScopeId()})
}

// tamper changes the first character of a token (6 whole bits of its payload).
func tamper(token string) string {
	if token[0] == 'A' {
		return "B" + token[1:]
	}
	return "A" + token[1:]
}

func TestPortfolioStreamPositions(t *testing.T) {
	client := servicesv1.NewPortfolioClient(start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: []string{perpAccount, swapAccount}})
	if err != nil {
		t.Fatal(err)
	}
	var first []*servicesv1.StreamPositionsResponse
	for range 3 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, m)
	}
	if first[0].GetPosition().GetPositionId() != inverseShort || first[1].GetPosition().GetPositionId() != "pos_01JDBNBTCVSDTPERP10NG00000" ||
		!first[0].GetIsSnapshot() || !first[2].GetSnapshotComplete() || first[2].GetPosition() != nil || first[2].GetResumeToken() == "" {
		t.Fatalf("snapshot %v", first)
	}
	short, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer stop()
	resumed, err := client.StreamPositions(short, &servicesv1.StreamPositionsRequest{AccountIds: []string{swapAccount, perpAccount},
		ResumeToken: proto.String(first[2].GetResumeToken())})
	if err == nil {
		_, err = resumed.Recv()
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("resumed stream: %v, want DEADLINE_EXCEEDED (nothing changes)", err)
	}
	tok := first[2].GetResumeToken()
	for _, req := range []*servicesv1.StreamPositionsRequest{
		{AccountIds: []string{perpAccount}, ResumeToken: proto.String("garbage")},
		{AccountIds: []string{perpAccount}, ResumeToken: proto.String(tamper(tok))},
		{AccountIds: []string{perpAccount}, ResumeToken: proto.String(tok)},
	} {
		s, err := client.StreamPositions(ctx, req)
		if err == nil {
			_, err = s.Recv()
		}
		wantError(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", map[string]string{})
	}
	s, err := client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: []string{unknownAcc}})
	if err == nil {
		_, err = s.Recv()
	}
	wantError(t, err, codes.NotFound, "NOT_FOUND_ACCOUNT", map[string]string{"account_id": unknownAcc})
}
