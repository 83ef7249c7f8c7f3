package vrt_test

// Differential test of the generated Go validators (internal/validate) against protovalidate-go: on every
// conformance case and example (and, with CQC_VALIDATE_INPUTS=<file of {"type","binary"} JSON lines>, on the
// seeded mutations packages/python/tests/validate_diff.py writes with --go-inputs), the generated code with
// CEL's doubles (vrt.Exact = false) gives protovalidate's verdict: the same (field path, rule id) set, or an
// evaluation error where protovalidate reports one. The exact build may differ only on rules that compare
// numbers. The contract's typed relations (cqc.types.v1.SortedRule) are not protovalidate rules: their
// violations are left out of the comparison (the conformance corpus holds their cases, run in every language).

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	cqc "github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"github.com/crypto-quant/cqc/packages/go/internal/validate"
	"github.com/crypto-quant/cqc/packages/go/internal/vrt"
)

type input struct {
	name string
	msg  proto.Message
}

func newMessage(name string) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

func corpusInputs(t *testing.T) []input {
	cases, err := corpus.Cases()
	if err != nil {
		t.Fatal(err)
	}
	var out []input
	for _, c := range cases {
		msg, err := newMessage(c.Type)
		if err != nil {
			continue
		}
		if c.Binary != nil {
			err = cqc.UnmarshalBinary(c.Binary, msg)
		} else {
			err = protojson.Unmarshal(c.JSON, msg)
		}
		if err == nil {
			out = append(out, input{c.Name, msg})
		}
	}
	return out
}

func fileInputs(t *testing.T, path string) []input {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []input
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 0; scanner.Scan(); n++ {
		var line struct {
			Name   string `json:"name"`
			Type   string `json:"type"`
			Binary string `json:"binary"`
		}
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		msg, err := newMessage(line.Type)
		if err != nil {
			continue
		}
		data, _ := base64.StdEncoding.DecodeString(line.Binary)
		if cqc.UnmarshalBinary(data, msg) == nil {
			out = append(out, input{line.Name, msg})
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func verdictPV(v protovalidate.Validator, msg proto.Message) string {
	err := v.Validate(msg)
	if err == nil {
		return "[]"
	}
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return "error"
	}
	var pairs []string
	for _, x := range ve.Violations {
		pairs = append(pairs, protovalidate.FieldPathString(x.Proto.GetField())+" "+x.Proto.GetRuleId())
	}
	sort.Strings(pairs)
	return "[" + strings.Join(pairs, ", ") + "]"
}

// relationRules are the rule ids of the contract's typed relations, which protovalidate does not evaluate.
var relationRules = func() map[string]bool {
	ids := map[string]bool{}
	var walk func(protoreflect.MessageDescriptors)
	walk = func(mds protoreflect.MessageDescriptors) {
		for i := 0; i < mds.Len(); i++ {
			md := mds.Get(i)
			for _, rule := range proto.GetExtension(md.Options(), typesv1.E_Sorted).([]*typesv1.SortedRule) {
				ids[rule.GetId()] = true
			}
			walk(md.Messages())
		}
	}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		walk(fd.Messages())
		return true
	})
	return ids
}()

func verdictGen(msg proto.Message) (string, []vrt.V) {
	fn := validate.Validators[string(msg.ProtoReflect().Descriptor().FullName())]
	var out []vrt.V
	if err := vrt.Run(func(o *[]vrt.V) { fn(msg, "", o) }, &out); err != nil {
		return "error", nil
	}
	pairs := make([]string, 0, len(out))
	for _, x := range out {
		if !relationRules[x.Rule] {
			pairs = append(pairs, x.Field+" "+x.Rule)
		}
	}
	sort.Strings(pairs)
	return "[" + strings.Join(pairs, ", ") + "]", out
}

func TestGeneratedAgreesWithProtovalidate(t *testing.T) {
	pv, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	inputs := corpusInputs(t)
	if path := os.Getenv("CQC_VALIDATE_INPUTS"); path != "" {
		inputs = append(inputs, fileInputs(t, path)...)
	}
	if len(inputs) < 3000 {
		t.Fatalf("only %d inputs", len(inputs))
	}
	var problems []string
	messages := 0
	for _, in := range inputs {
		want := verdictPV(pv, in.msg)
		vrt.Exact = false
		got, _ := verdictGen(in.msg)
		vrt.Exact = true
		if want != got {
			problems = append(problems, fmt.Sprintf("%s: protovalidate %s != generated %s", in.name, want, got))
		}
		exact, _ := verdictGen(in.msg)
		if exact != got && (exact == "error" || got == "error") {
			problems = append(problems, fmt.Sprintf("%s: exact %s != float %s", in.name, exact, got))
		}
		messages++
	}
	t.Logf("%d messages compared", messages)
	if len(problems) > 0 {
		if len(problems) > 30 {
			problems = problems[:30]
		}
		t.Fatalf("%d disagreements:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}
