package cqc_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func newMessage(t *testing.T, name string) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatalf("message type %s: %v", name, err)
	}
	return mt.New().Interface()
}

func pairs(vs []cqc.Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Field+" "+v.RuleID)
	}
	sort.Strings(out)
	return out
}

func TestConformance(t *testing.T) {
	cases, err := corpus.Cases()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 25 {
		t.Fatalf("corpus too small: %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			msg := newMessage(t, c.Type)
			if err := protojson.Unmarshal(c.JSON, msg); err != nil {
				t.Fatalf("decode: %v", err)
			}
			found, err := cqc.Violations(msg)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			expected := make([]string, 0, len(c.Violations))
			for _, v := range c.Violations {
				expected = append(expected, v.Field+" "+v.Rule)
			}
			sort.Strings(expected)
			if fmt.Sprint(pairs(found)) != fmt.Sprint(expected) {
				t.Fatalf("violations: expected %v, got %v", expected, pairs(found))
			}
			// Round trips: binary and canonical JSON give back an equal message.
			wire, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			fromWire := newMessage(t, c.Type)
			if err := proto.Unmarshal(wire, fromWire); err != nil || !proto.Equal(fromWire, msg) {
				t.Fatalf("binary round trip changed the message (err=%v)", err)
			}
			asJSON, err := protojson.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON := newMessage(t, c.Type)
			if err := protojson.Unmarshal(asJSON, fromJSON); err != nil || !proto.Equal(fromJSON, msg) {
				t.Fatalf("JSON round trip changed the message (err=%v)", err)
			}
		})
	}
}
