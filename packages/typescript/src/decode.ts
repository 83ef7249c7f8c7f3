/**
 * The safe way to decode CQC messages from untrusted bytes or JSON in TypeScript.
 *
 * `@bufbuild/protobuf`'s `fromBinary` trusts the wire structure more than the Go and Python runtimes do:
 * when the last field of a length-delimited sub-message runs over the sub-message's end, it keeps reading
 * past the boundary and builds a different message (a following field is absorbed) instead of failing. A
 * decoder that silently builds a different message is data corruption, so CQC decodes untrusted bytes with
 * {@link decodeBinary}: it first walks the wire structure (tags, varints, fixed-width values, lengths, the
 * sub-messages of message-typed fields, groups) and rejects any value that overruns its enclosing
 * sub-message, malformed tags and varints, and nesting deeper than {@link MAX_BINARY_DEPTH}; only then does it
 * call `fromBinary`. Go (`cqc.UnmarshalBinary`) and Python (`cqc.wire.decode_binary`) apply the same checks, so
 * the three languages accept exactly the same bytes.
 *
 * {@link decodeJson} / {@link decodeJsonString} do the same for proto3 JSON: before `fromJson`, they reject
 * `google.protobuf.Timestamp` strings that are not real RFC 3339 instants (`T24:00:00Z`, `2023-02-29`), which
 * `@bufbuild/protobuf` would otherwise roll over to another instant, and drop oneof members given as `null`
 * (unset in proto3 JSON), which `@bufbuild/protobuf` would count as set; bytes must be well-formed base64
 * (`"AAEC="` is rejected, as in Go).
 */
import {
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonValue,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";
import { tryFastDecode } from "./fast-decode.js";
import { registry } from "./registry.js";

/** CQC's nesting limit for binary input: sub-messages and groups (unknown ones included), in every language. */
export const MAX_BINARY_DEPTH = 64;

/** Thrown by {@link decodeBinary} and {@link decodeJson} when the input is malformed. */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
}

/**
 * Decodes untrusted wire-format bytes as `schema`, after checking their structure; throws {@link DecodeError}.
 * Well-formed input whose fields are all known takes the generated fast path of `@crypto-quant/cqc/fast-decode`
 * (same message as `fromBinary`, and input it accepts always passes {@link checkWire}); anything else is
 * checked by {@link checkWire} and decoded by `fromBinary`.
 */
export function decodeBinary<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  const fast = tryFastDecode(schema, bytes);
  if (fast !== undefined) return fast;
  checkWire(schema, bytes);
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    throw new DecodeError(`cannot decode ${schema.typeName}: ${String(error)}`);
  }
}

/**
 * Throws {@link DecodeError} unless `bytes` is well-formed wire format for `schema`: every tag, varint (at
 * most 10 bytes), fixed-width value and length lies inside its enclosing message, sub-messages of
 * message-typed fields parse exactly to their end, groups are terminated by their own end tag, and nothing
 * nests deeper than {@link MAX_BINARY_DEPTH}.
 */
export function checkWire(schema: DescMessage, bytes: Uint8Array): void {
  const end = scan({ message: schema }, bytes, 0, bytes.length, 0, 0);
  if (end !== bytes.length) throw new DecodeError("trailing bytes after the message");
}

/** A message being scanned: a real message, or a map entry (field 2 holds a message of `value`). */
interface Shape {
  message?: DescMessage;
  entry?: boolean;
  mapValue?: DescMessage;
}

function child(shape: Shape, no: number): Shape | undefined {
  if (shape.entry === true) return no === 2 && shape.mapValue !== undefined ? { message: shape.mapValue } : undefined;
  const field: DescField | undefined = shape.message?.fields.find((f) => f.number === no);
  if (field === undefined) return undefined;
  switch (field.fieldKind) {
    case "message":
      return { message: field.message };
    case "list":
      return field.listKind === "message" ? { message: field.message } : undefined;
    case "map":
      return { entry: true, ...(field.mapKind === "message" ? { mapValue: field.message } : {}) };
    default:
      return undefined;
  }
}

function varint(bytes: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new DecodeError("truncated varint");
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (i === 9 && b > 1) throw new DecodeError("varint overflows 64 bits");
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new DecodeError("varint longer than 10 bytes");
}

/** Scans fields from `pos` to `end` (or to the end tag of group `group`); returns the position after them. */
function scan(shape: Shape, bytes: Uint8Array, pos: number, end: number, depth: number, group: number): number {
  while (pos < end) {
    let tag: number;
    [tag, pos] = varint(bytes, pos, end);
    const no = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (no === 0 || no > 0x1fffffff) throw new DecodeError(`invalid field number ${no}`);
    switch (wireType) {
      case 0:
        [, pos] = varint(bytes, pos, end);
        break;
      case 1:
        pos += 8;
        if (pos > end) throw new DecodeError(`truncated fixed64 field ${no}`);
        break;
      case 5:
        pos += 4;
        if (pos > end) throw new DecodeError(`truncated fixed32 field ${no}`);
        break;
      case 2: {
        let length: number;
        [length, pos] = varint(bytes, pos, end);
        if (length > end - pos) throw new DecodeError(`field ${no} runs past the end of its message`);
        const sub = child(shape, no);
        if (sub !== undefined) {
          if (depth + 1 > MAX_BINARY_DEPTH) throw new DecodeError(`nesting deeper than ${MAX_BINARY_DEPTH}`);
          scan(sub, bytes, pos, pos + length, depth + 1, 0);
        }
        pos += length;
        break;
      }
      case 3:
        if (depth + 1 > MAX_BINARY_DEPTH) throw new DecodeError(`nesting deeper than ${MAX_BINARY_DEPTH}`);
        pos = scan({}, bytes, pos, end, depth + 1, no);
        break;
      case 4:
        if (no !== group) throw new DecodeError(`unexpected end of group ${no}`);
        return pos;
      default:
        throw new DecodeError(`invalid wire type ${wireType}`);
    }
  }
  if (group !== 0) throw new DecodeError(`group ${group} is not terminated`);
  return pos;
}

// RFC 3339 as proto3 JSON allows it: a real date, hour 00-23, at most 9 fractional digits, Z or an offset.
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function checkTimestamp(text: string): void {
  const m = TIMESTAMP.exec(text);
  if (m === null) return; // fromJson reports the syntax error
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) {
    throw new DecodeError(`invalid timestamp ${JSON.stringify(text)}`);
  }
}

/** Standard or URL-safe base64, padded (to a multiple of 4) or not, as Go's protojson accepts it. */
function checkBase64(text: string): void {
  const ok = /^[A-Za-z0-9+/_-]*={0,2}$/.test(text) && (text.includes("=") ? text.length % 4 === 0 : text.length % 4 !== 1);
  if (!ok) throw new DecodeError(`invalid base64 ${JSON.stringify(text)}`);
}

/**
 * Checks `value` against `schema` and returns it normalised: a oneof member given as JSON `null` (unset, in
 * proto3 JSON) is dropped, because @bufbuild/protobuf counts it as set and then rejects a second member that
 * Go and Python accept. The input is never modified (changed objects are copied).
 */
function checkJson(schema: DescMessage, value: JsonValue, depth: number): JsonValue {
  if (depth > MAX_BINARY_DEPTH) return value;
  if (schema.typeName === "google.protobuf.Timestamp") {
    if (typeof value === "string") checkTimestamp(value);
    return value;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || schema.typeName.startsWith("google.protobuf.")) {
    return value;
  }
  let out: { [key: string]: JsonValue } = value;
  const set = (key: string, v: JsonValue | undefined): void => {
    if (out === value) out = { ...value };
    if (v === undefined) delete out[key];
    else out[key] = v;
  };
  for (const field of schema.fields) {
    for (const key of field.jsonName === field.name ? [field.name] : [field.jsonName, field.name]) {
      const v = value[key];
      if (v === undefined) continue;
      if (v === null) {
        const isValue = field.fieldKind === "message" && field.message.typeName === "google.protobuf.Value";
        if (field.oneof !== undefined && !isValue) set(key, undefined);
        continue;
      }
      if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES && typeof v === "string") {
        checkBase64(v);
      } else if (field.fieldKind === "list" && field.scalar === ScalarType.BYTES && Array.isArray(v)) {
        for (const item of v) if (typeof item === "string") checkBase64(item);
      } else if (field.fieldKind === "message") {
        const checked = checkJson(field.message, v, depth + 1);
        if (checked !== v) set(key, checked);
      } else if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(v)) {
        const items = v.map((item) => checkJson(field.message, item, depth + 1));
        if (items.some((item, i) => item !== v[i])) set(key, items);
      } else if (field.fieldKind === "map" && field.mapKind === "message" && typeof v === "object" && !Array.isArray(v)) {
        const entries = Object.entries(v).map(([k, item]) => [k, checkJson(field.message, item, depth + 1)] as const);
        if (entries.some(([k, item]) => item !== v[k])) set(key, Object.fromEntries(entries));
      }
    }
  }
  return out;
}

/** Decodes an untrusted proto3 JSON value as `schema` (after CQC's pre-checks); throws on malformed input. */
export function decodeJson<Desc extends DescMessage>(schema: Desc, value: JsonValue): MessageShape<Desc> {
  return fromJson(schema, checkJson(schema, value, 0), { registry });
}

/** Decodes untrusted proto3 JSON text as `schema` (after CQC's pre-checks); throws on malformed input. */
export function decodeJsonString<Desc extends DescMessage>(schema: Desc, text: string): MessageShape<Desc> {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new DecodeError(`cannot decode ${schema.typeName}: ${String(error)}`);
  }
  return decodeJson(schema, value);
}
