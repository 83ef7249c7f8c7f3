// Package examples holds runnable Go examples of calling CQC services over gRPC, one main package per
// directory. Start a reference server first (from packages/go:
// `go run ./cmd/cqc-reference-server --addr 127.0.0.1:50051 --testdata ../../testdata`), then e.g.
// `go run ./resolve-market -target 127.0.0.1:50051`. Each example's tests run it against an in-process
// reference server (package cqctest).
package examples
