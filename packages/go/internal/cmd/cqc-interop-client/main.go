// Command cqc-interop-client runs the interop scenarios (testdata/interop/scenarios.json) with the Go
// client against a reference server and writes the results:
//
//	cqc-interop-client --target 127.0.0.1:PORT --server python --scenarios testdata/interop/scenarios.json \
//	    --testdata testdata --out results.json
//
// results.json is {"client": "go", "server": NAME, "results": [{"name", "passed", "detail"}]}; the exit
// status is 1 when any scenario fails, 2 when the scenarios cannot be run at all.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/crypto-quant/cqc/packages/go/internal/interop"
)

func main() {
	target := flag.String("target", "127.0.0.1:50051", "host:port of the reference server")
	server := flag.String("server", "", `the server's language name ("python", "go", ...); "$server" in expectations`)
	scenarios := flag.String("scenarios", "testdata/interop/scenarios.json", "scenarios file")
	testdata := flag.String("testdata", "", "testdata directory (default: the scenarios file's ../..)")
	out := flag.String("out", "", "write results JSON here (default: stdout only)")
	flag.Parse()
	if *server == "" {
		fmt.Fprintln(os.Stderr, "cqc-interop-client: --server is required")
		os.Exit(2)
	}
	if *testdata == "" {
		*testdata = filepath.Join(filepath.Dir(*scenarios), "..")
	}
	if err := run(*target, *server, *scenarios, *testdata, *out); err != nil {
		fmt.Fprintln(os.Stderr, "cqc-interop-client:", err)
		os.Exit(exitCode(err))
	}
}

type failedError struct{ failed, total int }

func (e failedError) Error() string {
	return fmt.Sprintf("%d of %d scenarios failed", e.failed, e.total)
}

func exitCode(err error) int {
	if _, ok := err.(failedError); ok {
		return 1
	}
	return 2
}

func run(target, server, scenariosPath, testdata, out string) error {
	scenarios, err := interop.LoadScenarios(scenariosPath)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	runner := &interop.Runner{Conn: conn, Server: server, Testdata: testdata}
	report := runner.RunAll(context.Background(), scenarios)
	for _, r := range report.Results {
		mark := "PASS"
		if !r.Passed {
			mark = "FAIL"
		}
		fmt.Printf("%s  go -> %-7s %-55s %s\n", mark, server, r.Name, r.Detail)
	}
	fmt.Printf("go client vs %s server: %d/%d scenarios passed\n", server, len(report.Results)-report.Failed(), len(report.Results))
	if out != "" {
		data, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if n := report.Failed(); n > 0 {
		return failedError{n, len(report.Results)}
	}
	return nil
}
