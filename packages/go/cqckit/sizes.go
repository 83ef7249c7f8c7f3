package cqckit

import (
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	cqc "github.com/crypto-quant/cqc/packages/go"
)

// SizeViolations checks only the size rules (repeated max_items, map max_pairs, string max_len / max_bytes,
// bytes max_len) by reading lengths: the items of a field over its item limit are never visited. Servers
// (and the validation interceptor) run it before the full validation so that an oversized request is refused without walking its items
// (the same pre-check as cqc.validation.size_violations in Python).
func SizeViolations(msg proto.Message) []cqc.Violation {
	var found []cqc.Violation
	checkSizes(msg.ProtoReflect(), "", &found)
	sort.Slice(found, func(i, j int) bool { // the order of cqc.Violations
		a, b := found[i], found[j]
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Message < b.Message
	})
	return found
}

func checkSizes(m protoreflect.Message, prefix string, found *[]cqc.Violation) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		rules := fieldRules(fd)
		over := false
		if rules != nil && rules.GetIgnore() != validatepb.Ignore_IGNORE_ALWAYS {
			switch {
			case fd.IsMap() && rules.GetMap().HasMaxPairs():
				if limit := rules.GetMap().GetMaxPairs(); uint64(m.Get(fd).Map().Len()) > limit {
					*found = append(*found, cqc.Violation{Field: path, RuleID: "map.max_pairs",
						Message: fmt.Sprintf("map must be at most %d entries", limit)})
					over = true
				}
			case fd.IsList() && rules.GetRepeated().HasMaxItems():
				if limit := rules.GetRepeated().GetMaxItems(); uint64(m.Get(fd).List().Len()) > limit {
					*found = append(*found, cqc.Violation{Field: path, RuleID: "repeated.max_items",
						Message: fmt.Sprintf("must contain no more than %d item(s)", limit)})
					over = true
				}
			}
			scalar := rules
			if fd.IsList() {
				scalar = rules.GetRepeated().GetItems()
			}
			if !over && !fd.IsMap() && scalar != nil {
				checkScalarSizes(m, fd, path, scalar, found)
			}
		}
		if over || fd.Message() == nil || fd.IsMap() || len(fd.Message().FullName()) > 7 && fd.Message().FullName()[:7] == "google." {
			continue
		}
		if fd.IsList() {
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				checkSizes(list.Get(j).Message(), fmt.Sprintf("%s[%d]", path, j), found)
			}
		} else if m.Has(fd) {
			checkSizes(m.Get(fd).Message(), path, found)
		}
	}
}

func checkScalarSizes(m protoreflect.Message, fd protoreflect.FieldDescriptor, path string, rules *validatepb.FieldRules, found *[]cqc.Violation) {
	type check struct {
		rule  string
		limit uint64
		size  func(protoreflect.Value) uint64
		text  string
	}
	var checks []check
	if s := rules.GetString(); s != nil {
		if s.HasMaxLen() {
			checks = append(checks, check{"string.max_len", s.GetMaxLen(),
				func(v protoreflect.Value) uint64 { return uint64(utf8.RuneCountInString(v.String())) },
				fmt.Sprintf("must be at most %d characters", s.GetMaxLen())})
		}
		if s.HasMaxBytes() {
			checks = append(checks, check{"string.max_bytes", s.GetMaxBytes(),
				func(v protoreflect.Value) uint64 { return uint64(len(v.String())) },
				fmt.Sprintf("must be at most %d bytes", s.GetMaxBytes())})
		}
	}
	if b := rules.GetBytes(); b != nil && b.HasMaxLen() {
		checks = append(checks, check{"bytes.max_len", b.GetMaxLen(),
			func(v protoreflect.Value) uint64 { return uint64(len(v.Bytes())) },
			fmt.Sprintf("must be at most %d bytes", b.GetMaxLen())})
	}
	for _, c := range checks {
		if fd.IsList() {
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				if c.size(list.Get(j)) > c.limit {
					*found = append(*found, cqc.Violation{Field: fmt.Sprintf("%s[%d]", path, j), RuleID: c.rule, Message: c.text})
				}
			}
		} else if c.size(m.Get(fd)) > c.limit {
			*found = append(*found, cqc.Violation{Field: path, RuleID: c.rule, Message: c.text})
		}
	}
}

var fieldRuleCache sync.Map // protoreflect.FieldDescriptor -> *validatepb.FieldRules (nil: none)

func fieldRules(fd protoreflect.FieldDescriptor) *validatepb.FieldRules {
	if cached, ok := fieldRuleCache.Load(fd); ok {
		return cached.(*validatepb.FieldRules)
	}
	var rules *validatepb.FieldRules
	if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts != nil && proto.HasExtension(opts, validatepb.E_Field) {
		rules, _ = proto.GetExtension(opts, validatepb.E_Field).(*validatepb.FieldRules)
	}
	fieldRuleCache.Store(fd, rules)
	return rules
}
