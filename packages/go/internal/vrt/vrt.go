// Package vrt is the runtime of the generated Go validators (internal/validate, written by
// tools/cqcvalidate_go.py): exact decimal comparisons and arithmetic, CEL timestamps, CEL errors as panics.
//
// Numbers: CEL's double(s) on a decimal string is an exact rational (math/big) when Exact is true (the
// default), so cross-field comparisons are exact at any length. The differential test sets Exact to false:
// IEEE doubles, as CEL computes them, to agree with protovalidate.
package vrt

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Exact selects exact decimals (true) or CEL's doubles (false, for the differential test only).
var Exact = true

// V is one violation: field path, rule id, message.
type V struct {
	Field   string
	Rule    string
	Message string
}

// EvalError is a CEL evaluation error (the generated code panics with it; Run recovers it).
type EvalError struct{ Reason string }

func (e EvalError) Error() string { return "evaluation error: " + e.Reason }

func fail(format string, args ...any) { panic(EvalError{fmt.Sprintf(format, args...)}) }

// Prefix is the field-path prefix of a message at path p.
func Prefix(p string) string {
	if p == "" {
		return ""
	}
	return p + "."
}

// Key formats a map key as a path subscript.
func Key[K comparable](k K) string {
	switch v := any(k).(type) {
	case string:
		return `["` + v + `"]`
	case bool:
		return "[" + strconv.FormatBool(v) + "]"
	}
	return fmt.Sprintf("[%v]", k)
}

// Is reports whether the oneof value v holds the wrapper type W.
func Is[W any](v any) bool {
	_, ok := v.(W)
	return ok
}

// Index is CEL's list index: an error when out of range.
func Index[T any](list []T, i int64) T {
	if i < 0 || i >= int64(len(list)) {
		fail("index %d out of range", i)
	}
	return list[i]
}

// Unique reports whether every item of list is distinct.
func Unique[T comparable](list []T) bool {
	seen := make(map[T]struct{}, len(list))
	for _, v := range list {
		if _, ok := seen[v]; ok {
			return false
		}
		seen[v] = struct{}{}
	}
	return true
}

// Contains is CEL's `x in list`.
func Contains[T comparable](list []T, x T) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// ListEq is CEL's list equality.
func ListEq[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WidenInt converts a repeated integer or enum field to int64s.
func WidenInt[T ~int32 | ~int64](list []T) []int64 {
	out := make([]int64, len(list))
	for i, v := range list {
		out[i] = int64(v)
	}
	return out
}

// WidenUint converts a repeated unsigned field to uint64s.
func WidenUint[T ~uint32 | ~uint64](list []T) []uint64 {
	out := make([]uint64, len(list))
	for i, v := range list {
		out[i] = uint64(v)
	}
	return out
}

// ICmp compares a signed and an unsigned integer (CEL compares int and uint by value).
func ICmp[A ~int64 | ~uint64, B ~int64 | ~uint64](a A, b B) int { return toBig(a).Cmp(toBig(b)) }

func toBig[T ~int64 | ~uint64](v T) *big.Int {
	if x, ok := any(v).(uint64); ok {
		return new(big.Int).SetUint64(x)
	}
	return big.NewInt(int64(v))
}

// --- timestamps and durations ---

// Time is a Timestamp or Duration value: seconds and nanoseconds.
type Time struct {
	S int64
	N int32
}

type secondsNanos interface {
	GetSeconds() int64
	GetNanos() int32
}

// T reads a Timestamp or Duration (nil reads as zero, as CEL reads an unset field).
func T[M secondsNanos](m M) Time { return Time{S: m.GetSeconds(), N: m.GetNanos()} }

// TCmp compares two times.
func TCmp(a, b Time) int {
	switch {
	case a.S != b.S:
		if a.S < b.S {
			return -1
		}
		return 1
	case a.N != b.N:
		if a.N < b.N {
			return -1
		}
		return 1
	}
	return 0
}

const (
	tsMin = -62135596800
	tsMax = 253402300799
)

// TAdd is timestamp + sign*duration, an error outside CEL's timestamp range.
func TAdd(ts, d Time, sign int64) Time {
	s := ts.S + sign*d.S
	n := int64(ts.N) + sign*int64(d.N)
	for n < 0 {
		n += 1e9
		s--
	}
	for n >= 1e9 {
		n -= 1e9
		s++
	}
	if s < tsMin || s > tsMax {
		fail("timestamp out of range")
	}
	return Time{S: s, N: int32(n)}
}

// --- numbers ---

// Num is a CEL double: an exact rational (Exact) or the exact value of an IEEE double (!Exact).
type Num = *big.Rat

var plain = Decimal{Signed: true, Strict: false} // `^-?[0-9]+(\.[0-9]+)?$`

// Go's strconv.ParseFloat syntax, as CEL's double() accepts it.
func celDouble(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f // CEL gives +-Inf for out-of-range values
		}
		fail("double(%q): %v", s, err)
	}
	return f
}

func fromFloat(f float64) Num {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		fail("non-finite double")
	}
	return new(big.Rat).SetFloat64(f)
}

// D is double(s).
func D(s string) Num {
	if Exact && plain.MatchString(s) {
		r, ok := new(big.Rat).SetString(s)
		if ok {
			return r
		}
	}
	return fromFloat(celDouble(s))
}

// Literal is a double literal of a rule, in both number modes.
type Literal struct{ exact, float Num }

// Lit parses a double literal.
func Lit(text string) *Literal {
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		panic("bad literal " + text)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		panic(err)
	}
	return &Literal{exact: r, float: new(big.Rat).SetFloat64(f)}
}

// V is the literal's value in the current mode.
func (l *Literal) V() Num {
	if Exact {
		return l.exact
	}
	return l.float
}

// NInt is double(n).
func NInt(n int64) Num {
	if Exact {
		return new(big.Rat).SetInt64(n)
	}
	return new(big.Rat).SetFloat64(float64(n))
}

func round(r Num) Num {
	if Exact {
		return r
	}
	f, _ := r.Float64()
	return fromFloat(f)
}

// Add, Sub, Mul and Neg are CEL's double arithmetic (exact, or rounded to a double after each step).
func Add(a, b Num) Num { return round(new(big.Rat).Add(a, b)) }

// Sub is a - b.
func Sub(a, b Num) Num { return round(new(big.Rat).Sub(a, b)) }

// Mul is a * b.
func Mul(a, b Num) Num { return round(new(big.Rat).Mul(a, b)) }

// Neg is -a.
func Neg(a Num) Num { return new(big.Rat).Neg(a) }

// NCmp compares two numbers.
func NCmp(a, b Num) int { return a.Cmp(b) }

// NKey is a number as a map key (equal numbers, equal keys).
func NKey(a Num) string { return a.RatString() }

func fcmp(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	return 2 // NaN: every ordered comparison with 0 is false except !=
}

// DCmp compares double(a) with double(b).
func DCmp(a, b string) int {
	if !Exact {
		return fcmp(celDouble(a), celDouble(b))
	}
	if plain.MatchString(a) && plain.MatchString(b) {
		return CmpDecimalStrings(a, b)
	}
	return D(a).Cmp(D(b))
}

// DCmpInt compares double(a) with an integral literal k.
func DCmpInt(a string, k int64) int {
	if !Exact {
		return fcmp(celDouble(a), float64(k))
	}
	if plain.MatchString(a) {
		return CmpDecimalStrings(a, strconv.FormatInt(k, 10))
	}
	return D(a).Cmp(new(big.Rat).SetInt64(k))
}

// CmpDecimalStrings compares two plain decimals (`-?[0-9]+(\.[0-9]+)?`, any length) exactly, on their digits.
func CmpDecimalStrings(a, b string) int {
	negA, intA, fracA := splitDecimal(a)
	negB, intB, fracB := splitDecimal(b)
	zeroA, zeroB := intA == "" && fracA == "", intB == "" && fracB == ""
	if zeroA && zeroB {
		return 0
	}
	if zeroA {
		negA = !negB
	}
	if zeroB {
		negB = !negA
	}
	if negA != negB {
		if negA {
			return -1
		}
		return 1
	}
	c := cmpMagnitude(intA, fracA, intB, fracB)
	if negA {
		return -c
	}
	return c
}

// splitDecimal: sign, integer digits without leading zeros, fraction digits without trailing zeros.
func splitDecimal(s string) (bool, string, string) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	integer, fraction, _ := strings.Cut(s, ".")
	return neg, strings.TrimLeft(integer, "0"), strings.TrimRight(fraction, "0")
}

func cmpMagnitude(intA, fracA, intB, fracB string) int {
	if len(intA) != len(intB) {
		if len(intA) < len(intB) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(intA, intB); c != 0 {
		return c
	}
	n := len(fracA)
	if len(fracB) > n {
		n = len(fracB)
	}
	for i := 0; i < n; i++ {
		x, y := byte('0'), byte('0')
		if i < len(fracA) {
			x = fracA[i]
		}
		if i < len(fracB) {
			y = fracB[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// --- string.uri ---

// IsURI reports whether s is an absolute RFC 3986 URI (what protovalidate's isUri accepts).
func IsURI(s string) bool {
	return uriRe.MatchString(s) && authorityOK(s)
}

const (
	unreserved = `A-Za-z0-9\-._~`
	subDelims  = `!$&'()*+,;=`
	pct        = `%[0-9A-Fa-f]{2}`
)

var (
	pchar = `(?:[` + unreserved + subDelims + `:@]|` + pct + `)`
	uriRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+\-.]*:(?://[^/?#]*(?:/` + pchar + `*)*|(?:/?` + pchar + `+(?:/` + pchar + `*)*)?|/)` +
		`(?:\?(?:` + pchar + `|[/?])*)?(?:#(?:` + pchar + `|[/?])*)?$`)
	userinfoRe = regexp.MustCompile(`^(?:[` + unreserved + subDelims + `:]|` + pct + `)*$`)
	regNameRe  = regexp.MustCompile(`^(?:[` + unreserved + subDelims + `]|` + pct + `)*$`)
	portRe     = regexp.MustCompile(`^[0-9]*$`)
	ipv4Re     = regexp.MustCompile(`^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$`)
	h16Re      = regexp.MustCompile(`^[0-9A-Fa-f]{1,4}$`)
	futureRe   = regexp.MustCompile(`^[vV][0-9A-Fa-f]+\.[` + unreserved + subDelims + `:]+$`)
	zoneRe     = regexp.MustCompile(`^(?:[` + unreserved + `]|` + pct + `)+$`)
)

func authorityOK(s string) bool {
	i := strings.Index(s, ":")
	rest := s[i+1:]
	if !strings.HasPrefix(rest, "//") {
		return true
	}
	authority := rest[2:]
	if j := strings.IndexAny(authority, "/?#"); j >= 0 {
		authority = authority[:j]
	}
	hostport := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if !userinfoRe.MatchString(authority[:at]) {
			return false
		}
		hostport = authority[at+1:]
	}
	if strings.HasPrefix(hostport, "[") {
		end := strings.Index(hostport, "]")
		if end < 0 {
			return false
		}
		literal, tail := hostport[1:end], hostport[end+1:]
		if !(isIPv6(literal) || futureRe.MatchString(literal)) {
			return false
		}
		return tail == "" || (strings.HasPrefix(tail, ":") && portRe.MatchString(tail[1:]))
	}
	host := hostport
	if c := strings.LastIndex(hostport, ":"); c >= 0 {
		host = hostport[:c]
		if !portRe.MatchString(hostport[c+1:]) {
			return false
		}
	}
	return regNameRe.MatchString(host)
}

func isIPv6(text string) bool {
	if z := strings.Index(text, "%25"); z >= 0 {
		if !zoneRe.MatchString(text[z+3:]) {
			return false
		}
		text = text[:z]
	}
	if strings.Contains(text, ".") {
		return false // protovalidate-go refuses IPv4-embedded IPv6 hosts (e.g. [::ffff:1.2.3.4])
	}
	if strings.Count(text, "::") > 1 {
		return false
	}
	parts := strings.Split(text, ":")
	if len(parts) > 0 && strings.Contains(parts[len(parts)-1], ".") {
		if !ipv4Re.MatchString(parts[len(parts)-1]) {
			return false
		}
		parts = append(parts[:len(parts)-1], "0", "0")
	}
	joined := strings.Join(parts, ":")
	var groups []string
	if strings.Contains(joined, "::") {
		halves := strings.SplitN(joined, "::", 2)
		for _, h := range halves {
			if h == "" {
				continue
			}
			for _, g := range strings.Split(h, ":") {
				if g == "" {
					return false
				}
				groups = append(groups, g)
			}
		}
		if len(groups) > 7 {
			return false
		}
	} else {
		groups = parts
		if len(groups) != 8 {
			return false
		}
	}
	for _, g := range groups {
		if !h16Re.MatchString(g) {
			return false
		}
	}
	return true
}

// Run calls validate and turns a CEL evaluation panic into an error.
func Run(validate func(*[]V), out *[]V) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(EvalError); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	validate(out)
	return nil
}

// --- hand-compiled matchers for the contract's hottest patterns (same language as the RE2 they replace) ---

// Decimal matches `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$` (Strict) or `^-?[0-9]+(\.[0-9]+)?$` (!Strict), the sign
// only when Signed.
type Decimal struct{ Signed, Strict bool }

// MatchString reports whether s is such a decimal.
func (d Decimal) MatchString(s string) bool {
	i := 0
	if d.Signed && i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == start || (d.Strict && s[start] == '0' && i-start > 1) {
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' {
		return false
	}
	i++
	frac := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > frac && i == len(s)
}

// Zero matches `^0(\.0+)?$`, or `^-0(\.0+)?$` when Negative.
type Zero struct{ Negative bool }

// MatchString reports whether s is such a zero.
func (z Zero) MatchString(s string) bool {
	if z.Negative {
		if len(s) == 0 || s[0] != '-' {
			return false
		}
		s = s[1:]
	}
	if len(s) == 0 || s[0] != '0' {
		return false
	}
	if len(s) == 1 {
		return true
	}
	if s[1] != '.' || len(s) == 2 {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// ID matches `^<Prefix>[0-7][0-9A-HJKMNP-TV-Z]{25}$` (Prefix includes the underscore): a ULID, whose first
// character is at most 7 since it spells a 128-bit number.
type ID struct{ Prefix string }

// MatchString reports whether s is such an id.
func (m ID) MatchString(s string) bool {
	if len(s) != len(m.Prefix)+26 || !strings.HasPrefix(s, m.Prefix) || s[len(m.Prefix)] > '7' {
		return false
	}
	for i := len(m.Prefix); i < len(s); i++ {
		c := s[i]
		ok := (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U')
		if !ok {
			return false
		}
	}
	return true
}

// SortedAt evaluates a cqc.types.v1.SortedRule: the index of the first element of list out of order by
// key, or -1. Each key is compared with the one before it as decimals (as DCmp: exact, or CEL's doubles when
// Exact is false); a pair in which either key is not a decimal is not compared (the key's own field rule
// reports it). Equal neighbours are out of order when strict.
func SortedAt[E any](list []E, key func(E) string, descending, strict bool) int {
	prev, have := "", false
	for i, e := range list {
		k := key(e)
		if !strictDecimal.MatchString(k) {
			have = false
			continue
		}
		if have {
			c := cmpDecimalKeys(prev, k)
			if (descending && c < 0) || (!descending && c > 0) || (strict && c == 0) {
				return i
			}
		}
		prev, have = k, true
	}
	return -1
}

var strictDecimal = Decimal{Signed: true, Strict: true}

// cmpDecimalKeys is DCmp for two strings already known to be decimals (strictDecimal implies DCmp's plain
// grammar), without checking their grammar again for every pair.
func cmpDecimalKeys(a, b string) int {
	if !Exact {
		return fcmp(celDouble(a), celDouble(b))
	}
	return CmpDecimalStrings(a, b)
}

// AnyStem reports whether the ASCII-lower-cased text contains one of the stems: a necessary test the generated
// code runs before a costly pattern (the credential rules' alternations of case-insensitive words).
func AnyStem(text string, stems ...string) bool {
	lowered := strings.ToLower(text)
	for _, stem := range stems {
		if strings.Contains(lowered, stem) {
			return true
		}
	}
	return false
}
