package cqctest

import (
	"context"
	"sort"

	"google.golang.org/protobuf/proto"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// MarketData's VWAP, depth bands, liquidity summary and candles, read from the seeded examples of those
// types (the reference server aggregates nothing itself).

// defaultDepthBands are the bands GetMarketDepth answers when the request names none.
var defaultDepthBands = []string{"0.005", "0.01", "0.02"}

// candlePageSize is ListCandles' page size when the request leaves it 0.
const candlePageSize = 500

// GetVWAP answers the market's seeded VWAP whose window (end_time - start_time) equals the requested one,
// else its latest seeded VWAP (by end_time); none → NOT_FOUND.
func (d *marketData) GetVWAP(_ context.Context, req *servicesv1.GetVWAPRequest) (*servicesv1.GetVWAPResponse, error) {
	found := clones(d, func() []*marketsv1.VWAP { return d.s.feeds.vwaps },
		func(v *marketsv1.VWAP) bool { return v.GetMarketId() == req.GetMarketId() })
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "VWAP", map[string]string{})
	}
	sort.SliceStable(found, func(i, j int) bool { return micros(found[i].GetEndTime()) < micros(found[j].GetEndTime()) })
	want := req.GetWindow().AsDuration()
	chosen := found[len(found)-1]
	for _, v := range found {
		if v.GetEndTime().AsTime().Sub(v.GetStartTime().AsTime()) == want {
			chosen = v
		}
	}
	return &servicesv1.GetVWAPResponse{Vwap: chosen}, nil
}

// GetMarketDepth answers the market's latest seeded depth (by receive_time) with only the requested bands
// (band_fractions compared as numbers; default 0.005, 0.01, 0.02), widest last; none → NOT_FOUND.
func (d *marketData) GetMarketDepth(_ context.Context, req *servicesv1.GetMarketDepthRequest) (*servicesv1.GetMarketDepthResponse, error) {
	found := clones(d, func() []*marketsv1.MarketDepth { return d.s.feeds.depths },
		func(m *marketsv1.MarketDepth) bool { return m.GetMarketId() == req.GetMarketId() })
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "depth", map[string]string{})
	}
	sort.SliceStable(found, func(i, j int) bool {
		return micros(found[i].GetReceiveTime()) < micros(found[j].GetReceiveTime())
	})
	depth := found[len(found)-1]
	wanted := req.GetBandFractions()
	if len(wanted) == 0 {
		wanted = defaultDepthBands
	}
	var bands []*marketsv1.DepthBand
	for _, band := range depth.GetBands() {
		for _, fraction := range wanted {
			if a, b := rat(band.GetDistance()), rat(fraction); a != nil && b != nil && a.Cmp(b) == 0 {
				bands = append(bands, band)
				break
			}
		}
	}
	sort.SliceStable(bands, func(i, j int) bool { return ratLess(bands[i].GetDistance(), bands[j].GetDistance()) })
	depth.Bands = bands
	return &servicesv1.GetMarketDepthResponse{MarketDepth: depth}, nil
}

func ratLess(a, b string) bool {
	x, y := rat(a), rat(b)
	if x == nil || y == nil {
		return a < b
	}
	return x.Cmp(y) < 0
}

// GetLiquidityMetrics answers the market's latest seeded summary (by as_of_time); none → NOT_FOUND.
func (d *marketData) GetLiquidityMetrics(_ context.Context, req *servicesv1.GetLiquidityMetricsRequest) (*servicesv1.GetLiquidityMetricsResponse, error) {
	found := clones(d, func() []*marketsv1.LiquidityMetrics { return d.s.feeds.liquidity },
		func(m *marketsv1.LiquidityMetrics) bool { return m.GetMarketId() == req.GetMarketId() })
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "liquidity metrics", map[string]string{})
	}
	sort.SliceStable(found, func(i, j int) bool { return micros(found[i].GetAsOfTime()) < micros(found[j].GetAsOfTime()) })
	return &servicesv1.GetLiquidityMetricsResponse{LiquidityMetrics: found[len(found)-1]}, nil
}

// ListCandles answers the market's seeded candles of exactly the requested bar specification opening in
// [since_time, until_time), oldest first, paged (page_size 0 → 500); without since_time (and on the first
// page) only the most recent page_size candles. Unknown market → NOT_FOUND_MARKET; no candle → an empty page.
func (d *marketData) ListCandles(_ context.Context, req *servicesv1.ListCandlesRequest) (*servicesv1.ListCandlesResponse, error) {
	if !d.marketKnown(req.GetMarketId()) {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	found := clones(d, func() []*marketsv1.Candle { return d.s.feeds.candles }, func(c *marketsv1.Candle) bool {
		return c.GetMarketId() == req.GetMarketId() && proto.Equal(c.GetSpecification(), req.GetBar()) &&
			window(micros(c.GetOpenTime()), micros(req.GetSinceTime()), micros(req.GetUntilTime()),
				req.GetSinceTime() != nil, req.GetUntilTime() != nil)
	})
	sort.SliceStable(found, func(i, j int) bool { return micros(found[i].GetOpenTime()) < micros(found[j].GetOpenTime()) })
	size := int(req.GetPageSize())
	if size == 0 {
		size = candlePageSize
	}
	if req.GetSinceTime() == nil && len(found) > size {
		found = found[len(found)-size:]
	}
	for _, c := range found {
		dropSource(c, req.GetIncludeSourceRecords())
	}
	page, next, err := pageOf(req, found, int32(size))
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListCandlesResponse{Candles: page, NextPageToken: next}, nil
}
