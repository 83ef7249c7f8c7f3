// The TypeScript interop scenario client (testdata/interop/README.md): runs every scenario of
// testdata/interop/scenarios.json against one reference server over gRPC (HTTP/2 without TLS) with
// @connectrpc/connect-node's createGrpcTransport, and writes
// {"client": "typescript", "server": NAME, "results": [{name, passed, detail}]}.
//
//   node --import tsx test/interop/client.ts --target 127.0.0.1:PORT --server python \
//       --testdata ../../testdata --out results.json
//
// Data-driven: each scenario names a service and method, which are looked up among the generated service
// descriptors and called through createClient(). Exits 1 when any scenario fails, 2 on a usage error.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { type DescMessage, type DescService, fromJson, type JsonValue, type Message, toJson } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AssetRegistry, MarketData, VenueGateway } from "../../src/gen/cqc/services/v1/index.js";
import { BadRequestSchema, ErrorInfoSchema } from "../../src/gen/google/rpc/index.js";
import { registry } from "../../src/registry.js";
import { Health } from "./health.js";
import { mergePatch } from "../corpus.js"; // the RFC 7386 merge patch the case files use

type JsonObject = { [key: string]: JsonValue };

/** One scenario of scenarios.json (the fields are documented in testdata/interop/README.md). */
interface Scenario {
  name: string;
  service: string;
  method: string;
  kind: "unary" | "server_stream";
  request: JsonValue;
  headers?: Record<string, string>;
  deadline_ms?: number;
  repeat?: number;
  expect: Expect;
}

interface Expect {
  code: string;
  error_reason?: string;
  error_metadata?: Record<string, string>;
  bad_request_rules?: [string, string][];
  response_counts?: Record<string, number>;
  response_fields?: Record<string, JsonValue>;
  stream?: { min_messages?: number; max_messages?: number; first_fields?: JsonObject; every_fields?: JsonObject };
  pagination?: { page_size: number; total_from_examples: string; items_field: string; id_field: string };
  same_response_as_first?: string;
  response_headers?: Record<string, string>;
  response_trailers?: Record<string, string>;
}

export interface ScenarioResult {
  name: string;
  passed: boolean;
  detail: string;
}

/** The domain of every ErrorInfo a reference server sends. */
const ERROR_DOMAIN = "cqc.crypto-quant";
/** Calls without a scenario deadline still time out, so that a stuck server fails a scenario, not the run. */
const DEFAULT_TIMEOUT_MS = 10_000;

const SERVICES: readonly DescService[] = [AssetRegistry, MarketData, VenueGateway, Health];

/** A scenario assertion failed; its message is the scenario's detail. */
class Mismatch extends Error {}

function fail(message: string): never {
  throw new Mismatch(message);
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The gRPC status code name of a Connect code (gRPC spells CANCELLED with two Ls). */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) {
    return "CANCELLED";
  }
  const name = Code[code];
  return name === undefined ? `CODE_${code}` : name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** RFC 7386 JSON merge patch. */
/** Replaces every {"$example": "<Type>/<name>", "$patch": {...}} by that example of testdata/examples, patched. */
export function expandExamples(value: JsonValue, testdata: string): JsonValue {
  if (Array.isArray(value)) {
    return value.map((item) => expandExamples(item, testdata));
  }
  if (!isObject(value)) {
    return value;
  }
  const ref = value["$example"];
  if (typeof ref === "string") {
    const [type, name] = ref.split("/");
    if (type === undefined || name === undefined) {
      throw new Error(`bad $example reference ${JSON.stringify(ref)}`);
    }
    const example = JSON.parse(readFileSync(join(testdata, "examples", type, `${name}.json`), "utf8")) as JsonValue;
    const patch = value["$patch"];
    return patch === undefined ? example : mergePatch(example, patch);
  }
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    result[key] = expandExamples(item, testdata);
  }
  return result;
}

/** The value at a path like `orderBook.bids[0].price` in canonical JSON; undefined when absent. */
export function jsonPath(value: JsonValue | undefined, path: string): JsonValue | undefined {
  let current = value;
  for (const part of path.split(".")) {
    const match = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
    if (match === null) {
      throw new Error(`bad JSON path ${JSON.stringify(path)}`);
    }
    current = isObject(current) ? current[match[1] ?? ""] : undefined;
    for (const index of (match[2] ?? "").matchAll(/\[(\d+)\]/g)) {
      current = Array.isArray(current) ? current[Number(index[1])] : undefined;
    }
  }
  return current;
}

function show(value: JsonValue | undefined): string {
  return value === undefined ? "(absent)" : JSON.stringify(value);
}

/** Every `path: value` must hold in `json` (canonical JSON: an unset field is absent). */
function checkFields(json: JsonValue, fields: Record<string, JsonValue>, where: string): void {
  for (const [path, want] of Object.entries(fields)) {
    const got = jsonPath(json, path);
    if (!isDeepStrictEqual(got, want)) {
      fail(`${where}: ${path} = ${show(got)}, want ${show(want)}`);
    }
  }
}

function checkCounts(json: JsonValue, counts: Record<string, number>, where: string): void {
  for (const [path, want] of Object.entries(counts)) {
    const got = jsonPath(json, path);
    const n = got === undefined ? 0 : Array.isArray(got) ? got.length : -1;
    if (n !== want) {
      fail(`${where}: ${path} has ${n < 0 ? "a non-list value" : `${n} items`}, want ${want}`);
    }
  }
}

function checkMetadata(kind: string, got: Headers, want: Record<string, string> | undefined, server: string): void {
  for (const [key, value] of Object.entries(want ?? {})) {
    const expected = value === "$server" ? server : value;
    const actual = got.get(key);
    if (actual !== expected) {
      fail(`response ${kind} ${key} = ${actual === null ? "(absent)" : JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
    }
  }
}

/** What one call produced: the messages received, then either OK or an error, and the metadata seen. */
interface Outcome {
  messages: JsonValue[];
  error?: ConnectError;
  headers: Headers;
  trailers: Headers;
}

type UnaryFn = (request: Message, options?: CallOptions) => Promise<Message>;
type StreamFn = (request: Message, options?: CallOptions) => AsyncIterable<Message>;

class Runner {
  private readonly clients = new Map<string, Record<string, UnaryFn | StreamFn>>();
  private readonly exampleIdCache = new Map<string, string[]>();

  constructor(
    private readonly transport: Transport,
    private readonly server: string,
    private readonly testdata: string,
  ) {}

  private method(scenario: Scenario): { service: DescService; input: DescMessage; output: DescMessage; call: UnaryFn | StreamFn } {
    const service = SERVICES.find((s) => s.typeName === scenario.service);
    if (service === undefined) {
      throw new Error(`unknown service ${scenario.service}`);
    }
    const method = service.methods.find((m) => m.name === scenario.method);
    if (method === undefined) {
      throw new Error(`${scenario.service} has no method ${scenario.method}`);
    }
    const kind = method.methodKind === "server_streaming" ? "server_stream" : method.methodKind;
    if (kind !== scenario.kind) {
      throw new Error(`${scenario.service}/${scenario.method} is ${method.methodKind}, the scenario says ${scenario.kind}`);
    }
    let client = this.clients.get(service.typeName);
    if (client === undefined) {
      // createClient's type is keyed by the service's literal method names; this runner picks the method
      // at runtime, so it looks the function up by the method's local name instead.
      client = createClient(service, this.transport) as unknown as Record<string, UnaryFn | StreamFn>;
      this.clients.set(service.typeName, client);
    }
    const call = client[method.localName];
    if (call === undefined) {
      throw new Error(`the client of ${service.typeName} has no ${method.localName}`);
    }
    return { service, input: method.input, output: method.output, call };
  }

  private async invoke(scenario: Scenario, request: Message, output: DescMessage, call: UnaryFn | StreamFn): Promise<Outcome> {
    const outcome: Outcome = { messages: [], headers: new Headers(), trailers: new Headers() };
    const options: CallOptions = {
      timeoutMs: scenario.deadline_ms ?? DEFAULT_TIMEOUT_MS,
      headers: scenario.headers ?? {},
      onHeader: (headers) => {
        outcome.headers = headers;
      },
      onTrailer: (trailers) => {
        outcome.trailers = trailers;
      },
    };
    const encode = (message: Message): JsonValue => toJson(output, message, { registry });
    try {
      if (scenario.kind === "unary") {
        outcome.messages.push(encode(await (call as UnaryFn)(request, options)));
      } else {
        for await (const message of (call as StreamFn)(request, options)) {
          outcome.messages.push(encode(message));
        }
      }
    } catch (err) {
      const error = ConnectError.from(err);
      // An error answer's metadata (headers and trailers, or a trailers-only response) is on the error.
      outcome.error = error;
      outcome.headers = error.metadata;
      outcome.trailers = error.metadata;
    }
    return outcome;
  }

  private checkStatus(outcome: Outcome, expect: Expect): void {
    const got = outcome.error === undefined ? "OK" : grpcCodeName(outcome.error.code);
    if (got !== expect.code) {
      fail(`code ${got}${outcome.error === undefined ? "" : ` (${outcome.error.rawMessage})`}, want ${expect.code}`);
    }
    const error = outcome.error;
    if (error === undefined) {
      return;
    }
    if (expect.error_reason !== undefined || expect.error_metadata !== undefined) {
      const infos = error.findDetails(ErrorInfoSchema);
      const info = infos[0];
      if (info === undefined) {
        fail(`no google.rpc.ErrorInfo in the status details (${error.rawMessage})`);
      }
      if (infos.length > 1) {
        fail(`${infos.length} ErrorInfo details, want one`);
      }
      if (expect.error_reason !== undefined && info.reason !== expect.error_reason) {
        fail(`ErrorInfo.reason ${JSON.stringify(info.reason)}, want ${JSON.stringify(expect.error_reason)}`);
      }
      if (info.domain !== ERROR_DOMAIN) {
        fail(`ErrorInfo.domain ${JSON.stringify(info.domain)}, want ${JSON.stringify(ERROR_DOMAIN)}`);
      }
      for (const [key, value] of Object.entries(expect.error_metadata ?? {})) {
        if (info.metadata[key] !== value) {
          fail(`ErrorInfo.metadata[${key}] = ${show(info.metadata[key])}, want ${JSON.stringify(value)}`);
        }
      }
    }
    if (expect.bad_request_rules !== undefined) {
      const found = error
        .findDetails(BadRequestSchema)
        .flatMap((br) => br.fieldViolations)
        .map((v) => [v.field, /\[([^\]]*)\]$/.exec(v.description)?.[1] ?? `(no rule id in ${JSON.stringify(v.description)})`]);
      for (const [field, rule] of expect.bad_request_rules) {
        if (!found.some(([f, r]) => f === field && r === rule)) {
          fail(`BadRequest has no violation (${field}, ${rule}); it has ${JSON.stringify(found)}`);
        }
      }
    }
  }

  private checkMessages(outcome: Outcome, scenario: Scenario): void {
    const expect = scenario.expect;
    const stream = expect.stream;
    const n = outcome.messages.length;
    if (stream !== undefined) {
      if (stream.min_messages !== undefined && n < stream.min_messages) {
        fail(`${n} stream messages, want at least ${stream.min_messages}`);
      }
      if (stream.max_messages !== undefined && n > stream.max_messages) {
        fail(`${n} stream messages, want at most ${stream.max_messages}`);
      }
      const first = outcome.messages[0];
      if (stream.first_fields !== undefined) {
        checkFields(first ?? fail("no stream message to check first_fields on"), stream.first_fields, "first message");
      }
      outcome.messages.forEach((message, i) => checkFields(message, stream.every_fields ?? {}, `message ${i}`));
    }
    const first = outcome.messages[0];
    if (expect.response_fields !== undefined || expect.response_counts !== undefined) {
      if (first === undefined) {
        fail("no response message");
      }
      checkFields(first, expect.response_fields ?? {}, "response");
      checkCounts(first, expect.response_counts ?? {}, "response");
    }
    checkMetadata("header", outcome.headers, expect.response_headers, this.server);
    checkMetadata("trailer", outcome.trailers, expect.response_trailers, this.server);
  }

  /**
   * The distinct ids (`idField`) of the examples of `type`, sorted: what a List of the seeded server returns.
   * Distinct, because two examples may describe the same resource (e.g. a detailed and a minimal Bitcoin).
   */
  private exampleIds(type: string, idField: string): string[] {
    const key = `${type}#${idField}`;
    let ids = this.exampleIdCache.get(key);
    if (ids === undefined) {
      const dir = join(this.testdata, "examples", type);
      const found = new Set<string>();
      for (const file of existsSync(dir) ? readdirSync(dir) : []) {
        if (file.endsWith(".json")) {
          const id = jsonPath(JSON.parse(readFileSync(join(dir, file), "utf8")) as JsonValue, idField);
          if (typeof id === "string") found.add(id);
        }
      }
      ids = [...found].sort();
      this.exampleIdCache.set(key, ids);
    }
    return ids;
  }

  /** Follows nextPageToken from the scenario's request until it is empty. */
  private async paginate(scenario: Scenario, input: DescMessage, output: DescMessage, call: UnaryFn | StreamFn): Promise<string> {
    const spec = scenario.expect.pagination;
    if (spec === undefined) {
      return "";
    }
    const base = expandExamples(scenario.request, this.testdata);
    const ids: string[] = [];
    let token = "";
    let pages = 0;
    const want = this.exampleIds(spec.total_from_examples, spec.id_field);
    const total = want.length;
    do {
      const json: JsonValue = isObject(base) ? { ...base, pageToken: token } : base;
      const outcome = await this.invoke(scenario, fromJson(input, json, { registry }), output, call);
      pages++;
      this.checkStatus(outcome, scenario.expect);
      const page = outcome.messages[0];
      const items = jsonPath(page, spec.items_field) ?? [];
      if (!Array.isArray(items)) {
        fail(`page ${pages}: ${spec.items_field} is not a list`);
      }
      if (items.length > spec.page_size) {
        fail(`page ${pages} has ${items.length} items, page_size is ${spec.page_size}`);
      }
      for (const item of items) {
        const id = jsonPath(item, spec.id_field);
        if (typeof id !== "string") {
          fail(`page ${pages}: an item has no ${spec.id_field}`);
        }
        ids.push(id);
      }
      const next = jsonPath(page, "nextPageToken") ?? "";
      if (typeof next !== "string") {
        fail(`page ${pages}: nextPageToken is not a string`);
      }
      if (next !== "" && items.length === 0) {
        fail(`page ${pages} is empty but has a nextPageToken`);
      }
      token = next;
      if (pages > total + 2) {
        fail(`more than ${total + 2} pages for ${total} items: the token does not advance`);
      }
    } while (token !== "");
    if (new Set(ids).size !== ids.length) {
      fail(`duplicate ids across pages: ${ids.join(", ")}`);
    }
    const sorted = [...ids].sort();
    if (!isDeepStrictEqual(ids, sorted)) {
      fail(`ids not in ascending order: ${ids.join(", ")}`);
    }
    if (!isDeepStrictEqual(ids, want)) {
      const missing = want.filter((id) => !ids.includes(id));
      const extra = ids.filter((id) => !want.includes(id));
      fail(
        `${ids.length} items over ${pages} pages, want the ${total} distinct ${spec.total_from_examples} examples` +
          (missing.length > 0 ? `; missing ${missing.join(", ")}` : "") +
          (extra.length > 0 ? `; not examples: ${extra.join(", ")}` : ""),
      );
    }
    return `${ids.length} items in ${pages} pages`;
  }

  async run(scenario: Scenario): Promise<ScenarioResult> {
    const started = performance.now();
    try {
      const { input, output, call } = this.method(scenario);
      let detail: string;
      if (scenario.expect.pagination !== undefined) {
        detail = await this.paginate(scenario, input, output, call);
      } else {
        const request = fromJson(input, expandExamples(scenario.request, this.testdata), { registry });
        const repeat = scenario.repeat ?? 1;
        const outcomes: Outcome[] = [];
        for (let i = 0; i < repeat; i++) {
          const outcome = await this.invoke(scenario, request, output, call);
          outcomes.push(outcome);
          try {
            this.checkStatus(outcome, scenario.expect);
            this.checkMessages(outcome, scenario);
          } catch (err) {
            if (err instanceof Mismatch && repeat > 1) {
              fail(`call ${i + 1} of ${repeat}: ${err.message}`);
            }
            throw err;
          }
        }
        const field = scenario.expect.same_response_as_first;
        if (field !== undefined) {
          const first = jsonPath(outcomes[0]?.messages[0], field);
          if (first === undefined) {
            fail(`${field} is absent from the first response`);
          }
          outcomes.forEach((outcome, i) => {
            const got = jsonPath(outcome.messages[0], field);
            if (!isDeepStrictEqual(got, first)) {
              fail(`call ${i + 1}: ${field} = ${show(got)}, the first call gave ${show(first)}`);
            }
          });
        }
        const last = outcomes[outcomes.length - 1];
        const code = last?.error === undefined ? "OK" : grpcCodeName(last.error.code);
        const parts = [code];
        if (scenario.kind === "server_stream") parts.push(`${last?.messages.length ?? 0} messages`);
        if (repeat > 1) parts.push(`${repeat} calls`);
        detail = parts.join(", ");
      }
      return { name: scenario.name, passed: true, detail: `${detail} (${Math.round(performance.now() - started)} ms)` };
    } catch (err) {
      const message = err instanceof Mismatch ? err.message : `client error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
      return { name: scenario.name, passed: false, detail: message };
    }
  }
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: client.ts --target HOST:PORT --server NAME --testdata DIR --out FILE [--scenarios FILE] [--only NAME]\n`,
  );
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        target: { type: "string" },
        server: { type: "string" },
        testdata: { type: "string" },
        scenarios: { type: "string" },
        out: { type: "string" },
        only: { type: "string", multiple: true },
      },
      strict: true,
    }));
  } catch (err) {
    usage(err instanceof Error ? err.message : String(err));
  }
  const { target, server, out } = values;
  if (target === undefined || server === undefined || out === undefined || values.testdata === undefined) {
    usage("--target, --server, --testdata and --out are required");
  }
  const testdata = resolve(values.testdata);
  const scenariosFile = values.scenarios ?? join(testdata, "interop", "scenarios.json");
  const all = (JSON.parse(readFileSync(scenariosFile, "utf8")) as { scenarios: Scenario[] }).scenarios;
  const only = values.only;
  const scenarios = only === undefined ? all : all.filter((s) => only.includes(s.name));

  // gRPC always runs over HTTP/2 (connect-node 2.x has no httpVersion option for it); http:// = prior knowledge.
  const transport = createGrpcTransport({ baseUrl: `http://${target}` });
  const runner = new Runner(transport, server, testdata);
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const result = await runner.run(scenario);
    results.push(result);
    process.stdout.write(`${result.passed ? "ok  " : "FAIL"} ${result.name}: ${result.detail}\n`);
  }
  writeFileSync(out, `${JSON.stringify({ client: "typescript", server, results }, null, 2)}\n`);
  const failed = results.filter((r) => !r.passed).length;
  process.stdout.write(`typescript -> ${server}: ${results.length - failed}/${results.length} passed\n`);
  return failed === 0 && results.length > 0 ? 0 : 1;
}

process.exitCode = await main();
