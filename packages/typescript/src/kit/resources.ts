/**
 * The Create / Update / List conventions of CQC resources (portfolios, allocations, assets, ...), on any
 * generated message type: output-only fields, create-by-id idempotency, update masks and pages.
 */
import { clone, type DescField, type DescMessage, equals, type MessageShape, toJson } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { TimestampSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { violations } from "../validation.js";
import { serviceError, validationError } from "./errors.js";
import { clampPageSize, filterDigest, type PageTokens } from "./pagination.js";

/** The resource fields a server sets itself: ignored on Create, refused in an update_mask. */
export const OUTPUT_ONLY: readonly string[] = ["create_time", "update_time"];

function field(schema: DescMessage, name: string): DescField | undefined {
  return schema.fields.find((f) => f.name === name);
}

/** A copy of `message` with the named top-level fields (proto names; default {@link OUTPUT_ONLY}) cleared. */
export function without<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  fields: readonly string[] = OUTPUT_ONLY,
): MessageShape<Desc> {
  const out = clone(schema, message);
  const r = reflect(schema, out);
  for (const name of fields) {
    const f = field(schema, name);
    if (f !== undefined) r.clear(f);
  }
  return out;
}

/** Sets the named google.protobuf.Timestamp fields of `message` (e.g. "create_time", "update_time") to `at`. */
export function stamp<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, at: Date, ...fields: string[]): void {
  const r = reflect(schema, message);
  for (const name of fields) {
    const f = field(schema, name);
    if (f?.fieldKind === "message" && f.message.typeName === TimestampSchema.typeName) {
      r.set(f, reflect(TimestampSchema, timestampFromDate(at)));
    }
  }
}

/**
 * Create-by-id idempotency: `undefined` when nothing is stored under the id; the stored resource when
 * `incoming` repeats it (output-only and unknown fields ignored); otherwise ALREADY_EXISTS ALREADY_EXISTS with
 * metadata `{[idField]: id}`.
 */
export function checkCreate<Desc extends DescMessage>(
  schema: Desc,
  existing: MessageShape<Desc> | undefined,
  incoming: MessageShape<Desc>,
  idField: string,
): MessageShape<Desc> | undefined {
  if (existing === undefined) return undefined;
  if (equals(schema, without(schema, existing), without(schema, incoming))) {
    return clone(schema, existing);
  }
  const f = field(schema, idField);
  const id = f === undefined ? "" : String(reflect(schema, incoming).get(f));
  throw serviceError("ALREADY_EXISTS", `${idField} ${JSON.stringify(id)} exists with different values`, { [idField]: id });
}

/**
 * The path check of {@link applyUpdateMask} alone, for a service that checks the mask before it looks the
 * resource up: every path must name a top-level field (proto name) of `schema` other than `immutable` and
 * {@link OUTPUT_ONLY}; otherwise INVALID_ARGUMENT INVALID_UPDATE_MASK `{paths: the refused paths, comma-separated}`.
 */
export function checkUpdateMask(schema: DescMessage, paths: readonly string[], immutable: readonly string[] = []): void {
  const fixed = new Set([...immutable, ...OUTPUT_ONLY]);
  const refused = paths.filter((p) => field(schema, p) === undefined || fixed.has(p));
  if (refused.length > 0) {
    throw serviceError(
      "INVALID_UPDATE_MASK",
      `update_mask paths must be updatable top-level fields of ${schema.typeName}: ${refused.join(", ")}`,
      { paths: refused.join(",") },
    );
  }
}

/**
 * `stored` with the mask's `paths` copied from `patch` (a path unset in `patch` clears the field), checked
 * as {@link checkUpdateMask} does and validated: a result that breaks a rule → VALIDATION_FAILED with field
 * paths under `requestField` (the request field holding the resource, e.g. "portfolio"). `stored` is not
 * changed and update_time is not set (use {@link stamp}).
 */
export function applyUpdateMask<Desc extends DescMessage>(
  schema: Desc,
  stored: MessageShape<Desc>,
  patch: MessageShape<Desc>,
  paths: readonly string[],
  requestField: string,
  immutable: readonly string[] = [],
): MessageShape<Desc> {
  checkUpdateMask(schema, paths, immutable);
  const source = reflect(schema, clone(schema, patch));
  const updated = clone(schema, stored);
  const target = reflect(schema, updated);
  for (const path of paths) {
    const f = field(schema, path) as DescField;
    if (source.isSet(f)) target.set(f, source.get(f));
    else target.clear(f);
  }
  const broken = violations(schema, updated);
  if (broken.length > 0) {
    const prefixed = broken.map((v) => ({
      ...v,
      field: requestField === "" ? v.field : v.field === "" ? requestField : `${requestField}.${v.field}`,
    }));
    throw validationError(schema.typeName, prefixed);
  }
  return updated;
}

/** The filters of a List request: every field but page_size and page_token (unknown fields ignored), as a digest. */
export function requestFilters<Desc extends DescMessage>(schema: Desc, request: MessageShape<Desc>): string {
  return filterDigest({ type: schema.typeName, filters: toJson(schema, without(schema, request, ["page_size", "page_token"])) });
}

/** One page of a List RPC, see {@link page}. */
export interface Page<T> {
  readonly items: T[];
  /** The token of the next page; "" on the last page. */
  readonly nextPageToken: string;
}

/**
 * One page of `items` (sorted ascending by `key`) for a List request: clamps `request.pageSize`
 * ({@link clampPageSize}), starts after the position of `request.pageToken` (a token of `tokens` bound to `rpc`
 * and the request's filters) and returns the next page's token. A page starts after the previous page's last
 * key, so items created between pages are not skipped.
 */
export function page<Desc extends DescMessage, T>(
  tokens: PageTokens,
  rpc: string,
  schema: Desc,
  request: MessageShape<Desc> & { pageSize: number; pageToken: string },
  items: readonly T[],
  key: (item: T) => string,
): Page<T> {
  const size = clampPageSize(request.pageSize);
  const filters = requestFilters(schema, request);
  const after = tokens.decode(rpc, filters, request.pageToken);
  const start = request.pageToken === "" ? 0 : items.findIndex((item) => key(item) > after);
  const from = start < 0 ? items.length : start;
  const end = Math.min(from + size, items.length);
  const last = items[end - 1];
  const nextPageToken = end < items.length && last !== undefined ? tokens.encode(rpc, filters, key(last)) : "";
  return { items: items.slice(from, end), nextPageToken };
}

