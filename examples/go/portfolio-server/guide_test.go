package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	guideBegin = "<!-- implement:go:begin -->"
	guideEnd   = "<!-- implement:go:end -->"
	goGet      = "go get github.com/crypto-quant/cqc/packages/go@latest"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// guideBlocks are the (language, code) fenced blocks of the README's Go guide, in order.
func guideBlocks(t *testing.T) [][2]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start, end := strings.Index(text, guideBegin), strings.Index(text, guideEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no %s ... %s section", guideBegin, guideEnd)
	}
	var blocks [][2]string
	for _, m := range regexp.MustCompile("(?ms)^```(\\w+)\n(.*?)^```$").FindAllStringSubmatch(text[start:end], -1) {
		blocks = append(blocks, [2]string{m[1], m[2]})
	}
	return blocks
}

// The guide's main.go is this example.
func TestGuideServerIsTheExample(t *testing.T) {
	blocks := guideBlocks(t)
	if len(blocks) != 3 || blocks[0][0] != "bash" || blocks[1][0] != "go" || blocks[2][0] != "bash" {
		t.Fatalf("guide blocks %v, want bash, go, bash", blocks)
	}
	example, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if blocks[1][1] != string(example) {
		t.Fatal("the README guide's main.go differs from examples/go/portfolio-server/main.go")
	}
}

func freePort(t *testing.T) int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}

// README "Implement a service (Go)" run as written in an empty directory, with one substitution: the
// module requirement points at this checkout (go mod edit -replace, as the guide says to do before the
// release) instead of `go get ...@latest`. cqc-conformance comes from PATH (nox -s test-go puts the shared
// Python environment there).
func TestGuideRunsLiterally(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from scratch")
	}
	if _, err := exec.LookPath("cqc-conformance"); err != nil {
		if os.Getenv("CQC_EXAMPLE_SUITE") == "required" {
			t.Fatalf("cqc-conformance is not on PATH: %v", err)
		}
		t.Skipf("cqc-conformance is not on PATH (run under nox -s test-go): %v", err)
	}
	blocks := guideBlocks(t)
	setup, server, run := blocks[0][1], blocks[1][1], blocks[2][1]
	if !strings.Contains(setup, goGet) {
		t.Fatalf("the guide's setup lost %q", goGet)
	}
	pkg, err := filepath.Abs(filepath.Join(repoRoot(), "packages", "go"))
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/crypto-quant/cqc/packages/go"
	setup = strings.Replace(setup, goGet, "go mod edit -require="+module+"@v0.0.0 -replace="+module+"="+pkg, 1)
	run = strings.ReplaceAll(run, "50062", strconv.Itoa(freePort(t)))
	// the harness ends the guide's background server whatever happens (the trap is not part of the guide)
	script := "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + setup + "\ncat > main.go <<'CQC_GUIDE_EOF'\n" + server + "CQC_GUIDE_EOF\n" + run
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second // a leftover child holding the output pipe does not block the test
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the guide's server too, whatever happened
	}
	if err != nil {
		t.Fatalf("guide failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	m := regexp.MustCompile(`^Portfolio: (\d+) cases, (\d+) passed$`).FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("guide's suite run:\n%s", out)
	}
	t.Log(lines[len(lines)-1])
}
