"""The Python executor of `nox -s events` (tools/events.py owns the cases and the report): a thin CLI over
cqc.nats. The Go (packages/go/internal/cmd/cqc-events-exec) and TypeScript
(packages/typescript/test/events/exec.ts) executors take the same arguments and write the same output.

  publish --url U --lang L --from I --count N --content-type T --out FILE
      event i (I <= i < I+N) wraps the payload of example i mod k of testdata/examples/cqc.events.v1.Event
      (sorted by name) in new_event(source = producer + "/exec-" + L, sequence = 1 + the number of events
      j < i of the same stream (producer, partition key)); FILE gets one
      JSON line per event: id, source, key, seq, duplicate, data (base64 protobuf).
  replay --url U --in FILE --content-type T          publishes FILE's events again (same event ids)
  consume --url U --durable D --state FILE --idle S --ack-wait S [--die-after N]
      consumes into FILE's "extra.applied" (id, source, key, seq) until idle; --die-after exits the process
      (status 137, nothing flushed) when the (N+1)th event of this run reaches the handler.
Every command prints one JSON line of counts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cqc.envelope import new_event, partition_key_of, payload, producer_source
from cqc.events.v1.envelope_pb2 import Event
from cqc.nats import (
    EVENTS_STREAM,
    Consumer,
    FileStateStore,
    Publisher,
    connect,
    ensure_streams,
)
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "testdata" / "examples" / "cqc.events.v1.Event"


def examples() -> list[Event]:
    return [
        json_format.Parse(p.read_text(), Event(), ignore_unknown_fields=True) for p in sorted(EXAMPLES.glob("*.json"))
    ]


async def publish(args: argparse.Namespace) -> dict[str, Any]:
    client, js = await connect(args.url)
    await ensure_streams(js)
    publisher = Publisher(js, content_type=args.content_type)
    found = examples()
    duplicates = 0
    # The stream (producer, key) of each example; event i's sequence counts the earlier events of its stream.
    streams = [(producer_source(payload(e)), partition_key_of(payload(e))) for e in found]
    with open(args.out, "w") as out:
        for i in range(args.start, args.start + args.count):
            example = found[i % len(found)]
            body = payload(example)
            sequence = 1 + sum(streams[j % len(found)] == streams[i % len(found)] for j in range(i))
            event = new_event(
                body,
                source=producer_source(body) + "/exec-" + args.lang,
                subject=example.subject,
                occurred_at=example.occurred_at,
                sequence=sequence,
                source_version="1.0.0",
            )
            duplicate = await publisher.publish(event)
            duplicates += duplicate
            line = {
                "id": event.event_id,
                "source": event.source,
                "key": event.partition_key,
                "seq": event.sequence,
                "duplicate": duplicate,
                "data": base64.b64encode(event.SerializeToString()).decode(),
            }
            out.write(json.dumps(line) + "\n")
    await client.close()
    return {"published": args.count, "duplicates": duplicates}


async def replay(args: argparse.Namespace) -> dict[str, Any]:
    client, js = await connect(args.url)
    publisher = Publisher(js, content_type=args.content_type)
    count = duplicates = 0
    for line in Path(args.input).read_text().splitlines():
        event = Event.FromString(base64.b64decode(json.loads(line)["data"]))
        duplicates += await publisher.publish(event)
        count += 1
    await client.close()
    return {"published": count, "duplicates": duplicates}


async def consume(args: argparse.Namespace) -> dict[str, Any]:
    client, js = await connect(args.url)
    seen = 0

    consumer: Consumer

    def handler(event: Event) -> None:
        nonlocal seen
        if args.die_after is not None and seen == args.die_after:
            os._exit(137)  # a crash: nothing saved, nothing acked, nothing flushed
        seen += 1
        consumer.extra.setdefault("applied", []).append(
            [event.event_id, event.source, event.partition_key, event.sequence]
        )

    consumer = Consumer(
        js, args.durable, handler, store=FileStateStore(Path(args.state)), ack_wait=args.ack_wait
    )
    # Until drained: nothing pending and nothing awaiting an ack (a killed run's deliveries come back after
    # ack-wait), bounded by 60 s.
    deadline = time.monotonic() + 60
    while True:
        await consumer.run(idle=args.idle)
        await client.flush()
        info = await js.consumer_info(EVENTS_STREAM, args.durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"not drained after 60 s: {info.num_pending} pending, {info.num_ack_pending} unacked")
    await client.close()
    return {"counts": consumer.counts.__dict__}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Events/s published (with ack) and consumed (decode, validate, order, apply, ack) vs a bytes-only payload
    of the same size, published and consumed with ack on the same broker (stream CQC_BENCH_RAW)."""
    from nats.js.api import StreamConfig

    client, js = await connect(args.url)
    await ensure_streams(js)
    await js.add_stream(StreamConfig(name="CQC_BENCH_RAW_" + args.lang, subjects=[f"cqcbench.{args.lang}.>"]))
    example = examples()[0]
    body = payload(example)
    source = producer_source(body) + "/bench-" + args.lang
    events = [
        new_event(body, source=source, subject=example.subject, occurred_at=example.occurred_at, sequence=i + 1,
                  source_version="1.0.0")
        for i in range(args.count)
    ]
    publisher = Publisher(js)
    began = time.perf_counter()
    for event in events:
        await publisher.publish(event)
    pub = args.count / (time.perf_counter() - began)
    size = len(events[0].SerializeToString())
    consumer = Consumer(js, "bench-" + args.lang, lambda e: None, filter_subject=f"cqc.events.v1.*.{events[0].partition_key}")
    began = time.perf_counter()
    await consumer.run(idle=0.3)
    con = consumer.counts.applied / (time.perf_counter() - began - 0.3)
    raw = os.urandom(size)
    began = time.perf_counter()
    for i in range(args.count):
        await js.publish(f"cqcbench.{args.lang}.k", raw, headers={"Nats-Msg-Id": f"raw-{i}"})
    raw_pub = args.count / (time.perf_counter() - began)
    sub = await js.pull_subscribe(f"cqcbench.{args.lang}.>", durable="raw-" + args.lang)
    got = 0
    began = time.perf_counter()
    while got < args.count:
        for msg in await sub.fetch(min(256, args.count - got), timeout=5):
            await msg.ack()
            got += 1
    raw_con = got / (time.perf_counter() - began)
    await client.close()
    return {"size": size, "events_published_s": pub, "events_consumed_s": con, "raw_published_s": raw_pub,
            "raw_consumed_s": raw_con, "applied": consumer.counts.applied}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--url", required=True)
    p.add_argument("--lang", required=True)
    p.add_argument("--from", dest="start", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--content-type", default="application/protobuf")
    p.add_argument("--out", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--url", required=True)
    r.add_argument("--in", dest="input", required=True)
    r.add_argument("--content-type", default="application/protobuf")
    c = sub.add_parser("consume")
    c.add_argument("--url", required=True)
    c.add_argument("--durable", required=True)
    c.add_argument("--state", required=True)
    c.add_argument("--idle", type=float, default=1.0)
    c.add_argument("--ack-wait", type=float, default=1.0)
    c.add_argument("--die-after", type=int)
    b = sub.add_parser("bench")
    b.add_argument("--url", required=True)
    b.add_argument("--lang", required=True)
    b.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    commands = {"publish": publish, "replay": replay, "consume": consume, "bench": bench}
    result = asyncio.run(commands[args.command](args))
    print(json.dumps(result), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
