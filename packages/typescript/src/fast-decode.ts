/**
 * A faster binary decoder for CQC messages that returns exactly what `@bufbuild/protobuf`'s `fromBinary` returns.
 *
 * `fromBinary` walks compiled closures per field: a `Map` lookup per tag, a `[fieldNo, wireType]` array per tag,
 * a generic `create()` loop per message, an `$unknown` array per message and a method call per varint. For each
 * message type, {@link fastFromBinary} generates one specialised JavaScript function at first use (with
 * `new Function`, like protobufjs's reflection mode): a `switch` on the whole tag, the message created as one
 * object literal (the same properties, in the same order, as `create()` gives), and small shared readers for
 * varints, lengths and strings (short ASCII strings without `TextDecoder`).
 *
 * Exactness: the fast path only accepts input it can decode exactly as `fromBinary` would, and stricter: every
 * known field with its own wire type, unknown fields only as varint, fixed or length-delimited values (kept in
 * `$unknown` as `fromBinary` keeps them), every length inside its enclosing message, every sub-message parsed
 * exactly to its end, nesting at most 64 deep. On anything else — groups, a wire type that does not match the
 * field, truncation, invalid UTF-8, anything `fromBinary` would reject — it gives up and returns
 * `fromBinary(schema, bytes, options)`, so the result (or the error thrown) is `fromBinary`'s own. Message
 * types the generator does not handle (proto2 / editions files, groups, closed enums, wrapper and
 * `google.protobuf.Struct` fields) always go to `fromBinary`; so does every call when the runtime forbids
 * `new Function` (a Content-Security-Policy without `unsafe-eval`). Non-ASCII strings are decoded by the same
 * `TextDecoder` (`getTextEncoding().decodeUtf8`, fatal) that `fromBinary` uses.
 *
 * test/fast-decode.test.ts checks the equality (values, key order, prototypes, errors) on the whole testdata
 * corpus and on seeded mutations of it; test/bench-decode.ts measures the speed (docs/BENCHMARKS.md).
 */
import {
  type BinaryReadOptions,
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  type MessageShape,
  protoInt64,
  ScalarType,
} from "@bufbuild/protobuf";
import { BinaryReader, getTextEncoding } from "@bufbuild/protobuf/wire";

/** The deepest nesting the fast path decodes itself; deeper input goes to `fromBinary` (limit 100). */
const FAST_MAX_DEPTH = 64;

/** Decodes one message from `R.p` to exactly `end` at depth `depth`, into `target` or a new message. */
type MessageDecoder = (end: number, depth: number, target: unknown) => unknown;

/** A message type's decoder; `f` is null while it is generated, or for good when the type is not supported. */
interface Slot {
  f: MessageDecoder | null;
  supported: boolean;
}

const slots = new WeakMap<DescMessage, Slot>();

/** Thrown inside the fast path to leave it; never escapes {@link tryFastDecode}. */
const BAIL: unique symbol = Symbol("cqc.fast-decode.bail");

/**
 * The reader state shared by the generated decoders and the readers below: the input, the position, a
 * DataView of the input (made on first use), the two words of the last 64-bit varint, and whether unknown
 * fields are kept (`readUnknownFields`). Decoding never calls user code, so one state serves every call.
 */
const R = { b: new Uint8Array(0) as Uint8Array, p: 0, dv: undefined as DataView | undefined, lo: 0, hi: 0, keepUnknown: true };

/**
 * Decodes wire-format `bytes` as `schema`, exactly as `fromBinary(schema, bytes, options)` does (same message,
 * same error), 4-8x faster on CQC's hot messages (order books, orders, execution reports, trades, prices; see
 * docs/BENCHMARKS.md). Use it wherever you call `fromBinary` on CQC messages; for untrusted bytes prefer
 * `decodeBinary` from `@crypto-quant/cqc/decode`, which checks the wire structure and uses this decoder.
 */
export function fastFromBinary<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  options?: Partial<BinaryReadOptions>,
): MessageShape<Desc> {
  return tryFastDecode(schema, bytes, options) ?? fromBinary(schema, bytes, options);
}

/**
 * The fast path alone: the message `fromBinary(schema, bytes, options)` would return, or `undefined` when `bytes` lies
 * outside the strict subset the fast path decodes (see the module comment; then call `fromBinary`, or
 * `decodeBinary` for a precise error). Input it accepts is also well-formed for `checkWire` in
 * `@crypto-quant/cqc/decode` (no groups, every length inside its message, varints of at most 10 bytes that
 * fit 64 bits, nesting under 64), which is how `decodeBinary` skips that scan.
 */
export function tryFastDecode<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  options?: Partial<BinaryReadOptions>,
): MessageShape<Desc> | undefined {
  const decode = slotFor(schema).f;
  if (decode === null) return undefined;
  R.b = bytes;
  R.p = 0;
  R.dv = undefined;
  R.keepUnknown = options?.readUnknownFields ?? true;
  try {
    return decode(bytes.length, 1, undefined) as MessageShape<Desc>;
  } catch {
    // BAIL, or an error (invalid UTF-8) that fromBinary reports in its own words.
    return undefined;
  } finally {
    R.b = EMPTY;
    R.dv = undefined;
  }
}

/**
 * True when {@link fastFromBinary} has a generated decoder for `schema` (false: every call goes straight to
 * `fromBinary`, e.g. under a Content-Security-Policy that forbids `new Function`). Generates it on first use.
 */
export function hasFastDecoder(schema: DescMessage): boolean {
  return slotFor(schema).f !== null;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** The fields of @bufbuild/protobuf's BinaryReader that {@link enableFastDecode}'s string reader uses. */
interface ReaderInternals {
  buf: Uint8Array;
  pos: number;
  len: number;
  uint32(): number;
}

let originalString: ((this: BinaryReader, strict?: boolean) => string) | undefined;

/**
 * Makes `fromBinary` faster everywhere in the process, including the decoding that Connect transports and
 * servers do (they call `fromBinary` and have no hook for another decoder): replaces
 * `BinaryReader.prototype.string` of the `@bufbuild/protobuf` copy this package uses (npm dedupes it with
 * Connect's) with a reader that builds ASCII strings of 1–32 bytes with one `String.fromCharCode` call instead
 * of an array per string; every other string (and every error) goes to the original method. Worth about 10 % on
 * CQC messages (up to 20 % on books), whose decimals and ids are short ASCII strings (docs/BENCHMARKS.md). It is a patch of a shared
 * class, so it is opt-in: `createValidationInterceptor()` of `@crypto-quant/cqc/kit` calls it unless
 * `fastDecode: false`. It checks itself on sample input first and changes nothing (returns false) when the
 * installed `@bufbuild/protobuf` does not read strings the way it expects, or `new Function` is forbidden.
 * Idempotent; {@link disableFastDecode} restores the original.
 */
export function enableFastDecode(): boolean {
  if (originalString !== undefined) return true;
  const proto = BinaryReader.prototype as unknown as { string: (this: BinaryReader, strict?: boolean) => string };
  const original = proto.string;
  try {
    ascii ??= new Function("b", "s", "n", asciiSource()) as (b: Uint8Array, s: number, n: number) => string | undefined;
  } catch {
    return false;
  }
  const fast = function string(this: BinaryReader, strict?: boolean): string {
    const reader = this as unknown as ReaderInternals;
    const start = reader.pos;
    const n = reader.uint32();
    const s = reader.pos;
    if (n > 0 && n <= 32 && s + n <= reader.len) {
      const text = ascii!(reader.buf, s, n);
      if (text !== undefined) {
        reader.pos = s + n;
        return text;
      }
    }
    reader.pos = start;
    return original.call(this, strict);
  };
  if (!readsLike(fast, original)) return false;
  originalString = original;
  proto.string = fast;
  return true;
}

/** Undoes {@link enableFastDecode} (for tests and benchmarks). */
export function disableFastDecode(): void {
  if (originalString === undefined) return;
  (BinaryReader.prototype as unknown as { string: typeof originalString }).string = originalString;
  originalString = undefined;
}

/** True when `fast` reads sample strings (ASCII, non-ASCII, invalid, truncated) exactly as `original` does. */
function readsLike(
  fast: (this: BinaryReader, strict?: boolean) => string,
  original: (this: BinaryReader, strict?: boolean) => string,
): boolean {
  const samples = [[0], [3, 0x31, 0x2e, 0x35], [2, 0xc3, 0xa9], [2, 0xff, 0x31], [5, 0x31], [0x80], [1, 0x7f, 9], [32, ...new Array<number>(32).fill(0x37)]];
  const read = (fn: typeof fast, bytes: number[], strict: boolean): string => {
    const reader = new BinaryReader(new Uint8Array(bytes));
    try {
      return `${JSON.stringify(fn.call(reader, strict))}@${reader.pos}`;
    } catch (error) {
      return `${(error as Error).constructor.name}: ${(error as Error).message}`;
    }
  };
  return samples.every((bytes) => [true, false].every((strict) => read(fast, bytes, strict) === read(original, bytes, strict)));
}

function bail(): never {
  throw BAIL;
}

// The readers. Each reads at R.p inside the current message, which ends at `e`, and leaves the fast path
// (bail) on anything fromBinary might read differently. Past the end of the input, R.b[i] is undefined: every
// comparison with it is false, and the end checks catch the overrun.

function u32(e: number): number {
  const b = R.b;
  let p = R.p;
  let x = b[p++]!;
  if (x < 0x80) {
    R.p = p;
    return x;
  }
  let r = x & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    x = b[p++]!;
    r |= (x & 0x7f) << shift;
    if (x < 0x80) {
      if (p > e) bail();
      R.p = p;
      return r;
    }
  }
  x = b[p++]!;
  r |= (x & 0x0f) << 28;
  let n = 5;
  while ((x & 0x80) !== 0 && n < 10) {
    x = b[p++]!;
    n++;
  }
  if ((x & 0x80) !== 0 || p > e || (n === 10 && x > 1)) bail();
  R.p = p;
  return r >>> 0;
}

function len(e: number): number {
  const n = u32(e);
  if (n > e - R.p) bail();
  return n;
}

/** A 64-bit varint into R.lo / R.hi. */
function v64(e: number): void {
  const b = R.b;
  let p = R.p;
  let x: number;
  let lo = 0;
  let hi = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    x = b[p++]!;
    lo |= (x & 0x7f) << shift;
    if ((x & 0x80) === 0) return v64done(p, e, lo, hi);
  }
  x = b[p++]!;
  lo |= (x & 0x0f) << 28;
  hi = (x & 0x70) >> 4;
  if ((x & 0x80) === 0) return v64done(p, e, lo, hi);
  for (let shift = 3; shift <= 31; shift += 7) {
    x = b[p++]!;
    hi |= (x & 0x7f) << shift;
    if ((x & 0x80) === 0) {
      if (shift === 31 && x > 1) bail();
      return v64done(p, e, lo, hi);
    }
  }
  bail();
}

function v64done(p: number, e: number, lo: number, hi: number): void {
  if (p > e) bail();
  R.p = p;
  R.lo = lo;
  R.hi = hi;
}

function bool(e: number): boolean {
  const x = R.b[R.p]!;
  if (x < 0x80) {
    R.p++;
    return x !== 0;
  }
  v64(e);
  return R.lo !== 0 || R.hi !== 0;
}

/** Small non-negative varints as BigInt directly: the value protoInt64.dec gives, when it gives bigints. */
const SMALL_BIGINT = protoInt64.supported;

function i64(e: number, unsigned: boolean): bigint | string {
  const x = R.b[R.p]!;
  if (x < 0x80 && SMALL_BIGINT) {
    R.p++;
    return BigInt(x);
  }
  v64(e);
  return unsigned ? protoInt64.uDec(R.lo, R.hi) : protoInt64.dec(R.lo, R.hi);
}

function s64(e: number): bigint | string {
  v64(e);
  const lo = R.lo;
  const hi = R.hi;
  const s = -(lo & 1);
  return protoInt64.dec(((lo >>> 1) | ((hi & 1) << 31)) ^ s, (hi >>> 1) ^ s);
}

function zz32(z: number): number {
  return (z >>> 1) ^ -(z & 1);
}

function view(): DataView {
  return R.dv ?? (R.dv = new DataView(R.b.buffer, R.b.byteOffset, R.b.byteLength));
}

/** fixed32 (kind 0), sfixed32 (1) or float (2). */
function fx32(e: number, kind: number): number {
  if (e - R.p < 4) bail();
  const p = R.p;
  R.p = p + 4;
  const v = view();
  return kind === 0 ? v.getUint32(p, true) : kind === 1 ? v.getInt32(p, true) : v.getFloat32(p, true);
}

function f64(e: number): number {
  if (e - R.p < 8) bail();
  const p = R.p;
  R.p = p + 8;
  return view().getFloat64(p, true);
}

function fx64(e: number, unsigned: boolean): bigint | string {
  if (e - R.p < 8) bail();
  const v = view();
  const p = R.p;
  R.p = p + 8;
  const lo = v.getInt32(p, true);
  const hi = v.getInt32(p + 4, true);
  return unsigned ? protoInt64.uDec(lo, hi) : protoInt64.dec(lo, hi);
}

function bytes(e: number): Uint8Array {
  const n = len(e);
  const s = R.p;
  R.p = s + n;
  return R.b.subarray(s, s + n);
}

/** ASCII strings of 1..32 bytes with one String.fromCharCode call (generated with the first decoder). */
let ascii: ((b: Uint8Array, s: number, n: number) => string | undefined) | undefined;

function str(e: number, strict: boolean): string {
  const n = len(e);
  const b = R.b;
  const s = R.p;
  const end = s + n;
  R.p = end;
  if (n <= 32) {
    if (n === 0) return "";
    const text = ascii!(b, s, n);
    if (text !== undefined) return text;
  } else if (n <= 128) {
    let out = "";
    let i = s;
    for (; i + 7 < end; i += 8) {
      const c0 = b[i]!, c1 = b[i + 1]!, c2 = b[i + 2]!, c3 = b[i + 3]!, c4 = b[i + 4]!, c5 = b[i + 5]!, c6 = b[i + 6]!, c7 = b[i + 7]!;
      if ((c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) >= 0x80) return utf8(s, end, strict);
      out += String.fromCharCode(c0, c1, c2, c3, c4, c5, c6, c7);
    }
    for (; i < end; i++) {
      const c = b[i]!;
      if (c >= 0x80) return utf8(s, end, strict);
      out += String.fromCharCode(c);
    }
    return out;
  }
  return utf8(s, end, strict);
}

/** Non-ASCII or long strings: the TextDecoder fromBinary uses (invalid UTF-8 throws, and fromBinary reports it). */
function utf8(start: number, end: number, strict: boolean): string {
  return getTextEncoding().decodeUtf8(R.b.subarray(start, end), strict);
}

function asciiSource(): string {
  const cases = Array.from({ length: 32 }, (_, i) => {
    const n = i + 1;
    const vars = Array.from({ length: n }, (_, j) => `c${j}`);
    const reads = vars.map((v, j) => `${v} = b[s + ${j}]`).join(", ");
    return `    case ${n}: { const ${reads}; return (${vars.join(" | ")}) < 0x80 ? String.fromCharCode(${vars.join(", ")}) : undefined; }`;
  });
  return `switch (n) {\n${cases.join("\n")}\n  }\n  return undefined;`;
}

/**
 * Skips the value of an unknown field (tag already read) and returns its `$unknown` entry, as fromBinary's
 * `reader.skip` records it: the bytes after the tag (a length prefix included). Groups leave the fast path.
 */
function unknown(e: number, tag: number): { no: number; wireType: number; data: Uint8Array } {
  const start = R.p;
  const wireType = tag & 7;
  switch (wireType) {
    case 0:
      v64(e);
      break;
    case 1:
      if (e - R.p < 8) bail();
      R.p += 8;
      break;
    case 2: {
      const n = len(e); // before reading R.p: len moves it past the length prefix
      R.p += n;
      break;
    }
    case 5:
      if (e - R.p < 4) bail();
      R.p += 4;
      break;
    default:
      bail();
  }
  return { no: tag >>> 3, wireType, data: R.b.subarray(start, R.p) };
}

const READERS = { R, bail, u32, len, bool, i64, s64, zz32, fx32, f64, fx64, bytes, str, unknown };

function slotFor(desc: DescMessage): Slot {
  let slot = slots.get(desc);
  if (slot === undefined) {
    slot = { f: null, supported: true };
    slots.set(desc, slot);
    try {
      ascii ??= new Function("b", "s", "n", asciiSource()) as (b: Uint8Array, s: number, n: number) => string | undefined;
      slot.f = generate(desc);
    } catch {
      // unsupported shape, or no `new Function` here: fromBinary decodes this type
      slot.supported = false;
      slot.f = null;
    }
  }
  return slot;
}

class Unsupported extends Error {}

// google.protobuf.Edition.EDITION_PROTO3
const EDITION_PROTO3 = 999;

const WIRE = { varint: 0, bit64: 1, ld: 2, bit32: 5 } as const;

function wireTypeOf(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE.bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE.bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE.ld;
    default:
      return WIRE.varint;
  }
}

/** An expression reading one scalar of `scalar` at `p` (inside the current message, which ends at `e`). */
function readScalar(scalar: ScalarType, longAsString: boolean, utf8Validation: boolean): string {
  const long = (expr: string): string => (longAsString ? `String(${expr})` : expr);
  switch (scalar) {
    case ScalarType.STRING:
      return `str(e, ${utf8Validation ? "true" : "false"})`;
    case ScalarType.BYTES:
      return "bytes(e)";
    case ScalarType.BOOL:
      return "bool(e)";
    case ScalarType.INT32:
      return "(u32(e) | 0)";
    case ScalarType.UINT32:
      return "u32(e)";
    case ScalarType.SINT32:
      return "zz32(u32(e))";
    case ScalarType.INT64:
      return long("i64(e, false)");
    case ScalarType.UINT64:
      return long("i64(e, true)");
    case ScalarType.SINT64:
      return long("s64(e)");
    case ScalarType.FIXED32:
      return "fx32(e, 0)";
    case ScalarType.SFIXED32:
      return "fx32(e, 1)";
    case ScalarType.FLOAT:
      return "fx32(e, 2)";
    case ScalarType.DOUBLE:
      return "f64(e)";
    case ScalarType.FIXED64:
      return long("fx64(e, true)");
    case ScalarType.SFIXED64:
      return long("fx64(e, false)");
  }
}

/** JavaScript source of a literal for the initial value of a property of a freshly created message. */
function literal(value: unknown, typeName: string, name: string): string {
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array && value.length === 0) return "new Uint8Array(0)";
  if (Array.isArray(value) && value.length === 0) return "[]";
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    if (keys.length === 1 && keys[0] === "case" && (value as { case: unknown }).case === undefined) return "{ case: undefined }";
  }
  throw new Unsupported(`${typeName}.${name}: initial value ${String(value)}`);
}

function isWrapper(desc: DescMessage): boolean {
  return desc.file.name === "google/protobuf/wrappers";
}

/** Generates the decoder of one message type; its sub-message types get their own (shared) decoders. */
function generate(desc: DescMessage): MessageDecoder {
  if (desc.file.edition !== EDITION_PROTO3) throw new Unsupported(`${desc.typeName}: not proto3`);
  if (desc.typeName === "google.protobuf.Struct" || desc.typeName === "google.protobuf.Value") {
    throw new Unsupported(desc.typeName);
  }
  const children: Slot[] = [];
  const childOf = (child: DescMessage): string => {
    const slot = slotFor(child); // a cycle finds this type's slot, filled in below
    if (!slot.supported) throw new Unsupported(`${desc.typeName}: contains ${child.typeName}`);
    let i = children.indexOf(slot);
    if (i < 0) i = children.push(slot) - 1;
    return `C[${i}].f`;
  };
  const template = create(desc) as unknown as Record<string, unknown>;
  if (Object.getPrototypeOf(template) !== Object.prototype) throw new Unsupported(`${desc.typeName}: prototype`);
  const props: string[] = [];
  for (const key of Object.keys(template)) {
    if (key === "__proto__") throw new Unsupported(`${desc.typeName}: a property named __proto__`); // literal would set the prototype
    if (key === "$typeName") props.push(`$typeName: ${JSON.stringify(desc.typeName)}`);
    else props.push(`${JSON.stringify(key)}: ${literal(template[key], desc.typeName, key)}`);
  }
  const cases: string[] = [];
  for (const field of desc.fields) cases.push(...fieldCases(field, childOf));
  const known = desc.fields.map((f) => f.number);
  const body = `"use strict";
const { R, bail, u32, len, bool, i64, s64, zz32, fx32, f64, fx64, bytes, str, unknown } = H;
return function decode(e, d, t) {
  if (d > ${FAST_MAX_DEPTH}) bail();
  const b = R.b;
  const m = t !== undefined ? t : { ${props.join(", ")} };
  let u;
  while (R.p < e) {
    let p = R.p;
    let tag = b[p++];
    if (tag >= 0x80) {
      let x = b[p++]; tag = (tag & 0x7f) | ((x & 0x7f) << 7);
      if (x >= 0x80) { x = b[p++]; tag |= (x & 0x7f) << 14;
        if (x >= 0x80) { x = b[p++]; tag |= (x & 0x7f) << 21;
          if (x >= 0x80) { x = b[p++]; if (x > 0x0f) bail(); tag = (tag | (x << 28)) >>> 0; } } }
      if (p > e) bail();
    }
    R.p = p;
    switch (tag) {
${cases.join("\n")}
      default: {
        // Not a known field: fromBinary reads a known field number with another wire type as that field.
        ${known.length > 0 ? `switch (tag >>> 3) { ${known.map((no) => `case ${no}:`).join(" ")} bail(); }` : ""}
        if (tag < 8) bail();
        const entry = unknown(e, tag);
        if (R.keepUnknown) (u === undefined ? (u = m.$unknown !== undefined ? m.$unknown : []) : u).push(entry);
      }
    }
  }
  if (R.p !== e) bail();
  if (u !== undefined) m.$unknown = u;
  return m;
};`;
  const factory = new Function("H", "C", "I64", body) as (h: typeof READERS, c: Slot[], i64: typeof protoInt64) => MessageDecoder;
  return factory(READERS, children, protoInt64);
}

function tagOf(no: number, wireType: number): number {
  return no * 8 + wireType;
}

function prop(name: string): string {
  return `m[${JSON.stringify(name)}]`;
}

/** `case` clauses of the tag switch for `field`. */
function fieldCases(field: DescField, childOf: (desc: DescMessage) => string): string[] {
  const name = field.localName;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      if (field.fieldKind === "enum" && !field.enum.open) throw new Unsupported(`${field.toString()}: closed enum`);
      const read =
        field.fieldKind === "enum" ? "(u32(e) | 0)" : readScalar(field.scalar, field.longAsString, field.utf8Validation);
      const wire = field.fieldKind === "enum" ? WIRE.varint : wireTypeOf(field.scalar);
      const assign =
        field.oneof !== undefined
          ? `${prop(field.oneof.localName)} = { case: ${JSON.stringify(name)}, value: ${read} };`
          : `${prop(name)} = ${read};`;
      return [`      case ${tagOf(field.number, wire)}: ${assign} break;`];
    }
    case "message": {
      if (field.delimitedEncoding) throw new Unsupported(`${field.toString()}: group`);
      if (isWrapper(field.message) && field.oneof === undefined) throw new Unsupported(`${field.toString()}: wrapper`);
      const child = childOf(field.message);
      if (field.oneof !== undefined) {
        const o = prop(field.oneof.localName);
        const c = JSON.stringify(name);
        return [
          `      case ${tagOf(field.number, WIRE.ld)}: { const n = len(e), o = ${o}; ${o} = { case: ${c}, value: ${child}(R.p + n, d + 1, o.case === ${c} ? o.value : undefined) }; break; }`,
        ];
      }
      return [`      case ${tagOf(field.number, WIRE.ld)}: { const n = len(e); ${prop(name)} = ${child}(R.p + n, d + 1, ${prop(name)}); break; }`];
    }
    case "list": {
      if (field.listKind === "message") {
        if (field.delimitedEncoding) throw new Unsupported(`${field.toString()}: group`);
        const child = childOf(field.message);
        return [`      case ${tagOf(field.number, WIRE.ld)}: { const n = len(e); ${prop(name)}.push(${child}(R.p + n, d + 1, undefined)); break; }`];
      }
      if (field.listKind === "enum" && !field.enum.open) throw new Unsupported(`${field.toString()}: closed enum`);
      const scalar = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const longAsString = field.listKind === "scalar" ? field.longAsString : false;
      // The element reader runs with `e` = the end of the packed run (the names match the message's `e`).
      const read = readScalar(scalar, longAsString, field.utf8Validation);
      const wire = wireTypeOf(scalar);
      const out = [`      case ${tagOf(field.number, wire)}: ${prop(name)}.push(${read}); break;`];
      if (wire !== WIRE.ld) {
        out.push(
          `      case ${tagOf(field.number, WIRE.ld)}: { const n = len(e), l = ${prop(name)}; { const e = R.p + n; while (R.p < e) l.push(${read}); if (R.p !== e) bail(); } break; }`,
        );
      }
      return out;
    }
    case "map": {
      const keyWire = wireTypeOf(field.mapKey);
      const readKey = readScalar(field.mapKey, false, field.utf8Validation);
      const keyZero = scalarZero(field.mapKey);
      let valueWire: number;
      let readValue: string;
      let valueDefault: string;
      switch (field.mapKind) {
        case "scalar":
          valueWire = wireTypeOf(field.scalar);
          readValue = readScalar(field.scalar, false, field.utf8Validation);
          valueDefault = field.scalar === ScalarType.BYTES ? "new Uint8Array(0)" : scalarZero(field.scalar);
          break;
        case "enum":
          if (!field.enum.open) throw new Unsupported(`${field.toString()}: closed enum`);
          valueWire = WIRE.varint;
          readValue = "(u32(e) | 0)";
          valueDefault = String(field.enum.values[0]?.number ?? 0);
          break;
        case "message": {
          if (isWrapper(field.message) || field.message.typeName === "google.protobuf.Struct") {
            // map values use the message itself (no unwrapping), but keep the generator simple
            throw new Unsupported(`${field.toString()}: well-known map value`);
          }
          const child = childOf(field.message);
          valueWire = WIRE.ld;
          readValue = `(n2 = len(e), ${child}(R.p + n2, d + 1, v))`;
          valueDefault = `${child}(R.p, d + 1, undefined)`; // an empty message: the loop body never runs
          break;
        }
      }
      return [
        `      case ${tagOf(field.number, WIRE.ld)}: {
        const n = len(e), r = ${prop(name)};
        let k, v, n2;
        { const e = R.p + n;
          while (R.p < e) {
            const g = b[R.p++];
            if (g === ${tagOf(1, keyWire)}) k = ${readKey};
            else if (g === ${tagOf(2, valueWire)}) v = ${readValue};
            else bail();
          }
          if (R.p !== e) bail();
        }
        if (k === undefined) k = ${keyZero};
        if (v === undefined) v = ${valueDefault};
        if (k === "__proto__") bail();
        r[k] = v;
        break;
      }`,
      ];
    }
  }
}

function scalarZero(scalar: ScalarType): string {
  switch (scalar) {
    case ScalarType.STRING:
      return '""';
    case ScalarType.BOOL:
      return "false";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return "I64.zero";
    default:
      return "0";
  }
}
