package cqckit

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// SameRequest reports whether a and b are the same message type with equal known fields. Unknown fields (a
// retry from a client built with a newer schema carries some) are ignored at any depth, so that such a
// retry is not mistaken for another request.
func SameRequest(a, b proto.Message) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
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

// Idempotency remembers the first answer to each request_id: the same request_id with an equal request
// (SameRequest: unknown fields ignored) gets the first answer again (or the first error), the same
// request_id with a different request gets ALREADY_EXISTS REQUEST_ID_REUSED {request_id}. Concurrent calls
// with one request_id run the handler once. Entries are kept in memory for the life of the value; safe for
// concurrent use.
type Idempotency struct {
	mu      sync.Mutex
	entries map[string]*idemEntry
}

type idemEntry struct {
	done    chan struct{}
	request proto.Message
	answer  proto.Message
	err     error
}

// NewIdempotency returns an empty Idempotency store.
func NewIdempotency() *Idempotency { return &Idempotency{entries: map[string]*idemEntry{}} }

// Do runs handle for the first use of requestID and remembers its answer; see Idempotency. An empty
// requestID runs handle every time.
func (s *Idempotency) Do(requestID string, request proto.Message, handle func() (proto.Message, error)) (proto.Message, error) {
	if requestID == "" {
		return handle()
	}
	s.mu.Lock()
	if e, ok := s.entries[requestID]; ok {
		s.mu.Unlock()
		<-e.done
		if !SameRequest(e.request, request) {
			return nil, RequestIDReused(requestID)
		}
		if e.err != nil {
			return nil, e.err
		}
		return proto.Clone(e.answer), nil
	}
	e := &idemEntry{done: make(chan struct{}), request: proto.Clone(request)}
	s.entries[requestID] = e
	s.mu.Unlock()
	completed := false
	defer func() {
		if !completed { // handle panicked: forget the key so that a retry runs again
			s.mu.Lock()
			delete(s.entries, requestID)
			s.mu.Unlock()
			e.err = Internal(fmt.Errorf("request %s: handler panicked", requestID))
		}
		close(e.done)
	}()
	answer, err := handle()
	completed = true
	e.err = err
	if err == nil && answer != nil {
		e.answer = proto.Clone(answer)
	}
	return answer, err
}

// Idempotent is Idempotency.Do with a typed answer.
func Idempotent[T proto.Message](s *Idempotency, requestID string, request proto.Message, handle func() (T, error)) (T, error) {
	answer, err := s.Do(requestID, request, func() (proto.Message, error) { return handle() })
	if err != nil {
		var zero T
		return zero, err
	}
	return answer.(T), nil
}

// RequestIDReused is the ALREADY_EXISTS REQUEST_ID_REUSED {request_id} error.
func RequestIDReused(requestID string) error {
	return Error(servicesv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED,
		"request_id "+requestID+" was already used for a different request", map[string]string{"request_id": requestID})
}
