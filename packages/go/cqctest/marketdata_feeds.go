package cqctest

import (
	"context"
	"encoding/base64"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// marketDataFeeds are the seeded market data beyond prices, books and trades.
type marketDataFeeds struct {
	funding      []*marketsv1.FundingRate
	openInterest []*marketsv1.OpenInterest
	liquidations []*marketsv1.Liquidation
	tickers      []*marketsv1.TickerStatistics
	greeks       []*marketsv1.OptionGreeks
	assetData    []*marketsv1.AssetMarketData
	vwaps        []*marketsv1.VWAP             // marketdata_liquidity.go
	depths       []*marketsv1.MarketDepth      // marketdata_liquidity.go
	liquidity    []*marketsv1.LiquidityMetrics // marketdata_liquidity.go
	candles      []*marketsv1.Candle           // marketdata_liquidity.go
}

type loader func(typeName string, newMsg func() proto.Message, add func(proto.Message)) error

func (f *marketDataFeeds) seed(load loader) error {
	steps := []struct {
		name   string
		newMsg func() proto.Message
		add    func(proto.Message)
	}{
		{"cqc.markets.v1.FundingRate", func() proto.Message { return &marketsv1.FundingRate{} },
			func(m proto.Message) { f.funding = append(f.funding, m.(*marketsv1.FundingRate)) }},
		{"cqc.markets.v1.OpenInterest", func() proto.Message { return &marketsv1.OpenInterest{} },
			func(m proto.Message) { f.openInterest = append(f.openInterest, m.(*marketsv1.OpenInterest)) }},
		{"cqc.markets.v1.Liquidation", func() proto.Message { return &marketsv1.Liquidation{} },
			func(m proto.Message) { f.liquidations = append(f.liquidations, m.(*marketsv1.Liquidation)) }},
		{"cqc.markets.v1.TickerStatistics", func() proto.Message { return &marketsv1.TickerStatistics{} },
			func(m proto.Message) { f.tickers = append(f.tickers, m.(*marketsv1.TickerStatistics)) }},
		{"cqc.markets.v1.OptionGreeks", func() proto.Message { return &marketsv1.OptionGreeks{} },
			func(m proto.Message) { f.greeks = append(f.greeks, m.(*marketsv1.OptionGreeks)) }},
		{"cqc.markets.v1.AssetMarketData", func() proto.Message { return &marketsv1.AssetMarketData{} },
			func(m proto.Message) { f.assetData = append(f.assetData, m.(*marketsv1.AssetMarketData)) }},
		{"cqc.markets.v1.VWAP", func() proto.Message { return &marketsv1.VWAP{} },
			func(m proto.Message) { f.vwaps = append(f.vwaps, m.(*marketsv1.VWAP)) }},
		{"cqc.markets.v1.MarketDepth", func() proto.Message { return &marketsv1.MarketDepth{} },
			func(m proto.Message) { f.depths = append(f.depths, m.(*marketsv1.MarketDepth)) }},
		{"cqc.markets.v1.LiquidityMetrics", func() proto.Message { return &marketsv1.LiquidityMetrics{} },
			func(m proto.Message) { f.liquidity = append(f.liquidity, m.(*marketsv1.LiquidityMetrics)) }},
		{"cqc.markets.v1.Candle", func() proto.Message { return &marketsv1.Candle{} },
			func(m proto.Message) { f.candles = append(f.candles, m.(*marketsv1.Candle)) }},
	}
	for _, step := range steps {
		if err := load(step.name, step.newMsg, step.add); err != nil {
			return err
		}
	}
	return nil
}

// --- resume and page tokens ---------------------------------------------------------------------------

// mdResumeToken is the opaque token after message number position (1-based) of a stream kind.
func mdResumeToken(stream string, position int) string {
	return base64.URLEncoding.EncodeToString([]byte(stream + ":" + strconv.Itoa(position)))
}

// mdResumePosition is the position a resume token names (0 without one), or FAILED_PRECONDITION
// RESUME_TOKEN_EXPIRED for a token this server did not issue for this stream kind or beyond length.
func mdResumePosition(stream string, token *string, length int) (int, error) {
	if token == nil {
		return 0, nil
	}
	raw, err := base64.URLEncoding.DecodeString(*token)
	kind, number, _ := strings.Cut(string(raw), ":")
	position, convErr := strconv.Atoi(number)
	if err != nil || convErr != nil || kind != stream || position < 0 || position > length {
		return 0, newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil,
			"resume_token %q is unknown or expired; subscribe again without it", *token)
	}
	return position, nil
}

// pageOf is one page of items after the page token's offset, and the next token ("" on the last page).
// Tokens are the kit's signed tokens (cqckit.PageTokens) of the offset, bound to the request's RPC and its
// other fields: garbage, tampered tokens and tokens of another RPC or other filters are INVALID_PAGE_TOKEN.
func pageOf[T any](req listRequest, items []T, pageSize int32) ([]T, string, error) {
	rpc, filters := string(req.ProtoReflect().Descriptor().FullName()), cqckit.FilterDigest(req)
	start := 0
	if req.GetPageToken() != "" {
		position, err := pageTokens.Decode(rpc, filters, req.GetPageToken())
		if err != nil {
			return nil, "", err
		}
		n, convErr := strconv.Atoi(position)
		if convErr != nil || n < 0 {
			return nil, "", newError(codes.InvalidArgument, "INVALID_PAGE_TOKEN", nil,
				"page_token %q was not returned by this server", req.GetPageToken())
		}
		start = n
	}
	size := int(pageSize)
	if size == 0 {
		size = 100
	}
	if start > len(items) {
		start = len(items)
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = pageTokens.Encode(rpc, filters, strconv.Itoa(end))
	}
	return items[start:end], next, nil
}

// clones copies the items that keep accepts, under the state's read lock.
func clones[T proto.Message](d *marketData, items func() []T, keep func(T) bool) []T {
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	var out []T
	for _, item := range items() {
		if keep(item) {
			out = append(out, proto.Clone(item).(T))
		}
	}
	return out
}

// dropSource clears source_record unless the request asked for it.
func dropSource(m proto.Message, keep bool) {
	if keep {
		return
	}
	r := m.ProtoReflect()
	if fd := r.Descriptor().Fields().ByName("source_record"); fd != nil {
		r.Clear(fd)
	}
}

// window reports whether at lies in [since, until), an absent bound being open.
func window(at int64, since, until int64, hasSince, hasUntil bool) bool {
	return (!hasSince || at >= since) && (!hasUntil || at < until)
}

// --- prices -------------------------------------------------------------------------------------------

func (d *marketData) ListPrices(_ context.Context, req *servicesv1.ListPricesRequest) (*servicesv1.ListPricesResponse, error) {
	markets, assets, sources := set(req.GetMarketIds()), set(req.GetAssetIds()), set(req.GetSources())
	types := map[marketsv1.PriceType]bool{}
	for _, t := range req.GetPriceTypes() {
		types[t] = true
	}
	type key struct {
		subject string
		kind    marketsv1.PriceType
	}
	latest := map[key]*marketsv1.Price{}
	d.s.mu.RLock()
	for _, p := range d.s.prices {
		subject, wanted := p.GetMarketId(), markets[p.GetMarketId()]
		if _, ok := p.GetSubject().(*marketsv1.Price_AssetId); ok {
			subject, wanted = p.GetAssetId(), assets[p.GetAssetId()]
		}
		if !wanted || !types[p.GetPriceType()] || (len(sources) > 0 && !sources[p.GetSource()]) {
			continue
		}
		k := key{subject, p.GetPriceType()}
		if best, ok := latest[k]; !ok || micros(p.GetReceiveTime()) > micros(best.GetReceiveTime()) {
			latest[k] = p
		}
	}
	d.s.mu.RUnlock()
	keys := make([]key, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].subject != keys[j].subject {
			return keys[i].subject < keys[j].subject
		}
		return keys[i].kind < keys[j].kind
	})
	resp := &servicesv1.ListPricesResponse{}
	for _, k := range keys {
		p := proto.Clone(latest[k]).(*marketsv1.Price)
		dropSource(p, req.GetIncludeSourceRecords())
		resp.Prices = append(resp.Prices, p)
	}
	return resp, nil
}

// --- trades -------------------------------------------------------------------------------------------

func (d *marketData) ListTrades(_ context.Context, req *servicesv1.ListTradesRequest) (*servicesv1.ListTradesResponse, error) {
	if !d.marketKnown(req.GetMarketId()) {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	found := clones(d, func() []*marketsv1.Trade { return d.s.trades }, func(t *marketsv1.Trade) bool {
		return t.GetMarketId() == req.GetMarketId() &&
			window(micros(t.GetEventTime()), micros(req.GetSinceTime()), micros(req.GetUntilTime()), req.GetSinceTime() != nil, req.GetUntilTime() != nil)
	})
	sort.SliceStable(found, func(i, j int) bool {
		if micros(found[i].GetEventTime()) != micros(found[j].GetEventTime()) {
			return micros(found[i].GetEventTime()) < micros(found[j].GetEventTime())
		}
		return found[i].GetVenueTradeId() < found[j].GetVenueTradeId()
	})
	for _, t := range found {
		dropSource(t, req.GetIncludeSourceRecords())
	}
	page, next, err := pageOf(req, found, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListTradesResponse{Trades: page, NextPageToken: next}, nil
}

// --- funding ------------------------------------------------------------------------------------------

func (d *marketData) fundingOf(markets map[string]bool) []*marketsv1.FundingRate {
	found := clones(d, func() []*marketsv1.FundingRate { return d.s.feeds.funding },
		func(r *marketsv1.FundingRate) bool { return markets[r.GetMarketId()] })
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if micros(a.GetReceiveTime()) != micros(b.GetReceiveTime()) {
			return micros(a.GetReceiveTime()) < micros(b.GetReceiveTime())
		}
		return a.GetMarketId() < b.GetMarketId()
	})
	return found
}

func (d *marketData) GetFundingRate(_ context.Context, req *servicesv1.GetFundingRateRequest) (*servicesv1.GetFundingRateResponse, error) {
	found := d.fundingOf(set([]string{req.GetMarketId()}))
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "funding rate", map[string]string{})
	}
	return &servicesv1.GetFundingRateResponse{FundingRate: found[len(found)-1]}, nil
}

func (d *marketData) ListFundingRates(_ context.Context, req *servicesv1.ListFundingRatesRequest) (*servicesv1.ListFundingRatesResponse, error) {
	if err := d.unknownMarket(req.GetMarketId()); err != nil {
		return nil, err
	}
	var final []*marketsv1.FundingRate
	for _, r := range d.fundingOf(set([]string{req.GetMarketId()})) {
		status := r.GetStatus()
		if (status == marketsv1.FundingRateStatus_FUNDING_RATE_STATUS_SETTLED || status == marketsv1.FundingRateStatus_FUNDING_RATE_STATUS_FIXED) &&
			window(micros(r.GetFundingTime()), micros(req.GetSinceTime()), micros(req.GetUntilTime()), req.GetSinceTime() != nil, req.GetUntilTime() != nil) {
			dropSource(r, req.GetIncludeSourceRecords())
			final = append(final, r)
		}
	}
	sort.SliceStable(final, func(i, j int) bool { return micros(final[i].GetFundingTime()) < micros(final[j].GetFundingTime()) })
	page, next, err := pageOf(req, final, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListFundingRatesResponse{FundingRates: page, NextPageToken: next}, nil
}

func (d *marketData) StreamFundingRates(req *servicesv1.StreamFundingRatesRequest, stream servicesv1.MarketData_StreamFundingRatesServer) error {
	if err := d.unknownMarket(req.GetMarketIds()...); err != nil {
		return err
	}
	found := d.fundingOf(set(req.GetMarketIds()))
	start, err := mdResumePosition("funding", req.ResumeToken, len(found))
	if err != nil {
		return err
	}
	if start == 0 && len(found) == 0 {
		return stream.Send(&servicesv1.StreamFundingRatesResponse{ResumeToken: mdResumeToken("funding", 0), SnapshotComplete: true})
	}
	for i := start; i < len(found); i++ {
		msg := &servicesv1.StreamFundingRatesResponse{FundingRate: found[i], ResumeToken: mdResumeToken("funding", i+1),
			SnapshotComplete: start == 0 && i == len(found)-1}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// --- open interest ------------------------------------------------------------------------------------

func oiTime(o *marketsv1.OpenInterest) int64 {
	if o.GetEventTime() != nil {
		return micros(o.GetEventTime())
	}
	return micros(o.GetReceiveTime())
}

func (d *marketData) openInterestOf(marketID string) []*marketsv1.OpenInterest {
	found := clones(d, func() []*marketsv1.OpenInterest { return d.s.feeds.openInterest },
		func(o *marketsv1.OpenInterest) bool { return o.GetMarketId() == marketID })
	sort.SliceStable(found, func(i, j int) bool { return oiTime(found[i]) < oiTime(found[j]) })
	return found
}

func (d *marketData) GetOpenInterest(_ context.Context, req *servicesv1.GetOpenInterestRequest) (*servicesv1.GetOpenInterestResponse, error) {
	found := d.openInterestOf(req.GetMarketId())
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "open interest", map[string]string{})
	}
	return &servicesv1.GetOpenInterestResponse{OpenInterest: found[len(found)-1]}, nil
}

func (d *marketData) ListOpenInterest(_ context.Context, req *servicesv1.ListOpenInterestRequest) (*servicesv1.ListOpenInterestResponse, error) {
	if !d.marketKnown(req.GetMarketId()) {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	var kept []*marketsv1.OpenInterest
	for _, o := range d.openInterestOf(req.GetMarketId()) {
		if !window(oiTime(o), micros(req.GetSinceTime()), micros(req.GetUntilTime()), req.GetSinceTime() != nil, req.GetUntilTime() != nil) {
			continue
		}
		if req.GetPeriod() != nil && !proto.Equal(req.GetPeriod(), o.GetPeriod()) {
			continue
		}
		dropSource(o, req.GetIncludeSourceRecords())
		kept = append(kept, o)
	}
	page, next, err := pageOf(req, kept, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListOpenInterestResponse{OpenInterests: page, NextPageToken: next}, nil
}

// --- liquidations -------------------------------------------------------------------------------------

func (d *marketData) liquidationsOf(markets map[string]bool) []*marketsv1.Liquidation {
	found := clones(d, func() []*marketsv1.Liquidation { return d.s.feeds.liquidations },
		func(x *marketsv1.Liquidation) bool { return markets[x.GetMarketId()] })
	sort.SliceStable(found, func(i, j int) bool { return micros(found[i].GetEventTime()) < micros(found[j].GetEventTime()) })
	return found
}

func (d *marketData) ListLiquidations(_ context.Context, req *servicesv1.ListLiquidationsRequest) (*servicesv1.ListLiquidationsResponse, error) {
	if !d.marketKnown(req.GetMarketId()) {
		return nil, notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	var kept []*marketsv1.Liquidation
	for _, x := range d.liquidationsOf(set([]string{req.GetMarketId()})) {
		if window(micros(x.GetEventTime()), micros(req.GetSinceTime()), micros(req.GetUntilTime()), req.GetSinceTime() != nil, req.GetUntilTime() != nil) {
			dropSource(x, req.GetIncludeSourceRecords())
			kept = append(kept, x)
		}
	}
	page, next, err := pageOf(req, kept, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListLiquidationsResponse{Liquidations: page, NextPageToken: next}, nil
}

func (d *marketData) StreamLiquidations(req *servicesv1.StreamLiquidationsRequest, stream servicesv1.MarketData_StreamLiquidationsServer) error {
	if err := d.unknownMarket(req.GetMarketIds()...); err != nil {
		return err
	}
	found := d.liquidationsOf(set(req.GetMarketIds()))
	start, err := mdResumePosition("liquidations", req.ResumeToken, len(found))
	if err != nil {
		return err
	}
	if start == 0 { // no state: the snapshot is empty, the marker says so
		if err := stream.Send(&servicesv1.StreamLiquidationsResponse{ResumeToken: mdResumeToken("liquidations", 0), SnapshotComplete: true}); err != nil {
			return err
		}
	}
	for i := start; i < len(found); i++ {
		if err := stream.Send(&servicesv1.StreamLiquidationsResponse{Liquidation: found[i], ResumeToken: mdResumeToken("liquidations", i+1)}); err != nil {
			return err
		}
	}
	return d.waitLive(stream.Context())
}

// --- ticker statistics --------------------------------------------------------------------------------

func (d *marketData) ListTickerStatistics(_ context.Context, req *servicesv1.ListTickerStatisticsRequest) (*servicesv1.ListTickerStatisticsResponse, error) {
	wanted := set(req.GetMarketIds())
	latest := map[string]*marketsv1.TickerStatistics{}
	for _, t := range clones(d, func() []*marketsv1.TickerStatistics { return d.s.feeds.tickers },
		func(t *marketsv1.TickerStatistics) bool { return wanted[t.GetMarketId()] }) {
		if req.GetWindow() != nil && !proto.Equal(req.GetWindow(), t.GetWindow()) {
			continue
		}
		if req.GetWindow() == nil && t.GetWindow().GetSeconds() != 86400 {
			continue
		}
		if best, ok := latest[t.GetMarketId()]; !ok || micros(t.GetReceiveTime()) > micros(best.GetReceiveTime()) {
			latest[t.GetMarketId()] = t
		}
	}
	resp := &servicesv1.ListTickerStatisticsResponse{}
	for _, id := range req.GetMarketIds() {
		if t, ok := latest[id]; ok {
			dropSource(t, req.GetIncludeSourceRecords())
			resp.TickerStatistics = append(resp.TickerStatistics, t)
		}
	}
	return resp, nil
}

// --- option greeks ------------------------------------------------------------------------------------

func (d *marketData) greeksOf(markets map[string]bool, source string) []*marketsv1.OptionGreeks {
	found := clones(d, func() []*marketsv1.OptionGreeks { return d.s.feeds.greeks },
		func(g *marketsv1.OptionGreeks) bool {
			return markets[g.GetMarketId()] && (source == "" || g.GetSource() == source)
		})
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if micros(a.GetReceiveTime()) != micros(b.GetReceiveTime()) {
			return micros(a.GetReceiveTime()) < micros(b.GetReceiveTime())
		}
		return a.GetMarketId() < b.GetMarketId()
	})
	return found
}

func (d *marketData) GetOptionGreeks(_ context.Context, req *servicesv1.GetOptionGreeksRequest) (*servicesv1.GetOptionGreeksResponse, error) {
	found := d.greeksOf(set([]string{req.GetMarketId()}), req.GetSource())
	if len(found) == 0 {
		return nil, d.missing(req.GetMarketId(), "option greeks", map[string]string{})
	}
	return &servicesv1.GetOptionGreeksResponse{OptionGreeks: found[len(found)-1]}, nil
}

func (d *marketData) StreamOptionGreeks(req *servicesv1.StreamOptionGreeksRequest, stream servicesv1.MarketData_StreamOptionGreeksServer) error {
	if err := d.unknownMarket(req.GetMarketIds()...); err != nil {
		return err
	}
	found := d.greeksOf(set(req.GetMarketIds()), "")
	start, err := mdResumePosition("greeks", req.ResumeToken, len(found))
	if err != nil {
		return err
	}
	if start == 0 && len(found) == 0 {
		return stream.Send(&servicesv1.StreamOptionGreeksResponse{ResumeToken: mdResumeToken("greeks", 0), SnapshotComplete: true})
	}
	for i := start; i < len(found); i++ {
		msg := &servicesv1.StreamOptionGreeksResponse{OptionGreeks: found[i], ResumeToken: mdResumeToken("greeks", i+1),
			SnapshotComplete: start == 0 && i == len(found)-1}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// --- asset market data --------------------------------------------------------------------------------

// assetDataSorted is every seeded summary kept by keep, ordered by rank (unranked last), asset, source,
// newest first.
func (d *marketData) assetDataSorted(keep func(*marketsv1.AssetMarketData) bool) []*marketsv1.AssetMarketData {
	found := clones(d, func() []*marketsv1.AssetMarketData { return d.s.feeds.assetData }, keep)
	rank := func(a *marketsv1.AssetMarketData) uint64 {
		if a.MarketCapRank == nil {
			return 1 << 32
		}
		return uint64(a.GetMarketCapRank())
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		switch {
		case rank(a) != rank(b):
			return rank(a) < rank(b)
		case a.GetAssetId() != b.GetAssetId():
			return a.GetAssetId() < b.GetAssetId()
		case a.GetSource() != b.GetSource():
			return a.GetSource() < b.GetSource()
		}
		return micros(a.GetAsOfTime()) > micros(b.GetAsOfTime())
	})
	return found
}

func (d *marketData) GetAssetMarketData(_ context.Context, req *servicesv1.GetAssetMarketDataRequest) (*servicesv1.GetAssetMarketDataResponse, error) {
	found := d.assetDataSorted(func(a *marketsv1.AssetMarketData) bool {
		return a.GetAssetId() == req.GetAssetId() && (req.GetSource() == "" || a.GetSource() == req.GetSource())
	})
	if len(found) == 0 {
		d.s.mu.RLock()
		_, known := d.s.assets.items[req.GetAssetId()]
		d.s.mu.RUnlock()
		if !known {
			return nil, notFound("NOT_FOUND_ASSET", "asset_id", req.GetAssetId())
		}
		return nil, newError(codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"asset_id": req.GetAssetId()},
			"asset %s has no market data from source %q", req.GetAssetId(), req.GetSource())
	}
	newest := found[0]
	for _, a := range found {
		if micros(a.GetAsOfTime()) > micros(newest.GetAsOfTime()) {
			newest = a
		}
	}
	return &servicesv1.GetAssetMarketDataResponse{AssetMarketData: newest}, nil
}

func (d *marketData) ListAssetMarketData(_ context.Context, req *servicesv1.ListAssetMarketDataRequest) (*servicesv1.ListAssetMarketDataResponse, error) {
	assets := set(req.GetAssetIds())
	found := d.assetDataSorted(func(a *marketsv1.AssetMarketData) bool {
		return (len(assets) == 0 || assets[a.GetAssetId()]) && (req.GetSource() == "" || a.GetSource() == req.GetSource())
	})
	seen := map[string]bool{}
	var latest []*marketsv1.AssetMarketData
	for _, a := range found { // newest first within (asset, source): keep the first
		key := a.GetAssetId() + "\x00" + a.GetSource()
		if seen[key] {
			continue
		}
		seen[key] = true
		dropSource(a, req.GetIncludeSourceRecords())
		latest = append(latest, a)
	}
	page, next, err := pageOf(req, latest, req.GetPageSize())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListAssetMarketDataResponse{AssetMarketData: page, NextPageToken: next}, nil
}
