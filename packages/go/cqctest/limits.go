package cqctest

import (
	"context"
	"strconv"
	"sync"
	"time"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// The reference servers' resource limits (the Python server, cqc.testing, applies the same ones with the
// same answers; testdata/interop/README.md documents them).
const (
	// MaxReceiveMessageBytes is the largest request message accepted (the gRPC default, set explicitly).
	MaxReceiveMessageBytes = 4 * 1024 * 1024
	// MaxStreamsPerClient is the number of server streams one client connection (peer) may hold open.
	MaxStreamsPerClient = 8
	// MaxStreamsTotal is the number of server streams open at once in all.
	MaxStreamsTotal = 48
	// MaxStreamLifetime is the longest a server stream stays open; then it ends with RESOURCE_EXHAUSTED
	// RATE_LIMITED (limit "stream_lifetime_seconds", retry_after_ms "0"): reopen it with the last resume_token.
	MaxStreamLifetime = 15 * time.Minute
	retryAfterMS      = "1000"
)

func rateLimited(limit, value, retryAfter, format string, args ...any) error {
	return newError(codes.ResourceExhausted, "RATE_LIMITED",
		map[string]string{"limit": limit, "limit_value": value, "retry_after_ms": retryAfter}, format, args...)
}

// streamLimiter counts open streams per peer and in total.
type streamLimiter struct {
	perClient, total int
	lifetime         time.Duration
	mu               sync.Mutex
	open             map[string]int
	count            int
}

func newStreamLimiter(perClient, total int, lifetime time.Duration) *streamLimiter {
	if perClient <= 0 {
		perClient = MaxStreamsPerClient
	}
	if total <= 0 {
		total = MaxStreamsTotal
	}
	if lifetime <= 0 {
		lifetime = MaxStreamLifetime
	}
	return &streamLimiter{perClient: perClient, total: total, lifetime: lifetime, open: map[string]int{}}
}

func (l *streamLimiter) acquire(client string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client] >= l.perClient {
		return rateLimited("streams_per_client", strconv.Itoa(l.perClient), retryAfterMS,
			"too many open streams from this client (at most %d): close one first", l.perClient)
	}
	if l.count >= l.total {
		return rateLimited("streams_total", strconv.Itoa(l.total), retryAfterMS,
			"the server has %d open streams, its limit: retry later", l.total)
	}
	l.open[client]++
	l.count++
	return nil
}

func (l *streamLimiter) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[client]--
	if l.open[client] <= 0 {
		delete(l.open, client)
	}
	l.count--
}

// openStreams is the number of streams open now.
func (l *streamLimiter) openStreams() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// interceptor refuses a stream over a limit and ends a stream at its maximum lifetime. It runs after the
// CQC stream interceptor (which validates and maps errors), on CQC services only.
func (l *streamLimiter) interceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !cqcMethod(info.FullMethod) {
		return handler(srv, ss)
	}
	client := "unknown"
	if p, ok := peer.FromContext(ss.Context()); ok && p.Addr != nil {
		client = p.Addr.String()
	}
	if err := l.acquire(client); err != nil {
		return err
	}
	defer l.release(client)
	parent := ss.Context()
	ctx, cancel := context.WithTimeout(parent, l.lifetime)
	defer cancel()
	ends, _ := ctx.Deadline()
	own := true
	if d, ok := parent.Deadline(); ok && !d.After(ends) {
		own = false // the client's deadline comes first: it ends the stream as before
	}
	err := handler(srv, lifetimeStream{ss, ctx})
	if own && parent.Err() == nil && time.Until(ends) < 100*time.Millisecond {
		return rateLimited("stream_lifetime_seconds", strconv.FormatFloat(l.lifetime.Seconds(), 'f', -1, 64), "0",
			"the stream reached its maximum lifetime (%s): reopen it with the last resume_token", l.lifetime)
	}
	return err
}

type lifetimeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s lifetimeStream) Context() context.Context { return s.ctx }

// internalError is the INTERNAL answer to an unexpected error: the client gets a correlation id, the error
// text stays in the server log under that id (cqckit.Internal).
func internalError(err error) error { return cqckit.Internal(err) }

// sizeViolations checks only the size rules by reading lengths (cqckit.SizeViolations).
func sizeViolations(msg proto.Message) []cqc.Violation { return cqckit.SizeViolations(msg) }

// fieldRules is the buf.validate rules of fd (nil: none).
func fieldRules(fd protoreflect.FieldDescriptor) *validatepb.FieldRules {
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil && proto.HasExtension(opts, validatepb.E_Field) {
		rules, _ := proto.GetExtension(opts, validatepb.E_Field).(*validatepb.FieldRules)
		return rules
	}
	return nil
}
