// Package exampletest starts an in-process CQC reference server for the examples' tests.
package exampletest

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/crypto-quant/cqc/packages/go/cqctest"
)

// Testdata is the repository's testdata directory.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "testdata")
}

// Start serves the reference services on 127.0.0.1:0 until the test ends and returns the target address.
func Start(t testing.TB) string {
	t.Helper()
	srv, err := cqctest.Start(context.Background(), cqctest.Options{Addr: "127.0.0.1:0", Testdata: Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.Addr()
}
