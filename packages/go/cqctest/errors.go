package cqctest

import (
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error a CQC service returns.
const ErrorDomain = cqckit.Domain

// ReasonValidationFailed is the ErrorInfo reason of a request that breaks a validation rule.
const ReasonValidationFailed = "VALIDATION_FAILED"

// apiError is what handlers return; the interceptors turn it into a gRPC status carrying ErrorInfo.
type apiError struct {
	code     codes.Code
	reason   string // an ErrorReason name without the ERROR_REASON_ prefix
	metadata map[string]string
	message  string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s (%s)", e.code, e.message, e.reason) }

// GRPCStatus is the status the client receives: built by cqckit from the reason's error_reason spec when
// the code and metadata keys follow it; otherwise (a reason without a spec, another code or a key the spec
// does not list: a drift to fix) as given, with a warning in the server log.
func (e *apiError) GRPCStatus() *status.Status {
	if reason, ok := cqckit.ReasonByName(e.reason); ok {
		if spec, _ := cqckit.SpecOf(reason); spec.Code == e.code {
			built, bad := cqckit.NewError(reason, e.message, e.metadata)
			if bad == nil {
				return status.Convert(built)
			}
			slog.Warn("cqctest: error outside its error_reason spec", "reason", e.reason, "problem", bad.Error())
		} else {
			slog.Warn("cqctest: error outside its error_reason spec", "reason", e.reason, "code", e.code.String(), "spec_code", spec.Code.String())
		}
	} else if e.code == codes.Internal {
		return status.Convert(cqckit.Internal(errors.New(e.message))) // correlation id; the text stays in the log
	} else {
		slog.Warn("cqctest: error with an unknown reason", "reason", e.reason)
	}
	st, err := status.New(e.code, e.message).WithDetails(&errdetails.ErrorInfo{
		Reason: e.reason, Domain: ErrorDomain, Metadata: e.metadata,
	})
	if err != nil {
		return status.New(codes.Internal, err.Error())
	}
	return st
}

func newError(code codes.Code, reason string, metadata map[string]string, format string, args ...any) error {
	return &apiError{code: code, reason: reason, metadata: metadata, message: fmt.Sprintf(format, args...)}
}

// errorStatus maps any handler error to a gRPC status error: apiError gains its ErrorInfo, context errors
// become CANCELLED / DEADLINE_EXCEEDED, status errors pass through, anything else is INTERNAL (cqckit.ToStatus).
func errorStatus(err error) error {
	var api *apiError
	if errors.As(err, &api) {
		return api.GRPCStatus().Err()
	}
	return cqckit.ToStatus(err)
}

// validationStatus is the INVALID_ARGUMENT answer to a request with violations: ErrorInfo
// VALIDATION_FAILED plus one BadRequest field violation per broken rule (cqckit.MessageValidationError).
func validationStatus(msg proto.Message, violations []cqc.Violation) error {
	return cqckit.MessageValidationError(msg, violations)
}

// validate answers nil for a valid message, the INVALID_ARGUMENT status for an invalid one (size rules
// first: cqckit.Validate).
func validate(msg proto.Message) error { return cqckit.Validate(msg) }

func notFound(reason, field, id string) error {
	return newError(codes.NotFound, reason, map[string]string{field: id}, "no resource with %s %q", field, id)
}
