/**
 * Page tokens and page sizes as every CQC `List*` RPC treats them (server side: uses node:crypto).
 *
 * A token is opaque to clients: base64url of the position to continue from, bound to the RPC and to a digest
 * of the request's filters, signed with HMAC-SHA256 under a per-server key. {@link PageTokens.decode} rejects
 * garbage, tampering, and a token of another RPC or of other filters with INVALID_ARGUMENT INVALID_PAGE_TOKEN.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { serviceError, validationError } from "./errors.js";

/** `page_size` 0 means this many items (the contract's default). */
export const DEFAULT_PAGE_SIZE = 100;
/** Larger `page_size` values are served as this many items. */
export const MAX_PAGE_SIZE = 1000;

/**
 * The number of items to serve for a requested `page_size`: 0 → `defaultSize` (100), above `maxSize` (1000)
 * → `maxSize`. A negative size → INVALID_ARGUMENT VALIDATION_FAILED on `page_size` (rule `int32.gte`), as the
 * request's own validation answers.
 */
export function clampPageSize(pageSize: number, defaultSize = DEFAULT_PAGE_SIZE, maxSize = MAX_PAGE_SIZE): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    throw validationError("page request", [
      { field: "page_size", ruleId: "int32.gte", message: "value must be greater than or equal to 0" },
    ]);
  }
  return pageSize === 0 ? defaultSize : Math.min(pageSize, maxSize);
}

/** A digest of a request's filters: canonical JSON (object keys sorted) of `filters`, SHA-256, base64url. */
export function filterDigest(filters: unknown): string {
  return createHash("sha256").update(stableJson(filters)).digest("base64url");
}

function stableJson(value: unknown): string {
  if (value === undefined) return "null";
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString("base64"));
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([k, v]) => v !== undefined && k !== "$typeName" && k !== "$unknown")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
}

const MAC_BYTES = 32;

/**
 * Encodes and decodes the page tokens of one server. Create one per server process (the key is random unless
 * given: tokens then stay valid across restarts only with a fixed key).
 *
 * ```ts
 * const tokens = new PageTokens();
 * const after = tokens.decode("ListPortfolios", filters, req.pageToken); // "" for the first page
 * ...
 * nextPageToken = more ? tokens.encode("ListPortfolios", filters, lastId) : "";
 * ```
 * `filters` is every request field except page_size and page_token (e.g. `{ venueId: req.venueId }`, or `{}`).
 */
export class PageTokens {
  readonly #key: Uint8Array;

  constructor(key: Uint8Array = randomBytes(32)) {
    if (key.length < 16) {
      throw new RangeError("a page token key has at least 16 bytes");
    }
    this.#key = Uint8Array.from(key);
  }

  /** The token continuing `rpc` with `filters` after `position` (e.g. the last id returned). */
  encode(rpc: string, filters: unknown, position: string): string {
    const body = Buffer.from(JSON.stringify({ r: rpc, f: filterDigest(filters), p: position }), "utf8");
    return Buffer.concat([body, this.#mac(body)]).toString("base64url");
  }

  /**
   * The position a token continues from; "" for an empty token (the first page). A token that is not one of
   * this server's, was changed, or belongs to another RPC or other filters → INVALID_ARGUMENT INVALID_PAGE_TOKEN.
   */
  decode(rpc: string, filters: unknown, token: string): string {
    if (token === "") return "";
    const invalid = serviceError("INVALID_PAGE_TOKEN", "page_token is not a token of this listing: start again without one");
    if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid;
    const raw = Buffer.from(token, "base64url");
    if (raw.length <= MAC_BYTES || raw.toString("base64url") !== token) throw invalid;
    const body = raw.subarray(0, raw.length - MAC_BYTES);
    if (!timingSafeEqual(raw.subarray(raw.length - MAC_BYTES), this.#mac(body))) throw invalid;
    let parsed: { r?: unknown; f?: unknown; p?: unknown };
    try {
      parsed = JSON.parse(body.toString("utf8")) as typeof parsed;
    } catch {
      throw invalid;
    }
    if (parsed.r !== rpc || parsed.f !== filterDigest(filters) || typeof parsed.p !== "string") throw invalid;
    return parsed.p;
  }

  #mac(body: Uint8Array): Buffer {
    return createHmac("sha256", this.#key).update(body).digest();
  }
}
