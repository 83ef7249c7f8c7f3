package cqctest

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// Handler errors (apiError) reach clients through cqckit: the reason's spec when they follow it, INTERNAL
// with a correlation id for internal failures, as given (and logged) when they drift from the spec.
func TestAPIErrorsGoThroughTheKit(t *testing.T) {
	d := cqckit.Parse(errorStatus(notFound("NOT_FOUND_MARKET", "market_id", "mkt_x")))
	if d.Code != codes.NotFound || d.Reason != "NOT_FOUND_MARKET" || d.Domain != cqckit.Domain || d.Metadata["market_id"] != "mkt_x" {
		t.Fatalf("spec error: %+v", d)
	}
	d = cqckit.Parse(errorStatus(newError(codes.Internal, "INTERNAL", nil, "built an invalid order: secret")))
	if d.Code != codes.Internal || d.Reason != "" || strings.Contains(d.Message, "secret") || !strings.Contains(d.Message, "correlation_id=") {
		t.Fatalf("internal: %+v", d)
	}
	d = cqckit.Parse(errorStatus(newError(codes.InvalidArgument, "VALIDATION_FAILED", map[string]string{"field": "x"}, "drift")))
	if d.Code != codes.InvalidArgument || d.Reason != "VALIDATION_FAILED" || d.Metadata["field"] != "x" {
		t.Fatalf("drift: %+v", d)
	}
	if _, err := decodeToken(encodeToken("ord_1") + "x"); cqckit.Parse(err).Reason != "INVALID_PAGE_TOKEN" {
		t.Fatalf("tampered token: %v", err)
	}
	if id, err := decodeToken(encodeToken("ord_1")); err != nil || id != "ord_1" {
		t.Fatalf("token round trip: %q %v", id, err)
	}
}
