// TypeScript's executor for the differential fuzzer (tools/fuzz.py): one JSON request per line on stdin,
// {"type": "<full name>", "binary": "<base64>"} or {"type": ..., "json": "<text>"}; one JSON line per request on
// stdout with the verdict ("parse_error", "valid", "invalid", "runtime_error"), the violations ("<field path>
// <rule id>", sorted), the binary re-encoding (base64) and the canonical JSON (null when there is none).
// The conformance runner (tools/conformance.py) uses it too: "json_value" (a JSON value: decodeJson), "check":
// true (adds "checks": round trips, "golden" JSON text and the "compare" list of other languages' encodings,
// each decoded and compared with the message as protobuf values).
// Thin on purpose: it decodes with CQC's decodeBinary / decodeJsonString, as a TypeScript service would.
import { createInterface } from "node:readline";
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
import { registry } from "../src/registry.js";
import { violations } from "../src/validation.js";

interface Request {
  type: string;
  binary?: string;
  json?: string;
  json_value?: string;
  check?: boolean;
  golden?: string;
  compare?: { binary?: string; json?: string }[];
}

/** Equality as protobuf values, unknown fields included. */
function same(schema: DescMessage, a: Message, b: Message): boolean {
  return equals(schema, a, b, { registry, unknown: true });
}

/** A copy without unknown fields at any depth (JSON cannot carry them). */
function withoutUnknown(schema: DescMessage, message: Message): Message {
  return fromBinary(schema, toBinary(schema, message), { readUnknownFields: false });
}

/** Conformance extras (tools/conformance.py): round trips, the golden JSON and the other languages' encodings,
 * each decoded and compared with the message as protobuf values. */
function checks(schema: DescMessage, message: Message, asJson: JsonValue | null, req: Request) {
  const problems: string[] = [];
  if (!same(schema, fromBinary(schema, toBinary(schema, message)), message)) {
    problems.push("binary round trip changed the message");
  }
  if (asJson !== null) {
    try {
      if (!same(schema, fromJson(schema, asJson, { registry }), withoutUnknown(schema, message))) {
        problems.push("canonical JSON round trip changed the message");
      }
    } catch (error) {
      problems.push(`canonical JSON does not decode: ${String(error)}`);
    }
  }
  if (req.golden !== undefined) {
    try {
      if (!same(schema, fromJson(schema, JSON.parse(req.golden) as JsonValue, { registry }), message)) {
        problems.push("golden decodes to a different message");
      }
    } catch (error) {
      problems.push(`golden does not decode: ${String(error)}`);
    }
  }
  const compared: (string | null)[] = [];
  for (const other of req.compare ?? []) {
    const what = other.binary !== undefined ? "binary" : "canonical JSON";
    try {
      const back =
        other.binary !== undefined
          ? fromBinary(schema, Buffer.from(other.binary, "base64"))
          : fromJson(schema, JSON.parse(other.json ?? "null") as JsonValue, { registry });
      const own = other.binary !== undefined ? message : withoutUnknown(schema, message);
      compared.push(same(schema, back, own) ? null : `their ${what} decodes to a different message`);
    } catch (error) {
      compared.push(`their ${what} does not decode: ${String(error)}`);
    }
  }
  return { problems, compared };
}

function run(req: Request): Record<string, unknown> {
  const out: Record<string, unknown> = { verdict: "parse_error", violations: [], binary: null, json: null };
  const schema = registry.getMessage(req.type);
  if (schema === undefined) return { ...out, verdict: "unknown_type" };
  let message: Message;
  try {
    message =
      req.binary !== undefined
        ? decodeBinary(schema, Buffer.from(req.binary, "base64"))
        : req.json_value !== undefined
          ? decodeJson(schema, JSON.parse(req.json_value) as JsonValue)
          : decodeJsonString(schema, req.json ?? "");
  } catch (error) {
    return { ...out, error: String(error).slice(0, 300) };
  }
  try {
    out["violations"] = violations(schema, message).map((v) => `${v.field} ${v.ruleId}`).sort();
  } catch (error) {
    return { ...out, verdict: "runtime_error", error: String(error).slice(0, 300) };
  }
  out["verdict"] = (out["violations"] as string[]).length > 0 ? "invalid" : "valid";
  try {
    out["binary"] = Buffer.from(toBinary(schema, message)).toString("base64");
  } catch (error) {
    out["binary_error"] = String(error).slice(0, 300);
  }
  try {
    out["json"] = toJson(schema, message, { registry }) as JsonValue;
  } catch (error) {
    out["json"] = null;
    out["json_error"] = String(error).slice(0, 300);
  }
  if (req.check === true) out["checks"] = checks(schema, message, out["json"] as JsonValue | null, req);
  return out;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line === "") continue;
  let result: Record<string, unknown>;
  try {
    result = run(JSON.parse(line) as Request);
  } catch (error) {
    result = { verdict: "crash", violations: [], binary: null, json: null, error: String(error).slice(0, 300) };
  }
  if (!process.stdout.write(`${JSON.stringify(result)}\n`)) {
    await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
}
