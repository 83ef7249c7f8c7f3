package cqc

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxBinaryDepth is CQC's nesting limit for binary input: sub-messages and groups, unknown ones included.
// Deeper input is a decode error in every language. The runtimes disagree (Python's protobuf stops at 100
// levels, TypeScript's at 99, Go's at 10,000 for unknown groups), so CQC's decode helpers pin one limit:
// [UnmarshalBinary] here, cqc.wire.decode_binary in Python, decodeBinary in TypeScript.
const MaxBinaryDepth = 64

// UnmarshalBinary decodes wire-format bytes into msg after CQC's wire checks ([CheckWire]). Use it, rather
// than proto.Unmarshal, for bytes from outside, so that Go accepts exactly the bytes Python and TypeScript
// accept.
func UnmarshalBinary(b []byte, msg proto.Message) error {
	if err := CheckWire(msg.ProtoReflect().Descriptor(), b); err != nil {
		return err
	}
	return proto.Unmarshal(b, msg)
}

// CheckWire returns an error unless b is well-formed wire format for md: every tag, varint, fixed-width value
// and length lies inside its enclosing message, sub-messages of message-typed fields parse exactly to their
// end, groups end with their own end tag, and nothing nests deeper than [MaxBinaryDepth].
func CheckWire(md protoreflect.MessageDescriptor, b []byte) error {
	_, err := scanWire(md, b, 0, 0)
	return err
}

var errTooDeep = fmt.Errorf("cqc: nesting deeper than %d", MaxBinaryDepth)

// scanWire scans b (to its end, or to the end tag of group) and returns the bytes consumed.
func scanWire(md protoreflect.MessageDescriptor, b []byte, depth int, group protowire.Number) (int, error) {
	start := len(b)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("cqc: malformed tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, fmt.Errorf("cqc: field %d: %w", num, protowire.ParseError(n))
			}
			if md != nil {
				if fd := md.Fields().ByNumber(num); fd != nil && fd.Message() != nil {
					if depth+1 > MaxBinaryDepth {
						return 0, errTooDeep
					}
					if _, err := scanWire(fd.Message(), v, depth+1, 0); err != nil {
						return 0, err
					}
				}
			}
			b = b[n:]
		case protowire.StartGroupType:
			if depth+1 > MaxBinaryDepth {
				return 0, errTooDeep
			}
			used, err := scanWire(nil, b, depth+1, num)
			if err != nil {
				return 0, err
			}
			b = b[used:]
		case protowire.EndGroupType:
			if num != group {
				return 0, fmt.Errorf("cqc: unexpected end of group %d", num)
			}
			return start - len(b), nil
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, fmt.Errorf("cqc: field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if group != 0 {
		return 0, errors.New("cqc: unterminated group")
	}
	return start, nil
}
