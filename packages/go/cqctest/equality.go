package cqctest

import (
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// sameRequest reports whether a and b are the same message type with equal known fields, unknown fields
// ignored at any depth (cqckit.SameRequest).
func sameRequest(a, b proto.Message) bool { return cqckit.SameRequest(a, b) }
