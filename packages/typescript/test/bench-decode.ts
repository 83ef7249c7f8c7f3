// TypeScript binary decode benchmark (issue 11): the same bytes decoded by @bufbuild/protobuf's fromBinary (alone,
// and with CQC's enableFastDecode string reader, which Connect servers built with the kit get), by CQC's fastFromBinary (src/fast-decode.ts), by decodeBinary (the safe decode services use: now the fast path
// first; before, checkWire + fromBinary), and by protobufjs static code (`pbjs -t static-module`), for OrderBook
// 2x5 / 2x50 / 2x500 levels, Order, ExecutionReport, Trade and Price. Prints ns/op and the ratio to protobufjs;
// asserts nothing about time. Run by `nox -s bench`, or `node --import tsx test/bench-decode.ts [--json FILE]
// [--target-ms MS]` in packages/typescript.
//
// The protobufjs static module is generated at run time into a temporary directory (nothing generated is
// committed): protobufjs-cli's protoc plugin gets a CodeGeneratorRequest holding the FileDescriptorProtos that
// protoc compiled from proto/ (the ones embedded in src/gen), so both libraries decode the same schema.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { create, type DescFile, type DescMessage, fromBinary, fromJsonString, type Message, toBinary } from "@bufbuild/protobuf";
import { CodeGeneratorRequestSchema, CodeGeneratorResponseSchema } from "@bufbuild/protobuf/wkt";
import { checkWire, DecodeError, decodeBinary } from "../src/decode.js";
import { disableFastDecode, enableFastDecode, fastFromBinary, hasFastDecoder } from "../src/fast-decode.js";
import { files } from "../src/gen/files.js";
import { messageSchema, registry } from "../src/registry.js";
import { testdata } from "./corpus.js";

// protobufjs and protobufjs-cli live in tools/bench/protobufjs (installed by `nox -s bench`), not in this package:
// make test does not need them.
const require = createRequire(new URL("../../../tools/bench/protobufjs/package.json", import.meta.url));

/** Keeps the optimiser from discarding the benchmarked calls' results. */
export let sink: unknown;

const ROUNDS = 7;

/**
 * Milliseconds of CPU time (user + system, all threads of the process) for `iterations` calls: on the shared
 * 2-core machine, wall time mostly measures the other processes' load.
 */
function run(operation: () => unknown, iterations: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) sink = operation();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Calls per run so that one run takes about targetMs (this is also the warm-up). */
function calibrate(operation: () => unknown, targetMs: number): number {
  let iterations = 1;
  let elapsed = run(operation, iterations);
  while (elapsed < targetMs / 10) {
    iterations *= 10;
    elapsed = run(operation, iterations);
  }
  return Math.max(1, Math.round((iterations * targetMs) / elapsed));
}

/** The files `roots` need, dependencies first. */
function closure(roots: string[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dep of file.dependencies) visit(dep);
    ordered.push(file);
  };
  for (const file of files) if (roots.includes(file.proto.name)) visit(file);
  return ordered;
}

interface PbjsType {
  decode(bytes: Uint8Array): unknown;
}

/** Generates protobufjs static code for `protoFiles` into a temporary directory and imports it. */
async function pbjsStaticModule(protoFiles: string[]): Promise<{ root: Record<string, unknown>; dir: string }> {
  const plugin = require("protobufjs-cli/protoc-gen-pbjs.js") as {
    run(input: Uint8Array, done: (error: Error | null, response?: unknown) => void): void;
    CodeGeneratorResponse: { encode(message: unknown): { finish(): Uint8Array } };
  };
  const request = create(CodeGeneratorRequestSchema, {
    fileToGenerate: protoFiles,
    parameter: "target=static-module,wrap=es6,file=cqc_pbjs.js",
    protoFile: closure(protoFiles).map((f) => f.proto),
  });
  const response = await new Promise<Uint8Array>((resolve, reject) =>
    plugin.run(toBinary(CodeGeneratorRequestSchema, request), (error, message) =>
      error !== null ? reject(error) : resolve(plugin.CodeGeneratorResponse.encode(message).finish()),
    ),
  );
  const generated = fromBinary(CodeGeneratorResponseSchema, response);
  if (generated.error) throw new Error(`protoc-gen-pbjs: ${generated.error}`);
  const dir = mkdtempSync(join(tmpdir(), "cqc-bench-pbjs-"));
  // The module imports "protobufjs/minimal.js": point it at this package's copy, wherever the directory is.
  const minimal = pathToFileURL(require.resolve("protobufjs/minimal.js")).href;
  for (const file of generated.file) {
    const path = join(dir, file.name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content.replaceAll('"protobufjs/minimal.js"', JSON.stringify(minimal)));
  }
  const module = (await import(pathToFileURL(join(dir, "cqc_pbjs.js")).href)) as { default: Record<string, unknown> };
  return { root: module.default, dir };
}

function pbjsType(root: Record<string, unknown>, typeName: string): PbjsType {
  let node: unknown = root;
  for (const part of typeName.split(".")) node = (node as Record<string, unknown>)[part];
  if (typeof (node as PbjsType | undefined)?.decode !== "function") throw new Error(`no protobufjs type ${typeName}`);
  return node as PbjsType;
}

function example(key: string): [DescMessage, Message] {
  const [typeName, name] = key.split("/") as [string, string];
  const schema = messageSchema(typeName);
  const text = readFileSync(join(testdata, "examples", typeName, `${name}.json`), "utf8");
  return [schema, fromJsonString(schema, text, { registry })];
}

/** The Binance BTCUSDT L2 snapshot example with `levels` levels per side (its 4 levels repeated). */
function book(levels: number): [DescMessage, Message] {
  const [schema, message] = example("cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot");
  const m = message as unknown as { bids: unknown[]; asks: unknown[]; depth: number };
  const bids = m.bids;
  const asks = m.asks;
  m.bids = Array.from({ length: levels }, (_, i) => bids[i % bids.length]);
  m.asks = Array.from({ length: levels }, (_, i) => asks[i % asks.length]);
  m.depth = levels;
  return [schema, message];
}

/** decodeBinary as it was before the fast path: the wire scan, then fromBinary. */
function decodeBinaryBefore(schema: DescMessage, bytes: Uint8Array): Message {
  checkWire(schema, bytes);
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    throw new DecodeError(String(error));
  }
}

interface Result {
  message: string;
  bytes: number;
  op: string;
  ns_per_op: number;
  vs_protobufjs: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: "string" }, "target-ms": { type: "string", default: "60" } } });
  const targetMs = Number(values["target-ms"]);
  const cases: [string, [DescMessage, Message]][] = [
    ["OrderBook 2x5", book(5)],
    ["OrderBook 2x50", book(50)],
    ["OrderBook 2x500", book(500)],
    ["Order", example("cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy")],
    ["ExecutionReport", example("cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled")],
    ["Trade", example("cqc.markets.v1.Trade/binance-btcusdt-spot-trade")],
    ["Price", example("cqc.markets.v1.Price/binance-btcusdt-spot-best-bid")],
  ];
  const protoFiles = [...new Set(cases.map(([, [schema]]) => schema.file.proto.name))];
  const started = performance.now();
  const { root, dir } = await pbjsStaticModule(protoFiles);
  console.log(`protobufjs static module for ${protoFiles.join(", ")} generated in ${Math.round(performance.now() - started)} ms`);

  const results: Result[] = [];
  try {
    for (const [name, [schema, message]] of cases) {
      const bytes = toBinary(schema, message);
      const pbjs = pbjsType(root, schema.typeName);
      if (!hasFastDecoder(schema)) throw new Error(`no fast decoder for ${schema.typeName}`);
      // The same bytes decode to the same message on every shipped path; protobufjs sees the same field count.
      const reference = fromBinary(schema, bytes);
      for (const decoded of [fastFromBinary(schema, bytes), decodeBinary(schema, bytes)]) {
        if (JSON.stringify(toBinary(schema, decoded)) !== JSON.stringify(toBinary(schema, reference))) {
          throw new Error(`${name}: decoders disagree`);
        }
      }
      const levels = (pbjs.decode(bytes) as { bids?: unknown[] }).bids?.length;
      if (levels !== undefined && levels !== (reference as unknown as { bids: unknown[] }).bids.length) {
        throw new Error(`${name}: protobufjs decoded ${levels} levels`);
      }
      // "+ enableFastDecode": fromBinary with the patched string reader, i.e. what Connect runs in a service
      // built with the kit (the patch is switched on around each of its runs only).
      const operations: [string, () => unknown][] = [
        ["protobufjs static", () => pbjs.decode(bytes)],
        ["fromBinary", () => fromBinary(schema, bytes)],
        ["fromBinary + enableFastDecode", () => fromBinary(schema, bytes)],
        ["fastFromBinary", () => fastFromBinary(schema, bytes)],
        ["decodeBinary before (checkWire + fromBinary)", () => decodeBinaryBefore(schema, bytes)],
        ["decodeBinary", () => decodeBinary(schema, bytes)],
      ];
      const patched = (name: string, fn: () => number): number => {
        if (!name.endsWith("enableFastDecode")) return fn();
        if (!enableFastDecode()) throw new Error("enableFastDecode refused");
        try {
          return fn();
        } finally {
          disableFastDecode();
        }
      };
      const iterations = operations.map(([name, op]) => patched(name, () => calibrate(op, targetMs)));
      const best = operations.map(() => Infinity);
      // Interleaved rounds: a slow moment of the shared machine hits every decoder alike; keep each one's best.
      for (let round = 0; round < ROUNDS; round++) {
        operations.forEach(([name, op], i) => {
          best[i] = Math.min(best[i]!, patched(name, () => run(op, iterations[i]!)) / iterations[i]!);
        });
      }
      const baseline = best[0]!;
      operations.forEach(([op], i) => {
        const ns = best[i]! * 1e6;
        results.push({ message: name, bytes: bytes.length, op, ns_per_op: ns, vs_protobufjs: best[i]! / baseline });
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const ops = [...new Set(results.map((r) => r.op))];
  console.log("\nTypeScript binary decode, CPU ns/op, best of " + ROUNDS + " interleaved runs (x = time / protobufjs static code's time; lower is faster)");
  console.log(["message".padEnd(16), "bytes".padStart(6), ...ops.map((op) => op.padStart(op.length < 18 ? 18 : op.length))].join("  "));
  for (const [name] of cases) {
    const row = results.filter((r) => r.message === name);
    console.log(
      [
        name.padEnd(16),
        String(row[0]!.bytes).padStart(6),
        ...row.map((r) => `${Math.round(r.ns_per_op)} (${r.vs_protobufjs.toFixed(2)}x)`.padStart(r.op.length < 18 ? 18 : r.op.length)),
      ].join("  "),
    );
  }
  if (values.json !== undefined) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, JSON.stringify({ node: process.version, results }, null, 2));
  }
}

await main();
