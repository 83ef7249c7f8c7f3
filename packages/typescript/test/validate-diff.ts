// Differential test of the generated TypeScript validators (src/validate/validators.ts, tools/cqcvalidate_ts.py)
// against @bufbuild/protovalidate: on every conformance case and example (and, with CQC_VALIDATE_INPUTS=<file of
// {"type","binary"} JSON lines written by packages/python/tests/validate_diff.py --go-inputs, on seeded
// mutations), the generated code with CEL's doubles (setExact(false)) gives protovalidate's verdict: the same
// (field path, rule id) set, or an evaluation error where protovalidate reports one. The contract's typed
// relations (cqc.types.v1.SortedRule) are not protovalidate rules: their violations are left out of the comparison
// (the conformance corpus holds their cases, run in every language).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { Message } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { getOption } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { sorted } from "../src/gen/cqc/types/v1/rules_pb.js";
import { decodeBinary } from "../src/decode.js";
import { messageSchema, registry } from "../src/registry.js";
import { validators } from "../src/validate/validators.js";
import { isDecimalKey, setExact, type V } from "../src/validate-runtime.js";
import { cases, decode } from "./corpus.js";

const protovalidate = createValidator({ registry });

// The rule ids of the typed relations, read from the contract's message options.
const relationRules = new Set<string>();
for (const type of registry) {
  if (type.kind === "message") for (const rule of getOption(type, sorted)) relationRules.add(rule.id);
}

function verdictPV(typeName: string, message: Message): string {
  const schema = messageSchema(typeName);
  let result;
  try {
    result = protovalidate.validate(schema, message);
  } catch {
    return "error";
  }
  if (result.kind === "error") return "error";
  if (result.kind === "valid") return "[]";
  return JSON.stringify(result.violations.map((v) => `${pathToString(v.field)} ${v.ruleId}`).sort());
}

function verdictGen(typeName: string, message: Message): string {
  const fn = validators[typeName];
  if (fn === undefined) return "missing";
  const out: V[] = [];
  try {
    fn(message, "", out);
  } catch {
    return "error";
  }
  const kept = out.filter((v) => !relationRules.has(v.rule));
  if (kept.length === 0) return "[]";
  return JSON.stringify(kept.map((v) => `${v.field} ${v.rule}`).sort());
}

test("generated validators give protovalidate's verdicts", () => {
  assert.ok(relationRules.has("order_book.snapshot_bids_sorted"), [...relationRules].join(", "));
  const inputs: { name: string; type: string; message: Message }[] = [];
  for (const c of cases()) {
    try {
      inputs.push({ name: c.name, type: c.type, message: decode(c) });
    } catch {
      // parse_error cases have nothing to validate
    }
  }
  const file = process.env["CQC_VALIDATE_INPUTS"];
  if (file) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      const item = JSON.parse(line) as { name: string; type: string; binary: string };
      try {
        const message = decodeBinary(messageSchema(item.type), Buffer.from(item.binary, "base64"));
        inputs.push({ name: item.name, type: item.type, message });
      } catch {
        // not decodable here
      }
    }
  }
  assert.ok(inputs.length > 3000, `only ${inputs.length} inputs`);
  const problems: string[] = [];
  for (const input of inputs) {
    const want = verdictPV(input.type, input.message);
    setExact(false);
    const got = verdictGen(input.type, input.message);
    setExact(true);
    if (want !== got) problems.push(`${input.name}: protovalidate ${want} != generated ${got}`);
    const exact = verdictGen(input.type, input.message);
    if (exact !== got && (exact === "error" || got === "error")) {
      problems.push(`${input.name}: exact ${exact} != float ${got}`);
    }
  }
  const invalid = inputs.filter((i) => verdictPV(i.type, i.message) !== "[]").length;
  assert.ok(invalid > 1000, `only ${invalid} invalid inputs`);
  assert.deepEqual(problems.slice(0, 30), [], `${problems.length} disagreements of ${inputs.length}`);
});

test("decimals compare exactly and the maximum sizes validate", async () => {
  const { book, portfolio } = await import("./bench-validate.js");
  const { fromJsonString } = await import("@bufbuild/protobuf");
  const { violations } = await import("../src/validation.js");
  const { testdata } = await import("./corpus.js");
  const { join } = await import("node:path");
  const load = (type: string, name: string) => {
    const schema = messageSchema(type);
    const text = readFileSync(join(testdata, "examples", type, `${name}.json`), "utf8");
    return [schema, fromJsonString(schema, text, { registry }) as unknown as Record<string, unknown>] as const;
  };
  const rules = (schema: ReturnType<typeof messageSchema>, m: unknown) =>
    violations(schema, m as never).map((v) => `${v.field} ${v.ruleId}`);
  const [assetSchema, asset] = load("cqc.assets.v1.Asset", "bitcoin");
  asset["circulatingSupply"] = "21000000.000000001";
  assert.ok(rules(assetSchema, asset).includes(" asset.circulating_within_max"));
  const [orderSchema, order] = load("cqc.venues.v1.Order", "binance-btcusdt-limit-gtc-buy");
  order["quantity"] = "1".repeat(400);
  order["filledQuantity"] = "2".repeat(400);
  assert.ok(rules(orderSchema, order).includes(" order.filled_within_quantity"));
  const [bookSchema, big] = book(5000);
  assert.deepEqual(rules(bookSchema, big), []);
  const [portfolioSchema, large] = portfolio(10_000);
  assert.deepEqual(rules(portfolioSchema, large), []); // protovalidate-es: "Maximum call stack size exceeded" at ~4,000 (issue 11)
});

test("the hand-written decimal check of sorted rules matches the decimal grammar", () => {
  const pattern = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;
  const alphabet = "-0123456789.e ";
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const samples = ["", "-", "0", "-0", "00", "01", "1.", ".5", "1.5", "-1.50", "43050.10000000", "1e5", " 1", "1..2", "9".repeat(40)];
  for (let i = 0; i < 20000; i++) {
    let s = "";
    const n = Math.floor(next() * 36);
    for (let j = 0; j < n; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    samples.push(s);
  }
  let accepted = 0;
  for (const s of samples) {
    assert.equal(isDecimalKey(s), pattern.test(s), JSON.stringify(s));
    if (pattern.test(s)) accepted++;
  }
  assert.ok(accepted > 50, `only ${accepted} decimals among the samples`);
});
