package vrt

import (
	"math/big"
	"math/rand"
	"regexp"
	"testing"
)

// The hand-written matchers accept exactly what the RE2 patterns they replace accept.
func TestMatchersAgreeWithTheirPatterns(t *testing.T) {
	cases := []struct {
		m interface{ MatchString(string) bool }
		p string
	}{
		{Decimal{Signed: true, Strict: true}, `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`},
		{Decimal{Signed: false, Strict: true}, `^(0|[1-9][0-9]*)(\.[0-9]+)?$`},
		{Decimal{Signed: true, Strict: false}, `^-?[0-9]+(\.[0-9]+)?$`},
		{Zero{Negative: false}, `^0(\.0+)?$`},
		{Zero{Negative: true}, `^-0(\.0+)?$`},
		{ID{Prefix: "ast_"}, `^ast_[0-9A-HJKMNP-TV-Z]{26}$`},
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"-", "0", "1", "9", ".", "a", " ", "\n", "+", "e", "ast_", "I", "Z", "00000000000000000000000000"}
	for _, c := range cases {
		re := regexp.MustCompile(c.p)
		for i := 0; i < 200000; i++ {
			s := ""
			for n := rng.Intn(8); n > 0; n-- {
				s += alphabet[rng.Intn(len(alphabet))]
			}
			if c.m.MatchString(s) != re.MatchString(s) {
				t.Fatalf("%s on %q: matcher %v, regexp %v", c.p, s, c.m.MatchString(s), re.MatchString(s))
			}
		}
	}
}

// CmpDecimalStrings agrees with exact rational comparison.
func TestCmpDecimalStrings(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	digits := []string{"0", "00", "1", "9", "10", "05", "123456789012345678901234567890"}
	gen := func() string {
		s := ""
		if rng.Intn(2) == 0 {
			s = "-"
		}
		s += digits[rng.Intn(len(digits))]
		if rng.Intn(2) == 0 {
			s += "." + digits[rng.Intn(len(digits))]
		}
		return s
	}
	for i := 0; i < 200000; i++ {
		a, b := gen(), gen()
		x, _ := new(big.Rat).SetString(a)
		y, _ := new(big.Rat).SetString(b)
		if got, want := CmpDecimalStrings(a, b), x.Cmp(y); got != want {
			t.Fatalf("%s vs %s: %d, want %d", a, b, got, want)
		}
	}
}
