package cqccodec_test

// The fast codec against protobuf-go: the same verdict and an equal message on every example and
// conformance case of the repository and on seeded mutations of them, invalid UTF-8 in every string field
// of every fast message, over-long varints and field numbers, wrong wire types and unknown fields.

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/crypto-quant/cqc/packages/go/cqccodec"
	"github.com/crypto-quant/cqc/packages/go/cqctest"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

// fastTypes are the registered message types with vtprotobuf methods, by full name.
func fastTypes(t *testing.T) map[protoreflect.FullName]protoreflect.MessageType {
	t.Helper()
	found := map[protoreflect.FullName]protoreflect.MessageType{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if _, ok := mt.New().Interface().(cqccodec.Message); ok {
			found[mt.Descriptor().FullName()] = mt
		}
		return true
	})
	for _, name := range []protoreflect.FullName{
		"cqc.markets.v1.OrderBook", "cqc.markets.v1.Trade", "cqc.markets.v1.Price", "cqc.venues.v1.Order",
		"cqc.venues.v1.ExecutionReport", "cqc.services.v1.StreamOrderBookResponse",
		"cqc.services.v1.StreamTradesResponse", "cqc.services.v1.StreamPricesResponse",
		"cqc.services.v1.StreamExecutionReportsResponse",
	} {
		if found[name] == nil {
			t.Errorf("%s has no vtprotobuf methods", name)
		}
	}
	return found
}

// binaryInput is the case's wire format: its binary input, or its JSON input re-encoded by protobuf-go.
func binaryInput(c corpus.Case, mt protoreflect.MessageType) ([]byte, bool) {
	if c.Binary != nil {
		return c.Binary, true
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(c.JSON, m); err != nil {
		return nil, false
	}
	b, err := proto.Marshal(m)
	return b, err == nil
}

// agree decodes b with protobuf-go and the fast codec and fails unless both reject it or both give equal
// messages; then the fast encoding must have proto.Size's length and decode (protobuf-go) to the same message.
func agree(t *testing.T, label string, mt protoreflect.MessageType, b []byte) (accepted bool) {
	t.Helper()
	want := mt.New().Interface()
	wantErr := proto.Unmarshal(b, want)
	got := mt.New().Interface()
	gotErr := cqccodec.Unmarshal(b, got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Errorf("%s: protobuf-go error %v, fast codec error %v (input %x)", label, wantErr, gotErr, b)
		return false
	}
	// The gRPC codec's decoder (UnmarshalVTUnsafe: strings share a copy of the frame) agrees as well.
	viaGRPC := mt.New().Interface()
	grpcErr := grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, viaGRPC)
	if (wantErr == nil) != (grpcErr == nil) {
		t.Errorf("%s: protobuf-go error %v, gRPC codec error %v (input %x)", label, wantErr, grpcErr, b)
		return false
	}
	if wantErr != nil {
		return false
	}
	if !proto.Equal(want, got) {
		t.Errorf("%s: decoded messages differ (input %x)", label, b)
		return true
	}
	if !proto.Equal(want, viaGRPC) {
		t.Errorf("%s: the gRPC codec decoded another message (input %x)", label, b)
		return true
	}
	encoded, err := cqccodec.Marshal(got)
	if err != nil {
		t.Errorf("%s: fast encode: %v", label, err)
		return true
	}
	if len(encoded) != proto.Size(want) {
		t.Errorf("%s: fast encoding is %d bytes, proto.Size %d", label, len(encoded), proto.Size(want))
	}
	again := mt.New().Interface()
	if err := proto.Unmarshal(encoded, again); err != nil || !proto.Equal(want, again) {
		t.Errorf("%s: the fast encoding does not decode to the same message (%v)", label, err)
	}
	return true
}

// mutationsPerCase is 6 in `go test` (under a second); CQCCODEC_MUTATIONS=200 (and CQCCODEC_SEED=n, default
// 11) runs a longer search.
var mutationsPerCase = func() int {
	if n, err := strconv.Atoi(os.Getenv("CQCCODEC_MUTATIONS")); err == nil && n > 0 {
		return n
	}
	return 6
}()

// forEachInput calls fn on the binary input of every corpus case of a fast message type and on
// mutationsPerCase seeded mutations of each (mutated is true for those), in a fixed order.
func forEachInput(t *testing.T, fast map[protoreflect.FullName]protoreflect.MessageType, fn func(label string, mt protoreflect.MessageType, b []byte, mutated bool)) (checked int) {
	t.Helper()
	cases, err := corpus.Cases()
	if err != nil {
		t.Fatal(err)
	}
	seed := int64(11)
	if n, err := strconv.ParseInt(os.Getenv("CQCCODEC_SEED"), 10, 64); err == nil {
		seed = n
	}
	rng := rand.New(rand.NewSource(seed))
	for _, c := range cases {
		mt := fast[protoreflect.FullName(c.Type)]
		if mt == nil {
			continue
		}
		b, ok := binaryInput(c, mt)
		if !ok {
			continue
		}
		checked++
		fn(c.Name, mt, b, false)
		// Seeded mutations: a flipped byte, a truncation, an inserted byte (the corpus is mostly valid input).
		for i := 0; i < mutationsPerCase && len(b) > 0; i++ {
			m := append([]byte(nil), b...)
			switch i % 3 {
			case 0:
				m[rng.Intn(len(m))] ^= byte(1 << rng.Intn(8))
			case 1:
				m = m[:rng.Intn(len(m))]
			case 2:
				at := rng.Intn(len(m) + 1)
				m = append(m[:at], append([]byte{byte(rng.Intn(256))}, m[at:]...)...)
			}
			fn(c.Name+" (mutated)", mt, m, true)
		}
	}
	if checked < 100 {
		t.Fatalf("only %d corpus cases of fast message types: the corpus reader or the type set changed", checked)
	}
	return checked
}

func TestCorpusAgreesWithProtobufGo(t *testing.T) {
	fast := fastTypes(t)
	mutated, accepted := 0, 0
	checked := forEachInput(t, fast, func(label string, mt protoreflect.MessageType, b []byte, isMutation bool) {
		ok := agree(t, label, mt, b)
		if isMutation {
			mutated++
			if ok {
				accepted++
			}
		}
	})
	t.Logf("%d corpus cases and %d mutations (%d accepted) of %d fast message types agree", checked, mutated, accepted, len(fast))
}

// TestInvalidUTF8Rejected puts "\xff" into every string field (singular, repeated, oneof, map key and value)
// of every fast message type: protobuf-go and the fast codec must both reject it, and accept valid text.
func TestInvalidUTF8Rejected(t *testing.T) {
	fast := fastTypes(t)
	names := make([]string, 0, len(fast))
	for name := range fast {
		names = append(names, string(name))
	}
	sort.Strings(names)
	fields := 0
	for _, name := range names {
		mt := fast[protoreflect.FullName(name)]
		descriptorFields := mt.Descriptor().Fields()
		for i := 0; i < descriptorFields.Len(); i++ {
			fd := descriptorFields.Get(i)
			for _, text := range []string{"\xff", "ok \u00e9"} {
				var b []byte
				switch {
				case fd.IsMap():
					for _, side := range []protoreflect.FieldDescriptor{fd.MapKey(), fd.MapValue()} {
						if side.Kind() != protoreflect.StringKind {
							continue
						}
						entry := protowire.AppendTag(nil, side.Number(), protowire.BytesType)
						entry = protowire.AppendString(entry, text)
						b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
						b = protowire.AppendBytes(b, entry)
					}
				case fd.Kind() == protoreflect.StringKind:
					b = protowire.AppendTag(nil, fd.Number(), protowire.BytesType)
					b = protowire.AppendString(b, text)
				}
				if b == nil {
					continue
				}
				accepted := agree(t, name+"."+string(fd.Name())+" = "+text, mt, b)
				// proto2 strings (cqc/types/v1/rules.proto) are not checked by protobuf-go either.
				if text == "\xff" && accepted && fd.ParentFile().Syntax() == protoreflect.Proto3 {
					t.Errorf("%s.%s: invalid UTF-8 accepted", name, fd.Name())
				}
				if text != "\xff" {
					fields++
					if !accepted {
						t.Errorf("%s.%s: valid UTF-8 rejected", name, fd.Name())
					}
				}
			}
		}
	}
	// Nested: the price of a level inside a book.
	level := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff")
	book := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), level)
	mt := fast["cqc.markets.v1.OrderBook"]
	if agree(t, "OrderBook.bids[0] invalid UTF-8", mt, book) {
		t.Error("nested invalid UTF-8 accepted")
	}
	if fields < 200 {
		t.Fatalf("only %d string fields checked", fields)
	}
	t.Logf("%d string fields of %d fast message types checked", fields, len(fast))
}

func TestWireEdgeCases(t *testing.T) {
	mt := protoregistry.GlobalTypes.FindMessageByName
	bookType, err := mt("cqc.markets.v1.OrderBook")
	if err != nil {
		t.Fatal(err)
	}
	book := example(t)
	valid, err := proto.Marshal(book)
	if err != nil {
		t.Fatal(err)
	}
	overflow := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02} // 10th byte > 1
	maxVarint := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tag := func(num uint64, typ protowire.Type) []byte { return protowire.AppendVarint(nil, num<<3|uint64(typ)) }
	for _, c := range []struct {
		name   string
		input  []byte
		accept bool
	}{
		{"unknown varint field", cat(valid, tag(999, protowire.VarintType), []byte{0x05}), true},
		{"unknown varint of 64 bits", cat(valid, tag(999, protowire.VarintType), maxVarint), true},
		{"unknown varint over 64 bits", cat(valid, tag(999, protowire.VarintType), overflow), false},
		{"unknown group", cat(valid, tag(999, protowire.StartGroupType), tag(1, protowire.VarintType), []byte{1}, tag(999, protowire.EndGroupType)), true},
		{"unknown group with another end", cat(valid, tag(999, protowire.StartGroupType), tag(998, protowire.EndGroupType)), false},
		{"reserved wire type 6", cat(valid, tag(999, 6), []byte{0}), false},
		{"field number 2^29-1", cat(valid, tag(1<<29-1, protowire.VarintType), []byte{1}), true},
		{"field number 2^29", cat(valid, tag(1<<29, protowire.VarintType), []byte{1}), false},
		{"field number 2^32+1 (aliases field 1 in int32)", cat(valid, tag(1<<32+1, protowire.BytesType), []byte{1, 'x'}), false},
		{"field number 0", cat(valid, tag(0, protowire.VarintType), []byte{1}), false},
		{"known string field as varint (kept unknown)", cat(valid, tag(1, protowire.VarintType), []byte{7}), true},
		{"known enum field as bytes (kept unknown)", cat(valid, tag(2, protowire.BytesType), []byte{1, 1}), true},
		{"truncated length", cat(valid, tag(1, protowire.BytesType), []byte{5, 'a'}), false},
		{"end group at top level", cat(valid, tag(3, protowire.EndGroupType)), false},
	} {
		accepted := agree(t, c.name, bookType, c.input)
		if accepted != c.accept {
			t.Errorf("%s: accepted %v, want %v", c.name, accepted, c.accept)
		}
	}
	// Unknown fields survive a fast decode and encode, at the end of the message.
	input := cat(valid, tag(999, protowire.BytesType), protowire.AppendString(nil, "future"))
	var got marketsv1.OrderBook
	if err := cqccodec.Unmarshal(input, &got); err != nil {
		t.Fatal(err)
	}
	if unknown := got.ProtoReflect().GetUnknown(); !bytes.HasSuffix(input, unknown) || len(unknown) == 0 {
		t.Fatalf("unknown fields %x, want the suffix of %x", unknown, input)
	}
	encoded, err := cqccodec.Marshal(&got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(encoded, got.ProtoReflect().GetUnknown()) {
		t.Error("the fast encoding dropped or moved the unknown fields")
	}
	// Unmarshal replaces the message's content, as proto.Unmarshal does.
	if err := cqccodec.Unmarshal(valid, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, book) {
		t.Error("Unmarshal merged into the previous content")
	}
}

func example(t *testing.T) *marketsv1.OrderBook {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(corpus.Testdata(), "examples", "cqc.markets.v1.OrderBook", "binance-btcusdt-spot-l2-snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	var book marketsv1.OrderBook
	if err := protojson.Unmarshal(text, &book); err != nil {
		t.Fatal(err)
	}
	return &book
}

func TestGRPCAndConnectCodecs(t *testing.T) {
	book := example(t)
	want, err := proto.Marshal(book)
	if err != nil {
		t.Fatal(err)
	}
	codec := cqccodec.NewCodec()
	if codec.Name() != "proto" || (cqccodec.ConnectCodec{}).Name() != "proto" {
		t.Fatal("the codecs must be named proto")
	}
	// Large enough for gRPC's pooled buffers, and a small one.
	big := proto.Clone(book).(*marketsv1.OrderBook)
	for i := 0; i < 200; i++ {
		big.Bids = append(big.Bids, proto.Clone(book.Bids[0]).(*marketsv1.OrderBookLevel))
	}
	for _, m := range []*marketsv1.OrderBook{book, big} {
		data, err := codec.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var got marketsv1.OrderBook
		if err := codec.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, m) {
			t.Error("gRPC codec round trip differs")
		}
		data.Free()
		prefix := []byte("prefix")
		appended, err := cqccodec.ConnectCodec{}.MarshalAppend(prefix, m)
		if err != nil || !bytes.HasPrefix(appended, prefix) {
			t.Fatalf("MarshalAppend: %v", err)
		}
		got.Reset()
		if err := (cqccodec.ConnectCodec{}).Unmarshal(appended[len(prefix):], &got); err != nil || !proto.Equal(&got, m) {
			t.Errorf("connect codec round trip: %v", err)
		}
	}
	// Messages without vtprotobuf methods go through protobuf-go.
	ts, err := protoregistry.GlobalTypes.FindMessageByName("google.protobuf.Timestamp")
	if err != nil {
		t.Fatal(err)
	}
	plain := ts.New()
	plain.Set(ts.Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(42))
	data, err := codec.Marshal(plain.Interface())
	if err != nil {
		t.Fatal(err)
	}
	back := ts.New().Interface()
	if err := codec.Unmarshal(data, back); err != nil || !proto.Equal(back, plain.Interface()) {
		t.Errorf("fallback round trip: %v", err)
	}
	if _, err := codec.Marshal("not a message"); err == nil {
		t.Error("marshalling a string must fail")
	}
	if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(want)}, new(int)); err == nil {
		t.Error("unmarshalling into an int must fail")
	}
}

// TestGRPCCodecBytesAreCapped: the gRPC codec's bytes fields alias the frame, but appending to one must not
// overwrite the fields encoded after it.
func TestGRPCCodecBytesAreCapped(t *testing.T) {
	book := example(t)
	book.SourceRecord = &typesv1.SourceRecord{Source: "binance", RawBytes: []byte("raw")}
	resp := &servicesv1.StreamOrderBookResponse{OrderBook: book, ResumeToken: "resume-after-raw-bytes"}
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var got servicesv1.StreamOrderBookResponse
	if err := grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
		t.Fatal(err)
	}
	raw := got.GetOrderBook().GetSourceRecord().GetRawBytes()
	if cap(raw) != len(raw) {
		t.Fatalf("raw_bytes has capacity %d beyond its %d bytes", cap(raw), len(raw))
	}
	_ = append(raw, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	if !proto.Equal(&got, resp) {
		t.Error("appending to a decoded bytes field changed the message")
	}
}

// TestVTProtoPinnedOnce: the runtime packages/go requires is the version tools/gogen generates with.
func TestVTProtoPinnedOnce(t *testing.T) {
	version := regexp.MustCompile(`(?m)^\s*(?:require\s+)?github\.com/planetscale/vtprotobuf (\S+)`)
	read := func(path string) string {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%s: %v (outside the repository)", path, err)
		}
		m := version.FindStringSubmatch(string(raw))
		if m == nil {
			t.Fatalf("%s does not require github.com/planetscale/vtprotobuf", path)
		}
		return m[1]
	}
	runtime, generator := read(filepath.Join("..", "go.mod")), read(filepath.Join("..", "..", "..", "tools", "gogen", "go.mod"))
	if runtime != generator {
		t.Errorf("packages/go requires vtprotobuf %s, tools/gogen generates with %s: keep them equal", runtime, generator)
	}
}

// TestReferenceServerOverFastCodec: the Go reference server with the fast codec answers a fast client and a
// client with gRPC's default codec alike (unary, server stream, and an INVALID_ARGUMENT with its details).
func TestReferenceServerOverFastCodec(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := cqctest.Start(ctx, cqctest.Options{ServerOptions: []grpc.ServerOption{cqccodec.ServerOption()}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	dial := func(opts ...grpc.DialOption) servicesv1.MarketDataClient {
		conn, err := grpc.NewClient(srv.Addr(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return servicesv1.NewMarketDataClient(conn)
	}
	fast, shipped := dial(cqccodec.DialOption()), dial()
	const market = "mkt_01JDBNBTCVSDTSP0T000000000"
	var books [2]*servicesv1.GetOrderBookResponse
	var trades [2]*servicesv1.ListTradesResponse
	for i, client := range []servicesv1.MarketDataClient{fast, shipped} {
		if books[i], err = client.GetOrderBook(ctx, &servicesv1.GetOrderBookRequest{MarketId: market}); err != nil {
			t.Fatalf("GetOrderBook: %v", err)
		}
		if trades[i], err = client.ListTrades(ctx, &servicesv1.ListTradesRequest{MarketId: market}); err != nil {
			t.Fatalf("ListTrades: %v", err)
		}
		stream, err := client.StreamOrderBook(ctx, &servicesv1.StreamOrderBookRequest{MarketId: market})
		if err != nil {
			t.Fatal(err)
		}
		first, err := stream.Recv()
		if err != nil || first.GetOrderBook().GetMarketId() != market {
			t.Fatalf("StreamOrderBook: %v, first book of %q", err, first.GetOrderBook().GetMarketId())
		}
		_, err = client.GetOrderBook(ctx, &servicesv1.GetOrderBookRequest{MarketId: "not an id"})
		if status.Code(err) != codes.InvalidArgument || len(status.Convert(err).Details()) == 0 {
			t.Errorf("invalid market id: %v, want INVALID_ARGUMENT with details", err)
		}
	}
	if len(books[0].GetOrderBook().GetBids()) == 0 || !proto.Equal(books[0], books[1]) {
		t.Error("GetOrderBook: the fast and the shipped client got different (or empty) books")
	}
	if !proto.Equal(trades[0], trades[1]) {
		t.Error("ListTrades: the fast and the shipped client got different answers")
	}
}

// TestNoRecursiveFastTypes: vtprotobuf's decoder has no recursion limit (protobuf-go stops at 10,000
// levels), so the fast types must not nest themselves; a recursive message needs a depth check first.
func TestNoRecursiveFastTypes(t *testing.T) {
	var visit func(md protoreflect.MessageDescriptor, path []protoreflect.FullName)
	visit = func(md protoreflect.MessageDescriptor, path []protoreflect.FullName) {
		for _, name := range path {
			if name == md.FullName() {
				t.Fatalf("recursive fast message type: %v -> %s", path, md.FullName())
			}
		}
		path = append(path, md.FullName())
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			if m := fields.Get(i).Message(); m != nil {
				visit(m, path)
			}
		}
	}
	for _, mt := range fastTypes(t) {
		visit(mt.Descriptor(), nil)
	}
}
