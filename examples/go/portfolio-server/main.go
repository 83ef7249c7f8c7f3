// Command portfolio-server is a minimal Portfolio service built only on cqckit and the generated stubs:
// CreatePortfolio, GetPortfolio, ListPortfolios and UpdatePortfolio, in memory. Every other Portfolio RPC
// answers UNIMPLEMENTED.
//
//	go run . -addr 127.0.0.1:50062
//	cqc-conformance --target 127.0.0.1:50062 --service Portfolio \
//	    --rpcs CreatePortfolio,GetPortfolio,ListPortfolios,UpdatePortfolio
//
// The kit does the contract's common work: its interceptors validate each request (INVALID_ARGUMENT
// VALIDATION_FAILED with the broken rules) before a handler runs and echo x-cqc-request-id; cqckit.Errorf
// takes each reason's gRPC code from the contract; CheckCreate / ApplyUpdateMask / Stamp implement the
// Create and Update conventions; Page signs page tokens and clamps page sizes.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// portfolios is the service: the portfolios by portfolio_id, behind one lock.
type portfolios struct {
	servicesv1.UnimplementedPortfolioServer
	mu     sync.Mutex
	items  map[string]*portfoliov1.Portfolio
	tokens *cqckit.PageTokens
}

func newPortfolios() *portfolios {
	return &portfolios{items: map[string]*portfoliov1.Portfolio{}, tokens: cqckit.NewPageTokens(nil)}
}

// get is the stored portfolio (the caller holds mu), or NOT_FOUND NOT_FOUND_RESOURCE {portfolio_id}.
func (s *portfolios) get(id string) (*portfoliov1.Portfolio, error) {
	if p, ok := s.items[id]; ok {
		return p, nil
	}
	return nil, cqckit.Errorf(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE,
		map[string]string{"portfolio_id": id}, "no portfolio %q", id)
}

func (s *portfolios) CreatePortfolio(_ context.Context, req *servicesv1.CreatePortfolioRequest) (*servicesv1.CreatePortfolioResponse, error) {
	incoming := cqckit.Without(req.GetPortfolio()) // create_time and update_time are output only
	s.mu.Lock()
	defer s.mu.Unlock()
	// the same portfolio again: the stored one; other content under the id: ALREADY_EXISTS
	stored, found, err := cqckit.CheckCreate(s.items[incoming.GetPortfolioId()], incoming, "portfolio_id")
	if err != nil {
		return nil, err
	}
	if found {
		return &servicesv1.CreatePortfolioResponse{Portfolio: stored}, nil
	}
	cqckit.Stamp(incoming, time.Now(), "create_time", "update_time")
	s.items[incoming.GetPortfolioId()] = incoming
	return &servicesv1.CreatePortfolioResponse{Portfolio: incoming}, nil
}

func (s *portfolios) GetPortfolio(_ context.Context, req *servicesv1.GetPortfolioRequest) (*servicesv1.GetPortfolioResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(req.GetPortfolioId())
	return &servicesv1.GetPortfolioResponse{Portfolio: p}, err
}

func (s *portfolios) ListPortfolios(_ context.Context, req *servicesv1.ListPortfoliosRequest) (*servicesv1.ListPortfoliosResponse, error) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.items))
	for id := range s.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ordered := make([]*portfoliov1.Portfolio, len(ids))
	for i, id := range ids {
		ordered[i] = s.items[id]
	}
	s.mu.Unlock()
	page, next, err := cqckit.Page(s.tokens, servicesv1.Portfolio_ListPortfolios_FullMethodName, req, ordered,
		(*portfoliov1.Portfolio).GetPortfolioId, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListPortfoliosResponse{Portfolios: page, NextPageToken: next}, nil
}

func (s *portfolios) UpdatePortfolio(_ context.Context, req *servicesv1.UpdatePortfolioRequest) (*servicesv1.UpdatePortfolioResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// the mask is checked first: a bad path is INVALID_UPDATE_MASK even for an unknown portfolio
	if err := cqckit.CheckUpdateMask(req.GetPortfolio(), req.GetUpdateMask(), "portfolio_id"); err != nil {
		return nil, err
	}
	stored, err := s.get(req.GetPortfolio().GetPortfolioId())
	if err != nil {
		return nil, err
	}
	updated, err := cqckit.ApplyUpdateMask(stored, req.GetPortfolio(), req.GetUpdateMask(), "portfolio", "portfolio_id")
	if err != nil {
		return nil, err
	}
	cqckit.Stamp(updated, time.Now(), "update_time")
	s.items[updated.GetPortfolioId()] = updated
	return &servicesv1.UpdatePortfolioResponse{Portfolio: updated}, nil
}

// newServer is a gRPC server with the kit's interceptors, the Portfolio service, gRPC health (SERVING) and
// server reflection (for grpcurl / buf curl).
func newServer() *grpc.Server {
	srv := grpc.NewServer(cqckit.ServerOptions(cqckit.Options{Trailer: metadata.Pairs("x-cqc-server", "go-example")})...)
	servicesv1.RegisterPortfolioServer(srv, newPortfolios())
	healthServer := health.NewServer()
	healthServer.SetServingStatus(servicesv1.Portfolio_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, healthServer)
	reflection.Register(srv)
	return srv
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50062", "listen address (port 0: a free one)")
	portFile := flag.String("port-file", "", "write the bound port to this file once listening")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *portFile != "" {
		port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
		if err := os.WriteFile(*portFile, []byte(port), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	srv := newServer()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	fmt.Printf("Portfolio listening on %s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
