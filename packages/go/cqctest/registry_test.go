package cqctest

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

const (
	regUSDC           = "ast_01JDVSDC000000000000000000"
	regBTC            = "ast_01JDBTC0000000000000000000"
	regUniswapPool    = "mkt_01JDVN1V3VSDCWETH500000000"
	regCompoundBorrow = "ins_01JDC0MPV3VSDCBRW000000000"
)

func registryClient(t *testing.T) servicesv1.AssetRegistryClient {
	t.Helper()
	srv, err := Start(context.Background(), Options{Testdata: corpus.Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return servicesv1.NewAssetRegistryClient(conn)
}

// wantError checks the status code and ErrorInfo reason of err and returns the ErrorInfo metadata.
func wantError(t *testing.T, err error, code codes.Code, reason string) map[string]string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("code %s (%v), want %s", st.Code(), err, code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != reason {
				t.Fatalf("reason %s, want %s", info.GetReason(), reason)
			}
			return info.GetMetadata()
		}
	}
	t.Fatalf("no ErrorInfo in %v", st.Details())
	return nil
}

func TestRegistryReadMask(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	full, err := reg.GetMarket(ctx, &servicesv1.GetMarketRequest{MarketId: regUniswapPool})
	if err != nil {
		t.Fatal(err)
	}
	if full.GetMarket().GetSourceRecord() == nil || !strings.HasPrefix(full.GetMarket().GetEtag(), "W1-") {
		t.Fatalf("full read lacks source_record or etag: %v", full.GetMarket().GetEtag())
	}
	masked, err := reg.GetMarket(ctx, &servicesv1.GetMarketRequest{
		MarketId: regUniswapPool, ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"market_id", "amm_pool.tokens"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := masked.GetMarket()
	if m.GetMarketId() != regUniswapPool || m.GetSourceRecord() != nil || m.GetVenueSymbol() != "" || m.GetEtag() != "" {
		t.Fatalf("mask not applied: %v", m)
	}
	if len(m.GetAmmPool().GetTokens()) != len(full.GetMarket().GetAmmPool().GetTokens()) || m.GetAmmPool().GetState() != nil {
		t.Fatalf("nested mask not applied: %v", m.GetAmmPool())
	}
	_, err = reg.ListMarkets(ctx, &servicesv1.ListMarketsRequest{ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"market_id", "no_such"}}})
	if md := wantError(t, err, codes.InvalidArgument, "INVALID_READ_MASK"); md["paths"] != "no_such" {
		t.Fatalf("metadata %v", md)
	}
}

func TestRegistryEtag(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	got, err := reg.GetAsset(ctx, &servicesv1.GetAssetRequest{AssetId: regUSDC})
	if err != nil {
		t.Fatal(err)
	}
	asset, readEtag := got.GetAsset(), got.GetAsset().GetEtag()
	mask := &fieldmaskpb.FieldMask{Paths: []string{"description"}}
	asset.Description = "first writer"
	first, err := reg.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: asset, UpdateMask: mask, Etag: readEtag})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetAsset().GetEtag() == readEtag || first.GetAsset().GetDescription() != "first writer" {
		t.Fatalf("update did not change the etag: %v", first.GetAsset().GetEtag())
	}
	asset.Description = "second writer, same stale read"
	_, err = reg.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: asset, UpdateMask: mask, Etag: readEtag})
	md := wantError(t, err, codes.Aborted, "ETAG_MISMATCH")
	if md["asset_id"] != regUSDC || md["current_etag"] != first.GetAsset().GetEtag() {
		t.Fatalf("metadata %v", md)
	}
	_, err = reg.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: asset, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"etag"}}})
	wantError(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK")
}

func TestRegistryBatchGetAndResolve(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	got, err := reg.BatchGetAssets(ctx, &servicesv1.BatchGetAssetsRequest{AssetIds: []string{regBTC, regUSDC}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetAssets()) != 2 || got.GetAssets()[0].GetAssetId() != regBTC || got.GetAssets()[1].GetAssetId() != regUSDC {
		t.Fatalf("order not kept: %v", got.GetAssets())
	}
	missing := "ast_01JDN0SVCHASSET00000000000"
	_, err = reg.BatchGetAssets(ctx, &servicesv1.BatchGetAssetsRequest{AssetIds: []string{regUSDC, missing}})
	if md := wantError(t, err, codes.NotFound, "NOT_FOUND_ASSET"); md["asset_id"] != missing {
		t.Fatalf("metadata %v", md)
	}
	ins, err := reg.BatchGetInstruments(ctx, &servicesv1.BatchGetInstrumentsRequest{InstrumentIds: []string{regCompoundBorrow}})
	if err != nil {
		t.Fatal(err)
	}
	if b := ins.GetInstruments()[0].GetLendingBorrow(); b == nil || b.DebtTokenDeploymentId != nil {
		t.Fatalf("Compound v3 borrow has no debt token: %v", b)
	}
	pool, err := reg.GetMarket(ctx, &servicesv1.GetMarketRequest{MarketId: regUniswapPool})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("S", 256)
	resolved, err := reg.BatchResolveMarkets(ctx, &servicesv1.BatchResolveMarketsRequest{Symbols: []*servicesv1.MarketSymbol{
		{VenueId: pool.GetMarket().GetVenueId(), VenueSymbol: pool.GetMarket().GetVenueSymbol()},
		{VenueId: pool.GetMarket().GetVenueId(), VenueSymbol: long},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := resolved.GetResults()
	if len(r) != 2 || r[0].GetMarket().GetMarketId() != regUniswapPool || r[1].GetMarket() != nil || r[1].GetSymbol().GetVenueSymbol() != long {
		t.Fatalf("results %v", r)
	}
}

func TestRegistryResponseBound(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	all, err := reg.ListMarkets(ctx, &servicesv1.ListMarketsRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	largest := 0
	for _, m := range all.GetMarkets() {
		largest = max(largest, proto.Size(m))
	}
	saved := registryMaxResponseBytes
	t.Cleanup(func() { registryMaxResponseBytes = saved })
	registryMaxResponseBytes = 2 * largest
	var seen []string
	token, pages := "", 0
	for {
		page, err := reg.ListMarkets(ctx, &servicesv1.ListMarketsRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, m := range page.GetMarkets() {
			size += proto.Size(m) + 8
			seen = append(seen, m.GetMarketId())
		}
		if size > registryMaxResponseBytes && len(page.GetMarkets()) > 1 {
			t.Fatalf("page of %d bytes over the %d bound", size, registryMaxResponseBytes)
		}
		pages++
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if pages < 2 || len(seen) != len(all.GetMarkets()) {
		t.Fatalf("%d pages, %d of %d markets", pages, len(seen), len(all.GetMarkets()))
	}
	registryMaxResponseBytes = 1000
	_, err = reg.BatchGetMarkets(ctx, &servicesv1.BatchGetMarketsRequest{MarketIds: []string{regUniswapPool}})
	if md := wantError(t, err, codes.ResourceExhausted, "RESPONSE_TOO_LARGE"); md["limit_bytes"] != "1000" {
		t.Fatalf("metadata %v", md)
	}
}

func TestRegistryFilters(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	pools, err := reg.ListMarkets(ctx, &servicesv1.ListMarketsRequest{MarketType: marketsv1.MarketType_MARKET_TYPE_AMM_POOL})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range pools.GetMarkets() {
		if m.GetMarketType() != marketsv1.MarketType_MARKET_TYPE_AMM_POOL {
			t.Fatalf("%s is %s", m.GetMarketId(), m.GetMarketType())
		}
		found = found || m.GetMarketId() == regUniswapPool
	}
	if !found {
		t.Fatal("the Uniswap pool is an AMM pool")
	}
	options, err := reg.ListInstruments(ctx, &servicesv1.ListInstrumentsRequest{InstrumentType: "OPTION"})
	if err != nil || len(options.GetInstruments()) == 0 {
		t.Fatalf("no option series (%v)", err)
	}
	option := options.GetInstruments()[0]
	expiry := option.GetOption().GetExpiryTime().AsTime()
	ask := func(req *servicesv1.ListInstrumentsRequest) []string {
		t.Helper()
		res, err := reg.ListInstruments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, i := range res.GetInstruments() {
			ids = append(ids, i.GetInstrumentId())
		}
		return ids
	}
	has := func(ids []string) bool {
		for _, id := range ids {
			if id == option.GetInstrumentId() {
				return true
			}
		}
		return false
	}
	strike := option.GetOption().GetStrike()
	if !has(ask(&servicesv1.ListInstrumentsRequest{MinExpiryTime: timestamppb.New(expiry.Add(-1)), MaxExpiryTime: timestamppb.New(expiry.Add(1))})) ||
		has(ask(&servicesv1.ListInstrumentsRequest{MinExpiryTime: timestamppb.New(expiry.Add(1))})) ||
		!has(ask(&servicesv1.ListInstrumentsRequest{MinStrike: &strike, MaxStrike: &strike, OptionType: option.GetOption().GetOptionType()})) ||
		has(ask(&servicesv1.ListInstrumentsRequest{MinStrike: proto.String(strike + "1")})) {
		t.Fatal("expiry or strike filter wrong")
	}
	zero := "0"
	for _, id := range ask(&servicesv1.ListInstrumentsRequest{MinStrike: &zero}) {
		got, err := reg.GetInstrument(ctx, &servicesv1.GetInstrumentRequest{InstrumentId: id})
		if err != nil || got.GetInstrument().GetOption() == nil {
			t.Fatalf("a strike filter keeps only options: %s", id)
		}
	}
}

func TestRegistryAssetIdentifiers(t *testing.T) {
	reg := registryClient(t)
	ctx := context.Background()
	got, err := reg.GetAssetIdentifier(ctx, &servicesv1.GetAssetIdentifierRequest{IdentifierId: "aid_01JDCGVSDC0000000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAssetIdentifier().GetValue() != "usd-coin" || got.GetAssetIdentifier().GetEtag() == "" {
		t.Fatalf("got %v", got.GetAssetIdentifier())
	}
	listed, err := reg.ListAssetIdentifiers(ctx, &servicesv1.ListAssetIdentifiersRequest{
		AssetId: proto.String(regUSDC), Source: assetsv1.DataSource_DATA_SOURCE_COINMARKETCAP,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.GetAssetIdentifiers()) != 1 || listed.GetAssetIdentifiers()[0].GetValue() != "3408" {
		t.Fatalf("listed %v", listed.GetAssetIdentifiers())
	}
	created := proto.Clone(listed.GetAssetIdentifiers()[0]).(*assetsv1.AssetIdentifier)
	created.IdentifierId, created.Source, created.Value, created.Etag = "aid_01JDNEWTEST000000000000000", assetsv1.DataSource_DATA_SOURCE_DTI, "4H95J0R2X", ""
	stored, err := reg.CreateAssetIdentifier(ctx, &servicesv1.CreateAssetIdentifierRequest{AssetIdentifier: created})
	if err != nil {
		t.Fatal(err)
	}
	etag := stored.GetAssetIdentifier().GetEtag()
	mask := &fieldmaskpb.FieldMask{Paths: []string{"confidence"}}
	created.Confidence = proto.String("0.9")
	if _, err := reg.UpdateAssetIdentifier(ctx, &servicesv1.UpdateAssetIdentifierRequest{AssetIdentifier: created, UpdateMask: mask, Etag: etag}); err != nil {
		t.Fatal(err)
	}
	_, err = reg.UpdateAssetIdentifier(ctx, &servicesv1.UpdateAssetIdentifierRequest{AssetIdentifier: created, UpdateMask: mask, Etag: etag})
	wantError(t, err, codes.Aborted, "ETAG_MISMATCH")
}
