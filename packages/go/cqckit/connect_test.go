package cqckit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/metadata"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

const getPortfolio = "/cqc.services.v1.Portfolio/GetPortfolio"

// connectServer serves GetPortfolio with connect-go and the kit's interceptor; the handler answers NOT_FOUND
// for "pfl_01JD0000000000000000000000" (a kit error) and a plain Go error for "pfl_01JD0000000000000000000001".
func connectServer(t *testing.T) *connect.Client[servicesv1.GetPortfolioRequest, servicesv1.GetPortfolioResponse] {
	t.Helper()
	handler := connect.NewUnaryHandler(getPortfolio,
		func(_ context.Context, req *connect.Request[servicesv1.GetPortfolioRequest]) (*connect.Response[servicesv1.GetPortfolioResponse], error) {
			switch id := req.Msg.GetPortfolioId(); id {
			case "pfl_01JD0000000000000000000000":
				return nil, cqckit.Error(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, "no portfolio "+id,
					map[string]string{"portfolio_id": id})
			case "pfl_01JD0000000000000000000001":
				return nil, errors.New("database password=hunter2 unreachable")
			default:
				return connect.NewResponse(&servicesv1.GetPortfolioResponse{Portfolio: &portfoliov1.Portfolio{PortfolioId: id}}), nil
			}
		},
		connect.WithInterceptors(cqckit.ConnectInterceptor(cqckit.Options{Trailer: metadata.Pairs("x-cqc-server", "go-connect")})),
	)
	mux := http.NewServeMux()
	mux.Handle(getPortfolio, handler)
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	return connect.NewClient[servicesv1.GetPortfolioRequest, servicesv1.GetPortfolioResponse](server.Client(), server.URL+getPortfolio)
}

func TestConnectInterceptorValidatesAndEchoes(t *testing.T) {
	client := connectServer(t)
	ctx := context.Background()

	req := connect.NewRequest(&servicesv1.GetPortfolioRequest{PortfolioId: "pfl_01JDB00000000000000000000A"})
	req.Header().Set(cqckit.RequestIDHeader, "req-1")
	resp, err := client.CallUnary(ctx, req)
	if err != nil {
		t.Fatalf("valid request: %v", err)
	}
	if got := resp.Header().Get(cqckit.RequestIDHeader); got != "req-1" {
		t.Errorf("request id echo = %q", got)
	}
	if got := resp.Trailer().Get("x-cqc-server"); got != "go-connect" {
		t.Errorf("trailer = %q", got)
	}

	bad := connect.NewRequest(&servicesv1.GetPortfolioRequest{PortfolioId: "not-an-id"})
	bad.Header().Set(cqckit.RequestIDHeader, "req-2")
	_, err = client.CallUnary(ctx, bad)
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument {
		t.Fatalf("invalid request: got %v, want INVALID_ARGUMENT", err)
	}
	if got := cerr.Meta().Get(cqckit.RequestIDHeader); got != "req-2" {
		t.Errorf("request id echo on error = %q", got)
	}
	var info *errdetails.ErrorInfo
	var badRequest *errdetails.BadRequest
	for _, detail := range cerr.Details() {
		value, derr := detail.Value()
		if derr != nil {
			t.Fatalf("detail: %v", derr)
		}
		switch v := value.(type) {
		case *errdetails.ErrorInfo:
			info = v
		case *errdetails.BadRequest:
			badRequest = v
		}
	}
	if info == nil || info.GetReason() != "VALIDATION_FAILED" || info.GetDomain() != "cqc.crypto-quant" {
		t.Fatalf("ErrorInfo = %v", info)
	}
	if badRequest == nil || len(badRequest.GetFieldViolations()) == 0 ||
		badRequest.GetFieldViolations()[0].GetField() != "portfolio_id" || badRequest.GetFieldViolations()[0].GetReason() == "" {
		t.Fatalf("BadRequest = %v (want a violation of portfolio_id with its rule id)", badRequest)
	}
}

func TestConnectInterceptorMapsHandlerErrors(t *testing.T) {
	client := connectServer(t)
	ctx := context.Background()

	_, err := client.CallUnary(ctx, connect.NewRequest(&servicesv1.GetPortfolioRequest{PortfolioId: "pfl_01JD0000000000000000000000"}))
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeNotFound {
		t.Fatalf("kit error: got %v, want NOT_FOUND", err)
	}
	found := false
	for _, detail := range cerr.Details() {
		if value, _ := detail.Value(); value != nil {
			if info, ok := value.(*errdetails.ErrorInfo); ok {
				found = info.GetReason() == "NOT_FOUND_RESOURCE" && info.GetMetadata()["portfolio_id"] == "pfl_01JD0000000000000000000000"
			}
		}
	}
	if !found {
		t.Errorf("NOT_FOUND_RESOURCE ErrorInfo with portfolio_id missing from %v", cerr.Details())
	}

	_, err = client.CallUnary(ctx, connect.NewRequest(&servicesv1.GetPortfolioRequest{PortfolioId: "pfl_01JD0000000000000000000001"}))
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInternal {
		t.Fatalf("plain error: got %v, want INTERNAL", err)
	}
	if msg := cerr.Message(); msg == "" || strings.Contains(msg, "hunter2") {
		t.Errorf("INTERNAL message leaks or is empty: %q", msg)
	}
}
