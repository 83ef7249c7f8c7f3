package cqccodec_test

// Decoding with reuse (cqccodec.Reuse, UnmarshalReuse, Receiver) gives exactly the message a fresh decode
// gives, whatever the message held before: on the corpus and its mutations (the inputs of
// TestCorpusAgreesWithProtobufGo), each decoded into a message that held the previous input of its type, and
// into one that held a message with every field set (no stale level, optional field, oneof or unknown field).

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crypto-quant/cqc/packages/go/cqccodec"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// fill sets every field of m (every oneof to its first or last member, lists of three, maps of two
// entries, nested messages to depth 4) and appends an unknown field: the largest content a reused message
// can hold before it receives another input.
func fill(m protoreflect.Message, last bool, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			pick := od.Fields().Get(0)
			if last {
				pick = od.Fields().Get(od.Fields().Len() - 1)
			}
			if fd != pick {
				continue
			}
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for k := 0; k < 2; k++ {
				key := scalar(fd.MapKey(), k).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					if depth > 0 {
						fill(v.Message(), last, depth-1)
					}
					mp.Set(key, v)
				} else {
					mp.Set(key, scalar(fd.MapValue(), k))
				}
			}
		case fd.IsList():
			list := m.Mutable(fd).List()
			for k := 0; k < 3; k++ {
				if fd.Message() != nil {
					v := list.NewElement()
					if depth > 0 {
						fill(v.Message(), last, depth-1)
					}
					list.Append(v)
				} else {
					list.Append(scalar(fd, k))
				}
			}
		case fd.Message() != nil:
			if depth > 0 {
				fill(m.Mutable(fd).Message(), last, depth-1)
			}
		default:
			m.Set(fd, scalar(fd, 1))
		}
	}
	unknown := protowire.AppendTag(nil, 999, protowire.BytesType)
	m.SetUnknown(append(m.GetUnknown(), protowire.AppendString(unknown, "stale unknown field")...))
}

func scalar(fd protoreflect.FieldDescriptor, k int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(k%2 == 1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(k + 1))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(k + 7))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(k + 7))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(k + 7))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(k + 7))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(k) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(k) + 0.5)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("stale-" + strconv.Itoa(k))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("stale-" + strconv.Itoa(k)))
	}
	panic(fmt.Sprintf("no value for %s", fd.FullName()))
}

// reuseTargets are the ways a message is decoded into with reuse: UnmarshalReuse, and the gRPC codec given
// Reuse(m) (what stream.RecvMsg(cqccodec.Reuse(m)) and Receiver do).
var reuseTargets = []struct {
	name   string
	decode func([]byte, proto.Message) error
}{
	{"UnmarshalReuse", cqccodec.UnmarshalReuse},
	{"gRPC codec with Reuse", func(b []byte, m proto.Message) error {
		return grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, cqccodec.Reuse(m))
	}},
	{"connect codec with Reuse", func(b []byte, m proto.Message) error {
		return cqccodec.ConnectCodec{}.Unmarshal(b, cqccodec.Reuse(m))
	}},
}

func TestReuseGivesTheFreshMessage(t *testing.T) {
	fast := fastTypes(t)
	full := map[protoreflect.FullName][2][]byte{}
	for name, mt := range fast {
		var wire [2][]byte
		for i, last := range []bool{false, true} {
			m := mt.New()
			fill(m, last, 4)
			b, err := proto.Marshal(m.Interface())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wire[i] = b
		}
		full[name] = wire
	}
	// chained[target][type] received the previous input of its type (accepted or not).
	chained := make([]map[protoreflect.FullName]proto.Message, len(reuseTargets))
	for i := range chained {
		chained[i] = map[protoreflect.FullName]proto.Message{}
	}
	inputs, accepted := 0, 0
	forEachInput(t, fast, func(label string, mt protoreflect.MessageType, b []byte, _ bool) {
		inputs++
		name := mt.Descriptor().FullName()
		want := mt.New().Interface()
		wantErr := proto.Unmarshal(b, want)
		if wantErr == nil {
			accepted++
		}
		for i, target := range reuseTargets {
			check := func(how string, m proto.Message) {
				err := target.decode(b, m)
				if (err == nil) != (wantErr == nil) {
					t.Errorf("%s, %s %s: error %v, protobuf-go %v (input %x)", label, target.name, how, err, wantErr, b)
				} else if err == nil && !proto.Equal(m, want) {
					t.Errorf("%s, %s %s: the message differs from a fresh decode (input %x)", label, target.name, how, b)
				}
			}
			m := chained[i][name]
			if m == nil {
				m = mt.New().Interface()
				chained[i][name] = m
			}
			check("after the previous input", m)
			if inputs%len(reuseTargets) != i {
				continue // each input checks one target after a full message (the tests stay ~1 s)
			}
			// After the largest message of the type: every field, level and unknown field must go.
			big := mt.New().Interface()
			if err := target.decode(full[name][inputs/len(reuseTargets)%2], big); err != nil {
				t.Fatalf("%s: the filled message does not decode: %v", name, err)
			}
			check("after a message with every field set", big)
		}
	})
	t.Logf("%d inputs (%d accepted) decoded with reuse %d ways agree with a fresh decode", inputs, accepted, len(reuseTargets))
}

// TestReuseKeepsStorage: the second decode of a book into the same message allocates no level, and a
// smaller book after a larger one leaves no level behind (the spare ones are zeroed).
func TestReuseKeepsStorage(t *testing.T) {
	big, small := benchBook(t, 50), benchBook(t, 3)
	small.Sequence = nil
	bigWire, _ := proto.Marshal(&servicesv1.StreamOrderBookResponse{OrderBook: big})
	smallWire, _ := proto.Marshal(&servicesv1.StreamOrderBookResponse{OrderBook: small, ResumeToken: "r"})
	var resp servicesv1.StreamOrderBookResponse
	if err := cqccodec.UnmarshalReuse(bigWire, &resp); err != nil {
		t.Fatal(err)
	}
	book, firstBid := resp.OrderBook, resp.OrderBook.Bids[0]
	allocs := testing.AllocsPerRun(20, func() {
		if err := cqccodec.UnmarshalReuse(bigWire, &resp); err != nil {
			t.Fatal(err)
		}
	})
	if resp.OrderBook != book || resp.OrderBook.Bids[0] != firstBid {
		t.Error("the book or its levels were not reused")
	}
	// The frame copy and the timestamps' and optional fields' pointers are all that may be allocated.
	if allocs > 3 {
		t.Errorf("%v allocations per decode of a 2x50 book with reuse, want at most 3", allocs)
	}
	if err := cqccodec.UnmarshalReuse(smallWire, &resp); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&resp, &servicesv1.StreamOrderBookResponse{OrderBook: small, ResumeToken: "r"}) {
		t.Error("the small book differs")
	}
	for i, level := range resp.OrderBook.Bids[len(resp.OrderBook.Bids):50] {
		if level == nil || level.Price != "" || level.Size != "" {
			t.Fatalf("spare level %d was not zeroed: %v", i+3, level)
		}
	}
}

// sequenceServer streams its responses in turn.
type sequenceServer struct {
	servicesv1.UnimplementedMarketDataServer
	resps []*servicesv1.StreamOrderBookResponse
}

func (s *sequenceServer) StreamOrderBook(_ *servicesv1.StreamOrderBookRequest, stream grpc.ServerStreamingServer[servicesv1.StreamOrderBookResponse]) error {
	for _, resp := range s.resps {
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

func TestReceiverOverGRPC(t *testing.T) {
	var resps []*servicesv1.StreamOrderBookResponse
	for i, levels := range []int{500, 5, 50, 0, 50} {
		book := benchBook(t, levels)
		if i%2 == 1 {
			book.Sequence, book.EventTime = nil, nil
		}
		resps = append(resps, &servicesv1.StreamOrderBookResponse{OrderBook: book, ResumeToken: strconv.Itoa(i)})
	}
	resps = append(resps, &servicesv1.StreamOrderBookResponse{SnapshotComplete: true})
	for _, dial := range []grpc.DialOption{cqccodec.DialOption(), grpc.EmptyDialOption{}} {
		srv := grpc.NewServer(cqccodec.ServerOption())
		servicesv1.RegisterMarketDataServer(srv, &sequenceServer{resps: resps})
		client := servicesv1.NewMarketDataClient(serve(t, srv, dial))
		stream, err := client.StreamOrderBook(context.Background(), &servicesv1.StreamOrderBookRequest{})
		if err != nil {
			t.Fatal(err)
		}
		recv := cqccodec.NewReceiver(stream, &servicesv1.StreamOrderBookResponse{})
		var first *servicesv1.StreamOrderBookResponse
		for i := 0; ; i++ {
			got, err := recv.Recv()
			if err == io.EOF {
				if i != len(resps) {
					t.Fatalf("received %d of %d", i, len(resps))
				}
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = got
			} else if got != first {
				t.Error("Recv returned another message")
			}
			if !proto.Equal(got, resps[i]) {
				t.Errorf("message %d differs", i)
			}
		}
	}
}
