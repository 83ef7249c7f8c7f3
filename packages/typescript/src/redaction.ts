/**
 * Safe printing and logging of CQC messages: fields marked `debug_redact = true` never appear in clear.
 *
 * protobuf-es ignores `debug_redact`: `console.log`, `util.inspect`, `JSON.stringify` and `toJson` print
 * wallet and deposit addresses, memos, venue account identifiers and api key ids in clear. Print and log
 * messages through this module (the policy is in proto/README.md, section "Redaction"):
 *
 * - {@link redact} returns a copy with every redacted field replaced (strings by {@link REDACTED});
 * - {@link toSafeJson} / {@link toSafeJsonString} give the canonical proto JSON of that copy;
 * - {@link safe} wraps a message so `console.log`, `util.inspect`, `String()` and `JSON.stringify` print it
 *   redacted;
 * - {@link redactingLogger} wraps `console` (or any logger with log/info/warn/error/debug methods) so every
 *   CQC message argument is printed redacted.
 *
 * Rules, the same in Go and Python (testdata/helpers/redaction-cases.json is the shared spec): a set
 * redacted string field becomes "[REDACTED]" (each element of a repeated one, each value of a map); any
 * other set redacted field is cleared; messages inside fields that are not redacted (singular, repeated,
 * map values, oneof members) are redacted recursively; a google.protobuf.Any is unpacked when its type is
 * known, redacted and packed again, and its value is dropped when the type is unknown; unknown fields are
 * dropped (a newer schema may have marked them redacted). The input message is never modified.
 *
 * The module also scrubs credentials out of SourceRecord endpoints and raw JSON ({@link scrubEndpoint},
 * {@link scrubJson}, {@link endpointFromRequest}, {@link sourceRecord}).
 */
import {
  clone,
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  type JsonValue,
  type Message,
  type MessageShape,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type SourceRecord, SourceRecordSchema } from "./gen/cqc/types/v1/source_pb.js";
import { registry } from "./registry.js";

/** The marker every redacted string field prints as, in every CQC package. */
export const REDACTED = "[REDACTED]";

function isRedacted(field: DescField): boolean {
  return field.proto.options?.debugRedact === true;
}

function redactAny(message: ReflectMessage): void {
  const typeUrlField = message.desc.fields.find((f) => f.number === 1);
  const valueField = message.desc.fields.find((f) => f.number === 2);
  if (typeUrlField === undefined || valueField === undefined) {
    return;
  }
  const typeUrl = message.get(typeUrlField) as string;
  if (typeUrl === "") {
    return;
  }
  const schema = registry.getMessage(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
  if (schema === undefined) {
    message.clear(valueField); // unknown type: its content cannot be checked
    return;
  }
  let inner: Message;
  try {
    inner = fromBinary(schema, message.get(valueField) as Uint8Array, { readUnknownFields: false });
  } catch {
    message.clear(valueField);
    return;
  }
  redactReflect(reflect(schema, inner));
  message.set(valueField, toBinary(schema, inner));
}

function redactReflect(message: ReflectMessage): void {
  if (message.getUnknown() !== undefined) {
    message.setUnknown([]);
  }
  if (message.desc.typeName === "google.protobuf.Any") {
    redactAny(message);
    return;
  }
  for (const field of message.fields) {
    if (!message.isSet(field)) {
      continue;
    }
    if (isRedacted(field)) {
      redactField(message, field);
      continue;
    }
    switch (field.fieldKind) {
      case "message":
        redactReflect(message.get(field));
        break;
      case "list":
        if (field.listKind === "message") {
          for (const item of message.get(field)) {
            redactReflect(item as ReflectMessage);
          }
        }
        break;
      case "map":
        if (field.mapKind === "message") {
          for (const [, value] of message.get(field)) {
            redactReflect(value as ReflectMessage);
          }
        }
        break;
      default:
        break;
    }
  }
}

function redactField(message: ReflectMessage, field: DescField): void {
  switch (field.fieldKind) {
    case "scalar":
      if (field.scalar === ScalarType.STRING) {
        message.set(field, REDACTED);
      } else {
        message.clear(field);
      }
      return;
    case "list":
      if (field.listKind === "scalar" && field.scalar === ScalarType.STRING) {
        const list = message.get(field);
        for (let i = 0; i < list.size; i++) {
          list.set(i, REDACTED);
        }
      } else {
        message.clear(field);
      }
      return;
    case "map":
      if (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) {
        const map = message.get(field);
        for (const key of [...map.keys()]) {
          map.set(key, REDACTED);
        }
      } else {
        message.clear(field);
      }
      return;
    default:
      message.clear(field);
  }
}

/** A copy of `message` with every `debug_redact` field redacted (see the module rules). */
export function redact<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
  const copy = clone(schema, message);
  redactReflect(reflect(schema, copy));
  return copy;
}

function schemaOf(message: Message): DescMessage {
  const schema = registry.getMessage(message.$typeName);
  if (schema === undefined) {
    throw new Error(`unknown message type ${message.$typeName}`);
  }
  return schema;
}

/** Canonical proto JSON (as a value) of the redacted message. */
export function toSafeJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): JsonValue {
  return toJson(schema, redact(schema, message), { registry });
}

/** Canonical proto JSON text of the redacted message (compact unless `indent` is given). */
export function toSafeJsonString<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  indent?: number,
): string {
  return JSON.stringify(toSafeJson(schema, message), null, indent);
}

const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

/** A message wrapped for printing: see {@link safe}. */
export class SafeMessage {
  constructor(readonly message: Message) {}

  /** The redacted canonical proto JSON (JSON.stringify uses it). */
  toJSON(): JsonValue {
    const schema = schemaOf(this.message);
    return toSafeJson(schema, this.message as MessageShape<typeof schema>);
  }

  toString(): string {
    return `${this.message.$typeName}${JSON.stringify(this.toJSON())}`;
  }

  [inspectCustom](): string {
    return this.toString();
  }
}

/**
 * Wraps a CQC message so every way of printing it is redacted: `console.log(safe(msg))`,
 * `util.inspect(safe(msg))`, `${safe(msg)}`, `JSON.stringify({request: safe(msg)})`.
 */
export function safe(message: Message): SafeMessage {
  return new SafeMessage(message);
}

function isMessage(value: unknown): value is Message {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { $typeName?: unknown }).$typeName === "string" &&
    registry.getMessage((value as Message).$typeName) !== undefined
  );
}

function safeArgument(value: unknown, depth = 0): unknown {
  if (isMessage(value)) {
    return safe(value);
  }
  if (depth < 4 && Array.isArray(value)) {
    return value.map((item) => safeArgument(item, depth + 1));
  }
  if (depth < 4 && typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, safeArgument(v, depth + 1)]));
  }
  return value;
}

/** The methods a logger needs for {@link redactingLogger}; `console` has them all. */
export interface LoggerLike {
  log?(...args: unknown[]): void;
  info?(...args: unknown[]): void;
  warn?(...args: unknown[]): void;
  error?(...args: unknown[]): void;
  debug?(...args: unknown[]): void;
  trace?(...args: unknown[]): void;
}

/**
 * Wraps `console` (or pino, winston or any logger with those methods) so every CQC message argument, also
 * inside plain objects and arrays (four levels deep), is printed redacted:
 * `const log = redactingLogger(console); log.info("sent", request);`.
 */
export function redactingLogger<L extends LoggerLike>(logger: L): L {
  return new Proxy(logger, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value === "function" && ["log", "info", "warn", "error", "debug", "trace"].includes(String(property))) {
        return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args.map((a) => safeArgument(a)));
      }
      return value;
    },
  });
}

// --- Scrubbing credentials out of source records ------------------------------------------------------
//
// SourceRecord keeps what a venue sent; what CQC sent to the venue (signatures, api keys, passphrases) must
// not be kept. The contract refuses credential parameters in SourceRecord.endpoint (cqc.no_credential_params)
// and credential values in raw_json (cqc.no_credential_json_values). These helpers remove them first, with
// the same algorithm as Go and Python (testdata/helpers/scrub-cases.json is the shared spec).

/** Parameter and header names dropped from endpoints (compared case-insensitively, "-" and "_" alike). */
export const CREDENTIAL_PARAMETERS: readonly string[] = [
  "signature", "sign", "apikey", "api_key", "apisecret", "secret", "secretkey", "passphrase", "password",
  "token", "access_token", "listenkey", "privatekey", "private_key", "x-mbx-apikey", "ok-access-key",
  "ok-access-sign", "ok-access-passphrase", "cb-access-key", "cb-access-sign", "cb-access-passphrase",
];

/** JSON keys whose string values are replaced by the marker in raw JSON. */
export const CREDENTIAL_JSON_KEYS: readonly string[] = [
  "signature", "apikey", "api_key", "apisecret", "api_secret", "secret", "secretkey", "secret_key",
  "passphrase", "password", "privatekey", "private_key", "listenkey", "x-mbx-apikey", "ok-access-key",
  "ok-access-sign", "ok-access-passphrase", "cb-access-key", "cb-access-sign", "cb-access-passphrase",
];

function names(words: readonly string[]): string {
  return words.map((w) => w.replace(/[-_]/g, "[-_]")).join("|");
}

const PARAM = new RegExp(`^(${names(CREDENTIAL_PARAMETERS)})$`, "iu");
const HEADER = new RegExp(`[ \\t]+(${names(CREDENTIAL_PARAMETERS)})[ ]*:[ ]*[^ \\t]*`, "giu");
const RULE = new RegExp(`(^|[^A-Za-z0-9])(${names(CREDENTIAL_PARAMETERS)})["']?[ ]*[=:]`, "iu");
const JSON_VALUE = new RegExp(
  `("(${names(CREDENTIAL_JSON_KEYS)})"[ \\t\\r\\n]*:[ \\t\\r\\n]*)"(?:[^"\\\\]|\\\\.)+"`,
  "giu",
);
const QUERY = /\?([^\t\n\f\r #]*)/u;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/u;

/**
 * `endpoint` without credential parameters: query parameters named in {@link CREDENTIAL_PARAMETERS} are
 * dropped (and the "?" when none is left), header-like " Name: value" parts are removed, and if anything
 * credential-like is still left the text is cut before it. The result passes cqc.no_credential_params.
 */
export function scrubEndpoint(endpoint: string): string {
  let result = endpoint.replace(QUERY, (_match, query: string) => {
    const kept = query.split("&").filter((item) => item !== "" && !PARAM.test(item.split("=", 1)[0] ?? ""));
    return kept.length > 0 ? `?${kept.join("&")}` : "";
  });
  result = result.replace(HEADER, "");
  const leftover = RULE.exec(result);
  if (leftover !== null) {
    result = result.slice(0, leftover.index).replace(/[ \t?&;]+$/u, "");
  }
  return result;
}

/**
 * `rawJson` with the non-empty string value of every key in {@link CREDENTIAL_JSON_KEYS} (case-insensitive,
 * any depth) replaced by "[REDACTED]"; every other byte is kept as received.
 */
export function scrubJson(rawJson: string): string {
  return rawJson.replace(JSON_VALUE, (_match, prefix: string) => `${prefix}"${REDACTED}"`);
}

/**
 * "GET /api/v3/order?symbol=BTCUSDT" from a request method and URL: scheme, host and user-info are left
 * out, credential parameters scrubbed.
 */
export function endpointFromRequest(method: string, url: string): string {
  let rest = url;
  const scheme = SCHEME.exec(rest);
  if (scheme !== null) {
    rest = rest.slice(scheme[0].length);
  }
  if (!rest.startsWith("/")) {
    rest = `/${rest}`;
  }
  return scrubEndpoint(method === "" ? rest : `${method.toUpperCase()} ${rest}`);
}

/** A JSON SourceRecord with `endpoint` and `rawJson` scrubbed; `receiveTime` defaults to now. */
export function sourceRecord(init: {
  source: string;
  endpoint: string;
  rawJson?: string;
  receiveTime?: Date;
}): SourceRecord {
  return create(SourceRecordSchema, {
    source: init.source,
    endpoint: scrubEndpoint(init.endpoint),
    rawJson: scrubJson(init.rawJson ?? ""),
    receiveTime: timestampFromDate(init.receiveTime ?? new Date()),
  });
}
