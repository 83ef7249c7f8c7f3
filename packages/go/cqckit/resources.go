package cqckit

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// OutputOnly are the resource fields a server sets itself: a client's values are ignored on Create and
// they cannot be named in an update_mask.
var OutputOnly = []string{"create_time", "update_time"}

// Without is a copy of m with the named top-level fields cleared (by default OutputOnly).
func Without[T proto.Message](m T, fields ...string) T {
	if len(fields) == 0 {
		fields = OutputOnly
	}
	out := proto.Clone(m).(T)
	r := out.ProtoReflect()
	for _, name := range fields {
		if fd := r.Descriptor().Fields().ByName(protoreflect.Name(name)); fd != nil {
			r.Clear(fd)
		}
	}
	return out
}

// Stamp sets the named google.protobuf.Timestamp fields of m (e.g. "create_time", "update_time") to t.
func Stamp(m proto.Message, t time.Time, fields ...string) {
	r := m.ProtoReflect()
	for _, name := range fields {
		fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd != nil && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp" {
			r.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
		}
	}
}

// CheckCreate is the idempotency of CreateX by id: with nothing stored (existing is nil) it returns found
// false; when incoming repeats existing (output-only and unknown fields ignored) the stored resource and
// found true; otherwise ALREADY_EXISTS ALREADY_EXISTS with metadata {idField: id}.
func CheckCreate[T proto.Message](existing, incoming T, idField string) (stored T, found bool, err error) {
	var zero T
	if any(existing) == nil || !existing.ProtoReflect().IsValid() {
		return zero, false, nil
	}
	if SameRequest(Without(existing), Without(incoming)) {
		return proto.Clone(existing).(T), true, nil
	}
	id := ""
	if fd := incoming.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(idField)); fd != nil {
		id = incoming.ProtoReflect().Get(fd).String()
	}
	return zero, false, Errorf(servicesv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS, map[string]string{idField: id},
		"%s %q exists with different values", idField, id)
}

// ApplyUpdateMask is stored with the mask's paths copied from patch (a path unset in patch clears the
// field), validated. Every path must be a top-level field (proto name) of the resource other than the
// immutable ones (its id, fields fixed at creation) and OutputOnly; otherwise INVALID_ARGUMENT
// INVALID_UPDATE_MASK with metadata {paths: the refused paths, comma-separated, in request order}. A result
// that breaks a rule is VALIDATION_FAILED with field paths prefixed by field (the request field holding
// the resource, e.g. "portfolio"). stored is not changed; update_time is not set (Stamp).
func ApplyUpdateMask[T proto.Message](stored, patch T, mask *fieldmaskpb.FieldMask, field string, immutable ...string) (T, error) {
	var zero T
	desc := stored.ProtoReflect().Descriptor()
	if err := CheckUpdateMask(stored, mask, immutable...); err != nil {
		return zero, err
	}
	var fields []protoreflect.FieldDescriptor
	for _, path := range mask.GetPaths() {
		fields = append(fields, desc.Fields().ByName(protoreflect.Name(path)))
	}
	updated := proto.Clone(stored).(T)
	src, dst := patch.ProtoReflect(), updated.ProtoReflect()
	for _, fd := range fields {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
	}
	violations, err := cqc.Violations(updated)
	if err != nil {
		return zero, Internal(fmt.Errorf("validating %s: %w", desc.FullName(), err))
	}
	if len(violations) > 0 {
		for i := range violations {
			switch {
			case field != "" && violations[i].Field != "":
				violations[i].Field = field + "." + violations[i].Field
			case field != "":
				violations[i].Field = field
			}
		}
		return zero, MessageValidationError(updated, violations)
	}
	return updated, nil
}

// CheckUpdateMask is the path check of ApplyUpdateMask alone (nil when every path names an updatable
// top-level field of resource's type), for a service that checks the mask before it looks the resource up.
func CheckUpdateMask(resource proto.Message, mask *fieldmaskpb.FieldMask, immutable ...string) error {
	desc := resource.ProtoReflect().Descriptor()
	fixed := map[string]bool{}
	for _, name := range append(append([]string(nil), immutable...), OutputOnly...) {
		fixed[name] = true
	}
	var refused []string
	for _, path := range mask.GetPaths() {
		if desc.Fields().ByName(protoreflect.Name(path)) == nil || fixed[path] {
			refused = append(refused, path)
		}
	}
	if len(refused) > 0 {
		return Errorf(servicesv1.ErrorReason_ERROR_REASON_INVALID_UPDATE_MASK,
			map[string]string{"paths": strings.Join(refused, ",")},
			"update_mask paths must be updatable top-level fields of %s: %s", desc.FullName(), strings.Join(refused, ", "))
	}
	return nil
}

// Page is one page of items (sorted ascending by key) for a List request: it clamps pageSize
// (ClampPageSize), starts after the position of pageToken (a PageTokens token bound to rpc and the
// request's FilterDigest) and returns the token of the next page ("" on the last page). A page starts
// after the previous page's last key, so items created between pages are not skipped.
func Page[T any](tokens *PageTokens, rpc string, req proto.Message, items []T, key func(T) string, pageSize int32, pageToken string) ([]T, string, error) {
	size, err := ClampPageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	filters := FilterDigest(req)
	after, err := tokens.Decode(rpc, filters, pageToken)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if pageToken != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	end := min(start+int(size), len(items))
	next := ""
	if end < len(items) {
		next = tokens.Encode(rpc, filters, key(items[end-1]))
	}
	return items[start:end], next, nil
}
