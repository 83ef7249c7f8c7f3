package cqckit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// ConnectInterceptor is the Connect (connectrpc.com/connect) counterpart of UnaryServerInterceptor and
// StreamServerInterceptor, for services served with connect-go handlers (Connect, gRPC and gRPC-Web
// protocols on one net/http server). Install it with connect.WithInterceptors(cqckit.ConnectInterceptor(opts))
// on every handler. It:
//   - validates the request of every selected procedure ("/cqc.services.v1.Portfolio/GetPortfolio"; opts.Methods
//     sees the same full names as the gRPC interceptors) before the handler runs, and every message a client
//     stream sends, answering INVALID_ARGUMENT VALIDATION_FAILED with the same ErrorInfo and BadRequest details;
//   - echoes x-cqc-request-id in the response headers (also on errors) and adds opts.Trailer to the trailers;
//   - maps handler errors like ToStatus: errors built by this package keep their code, message and details,
//     *connect.Error values pass through, context errors become CANCELLED / DEADLINE_EXCEEDED, anything else
//     INTERNAL with a correlation id.
//
// Client-side calls pass through unchanged.
func ConnectInterceptor(opts Options) connect.Interceptor { return connectInterceptor{opts} }

type connectInterceptor struct{ opts Options }

func (c connectInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		requestID := req.Header().Get(RequestIDHeader)
		if msg, ok := req.Any().(proto.Message); ok && c.opts.selected(req.Spec().Procedure) {
			if err := c.opts.validate(msg); err != nil {
				return nil, c.decorate(ConnectError(err), requestID)
			}
		}
		resp, err := next(ctx, req)
		if err != nil {
			return nil, c.decorate(ConnectError(err), requestID)
		}
		if requestID != "" {
			resp.Header().Set(RequestIDHeader, requestID)
		}
		addMetadata(resp.Trailer(), c.opts.Trailer)
		return resp, nil
	}
}

func (c connectInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (c connectInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		requestID := conn.RequestHeader().Get(RequestIDHeader)
		if requestID != "" {
			conn.ResponseHeader().Set(RequestIDHeader, requestID)
		}
		addMetadata(conn.ResponseTrailer(), c.opts.Trailer)
		if c.opts.selected(conn.Spec().Procedure) {
			conn = validatingConn{StreamingHandlerConn: conn, validate: c.opts.validate}
		}
		if err := next(ctx, conn); err != nil {
			return ConnectError(err)
		}
		return nil
	}
}

// decorate adds the request-id echo and the configured trailer to an error's metadata.
func (c connectInterceptor) decorate(err *connect.Error, requestID string) *connect.Error {
	if requestID != "" {
		err.Meta().Set(RequestIDHeader, requestID)
	}
	addMetadata(err.Meta(), c.opts.Trailer)
	return err
}

// addMetadata adds every value of md (gRPC metadata) to h (Connect headers, trailers or error metadata).
func addMetadata(h http.Header, md metadata.MD) {
	for key, values := range md {
		for _, value := range values {
			h.Add(key, value)
		}
	}
}

type validatingConn struct {
	connect.StreamingHandlerConn
	validate func(proto.Message) error
}

func (v validatingConn) Receive(m any) error {
	if err := v.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		if err := v.validate(msg); err != nil {
			return ConnectError(err)
		}
	}
	return nil
}

// ConnectError converts any error a handler or this package returns into a *connect.Error with the same
// code, message and details (ErrorInfo, BadRequest): the Connect form of ToStatus. Connect and gRPC share
// their numeric codes.
func ConnectError(err error) *connect.Error {
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		return connectErr
	}
	st, ok := status.FromError(ToStatus(err))
	if !ok || st == nil {
		st = status.Convert(Internal(err))
	}
	out := connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	for _, detail := range st.Proto().GetDetails() {
		msg, unpackErr := detail.UnmarshalNew()
		if unpackErr != nil {
			slog.Warn("cqckit: error detail dropped (type not linked into this binary)", "type", detail.GetTypeUrl())
			continue
		}
		d, detailErr := connect.NewErrorDetail(msg)
		if detailErr != nil {
			slog.Warn("cqckit: error detail dropped", "type", detail.GetTypeUrl(), "error", detailErr)
			continue
		}
		out.AddDetail(d)
	}
	return out
}
