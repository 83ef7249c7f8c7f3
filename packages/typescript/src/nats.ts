/**
 * Publishing and consuming `cqc.events.v1.Event` envelopes on NATS JetStream, by the binding documented in
 * proto/cqc/events/README.md, "Transport: NATS JetStream". Python (`cqc.nats`) and Go (`cqcnats`) implement
 * the same binding; `nox -s events` holds the three together. Needs the optional peer dependencies
 * `@nats-io/jetstream` (and a transport, e.g. `@nats-io/transport-node`, to connect).
 *
 * - subject: `<event_type>.<partition key token>` ({@link subjectFor}; key characters outside
 *   `[A-Za-z0-9_-]` are written `~XX`);
 * - streams: `CQC_EVENTS` for every event (`cqc.events.v1.>`), `CQC_DEADLETTER` (`cqc.deadletter.v1.>`);
 * - headers: CloudEvents binary mode (`ce-*` from {@link cloudEventAttributes}), `Content-Type`
 *   `application/protobuf` or `application/json`, `Nats-Msg-Id` = event_id;
 * - {@link Publisher}: publish with a broker ack and bounded retry, the same `Nats-Msg-Id` each time;
 * - {@link Consumer}: durable, explicit ack; ordering, gaps and de-duplication by {@link EventStreamTracker};
 *   positions persisted by a {@link StateStore}; undecodable or invalid events go to the dead-letter subject
 *   with the reason, then are acked.
 */
import { fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/nats-core";
import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import {
  CONTENT_TYPE_JSON,
  CONTENT_TYPE_PROTOBUF,
  cloudEventAttributes,
  type DataContentType,
  DEFAULT_DEDUP_WINDOW,
  EventStreamTracker,
} from "./events.js";
import { fastFromBinary } from "./fast-decode.js";
import { type Event, EventSchema } from "./gen/cqc/events/v1/envelope_pb.js";
import { violations } from "./validation.js";

export const SUBJECT_PREFIX = "cqc.events.v1";
export const DEADLETTER_PREFIX = "cqc.deadletter.v1";
export const EVENTS_STREAM = "CQC_EVENTS";
export const DEADLETTER_STREAM = "CQC_DEADLETTER";
const NANOS_PER_SECOND = 1_000_000_000;
export const EVENTS_MAX_AGE_S = 7 * 24 * 3600;
export const DEADLETTER_MAX_AGE_S = 30 * 24 * 3600;
export const DUPLICATE_WINDOW_S = 600;
export const PUBLISH_ATTEMPTS = 5;

const knownTypes = new Set(
  EventSchema.oneofs
    .find((o) => o.name === "payload")!
    .fields.flatMap((f) => (f.message === undefined ? [] : [f.message.typeName])),
);

/** The partition key as one subject token: `[A-Za-z0-9_-]` kept, other UTF-8 bytes `~XX`; "" is `_`. */
export function keyToken(key: string): string {
  if (key === "") {
    return "_";
  }
  let out = "";
  for (const byte of new TextEncoder().encode(key)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The subject of an event: its event_type, ".", and {@link keyToken} of its partition key (or subject). */
export function subjectFor(event: Event): string {
  return `${event.eventType}.${keyToken(event.partitionKey || event.subject)}`;
}

/** `cqc.deadletter.v1.<EventType>`, or `...undecodable` when the type is unknown. */
export function deadletterSubject(eventType: string): string {
  const name = eventType.startsWith(`${SUBJECT_PREFIX}.`) ? eventType.slice(SUBJECT_PREFIX.length + 1) : "";
  return `${DEADLETTER_PREFIX}.${/^[A-Z][A-Za-z0-9]*$/.test(name) ? name : "undecodable"}`;
}

/** The headers of an event: `ce-<attribute>` but datacontenttype (`Content-Type`), `Nats-Msg-Id` = event_id. */
export function eventHeaders(event: Event, contentType: DataContentType = CONTENT_TYPE_PROTOBUF): MsgHdrs {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(cloudEventAttributes(event, { dataContentType: contentType }))) {
    h.set(name === "datacontenttype" ? "Content-Type" : `ce-${name}`, value);
  }
  h.set("Nats-Msg-Id", event.eventId);
  return h;
}

/** The message data: the whole Event in protobuf binary or canonical proto JSON. */
export function encodeEvent(event: Event, contentType: DataContentType = CONTENT_TYPE_PROTOBUF): Uint8Array {
  return contentType === CONTENT_TYPE_JSON
    ? new TextEncoder().encode(toJsonString(EventSchema, event))
    : toBinary(EventSchema, event);
}

/** Decodes message data by its Content-Type (protobuf when absent); throws when it does not decode. */
export function decodeEvent(data: Uint8Array, contentType: string | undefined): Event {
  if (contentType === CONTENT_TYPE_JSON) {
    return fromJsonString(EventSchema, new TextDecoder("utf-8", { fatal: true }).decode(data), {
      ignoreUnknownFields: true,
    });
  }
  if (contentType !== undefined && contentType !== "" && contentType !== CONTENT_TYPE_PROTOBUF) {
    throw new Error(`unsupported Content-Type "${contentType}"`);
  }
  return fastFromBinary(EventSchema, data); // exactly fromBinary's result, faster (src/fast-decode.ts)
}

/** Creates or updates CQC_EVENTS and CQC_DEADLETTER (file storage, limits retention). */
export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  for (const [name, subject, maxAge] of [
    [EVENTS_STREAM, `${SUBJECT_PREFIX}.>`, EVENTS_MAX_AGE_S],
    [DEADLETTER_STREAM, `${DEADLETTER_PREFIX}.>`, DEADLETTER_MAX_AGE_S],
  ] as const) {
    const config = {
      name,
      subjects: [subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: maxAge * NANOS_PER_SECOND,
      duplicate_window: DUPLICATE_WINDOW_S * NANOS_PER_SECOND,
      num_replicas: 1,
    };
    try {
      await jsm.streams.info(name);
      await jsm.streams.update(name, config);
    } catch {
      await jsm.streams.add(config);
    }
  }
}

/** Publishes events with a JetStream ack and bounded retry (the same Nats-Msg-Id each time). */
export class Publisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly options: { contentType?: DataContentType; attempts?: number; backoffMs?: number } = {},
  ) {}

  /** Publishes one event; resolves to whether the broker had already stored it (a duplicate). */
  async publish(event: Event): Promise<boolean> {
    const contentType = this.options.contentType ?? CONTENT_TYPE_PROTOBUF;
    const attempts = Math.max(1, this.options.attempts ?? PUBLISH_ATTEMPTS);
    let delay = this.options.backoffMs ?? 200;
    const data = encodeEvent(event, contentType);
    const headers = eventHeaders(event, contentType);
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.js.publish(subjectFor(event), data, { headers, msgID: event.eventId });
        return ack.duplicate;
      } catch (error) {
        if (attempt >= attempts) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }
}

/** What a consumer persists: per stream ("source|partition_key") the last sequence and recent ids. */
export interface ConsumerState {
  streams: Record<string, { last: number; ids: string[] }>;
  extra: Record<string, unknown>;
}

/** Loads and saves a consumer's state; `save` runs after the handler and before the ack. */
export interface StateStore {
  load(): ConsumerState;
  save(state: ConsumerState): void;
}

/** Keeps the state in memory (tests, benchmarks). */
export class MemoryStateStore implements StateStore {
  private state: ConsumerState = { streams: {}, extra: {} };
  load(): ConsumerState {
    return structuredClone(this.state);
  }
  save(state: ConsumerState): void {
    this.state = structuredClone(state);
  }
}

/** Keeps the state in one JSON file, replaced atomically (write, fsync, rename) on every save. */
export class FileStateStore implements StateStore {
  constructor(readonly path: string) {}
  load(): ConsumerState {
    try {
      return JSON.parse(readFileSync(this.path, "utf8")) as ConsumerState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        return { streams: {}, extra: {} };
      }
      throw error;
    }
  }
  save(state: ConsumerState): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
  }
}

/** What a consumer saw. */
export interface ConsumerCounts {
  delivered: number;
  redelivered: number;
  applied: number;
  duplicates: number;
  gaps: number;
  resets: number;
  dead_lettered: number;
  unknown: number;
}

/** Options of a {@link Consumer}. */
export interface ConsumerOptions {
  store?: StateStore;
  filterSubject?: string;
  ackWaitMs?: number;
  onReset?: (event: Event) => void;
}

/**
 * A durable pull consumer of the events stream with explicit ack, step for step like Python's
 * `cqc.nats.Consumer`: dead-letter (undecodable or invalid), skip unknown (newer) events, drop duplicates
 * by event_id, apply in order per stream, hold gaps unacked, reset via `onReset`; save then ack.
 */
export class Consumer {
  readonly counts: ConsumerCounts = {
    delivered: 0,
    redelivered: 0,
    applied: 0,
    duplicates: 0,
    gaps: 0,
    resets: 0,
    dead_lettered: 0,
    unknown: 0,
  };
  private readonly tracker = new EventStreamTracker();
  private readonly state: ConsumerState;
  private readonly ids = new Set<string>();
  private readonly held = new Map<string, JsMsg>();
  private readonly store: StateStore;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly durable: string,
    private readonly handler: (event: Event) => void | Promise<void>,
    private readonly options: ConsumerOptions = {},
  ) {
    this.store = options.store ?? new MemoryStateStore();
    this.state = this.store.load();
    this.state.streams ??= {};
    this.state.extra ??= {};
    for (const [name, stream] of Object.entries(this.state.streams)) {
      const at = name.indexOf("|");
      this.tracker.resync(name.slice(0, at), name.slice(at + 1), BigInt(stream.last));
      for (const id of stream.ids) {
        this.ids.add(id);
      }
    }
  }

  /** Application data saved with the positions (in the same atomic save). */
  get extra(): Record<string, unknown> {
    return this.state.extra;
  }

  private remember(event: Event): void {
    const [source, key] = EventStreamTracker.streamOf(event);
    const name = `${source}|${key}`;
    const stream = (this.state.streams[name] ??= { last: 0, ids: [] });
    stream.ids.push(event.eventId);
    if (stream.ids.length > DEFAULT_DEDUP_WINDOW) {
      this.ids.delete(stream.ids.shift()!);
    }
    stream.last = Number(this.tracker.position(source, key));
    this.ids.add(event.eventId);
  }

  private async deadletter(msg: JsMsg, reason: string, eventType: string): Promise<void> {
    const h = natsHeaders();
    for (const [name, values] of msg.headers ?? []) {
      if (name.startsWith("ce-") || name === "Content-Type") {
        for (const value of values) {
          h.append(name, value);
        }
      }
    }
    h.set("CQC-Deadletter-Reason", reason.slice(0, 1024).replace(/[\r\n]/g, " "));
    h.set("CQC-Deadletter-Subject", msg.subject);
    const id = msg.headers?.get("Nats-Msg-Id");
    await this.js.publish(deadletterSubject(eventType), msg.data, {
      headers: h,
      ...(id ? { msgID: `dl-${id}` } : {}),
    });
    this.counts.dead_lettered++;
    msg.ack();
  }

  /** Processes one delivered message. */
  async handle(msg: JsMsg): Promise<void> {
    this.counts.delivered++;
    if (msg.redelivered) {
      this.counts.redelivered++;
    }
    let event: Event;
    try {
      event = decodeEvent(msg.data, msg.headers?.get("Content-Type") || undefined);
    } catch (error) {
      await this.deadletter(msg, `undecodable: ${String(error)}`, msg.headers?.get("ce-type") ?? "");
      return;
    }
    if (event.payload.case === undefined && event.eventId !== "" && !knownTypes.has(event.eventType)) {
      this.counts.unknown++;
      msg.ack();
      return;
    }
    const found = violations(EventSchema, event);
    if (found.length > 0) {
      const reason = found.map((v) => `${v.field}: ${v.message} [${v.ruleId}]`).join("; ");
      await this.deadletter(msg, `invalid: ${reason}`, event.eventType);
      return;
    }
    if (this.ids.has(event.eventId)) {
      this.counts.duplicates++;
      msg.ack();
      return;
    }
    const decision = this.tracker.offer(event);
    if (decision.action === "duplicate") {
      if (this.held.has(event.eventId)) {
        this.held.set(event.eventId, msg);
      } else {
        this.counts.duplicates++;
        msg.ack();
      }
      return;
    }
    if (decision.action === "gap") {
      this.counts.gaps++;
      this.held.set(event.eventId, msg);
      return;
    }
    if (decision.action === "reset") {
      this.counts.resets++;
      this.options.onReset?.(event);
    }
    for (const e of decision.released) {
      await this.handler(e);
      this.remember(e);
      this.counts.applied++;
    }
    this.store.save(this.state);
    for (const e of [...decision.superseded, ...decision.released]) {
      const h = this.held.get(e.eventId);
      if (h !== undefined) {
        this.held.delete(e.eventId);
        h.ack();
      } else if (e.eventId === event.eventId) {
        msg.ack();
      }
    }
  }

  /** Fetches and handles messages until none arrived for `idleMs`. */
  async run(idleMs = 1000): Promise<void> {
    await this.jsm.consumers.add(EVENTS_STREAM, {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (this.options.ackWaitMs ?? 30_000) * 1_000_000,
      filter_subject: this.options.filterSubject ?? `${SUBJECT_PREFIX}.>`,
      max_ack_pending: 10_000,
    });
    const consumer = await this.js.consumers.get(EVENTS_STREAM, this.durable);
    for (;;) {
      const messages = await consumer.fetch({ max_messages: 256, expires: Math.max(idleMs, 1000) });
      let n = 0;
      for await (const msg of messages) {
        n++;
        await this.handle(msg);
      }
      if (n === 0) {
        return;
      }
    }
  }
}
