// Package cqctest runs the CQC reference server in memory, for tests of services and clients that use the
// Crypto Quant Contracts over gRPC.
//
// The server implements cqc.services.v1.AssetRegistry, MarketData and VenueGateway exactly as
// testdata/interop/README.md specifies (the same behaviour as the Python reference server cqc.testing):
// it is seeded with the examples of testdata/examples (embedded in the package: SeedExamples), validates
// every request with the contracts' protovalidate rules (INVALID_ARGUMENT with google.rpc.ErrorInfo
// VALIDATION_FAILED and google.rpc.BadRequest), answers typed errors with google.rpc.ErrorInfo reasons
// from cqc.services.v1.ErrorReason, pages with opaque tokens, applies update masks, places orders
// idempotently by request_id, echoes the x-cqc-request-id header and sets the x-cqc-server trailer to
// "go". gRPC health (grpc.health.v1) and server reflection (v1 and v1alpha) are registered too.
//
// Typical use in a test:
//
//	srv, err := cqctest.Start(ctx, cqctest.Options{Addr: "127.0.0.1:0"}) // or Testdata: "../../testdata"
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer srv.Stop()
//	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
//
// Everything lives in memory: created resources and orders are lost when the server stops.
package cqctest
