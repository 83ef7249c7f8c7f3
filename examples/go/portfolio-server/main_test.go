package main

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

func start(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// The service's behaviour called directly (no Python needed). The Portfolio suite's cases for the four RPCs
// run against this same main.go in TestGuideRunsLiterally (guide_test.go).
func TestPortfolioService(t *testing.T) {
	conn, err := grpc.NewClient(start(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := servicesv1.NewPortfolioClient(conn)
	ctx := context.Background()
	p := &portfoliov1.Portfolio{PortfolioId: cqckit.NewID("pfl"), Name: "example", Owner: "desk:a",
		ReportingAssetId: "ast_01JDFVSD000000000000000000", AccountIds: []string{"acc_01JDBNVSDMMA1N000000000000"}, TotalEquity: "0", AsOfTime: timestamppb.Now()}
	created, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: p})
	if err != nil || created.GetPortfolio().GetCreateTime() == nil {
		t.Fatalf("create: %v %v", created, err)
	}
	again, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: p})
	if err != nil || !again.GetPortfolio().GetCreateTime().AsTime().Equal(created.GetPortfolio().GetCreateTime().AsTime()) {
		t.Fatalf("idempotent create: %v %v", again, err)
	}
	renamed := proto.Clone(p).(*portfoliov1.Portfolio) // the request carries a valid portfolio; only name is written
	renamed.Name, renamed.Owner = "renamed", "desk:not-written"
	updated, err := client.UpdatePortfolio(ctx, &servicesv1.UpdatePortfolioRequest{Portfolio: renamed, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}})
	if err != nil || updated.GetPortfolio().GetName() != "renamed" || updated.GetPortfolio().GetOwner() != "desk:a" {
		t.Fatalf("update: %v %v", updated, err)
	}
	_, err = client.UpdatePortfolio(ctx, &servicesv1.UpdatePortfolioRequest{Portfolio: renamed, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"portfolio_id"}}})
	if d := cqckit.Parse(err); d.Reason != "INVALID_UPDATE_MASK" || d.Metadata["paths"] != "portfolio_id" {
		t.Fatalf("immutable path: %+v", d)
	}
	_, err = client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: cqckit.NewID("pfl")})
	if d := cqckit.Parse(err); d.Code != codes.NotFound || d.Reason != "NOT_FOUND_RESOURCE" {
		t.Fatalf("not found: %+v", d)
	}
	_, err = client.GetPortfolio(ctx, &servicesv1.GetPortfolioRequest{PortfolioId: "portfolio-1"})
	if d := cqckit.Parse(err); d.Reason != "VALIDATION_FAILED" || d.Violations[0].RuleID != "cqc.id" {
		t.Fatalf("validation: %+v", d)
	}
	for i := 0; i < 2; i++ {
		q := &portfoliov1.Portfolio{PortfolioId: cqckit.NewID("pfl"), Name: "more", Owner: "desk:a",
			ReportingAssetId: "ast_01JDFVSD000000000000000000", AccountIds: []string{"acc_01JDBNVSDMMA1N000000000000"}, TotalEquity: "0", AsOfTime: timestamppb.Now()}
		if _, err := client.CreatePortfolio(ctx, &servicesv1.CreatePortfolioRequest{Portfolio: q}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	token := ""
	for {
		page, err := client.ListPortfolios(ctx, &servicesv1.ListPortfoliosRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range page.GetPortfolios() {
			seen = append(seen, q.GetPortfolioId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 3 || !(seen[0] < seen[1] && seen[1] < seen[2]) {
		t.Fatalf("listed %v", seen)
	}
	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "cqc.services.v1.Portfolio"})
	if err != nil || health.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", health, err)
	}
	_, err = client.ListPortfolios(ctx, &servicesv1.ListPortfoliosRequest{PageToken: "not-a-token"})
	if d := cqckit.Parse(err); d.Reason != "INVALID_PAGE_TOKEN" {
		t.Fatalf("garbage token: %+v", d)
	}
}
