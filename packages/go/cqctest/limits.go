package cqctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
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
// text stays in the server log under that id.
func internalError(err error) error {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	slog.Error("cqctest: unexpected error", "correlation_id", id, "error", err.Error())
	return status.Errorf(codes.Internal, "internal error (correlation_id=%s)", id)
}

// sizeViolations checks only the size rules (repeated max_items, map max_pairs, string max_len / max_bytes,
// bytes max_len) by reading lengths: the items of a field over its item limit are never visited. Servers
// run it before the full validation so that an oversized request is refused without walking its items
// (the same pre-check as cqc.validation.size_violations in Python).
func sizeViolations(msg proto.Message) []cqc.Violation {
	var found []cqc.Violation
	checkSizes(msg.ProtoReflect(), "", &found)
	sort.Slice(found, func(i, j int) bool { // the order of cqc.Violations
		a, b := found[i], found[j]
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Message < b.Message
	})
	return found
}

func checkSizes(m protoreflect.Message, prefix string, found *[]cqc.Violation) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		rules := fieldRules(fd)
		over := false
		if rules != nil && rules.GetIgnore() != validatepb.Ignore_IGNORE_ALWAYS {
			switch {
			case fd.IsMap() && rules.GetMap().HasMaxPairs():
				if limit := rules.GetMap().GetMaxPairs(); uint64(m.Get(fd).Map().Len()) > limit {
					*found = append(*found, cqc.Violation{Field: path, RuleID: "map.max_pairs",
						Message: fmt.Sprintf("map must be at most %d entries", limit)})
					over = true
				}
			case fd.IsList() && rules.GetRepeated().HasMaxItems():
				if limit := rules.GetRepeated().GetMaxItems(); uint64(m.Get(fd).List().Len()) > limit {
					*found = append(*found, cqc.Violation{Field: path, RuleID: "repeated.max_items",
						Message: fmt.Sprintf("must contain no more than %d item(s)", limit)})
					over = true
				}
			}
			scalar := rules
			if fd.IsList() {
				scalar = rules.GetRepeated().GetItems()
			}
			if !over && !fd.IsMap() && scalar != nil {
				checkScalarSizes(m, fd, path, scalar, found)
			}
		}
		if over || fd.Message() == nil || fd.IsMap() || len(fd.Message().FullName()) > 7 && fd.Message().FullName()[:7] == "google." {
			continue
		}
		if fd.IsList() {
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				checkSizes(list.Get(j).Message(), fmt.Sprintf("%s[%d]", path, j), found)
			}
		} else if m.Has(fd) {
			checkSizes(m.Get(fd).Message(), path, found)
		}
	}
}

func checkScalarSizes(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string, rules *validatepb.FieldRules, found *[]cqc.Violation) {
	type check struct {
		rule  string
		limit uint64
		size  func(protoreflect.Value) uint64
		text  string
	}
	var checks []check
	if s := rules.GetString(); s != nil {
		if s.HasMaxLen() {
			checks = append(checks, check{"string.max_len", s.GetMaxLen(),
				func(v protoreflect.Value) uint64 { return uint64(utf8.RuneCountInString(v.String())) },
				fmt.Sprintf("must be at most %d characters", s.GetMaxLen())})
		}
		if s.HasMaxBytes() {
			checks = append(checks, check{"string.max_bytes", s.GetMaxBytes(),
				func(v protoreflect.Value) uint64 { return uint64(len(v.String())) },
				fmt.Sprintf("must be at most %d bytes", s.GetMaxBytes())})
		}
	}
	if b := rules.GetBytes(); b != nil && b.HasMaxLen() {
		checks = append(checks, check{"bytes.max_len", b.GetMaxLen(),
			func(v protoreflect.Value) uint64 { return uint64(len(v.Bytes())) },
			fmt.Sprintf("must be at most %d bytes", b.GetMaxLen())})
	}
	for _, c := range checks {
		if fd.IsList() {
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				if c.size(list.Get(j)) > c.limit {
					*found = append(*found, cqc.Violation{Field: fmt.Sprintf("%s[%d]", path, j), RuleID: c.rule, Message: c.text})
				}
			}
		} else if c.size(m.Get(fd)) > c.limit {
			*found = append(*found, cqc.Violation{Field: path, RuleID: c.rule, Message: c.text})
		}
	}
}

var fieldRuleCache sync.Map // protoreflect.FieldDescriptor -> *validatepb.FieldRules (nil: none)

func fieldRules(fd protoreflect.FieldDescriptor) *validatepb.FieldRules {
	if cached, ok := fieldRuleCache.Load(fd); ok {
		return cached.(*validatepb.FieldRules)
	}
	var rules *validatepb.FieldRules
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil && proto.HasExtension(opts, validatepb.E_Field) {
		rules, _ = proto.GetExtension(opts, validatepb.E_Field).(*validatepb.FieldRules)
	}
	fieldRuleCache.Store(fd, rules)
	return rules
}
