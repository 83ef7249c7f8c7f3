"""`nox -s events`: CQC events on a real NATS JetStream server, across Python, Go and TypeScript.

One harness owns the cases and the report; the executors only execute (tools/events_exec.py,
packages/go/internal/cmd/cqc-events-exec, packages/typescript/test/events/exec.ts; same CLI). Steps:

1. Build the pinned nats-server (tools/nats/go.mod, `tool github.com/nats-io/nats-server/v2`) into
   .build/nats-server when missing or when tools/nats/go.sum changed; start it with JetStream on 127.0.0.1
   (ephemeral port, temporary file store).
2. Matrix: each language publishes the same fixed set of events (the payloads of
   testdata/examples/cqc.events.v1.Event, re-wrapped with new_event under its own source; Go publishes
   canonical JSON, Python and TypeScript protobuf); an undecodable message and an invalid event are
   published too.
3. Each language consumes everything with its own durable consumer, killed mid-stream (exit 137 with
   nothing saved, acked or flushed), then restarted: it resumes (durable consumer + persisted positions).
4. The server is restarted on the same store; each publisher re-publishes its first batch (same event
   ids: the broker must report every one a duplicate, its duplicate window survived the restart) while it
   publishes a second batch; each consumer resumes and drains.
6. Checks, per consumer: every published event applied exactly once, per stream (source, partition key) in
   sequence order without gaps; the two bad messages in the dead-letter stream with their reasons.
   Prints the matrix and the counts; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"
NATS_TOOL = ROOT / "tools" / "nats"
NATS_SERVER = BUILD / "nats-server"
GO_EXEC = BUILD / "cqc-events-exec"
LANGS = ("python", "go", "typescript")
SHORT = {"python": "py", "go": "go", "typescript": "ts"}
CONTENT_TYPES = {"python": "application/protobuf", "go": "application/json", "typescript": "application/protobuf"}
BATCH1, BATCH2 = 21, 7  # three and one rounds of the seven example envelopes
DIE_AFTER = {"python": 5, "go": 11, "typescript": 17}
ACK_WAIT = 2.0
GO_ENV = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}


def log(text: str) -> None:
    print(text, flush=True)


def build_nats_server() -> None:
    """Builds the pinned nats-server once (the Go build cache makes a rebuild after a go.sum change fast)."""
    stamp = BUILD / "nats-server.sha256"
    digest = hashlib.sha256((NATS_TOOL / "go.mod").read_bytes() + (NATS_TOOL / "go.sum").read_bytes()).hexdigest()
    if NATS_SERVER.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    BUILD.mkdir(exist_ok=True)
    started = time.monotonic()
    subprocess.run(
        ["go", "build", "-o", str(NATS_SERVER), "github.com/nats-io/nats-server/v2"],
        cwd=NATS_TOOL,
        env=GO_ENV,
        check=True,
    )
    stamp.write_text(digest)
    log(f"built nats-server v2.15.3 in {time.monotonic() - started:.1f} s")


def build_go_exec() -> None:
    subprocess.run(
        ["go", "build", "-o", str(GO_EXEC), "./internal/cmd/cqc-events-exec"],
        cwd=ROOT / "packages" / "go",
        env=GO_ENV,
        check=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """nats-server with JetStream on 127.0.0.1, its store in `store`."""

    def __init__(self, store: Path) -> None:
        self.store, self.port = store, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        logfile = open(self.store.parent / "nats-server.log", "ab")  # noqa: SIM115 (kept open with the process)
        self.proc = subprocess.Popen(
            [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("nats-server did not start within 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


def executor(lang: str, *args: str) -> list[str]:
    if lang == "python":
        return [sys.executable, str(ROOT / "tools" / "events_exec.py"), *args]
    if lang == "go":
        return [str(GO_EXEC), *args]
    return ["node", "--import", "tsx", "test/events/exec.ts", *args]


def cwd(lang: str) -> Path:
    return {"python": ROOT, "go": ROOT / "packages" / "go", "typescript": ROOT / "packages" / "typescript"}[lang]


def run_all(commands: dict[str, list[str]], ok_codes: tuple[int, ...] = (0,)) -> dict[str, dict[str, Any]]:
    """Runs one command per language in parallel (each bounded to 90 s); returns their JSON output."""
    began = time.monotonic()
    procs = {  # keys: a language, or "<language>:<tag>" to run two commands of one language at once
        key: subprocess.Popen(
            executor(key.split(":")[0], *args), cwd=cwd(key.split(":")[0]), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=GO_ENV,
        )
        for key, args in commands.items()
    }
    results: dict[str, dict[str, Any]] = {}
    for lang, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(f"{lang} executor timed out: {commands[lang]}") from None
        if proc.returncode not in ok_codes:
            raise SystemExit(f"{lang} executor failed ({proc.returncode}): {commands[lang]}\n{err.decode()}")
        lines = out.decode().strip().splitlines()
        results[lang] = {"exit": proc.returncode, **(json.loads(lines[-1]) if lines else {})}
    log(f"  {next(iter(commands.values()))[0]:<8} {time.monotonic() - began:5.1f} s")
    return results


async def publish_bad(url: str) -> list[str]:
    """An undecodable message and an event that fails validation, on event subjects."""
    from cqc.events.v1.envelope_pb2 import Event
    from cqc.nats import connect, encode_event, event_headers
    from google.protobuf import json_format

    client, js = await connect(url)
    await js.publish(
        "cqc.events.v1.OrderPlaced.acc_garbage",
        b"\xff\xff\xff not a protobuf Event",
        headers={"Content-Type": "application/protobuf", "Nats-Msg-Id": "bad-undecodable-1"},
    )
    example = ROOT / "testdata" / "examples" / "cqc.events.v1.Event" / "order-placed-btcusdt.json"
    event = json_format.Parse(example.read_text(), Event())
    event.event_id = "0193a4b0-0000-7000-8000-00000000bad1"
    event.source = "//cqc/portfolio/exec-harness"  # OrderPlaced belongs to the VenueGateway: invalid
    await js.publish(
        f"{event.event_type}.{event.partition_key}", encode_event(event), headers=event_headers(event)
    )
    await client.close()
    return ["bad-undecodable-1", event.event_id]


async def deadletters(url: str) -> list[dict[str, str]]:
    from cqc.nats import DEADLETTER_STREAM, connect

    client, js = await connect(url)
    found = []
    info = await js.stream_info(DEADLETTER_STREAM)
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(DEADLETTER_STREAM, seq)
        headers = msg.headers or {}
        found.append(
            {
                "subject": msg.subject or "",
                "reason": str(headers.get("CQC-Deadletter-Reason", "")),
                "original": str(headers.get("CQC-Deadletter-Subject", "")),
            }
        )
    await client.close()
    return found


def readme_block(lang: str) -> str:
    """The code block of README.md between `<!-- events:<lang>:begin -->` and its end marker."""
    text = (ROOT / "README.md").read_text()
    begin, end = f"<!-- events:{lang}:begin -->", f"<!-- events:{lang}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"README.md has no {begin} ... {end} section")
    part = text.split(begin, 1)[1].split(end, 1)[0]
    return part.split("```", 2)[1].split("\n", 1)[1]


def run_readme(url: str) -> dict[str, str]:
    """Runs the README's three "Publish and consume an event" blocks, as written, against the server. The
    TypeScript block's package imports are pointed at the sources (the package is not built here)."""
    scratch = {
        "python": Path(tempfile.mkdtemp(prefix="cqc-readme-")) / "publish_consume.py",
        "go": ROOT / "packages" / "go" / f".readme-events-{os.getpid()}" / "main.go",
        "typescript": ROOT / "packages" / "typescript" / "test" / "events" / f".readme-{os.getpid()}.ts",
    }
    code = {lang: readme_block(lang) for lang in LANGS}
    code["typescript"] = (
        code["typescript"]
        .replace('"@crypto-quant/cqc/events/v1"', '"../../src/gen/cqc/events/v1/index.js"')
        .replace('"@crypto-quant/cqc/venues/v1"', '"../../src/gen/cqc/venues/v1/index.js"')
        .replace('"@crypto-quant/cqc/events"', '"../../src/events.js"')
        .replace('"@crypto-quant/cqc/nats"', '"../../src/nats.js"')
    )
    commands = {
        "python": [sys.executable, str(scratch["python"])],
        "go": ["go", "run", "./" + scratch["go"].parent.name],
        "typescript": ["node", "--import", "tsx", str(scratch["typescript"].relative_to(cwd("typescript")))],
    }
    results = {}
    try:
        for lang in LANGS:
            scratch[lang].parent.mkdir(parents=True, exist_ok=True)
            scratch[lang].write_text(code[lang])
        procs = {
            lang: subprocess.Popen(commands[lang], cwd=cwd(lang), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env={**GO_ENV, "NATS_URL": url})
            for lang in LANGS
        }
        for lang, proc in procs.items():
            out, _ = proc.communicate(timeout=120)
            results[lang] = ("ok: " if proc.returncode == 0 else f"FAILED ({proc.returncode}): ") + out.decode().strip()
    finally:
        shutil.rmtree(scratch["python"].parent, ignore_errors=True)
        shutil.rmtree(scratch["go"].parent, ignore_errors=True)
        scratch["typescript"].unlink(missing_ok=True)
    return results


def check_consumer(state: Path, published: list[dict[str, Any]]) -> list[str]:
    problems = []
    applied = json.loads(state.read_text())["extra"].get("applied", [])
    ids = [a[0] for a in applied]
    expected = {p["id"] for p in published}
    counts: dict[str, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    twice = [i for i, n in counts.items() if n > 1]
    missing = expected - set(ids)
    extra = set(ids) - expected
    if twice:
        problems.append(f"{len(twice)} events applied more than once (e.g. {twice[0]})")
    if missing:
        problems.append(f"{len(missing)} events never applied (e.g. {sorted(missing)[0]})")
    if extra:
        problems.append(f"{len(extra)} unknown events applied (e.g. {sorted(extra)[0]})")
    last: dict[tuple[str, str], int] = {}
    for _, source, key, seq in applied:
        if seq != last.get((source, key), 0) + 1:
            problems.append(f"stream {source} {key}: sequence {seq} applied after {last.get((source, key), 0)}")
            break
        last[(source, key)] = seq
    return problems


def bench(count: int, out: Path | None) -> int:
    """`nox -s bench`: per language, events/s published (with ack) and consumed (decode, validate, order,
    apply, ack) by the helpers, vs a bytes-only payload of the same size on the same broker."""
    build_nats_server()
    build_go_exec()
    work = Path(tempfile.mkdtemp(prefix="cqc-events-bench-"))
    server = Server(work / "store")
    results = {}
    try:
        server.start()
        for lang in LANGS:  # one at a time: they share the machine
            results[lang] = run_all({lang: ["bench", "--url", server.url, "--lang", SHORT[lang], "--count", str(count)]})[lang]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    log(f"\nEvents on NATS JetStream ({count} events of {results['python']['size']} bytes; bytes-only payload of the "
        "same size as the ceiling; publish waits for each ack):")
    log(f"{'':<12}{'pub ev/s':>10}{'pub raw/s':>11}{'ratio':>7}{'con ev/s':>10}{'con raw/s':>11}{'ratio':>7}")
    for lang in LANGS:
        r = results[lang]
        log(f"{lang:<12}{r['events_published_s']:>10.0f}{r['raw_published_s']:>11.0f}"
            f"{r['events_published_s'] / r['raw_published_s']:>7.2f}{r['events_consumed_s']:>10.0f}"
            f"{r['raw_consumed_s']:>11.0f}{r['events_consumed_s'] / r['raw_consumed_s']:>7.2f}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--bench", type=int, metavar="N", help="throughput only: N events per language")
    parser.add_argument("--json", type=Path, help="with --bench: write the results here")
    args = parser.parse_args()
    if args.bench:
        return bench(args.bench, args.json)
    started = time.monotonic()
    build_nats_server()
    build_go_exec()
    work = Path(tempfile.mkdtemp(prefix="cqc-events-"))
    server = Server(work / "store")
    failures: list[str] = []
    try:
        server.start()
        url = server.url
        log(f"nats-server {url}, store {server.store}")

        # 1. Matrix publish.
        pub1 = run_all(
            {
                lang: ["publish", "--url", url, "--lang", SHORT[lang], "--from", "0", "--count", str(BATCH1),
                       "--content-type", CONTENT_TYPES[lang], "--out", str(work / f"{lang}-1.jsonl")]
                for lang in LANGS
            }
        )
        bad_ids = asyncio.run(publish_bad(url))

        # 2. Consume, killed mid-stream, then restarted.
        def consume(die: bool) -> dict[str, dict[str, Any]]:
            commands = {}
            for lang in LANGS:
                command = ["consume", "--url", url, "--durable", f"matrix-{SHORT[lang]}",
                           "--state", str(work / f"{lang}.state.json"), "--idle", "0.5",
                           "--ack-wait", str(ACK_WAIT)]
                if die:
                    command += ["--die-after", str(DIE_AFTER[lang])]
                commands[lang] = command
            return run_all(commands, ok_codes=(137,) if die else (0,))

        killed = consume(die=True)
        resumed = consume(die=False)

        # 3. Server restart (the file store and the duplicate window survive it); publisher retries (the same
        # events again, the broker must drop every one) beside a second batch; then consumers resume.
        server.stop()
        server.start()
        commands = {
            lang: ["publish", "--url", url, "--lang", SHORT[lang], "--from", str(BATCH1), "--count", str(BATCH2),
                   "--content-type", CONTENT_TYPES[lang], "--out", str(work / f"{lang}-2.jsonl")]
            for lang in LANGS
        }
        for lang in LANGS:
            commands[f"{lang}:replay"] = ["replay", "--url", url, "--in", str(work / f"{lang}-1.jsonl"),
                                          "--content-type", CONTENT_TYPES[lang]]
        both = run_all(commands)
        pub2 = {lang: both[lang] for lang in LANGS}
        replay = {lang: both[f"{lang}:replay"] for lang in LANGS}
        final = consume(die=False)
        dead = asyncio.run(deadletters(url))
        began = time.monotonic()
        readme = run_readme(url)
        log(f"  readme   {time.monotonic() - began:5.1f} s")
    finally:
        server.stop()

    published: dict[str, list[dict[str, Any]]] = {
        lang: [json.loads(line) for n in (1, 2) for line in (work / f"{lang}-{n}.jsonl").read_text().splitlines()]
        for lang in LANGS
    }
    everything = [p for lang in LANGS for p in published[lang]]

    # The matrix: which publisher's events each consumer applied (exactly once each, in order).
    log("\nMatrix (rows: publisher; columns: consumer; applied / published, exactly once and in order):")
    log(f"{'':<12}" + "".join(f"{lang:>14}" for lang in LANGS))
    applied_by: dict[str, list[list[Any]]] = {
        lang: json.loads((work / f"{lang}.state.json").read_text())["extra"].get("applied", []) for lang in LANGS
    }
    for pub in LANGS:
        ids = {p["id"] for p in published[pub]}
        cells = []
        for con in LANGS:
            got = [a for a in applied_by[con] if a[0] in ids]
            mark = "ok" if len(got) == len(ids) == len({a[0] for a in got}) else "FAIL"
            cells.append(f"{len(got)}/{len(ids)} {mark}")
        log(f"{pub:<12}" + "".join(f"{c:>14}" for c in cells))
    for con in LANGS:
        for problem in check_consumer(work / f"{con}.state.json", everything):
            failures.append(f"consumer {con}: {problem}")

    # Counts.
    log("\nCounts:")
    header = ["", "published", "retried", "deduplicated", "delivered", "redelivered", "applied", "dup-dropped",
              "dead-lettered"]
    log("".join(f"{h:>14}" for h in header))
    for lang in LANGS:
        counts: dict[str, int] = defaultdict(int)
        for run in (resumed, final):
            for name, value in run[lang].get("counts", {}).items():
                counts[name] += value
        row = [lang, pub1[lang]["published"] + pub2[lang]["published"], replay[lang]["published"],
               replay[lang]["duplicates"], counts["delivered"], counts["redelivered"], counts["applied"],
               counts["duplicates"], counts["dead_lettered"]]
        log("".join(f"{v:>14}" for v in row))
        if replay[lang]["duplicates"] != replay[lang]["published"]:
            failures.append(f"{lang} replay: broker deduplicated {replay[lang]['duplicates']} of "
                            f"{replay[lang]['published']} re-published events")
        if killed[lang]["exit"] != 137:
            failures.append(f"{lang} consumer was not killed mid-stream")
        if counts["dead_lettered"] < len(bad_ids):
            failures.append(f"{lang} consumer dead-lettered {counts['dead_lettered']}, expected {len(bad_ids)}")
    log(f"(counts of the consumers' runs after the kill; killed runs exit 137 without reporting; "
        f"{len(everything)} valid events published in all, {len(bad_ids)} bad)")

    log("\nDead letters (stream CQC_DEADLETTER, one per bad message; Nats-Msg-Id dl-<id> collapses the three "
        "consumers' copies):")
    for d in dead:
        log(f"  {d['subject']} <- {d['original']}: {d['reason'][:150]}")
    subjects = sorted(d["subject"] for d in dead)
    if subjects != ["cqc.deadletter.v1.OrderPlaced", "cqc.deadletter.v1.undecodable"]:
        failures.append(f"dead-letter stream holds {subjects}")
    if any(not d["reason"] for d in dead):
        failures.append("a dead letter has no reason")

    log("\nREADME \"Publish and consume an event\", run as written:")
    for lang in LANGS:
        log(f"  {lang:<11} {readme[lang]}")
        if not readme[lang].startswith("ok"):
            failures.append(f"README {lang} block failed")

    log(f"\nevents: {time.monotonic() - started:.1f} s")
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        log("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    log("OK: every consumer applied every event exactly once, in order per stream; nothing lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
