// Package cqc holds the hand-written helpers that sit beside the generated Crypto Quant Contracts.
//
// Generated code lives under gen/, mirroring proto/: the messages of proto/cqc/assets/v1/*.proto are in
// package github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1 (imported as assetsv1). Import
// github.com/crypto-quant/cqc/packages/go/gen/all to register every CQC type at once.
//
// This package adds validation with the protovalidate rules written in the protos: Validate and
// Violations report each broken rule with its field path and rule id, identically to the Python and
// TypeScript packages. ParseDecimal, FormatDecimal, IsMultiple and RoundToIncrement convert CQC decimal
// strings to exact values and back; NewEvent, EventPayload and CloudEventAttributes build and read the
// cqc.events.v1.Event envelope, and EventStreamTracker applies the consumer's ordering and
// de-duplication rules to delivered events. Package cqctest runs in-memory reference gRPC servers for tests.
package cqc
