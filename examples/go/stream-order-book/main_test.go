package main

import (
	"context"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/examples/go/internal/exampletest"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), exampletest.Start(t), binanceBTCUSDT, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "snapshot") || !strings.Contains(lines[1], "delta") ||
		!strings.HasPrefix(lines[len(lines)-1], "stream complete") {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}
