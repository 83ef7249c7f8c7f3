//go:build conformance_cross

package cqc_test

// Phase 2 of the conformance suite in Go: decode what Python and TypeScript encoded for every case (binary
// and canonical JSON, from .build/conformance/<run>/<language>.json) and compare with Go's own decoding of the
// case, as protobuf values (binary: unknown fields included). Verdicts and canonical JSON values must
// agree too. Run by `nox -s conformance` after phase 1 in all three languages:
// `go test -tags conformance_cross -run TestConformanceCross`.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type crossEntry struct {
	Checked    int                 `json:"checked"`
	Agreed     int                 `json:"agreed"`
	Mismatches map[string][]string `json:"mismatches"`
	XFail      map[string][]string `json:"xfail"`
}

// loadResults returns a language's phase-1 results, or nil when missing or from another run.
func loadResults(t *testing.T, lang string) map[string]record {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(resultsDir(), lang+".json"))
	if err != nil {
		return nil
	}
	var doc struct {
		Run   string            `json:"run"`
		Cases map[string]record `json:"cases"`
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Run != runID() {
		return nil
	}
	return doc.Cases
}

func compareResults(typeName string, own proto.Message, mine record, theirs *record) []string {
	if theirs == nil {
		return []string{"no result for this case"}
	}
	var problems []string
	if mine.Verdict != theirs.Verdict || fmt.Sprint(mine.Violations) != fmt.Sprint(theirs.Violations) {
		problems = append(problems, fmt.Sprintf("verdict %s %v != ours %s %v", theirs.Verdict, theirs.Violations, mine.Verdict, mine.Violations))
	}
	if own == nil || theirs.Binary == nil {
		return problems
	}
	wire, err := base64.StdEncoding.DecodeString(*theirs.Binary)
	fromWire, _ := newMessage(typeName)
	if err == nil {
		err = proto.Unmarshal(wire, fromWire)
	}
	if err != nil {
		problems = append(problems, fmt.Sprintf("their binary does not decode: %v", err))
	} else if !proto.Equal(fromWire, own) {
		problems = append(problems, "their binary decodes to a different message")
	}
	noJSON := func(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }
	if noJSON(theirs.JSON) != noJSON(mine.JSON) {
		return append(problems, "one language encodes canonical JSON, the other refuses")
	}
	if noJSON(theirs.JSON) {
		return problems
	}
	fromJSON, _ := newMessage(typeName)
	if err := protojson.Unmarshal(theirs.JSON, fromJSON); err != nil {
		problems = append(problems, fmt.Sprintf("their canonical JSON does not decode: %v", err))
	} else if !proto.Equal(fromJSON, withoutUnknown(own)) {
		problems = append(problems, "their canonical JSON decodes to a different message")
	}
	a, err1 := jsonValue(theirs.JSON)
	b, err2 := jsonValue(mine.JSON)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
		text := string(theirs.JSON)
		if len(text) > 200 {
			text = text[:200]
		}
		problems = append(problems, "canonical JSON differs: "+text)
	}
	return problems
}

func TestConformanceCross(t *testing.T) {
	cases, err := corpus.Cases()
	if err != nil {
		t.Fatal(err)
	}
	xfails, err := corpus.ExpectedFailures()
	if err != nil {
		t.Fatal(err)
	}
	mine := loadResults(t, language)
	if mine == nil {
		t.Fatal("go's phase-1 results are missing or stale")
	}
	report := map[string]*crossEntry{}
	for _, other := range []string{"python", "typescript"} {
		entry := &crossEntry{Mismatches: map[string][]string{}, XFail: map[string][]string{}}
		theirs := loadResults(t, other)
		if theirs == nil {
			entry.Mismatches["*"] = []string{other + "'s phase-1 results are missing or stale"}
			report[other] = entry
			continue
		}
		for _, c := range cases {
			r, ok := mine[c.Name]
			if !ok {
				continue
			}
			entry.Checked++
			own, err := decode(c)
			if err != nil {
				own = nil
			}
			var their *record
			if tr, ok := theirs[c.Name]; ok {
				their = &tr
			}
			problems := compareResults(c.Type, own, r, their)
			if len(problems) == 0 {
				entry.Agreed++
			} else if e, ok := xfails[c.Name]; ok && e.Has(language, other) {
				entry.XFail[c.Name] = problems
			} else {
				entry.Mismatches[c.Name] = problems
			}
		}
		report[other] = entry
	}
	writeResults(t, language+"-cross", map[string]any{"against": report})
	for _, other := range []string{"python", "typescript"} {
		entry := report[other]
		names := make([]string, 0, len(entry.Mismatches))
		for name := range entry.Mismatches {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t.Errorf("%s encoded %s: %s", other, name, strings.Join(entry.Mismatches[name], "; "))
		}
	}
}
