// Package cqccodec is the fast binary codec of CQC messages for gRPC (and connect-go): it encodes and
// decodes with the vtprotobuf methods generated for the messages services exchange at volume (every
// message of cqc/markets/v1, cqc/venues/v1 and cqc/types/v1, and the requests and responses of MarketData and
// VenueGateway: order books, trades, prices, orders, execution reports and their stream responses) and with
// protobuf-go for every other message.
//
// A gRPC server opts in with one option, a client with one dial option:
//
//	srv := grpc.NewServer(cqccodec.ServerOption())
//	conn, err := grpc.NewClient(target, cqccodec.DialOption(), grpc.WithTransportCredentials(...))
//
// The codec is named "proto", as gRPC's default one: peers see the same content type and need not use it
// too. What it guarantees, tested on the whole message corpus of the repository (packages/go/cqccodec):
//
//   - Unmarshal accepts exactly the inputs proto.Unmarshal accepts (invalid UTF-8 in a string field, a
//     varint over 64 bits and a field number over 2^29-1 are rejected; a known field sent with another wire
//     type is kept as an unknown field) and gives a message proto.Equal to proto.Unmarshal's; unknown fields
//     are kept and re-encoded.
//   - Marshal writes the wire format protobuf-go reads back as an equal message, of the size proto.Size
//     reports. Like proto.Marshal (without Deterministic), the order of map entries is not specified.
//   - Unmarshal replaces the content of the message (it resets it first), as proto.Unmarshal does.
//   - The gRPC codec decodes each frame into a buffer of its own and lets the message's strings and bytes
//     share it (vtprotobuf's UnmarshalVTUnsafe, safe here because nothing else holds the buffer): keeping
//     one string of a message keeps the whole frame in memory; strings.Clone it to keep only the string.
//
// A client that handles one stream message at a time can receive into one message and reuse its storage
// (NewReceiver, Reuse, UnmarshalReuse): a book's levels are then decoded into again instead of allocated.
//
// The fast path does not validate messages (protovalidate rules): services validate as before.
package cqccodec

import (
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers gRPC's proto codec, the fallback
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// Name is the codec's name: "proto", the name of gRPC's and connect-go's default binary codec, so the fast
// codec replaces it without changing the content type on the wire.
const Name = "proto"

// Message is implemented by the messages with generated vtprotobuf methods (*_vtproto.pb.go).
type Message interface {
	proto.Message
	SizeVT() int
	MarshalToSizedBufferVT(dAtA []byte) (int, error)
	UnmarshalVT(dAtA []byte) error
}

// Marshal encodes m in the binary wire format: with its vtprotobuf methods when it has them, otherwise with
// proto.Marshal. Use it where a service encodes messages itself (events, caches, files).
func Marshal(m proto.Message) ([]byte, error) {
	if vt, ok := m.(Message); ok {
		buf := make([]byte, vt.SizeVT())
		if err := marshalInto(vt, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return proto.Marshal(m)
}

// Unmarshal decodes b into m (replacing its content), accepting and rejecting exactly what proto.Unmarshal
// does: with the vtprotobuf methods when m has them, otherwise with proto.Unmarshal. m must not be nil.
func Unmarshal(b []byte, m proto.Message) error {
	vt, ok := m.(Message)
	if !ok {
		return proto.Unmarshal(b, m)
	}
	proto.Reset(m)
	if err := vt.UnmarshalVT(b); err != nil {
		// vtprotobuf refuses a known field sent with another wire type, which protobuf-go keeps as an unknown
		// field; any input the fast path refuses is decided by protobuf-go, so both accept the same inputs.
		return proto.Unmarshal(b, m)
	}
	return nil
}

func marshalInto(vt Message, buf []byte) error {
	n, err := vt.MarshalToSizedBufferVT(buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("cqccodec: %T encoded %d bytes, SizeVT said %d (message changed while encoding?)", vt, n, len(buf))
	}
	return nil
}

// Codec is the gRPC codec (encoding.CodecV2) of the fast path. Create it with NewCodec, or use
// ServerOption / DialOption.
type Codec struct{}

// NewCodec returns the fast gRPC codec. It is stateless and safe for concurrent use.
func NewCodec() *Codec { return &Codec{} }

// Name returns "proto" (Name).
func (*Codec) Name() string { return Name }

// Marshal encodes v (a proto.Message) into gRPC's pooled buffers, as gRPC's own proto codec does.
func (*Codec) Marshal(v any) (mem.BufferSlice, error) {
	m := messageOf(v)
	if m == nil {
		return nil, fmt.Errorf("cqccodec: cannot marshal %T: not a proto.Message", v)
	}
	vt, ok := m.(Message)
	if !ok {
		return fallback.Marshal(m)
	}
	size := vt.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if err := marshalInto(vt, buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	*buf = (*buf)[:size]
	if err := marshalInto(vt, *buf); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes data into v (a proto.Message), with Unmarshal's guarantees. The strings and bytes
// fields of a message with vtprotobuf methods share one buffer, a copy of the frame that nothing else
// references (one allocation instead of one per field): keeping any of them keeps that buffer alive
// (strings.Clone one to keep only it), and a bytes field's capacity ends where the field does.
// v may be Reuse(m): m then receives the message with its previous storage reused (see Reuse).
func (*Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*Reused); ok {
		if vt, ok := r.Message.(reuseMessage); ok {
			owned := data.Materialize()
			return unmarshalReuse(owned, r.Message, vt)
		}
		v = r.Message
	}
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("cqccodec: cannot unmarshal into %T: not a proto.Message", v)
	}
	if vt, ok := m.(unsafeMessage); ok {
		owned := data.Materialize() // a new slice: the decoded strings may alias it
		proto.Reset(m)
		if err := vt.UnmarshalVTUnsafe(owned); err != nil {
			return proto.Unmarshal(owned, m) // as in Unmarshal: protobuf-go decides what the fast path refuses
		}
		return nil
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

// reuseMessage is a generated message that can decode into its previous content's storage.
type reuseMessage interface {
	UnmarshalVTReuse(dAtA []byte, reuse bool) error
}

// Reused is a message to decode into with its storage reused; create it with Reuse. It is a proto.Message
// itself (the message it wraps), so a codec other than this one decodes into the wrapped message as usual.
type Reused struct {
	proto.Message
}

// Reuse wraps m so that the fast codec decodes the next message into m reusing what m holds, for a stream
// received into one message:
//
//	resp := &servicesv1.StreamOrderBookResponse{}
//	target := cqccodec.Reuse(resp)
//	for {
//		if err := stream.RecvMsg(target); err != nil { ... } // io.EOF at the end
//		use(resp) // valid until the next RecvMsg
//	}
//
// (NewReceiver does the same with a typed Recv.) The result is exactly the message a fresh decode gives
// (proto.Equal, every field reset, unknown fields cleared), but the storage of the previous message is
// overwritten: its sub-messages (a book inside a stream response), the elements of its repeated message
// fields (a book's levels, which need no new allocation once the book has been that deep), its optional
// fields' pointers and its repeated fields' arrays. So nothing of a received message may be kept past the
// next receive (copy it with proto.Clone to keep it), and m must not share sub-messages with anything else.
// Strings are not overwritten: each frame is decoded from its own copy, which the message's strings share
// (a kept string stays valid and keeps its frame in memory). Empty repeated fields may be empty non-nil
// slices. Messages without generated reuse methods, and inputs the fast decoder refuses, are decoded by
// protobuf-go as by Unmarshal.
func Reuse(m proto.Message) *Reused { return &Reused{Message: m} }

// UnmarshalReuse decodes b into m like Unmarshal, reusing m's previous storage as Reuse describes (for a
// consumer that decodes a sequence of messages from a queue or a file into one message). It copies b once
// and the decoded strings share that copy (b may be reused by the caller).
func UnmarshalReuse(b []byte, m proto.Message) error {
	vt, ok := m.(reuseMessage)
	if !ok {
		return Unmarshal(b, m)
	}
	return unmarshalReuse(append([]byte(nil), b...), m, vt)
}

// unmarshalReuse decodes owned (a buffer nobody else holds) into m with reuse, or with protobuf-go when the
// fast decoder refuses the input.
func unmarshalReuse(owned []byte, m proto.Message, vt reuseMessage) error {
	if err := vt.UnmarshalVTReuse(owned, true); err != nil {
		return proto.Unmarshal(owned, m) // resets m; protobuf-go decides what the fast path refuses
	}
	return nil
}

// Receiver receives a stream's messages into one message of type M with its storage reused (Reuse): each
// Recv returns the same M, overwritten. The stream must use the fast codec (DialOption, CallOption or
// Register) for the reuse to happen; with another codec Recv still works and allocates as usual.
type Receiver[M proto.Message] struct {
	stream interface{ RecvMsg(m any) error }
	msg    M
	target *Reused
}

// NewReceiver returns a Receiver of stream (a generated client stream such as
// grpc.ServerStreamingClient[Res], or any grpc.ClientStream or grpc.ServerStream) decoding into m:
//
//	stream, err := client.StreamOrderBook(ctx, req, cqccodec.CallOption())
//	recv := cqccodec.NewReceiver(stream, &servicesv1.StreamOrderBookResponse{})
//	for {
//		resp, err := recv.Recv() // io.EOF at the end of the stream
//		...
//	}
func NewReceiver[M proto.Message](stream interface{ RecvMsg(m any) error }, m M) *Receiver[M] {
	return &Receiver[M]{stream: stream, msg: m, target: Reuse(m)}
}

// Recv receives the next message into the Receiver's message and returns it (valid until the next Recv).
// Its error is the stream's RecvMsg error (io.EOF when the stream ended normally).
func (r *Receiver[M]) Recv() (M, error) {
	if err := r.stream.RecvMsg(r.target); err != nil {
		var zero M
		return zero, err
	}
	return r.msg, nil
}

// unsafeMessage is a generated message whose UnmarshalVTUnsafe aliases strings and bytes to its input.
type unsafeMessage interface {
	UnmarshalVTUnsafe(dAtA []byte) error
}

// fallback is gRPC's default proto codec, for messages without vtprotobuf methods.
var fallback = encoding.GetCodecV2(Name)

func messageOf(v any) proto.Message {
	switch v := v.(type) {
	case *Reused:
		return v.Message
	case proto.Message:
		return v
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(v)
	}
	return nil
}

// ServerOption makes a grpc.Server encode and decode every message with the fast codec:
// grpc.NewServer(cqccodec.ServerOption(), ...).
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(NewCodec()) }

// DialOption makes a gRPC client connection encode requests and decode responses with the fast codec:
// grpc.NewClient(target, cqccodec.DialOption(), ...).
func DialOption() grpc.DialOption { return grpc.WithDefaultCallOptions(CallOption()) }

// CallOption uses the fast codec for one call (grpc.CallOption), e.g. only on a hot stream.
func CallOption() grpc.CallOption { return grpc.ForceCodecV2(NewCodec()) }

// Register replaces gRPC's default "proto" codec in the whole process, for servers and clients that take
// no option. Call it once, from main or an init function, before any gRPC server or connection is created
// (encoding.RegisterCodecV2 is not safe for concurrent use).
func Register() { encoding.RegisterCodecV2(NewCodec()) }

// ConnectCodec is the fast codec for connect-go (connect.Codec, binary "proto"); see ConnectOption.
type ConnectCodec struct{}

// Name returns "proto" (Name).
func (ConnectCodec) Name() string { return Name }

// Marshal encodes v (a proto.Message) with Marshal.
func (ConnectCodec) Marshal(v any) ([]byte, error) {
	return ConnectCodec{}.MarshalAppend(nil, v)
}

// MarshalAppend appends the encoding of v (a proto.Message) to dst, so connect-go can reuse its buffers.
func (ConnectCodec) MarshalAppend(dst []byte, v any) ([]byte, error) {
	m := messageOf(v)
	if m == nil {
		return nil, fmt.Errorf("cqccodec: cannot marshal %T: not a proto.Message", v)
	}
	vt, ok := m.(Message)
	if !ok {
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	size := vt.SizeVT()
	start := len(dst)
	dst = append(dst, make([]byte, size)...)
	if err := marshalInto(vt, dst[start:]); err != nil {
		return nil, err
	}
	return dst, nil
}

// Unmarshal decodes data into v (a proto.Message) with Unmarshal (strings are copied: connect-go reuses
// its buffers), or with UnmarshalReuse when v is Reuse(m).
func (ConnectCodec) Unmarshal(data []byte, v any) error {
	if r, ok := v.(*Reused); ok {
		return UnmarshalReuse(data, r.Message)
	}
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("cqccodec: cannot unmarshal into %T: not a proto.Message", v)
	}
	return Unmarshal(data, m)
}

// IsBinary reports true: the codec writes the binary wire format.
func (ConnectCodec) IsBinary() bool { return true }

// ConnectOption makes a connect-go handler or client use the fast codec for the binary "proto" format
// (connect.Option is both a HandlerOption and a ClientOption): connect.NewClient(..., cqccodec.ConnectOption()).
func ConnectOption() connect.Option { return connect.WithCodec(ConnectCodec{}) }
