// Package corpus reads testdata/ (examples, conformance cases, golden JSON and expected failures) for the
// Go tests. The format is documented in testdata/conformance/README.md; the Python (tests/corpus.py) and
// TypeScript (test/corpus.ts) readers implement the same rules.
package corpus

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Expected is one expected violation: a field path and a rule id.
type Expected struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// Case is one conformance case: decode the input as Type, then expect Valid, exactly Violations, or a
// decode error (ParseError). The input is Binary (wire format) when non-nil, JSON text otherwise.
type Case struct {
	Name       string
	Type       string
	JSON       []byte // a JSON value ("json", "base" + "patch") re-marshalled, or "json_text" verbatim
	JSONText   bool   // JSON came from "json_text"
	Binary     []byte // "binary_hex" / "binary_base64"
	Valid      bool
	Violations []Expected
	ParseError bool
	// Reencoded, when set, is the exact wire format that decoding then encoding Binary must give.
	Reencoded []byte
	// JSONEncodable is false for messages that decode (from binary) but have no canonical JSON form.
	JSONEncodable bool
	// Example is "<Type>/<name>" for the examples themselves (checked against their golden JSON).
	Example string
	// Problem is set when the case itself is malformed (e.g. a duplicate name): it fails.
	Problem string
}

// Verdict is the expected outcome: "valid", "invalid" or "parse_error".
func (c Case) Verdict() string {
	switch {
	case c.ParseError:
		return "parse_error"
	case c.Valid:
		return "valid"
	}
	return "invalid"
}

// InputKind is "binary", "json_text" or "json".
func (c Case) InputKind() string {
	switch {
	case c.Binary != nil:
		return "binary"
	case c.JSONText:
		return "json_text"
	}
	return "json"
}

// Conformance is the path of testdata/conformance.
func Conformance() string { return filepath.Join(Testdata(), "conformance") }

// GoldenPath is testdata/conformance/golden/<Type>/<name>.json for the example "<Type>/<name>".
func GoldenPath(example string) string {
	typeName, name, _ := strings.Cut(example, "/")
	return filepath.Join(Conformance(), "golden", typeName, name+".json")
}

// ExpectedFailure is a known, justified runtime difference: Case fails in Languages for Reason.
type ExpectedFailure struct {
	Case      string   `json:"case"`
	Languages []string `json:"languages"`
	Reason    string   `json:"reason"`
}

// Has reports whether the entry covers one of languages.
func (e ExpectedFailure) Has(languages ...string) bool {
	for _, l := range e.Languages {
		for _, want := range languages {
			if l == want {
				return true
			}
		}
	}
	return false
}

// ExpectedFailures reads testdata/conformance/expected-failures.json, keyed by case name.
func ExpectedFailures() (map[string]ExpectedFailure, error) {
	path := filepath.Join(Conformance(), "expected-failures.json")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return map[string]ExpectedFailure{}, nil
	}
	var doc struct {
		ExpectedFailures []ExpectedFailure `json:"expected_failures"`
	}
	if err := readJSON(path, &doc); err != nil {
		return nil, err
	}
	found := map[string]ExpectedFailure{}
	for _, e := range doc.ExpectedFailures {
		if e.Reason == "" {
			return nil, fmt.Errorf("expected failure %q has no reason", e.Case)
		}
		found[e.Case] = e
	}
	return found, nil
}

func decodeBytes(hexText, base64Text *string) ([]byte, error) {
	if hexText != nil {
		return hex.DecodeString(strings.Join(strings.Fields(*hexText), ""))
	}
	if base64Text != nil {
		return base64.StdEncoding.DecodeString(*base64Text)
	}
	return nil, nil
}

// Testdata is the absolute path of the repository's testdata directory.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "testdata")
}

// MergePatch applies an RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces.
func MergePatch(target, patch any) any {
	patchObj, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	result := map[string]any{}
	if targetObj, ok := target.(map[string]any); ok {
		for k, v := range targetObj {
			result[k] = v
		}
	}
	for k, v := range patchObj {
		if v == nil {
			delete(result, k)
		} else {
			result[k] = MergePatch(result[k], v)
		}
	}
	return result
}

func readJSON(path string, into any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Examples returns every example message keyed "<full message name>/<example name>".
func Examples() (map[string]any, error) {
	paths, err := filepath.Glob(filepath.Join(Testdata(), "examples", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	found := map[string]any{}
	for _, path := range paths {
		var value any
		if err := readJSON(path, &value); err != nil {
			return nil, err
		}
		key := filepath.Base(filepath.Dir(path)) + "/" + strings.TrimSuffix(filepath.Base(path), ".json")
		found[key] = value
	}
	return found, nil
}

type rawCase struct {
	Name            string          `json:"name"`
	Type            string          `json:"type"`
	Base            string          `json:"base"`
	Patch           any             `json:"patch"`
	JSON            any             `json:"json"`
	JSONText        *string         `json:"json_text"`
	BinaryHex       *string         `json:"binary_hex"`
	BinaryBase64    *string         `json:"binary_base64"`
	ReencodedHex    *string         `json:"reencoded_hex"`
	ReencodedBase64 *string         `json:"reencoded_base64"`
	JSONEncodable   *bool           `json:"json_encodable"`
	Expect          json.RawMessage `json:"expect"`
}

// Cases returns each example as a valid case, then every case of testdata/conformance/cases/*.json.
func Cases() ([]Case, error) {
	examples, err := Examples()
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(examples))
	for k := range examples {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cases []Case
	for _, key := range keys {
		encoded, err := json.Marshal(examples[key])
		if err != nil {
			return nil, err
		}
		cases = append(cases, Case{
			Name: "example/" + key, Type: strings.Split(key, "/")[0], JSON: encoded, Valid: true,
			JSONEncodable: true, Example: key,
		})
	}
	files, err := filepath.Glob(filepath.Join(Testdata(), "conformance", "cases", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, file := range files {
		var doc struct {
			Cases []rawCase `json:"cases"`
		}
		if err := readJSON(file, &doc); err != nil {
			return nil, err
		}
		for _, rc := range doc.Cases {
			c, err := parseCase(rc, examples)
			if err != nil {
				return nil, fmt.Errorf("%s: case %q: %w", filepath.Base(file), rc.Name, err)
			}
			cases = append(cases, c)
		}
	}
	// A repeated name is kept as a failing case, "<name> (duplicate 2)", so every language reports it.
	seen := map[string]int{}
	for i, c := range cases {
		seen[c.Name]++
		if n := seen[c.Name]; n > 1 {
			cases[i].Name = fmt.Sprintf("%s (duplicate %d)", c.Name, n)
			cases[i].Problem = "case name used twice"
		}
	}
	return cases, nil
}

func parseCase(rc rawCase, examples map[string]any) (Case, error) {
	c := Case{Name: rc.Name, Type: rc.Type, JSONEncodable: rc.JSONEncodable == nil || *rc.JSONEncodable}
	var err error
	if c.Binary, err = decodeBytes(rc.BinaryHex, rc.BinaryBase64); err != nil {
		return c, err
	}
	if c.Reencoded, err = decodeBytes(rc.ReencodedHex, rc.ReencodedBase64); err != nil {
		return c, err
	}
	if c.Binary == nil && (rc.BinaryHex != nil || rc.BinaryBase64 != nil) {
		c.Binary = []byte{}
	}
	switch {
	case c.Binary != nil:
	case rc.JSONText != nil:
		c.JSON, c.JSONText = []byte(*rc.JSONText), true
	default:
		value := rc.JSON
		if value == nil {
			base, ok := examples[rc.Base]
			if !ok {
				return c, fmt.Errorf("unknown base %q", rc.Base)
			}
			value = MergePatch(base, rc.Patch)
		}
		if c.JSON, err = json.Marshal(value); err != nil {
			return c, err
		}
	}
	if string(rc.Expect) == `"valid"` {
		c.Valid = true
		return c, nil
	}
	var expect struct {
		Violations []Expected `json:"violations"`
		ParseError bool       `json:"parse_error"`
	}
	if err := json.Unmarshal(rc.Expect, &expect); err != nil {
		return c, err
	}
	if !expect.ParseError && len(expect.Violations) == 0 {
		return c, fmt.Errorf(`expect must be "valid", violations or parse_error`)
	}
	c.Violations, c.ParseError = expect.Violations, expect.ParseError
	return c, nil
}
