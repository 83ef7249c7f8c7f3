package cqckit

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	cqc "github.com/crypto-quant/cqc/packages/go"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// Domain is the google.rpc.ErrorInfo domain of every error a CQC service returns.
const Domain = "cqc.crypto-quant"

// ReasonPrefix is the prefix of every ErrorReason value name; ErrorInfo.reason is the name without it.
const ReasonPrefix = "ERROR_REASON_"

// Spec is the `(cqc.services.v1.error_reason)` option of one ErrorReason value: the gRPC code sent with the
// reason and the ErrorInfo.metadata keys it may carry ("*_id" admits any snake_case key ending in "_id").
type Spec struct {
	Code         codes.Code
	MetadataKeys []string
}

var (
	specsOnce sync.Once
	specs     map[servicesv1.ErrorReason]Spec
	codeNames = map[string]codes.Code{}
	idKey     = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*_id$`)
)

func init() {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		codeNames[strings.ToUpper(codeName(c))] = c
	}
}

// codeName is the google.rpc.Code name of c ("NOT_FOUND"), from the CamelCase String of grpc-go.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func loadSpecs() {
	specs = map[servicesv1.ErrorReason]Spec{}
	values := servicesv1.ErrorReason(0).Descriptor().Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		opts := v.Options()
		if opts == nil || !proto.HasExtension(opts, servicesv1.E_ErrorReason) {
			continue
		}
		spec, _ := proto.GetExtension(opts, servicesv1.E_ErrorReason).(*servicesv1.ErrorReasonSpec)
		code, ok := codeNames[spec.GetCode()]
		if !ok {
			panic(fmt.Sprintf("cqckit: %s declares unknown gRPC code %q", v.Name(), spec.GetCode()))
		}
		specs[servicesv1.ErrorReason(v.Number())] = Spec{Code: code, MetadataKeys: append([]string(nil), spec.GetMetadataKeys()...)}
	}
}

// SpecOf returns the spec of reason; ok is false for ERROR_REASON_UNSPECIFIED and unknown numbers.
func SpecOf(reason servicesv1.ErrorReason) (Spec, bool) {
	specsOnce.Do(loadSpecs)
	s, ok := specs[reason]
	return s, ok
}

// ReasonName is the ErrorInfo.reason of reason: its value name without "ERROR_REASON_" ("NOT_FOUND_ASSET").
func ReasonName(reason servicesv1.ErrorReason) string {
	return strings.TrimPrefix(reason.String(), ReasonPrefix)
}

// ReasonByName is the ErrorReason whose ErrorInfo.reason is name ("NOT_FOUND_ASSET"); ok is false when no
// value has that name.
func ReasonByName(name string) (servicesv1.ErrorReason, bool) {
	n, ok := servicesv1.ErrorReason_value[ReasonPrefix+name]
	if !ok || n == 0 {
		return servicesv1.ErrorReason_ERROR_REASON_UNSPECIFIED, false
	}
	return servicesv1.ErrorReason(n), true
}

// CheckMetadata returns nil when every key of md is allowed by reason's spec, otherwise an error naming the
// reason and the first key (in sorted order) the spec does not allow.
func CheckMetadata(reason servicesv1.ErrorReason, md map[string]string) error {
	spec, ok := SpecOf(reason)
	if !ok {
		return fmt.Errorf("cqckit: %v is not an ErrorReason with a spec", reason)
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !spec.allows(k) {
			return fmt.Errorf("cqckit: metadata key %q is not allowed for %s (allowed: %s)",
				k, ReasonName(reason), strings.Join(spec.MetadataKeys, ", "))
		}
	}
	return nil
}

func (s Spec) allows(key string) bool {
	for _, allowed := range s.MetadataKeys {
		if key == allowed || allowed == "*_id" && idKey.MatchString(key) {
			return true
		}
	}
	return false
}

// Error is the gRPC status error of reason: the code from the reason's spec, message msg, and one
// google.rpc.ErrorInfo {reason, domain "cqc.crypto-quant", metadata md}.
//
// A metadata key the spec does not allow, or a reason without a spec (UNSPECIFIED, an unknown number), is a
// programming error: Error panics, naming the reason and the key, so that the mistake shows up in the first
// test that reaches the call, not in a client. Use CheckMetadata (or NewError) when the keys come from data.
func Error(reason servicesv1.ErrorReason, msg string, md map[string]string) error {
	err, bad := NewError(reason, msg, md)
	if bad != nil {
		panic(bad.Error())
	}
	return err
}

// Errorf is Error with a formatted message.
func Errorf(reason servicesv1.ErrorReason, md map[string]string, format string, args ...any) error {
	return Error(reason, fmt.Sprintf(format, args...), md)
}

// NewError is Error without the panic: bad is non-nil (and err nil) when reason has no spec or md has a key
// the spec does not allow.
func NewError(reason servicesv1.ErrorReason, msg string, md map[string]string) (err, bad error) {
	if bad := CheckMetadata(reason, md); bad != nil {
		return nil, bad
	}
	spec, _ := SpecOf(reason)
	return withDetails(status.New(spec.Code, msg), &errdetails.ErrorInfo{
		Reason: ReasonName(reason), Domain: Domain, Metadata: copyMap(md),
	}), nil
}

// ValidationError is the INVALID_ARGUMENT answer to a request that breaks validation rules: ErrorInfo
// VALIDATION_FAILED and a google.rpc.BadRequest with one field violation per broken rule, `reason` = the rule
// id and `description` = "<message> [<rule id>]". msg is the status message (e.g. "invalid
// cqc.services.v1.GetPortfolioRequest: portfolio_id: value is required [required]").
func ValidationError(msg string, violations []cqc.Violation) error {
	badRequest := &errdetails.BadRequest{}
	for _, v := range violations {
		badRequest.FieldViolations = append(badRequest.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       v.Field,
			Reason:      v.RuleID,
			Description: fmt.Sprintf("%s [%s]", v.Message, v.RuleID),
		})
	}
	return withDetails(status.New(codes.InvalidArgument, msg),
		&errdetails.ErrorInfo{Reason: ReasonName(servicesv1.ErrorReason_ERROR_REASON_VALIDATION_FAILED), Domain: Domain},
		badRequest)
}

// MessageValidationError is ValidationError with the standard message for msg: "invalid <full name>:
// <violation>; <violation>".
func MessageValidationError(msg proto.Message, violations []cqc.Violation) error {
	parts := make([]string, len(violations))
	for i, v := range violations {
		parts[i] = v.String()
	}
	return ValidationError(fmt.Sprintf("invalid %s: %s", msg.ProtoReflect().Descriptor().FullName(),
		strings.Join(parts, "; ")), violations)
}

func withDetails(st *status.Status, details ...proto.Message) error {
	v1 := make([]protoadapt.MessageV1, 0, len(details))
	for _, d := range details {
		v1 = append(v1, protoadapt.MessageV1Of(d))
	}
	out, err := st.WithDetails(v1...)
	if err != nil { // only for a detail that cannot be marshalled: never for the types above
		return status.Error(codes.Internal, err.Error())
	}
	return out.Err()
}

func copyMap(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}

// FieldViolation is one google.rpc.BadRequest field violation as a client reads it.
type FieldViolation struct {
	Field string // the field path, "" for a rule on the request itself
	// RuleID is the rule id: the violation's `reason`, or (from a server that predates it) the "[...]"
	// suffix of the description.
	RuleID      string
	Description string
}

// Details is what a client needs from a failed CQC call, as data.
type Details struct {
	Code    codes.Code
	Message string
	// Reason is ErrorInfo.reason ("NOT_FOUND_ASSET"), "" when the status carries no ErrorInfo.
	Reason     string
	Domain     string
	Metadata   map[string]string
	Violations []FieldViolation
}

// ErrorReason is the ErrorReason value of d.Reason, UNSPECIFIED when there is none or it is unknown.
func (d Details) ErrorReason() servicesv1.ErrorReason {
	r, _ := ReasonByName(d.Reason)
	return r
}

// RuleIDs is the rule id of every field violation, in order.
func (d Details) RuleIDs() []string {
	out := make([]string, len(d.Violations))
	for i, v := range d.Violations {
		out[i] = v.RuleID
	}
	return out
}

var ruleSuffix = regexp.MustCompile(`\[([^\[\]]+)\]\s*$`)

// Parse reads a gRPC error (from a client call, or one built by this package): its code, message,
// ErrorInfo and BadRequest details. nil gives Code OK; a non-status error gives Code Unknown (context errors
// give CANCELLED / DEADLINE_EXCEEDED).
func Parse(err error) Details {
	if err == nil {
		return Details{Code: codes.OK}
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			st = status.FromContextError(err)
		} else {
			return Details{Code: codes.Unknown, Message: err.Error()}
		}
	}
	d := Details{Code: st.Code(), Message: st.Message()}
	for _, detail := range st.Details() {
		switch x := detail.(type) {
		case *errdetails.ErrorInfo:
			if d.Reason == "" {
				d.Reason, d.Domain, d.Metadata = x.GetReason(), x.GetDomain(), copyMap(x.GetMetadata())
			}
		case *errdetails.BadRequest:
			for _, v := range x.GetFieldViolations() {
				rule := v.GetReason()
				if rule == "" {
					if m := ruleSuffix.FindStringSubmatch(v.GetDescription()); m != nil {
						rule = m[1]
					}
				}
				d.Violations = append(d.Violations, FieldViolation{Field: v.GetField(), RuleID: rule, Description: v.GetDescription()})
			}
		}
	}
	return d
}
