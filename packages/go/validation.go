package cqc

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go/internal/validate"
	"github.com/crypto-quant/cqc/packages/go/internal/vrt"
)

// Violation is one broken validation rule. Field is a path such as "asset_id" or "levels[2].price"
// (empty for a message-level rule); RuleID is the rule's id, e.g. "cqc.decimal" or "string.pattern".
type Violation struct {
	Field   string
	RuleID  string
	Message string
}

// String renders the violation as `field: message [rule_id]`.
func (v Violation) String() string {
	field := v.Field
	if field == "" {
		field = "(message)"
	}
	return fmt.Sprintf("%s: %s [%s]", field, v.Message, v.RuleID)
}

// InvalidMessageError is returned by Validate; Violations holds every broken rule, sorted.
type InvalidMessageError struct {
	MessageType string
	Violations  []Violation
}

// Error lists every violation of the message.
func (e *InvalidMessageError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return fmt.Sprintf("invalid %s: %s", e.MessageType, strings.Join(parts, "; "))
}

// Violations returns every rule msg breaks, sorted by field then rule id; empty means valid. The error
// is non-nil only when the rules themselves cannot be compiled or evaluated.
func Violations(msg proto.Message) ([]Violation, error) {
	if generated, ok := validate.Validators[string(msg.ProtoReflect().Descriptor().FullName())]; ok {
		if found, handled, err := generatedViolations(generated, msg); handled {
			return found, err
		}
	}
	err := protovalidate.Validate(msg)
	if err == nil {
		return nil, nil
	}
	var validationErr *protovalidate.ValidationError
	if !errors.As(err, &validationErr) {
		return nil, err
	}
	found := make([]Violation, 0, len(validationErr.Violations))
	for _, v := range validationErr.Violations {
		found = append(found, Violation{
			Field:   protovalidate.FieldPathString(v.Proto.GetField()),
			RuleID:  v.Proto.GetRuleId(),
			Message: v.Proto.GetMessage(),
		})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Field != found[j].Field {
			return found[i].Field < found[j].Field
		}
		return found[i].RuleID < found[j].RuleID
	})
	return found, nil
}

// generatedViolations runs the validator generated from the contract's rules (internal/validate, written by
// tools/cqcvalidate_go.py): the same violations as protovalidate (a differential test holds them to it),
// with exact decimal comparisons and in time linear in the message size.
// handled is false when msg is not the generated Go type (e.g. a dynamicpb message): protovalidate then runs.
func generatedViolations(generated func(proto.Message, string, *[]vrt.V) bool, msg proto.Message) ([]Violation, bool, error) {
	var raw []vrt.V
	handled := true
	if err := vrt.Run(func(out *[]vrt.V) { handled = generated(msg, "", out) }, &raw); err != nil {
		return nil, true, err
	}
	if !handled {
		return nil, false, nil
	}
	if len(raw) == 0 {
		return nil, true, nil
	}
	found := make([]Violation, len(raw))
	for i, v := range raw {
		found[i] = Violation{Field: v.Field, RuleID: v.Rule, Message: v.Message}
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].Field != found[j].Field {
			return found[i].Field < found[j].Field
		}
		return found[i].RuleID < found[j].RuleID
	})
	return found, true, nil
}

// Validate returns nil when msg is valid, an *InvalidMessageError naming every broken rule otherwise.
func Validate(msg proto.Message) error {
	found, err := Violations(msg)
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return &InvalidMessageError{MessageType: string(msg.ProtoReflect().Descriptor().FullName()), Violations: found}
	}
	return nil
}
