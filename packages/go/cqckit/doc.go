// Package cqckit is the service kit for implementing CQC services in Go on the generated stubs of
// github.com/crypto-quant/cqc/packages/go/gen: everything a server needs to answer as the contract
// (proto/cqc/services/v1) requires, the same concepts as Python `cqc.kit` and TypeScript
// `@crypto-quant/cqc/kit`.
//
//   - Errors: Error / Errorf build the gRPC status of an ErrorReason, taking the code from the reason's
//     `(cqc.services.v1.error_reason)` spec and attaching ErrorInfo {reason, domain "cqc.crypto-quant",
//     metadata}. A metadata key outside the spec ("*_id" admits any snake_case key ending in "_id") is a
//     programming error: Error panics naming the reason and the key (NewError and CheckMetadata return it
//     instead, for keys that come from data). ValidationError builds INVALID_ARGUMENT VALIDATION_FAILED
//     with a BadRequest whose field violations carry the rule id in `reason` and "<message> [<rule id>]" in
//     `description`. Parse is the client side: code, reason, domain, metadata and field violations with rule
//     ids (read from `reason`, falling back to the "[...]" suffix of the description).
//   - Interceptors: UnaryServerInterceptor and StreamServerInterceptor validate every request of a CQC
//     method (size rules first, then every protovalidate rule: Validate), echo the x-cqc-request-id header,
//     and map handler errors (ToStatus: unexpected errors become INTERNAL with a correlation id, logged).
//     ServerOptions installs both.
//   - Page tokens: PageTokens (opaque, base64url, HMAC-SHA256-signed, bound to the RPC and a FilterDigest of
//     the request; garbage, tampering and another RPC's or filters' token give INVALID_ARGUMENT
//     INVALID_PAGE_TOKEN) and ClampPageSize (0 → 100, above 1000 → 1000, negative → VALIDATION_FAILED).
//   - Resources: CheckCreate (Create idempotent by id: a repeat returns the stored resource, other content is
//     ALREADY_EXISTS), ApplyUpdateMask (top-level paths only; unknown, immutable and output-only paths are
//     INVALID_UPDATE_MASK {paths}; the result is validated), Stamp / Without (server-set timestamps), and
//     Page (one page of a sorted list with a signed token and a clamped size).
//   - Ids: NewID("pfl") → "pfl_<ULID>" (github.com/oklog/ulid/v2), NewEventID → UUIDv7.
//   - Idempotency: Idempotency / Idempotent remember the first answer (or error) per request_id; the same
//     request_id with a different request (unknown fields ignored: SameRequest) gives ALREADY_EXISTS
//     REQUEST_ID_REUSED {request_id}.
//
// A minimal server built only on this package and the stubs is examples/go/portfolio-server; the README's
// "Implement a service (Go)" guide builds it from an empty directory.
package cqckit
