package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/examples/go/internal/exampletest"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), exampletest.Start(t), &out); err != nil {
		t.Fatal(err)
	}
	ids := regexp.MustCompile(`order (ord_[0-9A-Z]{26}) status ORDER_STATUS_NEW`).FindAllStringSubmatch(out.String(), -1)
	if len(ids) != 2 || ids[0][1] != ids[1][1] || !strings.Contains(out.String(), "same order_id") {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}

func TestNewRequestID(t *testing.T) {
	if id := newRequestID(); !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("request id %q is not a v4 UUID", id)
	}
}
