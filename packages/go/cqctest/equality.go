package cqctest

import "google.golang.org/protobuf/proto"

// sameRequest reports whether a and b are the same message type with equal known fields: unknown fields (a
// retry from a client built with a newer schema carries some) are ignored at any depth, so that such a retry
// is not mistaken for another request.
func sameRequest(a, b proto.Message) bool {
	if a.ProtoReflect().Descriptor() != b.ProtoReflect().Descriptor() {
		return false
	}
	if proto.Equal(a, b) {
		return true
	}
	return proto.Equal(withoutUnknown(a), withoutUnknown(b))
}

// withoutUnknown is a copy of m without its unknown fields.
func withoutUnknown(m proto.Message) proto.Message {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return m
	}
	out := m.ProtoReflect().New().Interface()
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out); err != nil {
		return m
	}
	return out
}
