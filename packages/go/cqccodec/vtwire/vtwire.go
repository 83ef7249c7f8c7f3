// Package vtwire holds the runtime checks and codecs of the generated *_vtproto.pb.go files
// (packages/go/gen): the strict parts of protobuf-go's decoder that vtprotobuf's generated UnmarshalVT lacks,
// and exact codecs of the well-known types CQC embeds (Timestamp, Duration, FieldMask: vtprotobuf's own
// copies drop unknown fields and skip no UTF-8 check), so that the fast path accepts exactly what
// proto.Unmarshal accepts. Services never call it directly: they opt in to the fast path with package
// cqccodec. tools/gogen/protoc-gen-go-cqcvtproto writes the calls.
package vtwire

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxFieldNumber is the largest valid protobuf field number (2^29-1); larger tags are rejected.
const MaxFieldNumber = uint64(protowire.MaxValidNumber)

var (
	// ErrInvalidUTF8 is returned for a string field whose bytes are not valid UTF-8 (proto3 requires it).
	ErrInvalidUTF8 = errors.New("proto: string field contains invalid UTF-8")
	// ErrOverflow is returned for a varint longer than 64 bits.
	ErrOverflow = errors.New("proto: varint overflows 64 bits")
	// ErrFieldNumber is returned for a tag whose field number is above MaxFieldNumber.
	ErrFieldNumber = errors.New("proto: invalid field number")
	// ErrPacked is returned when the last element of a packed repeated field runs past the field's length.
	ErrPacked = errors.New("proto: packed field elements do not end at the field's length")
)

// Skip returns the length of the field (tag included) at the start of b, parsed as strictly as protobuf-go
// parses unknown fields (varint overflow, field numbers, reserved wire types, matching group ends).
func Skip(b []byte) (int, error) {
	num, _, n := protowire.ConsumeField(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	if uint64(num) > MaxFieldNumber {
		return 0, ErrFieldNumber
	}
	return n, nil
}

// AppendUnknown appends the unknown field in field (tag and value, as Skip measured it) to unknown the way
// protobuf-go keeps it: the tag re-encoded in its shortest form, the value as it came.
func AppendUnknown(unknown, field []byte) []byte {
	num, typ, n := protowire.ConsumeTag(field)
	if n < 0 { // Skip accepted the field, so this cannot happen; keep the bytes as they are
		return append(unknown, field...)
	}
	return append(protowire.AppendTag(unknown, num, typ), field[n:]...)
}

// MaxBlock is the most elements of a repeated message field that UnmarshalVT allocates at once.
const MaxBlock = 256

// BlockSize is how many elements UnmarshalVT allocates at once for a repeated message field that holds n,
// whose next element is size bytes long with rest bytes after it: as many as the rest could hold if the
// elements that follow are of the same size (a book's levels are), but at least as many as it holds already
// (so a field of n elements costs about log2(n) allocations), at least 1 and at most MaxBlock. An element
// keeps its block in memory while it is referenced.
func BlockSize(n, size, rest int) int {
	return min(max(1+rest/(size+2), n, 1), MaxBlock)
}

// Grow returns s with room for n more elements (slices.Grow), so that the pointers to a new block's
// elements are appended without reallocating s for each power of two.
func Grow[E any](s []*E, n int) []*E {
	if n -= cap(s) - len(s); n > 0 {
		s = append(s[:cap(s)], make([]*E, n)...)[:len(s)]
	}
	return s
}

// MaxASCII is the longest input ASCII checks: longer messages check each string on its own.
const MaxASCII = 128

// ASCII reports whether b, a message's encoding, is at most MaxASCII bytes long and all ASCII (every byte
// below 0x80): then every string field in it is valid UTF-8 and needs no check of its own (a book level's
// price and size are ASCII; one check of its ~25 bytes replaces two utf8.Valid calls).
func ASCII(b []byte) bool {
	if len(b) > MaxASCII {
		return false
	}
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Next returns the message *old for UnmarshalVTReuse to decode into again (and sets *old to nil, so it is
// taken once) and true, or a new zero message and false when *old is nil.
func Next[E any](old **E) (*E, bool) {
	if p := *old; p != nil {
		*old = nil
		return p, true
	}
	return new(E), false
}

// Ptr returns a pointer to v for an optional field: *old (then set to nil) overwritten with v when it is
// not nil, else a new pointer.
func Ptr[E any](old **E, v E) *E {
	p := *old
	if p == nil {
		p = new(E)
	} else {
		*old = nil
	}
	*p = v
	return p
}

// ClearStale zeroes the elements s[len(s):oldLen] of a repeated message field that UnmarshalVTReuse
// decoded into before and no longer uses, so that they keep nothing of the previous message (its frame)
// alive; they stay in s's spare capacity for the next message.
func ClearStale[E any](s []*E, oldLen int) {
	if oldLen <= len(s) || oldLen > cap(s) {
		return
	}
	var zero E
	for _, p := range s[len(s):oldLen] {
		if p != nil {
			*p = zero
		}
	}
}

// Timestamp is google.protobuf.Timestamp with exact vtprotobuf-style methods (unknown fields kept).
type Timestamp timestamppb.Timestamp

// Duration is google.protobuf.Duration with exact vtprotobuf-style methods (unknown fields kept).
type Duration durationpb.Duration

// FieldMask is google.protobuf.FieldMask with exact vtprotobuf-style methods (unknown fields kept, paths
// checked for UTF-8).
type FieldMask fieldmaskpb.FieldMask

// UnmarshalVTUnsafe is UnmarshalVT (nothing of it aliases dAtA).
func (m *Timestamp) UnmarshalVTUnsafe(dAtA []byte) error { return m.UnmarshalVT(dAtA) }

// UnmarshalVTReuse is UnmarshalVT, after resetting m when reuse is set (the generated UnmarshalVTReuse of
// the message that holds m decides).
func (m *Timestamp) UnmarshalVTReuse(dAtA []byte, reuse bool) error {
	if reuse {
		(*timestamppb.Timestamp)(m).Reset()
	}
	return m.UnmarshalVT(dAtA)
}

// SizeVT is the encoded size, as proto.Size.
func (m *Timestamp) SizeVT() int {
	if m == nil {
		return 0
	}
	return secondsNanosSize(m.Seconds, m.Nanos) + len((*timestamppb.Timestamp)(m).ProtoReflect().GetUnknown())
}

// MarshalToSizedBufferVT writes the encoding at the end of dAtA and returns its length.
func (m *Timestamp) MarshalToSizedBufferVT(dAtA []byte) (int, error) {
	return appendAtEnd(dAtA, m.SizeVT(), func(b []byte) []byte {
		return append(appendSecondsNanos(b, m.Seconds, m.Nanos), (*timestamppb.Timestamp)(m).ProtoReflect().GetUnknown()...)
	})
}

// UnmarshalVT merges the encoding in dAtA into m, as proto.UnmarshalOptions{Merge: true}.
func (m *Timestamp) UnmarshalVT(dAtA []byte) error {
	return unmarshalSecondsNanos(dAtA, &m.Seconds, &m.Nanos, func(unknown []byte) {
		r := (*timestamppb.Timestamp)(m).ProtoReflect()
		r.SetUnknown(append(r.GetUnknown(), unknown...))
	})
}

// UnmarshalVTUnsafe is UnmarshalVT (nothing of it aliases dAtA).
func (m *Duration) UnmarshalVTUnsafe(dAtA []byte) error { return m.UnmarshalVT(dAtA) }

// UnmarshalVTReuse is UnmarshalVT, after resetting m when reuse is set (the generated UnmarshalVTReuse of
// the message that holds m decides).
func (m *Duration) UnmarshalVTReuse(dAtA []byte, reuse bool) error {
	if reuse {
		(*durationpb.Duration)(m).Reset()
	}
	return m.UnmarshalVT(dAtA)
}

// SizeVT is the encoded size, as proto.Size.
func (m *Duration) SizeVT() int {
	if m == nil {
		return 0
	}
	return secondsNanosSize(m.Seconds, m.Nanos) + len((*durationpb.Duration)(m).ProtoReflect().GetUnknown())
}

// MarshalToSizedBufferVT writes the encoding at the end of dAtA and returns its length.
func (m *Duration) MarshalToSizedBufferVT(dAtA []byte) (int, error) {
	return appendAtEnd(dAtA, m.SizeVT(), func(b []byte) []byte {
		return append(appendSecondsNanos(b, m.Seconds, m.Nanos), (*durationpb.Duration)(m).ProtoReflect().GetUnknown()...)
	})
}

// UnmarshalVT merges the encoding in dAtA into m, as proto.UnmarshalOptions{Merge: true}.
func (m *Duration) UnmarshalVT(dAtA []byte) error {
	return unmarshalSecondsNanos(dAtA, &m.Seconds, &m.Nanos, func(unknown []byte) {
		r := (*durationpb.Duration)(m).ProtoReflect()
		r.SetUnknown(append(r.GetUnknown(), unknown...))
	})
}

// UnmarshalVTUnsafe is UnmarshalVT (nothing of it aliases dAtA).
func (m *FieldMask) UnmarshalVTUnsafe(dAtA []byte) error { return m.UnmarshalVT(dAtA) }

// UnmarshalVTReuse is UnmarshalVT, after resetting m when reuse is set (the generated UnmarshalVTReuse of
// the message that holds m decides).
func (m *FieldMask) UnmarshalVTReuse(dAtA []byte, reuse bool) error {
	if reuse {
		(*fieldmaskpb.FieldMask)(m).Reset()
	}
	return m.UnmarshalVT(dAtA)
}

// SizeVT is the encoded size, as proto.Size.
func (m *FieldMask) SizeVT() int {
	if m == nil {
		return 0
	}
	n := len((*fieldmaskpb.FieldMask)(m).ProtoReflect().GetUnknown())
	for _, path := range m.Paths {
		n += protowire.SizeTag(1) + protowire.SizeBytes(len(path))
	}
	return n
}

// MarshalToSizedBufferVT writes the encoding at the end of dAtA and returns its length.
func (m *FieldMask) MarshalToSizedBufferVT(dAtA []byte) (int, error) {
	return appendAtEnd(dAtA, m.SizeVT(), func(b []byte) []byte {
		for _, path := range m.Paths {
			b = protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), path)
		}
		return append(b, (*fieldmaskpb.FieldMask)(m).ProtoReflect().GetUnknown()...)
	})
}

// UnmarshalVT merges the encoding in dAtA into m, as proto.UnmarshalOptions{Merge: true}.
func (m *FieldMask) UnmarshalVT(dAtA []byte) error {
	var unknown []byte
	for len(dAtA) > 0 {
		num, typ, n := consumeTag(dAtA)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num == 1 && typ == protowire.BytesType {
			v, vn := protowire.ConsumeBytes(dAtA[n:])
			if vn < 0 {
				return protowire.ParseError(vn)
			}
			if !utf8.Valid(v) {
				return ErrInvalidUTF8
			}
			m.Paths = append(m.Paths, string(v))
			dAtA = dAtA[n+vn:]
			continue
		}
		vn := protowire.ConsumeFieldValue(num, typ, dAtA[n:])
		if vn < 0 {
			return protowire.ParseError(vn)
		}
		unknown = append(protowire.AppendTag(unknown, num, typ), dAtA[n:n+vn]...)
		dAtA = dAtA[n+vn:]
	}
	if unknown != nil {
		r := (*fieldmaskpb.FieldMask)(m).ProtoReflect()
		r.SetUnknown(append(r.GetUnknown(), unknown...))
	}
	return nil
}

func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && uint64(num) > MaxFieldNumber {
		return 0, 0, -1 // protowire's errCodeFieldNumber is not exported; any negative n is a parse error
	}
	return num, typ, n
}

func secondsNanosSize(seconds int64, nanos int32) int {
	n := 0
	if seconds != 0 {
		n += protowire.SizeTag(1) + protowire.SizeVarint(uint64(seconds))
	}
	if nanos != 0 {
		n += protowire.SizeTag(2) + protowire.SizeVarint(uint64(int64(nanos)))
	}
	return n
}

func appendSecondsNanos(b []byte, seconds int64, nanos int32) []byte {
	if seconds != 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(seconds))
	}
	if nanos != 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), uint64(int64(nanos)))
	}
	return b
}

// appendAtEnd runs write on the last size bytes of dAtA (vtprotobuf encodes backwards from the end).
func appendAtEnd(dAtA []byte, size int, write func([]byte) []byte) (int, error) {
	start := len(dAtA) - size
	if start < 0 {
		return 0, errors.New("proto: buffer too small for the message")
	}
	if out := write(dAtA[start:start:len(dAtA)]); len(out) != size {
		return 0, errors.New("proto: message changed while encoding")
	}
	return size, nil
}

func unmarshalSecondsNanos(dAtA []byte, seconds *int64, nanos *int32, keep func([]byte)) error {
	var unknown []byte
	for len(dAtA) > 0 {
		num, typ, n := consumeTag(dAtA)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if (num == 1 || num == 2) && typ == protowire.VarintType {
			v, vn := protowire.ConsumeVarint(dAtA[n:])
			if vn < 0 {
				return protowire.ParseError(vn)
			}
			if num == 1 {
				*seconds = int64(v)
			} else {
				*nanos = int32(v)
			}
			dAtA = dAtA[n+vn:]
			continue
		}
		vn := protowire.ConsumeFieldValue(num, typ, dAtA[n:])
		if vn < 0 {
			return protowire.ParseError(vn)
		}
		unknown = append(protowire.AppendTag(unknown, num, typ), dAtA[n:n+vn]...)
		dAtA = dAtA[n+vn:]
	}
	if unknown != nil {
		keep(unknown)
	}
	return nil
}
