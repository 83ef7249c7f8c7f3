package cqc_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
)

type configCase struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	File    string          `json:"file"`
	Format  string          `json:"format"`
	Content string          `json:"content"`
	Expect  json.RawMessage `json:"expect"`
}

// TestLoadConfig runs the shared loader cases (testdata/helpers/config-cases.json), as Python and
// TypeScript do.
func TestLoadConfig(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "testdata", "helpers", "config-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []configCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(c.Type))
			if err != nil {
				t.Fatal(err)
			}
			msg := mt.New().Interface()
			path := filepath.Join(root, filepath.FromSlash(c.File))
			if c.File == "" {
				path = filepath.Join(t.TempDir(), "config."+c.Format)
				if err := os.WriteFile(path, []byte(c.Content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			loadErr := cqc.LoadConfig(path, msg)
			var expect struct {
				Message json.RawMessage `json:"message"`
				Error   *struct {
					Field *string `json:"field"`
					Rule  string  `json:"rule"`
				} `json:"error"`
			}
			if err := json.Unmarshal(c.Expect, &expect); err != nil {
				t.Fatal(err)
			}
			if expect.Error == nil {
				if loadErr != nil {
					t.Fatalf("unexpected error: %v", loadErr)
				}
				want := mt.New().Interface()
				if err := protojson.Unmarshal(expect.Message, want); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(msg, want) {
					t.Fatalf("got %v, want %v", msg, want)
				}
				return
			}
			var configErr *cqc.ConfigError
			if !errors.As(loadErr, &configErr) {
				t.Fatalf("want a *ConfigError, got %v", loadErr)
			}
			if configErr.Rule != expect.Error.Rule || (expect.Error.Field != nil && configErr.Field != *expect.Error.Field) {
				t.Fatalf("got field %q rule %q (%v), want %+v", configErr.Field, configErr.Rule, configErr, *expect.Error)
			}
			if configErr.File != path {
				t.Fatalf("error names file %q, want %q", configErr.File, path)
			}
		})
	}
}
