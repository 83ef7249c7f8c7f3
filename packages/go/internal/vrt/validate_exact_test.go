package vrt_test

// Exactness and size limits of the generated validators through the public cqc.Violations (issue 11).

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

func rules(t *testing.T, msg proto.Message) map[string]bool {
	t.Helper()
	found, err := cqc.Violations(msg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, v := range found {
		out[v.Field+" "+v.RuleID] = true
	}
	return out
}

func exampleT(t *testing.T, key string, into proto.Message) proto.Message {
	t.Helper()
	return exampleFor(t, key, into)
}

func TestSupplyAndQuantitiesComparedExactly(t *testing.T) {
	asset := exampleT(t, "cqc.assets.v1.Asset/bitcoin", &assetsv1.Asset{}).(*assetsv1.Asset)
	over := "21000000.000000001"
	asset.CirculatingSupply = &over
	if !rules(t, asset)[" asset.circulating_within_max"] {
		t.Fatal("21000000.000000001 passes a max supply of 21000000")
	}
	order := exampleT(t, "cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy", &venuesv1.Order{}).(*venuesv1.Order)
	quantity := "1.000000000000000001"
	order.Quantity, order.FilledQuantity = &quantity, "1.000000000000000002"
	if !rules(t, order)[" order.filled_within_quantity"] {
		t.Fatal("filled 1.000000000000000002 passes quantity 1.000000000000000001")
	}
	quantity = strings.Repeat("1", 400)
	order.FilledQuantity = strings.Repeat("2", 400)
	if !rules(t, order)[" order.filled_within_quantity"] { // protovalidate-go: an evaluation error (INTERNAL)
		t.Fatal("400-digit quantities not compared")
	}
}

func TestMaximumSizesValidateInLinearTime(t *testing.T) {
	b := &testing.B{}
	small, large := book(b, 500), book(b, 5000)
	if got := rules(t, small); len(got) != 0 {
		t.Fatal(got)
	}
	start := time.Now()
	rules(t, small)
	tSmall := time.Since(start)
	start = time.Now()
	if got := rules(t, large); len(got) != 0 {
		t.Fatal(got)
	}
	if tLarge := time.Since(start); tLarge > 30*tSmall+50*time.Millisecond {
		t.Fatalf("10x the levels took %v vs %v", tLarge, tSmall)
	}
	if got := rules(t, portfolio(b, 10000)); len(got) != 0 {
		t.Fatal(got)
	}
}
