package cqctest

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// RequestIDHeader is the request header a server echoes in its response headers.
const RequestIDHeader = "x-cqc-request-id"

// ServerTrailer is the trailer naming the reference server's language on every response.
const ServerTrailer = "x-cqc-server"

// ServerName is the value of the x-cqc-server trailer of this server.
const ServerName = "go"

// cqcMethod reports whether a full method name belongs to a CQC service (only those are validated).
func cqcMethod(fullMethod string) bool { return strings.HasPrefix(fullMethod, "/cqc.") }

// responseMetadata is the header (request id echo) and trailer (server name) of every response.
func responseMetadata(ctx context.Context) (header, trailer metadata.MD) {
	trailer = metadata.Pairs(ServerTrailer, ServerName)
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if ids := md.Get(RequestIDHeader); len(ids) > 0 {
			header = metadata.Pairs(RequestIDHeader, ids[0])
		}
	}
	return header, trailer
}

// unaryInterceptor sets the response metadata, validates CQC requests before the handler runs and maps
// handler errors to statuses with ErrorInfo.
func unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	header, trailer := responseMetadata(ctx)
	if header != nil {
		_ = grpc.SetHeader(ctx, header)
	}
	_ = grpc.SetTrailer(ctx, trailer)
	if msg, ok := req.(proto.Message); ok && cqcMethod(info.FullMethod) {
		if err := validate(msg); err != nil {
			return nil, err
		}
	}
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, errorStatus(err)
	}
	return resp, nil
}

// streamInterceptor does for streams what unaryInterceptor does for unary calls; requests are validated
// as they are received.
func streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	header, trailer := responseMetadata(ss.Context())
	if header != nil {
		_ = ss.SetHeader(header)
	}
	ss.SetTrailer(trailer)
	if cqcMethod(info.FullMethod) {
		ss = validatingStream{ss}
	}
	return errorStatus(handler(srv, ss))
}

type validatingStream struct{ grpc.ServerStream }

func (s validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		return validate(msg)
	}
	return nil
}
