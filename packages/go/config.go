package cqc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ConfigError is returned by LoadConfig: File is the configuration file, Field the proto field path of the
// first problem ("" when the decoder names none), Rule "parse" for a file that is not a YAML/JSON mapping
// or does not decode as the message, otherwise the validation rule id; Violations holds every broken rule.
type ConfigError struct {
	File       string
	Field      string
	Rule       string
	Detail     string
	Violations []Violation
}

// Error renders the error as `file: field F: detail [rule]`.
func (e *ConfigError) Error() string {
	where := ""
	if e.Field != "" {
		where = " field " + e.Field
	}
	return fmt.Sprintf("%s:%s: %s [%s]", e.File, where, e.Detail, e.Rule)
}

// LoadConfig reads a service configuration file (".yaml"/".yml" as YAML, anything else as JSON) into msg,
// a cqc.config.v1 message such as *configv1.AssetRegistryConfig, and validates it. Keys are proto field
// names or JSON names, values as in canonical proto JSON (durations "30s", enums by name). Every failure
// is a *ConfigError.
func LoadConfig(path string, msg proto.Message) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &ConfigError{File: path, Rule: "parse", Detail: "cannot read: " + err.Error()}
	}
	ext := strings.ToLower(filepath.Ext(path))
	return LoadConfigBytes(data, ext == ".yaml" || ext == ".yml", path, msg)
}

// LoadConfigBytes is LoadConfig on content already read; file names it in errors.
func LoadConfigBytes(data []byte, isYAML bool, file string, msg proto.Message) error {
	jsonData := data
	if isYAML {
		var tree any
		if err := yaml.Unmarshal(data, &tree); err != nil {
			return &ConfigError{File: file, Rule: "parse", Detail: "not valid YAML: " + err.Error()}
		}
		if _, ok := tree.(map[string]any); !ok {
			return &ConfigError{File: file, Rule: "parse", Detail: fmt.Sprintf("the top level must be a mapping, not %T", tree)}
		}
		converted, err := json.Marshal(tree)
		if err != nil {
			return &ConfigError{File: file, Rule: "parse", Detail: "not representable as JSON: " + err.Error()}
		}
		jsonData = converted
	} else {
		var tree any
		if err := json.Unmarshal(data, &tree); err != nil {
			return &ConfigError{File: file, Rule: "parse", Detail: "not valid JSON: " + err.Error()}
		}
		if _, ok := tree.(map[string]any); !ok {
			return &ConfigError{File: file, Rule: "parse", Detail: fmt.Sprintf("the top level must be a mapping, not %T", tree)}
		}
	}
	proto.Reset(msg)
	if err := protojson.Unmarshal(jsonData, msg); err != nil {
		return &ConfigError{File: file, Rule: "parse", Detail: err.Error()}
	}
	found, err := Violations(msg)
	if err != nil {
		return &ConfigError{File: file, Rule: "parse", Detail: err.Error()}
	}
	if len(found) > 0 {
		parts := make([]string, len(found))
		for i, v := range found {
			parts[i] = v.String()
		}
		return &ConfigError{File: file, Field: found[0].Field, Rule: found[0].RuleID, Detail: strings.Join(parts, "; "), Violations: found}
	}
	return nil
}
