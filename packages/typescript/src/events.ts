/**
 * Building and reading `cqc.events.v1.Event` envelopes, and their CloudEvents 1.0 attributes. The same
 * helpers, with the same behaviour, exist in Python (`cqc.envelope`) and Go (package `cqc`: `NewEvent`,
 * `EventPayload`, `CloudEventAttributes`); testdata/helpers/events-cases.json holds all three to it.
 */
import { clone, create, type DescField, type Message } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema, timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema } from "./gen/cqc/events/v1/envelope_pb.js";

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
  /** The producing service, "//cqc/<service>[/<instance>]". */
  source: string;
  /** The CQC id of the entity the event is about, e.g. "ast_01JDVSDC000000000000000000". */
  subject: string;
  /** When the event happened at its origin (a Timestamp keeps nanoseconds, a Date milliseconds). */
  occurredAt: Date | Timestamp;
  /** The ordering key; default (or ""): the subject. */
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

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

function toTimestamp(value: Date | Timestamp): Timestamp {
  return value instanceof Date ? timestampFromDate(value) : clone(TimestampSchema, value);
}

/**
 * A new envelope holding `payload` (a copy) in the payload case of its type: `eventId` a new random UUID
 * (version 4, lower case), `eventType` the payload's full proto name, `partitionKey` the subject unless
 * given, `correlationId` the new event id unless given, `recordedAt` now unless given, `schemaVersion` 1.
 *
 * `sequence` (at least 1) and `sourceVersion` are required, as the envelope's rules require them; with
 * options of the documented forms the result passes `validate(EventSchema, event)`. Throws an Error naming the type when `payload` is not an
 * event message of `cqc.events.v1.Event`.
 */
export function newEvent(payload: Message, options: NewEventOptions): Event {
  const field = payloadFields.get(payload.$typeName);
  if (field === undefined || field.message === undefined) {
    throw new TypeError(
      `${payload.$typeName} is not an event of the CQC contract (no cqc.events.v1.Event payload case)`,
    );
  }
  const eventId = crypto.randomUUID();
  const event = create(EventSchema, {
    eventId,
    eventType: payload.$typeName,
    source: options.source,
    sourceVersion: options.sourceVersion,
    occurredAt: toTimestamp(options.occurredAt),
    recordedAt: options.recordedAt === undefined ? timestampNow() : toTimestamp(options.recordedAt),
    subject: options.subject,
    partitionKey: options.partitionKey || options.subject,
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
