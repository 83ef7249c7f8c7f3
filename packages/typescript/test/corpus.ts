// Reads testdata/ (examples, conformance cases, golden JSON and expected failures) for the TypeScript tests.
// The format is documented in testdata/conformance/README.md; the Python (tests/corpus.py) and Go
// (internal/corpus) readers implement the same rules.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonValue, Message } from "@bufbuild/protobuf";
import { decodeBinary, decodeJson, decodeJsonString } from "../src/decode.js";
import { messageSchema } from "../src/registry.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One case: decode the input as `type`, then expect valid, exactly `violations`, or a decode error. */
export interface Case {
  name: string;
  type: string;
  /** Exactly one input: a JSON value (`json`, or `base` + `patch`), raw JSON text, or wire format bytes. */
  value?: Json;
  jsonText?: string;
  binary?: Uint8Array;
  valid: boolean;
  violations: string[]; // "field rule", sorted
  parseError: boolean;
  /** Binary cases: the exact bytes decode + encode must give. */
  reencoded?: Uint8Array;
  /** False: the message decodes (from binary) but has no canonical JSON form. */
  jsonEncodable: boolean;
  /** "<Type>/<name>" for the examples themselves (checked against their golden JSON). */
  example?: string;
  /** Set when the case itself is malformed (e.g. a duplicate name): it fails. */
  problem?: string;
}

export const LANGUAGES = ["python", "go", "typescript"] as const;

export function inputKind(c: Case): string {
  return c.binary !== undefined ? "binary" : c.jsonText !== undefined ? "json_text" : "json";
}

export function expectedVerdict(c: Case): string {
  return c.parseError ? "parse_error" : c.valid ? "valid" : "invalid";
}

export const testdata = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "testdata");

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386 JSON merge patch: objects merge, null deletes a key, anything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) {
    return patch;
  }
  const result: { [key: string]: Json } = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete result[key];
    } else {
      result[key] = mergePatch(result[key], value);
    }
  }
  return result;
}

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, "utf8")) as Json;
}

/** Every example message, keyed "<full message name>/<example name>". */
export function examples(): Map<string, Json> {
  const found = new Map<string, Json>();
  const root = join(testdata, "examples");
  for (const type of readdirSync(root).sort()) {
    for (const file of readdirSync(join(root, type)).sort()) {
      if (file.endsWith(".json")) {
        found.set(`${type}/${file.slice(0, -".json".length)}`, readJson(join(root, type, file)));
      }
    }
  }
  return found;
}

interface RawCase {
  name: string;
  type: string;
  base?: string;
  patch?: Json;
  json?: Json;
  json_text?: string;
  binary_hex?: string;
  binary_base64?: string;
  reencoded_hex?: string;
  reencoded_base64?: string;
  json_encodable?: boolean;
  expect: "valid" | { violations?: { field: string; rule: string }[]; parse_error?: boolean };
}

function bytesOf(hexText: string | undefined, base64Text: string | undefined): Uint8Array | undefined {
  if (hexText !== undefined) {
    const clean = hexText.replace(/\s+/g, "");
    if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`not hex: ${hexText}`);
    return new Uint8Array(Buffer.from(clean, "hex"));
  }
  return base64Text === undefined ? undefined : new Uint8Array(Buffer.from(base64Text, "base64"));
}

function parseCase(raw: RawCase, loaded: Map<string, Json>, file: string): Case {
  const c: Case = {
    name: raw.name,
    type: raw.type,
    valid: raw.expect === "valid",
    violations: [],
    parseError: false,
    jsonEncodable: raw.json_encodable ?? true,
  };
  const binary = bytesOf(raw.binary_hex, raw.binary_base64);
  const reencoded = bytesOf(raw.reencoded_hex, raw.reencoded_base64);
  if (reencoded !== undefined) c.reencoded = reencoded;
  if (binary !== undefined) {
    c.binary = binary;
  } else if (raw.json_text !== undefined) {
    c.jsonText = raw.json_text;
  } else if (raw.json !== undefined) {
    c.value = raw.json;
  } else {
    const base = raw.base === undefined ? undefined : loaded.get(raw.base);
    if (base === undefined) throw new Error(`${file}: case ${raw.name} names unknown base ${raw.base}`);
    c.value = mergePatch(base, raw.patch ?? {});
  }
  if (raw.expect !== "valid") {
    c.parseError = raw.expect.parse_error === true;
    c.violations = (raw.expect.violations ?? []).map((v) => `${v.field} ${v.rule}`).sort();
    if (!c.parseError && c.violations.length === 0) {
      throw new Error(`${file}: case ${raw.name}: expect must be "valid", violations or parse_error`);
    }
  }
  return c;
}

/** Each example as a valid case, then every case of testdata/conformance/cases/*.json (a repeated name becomes a failing case). */
export function cases(): Case[] {
  const loaded = examples();
  const result: Case[] = [...loaded.entries()].map(([key, value]) => ({
    name: `example/${key}`,
    type: key.split("/")[0] ?? "",
    value,
    valid: true,
    violations: [],
    parseError: false,
    jsonEncodable: true,
    example: key,
  }));
  const dir = join(testdata, "conformance", "cases");
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".json")) continue;
    const doc = readJson(join(dir, file)) as unknown as { cases: RawCase[] };
    for (const raw of doc.cases) {
      result.push(parseCase(raw, loaded, file));
    }
  }
  // A repeated name is kept as a failing case, "<name> (duplicate 2)", so every language reports it.
  const seen = new Map<string, number>();
  for (const c of result) {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    if (n > 1) {
      c.name = `${c.name} (duplicate ${n})`;
      c.problem = "case name used twice";
    }
  }
  return result;
}

/** A known, justified runtime difference: `case` fails in `languages` for `reason`. */
export interface ExpectedFailure {
  case: string;
  languages: string[];
  reason: string;
}

/** testdata/conformance/expected-failures.json, keyed by case name. */
export function expectedFailures(): Map<string, ExpectedFailure> {
  const path = join(testdata, "conformance", "expected-failures.json");
  const found = new Map<string, ExpectedFailure>();
  if (!existsSync(path)) return found;
  const doc = readJson(path) as unknown as { expected_failures: ExpectedFailure[] };
  for (const entry of doc.expected_failures) {
    if (!entry.reason) throw new Error(`expected failure ${entry.case} has no reason`);
    found.set(entry.case, entry);
  }
  return found;
}

/** testdata/conformance/golden/<Type>/<name>.json for the example "<Type>/<name>". */
export function goldenPath(example: string): string {
  const slash = example.indexOf("/");
  return join(testdata, "conformance", "golden", example.slice(0, slash), `${example.slice(slash + 1)}.json`);
}

/** The case's input decoded as its type with CQC's decode helpers; throws on malformed input. */
export function decode(c: Case): Message {
  const schema = messageSchema(c.type);
  if (c.binary !== undefined) return decodeBinary(schema, c.binary);
  if (c.jsonText !== undefined) return decodeJsonString(schema, c.jsonText);
  return decodeJson(schema, (c.value ?? null) as JsonValue);
}
