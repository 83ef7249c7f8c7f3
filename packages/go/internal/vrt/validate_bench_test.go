package vrt_test

// Benchmarks of validation (issue 11), run by `nox -s bench`:
//   go test -run '^$' -bench 'Validate' ./internal/vrt/
// BenchmarkValidate/<message>/{decode,generated,protovalidate}: binary decode, the generated validator, and
// protovalidate-go, for OrderBook 2x5/2x50/2x500, Order, ExecutionReport and a Portfolio of 10,000 balances.

import (
	"encoding/json"
	"fmt"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"github.com/crypto-quant/cqc/packages/go/internal/vrt"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
)

func example(b *testing.B, key string, into proto.Message) proto.Message {
	return exampleFor(b, key, into)
}

func exampleFor(tb testing.TB, key string, into proto.Message) proto.Message {
	examples, err := corpus.Examples()
	if err != nil {
		tb.Fatal(err)
	}
	data, _ := json.Marshal(examples[key])
	if err := protojson.Unmarshal(data, into); err != nil {
		tb.Fatal(err)
	}
	return into
}

func book(b *testing.B, levels int) proto.Message {
	m := example(b, "cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot", &marketsv1.OrderBook{}).(*marketsv1.OrderBook)
	m.Bids, m.Asks = nil, nil
	for i := 0; i < levels; i++ {
		m.Bids = append(m.Bids, &marketsv1.OrderBookLevel{Price: fmt.Sprintf("%.2f", 40000-float64(i)*0.01), Size: "1.50000000"})
		m.Asks = append(m.Asks, &marketsv1.OrderBookLevel{Price: fmt.Sprintf("%.2f", 40001+float64(i)*0.01), Size: "0.25000000"})
	}
	return m
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func portfolio(b *testing.B, balances int) proto.Message {
	m := example(b, "cqc.portfolio.v1.Portfolio/main-fund", &portfoliov1.Portfolio{}).(*portfoliov1.Portfolio)
	template := m.Balances[0]
	m.Balances = nil
	for i := 0; i < balances; i++ {
		item := proto.Clone(template).(*portfoliov1.PortfolioBalance)
		n, digits := i+1, make([]byte, 26)
		for j := 25; j >= 0; j-- {
			digits[j] = crockford[n%32]
			n /= 32
		}
		item.AssetId = "ast_" + string(digits)
		m.Balances = append(m.Balances, item)
	}
	return m
}

func BenchmarkValidate(b *testing.B) {
	pv, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		build func() proto.Message
	}{
		{"OrderBook-2x5", func() proto.Message { return book(b, 5) }},
		{"OrderBook-2x50", func() proto.Message { return book(b, 50) }},
		{"OrderBook-2x500", func() proto.Message { return book(b, 500) }},
		{"Order", func() proto.Message {
			return example(b, "cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy", newMsg(b, "cqc.venues.v1.Order"))
		}},
		{"ExecutionReport", func() proto.Message {
			return example(b, "cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled", newMsg(b, "cqc.venues.v1.ExecutionReport"))
		}},
		{"Portfolio-10000-balances", func() proto.Message { return portfolio(b, 10000) }},
	}
	for _, c := range cases {
		msg := c.build()
		wire, err := proto.Marshal(msg)
		if err != nil {
			b.Fatal(err)
		}
		if got, _ := verdictGen(msg); got != "[]" {
			b.Fatalf("%s: generated %s", c.name, got)
		}
		b.Run(c.name+"/decode", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m := msg.ProtoReflect().New().Interface()
				if err := proto.Unmarshal(wire, m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/generated", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if got, _ := verdictGen(msg); got != "[]" {
					b.Fatal(got)
				}
			}
		})
		b.Run(c.name+"/protovalidate", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := pv.Validate(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	_ = vrt.Exact
}

func newMsg(b *testing.B, name string) proto.Message {
	m, err := newMessage(name)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
