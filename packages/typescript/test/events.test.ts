// The events helpers: the shared cases of testdata/helpers/ (events-cases.json, event-stream-cases.json), and
// newEvent for every event type.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { create, equals, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AssetSchema } from "../src/gen/cqc/assets/v1/index.js";
import { AssetCreatedSchema, type Event, EventSchema, OrderPlacedSchema } from "../src/gen/cqc/events/v1/index.js";
import { OrderSchema } from "../src/gen/cqc/venues/v1/index.js";
import {
  CONTENT_TYPE_PROTOBUF,
  cloudEventAttributes,
  type DataContentType,
  eventOptions,
  eventPayload,
  EventStreamTracker,
  newEvent,
  NoPayloadError,
  partitionKeyOf,
  producerSource,
  uuid7,
} from "../src/events.js";
import { messageSchema } from "../src/registry.js";
import { validate } from "../src/validation.js";

const testdata = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "testdata");
const examples = join(testdata, "examples");
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface EventCase {
  name: string;
  example: string;
  patch?: Record<string, JsonValue>;
  datacontenttype?: string;
  error?: boolean;
  attributes?: Record<string, string>;
  payload: string | null;
}

const cases = (JSON.parse(readFileSync(join(testdata, "helpers", "events-cases.json"), "utf8")) as { cases: EventCase[] })
  .cases;

function readJson(path: string): JsonValue {
  return JSON.parse(readFileSync(path, "utf8")) as JsonValue;
}

/** The case's example envelope with its patch applied (top-level keys; null removes a key). */
function caseEvent(c: EventCase): Event {
  const data = readJson(join(examples, "cqc.events.v1.Event", c.example)) as Record<string, JsonValue>;
  for (const [key, value] of Object.entries(c.patch ?? {})) {
    if (value === null) {
      delete data[key];
    } else {
      data[key] = value;
    }
  }
  return fromJson(EventSchema, data);
}

const payloadFields = EventSchema.oneofs.find((o) => o.name === "payload")?.fields ?? [];
const envelopeExamples = readdirSync(join(examples, "cqc.events.v1.Event")).filter((f) => f.endsWith(".json")).sort();

describe("cloudEventAttributes and eventPayload (events-cases.json)", () => {
  it("covers every envelope example", () => {
    assert.ok(cases.length >= 20);
    assert.deepEqual([...new Set(cases.map((c) => c.example))].sort(), envelopeExamples);
  });

  for (const c of cases) {
    it(c.name, () => {
      const event = caseEvent(c);
      const options = { dataContentType: (c.datacontenttype ?? CONTENT_TYPE_PROTOBUF) as DataContentType };
      if (c.error === true) {
        assert.throws(() => cloudEventAttributes(event, options));
      } else {
        assert.deepEqual(cloudEventAttributes(event, options), c.attributes);
      }
      if (c.payload === null) {
        assert.throws(() => eventPayload(event), NoPayloadError);
      } else {
        assert.equal(eventPayload(event).$typeName, c.payload);
      }
    });
  }

  it("defaults to application/protobuf", () => {
    assert.equal(cloudEventAttributes(caseEvent(cases[0]!))["datacontenttype"], "application/protobuf");
  });

  it("rejects times outside the Timestamp range", () => {
    const event = caseEvent(cases[0]!);
    event.occurredAt!.seconds = 253402300800n; // 10000-01-01
    assert.throws(() => cloudEventAttributes(event), /occurred_at/);
  });
});

describe("newEvent", () => {
  it("has an example for every event type", () => {
    assert.equal(payloadFields.length, 30);
    for (const field of payloadFields) {
      const dir = join(examples, field.message!.typeName);
      assert.ok(readdirSync(dir).some((f) => f.endsWith(".json")), dir);
    }
  });

  for (const field of payloadFields) {
    const typeName = field.message!.typeName;
    const dir = join(examples, typeName);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
      it(`${typeName}/${file}`, () => {
        const schema = messageSchema(typeName);
        const payload = fromJson(schema, readJson(join(dir, file)));
        const occurredAt = new Date();
        const event = newEvent(payload, {
          source: `${producerSource(typeName)}/helper-test`,
          subject: "ast_01JDVSDC000000000000000000",
          occurredAt,
          sequence: 1n,
          sourceVersion: "0.1.0",
        });
        validate(EventSchema, event);
        assert.match(event.eventId, UUID_V7);
        assert.equal(event.eventType, typeName);
        assert.equal(event.payload.case, field.localName);
        assert.equal(event.partitionKey, partitionKeyOf(payload));
        assert.notEqual(event.partitionKey, "");
        assert.equal(event.correlationId, event.eventId);
        assert.equal(event.causationId, "");
        assert.equal(event.schemaVersion, 1);
        assert.equal(timestampDate(event.occurredAt!).getTime(), occurredAt.getTime());
        assert.ok(Math.abs(timestampDate(event.recordedAt!).getTime() - Date.now()) < 10_000);
        const got = eventPayload(event);
        assert.ok(equals(schema, got, payload));
        assert.notEqual(got, payload); // a copy
        assert.equal(cloudEventAttributes(event)["type"], typeName);
      });
    }
  }

  for (const file of envelopeExamples) {
    it(`rebuilds the envelope example ${file}`, () => {
      const example = fromJson(EventSchema, readJson(join(examples, "cqc.events.v1.Event", file)));
      const event = newEvent(eventPayload(example), {
        source: example.source,
        subject: example.subject,
        occurredAt: example.occurredAt!,
        partitionKey: example.partitionKey,
        correlationId: example.correlationId,
        causationId: example.causationId,
        sequence: example.sequence,
        sourceVersion: example.sourceVersion,
        recordedAt: example.recordedAt!,
      });
      validate(EventSchema, event);
      event.eventId = example.eventId;
      if (example.partitionKey === "") {
        assert.equal(event.partitionKey, example.subject);
        event.partitionKey = "";
      }
      assert.ok(equals(EventSchema, event, example));
    });
  }

  it("takes every option, keeping nanoseconds", () => {
    const created = create(AssetCreatedSchema, {
      asset: create(AssetSchema, { assetId: "ast_01JDVSDC000000000000000000" }),
    });
    const occurredAt = { ...timestampFromMs(1_732_093_200_000), nanos: 123_456_789 };
    const event = newEvent(created, {
      source: "//cqc/asset-registry",
      subject: "ast_01JDVSDC000000000000000000",
      occurredAt,
      partitionKey: "ast_01JDVSDC000000000000000000",
      correlationId: "0193499a-2b40-7c11-8e0f-5a1d3c7b9e21",
      causationId: "01972941-a1c3-7e55-b0d2-93f4c6e8a017",
      sequence: 7n,
      sourceVersion: "1.4.2",
      recordedAt: new Date("2024-11-20T10:00:01+01:00"),
    });
    assert.equal(event.payload.case, "assetCreated");
    assert.notEqual(event.occurredAt, occurredAt); // a copy
    assert.deepEqual(
      [event.partitionKey, event.correlationId, event.causationId, event.sequence],
      ["ast_01JDVSDC000000000000000000", "0193499a-2b40-7c11-8e0f-5a1d3c7b9e21", "01972941-a1c3-7e55-b0d2-93f4c6e8a017", 7n],
    );
    const attributes = cloudEventAttributes(event);
    assert.equal(attributes["time"], "2024-11-20T09:00:00.123456789Z");
    assert.equal(attributes["recordedtime"], "2024-11-20T09:00:01Z");
    assert.equal(attributes["causationid"], "01972941-a1c3-7e55-b0d2-93f4c6e8a017");
    const again = newEvent(created, {
      source: "//cqc/asset-registry",
      subject: event.subject,
      occurredAt,
      sequence: 8n,
      sourceVersion: "1.4.2",
    });
    assert.notEqual(again.eventId, event.eventId);
    assert.deepEqual([again.sequence, again.sourceVersion], [8n, "1.4.2"]);
  });

  it("rejects what is not an event, naming the type", () => {
    const options = {
      source: "//cqc/asset-registry",
      subject: "ast_01JDVSDC000000000000000000",
      occurredAt: new Date(),
      sequence: 1n,
      sourceVersion: "1.4.2",
    };
    assert.throws(() => newEvent(create(AssetSchema), options), /cqc\.assets\.v1\.Asset is not an event/);
    assert.throws(() => newEvent(create(EventSchema), options), /cqc\.events\.v1\.Event is not an event/);
  });
});

describe("event options, partition keys and producers", () => {
  it("every event type names its producer, partition key and lifecycle", () => {
    for (const field of payloadFields) {
      const options = eventOptions(field.message!.typeName);
      assert.ok(["AssetRegistry", "MarketData", "VenueGateway", "Portfolio", "RiskEngine"].includes(options.producer));
      assert.ok(options.partitionKey.length > 0 && options.lifecycle !== "", field.message!.typeName);
    }
    assert.equal(producerSource("cqc.events.v1.OrderPlaced"), "//cqc/venue-gateway");
    assert.equal(producerSource("cqc.events.v1.PriceUpdated"), "//cqc/market-data");
    assert.throws(() => eventOptions("cqc.assets.v1.Asset"), /is not an event/);
  });

  it("newEvent refuses a key or a source other than the option's", () => {
    const placed = create(OrderPlacedSchema, {
      order: create(OrderSchema, { accountId: "acc_01JDBNSP0TMA1N000000000000" }),
    });
    const base = {
      subject: "ord_01JDBNGTCBVY00000000000000",
      occurredAt: new Date(),
      sequence: 1n,
      sourceVersion: "1.0.0",
    };
    assert.throws(
      () => newEvent(placed, { ...base, source: "//cqc/venue-gateway", partitionKey: base.subject }),
      /is not the cqc\.events\.v1\.OrderPlaced key/,
    );
    assert.throws(() => newEvent(placed, { ...base, source: "//cqc/portfolio" }), /producer "\/\/cqc\/venue-gateway"/);
    assert.throws(() => newEvent(placed, { ...base, source: "//cqc/venue-gateway-2" }), /producer/);
    assert.throws(
      () => newEvent(create(OrderPlacedSchema), { ...base, source: "//cqc/venue-gateway" }),
      /has no partition key: order\.account_id is empty/,
    );
    const event = newEvent(placed, { ...base, source: "//cqc/venue-gateway/okx" });
    assert.equal(event.partitionKey, "acc_01JDBNSP0TMA1N000000000000");
  });

  it("uuid7 has the RFC 9562 layout and sorts by time", () => {
    const value = uuid7(0x0193a8f26c1e);
    assert.match(value, UUID_V7);
    assert.ok(value.startsWith("0193a8f2-6c1e-7"));
    assert.ok(uuid7(1) < uuid7(2) && uuid7(2) < uuid7());
    assert.equal(new Set(Array.from({ length: 1000 }, () => uuid7(5))).size, 1000);
    assert.match(uuid7(2 ** 48 - 1), UUID_V7);
    assert.throws(() => uuid7(2 ** 48), /48-bit/);
  });
});

interface StreamSpec {
  source: string;
  partition_key: string;
  sequence: number;
}
interface StreamCase {
  name: string;
  window?: number;
  steps: Array<{
    offer?: StreamSpec & { event_id: string };
    resync?: StreamSpec;
    action?: string;
    released: string[];
    superseded?: string[];
  }>;
  positions: StreamSpec[];
  applied: string[];
}

describe("EventStreamTracker (event-stream-cases.json)", () => {
  const streamCases = (readJson(join(testdata, "helpers", "event-stream-cases.json")) as unknown as { cases: StreamCase[] })
    .cases;
  it("has the shared cases", () => assert.ok(streamCases.length >= 10));
  for (const c of streamCases) {
    it(c.name, () => {
      const tracker = new EventStreamTracker(c.window);
      const applied: string[] = [];
      c.steps.forEach((step, index) => {
        let decision;
        if (step.offer !== undefined) {
          decision = tracker.offer(
            create(EventSchema, {
              eventId: step.offer.event_id,
              source: step.offer.source,
              partitionKey: step.offer.partition_key,
              sequence: BigInt(step.offer.sequence),
            }),
          );
          assert.equal(decision.action, step.action, `step ${index}`);
        } else {
          const spec = step.resync!;
          decision = tracker.resync(spec.source, spec.partition_key, BigInt(spec.sequence));
        }
        const released = decision.released.map((e) => e.eventId);
        assert.deepEqual(released, step.released, `step ${index}`);
        assert.deepEqual(
          decision.superseded.map((e) => e.eventId),
          step.superseded ?? [],
          `step ${index}`,
        );
        applied.push(...released);
      });
      assert.deepEqual(applied, c.applied);
      for (const p of c.positions) {
        assert.equal(tracker.position(p.source, p.partition_key), BigInt(p.sequence), `${p.source} ${p.partition_key}`);
      }
    });
  }

  it("keys a stream by the subject when partition_key is empty", () => {
    const tracker = new EventStreamTracker();
    const subject = "pos_01JDBNBTCVSDTPERP10NG00000";
    const event = create(EventSchema, { eventId: "x-1", source: "//cqc/portfolio", subject, sequence: 1n });
    assert.equal(tracker.offer(event).action, "apply");
    assert.equal(tracker.position("//cqc/portfolio", subject), 1n);
    assert.deepEqual(tracker.held("//cqc/portfolio", subject), []);
    assert.throws(() => new EventStreamTracker(0), RangeError);
  });
});
