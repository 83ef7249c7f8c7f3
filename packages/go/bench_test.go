package cqc_test

// Benchmarks of CQC messages in Go: binary and canonical JSON encode/decode and protovalidate validation, on
// the same examples as tools/bench/bench_python.py and packages/typescript/test/bench.ts. They print numbers
// and assert nothing about time; run them with `nox -s bench` (docs/BENCHMARKS.md) or
// `go test -run '^$' -bench . -benchmem`. Each reports ns/op, B/op, allocs/op and ops/s; the encode
// benchmarks also report the encoded size (wire-B, json-B: JSON without insignificant whitespace).

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// benchMessages is the same list as in the Python and TypeScript benchmarks: "<type>/<example>".
var benchMessages = []string{
	"cqc.markets.v1.Market/binance-spot-btcusdt",
	"cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy",
	"cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled",
	"cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot",
	"cqc.events.v1.Event/asset-created-usdc",
}

// sink keeps the compiler from discarding the benchmarked calls' results.
var sink any

func loadBenchExample(b *testing.B, key string) (protoreflect.MessageType, proto.Message) {
	b.Helper()
	typeName, example, _ := strings.Cut(key, "/")
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		b.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(corpus.Testdata(), "examples", typeName, example+".json"))
	if err != nil {
		b.Fatal(err)
	}
	msg := mt.New().Interface()
	if err := protojson.Unmarshal(text, msg); err != nil {
		b.Fatalf("%s: %v", key, err)
	}
	if err := cqc.Validate(msg); err != nil { // the examples are valid: the error path is not what we measure
		b.Fatalf("%s: %v", key, err)
	}
	return mt, msg
}

func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

func BenchmarkCodec(b *testing.B) {
	for _, key := range benchMessages {
		b.Run(key, func(b *testing.B) {
			mt, msg := loadBenchExample(b, key)
			wire, err := proto.Marshal(msg)
			if err != nil {
				b.Fatal(err)
			}
			text, err := protojson.Marshal(msg)
			if err != nil {
				b.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, text); err != nil { // protojson may add random spaces
				b.Fatal(err)
			}

			b.Run("binary-encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					out, err := proto.Marshal(msg)
					if err != nil {
						b.Fatal(err)
					}
					sink = out
				}
				reportOps(b)
				b.ReportMetric(float64(len(wire)), "wire-B")
			})
			b.Run("binary-decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					out := mt.New().Interface()
					if err := proto.Unmarshal(wire, out); err != nil {
						b.Fatal(err)
					}
					sink = out
				}
				reportOps(b)
			})
			b.Run("json-encode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					out, err := protojson.Marshal(msg)
					if err != nil {
						b.Fatal(err)
					}
					sink = out
				}
				reportOps(b)
				b.ReportMetric(float64(compact.Len()), "json-B")
			})
			b.Run("json-decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					out := mt.New().Interface()
					if err := protojson.Unmarshal(text, out); err != nil {
						b.Fatal(err)
					}
					sink = out
				}
				reportOps(b)
			})
			b.Run("validate", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := cqc.Validate(msg); err != nil {
						b.Fatal(err)
					}
				}
				reportOps(b)
			})
		})
	}
}
