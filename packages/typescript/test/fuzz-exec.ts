// TypeScript's executor for the differential fuzzer (tools/fuzz.py): one JSON request per line on stdin,
// {"type": "<full name>", "binary": "<base64>"} or {"type": ..., "json": "<text>"}; one JSON line per request on
// stdout with the verdict ("parse_error", "valid", "invalid", "runtime_error"), the violations ("<field path>
// <rule id>", sorted), the binary re-encoding (base64) and the canonical JSON (null when there is none).
// Thin on purpose: it decodes with CQC's decodeBinary / decodeJsonString, as a TypeScript service would.
import { createInterface } from "node:readline";
import { type JsonValue, type Message, toBinary, toJson } from "@bufbuild/protobuf";
import { decodeBinary, decodeJsonString } from "../src/decode.js";
import { registry } from "../src/registry.js";
import { violations } from "../src/validation.js";

interface Request {
  type: string;
  binary?: string;
  json?: string;
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
  } catch {
    out["json"] = null;
  }
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
