/**
 * Ids as the contract writes them: resource ids `<prefix>_<ULID>` (the `(cqc.types.v1.id_prefix)` rule) and
 * event ids as UUIDv7 (the envelope's `event_id`). No Node.js imports: this module also runs in browsers.
 */
import { ulid } from "ulid";
import { uuid7 } from "../events.js";

const PREFIX = /^[a-z][a-z0-9]*$/;

/**
 * A new resource id: `prefix` + "_" + a new ULID (26 characters of Crockford base32, sortable by creation
 * time to the millisecond), e.g. `newId("pfl")` → "pfl_01JDBNVSDMMA1N3K9ZQ4T6W8XY". `prefix` is the id's
 * lower-case prefix as the field's `id_prefix` rule names it ("pfl", "ord", "acc", ...).
 */
export function newId(prefix: string): string {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(`id prefix ${JSON.stringify(prefix)} is not lower-case letters and digits`);
  }
  return `${prefix}_${ulid()}`;
}

/** A new event id: a UUIDv7 (lower case, with hyphens), as `newEvent()` of `@crypto-quant/cqc/events` sets. */
export function newEventId(): string {
  return uuid7();
}
