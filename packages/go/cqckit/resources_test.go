package cqckit_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

func portfolio(name string) *portfoliov1.Portfolio {
	return &portfoliov1.Portfolio{PortfolioId: "pfl_01JDFVSD000000000000000000", Name: name, Owner: "desk:a",
		ReportingAssetId: "ast_01JDFVSD000000000000000000", AccountIds: []string{"acc_01JDBNVSDMMA1N000000000000"},
		TotalEquity: "0", AsOfTime: timestamppb.New(time.Unix(1700000000, 0))}
}

func TestCheckCreateAndStamp(t *testing.T) {
	var none *portfoliov1.Portfolio
	if _, found, err := cqckit.CheckCreate(none, portfolio("a"), "portfolio_id"); found || err != nil {
		t.Fatalf("nothing stored: %v %v", found, err)
	}
	stored := portfolio("a")
	cqckit.Stamp(stored, time.Unix(1800000000, 0), "create_time", "update_time")
	if stored.GetCreateTime().GetSeconds() != 1800000000 || stored.GetUpdateTime().GetSeconds() != 1800000000 {
		t.Fatalf("Stamp: %v", stored)
	}
	again := portfolio("a")
	again.CreateTime = timestamppb.New(time.Unix(1, 0)) // output only: ignored
	got, found, err := cqckit.CheckCreate(stored, again, "portfolio_id")
	if err != nil || !found || !proto.Equal(got, stored) {
		t.Fatalf("repeat: %v %v %v", got, found, err)
	}
	_, _, err = cqckit.CheckCreate(stored, portfolio("b"), "portfolio_id")
	if d := cqckit.Parse(err); d.Code != codes.AlreadyExists || d.Metadata["portfolio_id"] != stored.GetPortfolioId() {
		t.Fatalf("other: %+v", d)
	}
	if w := cqckit.Without(stored); w.GetCreateTime() != nil || stored.GetCreateTime() == nil {
		t.Fatal("Without")
	}
}

func TestApplyUpdateMask(t *testing.T) {
	stored := portfolio("a")
	patch := portfolio("renamed")
	patch.Owner = "desk:ignored"
	got, err := cqckit.ApplyUpdateMask(stored, patch, &fieldmaskpb.FieldMask{Paths: []string{"name"}}, "portfolio", "portfolio_id")
	if err != nil || got.GetName() != "renamed" || got.GetOwner() != "desk:a" || stored.GetName() != "a" {
		t.Fatalf("masked: %v %v", got, err)
	}
	_, err = cqckit.ApplyUpdateMask(stored, patch, &fieldmaskpb.FieldMask{Paths: []string{"name", "no_such", "portfolio_id", "create_time"}}, "portfolio", "portfolio_id")
	if d := cqckit.Parse(err); d.Reason != "INVALID_UPDATE_MASK" || d.Metadata["paths"] != "no_such,portfolio_id,create_time" {
		t.Fatalf("refused: %+v", d)
	}
	patch.Name = ""
	_, err = cqckit.ApplyUpdateMask(stored, patch, &fieldmaskpb.FieldMask{Paths: []string{"name"}}, "portfolio")
	if d := cqckit.Parse(err); d.Reason != "VALIDATION_FAILED" || fmt.Sprint(d.Violations[0].Field, d.Violations[0].RuleID) != "portfolio.namestring.min_len" {
		t.Fatalf("invalid result: %+v", d)
	}
}

func TestPage(t *testing.T) {
	tokens := cqckit.NewPageTokens(nil)
	const rpc = "cqc.services.v1.Portfolio/ListAllocations"
	items := []string{"a", "b", "c", "d", "e"}
	key := func(s string) string { return s }
	req := &servicesv1.ListAllocationsRequest{PortfolioId: proto.String("pfl_01JDFVSD000000000000000000")}
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := cqckit.Page(tokens, rpc, req, items, key, 2, token)
		if err != nil || pages > 3 {
			t.Fatal(err, pages)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		token = next
		// a token only continues the same listing
		other := &servicesv1.ListAllocationsRequest{PortfolioId: proto.String("pfl_01JDFVSD000000000000000001")}
		if _, _, err := cqckit.Page(tokens, rpc, other, items, key, 2, token); cqckit.Parse(err).Reason != "INVALID_PAGE_TOKEN" {
			t.Fatalf("token accepted with other filters: %v", err)
		}
	}
	if fmt.Sprint(all) != "[a b c d e]" {
		t.Fatalf("pages %v", all)
	}
	if page, next, err := cqckit.Page(tokens, rpc, req, items, key, 0, ""); err != nil || len(page) != 5 || next != "" {
		t.Fatalf("default size: %v %q %v", page, next, err)
	}
}
