// Package jsonschema_test validates every example service configuration (examples/config/*.yaml) against
// its generated JSON Schema (schemas/jsonschema) with a standard Go validator, santhosh-tekuri/jsonschema.
// Run by `nox -s config-schemas` (part of `make test`).
package jsonschema_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

var declared = regexp.MustCompile(`message (cqc\.config\.v1\.\w+)`)

func TestExampleConfigsMatchTheirSchemas(t *testing.T) {
	root := filepath.Join("..", "..")
	schemas := filepath.Join(root, "schemas", "jsonschema")
	compiler := jsonschema.NewCompiler()
	files, err := filepath.Glob(filepath.Join(schemas, "*.jsonschema.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas under %s (%v)", schemas, err)
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Schemas refer to each other by file name ("$ref": "google.protobuf.Duration.jsonschema.json").
		if err := compiler.AddResource(filepath.Base(file), doc); err != nil {
			t.Fatal(err)
		}
	}
	configs, _ := filepath.Glob(filepath.Join(root, "examples", "config", "*.yaml"))
	if len(configs) < 5 {
		t.Fatalf("want an example configuration per service, found %d", len(configs))
	}
	for _, config := range configs {
		t.Run(filepath.Base(config), func(t *testing.T) {
			data, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			match := declared.FindSubmatch(data)
			if match == nil {
				t.Fatal("the header comment names no cqc.config.v1 message")
			}
			schema, err := compiler.Compile(string(match[1]) + ".jsonschema.json")
			if err != nil {
				t.Fatal(err)
			}
			var value any
			if err := yaml.Unmarshal(data, &value); err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(normalize(value)); err != nil {
				t.Fatal(err)
			}
			// And a broken copy is refused: the schema is not vacuous.
			broken := normalize(value).(map[string]any)
			broken["no_such_field"] = true
			if schema.Validate(broken) == nil {
				t.Fatal("an unknown key was accepted")
			}
		})
	}
}

// normalize turns YAML-decoded values into what the validator expects of JSON (float64/int numbers are
// accepted; maps must have string keys, which yaml.v3 already gives for string-keyed mappings).
func normalize(value any) any {
	switch v := value.(type) {
	case map[string]any:
		for k, item := range v {
			v[k] = normalize(item)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = normalize(item)
		}
		return v
	case int:
		return float64(v)
	default:
		return v
	}
}
