package cqctest

import (
	"bytes"
	_ "embed" // the seed bundle
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// seedBundle is seed/examples.json: {"<message full name>": {"<example name>": <canonical proto JSON>}} for
// every example type the reference servers seed, generated from the repository's testdata/examples by
// `nox -s generate` (tools/cqcgen.py), so that a server started from the Go module alone has its data.
//
//go:embed seed/examples.json
var seedBundle []byte

var (
	seedOnce   sync.Once
	seedByType map[string]map[string]json.RawMessage
	seedErr    error
)

func parsedSeed() (map[string]map[string]json.RawMessage, error) {
	seedOnce.Do(func() {
		seedErr = json.Unmarshal(seedBundle, &seedByType)
		if seedErr != nil {
			seedErr = fmt.Errorf("cqctest: seed bundle: %w", seedErr)
		}
	})
	return seedByType, seedErr
}

// SeedTypes are the message full names the embedded seed bundle holds examples of, sorted.
func SeedTypes() []string {
	bundle, _ := parsedSeed()
	names := make([]string, 0, len(bundle))
	for name := range bundle {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// SeedExamples returns the examples of one message type in the embedded seed bundle, by example name
// (the file name under testdata/examples/<type>/ without ".json"), as canonical proto JSON. A type the
// bundle does not hold gives an empty map.
func SeedExamples(typeName string) map[string]json.RawMessage {
	bundle, _ := parsedSeed()
	out := make(map[string]json.RawMessage, len(bundle[typeName]))
	for name, raw := range bundle[typeName] {
		out[name] = bytes.Clone(raw)
	}
	return out
}

// bundleLoader is a loader (marketdata_feeds.go) over the embedded seed bundle, in example-name order.
func bundleLoader(typeName string, newMsg func() proto.Message, add func(proto.Message)) error {
	bundle, err := parsedSeed()
	if err != nil {
		return err
	}
	examples := bundle[typeName]
	names := make([]string, 0, len(examples))
	for name := range examples {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		msg := newMsg()
		if err := protojson.Unmarshal(examples[name], msg); err != nil {
			return fmt.Errorf("cqctest: seed bundle %s/%s: %w", typeName, name, err)
		}
		add(msg)
	}
	return nil
}

// dirLoader is a loader over an examples directory (DIR/<type>/*.json), in file-name order.
func dirLoader(dir string) loader {
	return func(typeName string, newMsg func() proto.Message, add func(proto.Message)) error {
		files, err := filepath.Glob(filepath.Join(dir, typeName, "*.json"))
		if err != nil {
			return err
		}
		sort.Strings(files)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			msg := newMsg()
			if err := protojson.Unmarshal(data, msg); err != nil {
				return fmt.Errorf("cqctest: %s: %w", file, err)
			}
			add(msg)
		}
		return nil
	}
}
