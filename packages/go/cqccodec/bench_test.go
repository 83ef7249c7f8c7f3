package cqccodec_test

// Benchmarks of the fast codec (issue 11), run by `nox -s bench`:
//
//	go test -run '^$' -bench . -benchtime 200ms -count 3 ./cqccodec/
//
// BenchmarkCodec/<message>/<decode|encode>/<protobuf-go|fast|fast-grpc>: proto.Unmarshal / proto.Marshal
// against cqccodec.Unmarshal / cqccodec.Marshal on the same bytes and message, and the gRPC codec's decoder
// (fast-grpc: one copy of the frame shared by the strings), for OrderBook 2x5, 2x50, 2x500 (the
// Binance snapshot example with generated levels, as internal/vrt's benchmarks), Order, ExecutionReport,
// Trade and Price.
// BenchmarkStream/<book>/<bytes|shipped|fast|fast-reuse>: a real gRPC server on 127.0.0.1 (TCP) streams
// StreamOrderBook responses to a Go client: "shipped" with gRPC's default codec at both ends, "fast" with
// cqccodec at both ends (the generated stream.Recv, a new message each time), "fast-reuse" the same with
// the client receiving into one message (cqccodec.NewReceiver), "bytes" the same frames pre-encoded and
// received as raw []byte (the ceiling). ns/op is per message; MB/s counts the frames' bytes.
// fast-reuse in BenchmarkCodec is the gRPC codec decoding into one message with cqccodec.Reuse.
// BenchmarkZSummary (runs last) prints both tables with the ratios: protobuf-go/fast time (>1: the fast path
// is faster) and each stream's messages/s over the bytes-only stream's. Numbers only: nothing asserts time.

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/cqccodec"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

// benchSink keeps the compiler from discarding results.
var benchSink any

// results holds the best ns/op of every sub-benchmark, by name, for BenchmarkZSummary.
var results = struct {
	sync.Mutex
	ns    map[string]float64
	order []string
}{ns: map[string]float64{}}

func record(b *testing.B) {
	if b.N < 2 {
		return
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	results.Lock()
	defer results.Unlock()
	name := b.Name()
	if old, ok := results.ns[name]; !ok || ns < old {
		if !ok {
			results.order = append(results.order, name)
		}
		results.ns[name] = ns
	}
}

func loadExample(tb testing.TB, typeName, name string, into proto.Message) proto.Message {
	tb.Helper()
	text, err := os.ReadFile(filepath.Join(corpus.Testdata(), "examples", typeName, name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := protojson.Unmarshal(text, into); err != nil {
		tb.Fatal(err)
	}
	return into
}

// benchBook is the Binance snapshot example with `levels` generated levels per side.
func benchBook(tb testing.TB, levels int) *marketsv1.OrderBook {
	m := loadExample(tb, "cqc.markets.v1.OrderBook", "binance-btcusdt-spot-l2-snapshot", &marketsv1.OrderBook{}).(*marketsv1.OrderBook)
	m.Bids, m.Asks = nil, nil
	for i := 0; i < levels; i++ {
		m.Bids = append(m.Bids, &marketsv1.OrderBookLevel{Price: fmt.Sprintf("%.2f", 40000-float64(i)*0.01), Size: "1.50000000"})
		m.Asks = append(m.Asks, &marketsv1.OrderBookLevel{Price: fmt.Sprintf("%.2f", 40001+float64(i)*0.01), Size: "0.25000000"})
	}
	return m
}

type benchCase struct {
	name  string
	build func(testing.TB) proto.Message
}

var codecCases = []benchCase{
	{"OrderBook-2x5", func(tb testing.TB) proto.Message { return benchBook(tb, 5) }},
	{"OrderBook-2x50", func(tb testing.TB) proto.Message { return benchBook(tb, 50) }},
	{"OrderBook-2x500", func(tb testing.TB) proto.Message { return benchBook(tb, 500) }},
	{"Order", func(tb testing.TB) proto.Message {
		return loadExample(tb, "cqc.venues.v1.Order", "binance-btcusdt-limit-gtc-buy", &venuesv1.Order{})
	}},
	{"ExecutionReport", func(tb testing.TB) proto.Message {
		return loadExample(tb, "cqc.venues.v1.ExecutionReport", "binance-spot-ethusdt-trade-filled", &venuesv1.ExecutionReport{})
	}},
	{"Trade", func(tb testing.TB) proto.Message {
		return loadExample(tb, "cqc.markets.v1.Trade", "binance-btcusdt-spot-trade", &marketsv1.Trade{})
	}},
	{"Price", func(tb testing.TB) proto.Message {
		return loadExample(tb, "cqc.markets.v1.Price", "binance-btcusdt-perp-mark", &marketsv1.Price{})
	}},
}

// grpcCodec is the gRPC codec: its decoder copies the frame once and lets the strings share the copy.
var grpcCodec = cqccodec.NewCodec()

func BenchmarkCodec(b *testing.B) {
	for _, c := range codecCases {
		msg := c.build(b)
		if _, ok := msg.(cqccodec.Message); !ok {
			b.Fatalf("%s has no vtprotobuf methods", c.name)
		}
		wire, err := proto.Marshal(msg)
		if err != nil {
			b.Fatal(err)
		}
		decoders := []struct {
			name string
			fn   func([]byte, proto.Message) error
		}{{"protobuf-go", proto.Unmarshal}, {"fast", cqccodec.Unmarshal}, {"fast-grpc", func(b []byte, m proto.Message) error {
			return grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, m)
		}}}
		b.Run(c.name+"/decode/fast-reuse", func(b *testing.B) {
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			m := msg.ProtoReflect().New().Interface()
			target := cqccodec.Reuse(m)
			for i := 0; i < b.N; i++ {
				if err := grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, target); err != nil {
					b.Fatal(err)
				}
			}
			benchSink = m
			record(b)
		})
		for _, d := range decoders {
			b.Run(c.name+"/decode/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(wire)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					m := msg.ProtoReflect().New().Interface()
					if err := d.fn(wire, m); err != nil {
						b.Fatal(err)
					}
					benchSink = m
				}
				record(b)
			})
		}
		encoders := []struct {
			name string
			fn   func(proto.Message) ([]byte, error)
		}{{"protobuf-go", proto.Marshal}, {"fast", cqccodec.Marshal}}
		for _, e := range encoders {
			b.Run(c.name+"/encode/"+e.name, func(b *testing.B) {
				b.SetBytes(int64(len(wire)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					out, err := e.fn(msg)
					if err != nil {
						b.Fatal(err)
					}
					benchSink = out
				}
				record(b)
			})
		}
	}
}

// rawCodec passes []byte frames through: the bytes-only ceiling of a stream.
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

// countKey is the metadata key through which the client asks for a number of messages.
const countKey = "x-bench-count"

func requestedCount(ctx context.Context) int {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(countKey); len(v) == 1 {
		n, _ := strconv.Atoi(v[0])
		return n
	}
	return 0
}

type bookServer struct {
	servicesv1.UnimplementedMarketDataServer
	resp *servicesv1.StreamOrderBookResponse
}

func (s *bookServer) StreamOrderBook(_ *servicesv1.StreamOrderBookRequest, stream grpc.ServerStreamingServer[servicesv1.StreamOrderBookResponse]) error {
	for i, n := 0, requestedCount(stream.Context()); i < n; i++ {
		if err := stream.Send(s.resp); err != nil {
			return err
		}
	}
	return nil
}

var rawDesc = grpc.ServiceDesc{
	ServiceName: "cqc.bench.Raw",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "Stream", ServerStreams: true, Handler: func(srv any, stream grpc.ServerStream) error {
		frame := srv.([]byte)
		var req []byte
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		for i, n := 0, requestedCount(stream.Context()); i < n; i++ {
			if err := stream.SendMsg(frame); err != nil {
				return err
			}
		}
		return nil
	}}},
}

// serve starts srv on a loopback TCP port and returns a client connection to it.
func serve(b testing.TB, srv *grpc.Server, dial ...grpc.DialOption) *grpc.ClientConn {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// frameSizes is the encoded size of each stream's StreamOrderBookResponse, by book.
var frameSizes = map[string]int{}

func BenchmarkStream(b *testing.B) {
	for _, levels := range []int{5, 50, 500} {
		resp := &servicesv1.StreamOrderBookResponse{OrderBook: benchBook(b, levels), ResumeToken: "bench-resume-token-0001"}
		frame, err := proto.Marshal(resp)
		if err != nil {
			b.Fatal(err)
		}
		book := fmt.Sprintf("OrderBook-2x%d", levels)
		frameSizes[book] = len(frame)
		b.Run(book+"/bytes", func(b *testing.B) {
			srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}))
			srv.RegisterService(&rawDesc, frame)
			conn := serve(b, srv)
			desc := &rawDesc.Streams[0]
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			ctx := metadata.AppendToOutgoingContext(context.Background(), countKey, strconv.Itoa(b.N))
			stream, err := conn.NewStream(ctx, desc, "/cqc.bench.Raw/Stream", grpc.ForceCodecV2(rawCodec{}))
			if err != nil {
				b.Fatal(err)
			}
			if err := stream.SendMsg([]byte{}); err != nil {
				b.Fatal(err)
			}
			if err := stream.CloseSend(); err != nil {
				b.Fatal(err)
			}
			received := 0
			for {
				var got []byte
				if err := stream.RecvMsg(&got); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
				if len(got) != len(frame) {
					b.Fatalf("frame of %d bytes, want %d", len(got), len(frame))
				}
				received++
			}
			if received != b.N {
				b.Fatalf("received %d of %d", received, b.N)
			}
			record(b)
		})
		for _, codec := range []string{"shipped", "fast", "fast-reuse"} {
			b.Run(book+"/"+codec, func(b *testing.B) {
				var serverOpts []grpc.ServerOption
				var dialOpts []grpc.DialOption
				if codec != "shipped" {
					serverOpts = append(serverOpts, cqccodec.ServerOption())
					dialOpts = append(dialOpts, cqccodec.DialOption())
				}
				srv := grpc.NewServer(serverOpts...)
				servicesv1.RegisterMarketDataServer(srv, &bookServer{resp: resp})
				client := servicesv1.NewMarketDataClient(serve(b, srv, dialOpts...))
				b.SetBytes(int64(len(frame)))
				b.ResetTimer()
				ctx := metadata.AppendToOutgoingContext(context.Background(), countKey, strconv.Itoa(b.N))
				stream, err := client.StreamOrderBook(ctx, &servicesv1.StreamOrderBookRequest{})
				if err != nil {
					b.Fatal(err)
				}
				recv := stream.Recv
				if codec == "fast-reuse" {
					recv = cqccodec.NewReceiver(stream, &servicesv1.StreamOrderBookResponse{}).Recv
				}
				received := 0
				for {
					got, err := recv()
					if err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
					if len(got.GetOrderBook().GetBids()) != levels {
						b.Fatalf("%d bids, want %d", len(got.GetOrderBook().GetBids()), levels)
					}
					received++
				}
				if received != b.N {
					b.Fatalf("received %d of %d", received, b.N)
				}
				record(b)
			})
		}
	}
}

var summaryOnce sync.Once

// BenchmarkZSummary prints the tables of ratios from the best run of each benchmark above (it runs last:
// benchmarks run in source order).
func BenchmarkZSummary(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchSink = i
	}
	summaryOnce.Do(func() {
		results.Lock()
		defer results.Unlock()
		ns := func(name string) float64 {
			if v, ok := results.ns[name]; ok {
				return v
			}
			return math.NaN()
		}
		var out strings.Builder
		fmt.Fprintf(&out, "\ngo fast codec (ns/op; ratio = protobuf-go / fast, >1: fast is faster)\n")
		fmt.Fprintf(&out, "%-18s %12s %12s %7s %12s %7s %12s %7s %12s %12s %7s\n", "message", "decode pbgo", "decode fast", "ratio",
			"fast (gRPC)", "ratio", "gRPC reuse", "ratio", "encode pbgo", "encode fast", "ratio")
		for _, c := range codecCases {
			p := "BenchmarkCodec/" + c.name
			dp, df := ns(p+"/decode/protobuf-go"), ns(p+"/decode/fast")
			ep, ef := ns(p+"/encode/protobuf-go"), ns(p+"/encode/fast")
			if math.IsNaN(dp) && math.IsNaN(ep) {
				continue
			}
			dg, dr := ns(p+"/decode/fast-grpc"), ns(p+"/decode/fast-reuse")
			fmt.Fprintf(&out, "%-18s %12.0f %12.0f %6.2fx %12.0f %6.2fx %12.0f %6.2fx %12.0f %12.0f %6.2fx\n", c.name, dp, df, dp/df, dg, dp/dg, dr, dp/dr, ep, ef, ep/ef)
		}
		var books []string
		for _, name := range results.order {
			if rest, ok := strings.CutPrefix(name, "BenchmarkStream/"); ok && strings.HasSuffix(rest, "/bytes") {
				books = append(books, strings.TrimSuffix(rest, "/bytes"))
			}
		}
		sort.Strings(books)
		if len(books) > 0 {
			fmt.Fprintf(&out, "\ngo stream over TCP 127.0.0.1 (messages/s, MB/s of frames; ratio = codec / bytes-only stream of the same frames)\n")
			fmt.Fprintf(&out, "%-18s %6s %16s %22s %22s %22s\n", "stream", "bytes", "bytes-only", "shipped", "fast", "fast + reuse")
			for _, book := range books {
				p := "BenchmarkStream/" + book
				size := frameSizes[book]
				raw := 1e9 / ns(p+"/bytes")
				fmt.Fprintf(&out, "%-18s %6d %8.0f %7.1f", book, size, raw, raw*float64(size)/1e6)
				for _, codec := range []string{"shipped", "fast", "fast-reuse"} {
					rate := 1e9 / ns(p+"/"+codec)
					fmt.Fprintf(&out, " %8.0f %6.1f %5.2fx", rate, rate*float64(size)/1e6, rate/raw)
				}
				fmt.Fprintln(&out)
			}
		}
		fmt.Print(out.String())
	})
}
