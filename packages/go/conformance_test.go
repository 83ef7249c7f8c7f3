package cqc_test

// Phase 1 of the cross-language conformance suite in Go: every case of testdata/ (examples, case files,
// golden JSON) gives the expected outcome here, and the results go to .build/conformance/<run>/go.json for the
// Python and TypeScript runners to decode in phase 2 (conformance_cross_test.go is Go's side of phase 2).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

const language = "go"

// record is one case's result, in the shape every language writes to .build/conformance/<run>/<lang>.json.
type record struct {
	Type            string          `json:"type"`
	Input           string          `json:"input"`
	Expected        string          `json:"expected"`
	Verdict         string          `json:"verdict"`
	Violations      []string        `json:"violations"`
	Error           string          `json:"error,omitempty"`
	Binary          *string         `json:"binary,omitempty"`
	JSON            json.RawMessage `json:"json"` // null when the message has no canonical JSON form
	Failures        []string        `json:"failures"`
	OK              bool            `json:"ok"`
	ExpectedFailure string          `json:"expected_failure,omitempty"`
}

func (r record) outcome() string {
	switch {
	case r.ExpectedFailure != "" && r.OK:
		return "xpass"
	case r.ExpectedFailure != "":
		return "xfail"
	case r.OK:
		return "passed"
	}
	return "failed"
}

func newMessage(name string) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("message type %s: %w", name, err)
	}
	return mt.New().Interface(), nil
}

// decode returns the case's input decoded as its type, or the decode error (the parse_error outcome).
func decode(c corpus.Case) (proto.Message, error) {
	msg, err := newMessage(c.Type)
	if err != nil {
		return nil, err
	}
	if c.Binary != nil {
		err = cqc.UnmarshalBinary(c.Binary, msg)
	} else {
		err = protojson.Unmarshal(c.JSON, msg)
	}
	return msg, err
}

// withoutUnknown returns a copy of msg without unknown fields at any depth (JSON cannot carry them).
func withoutUnknown(msg proto.Message) proto.Message {
	copied := proto.Clone(msg)
	discardUnknown(copied.ProtoReflect())
	return copied
}

func discardUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				discardUnknown(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				discardUnknown(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsMap():
			discardUnknown(v.Message())
		}
		return true
	})
}

func violationPairs(vs []cqc.Violation) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Field+" "+v.RuleID)
	}
	sort.Strings(out)
	return out
}

// jsonValue parses JSON text into a generic value with exact numbers, for comparing JSON as values.
func jsonValue(text []byte) (any, error) {
	var value any
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	err := dec.Decode(&value)
	return value, normalizeNumbers(&value, err)
}

// normalizeNumbers rewrites json.Numbers in one spelling ("8.0" and "8" differ as text but are the same
// JSON value). Integer fields wider than 53 bits are strings in canonical JSON, so float64 is exact enough.
func normalizeNumbers(value *any, err error) error {
	if err != nil {
		return err
	}
	switch v := (*value).(type) {
	case json.Number:
		if f, ferr := v.Float64(); ferr == nil {
			*value = json.Number(fmt.Sprint(f))
		}
	case map[string]any:
		for k := range v {
			item := v[k]
			_ = normalizeNumbers(&item, nil)
			v[k] = item
		}
	case []any:
		for i := range v {
			_ = normalizeNumbers(&v[i], nil)
		}
	}
	return nil
}

func runCase(c corpus.Case, xfail *corpus.ExpectedFailure) (r record) {
	defer func() { r.OK = len(r.Failures) == 0 }()
	r = record{Type: c.Type, Input: c.InputKind(), Expected: c.Verdict(), Violations: []string{}, Failures: []string{}}
	if xfail != nil && xfail.Has(language) {
		r.ExpectedFailure = xfail.Reason
	}
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	if c.Problem != "" {
		r.Verdict = "bad_case"
		fail("%s", c.Problem)
		return r
	}
	if _, err := newMessage(c.Type); err != nil {
		r.Verdict = "unknown_type"
		fail("%s is not in the generated code (regenerate: nox -s generate)", c.Type)
		return r
	}
	msg, err := decode(c)
	if err != nil {
		r.Verdict, r.Error = "parse_error", err.Error()
		if !c.ParseError {
			fail("decode failed: %v", err)
		}
		return r
	}
	if c.ParseError {
		fail("decoded, but the case expects a decode error")
	}
	found, err := cqc.Violations(msg)
	if err != nil {
		r.Verdict, r.Error = "runtime_error", err.Error()
		fail("validation raised instead of reporting violations: %v", err)
		return r
	}
	r.Violations = violationPairs(found)
	r.Verdict = "valid"
	if len(found) > 0 {
		r.Verdict = "invalid"
	}
	expected := make([]string, 0, len(c.Violations))
	for _, v := range c.Violations {
		expected = append(expected, v.Field+" "+v.Rule)
	}
	sort.Strings(expected)
	if !c.ParseError && fmt.Sprint(r.Violations) != fmt.Sprint(expected) {
		fail("violations: expected %v, got %v", expected, r.Violations)
	}

	wire, err := proto.Marshal(msg)
	if err != nil {
		fail("binary encode: %v", err)
	} else {
		encoded := base64.StdEncoding.EncodeToString(wire)
		r.Binary = &encoded
		fromWire, _ := newMessage(c.Type)
		if err := proto.Unmarshal(wire, fromWire); err != nil || !proto.Equal(fromWire, msg) {
			fail("binary round trip changed the message (err=%v)", err)
		}
		if c.Reencoded != nil && !bytes.Equal(wire, c.Reencoded) {
			fail("re-encoded bytes %x differ from the expected %x", wire, c.Reencoded)
		}
	}

	asJSON, err := protojson.Marshal(msg)
	if err != nil {
		if c.JSONEncodable {
			fail("canonical JSON encoding failed: %v", err)
		}
		return r
	}
	r.JSON = asJSON
	if !c.JSONEncodable {
		fail("encoded as JSON, but the case says the message has no canonical JSON form")
	}
	fromJSON, _ := newMessage(c.Type)
	if err := protojson.Unmarshal(asJSON, fromJSON); err != nil || !proto.Equal(fromJSON, withoutUnknown(msg)) {
		fail("canonical JSON round trip changed the message (err=%v)", err)
	}
	if c.Example != "" {
		for _, problem := range checkGolden(c, msg, asJSON) {
			fail("%s", problem)
		}
	}
	return r
}

func checkGolden(c corpus.Case, msg proto.Message, asJSON []byte) []string {
	path := corpus.GoldenPath(c.Example)
	text, err := os.ReadFile(path)
	if err != nil {
		return []string{fmt.Sprintf("no golden file %s; regenerate: nox -s conformance -- golden", path)}
	}
	var problems []string
	golden, err1 := jsonValue(text)
	ours, err2 := jsonValue(asJSON)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(golden, ours) {
		problems = append(problems, fmt.Sprintf("canonical JSON differs from %s: %s", filepath.Base(path), asJSON))
	}
	fromGolden, _ := newMessage(c.Type)
	if err := protojson.Unmarshal(text, fromGolden); err != nil || !proto.Equal(fromGolden, msg) {
		problems = append(problems, fmt.Sprintf("golden %s decodes to a different message (err=%v)", filepath.Base(path), err))
	}
	return problems
}

// runID is set by `nox -s conformance` to a fresh id per run; empty in ordinary package test runs.
func runID() string { return os.Getenv("CQC_CONFORMANCE_RUN") }

// resultsDir is .build/conformance/<run>: each run has its own, so concurrent runs never mix files.
func resultsDir() string {
	return filepath.Join(corpus.Testdata(), "..", ".build", "conformance", runID())
}

// writeResults writes <resultsDir>/<name>.json; only under `nox -s conformance` (a run id is set).
func writeResults(t *testing.T, name string, document map[string]any) {
	t.Helper()
	if runID() == "" {
		return
	}
	document["language"], document["run"] = language, runID()
	encoded, err := json.MarshalIndent(document, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(resultsDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(resultsDir(), name+".json.tmp")
	if err := os.WriteFile(tmp, encoded, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(resultsDir(), name+".json")); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	cases, err := corpus.Cases()
	if err != nil {
		t.Fatal(err)
	}
	xfails, err := corpus.ExpectedFailures()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]record{}
	summary := map[string]int{"passed": 0, "failed": 0, "xfail": 0, "xpass": 0}
	for _, c := range cases {
		var xfail *corpus.ExpectedFailure
		if e, ok := xfails[c.Name]; ok {
			xfail = &e
		}
		r := runCase(c, xfail)
		results[c.Name] = r
		summary[r.outcome()]++
	}
	writeResults(t, language, map[string]any{"cases": results, "summary": summary})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := results[c.Name]
			switch r.outcome() {
			case "xfail":
				t.Skipf("expected failure: %s (got: %s)", r.ExpectedFailure, strings.Join(r.Failures, "; "))
			case "xpass":
				t.Fatalf("passes: remove it from expected-failures.json")
			case "failed":
				t.Fatal(strings.Join(r.Failures, "; "))
			}
		})
	}
}

func TestGoldenFilesMatchExamples(t *testing.T) {
	examples, err := corpus.Examples()
	if err != nil {
		t.Fatal(err)
	}
	goldens, err := filepath.Glob(filepath.Join(corpus.Conformance(), "golden", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range goldens {
		key := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".json")
		if _, ok := examples[key]; !ok {
			t.Errorf("stale golden file %s (no example %s); regenerate: nox -s conformance -- golden", path, key)
		}
	}
	if len(goldens) != len(examples) {
		t.Errorf("%d golden files for %d examples; regenerate: nox -s conformance -- golden", len(goldens), len(examples))
	}
}
