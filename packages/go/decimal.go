package cqc

import (
	"fmt"
	"math/big"
	"regexp"
)

// Decimals travel as strings in one grammar (rule cqc.decimal in proto/cqc/types/v1/rules.proto):
// ^-?(0|[1-9][0-9]*)(\.[0-9]+)?$, at most 100 characters, no negative zero. The helpers below convert
// between that string and an exact *big.Rat, and make the two checks a trading service needs on prices and
// sizes: is a value on a tick or lot (IsMultiple), and the nearest value that is (RoundToIncrement). Python
// (cqc.decimal) and TypeScript (@crypto-quant/cqc/decimal) behave the same, proven by the shared cases in
// testdata/helpers/decimal-cases.json.

// MaxDecimalLength is the longest decimal string the contract accepts, in characters.
const MaxDecimalLength = 100

const decimalPattern = `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`

var (
	decimalGrammar = regexp.MustCompile(decimalPattern)
	negativeZero   = regexp.MustCompile(`^-0(\.0+)?$`)
	bigTwo         = big.NewInt(2)
	bigFive        = big.NewInt(5)
)

// InvalidDecimalError reports a string that is not a CQC decimal, a value that has no decimal string, or an
// increment that is not positive. Input is the offending input (a string as given, a value as a fraction),
// Reason what is wrong, and RuleID the contract rule it breaks: "cqc.decimal", or "cqc.decimal.positive"
// for an increment.
type InvalidDecimalError struct {
	Input  string
	Reason string
	RuleID string
}

// Error names the input, what is wrong with it and the rule.
func (e *InvalidDecimalError) Error() string {
	return fmt.Sprintf("invalid decimal %q: %s [%s]", e.Input, e.Reason, e.RuleID)
}

// RoundingMode says which multiple RoundToIncrement picks when a value lies between two.
type RoundingMode string

// The rounding modes; their values are the names used in Python, TypeScript and the shared test cases.
const (
	// RoundDown rounds toward zero.
	RoundDown RoundingMode = "DOWN"
	// RoundUp rounds away from zero.
	RoundUp RoundingMode = "UP"
	// RoundFloor rounds toward negative infinity.
	RoundFloor RoundingMode = "FLOOR"
	// RoundCeil rounds toward positive infinity.
	RoundCeil RoundingMode = "CEIL"
	// RoundHalfEven rounds to the nearest multiple, a tie to the even multiple (banker's rounding).
	RoundHalfEven RoundingMode = "HALF_EVEN"
)

// ParseDecimal returns the exact value of the CQC decimal string s. It accepts exactly what the cqc.decimal
// rule accepts; anything else ("1e5", "+1", ".5", "01", " 1", "NaN", "-0", more than 100 characters, ...)
// is an *InvalidDecimalError naming s and the rule. (big.Rat's own SetString accepts much more: exponents,
// fractions "1/3", a leading "+", which is why it is only called after the grammar check.)
func ParseDecimal(s string) (*big.Rat, error) {
	if n := len([]rune(s)); n > MaxDecimalLength {
		return nil, &InvalidDecimalError{Input: s, Reason: fmt.Sprintf("longer than %d characters (%d)", MaxDecimalLength, n), RuleID: "cqc.decimal"}
	}
	if !decimalGrammar.MatchString(s) {
		return nil, &InvalidDecimalError{Input: s, Reason: "does not match " + decimalPattern, RuleID: "cqc.decimal"}
	}
	if negativeZero.MatchString(s) {
		return nil, &InvalidDecimalError{Input: s, Reason: "negative zero (zero is written without a sign)", RuleID: "cqc.decimal"}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok { // unreachable: the grammar is a subset of what SetString accepts
		return nil, &InvalidDecimalError{Input: s, Reason: "not a number", RuleID: "cqc.decimal"}
	}
	return r, nil
}

// FormatDecimal returns the canonical CQC string of r: no exponent, no "+", no leading zeros, "-" only for a
// non-zero value, no trailing zeros after the point and no point for an integer (FormatDecimal of the value
// of "0.01000000" is "0.01", of "100.0" is "100"). A value with no finite decimal expansion (a denominator
// with a prime factor other than 2 and 5, such as 1/3) or a nil r is an *InvalidDecimalError. The result is
// not limited to 100 characters; check a computed value with ParseDecimal before sending it.
func FormatDecimal(r *big.Rat) (string, error) {
	if r == nil {
		return "", &InvalidDecimalError{Input: "<nil>", Reason: "no value", RuleID: "cqc.decimal"}
	}
	// The denominator (in lowest terms) must be 2^twos * 5^fives; then r has max(twos, fives) decimals.
	rest := new(big.Int).Set(r.Denom())
	twos := countFactor(rest, bigTwo)
	fives := countFactor(rest, bigFive)
	if rest.Cmp(big.NewInt(1)) != 0 {
		return "", &InvalidDecimalError{Input: r.String(), Reason: "no finite decimal expansion", RuleID: "cqc.decimal"}
	}
	scale := max(twos, fives)
	// Exact: 10^scale is a multiple of the denominator. The numerator and denominator are coprime, so
	// the last of the scale decimals is never 0 and there are no trailing zeros to drop.
	return r.FloatString(scale), nil
}

// countFactor divides n by f as often as it divides evenly and returns how often that was.
func countFactor(n, f *big.Int) int {
	count := 0
	q, m := new(big.Int), new(big.Int)
	for n.Sign() != 0 {
		q.QuoRem(n, f, m)
		if m.Sign() != 0 {
			break
		}
		n.Set(q)
		count++
	}
	return count
}

// IsMultiple reports whether value is an exact multiple of increment: the check a tick size or lot size
// makes (the values of "43050.12" and "0.01": true; "101" and "2.5": false). Zero is a multiple of every
// increment. An increment that is nil or not greater than zero is an *InvalidDecimalError
// (rule cqc.decimal.positive); a nil value is an *InvalidDecimalError too.
func IsMultiple(value, increment *big.Rat) (bool, error) {
	if err := checkOperands(value, increment); err != nil {
		return false, err
	}
	return new(big.Rat).Quo(value, increment).IsInt(), nil
}

// RoundToIncrement returns the multiple of increment (> 0) nearest value in the direction mode says; a value
// that is already a multiple comes back unchanged. value and increment are not modified. A nil value, an
// increment that is nil or not greater than zero (*InvalidDecimalError) or an unknown mode is an error.
func RoundToIncrement(value, increment *big.Rat, mode RoundingMode) (*big.Rat, error) {
	switch mode {
	case RoundDown, RoundUp, RoundFloor, RoundCeil, RoundHalfEven:
	default:
		return nil, fmt.Errorf("unknown rounding mode %q: one of DOWN, UP, FLOOR, CEIL, HALF_EVEN", string(mode))
	}
	if err := checkOperands(value, increment); err != nil {
		return nil, err
	}
	// value / increment = num / den (den > 0); Go's QuoRem truncates toward zero and the remainder has
	// num's sign, so |rem| < den.
	ratio := new(big.Rat).Quo(value, increment)
	num, den := ratio.Num(), ratio.Denom()
	quotient, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() != 0 {
		negative := num.Sign() < 0
		away := big.NewInt(1)
		if negative {
			away.SetInt64(-1)
		}
		var stepAway bool
		switch mode {
		case RoundDown:
			stepAway = false
		case RoundUp:
			stepAway = true
		case RoundFloor:
			stepAway = negative
		case RoundCeil:
			stepAway = !negative
		case RoundHalfEven:
			twice := new(big.Int).Lsh(new(big.Int).Abs(rem), 1)
			cmp := twice.Cmp(den)
			stepAway = cmp > 0 || (cmp == 0 && quotient.Bit(0) == 1) // Bit(0) is the parity, sign or not
		}
		if stepAway {
			quotient.Add(quotient, away)
		}
	}
	return new(big.Rat).Mul(new(big.Rat).SetInt(quotient), increment), nil
}

func checkOperands(value, increment *big.Rat) error {
	if value == nil {
		return &InvalidDecimalError{Input: "<nil>", Reason: "no value", RuleID: "cqc.decimal"}
	}
	if increment == nil {
		return &InvalidDecimalError{Input: "<nil>", Reason: "no increment", RuleID: "cqc.decimal.positive"}
	}
	if increment.Sign() <= 0 {
		return &InvalidDecimalError{Input: increment.RatString(), Reason: "an increment must be greater than zero", RuleID: "cqc.decimal.positive"}
	}
	return nil
}
