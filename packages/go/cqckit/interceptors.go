package cqckit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
)

// RequestIDHeader is the request header a CQC server echoes in its response headers (a client sets it to
// correlate logs; it is also the conventional idempotency key of requests without a request_id field).
const RequestIDHeader = "x-cqc-request-id"

// Validate answers nil for a valid message and the standard INVALID_ARGUMENT VALIDATION_FAILED error
// (ValidationError) for an invalid one. Size rules (max_items, max_pairs, max_len, max_bytes) are checked
// first by reading lengths, so an oversized request is refused without walking its items; then every rule
// of the message (cqc.Violations). A rule that cannot be evaluated gives INTERNAL (Internal).
func Validate(msg proto.Message) error {
	if sizes := SizeViolations(msg); len(sizes) > 0 {
		return MessageValidationError(msg, sizes)
	}
	violations, err := cqc.Violations(msg)
	if err != nil {
		return Internal(fmt.Errorf("validating %s: %w", msg.ProtoReflect().Descriptor().FullName(), err))
	}
	if len(violations) > 0 {
		return MessageValidationError(msg, violations)
	}
	return nil
}

// Internal is the INTERNAL answer to an unexpected error: the client gets only a correlation id
// ("internal error (correlation_id=<32 hex>)"); err is logged with slog under that id.
func Internal(err error) error {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	slog.Error("cqckit: unexpected error", "correlation_id", id, "error", fmt.Sprint(err))
	return status.Errorf(codes.Internal, "internal error (correlation_id=%s)", id)
}

// ToStatus maps any handler error to what the client receives: nil stays nil, status errors (everything
// this package builds) pass through, context errors become CANCELLED / DEADLINE_EXCEEDED, anything else
// becomes INTERNAL with a correlation id (Internal), so that no internal detail leaks.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return Internal(err)
}

// Options configure the interceptors.
type Options struct {
	// Methods selects the full method names ("/pkg.Service/Method") whose requests are validated; nil
	// means every method of a CQC service (names starting with "/cqc.").
	Methods func(fullMethod string) bool
	// Validate replaces Validate (e.g. to add service-specific checks); nil means Validate.
	Validate func(proto.Message) error
	// Trailer is added to every response's trailers (e.g. a server name); nil adds none.
	Trailer metadata.MD
}

func (o Options) selected(fullMethod string) bool {
	if o.Methods == nil {
		return strings.HasPrefix(fullMethod, "/cqc.")
	}
	return o.Methods(fullMethod)
}

func (o Options) validate(msg proto.Message) error {
	if o.Validate == nil {
		return Validate(msg)
	}
	return o.Validate(msg)
}

// responseHeader is the x-cqc-request-id echo of an incoming request (nil without one).
func responseHeader(ctx context.Context) metadata.MD {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ids := md.Get(RequestIDHeader); len(ids) > 0 {
			return metadata.Pairs(RequestIDHeader, ids[0])
		}
	}
	return nil
}

// RequestID is the x-cqc-request-id header of an incoming request ("" without one).
func RequestID(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ids := md.Get(RequestIDHeader); len(ids) > 0 {
			return ids[0]
		}
	}
	return ""
}

// UnaryServerInterceptor echoes x-cqc-request-id in the response headers, validates the request of every
// selected method before the handler runs (INVALID_ARGUMENT VALIDATION_FAILED with BadRequest) and maps
// handler errors with ToStatus.
func UnaryServerInterceptor(opts Options) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if header := responseHeader(ctx); header != nil {
			_ = grpc.SetHeader(ctx, header)
		}
		if opts.Trailer != nil {
			_ = grpc.SetTrailer(ctx, opts.Trailer)
		}
		if msg, ok := req.(proto.Message); ok && opts.selected(info.FullMethod) {
			if err := opts.validate(msg); err != nil {
				return nil, ToStatus(err)
			}
		}
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, ToStatus(err)
		}
		return resp, nil
	}
}

// StreamServerInterceptor does for streaming RPCs what UnaryServerInterceptor does: every message the
// handler receives on a selected method is validated as it is received (the handler's Recv returns the
// validation error).
func StreamServerInterceptor(opts Options) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if header := responseHeader(ss.Context()); header != nil {
			_ = ss.SetHeader(header)
		}
		if opts.Trailer != nil {
			ss.SetTrailer(opts.Trailer)
		}
		if opts.selected(info.FullMethod) {
			ss = &validatingStream{ServerStream: ss, validate: opts.validate}
		}
		return ToStatus(handler(srv, ss))
	}
}

type validatingStream struct {
	grpc.ServerStream
	validate func(proto.Message) error
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return s.validate(msg)
	}
	return nil
}

// ServerOptions are the grpc.ServerOption values that install both interceptors (chained first) and the
// standard receive limit (4 MiB).
func ServerOptions(opts Options) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(opts)),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(opts)),
		grpc.MaxRecvMsgSize(4 * 1024 * 1024),
	}
}
