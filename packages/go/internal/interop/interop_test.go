package interop_test

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crypto-quant/cqc/packages/go/cqctest"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"github.com/crypto-quant/cqc/packages/go/internal/interop"
)

// TestScenariosAgainstGoServer runs every interop scenario with the Go client against the Go reference
// server, in process on 127.0.0.1:0; all must pass.
func TestScenariosAgainstGoServer(t *testing.T) {
	ctx := context.Background()
	testdata := corpus.Testdata()
	scenarios, err := interop.LoadScenarios(filepath.Join(testdata, "interop", "scenarios.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cqctest.Start(ctx, cqctest.Options{Addr: "127.0.0.1:0", Testdata: testdata})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	runner := &interop.Runner{Conn: conn, Server: "go", Testdata: testdata}
	report := runner.RunAll(ctx, scenarios)
	for _, r := range report.Results {
		if !r.Passed {
			t.Errorf("%s: %s", r.Name, r.Detail)
		} else {
			t.Logf("ok %s: %s", r.Name, r.Detail)
		}
	}
	if len(report.Results) != len(scenarios) || len(scenarios) == 0 {
		t.Fatalf("%d results for %d scenarios", len(report.Results), len(scenarios))
	}
	t.Logf("%d/%d scenarios passed", len(report.Results)-report.Failed(), len(report.Results))
}
