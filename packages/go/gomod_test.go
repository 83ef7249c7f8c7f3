package cqc_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// oldestSupportedGo is the older of the two Go releases the Go project supports (Go 1.27 and 1.26 as of
// December 2026). The published module must build with it: its go directive may not ask for more.
const oldestSupportedGo = "1.26"

// goVersionLess compares Go versions "1.26", "1.26.0", "1.27.3" numerically.
func goVersionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func requirement(gomod, module string) string {
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(\S+)`).FindStringSubmatch(gomod)
	if m == nil {
		return ""
	}
	return m[1]
}

// The published module declares the oldest Go it needs and keeps code generators out of consumers' module
// graphs: no tool directives, no requirement on a protoc plugin (they live in tools/gogen).
func TestGoModHygiene(t *testing.T) {
	raw, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	gomod := string(raw)
	if regexp.MustCompile(`(?m)^\s*tool\b`).MatchString(gomod) {
		t.Error("go.mod has a tool directive: pin tools in a tools-only module (tools/gogen)")
	}
	for _, generator := range []string{"google.golang.org/grpc/cmd/protoc-gen-go-grpc", "github.com/bufbuild/protoschema-plugins"} {
		if strings.Contains(gomod, generator) {
			t.Errorf("go.mod requires the generator %s", generator)
		}
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if goVersionLess(oldestSupportedGo, m[1]) && !strings.HasPrefix(m[1], oldestSupportedGo+".") {
		t.Errorf("go directive %s asks for more than Go %s, the older supported release", m[1], oldestSupportedGo)
	}
	if regexp.MustCompile(`(?m)^toolchain `).MatchString(gomod) {
		t.Error("go.mod has a toolchain line: consumers' builds would try to switch Go")
	}

	// The generators' module pins the protobuf runtime packages/go requires, so that generated code and
	// runtime agree (skipped outside the repository, e.g. in the published module).
	tools, err := os.ReadFile(filepath.Join("..", "..", "tools", "gogen", "go.mod"))
	if err != nil {
		t.Skipf("tools/gogen/go.mod not found (outside the repository): %v", err)
	}
	const runtime = "google.golang.org/protobuf"
	if got, want := requirement(string(tools), runtime), requirement(gomod, runtime); got == "" || got != want {
		t.Errorf("tools/gogen pins %s %q, packages/go requires %q: keep them equal", runtime, got, want)
	}
}
