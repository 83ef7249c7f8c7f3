/**
 * The TypeScript executor of `nox -s events` (tools/events.py owns the cases and the report): a thin CLI over
 * `@crypto-quant/cqc/nats` with the same commands, arguments and output as the Python executor
 * tools/events_exec.py (read its docstring). Run: node --import tsx test/events/exec.ts <command> ...
 */
import { fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { eventPayload, newEvent, partitionKeyOf, producerSource } from "../../src/events.js";
import { type Event, EventSchema } from "../../src/gen/cqc/events/v1/envelope_pb.js";
import { Consumer, EVENTS_STREAM, ensureStreams, FileStateStore, Publisher } from "../../src/nats.js";
import type { DataContentType } from "../../src/events.js";

const command = process.argv[2];
const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    url: { type: "string" },
    lang: { type: "string", default: "ts" },
    from: { type: "string", default: "0" },
    count: { type: "string", default: "0" },
    "content-type": { type: "string", default: "application/protobuf" },
    out: { type: "string" },
    in: { type: "string" },
    durable: { type: "string" },
    state: { type: "string" },
    idle: { type: "string", default: "1" },
    "ack-wait": { type: "string", default: "1" },
    "die-after": { type: "string" },
    examples: { type: "string", default: "../../testdata/examples/cqc.events.v1.Event" },
  },
});
const nc = await connect({ servers: values.url! });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const publisher = new Publisher(js, { contentType: values["content-type"] as DataContentType });

function typeName(event: Event): string {
  return eventPayload(event).$typeName;
}

if (command === "publish") {
  await ensureStreams(jsm);
  const dir = values.examples!;
  const found = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => fromJsonString(EventSchema, readFileSync(join(dir, f), "utf8"), { ignoreUnknownFields: true }));
  const streams = found.map((e) => `${producerSource(typeName(e))}|${partitionKeyOf(eventPayload(e))}`);
  const start = Number(values.from);
  const count = Number(values.count);
  const lines: string[] = [];
  let duplicates = 0;
  for (let i = start; i < start + count; i++) {
    const example = found[i % found.length]!;
    let sequence = 1n;
    for (let j = 0; j < i; j++) {
      if (streams[j % found.length] === streams[i % found.length]) {
        sequence++;
      }
    }
    const event = newEvent(eventPayload(example), {
      source: `${producerSource(typeName(example))}/exec-${values.lang}`,
      subject: example.subject,
      occurredAt: example.occurredAt!,
      sequence,
      sourceVersion: "1.0.0",
    });
    const duplicate = await publisher.publish(event);
    duplicates += duplicate ? 1 : 0;
    lines.push(
      JSON.stringify({
        id: event.eventId,
        source: event.source,
        key: event.partitionKey,
        seq: Number(event.sequence),
        duplicate,
        data: Buffer.from(toBinary(EventSchema, event)).toString("base64"),
      }),
    );
  }
  writeFileSync(values.out!, lines.map((l) => `${l}\n`).join(""));
  console.log(JSON.stringify({ published: count, duplicates }));
} else if (command === "replay") {
  let count = 0;
  let duplicates = 0;
  for (const line of readFileSync(values.in!, "utf8").split("\n").filter(Boolean)) {
    const event = fromBinary(EventSchema, Buffer.from((JSON.parse(line) as { data: string }).data, "base64"));
    duplicates += (await publisher.publish(event)) ? 1 : 0;
    count++;
  }
  console.log(JSON.stringify({ published: count, duplicates }));
} else if (command === "consume") {
  const dieAfter = values["die-after"] === undefined ? -1 : Number(values["die-after"]);
  let seen = 0;
  const consumer: Consumer = new Consumer(
    js,
    jsm,
    values.durable!,
    (event) => {
      if (seen === dieAfter) {
        process.exit(137); // a crash: nothing saved, nothing acked
      }
      seen++;
      const applied = (consumer.extra["applied"] ??= []) as unknown[];
      applied.push([event.eventId, event.source, event.partitionKey, Number(event.sequence)]);
    },
    { store: new FileStateStore(values.state!), ackWaitMs: Number(values["ack-wait"]) * 1000 },
  );
  // Until drained: nothing pending and nothing awaiting an ack, bounded by 60 s.
  const deadline = Date.now() + 60_000;
  for (;;) {
    await consumer.run(Number(values.idle) * 1000);
    await nc.flush();
    const info = await jsm.consumers.info(EVENTS_STREAM, values.durable!);
    if (info.num_pending === 0 && info.num_ack_pending === 0) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`not drained after 60 s: ${info.num_pending} pending, ${info.num_ack_pending} unacked`);
    }
  }
  console.log(JSON.stringify({ counts: consumer.counts }));
} else if (command === "bench") {
  // Events/s published (with ack) and consumed (decode, validate, order, apply, ack) vs a bytes-only
  // payload of the same size, published and consumed with ack on the same broker.
  await ensureStreams(jsm);
  const lang = values.lang!;
  const count = Number(values.count);
  await jsm.streams.add({ name: `CQC_BENCH_RAW_${lang}`, subjects: [`cqcbench.${lang}.>`] });
  const dir = values.examples!;
  const first = readdirSync(dir).filter((f) => f.endsWith(".json")).sort()[0]!;
  const example = fromJsonString(EventSchema, readFileSync(join(dir, first), "utf8"), { ignoreUnknownFields: true });
  const source = `${producerSource(typeName(example))}/bench-${lang}`;
  const events = Array.from({ length: count }, (_, i) =>
    newEvent(eventPayload(example), {
      source,
      subject: example.subject,
      occurredAt: example.occurredAt!,
      sequence: BigInt(i + 1),
      sourceVersion: "1.0.0",
    }),
  );
  let began = performance.now();
  for (const e of events) {
    await publisher.publish(e);
  }
  const pub = count / ((performance.now() - began) / 1000);
  const size = toBinary(EventSchema, events[0]!).length;
  const consumer = new Consumer(js, jsm, `bench-${lang}`, () => {}, {
    filterSubject: `cqc.events.v1.*.${events[0]!.partitionKey}`,
  });
  began = performance.now();
  await consumer.run(300);
  const con = consumer.counts.applied / ((performance.now() - began) / 1000 - 1.0);
  const raw = new Uint8Array(size);
  began = performance.now();
  for (let i = 0; i < count; i++) {
    await js.publish(`cqcbench.${lang}.k`, raw, { msgID: `raw-${i}` });
  }
  const rawPub = count / ((performance.now() - began) / 1000);
  await jsm.consumers.add(`CQC_BENCH_RAW_${lang}`, { durable_name: `raw-${lang}`, ack_policy: AckPolicy.Explicit });
  const c = await js.consumers.get(`CQC_BENCH_RAW_${lang}`, `raw-${lang}`);
  let got = 0;
  began = performance.now();
  while (got < count) {
    for await (const m of await c.fetch({ max_messages: Math.min(256, count - got), expires: 5000 })) {
      m.ack();
      got++;
    }
  }
  const rawCon = got / ((performance.now() - began) / 1000);
  console.log(
    JSON.stringify({
      size,
      events_published_s: pub,
      events_consumed_s: con,
      raw_published_s: rawPub,
      raw_consumed_s: rawCon,
      applied: consumer.counts.applied,
    }),
  );
} else {
  throw new Error(`unknown command ${command}`);
}
await nc.close();
