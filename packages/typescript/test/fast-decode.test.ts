// fastFromBinary (src/fast-decode.ts) must decode exactly what @bufbuild/protobuf's fromBinary decodes: the same
// message (values, key order, prototypes) or the same error, on the whole testdata corpus, on seeded mutations
// of it, on targeted invalid input and on a synthetic message with every scalar type, packed and unpacked lists,
// maps and oneofs. decodeBinary (which now tries the fast path first) must keep its verdicts and errors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  create,
  createFileRegistry,
  type DescMessage,
  fromBinary,
  type Message,
  protoInt64,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { checkWire, DecodeError, decodeBinary, decodeJson } from "../src/decode.js";
import { disableFastDecode, enableFastDecode, fastFromBinary, hasFastDecoder, tryFastDecode } from "../src/fast-decode.js";
import { createValidationInterceptor } from "../src/kit/interceptor.js";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { messageSchema, registry } from "../src/registry.js";
import { cases } from "./corpus.js";
import type { JsonValue } from "@bufbuild/protobuf";

/** Outcome of a decode: the value, or the error's constructor name and message. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

function outcome(decode: () => unknown): Outcome {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    return { ok: false, error: `${(error as Error).constructor.name}: ${(error as Error).message}` };
  }
}

/** Same keys in the same order, recursively (deepStrictEqual ignores key order). */
function keyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keyOrder);
  if (value instanceof Uint8Array || typeof value !== "object" || value === null) return null;
  return Object.entries(value).map(([k, v]) => [k, keyOrder(v)]);
}

function assertSameOutcome(actual: Outcome, expected: Outcome, what: string): void {
  assert.equal(actual.ok, expected.ok, `${what}: ${JSON.stringify(actual.ok ? "decoded" : actual.error)} vs ${JSON.stringify(expected.ok ? "decoded" : expected.error)}`);
  if (actual.ok && expected.ok) {
    assert.deepStrictEqual(actual.value, expected.value, what);
    assert.deepStrictEqual(keyOrder(actual.value), keyOrder(expected.value), `${what}: key order`);
  } else if (!actual.ok && !expected.ok) {
    assert.equal(actual.error, expected.error, what);
  }
}

/** decodeBinary as it was before the fast path: checkWire, then fromBinary. */
function referenceDecodeBinary(schema: DescMessage, bytes: Uint8Array): Message {
  checkWire(schema, bytes);
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    throw new DecodeError(`cannot decode ${schema.typeName}: ${String(error)}`);
  }
}

/**
 * fastFromBinary against fromBinary (value or error), and decodeBinary against its former self (verdict and
 * error; a value decodeBinary returns comes from tryFastDecode or fromBinary, both compared in the first check).
 */
function compareAll(schema: DescMessage, bytes: Uint8Array, what: string): void {
  assertSameOutcome(outcome(() => fastFromBinary(schema, bytes)), outcome(() => fromBinary(schema, bytes)), `fastFromBinary ${what}`);
  const drop = { readUnknownFields: false };
  assertSameOutcome(outcome(() => fastFromBinary(schema, bytes, drop)), outcome(() => fromBinary(schema, bytes, drop)), `readUnknownFields: false, ${what}`);
  const actual = outcome(() => decodeBinary(schema, bytes));
  const expected = outcome(() => referenceDecodeBinary(schema, bytes));
  assert.deepStrictEqual(actual.ok ? "decoded" : actual.error, expected.ok ? "decoded" : expected.error, `decodeBinary ${what}`);
}

/** Mutations per run: 1,000 in `npm test` (under 1 s); CQC_FAST_DECODE_MUTATIONS=N for a longer run. */
const MUTATIONS = Number(process.env.CQC_FAST_DECODE_MUTATIONS ?? 1_000);

let corpus: { name: string; schema: DescMessage; bytes: Uint8Array }[] | undefined;

/** Every binary input of the corpus: binary cases as given, JSON cases and examples encoded (read once). */
function corpusInputs(): { name: string; schema: DescMessage; bytes: Uint8Array }[] {
  if (corpus !== undefined) return corpus;
  const inputs: { name: string; schema: DescMessage; bytes: Uint8Array }[] = [];
  for (const c of cases()) {
    const schema = messageSchema(c.type);
    if (c.binary !== undefined) {
      inputs.push({ name: c.name, schema, bytes: c.binary });
    } else if (c.value !== undefined) {
      try {
        inputs.push({ name: c.name, schema, bytes: toBinary(schema, decodeJson(schema, c.value as JsonValue)) });
      } catch {
        // a JSON parse-error case: nothing to encode
      }
    }
  }
  corpus = inputs;
  return inputs;
}

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  const out = Array.from(bytes);
  const pos = Math.floor(random() * Math.max(out.length, 1));
  const special = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xed, 0xf4, 0x0a, 0x12, 0x08];
  const byte = random() < 0.5 ? special[Math.floor(random() * special.length)]! : Math.floor(random() * 256);
  switch (Math.floor(random() * 5)) {
    case 0:
      out[pos] = byte;
      break;
    case 1:
      out[pos] = (out[pos] ?? 0) ^ (1 << Math.floor(random() * 8));
      break;
    case 2:
      out.splice(pos, 0, byte);
      break;
    case 3:
      out.splice(pos, 1);
      break;
    default:
      out.length = pos;
  }
  return new Uint8Array(out);
}

describe("fastFromBinary equals fromBinary", () => {
  const inputs = corpusInputs();

  it("has a generated decoder for the hot messages", () => {
    for (const name of [
      "cqc.markets.v1.OrderBook",
      "cqc.venues.v1.Order",
      "cqc.venues.v1.ExecutionReport",
      "cqc.markets.v1.Trade",
      "cqc.markets.v1.Price",
      "cqc.events.v1.Event",
    ]) {
      assert.ok(hasFastDecoder(messageSchema(name)), name);
    }
  });

  it("on every binary input of the corpus (and decodeBinary keeps its verdicts)", () => {
    assert.ok(inputs.length > 300, `only ${inputs.length} inputs`);
    for (const { name, schema, bytes } of inputs) compareAll(schema, bytes, name);
  });

  it("takes the fast path for every encoded example", () => {
    let fast = 0;
    for (const { name, schema, bytes } of inputs) {
      if (!name.startsWith("example/") || !hasFastDecoder(schema)) continue;
      assert.notEqual(tryFastDecode(schema, bytes), undefined, name);
      fast++;
    }
    assert.ok(fast > 100, `only ${fast} examples on the fast path`);
  });

  it(`on ${MUTATIONS} seeded mutations of the corpus`, () => {
    const random = prng(11);
    for (let i = 0; i < MUTATIONS; i++) {
      const { name, schema, bytes } = inputs[Math.floor(random() * inputs.length)]!;
      let mutated = mutate(bytes, random);
      if (random() < 0.3) mutated = mutate(mutated, random);
      compareAll(schema, mutated, `mutation ${i} of ${name}`);
    }
  });
});

// Wire-format helpers for hand-made input.
function varint(value: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const tag = (no: number, wireType: number): number[] => varint(no * 8 + wireType);
const ld = (no: number, body: number[]): number[] => [...tag(no, 2), ...varint(body.length), ...body];
const utf8 = (text: string): number[] => Array.from(new TextEncoder().encode(text));

describe("fastFromBinary on targeted input", () => {
  const level = messageSchema("cqc.markets.v1.OrderBookLevel");
  const book = messageSchema("cqc.markets.v1.OrderBook");
  const order = messageSchema("cqc.venues.v1.Order");
  const check = (schema: DescMessage, bytes: number[], what: string): Outcome => {
    const input = new Uint8Array(bytes);
    compareAll(schema, input, what);
    return outcome(() => fastFromBinary(schema, input));
  };

  it("rejects invalid UTF-8 with fromBinary's error, and decodes valid non-ASCII the same", () => {
    for (const [what, body] of [
      ["0xff", [0x31, 0xff]],
      ["overlong NUL", [0xc0, 0x80]],
      ["surrogate", [0xed, 0xa0, 0x80]],
      ["truncated", [0xe2, 0x82]],
      ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ] as const) {
      const result = check(level, ld(1, [...body]), what);
      assert.equal(result.ok, false, `${what} must be rejected`);
    }
    for (const text of ["é", "43 050,10 €", "\u{1F4B0}", "\uFEFFbom", "a".repeat(33) + "é", "x".repeat(200)]) {
      const result = check(level, ld(1, utf8(text)), text);
      assert.ok(result.ok && (result.value as { price: string }).price === text, text);
    }
    for (const n of [0, 1, 2, 14, 31, 32, 33, 64, 127, 128, 129, 300]) check(level, ld(2, utf8("7".repeat(n))), `ascii ${n}`);
  });

  it("keeps unknown fields, wire-type mismatches and truncation identical to fromBinary", () => {
    const unknown = check(level, [...ld(1, utf8("1.5")), ...tag(99, 0), 7, ...ld(98, [1, 2]), ...tag(97, 5), 1, 2, 3, 4], "unknown");
    assert.ok(unknown.ok && (unknown.value as { $unknown?: unknown[] }).$unknown?.length === 3);
    const withUnknown = new Uint8Array([...ld(1, utf8("1.5")), ...tag(99, 0), 7, ...ld(98, [1, 2])]);
    assert.notEqual(tryFastDecode(level, withUnknown), undefined, "unknown fields stay on the fast path");
    const nested = new Uint8Array([...ld(4, [...ld(1, utf8("2")), ...tag(77, 1), 1, 2, 3, 4, 5, 6, 7, 8]), ...tag(66, 5), 1, 2, 3, 4]);
    assert.notEqual(tryFastDecode(book, nested), undefined, "in sub-messages too");
    compareAll(book, nested, "unknown fields in a sub-message");
    check(level, [...tag(2, 0), 1, ...tag(99, 0), 1], "known field number with another wire type, then unknown");
    check(level, [...tag(1, 0), 5], "string field as varint");
    check(level, [...tag(3, 2), 1, 5], "uint32 field as bytes");
    check(level, [...tag(1, 2), 10, 0x31], "string past the end");
    check(level, [...tag(3, 0), 0x80], "truncated varint");
    check(level, [...tag(3, 0), ...varint(-1)], "10-byte uint32");
    for (const last of [0x01, 0x02, 0x7f]) {
      const ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, last];
      check(level, [...tag(3, 0), ...ten], `10-byte varint ending ${last} in a uint32`);
      check(book, ld(book.fields.find((f) => f.localName === "receiveTime")!.number, [8, ...ten]), `10-byte varint ending ${last} in an int64`);
    }
    check(level, [0x80, 0x80, 0x80, 0x80, 0x10, 0], "tag over 32 bits");
    check(level, [0, 0], "field number 0");
    check(level, [...tag(1, 3), ...tag(1, 4)], "group");
  });

  it("decodes sub-messages that overrun their parent as fromBinary does (decodeBinary rejects them)", () => {
    // bids[0] claims 3 bytes but its last field runs 4 bytes further: fromBinary absorbs the next field.
    const inner = [...tag(1, 2), 4, 0x31, 0x2e, 0x35, 0x30];
    const bytes = [...tag(4, 2), 3, ...inner, ...ld(1, utf8("mkt"))];
    check(book, bytes, "overrun");
    assert.throws(() => decodeBinary(book, new Uint8Array(bytes)), DecodeError);
  });

  it("merges repeated singular sub-messages and oneof members as fromBinary does", () => {
    const event = messageSchema("cqc.events.v1.Event");
    const payload = event.fields.find((f) => f.fieldKind === "message" && f.oneof !== undefined)!;
    const body = (text: string): number[] => ld(payload.number, ld(1, utf8(text)));
    check(event, [...body("a"), ...body("b")], "oneof member twice");
    const receive = book.fields.find((f) => f.localName === "receiveTime")!;
    check(book, [...ld(receive.number, [8, 5]), ...ld(receive.number, [16, 7])], "message field twice");
    const twice = check(book, [...ld(receive.number, [8, 5, ...tag(9, 0), 1]), ...ld(receive.number, [...tag(10, 0), 2])], "unknown fields of a message field given twice");
    assert.ok(twice.ok && (twice.value as { receiveTime: { $unknown: unknown[] } }).receiveTime.$unknown.length === 2);
    check(book, [...ld(receive.number, [8, ...varint(-5n)])], "negative int64 seconds");
    check(book, [...ld(receive.number, [8, ...varint(2n ** 62n)])], "large int64 seconds");
  });

  it("decodes map fields as fromBinary does", () => {
    const params = order.fields.find((f) => f.fieldKind === "map")!;
    const entry = (k: string | undefined, v: string | undefined): number[] =>
      ld(params.number, [...(k === undefined ? [] : ld(1, utf8(k))), ...(v === undefined ? [] : ld(2, utf8(v)))]);
    const result = check(order, [...entry("a", "1"), ...entry("a", "2"), ...entry(undefined, "z"), ...entry("b", undefined), ...entry("__proto__", "x"), ...entry("constructor", "c")], "map");
    assert.ok(result.ok);
    check(order, [...ld(params.number, [...ld(1, utf8("k")), ...tag(3, 0), 1])], "map entry with unknown field");
  });
});

describe("fastFromBinary on every scalar type", () => {
  // A synthetic proto3 message: every scalar type singular, optional, repeated (packed by default) and in a
  // oneof, a map with int64 keys and message values, and a nested message list.
  const scalars = [
    "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string", "bytes", "uint32",
    "sfixed32", "sfixed64", "sint32", "sint64",
  ];
  const TYPE: Record<string, number> = {
    double: 1, float: 2, int64: 3, uint64: 4, int32: 5, fixed64: 6, fixed32: 7, bool: 8, string: 9, bytes: 12,
    uint32: 13, sfixed32: 15, sfixed64: 16, sint32: 17, sint64: 18,
  };
  const fields: object[] = [];
  scalars.forEach((s, i) => {
    fields.push({ name: `s_${s}`, number: 1 + i, label: 1, type: TYPE[s] });
    fields.push({ name: `o_${s}`, number: 101 + i, label: 1, type: TYPE[s], proto3Optional: true, oneofIndex: 1 + i });
    fields.push({ name: `r_${s}`, number: 201 + i, label: 3, type: TYPE[s] });
    fields.push({ name: `u_${s}`, number: 301 + i, label: 3, type: TYPE[s], options: { packed: false } });
    fields.push({ name: `c_${s}`, number: 401 + i, label: 1, type: TYPE[s], oneofIndex: 0 });
  });
  fields.push({ name: "kids", number: 500, label: 3, type: 11, typeName: ".fast.test.All" });
  fields.push({ name: "by_id", number: 501, label: 3, type: 11, typeName: ".fast.test.All.ByIdEntry" });
  fields.push({ name: "kid", number: 502, label: 1, type: 11, typeName: ".fast.test.All" });
  const file = create(FileDescriptorProtoSchema, {
    name: "fast/test/all.proto",
    package: "fast.test",
    syntax: "proto3",
    messageType: [
      {
        name: "All",
        field: fields,
        oneofDecl: [{ name: "choice" }, ...scalars.map((s) => ({ name: `_o_${s}` }))],
        nestedType: [
          {
            name: "ByIdEntry",
            field: [
              { name: "key", number: 1, label: 1, type: TYPE.sint64 },
              { name: "value", number: 2, label: 1, type: 11, typeName: ".fast.test.All" },
            ],
            options: { mapEntry: true },
          },
        ],
      },
    ],
  } as never);
  const schema = createFileRegistry(file, () => undefined).getMessage("fast.test.All")!;

  function value(s: string, random: () => number): unknown {
    const r = random();
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    switch (s) {
      case "double":
        return pick([0, -0, 1.5, -2.25e300, Number.NaN, Infinity, r]);
      case "float":
        return pick([0, 1.5, -3.25, Math.fround(r)]);
      case "int64":
      case "sfixed64":
      case "sint64":
        return pick([0n, 1n, -1n, 127n, 128n, -(2n ** 63n), 2n ** 63n - 1n, BigInt(Math.floor(r * 2 ** 40)) - 2n ** 39n]);
      case "uint64":
      case "fixed64":
        return pick([0n, 1n, 127n, 128n, 2n ** 64n - 1n, 2n ** 53n + 1n, BigInt(Math.floor(r * 2 ** 50))]);
      case "int32":
      case "sfixed32":
      case "sint32":
        return pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), Math.floor(r * 2 ** 20) - 2 ** 19]);
      case "uint32":
      case "fixed32":
        return pick([0, 1, 127, 128, 2 ** 32 - 1, 2 ** 28, Math.floor(r * 2 ** 32)]);
      case "bool":
        return r < 0.5;
      case "string":
        return pick(["", "a", "43050.10000000", "é€\u{1F4B0}", "z".repeat(40), "q".repeat(150)]);
      default:
        return new Uint8Array(Math.floor(r * 5)).map((_, i) => i * 37);
    }
  }

  function randomMessage(random: () => number, depth: number): Record<string, unknown> {
    const m: Record<string, unknown> = {};
    for (const s of scalars) {
      if (random() < 0.6) m[`s${s[0]!.toUpperCase()}${s.slice(1)}`] = value(s, random);
      if (random() < 0.3) m[`o${s[0]!.toUpperCase()}${s.slice(1)}`] = value(s, random);
      if (random() < 0.3) m[`r${s[0]!.toUpperCase()}${s.slice(1)}`] = [value(s, random), value(s, random), value(s, random)];
      if (random() < 0.3) m[`u${s[0]!.toUpperCase()}${s.slice(1)}`] = [value(s, random), value(s, random)];
    }
    const s = scalars[Math.floor(random() * scalars.length)]!;
    m.choice = { case: `c${s[0]!.toUpperCase()}${s.slice(1)}`, value: value(s, random) };
    if (depth < 1 && random() < 0.5) m.kids = [randomMessage(random, depth + 1), randomMessage(random, depth + 1)];
    if (depth < 1 && random() < 0.5) m.kid = randomMessage(random, depth + 1);
    if (depth < 1 && random() < 0.5) m.byId = { "-3": randomMessage(random, depth + 1), "9000000000": create(schema) };
    return m;
  }

  it("compiles", () => assert.ok(hasFastDecoder(schema)));

  it(`decodes ${MUTATIONS / 5} random messages and ${MUTATIONS / 2} mutations of them as fromBinary does`, () => {
    assert.ok(protoInt64.supported);
    const random = prng(2026);
    for (let i = 0; i < MUTATIONS / 5; i++) {
      const bytes = toBinary(schema, create(schema, randomMessage(random, 0) as never));
      assert.notEqual(tryFastDecode(schema, bytes), undefined, `message ${i} left the fast path`);
      assertSameOutcome(outcome(() => fastFromBinary(schema, bytes)), outcome(() => fromBinary(schema, bytes)), `message ${i}`);
      for (let j = 0; j < (i % 2 === 0 ? 5 : 0); j++) {
        const mutated = mutate(bytes, random);
        assertSameOutcome(outcome(() => fastFromBinary(schema, mutated)), outcome(() => fromBinary(schema, mutated)), `mutation ${j} of message ${i}`);
      }
    }
  });

  it("leaves types it cannot generate to fromBinary", () => {
    const struct = registry.getMessage("google.protobuf.Struct");
    if (struct !== undefined) assert.equal(hasFastDecoder(struct), false);
  });
});

// Last: enableFastDecode patches @bufbuild/protobuf for the whole process (the tests above compare against the
// unpatched fromBinary).
describe("enableFastDecode (fromBinary and Connect)", () => {
  const inputs = corpusInputs();
  const random = prng(7);
  const mutated = Array.from({ length: MUTATIONS / 2 }, () => {
    const { schema, bytes } = inputs[Math.floor(random() * inputs.length)]!;
    return { schema, bytes: mutate(bytes, random) };
  });
  const strings = [0, 1, 5, 31, 32, 33].flatMap((n) => [utf8("9".repeat(n)), [...utf8("9".repeat(n)), 0xe9], [0xc3, 0xa9, ...utf8("x".repeat(n))]]);
  const level = messageSchema("cqc.markets.v1.OrderBookLevel");
  const samples = [
    ...inputs,
    ...mutated,
    ...strings.flatMap((body) => [true, false].map((cut) => ({ schema: level, bytes: new Uint8Array(ld(1, body).slice(0, cut ? -1 : undefined)) }))),
  ];

  it("leaves every result and error of fromBinary as it was", () => {
    const before = samples.map(({ schema, bytes }) => outcome(() => fromBinary(schema, bytes)));
    const original = BinaryReader.prototype.string;
    assert.equal(enableFastDecode(), true);
    assert.notEqual(BinaryReader.prototype.string, original, "patched");
    try {
      samples.forEach(({ schema, bytes }, i) => assertSameOutcome(outcome(() => fromBinary(schema, bytes)), before[i]!, `sample ${i}`));
    } finally {
      disableFastDecode();
    }
    assert.equal(BinaryReader.prototype.string, original, "restored");
  });

  it("is turned on by the kit's validation interceptor unless fastDecode is false", () => {
    const original = BinaryReader.prototype.string;
    createValidationInterceptor({ fastDecode: false });
    assert.equal(BinaryReader.prototype.string, original);
    createValidationInterceptor();
    assert.notEqual(BinaryReader.prototype.string, original);
    disableFastDecode();
    assert.equal(BinaryReader.prototype.string, original);
  });
});
