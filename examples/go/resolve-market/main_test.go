package main

import (
	"context"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/examples/go/internal/exampletest"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), exampletest.Start(t), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mkt_01JDBNBTCVSDTSP0T000000000", "tick size: 0.01000000", "lot size:  0.00001000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
