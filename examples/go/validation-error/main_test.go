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
	for _, want := range []string{"code: InvalidArgument", "reason: VALIDATION_FAILED (domain cqc.crypto-quant)",
		"violation: order: ", "[new_order.price_required_for_limit_types]", "violation: request_id: ", "[string.uuid]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
