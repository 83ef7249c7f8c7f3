package cqctest_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/cqctest"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

const (
	mdBTC     = "ast_01JDBTC0000000000000000000"
	mdSpot    = "mkt_01JDBNBTCVSDTSP0T000000000"
	mdPerp    = "mkt_01JDBNBTCVSDTPERP000000000"
	mdOKXSwap = "mkt_01JD0KXBTCVSDSWAP000000000"
	mdBitMEX  = "mkt_01JDBMXXBTVSDPERP000000000"
	mdOption  = "mkt_01JDDRBETH29SEP232000C0000"
)

func marketDataClient(t *testing.T) servicesv1.MarketDataClient {
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
	return servicesv1.NewMarketDataClient(conn)
}

// drain reads a finite stream to its end.
func drain[T any](t *testing.T, recv func() (T, error)) []T {
	t.Helper()
	var out []T
	for {
		msg, err := recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
	}
}

func TestMarketDataPricesByAsset(t *testing.T) {
	md := marketDataClient(t)
	resp, err := md.ListPrices(context.Background(), &servicesv1.ListPricesRequest{
		AssetIds: []string{mdBTC}, PriceTypes: []marketsv1.PriceType{marketsv1.PriceType_PRICE_TYPE_REFERENCE},
		Sources: []string{"coingecko"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPrices()) != 1 || resp.GetPrices()[0].GetAssetId() != mdBTC || resp.GetPrices()[0].GetSourceRecord() != nil {
		t.Errorf("ListPrices by asset: %v", resp)
	}
	_, err = md.ListPrices(context.Background(), &servicesv1.ListPricesRequest{PriceTypes: []marketsv1.PriceType{marketsv1.PriceType_PRICE_TYPE_MARK}})
	errorInfo(t, err, codes.InvalidArgument, "VALIDATION_FAILED")
}

func TestMarketDataFunding(t *testing.T) {
	md := marketDataClient(t)
	ctx := context.Background()
	if r, err := md.GetFundingRate(ctx, &servicesv1.GetFundingRateRequest{MarketId: mdPerp}); err != nil || r.GetFundingRate().GetMarketId() != mdPerp {
		t.Fatalf("GetFundingRate: %v %v", r, err)
	}
	list, err := md.ListFundingRates(ctx, &servicesv1.ListFundingRatesRequest{MarketId: mdBitMEX})
	if err != nil || len(list.GetFundingRates()) != 1 || list.GetFundingRates()[0].GetStatus() != marketsv1.FundingRateStatus_FUNDING_RATE_STATUS_FIXED {
		t.Fatalf("ListFundingRates: %v %v", list, err)
	}
	markets := []string{mdPerp, mdOKXSwap, mdBitMEX}
	stream, err := md.StreamFundingRates(ctx, &servicesv1.StreamFundingRatesRequest{MarketIds: markets})
	if err != nil {
		t.Fatal(err)
	}
	all := drain(t, stream.Recv)
	if len(all) < 3 || !all[len(all)-1].GetSnapshotComplete() {
		t.Fatalf("StreamFundingRates: %d messages", len(all))
	}
	token := all[0].GetResumeToken()
	resumed, err := md.StreamFundingRates(ctx, &servicesv1.StreamFundingRatesRequest{MarketIds: markets, ResumeToken: &token})
	if err != nil {
		t.Fatal(err)
	}
	rest := drain(t, resumed.Recv)
	if len(rest) != len(all)-1 || !proto.Equal(rest[0].GetFundingRate(), all[1].GetFundingRate()) {
		t.Errorf("resumed stream: %d messages", len(rest))
	}
	bad := "bm90LWEtdG9rZW4="
	expired, err := md.StreamFundingRates(ctx, &servicesv1.StreamFundingRatesRequest{MarketIds: markets, ResumeToken: &bad})
	if err != nil {
		t.Fatal(err)
	}
	_, err = expired.Recv()
	errorInfo(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED")
}

func TestMarketDataOpenInterestLiquidationsTickersGreeksAssets(t *testing.T) {
	md := marketDataClient(t)
	ctx := context.Background()
	latest, err := md.GetOpenInterest(ctx, &servicesv1.GetOpenInterestRequest{MarketId: mdOKXSwap})
	if err != nil {
		t.Fatal(err)
	}
	history, err := md.ListOpenInterest(ctx, &servicesv1.ListOpenInterestRequest{MarketId: mdOKXSwap})
	if err != nil || len(history.GetOpenInterests()) == 0 ||
		history.GetOpenInterests()[len(history.GetOpenInterests())-1].GetAmount() != latest.GetOpenInterest().GetAmount() {
		t.Fatalf("ListOpenInterest: %v %v", history, err)
	}
	_, err = md.GetOpenInterest(ctx, &servicesv1.GetOpenInterestRequest{MarketId: mdSpot})
	errorInfo(t, err, codes.NotFound, "NOT_FOUND_RESOURCE")

	liqs, err := md.ListLiquidations(ctx, &servicesv1.ListLiquidationsRequest{MarketId: mdPerp, IncludeSourceRecords: true})
	if err != nil || len(liqs.GetLiquidations()) != 1 || liqs.GetLiquidations()[0].GetSourceRecord() == nil {
		t.Fatalf("ListLiquidations: %v %v", liqs, err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ls, err := md.StreamLiquidations(sctx, &servicesv1.StreamLiquidationsRequest{MarketIds: []string{mdPerp}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ls.Recv(); err != nil || !m.GetSnapshotComplete() || m.GetLiquidation() != nil {
		t.Fatalf("liquidation marker: %v %v", m, err)
	}
	if m, err := ls.Recv(); err != nil || m.GetLiquidation().GetSide() != liqs.GetLiquidations()[0].GetSide() {
		t.Fatalf("liquidation: %v %v", m, err)
	}
	cancel()

	tickers, err := md.ListTickerStatistics(ctx, &servicesv1.ListTickerStatisticsRequest{MarketIds: []string{mdSpot, mdOKXSwap, mdPerp}})
	if err != nil || len(tickers.GetTickerStatistics()) != 2 || tickers.GetTickerStatistics()[1].GetMarketId() != mdOKXSwap ||
		len(tickers.GetTickerStatistics()[1].GetSessionOpenPrices()) != 2 {
		t.Fatalf("ListTickerStatistics: %v %v", tickers, err)
	}

	greeks, err := md.GetOptionGreeks(ctx, &servicesv1.GetOptionGreeksRequest{MarketId: mdOption})
	if err != nil || greeks.GetOptionGreeks().GetMarkIv() != "0.385" {
		t.Fatalf("GetOptionGreeks: %v %v", greeks, err)
	}
	gs, err := md.StreamOptionGreeks(ctx, &servicesv1.StreamOptionGreeksRequest{MarketIds: []string{mdOption}})
	if err != nil {
		t.Fatal(err)
	}
	if all := drain(t, gs.Recv); len(all) != 1 || !all[0].GetSnapshotComplete() {
		t.Errorf("StreamOptionGreeks: %v", all)
	}

	amd, err := md.GetAssetMarketData(ctx, &servicesv1.GetAssetMarketDataRequest{AssetId: mdBTC, Source: "coingecko"})
	if err != nil || amd.GetAssetMarketData().GetMarketCapRank() != 1 {
		t.Fatalf("GetAssetMarketData: %v %v", amd, err)
	}
	page, err := md.ListAssetMarketData(ctx, &servicesv1.ListAssetMarketDataRequest{PageSize: 1})
	if err != nil || page.GetAssetMarketData()[0].GetAssetId() != mdBTC || page.GetAssetMarketData()[0].GetSourceRecord() != nil {
		t.Fatalf("ListAssetMarketData: %v %v", page, err)
	}
	_, err = md.GetAssetMarketData(ctx, &servicesv1.GetAssetMarketDataRequest{AssetId: mdBTC, Source: "coinmarketcap"})
	errorInfo(t, err, codes.NotFound, "NOT_FOUND_RESOURCE")
}

func TestMarketDataOrderBookResume(t *testing.T) {
	md := marketDataClient(t)
	ctx := context.Background()
	stream, err := md.StreamOrderBook(ctx, &servicesv1.StreamOrderBookRequest{MarketId: mdSpot})
	if err != nil {
		t.Fatal(err)
	}
	all := drain(t, stream.Recv)
	if len(all) < 2 || !all[0].GetSnapshotComplete() || !all[0].GetOrderBook().GetIsSnapshot() {
		t.Fatalf("StreamOrderBook: %v", all)
	}
	token := all[0].GetResumeToken()
	resumed, err := md.StreamOrderBook(ctx, &servicesv1.StreamOrderBookRequest{MarketId: mdSpot, ResumeToken: &token})
	if err != nil {
		t.Fatal(err)
	}
	rest := drain(t, resumed.Recv)
	if len(rest) != len(all)-1 || !proto.Equal(rest[0].GetOrderBook(), all[1].GetOrderBook()) {
		t.Errorf("resumed book: %d messages", len(rest))
	}
}

func TestMarketDataListTrades(t *testing.T) {
	md := marketDataClient(t)
	ctx := context.Background()
	page, err := md.ListTrades(ctx, &servicesv1.ListTradesRequest{MarketId: mdSpot, PageSize: 1})
	if err != nil || len(page.GetTrades()) != 1 || page.GetTrades()[0].GetSourceRecord() != nil {
		t.Fatalf("ListTrades: %v %v", page, err)
	}
	full, err := md.ListTrades(ctx, &servicesv1.ListTradesRequest{MarketId: mdSpot, IncludeSourceRecords: true})
	if err != nil || full.GetTrades()[0].GetSourceRecord() == nil {
		t.Fatalf("ListTrades with records: %v %v", full, err)
	}
	_, err = md.ListTrades(ctx, &servicesv1.ListTradesRequest{MarketId: mdSpot, PageToken: "garbage"})
	errorInfo(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}
