package cqckit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	cqc "github.com/crypto-quant/cqc/packages/go"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// Page sizes of every List RPC: 0 asks for DefaultPageSize, more than MaxPageSize gets MaxPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

const (
	tokenVersion = 1
	tokenMACSize = 16 // bytes of HMAC-SHA256 kept in a token
	// MaxPageTokenPosition is the longest position (in bytes) a page token can carry.
	MaxPageTokenPosition = 256
)

// ClampPageSize is the number of items to return for a request's page_size: 0 → DefaultPageSize, above
// MaxPageSize → MaxPageSize. A negative size is a validation failure (INVALID_ARGUMENT VALIDATION_FAILED on
// field "page_size", rule "int32.gte_lte", as the contract's rule reports it), which the validation
// interceptor normally answers first.
func ClampPageSize(size int32) (int32, error) {
	switch {
	case size < 0:
		return 0, ValidationError(fmt.Sprintf("invalid page_size %d: must be greater than or equal to 0", size),
			[]cqc.Violation{{Field: "page_size", RuleID: "int32.gte_lte",
				Message: fmt.Sprintf("must be greater than or equal to 0 and less than or equal to %d", MaxPageSize)}})
	case size == 0:
		return DefaultPageSize, nil
	case size > MaxPageSize:
		return MaxPageSize, nil
	}
	return size, nil
}

// PageTokens encodes and decodes opaque page tokens: base64url (no padding) of a version byte, the position
// (e.g. the last id of the page) and an HMAC-SHA256 over the RPC name, the filter digest and the position.
// A token therefore only decodes for the RPC and filters it was issued for, and any change to it is
// detected. Tokens stay valid as long as the key does (a server restarted with a new key rejects old ones
// with INVALID_PAGE_TOKEN; clients then start over). Safe for concurrent use.
type PageTokens struct{ key []byte }

// NewPageTokens returns a PageTokens signing with key; a nil or empty key draws a random 32-byte one (tokens
// then live as long as the process). Give every replica of a service the same key so that a token issued by
// one decodes on another.
func NewPageTokens(key []byte) *PageTokens {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &PageTokens{key: append([]byte(nil), key...)}
}

func (p *PageTokens) mac(rpc, filters string, position []byte) []byte {
	h := hmac.New(sha256.New, p.key)
	var n [4]byte
	for _, part := range [][]byte{[]byte(rpc), []byte(filters), position} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)[:tokenMACSize]
}

// Encode returns the token of position for rpc (e.g. "cqc.services.v1.Portfolio/ListPortfolios") and the
// filter digest filters (FilterDigest of the request). It panics when position is longer than
// MaxPageTokenPosition bytes (a programming error: positions are ids or offsets).
func (p *PageTokens) Encode(rpc, filters, position string) string {
	if len(position) > MaxPageTokenPosition {
		panic(fmt.Sprintf("cqckit: page token position of %d bytes (at most %d)", len(position), MaxPageTokenPosition))
	}
	raw := make([]byte, 0, 1+len(position)+tokenMACSize)
	raw = append(raw, tokenVersion)
	raw = append(raw, position...)
	raw = append(raw, p.mac(rpc, filters, []byte(position))...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Decode returns the position of token for rpc and filters: "" for the empty token (the first page), an
// INVALID_ARGUMENT INVALID_PAGE_TOKEN error for garbage, a tampered token, or a token issued for another
// RPC, other filters or under another key.
func (p *PageTokens) Decode(rpc, filters, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 1+tokenMACSize || raw[0] != tokenVersion {
		return "", invalidPageToken()
	}
	position := raw[1 : len(raw)-tokenMACSize]
	if !hmac.Equal(raw[len(raw)-tokenMACSize:], p.mac(rpc, filters, position)) {
		return "", invalidPageToken()
	}
	return string(position), nil
}

func invalidPageToken() error {
	return Error(servicesv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN,
		"page_token was not issued by this server for this request (filters must stay the same between pages)", nil)
}

// FilterDigest is a digest of everything in a List request except its page_size and page_token fields:
// pass it to Encode and Decode so that a token only continues the listing it started. Unknown fields are
// ignored.
func FilterDigest(req proto.Message) string {
	m := proto.Clone(req).ProtoReflect()
	m.SetUnknown(nil)
	for _, name := range []protoreflect.Name{"page_size", "page_token"} {
		if fd := m.Descriptor().Fields().ByName(name); fd != nil {
			m.Clear(fd)
		}
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(withoutUnknown(m.Interface()))
	if err != nil {
		raw = []byte(fmt.Sprint(req))
	}
	sum := sha256.Sum256(append([]byte(m.Descriptor().FullName()+"\x00"), raw...))
	return hex.EncodeToString(sum[:16])
}
