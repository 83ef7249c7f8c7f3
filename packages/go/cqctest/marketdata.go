package cqctest

import (
	"context"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// marketData implements cqc.services.v1.MarketData from the seeded prices, order books and trades.
type marketData struct {
	servicesv1.UnimplementedMarketDataServer
	s *state
}

func (d *marketData) marketKnown(id string) bool {
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	_, ok := d.s.markets.items[id]
	return ok
}

// unknownMarket is NOT_FOUND_MARKET for the first of ids that names no market (the service promises it for
// unknown markets: a stream refuses before any message), nil when every market exists.
func (d *marketData) unknownMarket(ids ...string) error {
	for _, id := range ids {
		if !d.marketKnown(id) {
			return notFound("NOT_FOUND_MARKET", "market_id", id)
		}
	}
	return nil
}

// missing is NOT_FOUND_MARKET for an unknown market, NOT_FOUND_RESOURCE for a known market without data.
func (d *marketData) missing(marketID, what string, metadata map[string]string) error {
	if !d.marketKnown(marketID) {
		return notFound("NOT_FOUND_MARKET", "market_id", marketID)
	}
	metadata["market_id"] = marketID
	return newError(codes.NotFound, "NOT_FOUND_RESOURCE", metadata, "market %s has no %s", marketID, what)
}

func micros(t *timestamppb.Timestamp) int64 {
	if t == nil {
		return 0
	}
	return t.AsTime().UnixMicro()
}

func (d *marketData) GetPrice(_ context.Context, req *servicesv1.GetPriceRequest) (*servicesv1.GetPriceResponse, error) {
	var best *marketsv1.Price
	d.s.mu.RLock()
	for _, p := range d.s.prices {
		if p.GetMarketId() == req.GetMarketId() && p.GetPriceType() == req.GetPriceType() &&
			(best == nil || micros(p.GetReceiveTime()) > micros(best.GetReceiveTime())) {
			best = p
		}
	}
	d.s.mu.RUnlock()
	if best == nil {
		return nil, d.missing(req.GetMarketId(), req.GetPriceType().String()+" price",
			map[string]string{"price_type": req.GetPriceType().String()})
	}
	return &servicesv1.GetPriceResponse{Price: proto.Clone(best).(*marketsv1.Price)}, nil
}

// snapshot is the market's latest seeded snapshot truncated to depth (0: all levels), or nil.
func (d *marketData) snapshot(marketID string, depth uint32) *marketsv1.OrderBook {
	var best *marketsv1.OrderBook
	d.s.mu.RLock()
	for _, b := range d.s.books {
		if b.GetMarketId() == marketID && b.GetIsSnapshot() &&
			(best == nil || micros(b.GetReceiveTime()) > micros(best.GetReceiveTime())) {
			best = b
		}
	}
	d.s.mu.RUnlock()
	if best == nil {
		return nil
	}
	book := proto.Clone(best).(*marketsv1.OrderBook)
	if depth > 0 {
		book.Bids = book.Bids[:min(int(depth), len(book.Bids))]
		book.Asks = book.Asks[:min(int(depth), len(book.Asks))]
	}
	return book
}

func (d *marketData) GetOrderBook(_ context.Context, req *servicesv1.GetOrderBookRequest) (*servicesv1.GetOrderBookResponse, error) {
	book := d.snapshot(req.GetMarketId(), req.GetDepth())
	if book == nil {
		return nil, d.missing(req.GetMarketId(), "order book snapshot", map[string]string{})
	}
	if !req.GetIncludeSourceRecord() {
		book.SourceRecord = nil
	}
	return &servicesv1.GetOrderBookResponse{OrderBook: book}, nil
}

func (d *marketData) StreamOrderBook(req *servicesv1.StreamOrderBookRequest, stream servicesv1.MarketData_StreamOrderBookServer) error {
	if !d.marketKnown(req.GetMarketId()) {
		return notFound("NOT_FOUND_MARKET", "market_id", req.GetMarketId())
	}
	var deltas []*marketsv1.OrderBook
	d.s.mu.RLock()
	for _, b := range d.s.books {
		if b.GetMarketId() == req.GetMarketId() && !b.GetIsSnapshot() {
			deltas = append(deltas, proto.Clone(b).(*marketsv1.OrderBook))
		}
	}
	d.s.mu.RUnlock()
	sort.SliceStable(deltas, func(i, j int) bool { return deltas[i].GetLastUpdateId() < deltas[j].GetLastUpdateId() })
	// Position 0 is the snapshot, position i the i-th delta: a resume replays the deltas after the token.
	start, err := mdResumePosition("book", req.ResumeToken, len(deltas))
	if err != nil {
		return err
	}
	if req.ResumeToken == nil {
		if book := d.snapshot(req.GetMarketId(), req.GetDepth()); book != nil {
			msg := &servicesv1.StreamOrderBookResponse{OrderBook: book, ResumeToken: mdResumeToken("book", 0), SnapshotComplete: true}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
	for i := start; i < len(deltas); i++ {
		delta := deltas[i]
		if depth := int(req.GetDepth()); depth > 0 {
			delta.Bids = delta.Bids[:min(depth, len(delta.Bids))]
			delta.Asks = delta.Asks[:min(depth, len(delta.Asks))]
		}
		if err := stream.Send(&servicesv1.StreamOrderBookResponse{OrderBook: delta, ResumeToken: mdResumeToken("book", i+1)}); err != nil {
			return err
		}
	}
	return nil
}

func (d *marketData) StreamPrices(req *servicesv1.StreamPricesRequest, stream servicesv1.MarketData_StreamPricesServer) error {
	if err := d.unknownMarket(req.GetMarketIds()...); err != nil {
		return err
	}
	markets := set(req.GetMarketIds())
	types := map[marketsv1.PriceType]bool{}
	for _, t := range req.GetPriceTypes() {
		types[t] = true
	}
	var found []*marketsv1.Price
	d.s.mu.RLock()
	for _, p := range d.s.prices {
		if markets[p.GetMarketId()] && types[p.GetPriceType()] {
			found = append(found, proto.Clone(p).(*marketsv1.Price))
		}
	}
	d.s.mu.RUnlock()
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i], found[j]
		if a.GetMarketId() != b.GetMarketId() {
			return a.GetMarketId() < b.GetMarketId()
		}
		if a.GetPriceType() != b.GetPriceType() {
			return a.GetPriceType() < b.GetPriceType()
		}
		return micros(a.GetReceiveTime()) < micros(b.GetReceiveTime())
	})
	start, err := mdResumePosition("prices", req.ResumeToken, len(found))
	if err != nil {
		return err
	}
	if start == 0 && len(found) == 0 {
		return stream.Send(&servicesv1.StreamPricesResponse{ResumeToken: mdResumeToken("prices", 0), SnapshotComplete: true})
	}
	for i := start; i < len(found); i++ {
		msg := &servicesv1.StreamPricesResponse{Price: found[i], IsSnapshot: start == 0, ResumeToken: mdResumeToken("prices", i+1),
			SnapshotComplete: start == 0 && i == len(found)-1}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

func (d *marketData) StreamTrades(req *servicesv1.StreamTradesRequest, stream servicesv1.MarketData_StreamTradesServer) error {
	if err := d.unknownMarket(req.GetMarketIds()...); err != nil {
		return err
	}
	markets := set(req.GetMarketIds())
	var found []*marketsv1.Trade
	d.s.mu.RLock()
	for _, t := range d.s.trades {
		if markets[t.GetMarketId()] {
			found = append(found, proto.Clone(t).(*marketsv1.Trade))
		}
	}
	d.s.mu.RUnlock()
	sort.SliceStable(found, func(i, j int) bool { return micros(found[i].GetEventTime()) < micros(found[j].GetEventTime()) })
	start, err := mdResumePosition("trades", req.ResumeToken, len(found))
	if err != nil {
		return err
	}
	if start == 0 { // trades have no state: the snapshot is empty, the marker says so
		if err := stream.Send(&servicesv1.StreamTradesResponse{ResumeToken: mdResumeToken("trades", 0), SnapshotComplete: true}); err != nil {
			return err
		}
	}
	// The seeded trades play the live feed, each with its position as resume token.
	for i := start; i < len(found); i++ {
		if err := stream.Send(&servicesv1.StreamTradesResponse{Trade: found[i], ResumeToken: mdResumeToken("trades", i+1)}); err != nil {
			return err
		}
	}
	return d.waitLive(stream.Context())
}

// waitLive keeps a live stream with nothing new open until the client goes away, its deadline or the
// server stops.
func (d *marketData) waitLive(ctx context.Context) error {
	// A live feed with nothing new: open until the client goes away, its deadline or the server stops.
	// At a deadline grpc-go's transport resets the stream (RST_STREAM CANCEL), which some clients (e.g.
	// connect-node) may report as CANCELLED when the reset beats their own timer; ending the call with an
	// explicit DEADLINE_EXCEEDED status just before the deadline gives every client the same answer.
	var deadline <-chan time.Time
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		timer := time.NewTimer(left - min(left/10, 50*time.Millisecond))
		defer timer.Stop()
		deadline = timer.C
	}
	select {
	case <-deadline:
		return status.Error(codes.DeadlineExceeded, "deadline reached; the live feed had nothing new")
	case <-ctx.Done():
		return ctx.Err()
	case <-d.s.closing:
		return status.Error(codes.Unavailable, "the reference server is shutting down")
	}
}

func set(values []string) map[string]bool {
	m := make(map[string]bool, len(values))
	for _, v := range values {
		m[v] = true
	}
	return m
}
