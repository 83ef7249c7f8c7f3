// Package corpus reads testdata/ (examples and conformance cases) for the Go tests.
package corpus

import (
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

// Case is one conformance case: decode JSON as Type, then expect Valid or exactly Violations.
type Case struct {
	Name       string
	Type       string
	JSON       []byte
	Valid      bool
	Violations []Expected
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
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Base   string          `json:"base"`
	Patch  any             `json:"patch"`
	JSON   any             `json:"json"`
	Expect json.RawMessage `json:"expect"`
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
		cases = append(cases, Case{Name: "example/" + key, Type: strings.Split(key, "/")[0], JSON: encoded, Valid: true})
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
			value := rc.JSON
			if value == nil {
				base, ok := examples[rc.Base]
				if !ok {
					return nil, fmt.Errorf("%s: case %q names unknown base %q", file, rc.Name, rc.Base)
				}
				value = MergePatch(base, rc.Patch)
			}
			encoded, err := json.Marshal(value)
			if err != nil {
				return nil, err
			}
			c := Case{Name: rc.Name, Type: rc.Type, JSON: encoded}
			if string(rc.Expect) == `"valid"` {
				c.Valid = true
			} else {
				var expect struct {
					Violations []Expected `json:"violations"`
				}
				if err := json.Unmarshal(rc.Expect, &expect); err != nil {
					return nil, fmt.Errorf("%s: case %q: %w", file, rc.Name, err)
				}
				c.Violations = expect.Violations
			}
			cases = append(cases, c)
		}
	}
	return cases, nil
}
