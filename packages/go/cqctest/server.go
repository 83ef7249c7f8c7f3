package cqctest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// Services are the full names of the CQC services the reference server implements.
var Services = []string{
	servicesv1.AssetRegistry_ServiceDesc.ServiceName,
	servicesv1.MarketData_ServiceDesc.ServiceName,
	servicesv1.VenueGateway_ServiceDesc.ServiceName,
	servicesv1.Portfolio_ServiceDesc.ServiceName,
	servicesv1.RiskEngine_ServiceDesc.ServiceName,
}

// Options configure a reference server.
type Options struct {
	// Addr is the TCP address to listen on; "" means "127.0.0.1:0" (an ephemeral port on loopback).
	Addr string
	// Testdata is the repository's testdata directory (its examples/ seed the server) or the examples
	// directory itself. Empty: the server is seeded from the bundle embedded in the package (SeedExamples),
	// the same examples, so a consumer of the Go module needs no repository checkout.
	Testdata string
	// ServerOptions are added to the grpc.Server's options (after the CQC interceptors).
	ServerOptions []grpc.ServerOption
	// MaxStreamsPerClient, MaxStreamsTotal and MaxStreamLifetime override the limits of the same names
	// (limits.go) when positive.
	MaxStreamsPerClient, MaxStreamsTotal int
	MaxStreamLifetime                    time.Duration
}

// Server is a running reference server; create it with Start and stop it with Stop.
type Server struct {
	grpc    *grpc.Server
	health  *health.Server
	limiter *streamLimiter
	state   *state
	lis     net.Listener
	done    chan struct{}
	err     error
	once    sync.Once
}

// New builds a gRPC server with the reference services, health and reflection registered and the CQC
// interceptors installed, without listening: use it to serve on a listener of your own. The returned
// stop function ends the live streams (StreamTrades) so that GracefulStop can return.
func New(opts Options) (srv *grpc.Server, stop func(), err error) {
	s, hs, st, _, err := build(opts)
	if err != nil {
		return nil, nil, err
	}
	return s, func() { st.close(); hs.Shutdown() }, nil
}

func build(opts Options) (*grpc.Server, *health.Server, *state, *streamLimiter, error) {
	st := newState()
	if err := st.seed(opts.Testdata); err != nil {
		return nil, nil, nil, nil, err
	}
	limiter := newStreamLimiter(opts.MaxStreamsPerClient, opts.MaxStreamsTotal, opts.MaxStreamLifetime)
	serverOptions := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unaryInterceptor),
		grpc.ChainStreamInterceptor(streamInterceptor, limiter.interceptor),
		grpc.MaxRecvMsgSize(MaxReceiveMessageBytes),
	}, opts.ServerOptions...)
	s := grpc.NewServer(serverOptions...)
	servicesv1.RegisterAssetRegistryServer(s, &assetRegistry{s: st})
	servicesv1.RegisterMarketDataServer(s, &marketData{s: st})
	gateway := &venueGateway{s: st}
	servicesv1.RegisterVenueGatewayServer(s, gateway)
	servicesv1.RegisterPortfolioServer(s, &portfolio{s: st})
	risk, err := newRiskEngine(st, opts.Testdata)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	risk.gateway = gateway // Flatten cancels through this server's VenueGateway
	servicesv1.RegisterRiskEngineServer(s, risk)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range Services {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s) // grpc.reflection.v1 and v1alpha
	return s, hs, st, limiter, nil
}

// Start listens on opts.Addr and serves the reference services until Stop is called or ctx is done.
func Start(ctx context.Context, opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s, hs, st, limiter, err := build(opts)
	if err != nil {
		return nil, err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cqctest: listen %s: %w", addr, err)
	}
	srv := &Server{grpc: s, health: hs, limiter: limiter, state: st, lis: lis, done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		if err := s.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			srv.err = err
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			srv.Stop()
		case <-srv.done:
		}
	}()
	return srv, nil
}

// Addr is the address the server listens on, e.g. "127.0.0.1:40123" (usable as a grpc.NewClient target).
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.lis.Addr().(*net.TCPAddr).Port }

// GRPCServer is the underlying grpc.Server.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Stop reports NOT_SERVING, ends live streams, and stops the server gracefully (forcefully after 5 s).
// It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.health.Shutdown()
		s.state.close()
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			s.grpc.Stop()
		}
	})
	<-s.done
}

// Wait blocks until the server has stopped and returns the error that stopped it, if any.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}
