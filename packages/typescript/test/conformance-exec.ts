// The TypeScript executor of the service conformance suite (Python cqc.conformance owns the cases and every
// check; packages/python/src/cqc/conformance/README.md, "Executor protocol"): reads one JSON call per line on
// stdin, performs it over gRPC (HTTP/2 without TLS) with @connectrpc/connect-node's createGrpcTransport and a
// client built by createClient() from the service descriptor in the registry, and writes one JSON result per
// line on stdout.
//
//   cqc-conformance --target 127.0.0.1:PORT --executor "node --import tsx test/conformance-exec.ts" \
//       --executor-cwd packages/typescript
import { createInterface } from "node:readline";
import { type DescService, fromJson, type JsonValue, type Message, toJson } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/index.js";
import { registry } from "../src/registry.js";
import { Health } from "./conformance-health.js";

/** One call (the protocol's request). */
interface Call {
  id: unknown;
  target: string;
  service: string;
  method: string;
  kind: string;
  request: JsonValue;
  headers?: Record<string, string>;
  deadline_ms?: number;
  cancel_after?: number | null;
}

/** One result (the protocol's answer). */
interface Result {
  id: unknown;
  code: string;
  message: string;
  error_info: { reason: string; domain: string; metadata: Record<string, string> } | null;
  field_violations: { field: string; reason: string; description: string }[];
  responses: JsonValue[];
  headers: Record<string, string[]>;
  trailers: Record<string, string[]>;
}

type UnaryFn = (request: Message, options?: CallOptions) => Promise<Message>;
type StreamFn = (request: Message, options?: CallOptions) => AsyncIterable<Message>;

/** The gRPC status code name of a Connect code (gRPC spells CANCELLED with two Ls). */
function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) {
    return "CANCELLED";
  }
  const name = Code[code];
  return name === undefined ? `CODE_${code}` : name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Protocol-level keys the other executors' gRPC libraries do not report as metadata. */
const PROTOCOL_KEYS = new Set(["content-type", "grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding"]);

function textMetadata(headers: Headers): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  headers.forEach((value, key) => {
    if (!key.endsWith("-bin") && !PROTOCOL_KEYS.has(key)) {
      out[key] = value.split(/,\s*/);
    }
  });
  return out;
}

const transports = new Map<string, Transport>();
const clients = new Map<string, Record<string, UnaryFn | StreamFn>>();

function service(name: string): DescService {
  const found = name === Health.typeName ? Health : registry.getService(name);
  if (found === undefined) {
    throw new Error(`unknown service ${name}`);
  }
  return found;
}

function client(target: string, desc: DescService): Record<string, UnaryFn | StreamFn> {
  const key = `${target} ${desc.typeName}`;
  let found = clients.get(key);
  if (found === undefined) {
    let transport = transports.get(target);
    if (transport === undefined) {
      transport = createGrpcTransport({ baseUrl: `http://${target}` });
      transports.set(target, transport);
    }
    found = createClient(desc, transport) as unknown as Record<string, UnaryFn | StreamFn>;
    clients.set(key, found);
  }
  return found;
}

async function execute(call: Call): Promise<Result> {
  const result: Result = {
    id: call.id,
    code: "OK",
    message: "",
    error_info: null,
    field_violations: [],
    responses: [],
    headers: {},
    trailers: {},
  };
  let fn: UnaryFn | StreamFn;
  let request: Message;
  let encode: (message: Message) => JsonValue;
  try {
    const desc = service(call.service);
    const method = desc.methods.find((m) => m.name === call.method);
    if (method === undefined) {
      throw new Error(`${call.service} has no method ${call.method}`);
    }
    const found = client(call.target, desc)[method.localName];
    if (found === undefined) {
      throw new Error(`the client of ${desc.typeName} has no ${method.localName}`);
    }
    fn = found;
    request = fromJson(method.input, call.request ?? {}, { registry });
    encode = (message) => toJson(method.output, message, { registry });
  } catch (err) {
    result.code = "EXECUTOR_ERROR";
    result.message = err instanceof Error ? err.message : String(err);
    return result;
  }
  const abort = new AbortController();
  const deadlineMs = call.deadline_ms ?? 10_000;
  const started = performance.now();
  const options: CallOptions = {
    timeoutMs: deadlineMs,
    headers: call.headers ?? {},
    signal: abort.signal,
    onHeader: (headers) => {
      result.headers = textMetadata(headers);
    },
    onTrailer: (trailers) => {
      result.trailers = textMetadata(trailers);
    },
  };
  try {
    if (call.kind === "server_stream") {
      for await (const message of (fn as StreamFn)(request, options)) {
        result.responses.push(encode(message));
        if (call.cancel_after != null && result.responses.length >= call.cancel_after) {
          abort.abort();
          result.code = "CANCELLED";
          result.message = `cancelled by the client after ${call.cancel_after} messages`;
          break;
        }
      }
    } else {
      result.responses.push(encode(await (fn as UnaryFn)(request, options)));
    }
  } catch (err) {
    const error = ConnectError.from(err);
    result.code = grpcCodeName(error.code);
    // The server ends the stream (HTTP/2 RST_STREAM CANCEL) when the deadline it was sent expires, racing
    // Connect's own timer: a cancellation we did not ask for, at the deadline, is the deadline.
    if (error.code === Code.Canceled && !abort.signal.aborted && performance.now() - started >= deadlineMs - 5) {
      result.code = "DEADLINE_EXCEEDED";
    }
    result.message = error.rawMessage;
    // Connect merges an error's headers and trailers into one metadata.
    result.trailers = textMetadata(error.metadata);
    if (Object.keys(result.headers).length === 0) {
      result.headers = result.trailers;
    }
    const info = error.findDetails(ErrorInfoSchema)[0];
    if (info !== undefined) {
      result.error_info = { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } };
    }
    for (const badRequest of error.findDetails(BadRequestSchema)) {
      for (const v of badRequest.fieldViolations) {
        result.field_violations.push({ field: v.field, reason: v.reason, description: v.description });
      }
    }
  }
  return result;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") {
    continue;
  }
  let answer: Result;
  try {
    answer = await execute(JSON.parse(line) as Call);
  } catch (err) {
    answer = {
      id: null, code: "EXECUTOR_ERROR", message: `bad call: ${err instanceof Error ? err.message : String(err)}`,
      error_info: null, field_violations: [], responses: [], headers: {}, trailers: {},
    };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
// stdin closed: every answer is written. Open HTTP/2 sessions would keep the event loop (and the runner,
// which waits for the executor to exit) alive until their idle timeout, so end the process now, once stdout
// has drained.
process.stdout.write("", () => process.exit(0));
