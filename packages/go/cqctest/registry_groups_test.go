package cqctest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// seededConn is a client connection to a server started without testdata: seeded from the embedded bundle.
func seededConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	srv, err := Start(context.Background(), Options{})
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

func TestSeedBundle(t *testing.T) {
	assets := SeedExamples("cqc.assets.v1.Asset")
	var usdc struct {
		AssetID string `json:"assetId"`
	}
	if err := json.Unmarshal(assets["usdc"], &usdc); err != nil || usdc.AssetID != regUSDC {
		t.Fatalf("usdc example: %v %q", err, usdc.AssetID)
	}
	if len(SeedExamples("no.such.Type")) != 0 || len(SeedTypes()) < 20 {
		t.Fatalf("types %v", SeedTypes())
	}
}

func TestRegistryGroupsFlagsRelationships(t *testing.T) {
	reg := servicesv1.NewAssetRegistryClient(seededConn(t))
	ctx := context.Background()
	first, err := reg.ListAssetGroups(ctx, &servicesv1.ListAssetGroupsRequest{PageSize: 2})
	if err != nil || len(first.GetAssetGroups()) != 2 || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", err, first)
	}
	rest, err := reg.ListAssetGroups(ctx, &servicesv1.ListAssetGroupsRequest{PageSize: 2, PageToken: first.GetNextPageToken()})
	if err != nil || len(rest.GetAssetGroups()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", err, rest)
	}
	rels, err := reg.ListAssetRelationships(ctx, &servicesv1.ListAssetRelationshipsRequest{SubjectAssetId: ptr(regUSDC)})
	if err != nil || len(rels.GetAssetRelationships()) != 1 || rels.GetAssetRelationships()[0].GetObjectAssetId() != "ast_01JDFVSD000000000000000000" {
		t.Fatalf("relationships: %v %v", err, rels)
	}
	flags, err := reg.ListAssetQualityFlags(ctx, &servicesv1.ListAssetQualityFlagsRequest{AssetId: ptr(regUSDC)})
	if err != nil || len(flags.GetAssetQualityFlags()) != 2 {
		t.Fatalf("flags: %v %v", err, flags)
	}
	active, err := reg.ListAssetQualityFlags(ctx, &servicesv1.ListAssetQualityFlagsRequest{AssetId: ptr(regUSDC), ActiveOnly: true})
	if err != nil || len(active.GetAssetQualityFlags()) != 1 || active.GetAssetQualityFlags()[0].GetFlagId() != "flg_01JDMVTCHNFTMEXP0000000000" {
		t.Fatalf("active flags: %v %v", err, active)
	}

	const groupID = "grp_01JE0000000000000000000TST"
	group := &assetsv1.AssetGroup{GroupId: groupID, Name: "test group", Kind: assetsv1.AssetGroupKind_ASSET_GROUP_KIND_CATEGORY}
	created, err := reg.CreateAssetGroup(ctx, &servicesv1.CreateAssetGroupRequest{AssetGroup: group})
	if err != nil || created.GetAssetGroup().GetCreateTime() == nil || !strings.HasPrefix(created.GetAssetGroup().GetEtag(), "W1-") {
		t.Fatalf("create: %v %v", err, created)
	}
	if again, err := reg.CreateAssetGroup(ctx, &servicesv1.CreateAssetGroupRequest{AssetGroup: group}); err != nil ||
		!again.GetAssetGroup().GetCreateTime().AsTime().Equal(created.GetAssetGroup().GetCreateTime().AsTime()) {
		t.Fatalf("idempotent create: %v", err)
	}
	changed := &assetsv1.AssetGroup{GroupId: groupID, Name: "other", Kind: assetsv1.AssetGroupKind_ASSET_GROUP_KIND_CATEGORY}
	_, err = reg.CreateAssetGroup(ctx, &servicesv1.CreateAssetGroupRequest{AssetGroup: changed})
	if md := wantError(t, err, codes.AlreadyExists, "ALREADY_EXISTS"); md["group_id"] != groupID {
		t.Fatalf("metadata %v", md)
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"name"}}
	updated, err := reg.UpdateAssetGroup(ctx, &servicesv1.UpdateAssetGroupRequest{AssetGroup: changed, UpdateMask: mask, Etag: created.GetAssetGroup().GetEtag()})
	if err != nil || updated.GetAssetGroup().GetName() != "other" || updated.GetAssetGroup().GetEtag() == created.GetAssetGroup().GetEtag() {
		t.Fatalf("update: %v %v", err, updated)
	}
	_, err = reg.UpdateAssetGroup(ctx, &servicesv1.UpdateAssetGroupRequest{AssetGroup: changed, UpdateMask: mask, Etag: created.GetAssetGroup().GetEtag()})
	if md := wantError(t, err, codes.Aborted, "ETAG_MISMATCH"); md["group_id"] != groupID || md["current_etag"] != updated.GetAssetGroup().GetEtag() {
		t.Fatalf("metadata %v", md)
	}
	for _, path := range []string{"group_id", "create_time", "no_such_field"} {
		_, err = reg.UpdateAssetGroup(ctx, &servicesv1.UpdateAssetGroupRequest{AssetGroup: changed, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{path}}})
		if md := wantError(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK"); md["paths"] != path || len(md) != 1 {
			t.Fatalf("%s: metadata %v", path, md)
		}
	}
	_, err = reg.GetAssetGroup(ctx, &servicesv1.GetAssetGroupRequest{GroupId: "grp_01JDZZZZZZZZZZZZZZZZZZZZZZ"})
	wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE")
	_, err = reg.ListAssetGroups(ctx, &servicesv1.ListAssetGroupsRequest{PageToken: "bm90IGEgdG9rZW4="})
	wantError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}

func ptr(s string) *string { return &s }

func TestMarketDataLiquidity(t *testing.T) {
	md := servicesv1.NewMarketDataClient(seededConn(t))
	ctx := context.Background()
	const btcSpot = "mkt_01JDBNBTCVSDTSP0T000000000"
	hour, err := md.GetVWAP(ctx, &servicesv1.GetVWAPRequest{MarketId: btcSpot, Window: durationpb.New(3600e9)})
	if err != nil || hour.GetVwap().GetVwap() != "43038.7719" {
		t.Fatalf("vwap 1h: %v %v", err, hour)
	}
	five, err := md.GetVWAP(ctx, &servicesv1.GetVWAPRequest{MarketId: btcSpot, Window: durationpb.New(300e9)})
	if err != nil || five.GetVwap().GetVwap() != "43046.31856312" {
		t.Fatalf("vwap 5m: %v %v", err, five)
	}
	depth, err := md.GetMarketDepth(ctx, &servicesv1.GetMarketDepthRequest{MarketId: btcSpot, BandFractions: []string{"0.010"}})
	if err != nil || len(depth.GetMarketDepth().GetBands()) != 1 || depth.GetMarketDepth().GetBands()[0].GetDistance() != "0.01" {
		t.Fatalf("depth: %v %v", err, depth)
	}
	if m, err := md.GetLiquidityMetrics(ctx, &servicesv1.GetLiquidityMetricsRequest{MarketId: btcSpot}); err != nil || m.GetLiquidityMetrics().GetMarketId() != btcSpot {
		t.Fatalf("liquidity: %v %v", err, m)
	}
	bar := &marketsv1.BarSpecification{
		Step: 1, Aggregation: marketsv1.BarAggregation_BAR_AGGREGATION_MINUTE, PriceType: marketsv1.PriceType_PRICE_TYPE_LAST,
		AggregationSource: marketsv1.AggregationSource_AGGREGATION_SOURCE_EXTERNAL, IntervalType: marketsv1.BarIntervalType_BAR_INTERVAL_TYPE_RIGHT_OPEN,
	}
	candles, err := md.ListCandles(ctx, &servicesv1.ListCandlesRequest{MarketId: btcSpot, Bar: bar})
	if err != nil || len(candles.GetCandles()) != 1 || candles.GetCandles()[0].GetClose() != "43050.10000000" || candles.GetCandles()[0].GetSourceRecord() != nil {
		t.Fatalf("candles: %v %v", err, candles)
	}
	_, err = md.GetVWAP(ctx, &servicesv1.GetVWAPRequest{MarketId: "mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ", Window: durationpb.New(60e9)})
	wantError(t, err, codes.NotFound, "NOT_FOUND_MARKET")
}

func TestDepositAddress(t *testing.T) {
	gw := servicesv1.NewVenueGatewayClient(seededConn(t))
	ctx := context.Background()
	req := &servicesv1.GetDepositAddressRequest{AccountId: "acc_01JDBNSP0TMA1N000000000000", AssetId: regUSDC, DeploymentId: "dep_01JDVSDCETH000000000000000"}
	first, err := gw.GetDepositAddress(ctx, req)
	if err != nil || !strings.HasPrefix(first.GetAddress(), "0x") || len(first.GetAddress()) != 42 || first.GetMemo() != "" {
		t.Fatalf("address: %v %v", err, first)
	}
	// The same address as the Python server: sha256("<account>|<deployment>")[:20] in hex.
	if first.GetAddress() != "0x"+depositHex(req.GetAccountId(), req.GetDeploymentId()) {
		t.Fatalf("address %s", first.GetAddress())
	}
	req.DeploymentId = "dep_01JDWETHETH000000000000000"
	_, err = gw.GetDepositAddress(ctx, req)
	if md := wantError(t, err, codes.NotFound, "NOT_FOUND_RESOURCE"); md["deployment_id"] != req.GetDeploymentId() {
		t.Fatalf("metadata %v", md)
	}
}

func depositHex(account, deployment string) string {
	sum := sha256.Sum256([]byte(account + "|" + deployment))
	return hex.EncodeToString(sum[:20])
}

func TestCreateAssetSetsOutputOnlyTimes(t *testing.T) {
	reg := servicesv1.NewAssetRegistryClient(seededConn(t))
	ctx := context.Background()
	got, err := reg.GetAsset(ctx, &servicesv1.GetAssetRequest{AssetId: regUSDC})
	if err != nil {
		t.Fatal(err)
	}
	asset := got.GetAsset()
	asset.AssetId, asset.Etag = "ast_01JE0000000000000000000TST", ""
	asset.CreateTime = timestamppb.New(time.Unix(978307200, 0)) // output only: ignored on input
	created, err := reg.CreateAsset(ctx, &servicesv1.CreateAssetRequest{Asset: asset})
	if err != nil || created.GetAsset().GetCreateTime().GetSeconds() <= 978307200 ||
		!created.GetAsset().GetUpdateTime().AsTime().Equal(created.GetAsset().GetCreateTime().AsTime()) {
		t.Fatalf("create: %v %v", err, created)
	}
	changed := created.GetAsset()
	changed.Name = "renamed"
	updated, err := reg.UpdateAsset(ctx, &servicesv1.UpdateAssetRequest{Asset: changed, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}, Etag: changed.GetEtag()})
	if err != nil || updated.GetAsset().GetName() != "renamed" ||
		!updated.GetAsset().GetCreateTime().AsTime().Equal(changed.GetCreateTime().AsTime()) {
		t.Fatalf("update: %v %v", err, updated)
	}
}

func TestMarketDataPageTokensBound(t *testing.T) {
	items := []int{1, 2, 3}
	first := &servicesv1.ListTradesRequest{MarketId: "mkt_01JDBNBTCVSDTSP0T000000000", PageSize: 1}
	page, next, err := pageOf(first, items, first.GetPageSize())
	if err != nil || len(page) != 1 || next == "" {
		t.Fatalf("first page: %v %v %q", err, page, next)
	}
	second := &servicesv1.ListTradesRequest{MarketId: first.GetMarketId(), PageSize: 1, PageToken: next}
	if page, _, err := pageOf(second, items, 1); err != nil || page[0] != 2 {
		t.Fatalf("second page: %v %v", err, page)
	}
	for name, req := range map[string]listRequest{
		"other filters": &servicesv1.ListTradesRequest{MarketId: "mkt_01JD0KXBTCVSDSWAP000000000", PageSize: 1, PageToken: next},
		"other rpc":     &servicesv1.ListLiquidationsRequest{MarketId: first.GetMarketId(), PageSize: 1, PageToken: next},
		"tampered":      &servicesv1.ListTradesRequest{MarketId: first.GetMarketId(), PageSize: 1, PageToken: "A" + next},
		"garbage":       &servicesv1.ListTradesRequest{MarketId: first.GetMarketId(), PageSize: 1, PageToken: "page:1"},
	} {
		if _, _, err := pageOf(req, items, 1); err == nil {
			t.Fatalf("%s: token accepted", name)
		} else if md := wantError(t, errorStatus(err), codes.InvalidArgument, "INVALID_PAGE_TOKEN"); len(md) != 0 {
			t.Fatalf("%s: metadata %v", name, md)
		}
	}
}
