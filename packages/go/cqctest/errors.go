package cqctest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error a CQC service returns.
const ErrorDomain = "cqc.crypto-quant"

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

func newError(code codes.Code, reason string, metadata map[string]string, format string, args ...any) error {
	return &apiError{code: code, reason: reason, metadata: metadata, message: fmt.Sprintf(format, args...)}
}

// errorStatus maps any handler error to a gRPC status error: apiError gains its ErrorInfo, context errors
// become CANCELLED / DEADLINE_EXCEEDED, status errors pass through, anything else is INTERNAL.
func errorStatus(err error) error {
	if err == nil {
		return nil
	}
	var api *apiError
	if errors.As(err, &api) {
		st, detailErr := status.New(api.code, api.message).WithDetails(&errdetails.ErrorInfo{
			Reason: api.reason, Domain: ErrorDomain, Metadata: api.metadata,
		})
		if detailErr != nil {
			return status.Error(codes.Internal, detailErr.Error())
		}
		return st.Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return internalError(err) // the error text stays in the server log
}

// validationStatus is the INVALID_ARGUMENT answer to a request with violations: ErrorInfo
// VALIDATION_FAILED plus one BadRequest field violation per broken rule, description "<message> [<rule id>]".
func validationStatus(msg proto.Message, violations []cqc.Violation) error {
	badRequest := &errdetails.BadRequest{}
	parts := make([]string, 0, len(violations))
	for _, v := range violations {
		badRequest.FieldViolations = append(badRequest.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       v.Field,
			Description: fmt.Sprintf("%s [%s]", v.Message, v.RuleID),
		})
		parts = append(parts, v.String())
	}
	name := string(msg.ProtoReflect().Descriptor().FullName())
	st, err := status.New(codes.InvalidArgument, fmt.Sprintf("invalid %s: %s", name, strings.Join(parts, "; "))).
		WithDetails(&errdetails.ErrorInfo{Reason: ReasonValidationFailed, Domain: ErrorDomain}, badRequest)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return st.Err()
}

// validate answers nil for a valid message, the INVALID_ARGUMENT status for an invalid one.
func validate(msg proto.Message) error {
	if sizes := sizeViolations(msg); len(sizes) > 0 { // lengths first: no walk of an oversized list
		return validationStatus(msg, sizes)
	}
	violations, err := cqc.Violations(msg)
	if err != nil {
		return internalError(fmt.Errorf("validating %s: %w", msg.ProtoReflect().Descriptor().FullName(), err))
	}
	if len(violations) > 0 {
		return validationStatus(msg, violations)
	}
	return nil
}

func notFound(reason, field, id string) error {
	return newError(codes.NotFound, reason, map[string]string{field: id}, "no resource with %s %q", field, id)
}
