// Validation benchmark (issue 11): binary decode, the generated validators (`violations`) and
// @bufbuild/protovalidate, for OrderBook 2x5/2x50/2x500, Order, ExecutionReport and a Portfolio of 10,000
// balances. Run by `nox -s bench`, or `node --import tsx test/bench-validate.ts` in packages/typescript.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type DescMessage, fromBinary, fromJsonString, type Message, toBinary } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { messageSchema, registry } from "../src/registry.js";
import { violations } from "../src/validation.js";
import { testdata } from "./corpus.js";

export let sink: unknown;
const protovalidate = createValidator({ registry });

function measure(operation: () => unknown, targetMs = 100): number {
  let iterations = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) sink = operation();
    const elapsed = performance.now() - start;
    if (elapsed >= targetMs / 10) break;
    iterations *= 10;
  }
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) sink = operation();
    best = Math.min(best, performance.now() - start);
  }
  return (best * 1e6) / iterations;
}

function example(key: string): [DescMessage, Message] {
  const [typeName, name] = key.split("/") as [string, string];
  const schema = messageSchema(typeName);
  const text = readFileSync(join(testdata, "examples", typeName, `${name}.json`), "utf8");
  return [schema, fromJsonString(schema, text, { registry })];
}

function book(levels: number): [DescMessage, Message] {
  const [schema, m] = example("cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot");
  const msg = m as unknown as { bids: object[]; asks: object[] };
  const level = schema.fields.find((f) => f.name === "bids")!;
  const template = (msg.bids[0] ?? {}) as Record<string, unknown>;
  msg.bids = [];
  msg.asks = [];
  for (let i = 0; i < levels; i++) {
    msg.bids.push({ ...template, price: (40000 - i * 0.01).toFixed(2), size: "1.50000000" });
    msg.asks.push({ ...template, price: (40001 + i * 0.01).toFixed(2), size: "0.25000000" });
  }
  void level;
  return [schema, m];
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function portfolio(balances: number): [DescMessage, Message] {
  const [schema, m] = example("cqc.portfolio.v1.Portfolio/main-fund");
  const msg = m as unknown as { balances: Record<string, unknown>[] };
  const template = msg.balances[0]!;
  msg.balances = [];
  for (let i = 0; i < balances; i++) {
    let n = i + 1;
    let id = "";
    for (let j = 0; j < 26; j++) {
      id = CROCKFORD[n % 32] + id;
      n = Math.floor(n / 32);
    }
    msg.balances.push({ ...template, assetId: `ast_${id}` });
  }
  return [schema, m];
}

export { book };

function main(): void {
  const cases: [string, () => [DescMessage, Message]][] = [
    ["OrderBook 2x5", () => book(5)],
    ["OrderBook 2x50", () => book(50)],
    ["OrderBook 2x500", () => book(500)],
    ["Order", () => example("cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy")],
    ["ExecutionReport", () => example("cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled")],
    ["Portfolio 10,000 balances", () => portfolio(10_000)],
  ];
  console.log("typescript validate             decode ns  generated ns  protovalidate ns  new/dec  old/dec");
  for (const [name, build] of cases) {
    const [schema, message] = build();
    const wire = toBinary(schema, message);
    const found = violations(schema, message);
    if (found.length > 0) throw new Error(`${name}: ${JSON.stringify(found.slice(0, 3))}`);
    const decode = measure(() => fromBinary(schema, wire));
    const generated = measure(() => violations(schema, message));
    let old: number | undefined;
    try {
      old = measure(() => protovalidate.validate(schema, message));
    } catch (error) {
      old = undefined; // e.g. "Maximum call stack size exceeded" on large portfolios
      console.log(`  protovalidate: ${String(error).slice(0, 80)}`);
    }
    const f = (x: number) => Math.round(x).toLocaleString("en-US").padStart(13);
    console.log(
      `${name.padEnd(28)} ${f(decode)} ${f(generated)} ${old === undefined ? "(failed)".padStart(17) : f(old).padStart(17)}` +
        ` ${(generated / decode).toFixed(1).padStart(7)}x ${old === undefined ? "-".padStart(8) : `${(old / decode).toFixed(1).padStart(7)}x`}`,
    );
  }
}

if (process.argv[1]?.endsWith("bench-validate.ts")) main();
