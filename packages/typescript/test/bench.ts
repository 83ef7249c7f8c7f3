// Benchmarks of CQC messages in TypeScript: binary and canonical JSON encode/decode and protovalidate
// validation, on the same examples as tools/bench/bench_python.py and packages/go/bench_test.go. Prints
// numbers, asserts nothing about time. Run by `nox -s bench` (docs/BENCHMARKS.md), or
// `node --import tsx test/bench.ts [--json FILE] [--target-ms MS]` in packages/typescript.
//
// Each measurement: warm up (and calibrate) until a run of N calls takes about --target-ms, then keep the best
// of three runs of N calls, timed with performance.now().
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { type DescMessage, fromBinary, fromJsonString, type Message, toBinary, toJsonString } from "@bufbuild/protobuf";
import { messageSchema, registry } from "../src/registry.js";
import { validate } from "../src/validation.js";
import { testdata } from "./corpus.js";

/** The same list as in the Python and Go benchmarks: "<type>/<example>". */
const MESSAGES = [
  "cqc.markets.v1.Market/binance-spot-btcusdt",
  "cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy",
  "cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled",
  "cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot",
  "cqc.events.v1.Event/asset-created-usdc",
] as const;
const OPERATIONS = ["binary-encode", "binary-decode", "json-encode", "json-decode", "validate"] as const;
const REPEAT = 3;

interface Result {
  message: string;
  op: string;
  ns_per_op: number;
  ops_per_s: number;
  iterations: number;
}

/** Keeps the optimiser from discarding the benchmarked calls' results. */
export let sink: unknown;

function run(operation: () => unknown, iterations: number): number {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) {
    sink = operation();
  }
  return performance.now() - start;
}

/** [ns per call, calls per run]: calibrate to about targetMs per run (this is the warm-up), best of REPEAT. */
function measure(operation: () => unknown, targetMs: number): [number, number] {
  let iterations = 1;
  let elapsed = run(operation, iterations);
  while (elapsed < targetMs / 10) {
    iterations *= 10;
    elapsed = run(operation, iterations);
  }
  iterations = Math.max(1, Math.round((iterations * targetMs) / elapsed));
  let best = Infinity;
  for (let r = 0; r < REPEAT; r++) {
    best = Math.min(best, run(operation, iterations));
  }
  return [(best * 1e6) / iterations, iterations];
}

function benchMessage(key: string, targetMs: number): { results: Result[]; sizes: { binary: number; json: number } } {
  const [typeName = "", example = ""] = key.split("/");
  const schema: DescMessage = messageSchema(typeName);
  const text = readFileSync(join(testdata, "examples", typeName, `${example}.json`), "utf8");
  const message: Message = fromJsonString(schema, text, { registry });
  const wire = toBinary(schema, message);
  const json = toJsonString(schema, message, { registry });
  validate(schema, message); // the examples are valid: the error path is not what we measure

  const operations: Record<(typeof OPERATIONS)[number], () => unknown> = {
    "binary-encode": () => toBinary(schema, message),
    "binary-decode": () => fromBinary(schema, wire),
    "json-encode": () => toJsonString(schema, message, { registry }),
    "json-decode": () => fromJsonString(schema, json, { registry }),
    validate: () => validate(schema, message),
  };
  const results = OPERATIONS.map((op) => {
    const [ns, iterations] = measure(operations[op], targetMs);
    return { message: key, op, ns_per_op: ns, ops_per_s: 1e9 / ns, iterations };
  });
  return { results, sizes: { binary: wire.length, json: Buffer.byteLength(json, "utf8") } };
}

/** The installed version of a dependency (their package.json is not in their "exports"). */
function version(pkg: string): string {
  const manifest = readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8");
  return (JSON.parse(manifest) as { version: string }).version;
}

const { values: args } = parseArgs({
  options: { json: { type: "string" }, "target-ms": { type: "string", default: "100" } },
});
const targetMs = Number(args["target-ms"]);
const runtime =
  `Node.js ${process.versions.node}, @bufbuild/protobuf ${version("@bufbuild/protobuf")}, ` +
  `@bufbuild/protovalidate ${version("@bufbuild/protovalidate")}`;
const num = (n: number): string => Math.round(n).toLocaleString("en-US").padStart(12);

console.log(`typescript: ${runtime}`);
console.log(`${"message".padEnd(64)} ${"operation".padEnd(14)} ${"ns/op".padStart(12)} ${"ops/s".padStart(12)}`);
const results: Result[] = [];
const sizes: Record<string, { binary: number; json: number }> = {};
for (const key of MESSAGES) {
  const found = benchMessage(key, targetMs);
  sizes[key] = found.sizes;
  for (const r of found.results) {
    results.push(r);
    console.log(`${key.padEnd(64)} ${r.op.padEnd(14)} ${num(r.ns_per_op)} ${num(r.ops_per_s)}`);
  }
}
console.log(`\n${"message".padEnd(64)} ${"binary B".padStart(9)} ${"JSON B".padStart(9)}`);
for (const [key, size] of Object.entries(sizes)) {
  console.log(`${key.padEnd(64)} ${String(size.binary).padStart(9)} ${String(size.json).padStart(9)}`);
}
if (args.json !== undefined) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, JSON.stringify({ language: "typescript", runtime, results, sizes }, null, 2) + "\n");
}
