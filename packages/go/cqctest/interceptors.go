package cqctest

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// RequestIDHeader is the request header a server echoes in its response headers.
const RequestIDHeader = cqckit.RequestIDHeader

// ServerTrailer is the trailer naming the reference server's language on every response.
const ServerTrailer = "x-cqc-server"

// ServerName is the value of the x-cqc-server trailer of this server.
const ServerName = "go"

// cqcMethod reports whether a full method name belongs to a CQC service (only those are validated).
func cqcMethod(fullMethod string) bool { return strings.HasPrefix(fullMethod, "/cqc.") }

// kitOptions: the cqckit interceptors validate CQC requests (size rules first), echo x-cqc-request-id and
// add the x-cqc-server trailer.
var kitOptions = cqckit.Options{Methods: cqcMethod, Validate: validate, Trailer: metadata.Pairs(ServerTrailer, ServerName)}

var (
	kitUnary  = cqckit.UnaryServerInterceptor(kitOptions)
	kitStream = cqckit.StreamServerInterceptor(kitOptions)
)

// unaryInterceptor is the cqckit unary interceptor with handler errors mapped by errorStatus (apiError →
// ErrorInfo).
func unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return kitUnary(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, errorStatus(err)
		}
		return resp, nil
	})
}

// streamInterceptor does for streams what unaryInterceptor does for unary calls; requests are validated
// as they are received.
func streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return kitStream(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
		return errorStatus(handler(srv, ss))
	})
}
