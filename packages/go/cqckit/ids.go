package cqckit

import (
	"crypto/rand"
	"regexp"
	"time"

	"github.com/oklog/ulid/v2"

	cqc "github.com/crypto-quant/cqc/packages/go"
)

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// NewULID is a new ULID (26 characters of Crockford base32, time-ordered to the millisecond) from
// github.com/oklog/ulid/v2, with crypto/rand entropy.
func NewULID() string { return ULIDAt(time.Now()) }

// ULIDAt is NewULID for the time t.
func ULIDAt(t time.Time) string { return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String() }

// NewID is a resource id "<prefix>_<ULID>" (NewID("pfl") → "pfl_01JD4W..."): the form every CQC id field
// pattern accepts. prefix is lower-case letters and digits starting with a letter; another prefix panics.
func NewID(prefix string) string {
	if !prefixPattern.MatchString(prefix) {
		panic("cqckit: id prefix " + prefix + " is not lower-case letters and digits")
	}
	return prefix + "_" + NewULID()
}

// IsULID reports whether s is a well-formed ULID.
func IsULID(s string) bool {
	_, err := ulid.ParseStrict(s)
	return err == nil
}

// NewEventID is a new event id: a UUIDv7 as the event envelope requires (cqc.NewUUIDv7).
func NewEventID() string { return cqc.NewUUIDv7() }
