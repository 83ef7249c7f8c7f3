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
func (*Codec) Unmarshal(data mem.BufferSlice, v any) error {
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

// unsafeMessage is a generated message whose UnmarshalVTUnsafe aliases strings and bytes to its input.
type unsafeMessage interface {
	UnmarshalVTUnsafe(dAtA []byte) error
}

// fallback is gRPC's default proto codec, for messages without vtprotobuf methods.
var fallback = encoding.GetCodecV2(Name)

func messageOf(v any) proto.Message {
	switch v := v.(type) {
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
// its buffers).
func (ConnectCodec) Unmarshal(data []byte, v any) error {
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
