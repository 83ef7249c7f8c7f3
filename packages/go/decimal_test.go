package cqc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

// decimalCase is one case of testdata/helpers/decimal-cases.json (run by Python and TypeScript too).
type decimalCase struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	Args   []string `json:"args"`
	Result any      `json:"result"`
	Error  bool     `json:"error"`
}

func decimalCases(t *testing.T) []decimalCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpus.Testdata(), "helpers", "decimal-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []decimalCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 120 {
		t.Fatalf("only %d decimal cases", len(file.Cases))
	}
	return file.Cases
}

// runDecimalCase returns the case's result: a canonical string, or a bool for is_multiple.
func runDecimalCase(c decimalCase) (any, error) {
	parse := func(i int) (*big.Rat, error) { return cqc.ParseDecimal(c.Args[i]) }
	switch c.Op {
	case "parse":
		r, err := parse(0)
		if err != nil {
			return nil, err
		}
		return cqc.FormatDecimal(r)
	case "format":
		coefficient, ok := new(big.Int).SetString(c.Args[0], 10)
		if !ok {
			return nil, fmt.Errorf("bad coefficient %q in the case", c.Args[0])
		}
		exponent, err := strconv.Atoi(c.Args[1])
		if err != nil {
			return nil, err
		}
		power := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(exponent, -exponent))), nil)
		value := new(big.Rat).SetInt(coefficient)
		if exponent >= 0 {
			value.Mul(value, new(big.Rat).SetInt(power))
		} else {
			value.Quo(value, new(big.Rat).SetInt(power))
		}
		return cqc.FormatDecimal(value)
	case "is_multiple", "round_to_increment":
		value, err := parse(0)
		if err != nil {
			return nil, err
		}
		increment, err := parse(1)
		if err != nil {
			return nil, err
		}
		if c.Op == "is_multiple" {
			return cqc.IsMultiple(value, increment)
		}
		rounded, err := cqc.RoundToIncrement(value, increment, cqc.RoundingMode(c.Args[2]))
		if err != nil {
			return nil, err
		}
		return cqc.FormatDecimal(rounded)
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func TestDecimalCases(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range decimalCases(t) {
		if seen[c.Name] {
			t.Errorf("duplicate case name %q", c.Name)
		}
		seen[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			got, err := runDecimalCase(c)
			switch {
			case c.Error && err == nil:
				t.Fatalf("%s%q: expected an error, got %v", c.Op, c.Args, got)
			case c.Error:
				return
			case err != nil:
				t.Fatalf("%s%q: unexpected error %v", c.Op, c.Args, err)
			case got != c.Result:
				t.Fatalf("%s%q = %#v, want %#v", c.Op, c.Args, got, c.Result)
			}
		})
	}
}

func TestParseDecimalErrorNamesInputAndRule(t *testing.T) {
	_, err := cqc.ParseDecimal("1e5")
	var invalid *cqc.InvalidDecimalError
	if !errors.As(err, &invalid) || invalid.Input != "1e5" || invalid.RuleID != "cqc.decimal" {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), `"1e5"`) || !strings.Contains(err.Error(), "[cqc.decimal]") {
		t.Fatalf("message %q", err)
	}
	_, err = cqc.IsMultiple(big.NewRat(1, 1), new(big.Rat))
	if !errors.As(err, &invalid) || invalid.RuleID != "cqc.decimal.positive" {
		t.Fatalf("zero increment: got %v", err)
	}
}

func TestFormatDecimalNeedsAFiniteExpansion(t *testing.T) {
	for _, r := range []*big.Rat{big.NewRat(1, 3), big.NewRat(-7, 6), big.NewRat(1, 1<<40*3), nil} {
		if s, err := cqc.FormatDecimal(r); err == nil {
			t.Errorf("FormatDecimal(%v) = %q, want an error", r, s)
		}
	}
	for r, want := range map[*big.Rat]string{
		big.NewRat(1, 1<<20):   "0.00000095367431640625",
		big.NewRat(-1, 8):      "-0.125",
		big.NewRat(3, 625):     "0.0048",
		big.NewRat(10, 1):      "10",
		big.NewRat(-120, 1):    "-120",
		big.NewRat(0, 5):       "0",
		big.NewRat(-999, 1000): "-0.999",
	} {
		if got, err := cqc.FormatDecimal(r); err != nil || got != want {
			t.Errorf("FormatDecimal(%v) = %q, %v; want %q", r, got, err, want)
		}
	}
}

func TestRoundToIncrementLeavesArgumentsAlone(t *testing.T) {
	value, _ := cqc.ParseDecimal("43050.127")
	increment, _ := cqc.ParseDecimal("0.01")
	rounded, err := cqc.RoundToIncrement(value, increment, cqc.RoundHalfEven)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := cqc.FormatDecimal(rounded); s != "43050.13" {
		t.Fatalf("rounded to %s", s)
	}
	if s, _ := cqc.FormatDecimal(value); s != "43050.127" {
		t.Fatalf("value changed to %s", s)
	}
	if s, _ := cqc.FormatDecimal(increment); s != "0.01" {
		t.Fatalf("increment changed to %s", s)
	}
	if _, err := cqc.RoundToIncrement(value, nil, cqc.RoundDown); err == nil {
		t.Fatal("nil increment: no error")
	}
	if _, err := cqc.RoundToIncrement(value, increment, "HALF_UP"); err == nil || !strings.Contains(err.Error(), "HALF_UP") {
		t.Fatalf("unknown mode: %v", err)
	}
}

// The cases' canonical results re-parse to the same value and format to themselves.
func TestFormatDecimalIsAFixedPoint(t *testing.T) {
	for _, c := range decimalCases(t) {
		s, ok := c.Result.(string)
		if !ok || len(s) > cqc.MaxDecimalLength {
			continue
		}
		r, err := cqc.ParseDecimal(s)
		if err != nil {
			t.Fatalf("%s: result %q does not parse: %v", c.Name, s, err)
		}
		if again, err := cqc.FormatDecimal(r); err != nil || again != s {
			t.Fatalf("%s: %q formats as %q, %v", c.Name, s, again, err)
		}
	}
}
