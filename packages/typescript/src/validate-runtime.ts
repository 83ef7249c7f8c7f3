/**
 * Runtime of the generated validators (src/validate/validators.ts, written by tools/cqcvalidate_ts.py): exact
 * decimals on BigInt, CEL timestamps as BigInt nanoseconds, CEL evaluation errors thrown as EvalError.
 *
 * Numbers: CEL's double(s) on a decimal string is an exact decimal when exact mode is on (the default), so
 * cross-field comparisons are exact at any length. The differential test turns it off (setExact(false)): IEEE
 * doubles, as CEL computes them, to agree with protovalidate.
 */

let exact = true;

/** Exact decimals (true, the default) or CEL's doubles (false: the differential test only). */
export function setExact(value: boolean): void {
  exact = value;
}

/** One violation: field path, rule id, message. */
export interface V {
  field: string;
  rule: string;
  message: string;
}

/** A CEL evaluation error. */
export class EvalError extends Error {
  override readonly name = "EvalError";
}

export function index<T>(list: readonly T[], i: bigint | number): T {
  const n = Number(i);
  if (n < 0 || n >= list.length) throw new EvalError(`index ${n} out of range`);
  return list[n] as T;
}

export function unique(list: readonly unknown[]): boolean {
  return new Set(list).size === list.length;
}

export function contains(list: readonly unknown[], x: unknown): boolean {
  // CEL compares numbers by value across int types: 1 == 1n
  return list.some((v) => v == x); // eslint-disable-line eqeqeq
}

export function listEq(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

export function key(k: string): string {
  return `["${k}"]`;
}

// --- timestamps and durations (BigInt nanoseconds) ---

export function T(m: { seconds: bigint; nanos: number } | undefined): bigint {
  if (m === undefined) return 0n;
  return BigInt(m.seconds) * 1_000_000_000n + BigInt(m.nanos);
}

const TS_MIN = -62_135_596_800n * 1_000_000_000n;
const TS_MAX = 253_402_300_799n * 1_000_000_000n + 999_999_999n;

export function tsRange(ns: bigint): bigint {
  if (ns < TS_MIN || ns > TS_MAX) throw new EvalError("timestamp out of range");
  return ns;
}

// --- numbers ---

/** An exact decimal: n / 10^s. */
export class Dec {
  constructor(
    readonly n: bigint,
    readonly s: number,
  ) {}
}

export type Num = Dec | number;

const PLAIN = /^-?[0-9]+(\.[0-9]+)?$/;
const FLOAT = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$/;

function parseDec(text: string): Dec {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  if (m === null) throw new EvalError(`not a decimal: ${text}`);
  const frac = m[3] ?? "";
  let n = BigInt((m[2] || "0") + frac);
  if (m[1] === "-") n = -n;
  let s = frac.length - Number(m[4] ?? "0");
  if (s < 0) {
    n *= 10n ** BigInt(-s);
    s = 0;
  }
  return new Dec(n, s);
}

function celDouble(s: string): number {
  if (!FLOAT.test(s)) throw new EvalError(`double(${JSON.stringify(s)}): not a number`);
  const lower = s.toLowerCase().replace(/^\+/, "");
  if (lower === "inf" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (lower.endsWith("nan")) return NaN;
  return Number(s);
}

export function D(s: string): Num {
  if (exact) {
    if (PLAIN.test(s)) return parseDec(s);
    const f = celDouble(s);
    if (!Number.isFinite(f)) throw new EvalError("non-finite double");
    return parseDec(s);
  }
  return celDouble(s);
}

export function DI(n: bigint | number): Num {
  return exact ? new Dec(BigInt(n), 0) : Number(n);
}

class Literal {
  constructor(
    readonly exactValue: Dec,
    readonly floatValue: number,
  ) {}
  v(): Num {
    return exact ? this.exactValue : this.floatValue;
  }
}

export function lit(text: string): Literal {
  return new Literal(parseDec(text), Number(text));
}

function align(a: Dec, b: Dec): [bigint, bigint, number] {
  if (a.s === b.s) return [a.n, b.n, a.s];
  if (a.s < b.s) return [a.n * 10n ** BigInt(b.s - a.s), b.n, b.s];
  return [a.n, b.n * 10n ** BigInt(a.s - b.s), a.s];
}

function fcmp(x: number, y: number): number {
  return x < y ? -1 : x > y ? 1 : x === y ? 0 : Number.NaN;
}

export function ncmp(a: Num, b: Num): number {
  if (typeof a === "number" || typeof b === "number") return fcmp(Number(a), Number(b));
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function add(a: Num, b: Num): Num {
  if (typeof a === "number" || typeof b === "number") return Number(a) + Number(b);
  const [x, y, s] = align(a, b);
  return new Dec(x + y, s);
}

export function sub(a: Num, b: Num): Num {
  if (typeof a === "number" || typeof b === "number") return Number(a) - Number(b);
  const [x, y, s] = align(a, b);
  return new Dec(x - y, s);
}

export function mul(a: Num, b: Num): Num {
  if (typeof a === "number" || typeof b === "number") return Number(a) * Number(b);
  return new Dec(a.n * b.n, a.s + b.s);
}

export function neg(a: Num): Num {
  return typeof a === "number" ? -a : new Dec(-a.n, a.s);
}

export function nkey(a: Num): string {
  if (typeof a === "number") return String(a);
  let { n, s } = a;
  while (s > 0 && n % 10n === 0n) {
    n /= 10n;
    s--;
  }
  return `${n}e-${s}`;
}

function short(s: string): number | undefined {
  return s.length <= 16 && PLAIN.test(s) ? Number(s) : undefined;
}

/** Compares double(a) with double(b): -1, 0, 1 (NaN when unordered). */
export function dcmp(a: string, b: string): number {
  if (!exact) return fcmp(celDouble(a), celDouble(b));
  const x = short(a);
  const y = short(b);
  if (x !== undefined && y !== undefined) return fcmp(x, y);
  return ncmp(D(a), D(b));
}

const DECIMAL_KEY = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/** DECIMAL_KEY.test(s), by hand for the short keys of books (prices): cheaper than the regex per level. */
export function isDecimalKey(s: string): boolean {
  const n = s.length;
  if (n > 32) return DECIMAL_KEY.test(s);
  let i = s.charCodeAt(0) === 45 ? 1 : 0; // "-"
  if (i >= n) return false;
  const first = s.charCodeAt(i);
  if (first === 48) i++; // "0": no more integer digits
  else if (first > 48 && first <= 57) while (++i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57);
  else return false;
  if (i === n) return true;
  if (s.charCodeAt(i) !== 46 || ++i === n) return false; // "." and at least one digit
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Evaluates a cqc.types.v1.SortedRule: the index of the first element of list out of order by key, or -1. Each
 * key is compared with the one before it as decimals (dcmp: exact, or CEL's doubles when not exact); a pair in
 * which either key is not a decimal is not compared (the key's own field rule reports it). Equal neighbours
 * are out of order when strict.
 */
export function sortedAt<E>(list: readonly E[], key: (e: E) => string, descending: boolean, strict: boolean): number {
  let prev: string | undefined;
  let prevNum: number | undefined; // prev as a double when it has at most 16 characters (compares exactly)
  for (let i = 0; i < list.length; i++) {
    const k = key(list[i]!);
    if (!isDecimalKey(k)) {
      prev = undefined;
      continue;
    }
    const num = k.length <= 16 ? +k : undefined;
    if (prev !== undefined) {
      const c = prevNum !== undefined && num !== undefined ? fcmp(prevNum, num) : dcmp(prev, k);
      if ((descending ? c < 0 : c > 0) || (strict && c === 0)) return i;
    }
    prev = k;
    prevNum = num;
  }
  return -1;
}

/** Compares double(a) with the integral literal k. */
export function dcmpInt(a: string, k: number): number {
  if (!exact) return fcmp(celDouble(a), k);
  const x = short(a);
  if (x !== undefined) return fcmp(x, k);
  return ncmp(D(a), new Dec(BigInt(k), 0));
}

// --- string.uri (RFC 3986 absolute URI, as @bufbuild/protovalidate's isUri) ---

const UNRESERVED = "A-Za-z0-9\\-._~";
const SUB_DELIMS = "!$&'()*+,;=";
const PCT = "%[0-9A-Fa-f]{2}";
const PCHAR = `(?:[${UNRESERVED}${SUB_DELIMS}:@]|${PCT})`;
const URI = new RegExp(
  `^[A-Za-z][A-Za-z0-9+\\-.]*:(?://[^/?#]*(?:/${PCHAR}*)*|(?:/?${PCHAR}+(?:/${PCHAR}*)*)?|/)` +
    `(?:\\?(?:${PCHAR}|[/?])*)?(?:#(?:${PCHAR}|[/?])*)?$`,
);
const USERINFO = new RegExp(`^(?:[${UNRESERVED}${SUB_DELIMS}:]|${PCT})*$`);
const REG_NAME = new RegExp(`^(?:[${UNRESERVED}${SUB_DELIMS}]|${PCT})*$`);
const FUTURE = new RegExp(`^[vV][0-9A-Fa-f]+\\.[${UNRESERVED}${SUB_DELIMS}:]+$`);
const ZONE = new RegExp(`^(?:[${UNRESERVED}]|${PCT})+$`);

function isIPv6(text: string): boolean {
  const z = text.indexOf("%25");
  if (z >= 0) {
    if (!ZONE.test(text.slice(z + 3))) return false;
    text = text.slice(0, z);
  }
  if (text.includes(".")) return false; // protovalidate-es refuses IPv4-embedded IPv6 hosts
  if (text.split("::").length > 2) return false;
  let groups: string[];
  if (text.includes("::")) {
    groups = [];
    for (const half of text.split("::")) {
      if (half === "") continue;
      for (const g of half.split(":")) {
        if (g === "") return false;
        groups.push(g);
      }
    }
    if (groups.length > 7) return false;
  } else {
    groups = text.split(":");
    if (groups.length !== 8) return false;
  }
  return groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g));
}

export function isUri(s: string): boolean {
  if (!URI.test(s)) return false;
  const rest = s.slice(s.indexOf(":") + 1);
  if (!rest.startsWith("//")) return true;
  let authority = rest.slice(2);
  const end = authority.search(/[/?#]/);
  if (end >= 0) authority = authority.slice(0, end);
  let hostport = authority;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    if (!USERINFO.test(authority.slice(0, at))) return false;
    hostport = authority.slice(at + 1);
  }
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) return false;
    const literal = hostport.slice(1, close);
    const tail = hostport.slice(close + 1);
    if (!(isIPv6(literal) || FUTURE.test(literal))) return false;
    return tail === "" || /^:[0-9]*$/.test(tail);
  }
  let host = hostport;
  const colon = hostport.lastIndexOf(":");
  if (colon >= 0) {
    host = hostport.slice(0, colon);
    if (!/^[0-9]*$/.test(hostport.slice(colon + 1))) return false;
  }
  return REG_NAME.test(host);
}
