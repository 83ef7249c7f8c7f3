// Runs conformance cases against the TypeScript package and records each result for the other languages
// (.build/conformance/<run>/typescript.json), in the shape every language writes. See conformance.test.ts.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import {
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  type JsonValue,
  type Message,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { decodeBinary, decodeJson, decodeJsonString } from "../src/decode.js";
import { messageSchema, registry } from "../src/registry.js";
import { violations } from "../src/validation.js";
import { type Case, type ExpectedFailure, expectedVerdict, goldenPath, inputKind, testdata } from "./corpus.js";

export const LANGUAGE = "typescript";

/** Set by `nox -s conformance` to a fresh id per run; empty in ordinary package test runs. */
export function runId(): string {
  return process.env["CQC_CONFORMANCE_RUN"] ?? "";
}

/** .build/conformance/<run>: each run has its own, so concurrent runs never mix files. */
export const resultsDir = join(testdata, "..", ".build", "conformance", runId() || "none");

/** One case's result; the same shape in every language. */
export interface CaseRecord {
  type: string;
  input: string;
  expected: string;
  verdict: "valid" | "invalid" | "parse_error" | "unknown_type" | "runtime_error" | "bad_case";
  violations: string[];
  error?: string;
  binary?: string;
  json?: JsonValue | null;
  failures: string[];
  ok: boolean;
  expected_failure?: string;
}

/** The case's input decoded as its type; throws on malformed input (the parse_error outcome). */
export function decode(c: Case): Message {
  const schema = messageSchema(c.type);
  if (c.binary !== undefined) return decodeBinary(schema, c.binary);
  if (c.jsonText !== undefined) return decodeJsonString(schema, c.jsonText);
  return decodeJson(schema, (c.value ?? null) as JsonValue);
}

/** Equality as protobuf values, unknown fields included. */
export function same(schema: DescMessage, a: Message, b: Message): boolean {
  return equals(schema, a, b, { registry, unknown: true });
}

/** A copy without unknown fields at any depth (JSON cannot carry them). */
export function withoutUnknown(schema: DescMessage, message: Message): Message {
  return fromBinary(schema, toBinary(schema, message), { readUnknownFields: false });
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function runCase(c: Case, xfail: ExpectedFailure | undefined): CaseRecord {
  const failures: string[] = [];
  const record: CaseRecord = {
    type: c.type,
    input: inputKind(c),
    expected: expectedVerdict(c),
    verdict: "parse_error",
    violations: [],
    failures,
    ok: false,
  };
  if (xfail?.languages.includes(LANGUAGE)) record.expected_failure = xfail.reason;
  const finish = (): CaseRecord => {
    record.ok = failures.length === 0;
    return record;
  };
  if (c.problem !== undefined) {
    record.verdict = "bad_case";
    failures.push(c.problem);
    return finish();
  }
  const schema = registry.getMessage(c.type);
  if (schema === undefined) {
    record.verdict = "unknown_type";
    failures.push(`${c.type} is not in the generated code (regenerate: nox -s generate)`);
    return finish();
  }
  let message: Message;
  try {
    message = decode(c);
  } catch (error) {
    record.error = String(error).slice(0, 300);
    if (!c.parseError) failures.push(`decode failed: ${String(error)}`);
    return finish();
  }
  if (c.parseError) failures.push("decoded, but the case expects a decode error");
  try {
    record.violations = violations(schema, message).map((v) => `${v.field} ${v.ruleId}`).sort();
  } catch (error) {
    record.verdict = "runtime_error";
    record.error = String(error).slice(0, 300);
    failures.push(`validation raised instead of reporting violations: ${String(error)}`);
    return finish();
  }
  record.verdict = record.violations.length > 0 ? "invalid" : "valid";
  if (!c.parseError && !isDeepStrictEqual(record.violations, c.violations)) {
    failures.push(`violations: expected ${JSON.stringify(c.violations)}, got ${JSON.stringify(record.violations)}`);
  }

  const wire = toBinary(schema, message);
  record.binary = Buffer.from(wire).toString("base64");
  if (!same(schema, fromBinary(schema, wire), message)) failures.push("binary round trip changed the message");
  if (c.reencoded !== undefined && hex(wire) !== hex(c.reencoded)) {
    failures.push(`re-encoded bytes ${hex(wire)} differ from the expected ${hex(c.reencoded)}`);
  }

  let asJson: JsonValue;
  try {
    asJson = toJson(schema, message, { registry });
  } catch (error) {
    record.json = null;
    if (c.jsonEncodable) failures.push(`canonical JSON encoding failed: ${String(error)}`);
    return finish();
  }
  record.json = asJson;
  if (!c.jsonEncodable) failures.push("encoded as JSON, but the case says the message has no canonical JSON form");
  try {
    if (!same(schema, fromJson(schema, asJson, { registry }), withoutUnknown(schema, message))) {
      failures.push("canonical JSON round trip changed the message");
    }
  } catch (error) {
    failures.push(`canonical JSON does not decode: ${String(error)}`);
  }
  if (c.example !== undefined) failures.push(...checkGolden(c.example, schema, message, asJson));
  return finish();
}

function checkGolden(example: string, schema: DescMessage, message: Message, asJson: JsonValue): string[] {
  const path = goldenPath(example);
  if (!existsSync(path)) return [`no golden file ${path}; regenerate: nox -s conformance -- golden`];
  const golden = JSON.parse(readFileSync(path, "utf8")) as JsonValue;
  const problems: string[] = [];
  if (!isDeepStrictEqual(golden, asJson)) {
    problems.push(`canonical JSON differs from ${example}.json: ${JSON.stringify(asJson)}`);
  }
  if (!same(schema, fromJson(schema, golden, { registry }), message)) {
    problems.push(`golden ${example}.json decodes to a different message`);
  }
  return problems;
}

export type Outcome = "passed" | "failed" | "xfail" | "xpass";

export function outcome(record: CaseRecord): Outcome {
  if (record.expected_failure !== undefined) return record.ok ? "xpass" : "xfail";
  return record.ok ? "passed" : "failed";
}

/** Writes <resultsDir>/<name>.json; only under `nox -s conformance` (a run id is set). */
export function writeResults(name: string, document: Record<string, unknown>): void {
  if (runId() === "") return;
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(`${path}.tmp`, JSON.stringify({ language: LANGUAGE, run: runId(), ...document }, null, 1));
  renameSync(`${path}.tmp`, path);
}
