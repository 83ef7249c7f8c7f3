package cqctest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
)

// RESTHandler returns an http.Handler serving the REST mappings (the google.api.http annotations of the
// service RPCs, AIP-127) of every service registered on srv, plus the Connect protocol, transcoded to gRPC
// by connectrpc.com/vanguard: no hand-written routes. Bodies use the canonical proto JSON mapping (lower
// camel-case names; proto names are accepted on input); errors are google.rpc.Status JSON ({"code",
// "message", "details"}) with the HTTP status of the gRPC code. Server-streaming RPCs have no REST
// mapping: REST clients page with the List RPCs, or use Connect/gRPC streaming.
func RESTHandler(srv *grpc.Server) (http.Handler, error) {
	return vanguardgrpc.NewTranscoder(srv, vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(8<<20)))
}

// RESTServer is a running REST endpoint in front of a reference server; create it with StartREST.
type RESTServer struct {
	http *http.Server
	lis  net.Listener
	done chan error
}

// StartREST serves srv's services as REST (see RESTHandler) on addr ("" means "127.0.0.1:0"), over
// HTTP/1.1.
func StartREST(ctx context.Context, srv *Server, addr string) (*RESTServer, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	handler, err := RESTHandler(srv.GRPCServer())
	if err != nil {
		return nil, err
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &RESTServer{
		http: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		lis:  lis,
		done: make(chan error, 1),
	}
	go func() {
		err := r.http.Serve(lis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.done <- err
	}()
	return r, nil
}

// Addr is the address the REST endpoint listens on.
func (r *RESTServer) Addr() string { return r.lis.Addr().String() }

// Port is the TCP port the REST endpoint listens on.
func (r *RESTServer) Port() int { return r.lis.Addr().(*net.TCPAddr).Port }

// Stop closes the REST endpoint (in-flight requests get up to 5 seconds) and waits for it.
func (r *RESTServer) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.http.Shutdown(ctx)
	if serveErr := <-r.done; err == nil {
		err = serveErr
	}
	return err
}
