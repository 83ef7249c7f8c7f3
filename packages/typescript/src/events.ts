/**
 * Building, reading and ordering `cqc.events.v1.Event` envelopes, and their CloudEvents 1.0 attributes.
 * The same helpers, with the same behaviour, exist in Python (`cqc.envelope`) and Go (package `cqc`:
 * `NewEvent`, `EventPayload`, `CloudEventAttributes`, `EventStreamTracker`);
 * testdata/helpers/events-cases.json and testdata/helpers/event-stream-cases.json hold all three to it.
 */
import { clone, create, type DescField, type DescMessage, getOption, type Message } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema, timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema } from "./gen/cqc/events/v1/envelope_pb.js";
import { type EventOptions, event as eventOption } from "./gen/cqc/events/v1/options_pb.js";

/** `datacontenttype` when the CloudEvent's data is the Event in protobuf binary (the default). */
export const CONTENT_TYPE_PROTOBUF = "application/protobuf";
/** `datacontenttype` when the CloudEvent's data is the Event in canonical proto JSON. */
export const CONTENT_TYPE_JSON = "application/json";
/** The two `datacontenttype` values of the mapping. */
export type DataContentType = typeof CONTENT_TYPE_PROTOBUF | typeof CONTENT_TYPE_JSON;

/** Any event message of the contract: the value of one case of `Event.payload`. */
export type EventPayload = NonNullable<Event["payload"]["value"]>;

/** The envelope fields {@link newEvent} takes from its caller. */
export interface NewEventOptions {
  /** The producing service, "//cqc/<service>[/<instance>]": {@link producerSource} of the payload's type. */
  source: string;
  /** The CQC id of the entity the event is about, e.g. "ast_01JDVSDC000000000000000000". */
  subject: string;
  /** When the event happened at its origin (a Timestamp keeps nanoseconds, a Date milliseconds). */
  occurredAt: Date | Timestamp;
  /** The delivery key; default (or ""): the payload's key, {@link partitionKeyOf}; another value throws. */
  partitionKey?: string;
  /** Groups a chain of events; default: the new event's own id (a chain's root). */
  correlationId?: string;
  /** The event_id of the event that caused this one; default: none. */
  causationId?: string;
  /** The producer's position in the partition key; required, at least 1. */
  sequence: bigint;
  /** The producing service's build version, e.g. "1.4.2"; required. */
  sourceVersion: string;
  /** When CQC recorded the event; default: now. */
  recordedAt?: Date | Timestamp;
}

/** Thrown by {@link eventPayload} for an envelope with no payload case set: skip such events. */
export class NoPayloadError extends Error {
  override readonly name = "NoPayloadError";
  constructor(readonly event: Event) {
    super(`event "${event.eventId}" of type "${event.eventType}" has no payload case known to this build`);
  }
}

const payloadOneof = EventSchema.oneofs.find((oneof) => oneof.name === "payload");
if (payloadOneof === undefined) {
  throw new Error("cqc.events.v1.Event has no oneof payload");
}
/** The payload case of each event message, by the message's full name. */
const payloadFields = new Map<string, DescField>(
  payloadOneof.fields.flatMap((field) => (field.message === undefined ? [] : [[field.message.typeName, field]])),
);
/** Every message reachable from an event message, by full name (to walk partition key paths). */
const payloadDescs = new Map<string, DescMessage>();
function collectDescs(desc: DescMessage): void {
  if (payloadDescs.has(desc.typeName)) {
    return;
  }
  payloadDescs.set(desc.typeName, desc);
  for (const f of desc.fields) {
    if (f.message !== undefined) {
      collectDescs(f.message);
    }
  }
}
for (const field of payloadFields.values()) {
  collectDescs(field.message!);
}

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

function toTimestamp(value: Date | Timestamp): Timestamp {
  return value instanceof Date ? timestampFromDate(value) : clone(TimestampSchema, value);
}

/**
 * A new UUIDv7 (RFC 9562 section 5.7), lower case with hyphens: 48 bits of Unix time in milliseconds
 * (`unixMs`, default now), the version 7, 74 random bits and the variant. Ids made later sort after ids
 * made earlier (to the millisecond); `eventId` uses this form.
 */
export function uuid7(unixMs: number = Date.now()): string {
  if (!Number.isInteger(unixMs) || unixMs < 0 || unixMs >= 2 ** 48) {
    throw new RangeError(`unixMs ${unixMs} does not fit the 48-bit UUIDv7 timestamp`);
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes.subarray(6));
  let ms = unixMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10 (RFC 9562)
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function eventField(typeName: string): DescField & { message: DescMessage } {
  const field = payloadFields.get(typeName);
  if (field === undefined || field.message === undefined) {
    throw new TypeError(`${typeName} is not an event of the CQC contract (no cqc.events.v1.Event payload case)`);
  }
  return field as DescField & { message: DescMessage };
}

/**
 * The `(cqc.events.v1.event)` option of the event message type `typeName` (e.g.
 * "cqc.events.v1.OrderPlaced"): its producer, partition key path(s) and lifecycle. Throws a TypeError for
 * a type that is not an event of `Event.payload`.
 */
export function eventOptions(typeName: string): EventOptions {
  return getOption(eventField(typeName).message, eventOption);
}

function fieldPathString(message: Message, path: string): string {
  let value: unknown = message;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null) {
      return "";
    }
    const desc = payloadDescs.get((value as Message).$typeName)?.fields.find((f) => f.name === part);
    if (desc === undefined) {
      return "";
    }
    let next = (value as Record<string, unknown>)[desc.localName];
    if (desc.oneof !== undefined) {
      // A oneof member: the value is on the oneof's ADT when its case is this field.
      const adt = (value as Record<string, { case?: string; value?: unknown }>)[desc.oneof.localName];
      next = adt?.case === desc.localName ? adt.value : undefined;
    }
    value = next;
  }
  return typeof value === "string" ? value : "";
}

/**
 * The partition key of an event message: the value of the first path of its option's `partitionKey` that
 * is set (e.g. `order.account_id` for OrderPlaced); "" when none is.
 */
export function partitionKeyOf(message: Message): string {
  for (const path of eventOptions(message.$typeName).partitionKey) {
    const value = fieldPathString(message, path);
    if (value !== "") {
      return value;
    }
  }
  return "";
}

/**
 * The source of the service producing the event type: "//cqc/" + the option's producer in kebab case,
 * e.g. "//cqc/venue-gateway" for cqc.events.v1.OrderPlaced. Instances append a path to it.
 */
export function producerSource(typeName: string): string {
  return `//cqc/${eventOptions(typeName).producer.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase()}`;
}

/**
 * A new envelope holding `payload` (a copy) in the payload case of its type: `eventId` a new UUIDv7
 * ({@link uuid7}), `eventType` the payload's full proto name, `partitionKey` the payload's key named by its
 * `(cqc.events.v1.event)` option unless given ({@link partitionKeyOf}), `correlationId` the new event id
 * unless given, `recordedAt` now unless given, `schemaVersion` 1. Throws an Error when the payload has no
 * key, when a given `partitionKey` differs from it, or when `source` is not the producer's
 * ({@link producerSource}, optionally followed by "/<instance>"): the envelope's rules would reject it.
 *
 * `sequence` (at least 1) and `sourceVersion` are required, as the envelope's rules require them; with
 * options of the documented forms the result passes `validate(EventSchema, event)`. Throws an Error naming the type when `payload` is not an
 * event message of `cqc.events.v1.Event`.
 */
export function newEvent(payload: Message, options: NewEventOptions): Event {
  const field = eventField(payload.$typeName);
  const key = partitionKeyOf(payload);
  const paths = eventOptions(payload.$typeName).partitionKey.join(", ");
  if (key === "") {
    throw new Error(`${payload.$typeName} has no partition key: ${paths} is empty`);
  }
  if (options.partitionKey && options.partitionKey !== key) {
    throw new Error(`partitionKey "${options.partitionKey}" is not the ${payload.$typeName} key "${key}" (${paths})`);
  }
  const producer = producerSource(payload.$typeName);
  if (options.source !== producer && !options.source.startsWith(`${producer}/`)) {
    throw new Error(`source "${options.source}" is not ${payload.$typeName}'s producer "${producer}"[/<instance>]`);
  }
  const eventId = uuid7();
  const event = create(EventSchema, {
    eventId,
    eventType: payload.$typeName,
    source: options.source,
    sourceVersion: options.sourceVersion,
    occurredAt: toTimestamp(options.occurredAt),
    recordedAt: options.recordedAt === undefined ? timestampNow() : toTimestamp(options.recordedAt),
    subject: options.subject,
    partitionKey: key,
    correlationId: options.correlationId || eventId,
    causationId: options.causationId ?? "",
    schemaVersion: 1,
    sequence: options.sequence,
  });
  // The field's localName is the case name and its message is the payload's schema: the pair is one
  // member of the payload union, which TypeScript cannot see through the lookup.
  event.payload = { case: field.localName, value: clone(field.message, payload) } as Event["payload"];
  return event;
}

/**
 * The message of the populated payload case (its `$typeName` is `eventType`). Throws
 * {@link NoPayloadError} when no case is set: an event from a newer contract that this build does not know
 * decodes that way (skip it, do not fail the stream).
 */
export function eventPayload(event: Event): EventPayload {
  if (event.payload.case === undefined) {
    throw new NoPayloadError(event);
  }
  return event.payload.value;
}

/** `timestamp` in RFC 3339, UTC with "Z", with only the fractional digits needed (none to nine). */
function rfc3339(timestamp: Timestamp | undefined, name: string): string {
  if (timestamp === undefined) {
    throw new Error(`event has no ${name}`);
  }
  const { seconds, nanos } = timestamp;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || nanos < 0 || nanos > 999_999_999 || !Number.isInteger(nanos)) {
    throw new RangeError(`${name} (${seconds}s, ${nanos}ns) is outside the range of google.protobuf.Timestamp`);
  }
  const text = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const fraction = String(nanos).padStart(9, "0").replace(/0+$/, "");
  return fraction === "" ? `${text}Z` : `${text}.${fraction}Z`;
}

/**
 * The CloudEvents 1.0 attributes of `event`, by the mapping documented on `cqc.events.v1.Event`.
 * `dataContentType` says how the CloudEvent's data (the whole Event) is encoded: protobuf binary (the
 * default) or canonical proto JSON. Times are RFC 3339 in UTC with "Z" and only the fractional digits
 * needed ("2024-11-27T08:00:01.02Z"); `partitionkey` is the subject when `partitionKey` is empty;
 * `causationid` is left out when empty. The envelope is mapped as is, not validated, but this throws when
 * `eventId`, `source` or `eventType` is empty, when `occurredAt` or `recordedAt` is unset or outside the
 * Timestamp range, or for another content type.
 */
export function cloudEventAttributes(
  event: Event,
  options: { dataContentType?: DataContentType } = {},
): Record<string, string> {
  const contentType: string = options.dataContentType ?? CONTENT_TYPE_PROTOBUF;
  if (contentType !== CONTENT_TYPE_PROTOBUF && contentType !== CONTENT_TYPE_JSON) {
    throw new Error(`datacontenttype "${contentType}" is not "${CONTENT_TYPE_PROTOBUF}" or "${CONTENT_TYPE_JSON}"`);
  }
  for (const [name, value] of [
    ["event_id", event.eventId],
    ["source", event.source],
    ["event_type", event.eventType],
  ] as const) {
    if (value === "") {
      throw new Error(`event has no ${name}: the CloudEvents attribute it maps to is required`);
    }
  }
  const attributes: Record<string, string> = {
    id: event.eventId,
    source: event.source,
    specversion: "1.0",
    type: event.eventType,
    datacontenttype: contentType,
    dataschema: `urn:cqc:proto:${event.eventType}`,
    subject: event.subject,
    time: rfc3339(event.occurredAt, "occurred_at"),
    partitionkey: event.partitionKey || event.subject,
    sequence: event.sequence.toString(),
    correlationid: event.correlationId,
  };
  if (event.causationId !== "") {
    attributes["causationid"] = event.causationId;
  }
  attributes["recordedtime"] = rfc3339(event.recordedAt, "recorded_at");
  attributes["sourceversion"] = event.sourceVersion;
  attributes["schemaversion"] = String(event.schemaVersion);
  return attributes;
}

/** Event ids an {@link EventStreamTracker} remembers per stream by default: those of the last 1024 applied sequences. */
export const DEFAULT_DEDUP_WINDOW = 1024;

/**
 * What to do with one delivered event, by the ordering rules on `cqc.events.v1.Event`:
 * - "apply": the next event of its stream; apply {@link Decision.released} (the event, then the held
 *   events it unblocked);
 * - "duplicate": its event_id was already applied or is held; acknowledge and drop it (the only drop);
 * - "gap": events before it are missing; it is held until they arrive (or until `resync`);
 * - "reset": a sequence at or below the last applied one with a new event_id, or a second event for a held
 *   position: the producer lost its counter, or the event is older than the de-duplication window.
 *   Re-sync the entity from the producing service, then apply the event (in `released`).
 */
export type StreamAction = "apply" | "duplicate" | "gap" | "reset";

/** An {@link EventStreamTracker}'s answer for one delivered event (or for `resync`). */
export interface Decision {
  /** What the event is. */
  readonly action: StreamAction;
  /** Events to apply now, in order (the event then the held events it unblocked; for "reset" the event). */
  readonly released: readonly Event[];
  /** Held events a reset or resync made obsolete (the re-synced state holds them): acknowledge only. */
  readonly superseded: readonly Event[];
}

interface StreamState {
  last: bigint;
  applied: Array<[bigint, string]>; // (sequence, event_id), oldest first
  appliedIds: Set<string>;
  held: Map<bigint, Event>;
}

/**
 * Applies the ordering and de-duplication rules of `cqc.events.v1.Event` to events in delivery order. A
 * stream is (source, partition_key; the subject when partition_key is empty): several producers writing
 * the same key (the account_id is written by the VenueGateway, the Portfolio and the RiskEngine) are
 * separate streams with their own sequences, so none of their events is taken for a duplicate. A stream
 * never seen starts at position 0 (its next event is sequence 1); a consumer starting from a snapshot calls
 * `resync` first. `window` (at least 1) is how many of the last applied sequences' event ids each stream
 * remembers. In memory only.
 */
export class EventStreamTracker {
  private readonly streams = new Map<string, StreamState>();

  constructor(private readonly window: number = DEFAULT_DEDUP_WINDOW) {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`window must be an integer of at least 1, got ${window}`);
    }
  }

  /** The stream of `event`: [source, partition_key or subject]. */
  static streamOf(event: Event): [string, string] {
    return [event.source, event.partitionKey || event.subject];
  }

  private stream(source: string, partitionKey: string): StreamState {
    const id = JSON.stringify([source, partitionKey]);
    let state = this.streams.get(id);
    if (state === undefined) {
      state = { last: 0n, applied: [], appliedIds: new Set(), held: new Map() };
      this.streams.set(id, state);
    }
    return state;
  }

  private remember(state: StreamState, event: Event): void {
    state.last = event.sequence;
    state.applied.push([event.sequence, event.eventId]);
    state.appliedIds.add(event.eventId);
    const window = BigInt(this.window);
    while (state.applied.length > 0 && (state.applied.length > this.window || state.applied[0]![0] <= state.last - window)) {
      state.appliedIds.delete(state.applied.shift()![1]);
    }
  }

  private drain(state: StreamState): Event[] {
    const released: Event[] = [];
    for (let next = state.held.get(state.last + 1n); next !== undefined; next = state.held.get(state.last + 1n)) {
      state.held.delete(state.last + 1n);
      this.remember(state, next);
      released.push(next);
    }
    return released;
  }

  private takeHeld(state: StreamState, keep: (sequence: bigint) => boolean): Event[] {
    const sequences = [...state.held.keys()].filter(keep).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return sequences.map((sequence) => {
      const event = state.held.get(sequence)!;
      state.held.delete(sequence);
      return event;
    });
  }

  /** Classifies the next delivered event of its stream (see {@link StreamAction}). */
  offer(event: Event): Decision {
    const [source, key] = EventStreamTracker.streamOf(event);
    const state = this.stream(source, key);
    const heldIds = new Set([...state.held.values()].map((held) => held.eventId));
    if (state.appliedIds.has(event.eventId) || heldIds.has(event.eventId)) {
      return { action: "duplicate", released: [], superseded: [] };
    }
    if (event.sequence === state.last + 1n) {
      this.remember(state, event);
      return { action: "apply", released: [event, ...this.drain(state)], superseded: [] };
    }
    if (event.sequence > state.last + 1n && !state.held.has(event.sequence)) {
      state.held.set(event.sequence, event);
      return { action: "gap", released: [], superseded: [] };
    }
    const superseded = this.takeHeld(state, () => true);
    this.remember(state, event);
    return { action: "reset", released: [event], superseded };
  }

  /**
   * Sets the stream's position to `sequence` after the consumer loaded the entity's state as of that
   * position from the producing service (a snapshot, or the re-sync after a gap timeout or a reset).
   * Returns, as an "apply" decision, the held events above `sequence` that now follow without a gap, and
   * as `superseded` the held events at or below it (the state already holds them).
   */
  resync(source: string, partitionKey: string, sequence: bigint): Decision {
    if (sequence < 0n) {
      throw new RangeError(`sequence must not be negative, got ${sequence}`);
    }
    const state = this.stream(source, partitionKey);
    const superseded = this.takeHeld(state, (held) => held <= sequence);
    state.last = sequence;
    return { action: "apply", released: this.drain(state), superseded };
  }

  /** The last applied sequence of the stream (0n when nothing was applied). */
  position(source: string, partitionKey: string): bigint {
    return this.streams.get(JSON.stringify([source, partitionKey]))?.last ?? 0n;
  }

  /** The sequences held behind a gap in the stream, ascending. */
  held(source: string, partitionKey: string): bigint[] {
    const state = this.streams.get(JSON.stringify([source, partitionKey]));
    return state === undefined ? [] : [...state.held.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
