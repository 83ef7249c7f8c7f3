#!/usr/bin/env python3
"""Cross-language gRPC interop: the service conformance suite through every executor against every reference
server, the examples, and buf curl.

Run by `nox -s interop` (testdata/interop/README.md describes the servers; packages/python/src/cqc/conformance
the suite). Steps:

1. build: the Go reference server and Go conformance executor (`go build` into .build/interop/bin), the Go
   examples, the TypeScript package's dist/ (when src/ is newer) and examples/typescript (`npm ci` when its
   lock changed, then `tsc --strict`);
2. start the Python (`python -m cqc.testing`) and Go (`cqc-reference-server`) servers, each on 127.0.0.1
   with an ephemeral port it writes to a --port-file; they are stopped on exit, also on failure;
3. run every suite, seed cases included (`cqc-conformance --seed --json`), through the Python (built in), Go
   (`cqc-conformance-exec`) and TypeScript (`test/conformance-exec.ts`) executors against each server (two
   cells at a time);
4. run every language's examples (examples/python/*.py, examples/go/<name>/, examples/typescript/*.ts)
   against one server, checking exit codes, and one `buf curl` call through server reflection per server;
5. print the matrix (cases passed per service, per executor and server) and the examples and buf curl results;
   exit 1 on any failure.

`python tools/interop.py --servers go --executors typescript --no-examples` runs a part; `--case GLOB` and
`--service NAME` narrow the suite. Standard library only; the running interpreter must have
cqc-contracts[testing,conformance] installed (the Python server and the runner), and `buf`
(tools/requirements.txt) on PATH or next to it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType

from release import typescript_dist_is_fresh

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build" / "interop"
BIN = BUILD / "bin"
TESTDATA = ROOT / "testdata"
PY_PKG = ROOT / "packages" / "python"
GO_PKG = ROOT / "packages" / "go"
TS_PKG = ROOT / "packages" / "typescript"
EXAMPLES = ROOT / "examples"

SERVERS = ("python", "go")
EXECUTORS = ("python", "go", "typescript")
START_TIMEOUT_S = 30.0
CELL_TIMEOUT_S = 300.0
EXAMPLE_TIMEOUT_S = 60.0

# buf curl through server reflection: the request of the quickstarts, answered by the seeded market.
BUF_CURL_DATA = '{"venueId":"ven_01JDB1NANCE000000000000000","venueSymbol":"BTCUSDT"}'
BUF_CURL_METHOD = "cqc.services.v1.AssetRegistry/ResolveMarket"
BUF_CURL_EXPECT = "mkt_01JDBNBTCVSDTSP0T000000000"


def log(message: str) -> None:
    print(f"interop: {message}", flush=True)


def tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept)


@dataclass
class Outcome:
    """One checked step (a matrix cell, an example, a buf curl call)."""

    label: str
    ok: bool
    summary: str
    seconds: float
    problems: list[str] = field(default_factory=list)
    services: dict[str, tuple[int, int]] = field(default_factory=dict)  # cells: service -> (passed, run)


def run(command: Sequence[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Runs `command`; returns (exit code, stdout + stderr, seconds). A timeout counts as exit code -1."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        output = err.output if isinstance(err.output, str) else (err.output or b"").decode(errors="replace")
        return -1, f"{output}\n(timed out after {timeout:.0f} s)", time.monotonic() - started
    except OSError as err:
        return -2, f"cannot run {command[0]}: {err}", time.monotonic() - started
    return done.returncode, done.stdout, time.monotonic() - started


def must(
    command: Sequence[str], cwd: Path, what: str, timeout: float = 600.0, env: dict[str, str] | None = None
) -> None:
    code, output, seconds = run(command, cwd, timeout, env)
    if code != 0:
        raise SystemExit(f"interop: {what} failed (exit {code}): {' '.join(command)}\n{tail(output, 40)}")
    log(f"{what}: {seconds:.1f} s")


# --- building --------------------------------------------------------------------------------------------


def go_examples() -> list[Path]:
    base = EXAMPLES / "go"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "main.go").exists())


def is_server_example(path: Path) -> bool:
    """Example servers (e.g. examples/go/portfolio-server) are built here but tested by their own tests (they
    serve; the client examples take --target)."""
    return path.name.endswith(("-server", "_server"))


def build_go(servers: Sequence[str], executors: Sequence[str], examples: bool) -> None:
    targets = []
    if "go" in servers:
        targets.append("./cmd/cqc-reference-server")
    if "go" in executors:
        targets.append("./internal/cmd/cqc-conformance-exec")
    BIN.mkdir(parents=True, exist_ok=True)
    if targets:
        must(["go", "build", "-o", str(BIN) + os.sep, *targets], GO_PKG, "go build " + " ".join(targets))
    found = go_examples()
    if examples and found:
        out = BIN / "examples"
        out.mkdir(parents=True, exist_ok=True)
        # One `go build` for every example (they share the build cache), from the module that holds them.
        module = EXAMPLES / "go" if (EXAMPLES / "go" / "go.mod").exists() else GO_PKG
        packages = ["./" + os.path.relpath(p, module) for p in found]
        must(["go", "build", "-o", str(out) + os.sep, *packages], module, "go build examples/go")


def npm_ci_once(where: Path) -> None:
    lock = where / "package-lock.json"
    stamp = where / "node_modules" / ".cqc-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    must(["npm", "ci", "--no-audit", "--no-fund"], where, f"npm ci in {where.relative_to(ROOT)}",
         env={**os.environ, "npm_config_update_notifier": "false"})  # fmt: skip
    stamp.write_text(digest)


TS_EXAMPLES_JS = ".build-js"  # examples/typescript's compiled JavaScript (build_typescript_examples)


def build_typescript_examples() -> None:
    """examples/typescript uses the local package (file:../../packages/typescript), i.e. its dist/."""
    if not typescript_dist_is_fresh(TS_PKG):  # test-typescript, earlier in the same lane, usually built it
        must(["npm", "run", "--silent", "build"], TS_PKG, "build packages/typescript dist/")
    where = EXAMPLES / "typescript"
    npm_ci_once(where)
    # The type check (tsc --strict, the examples' tsconfig) also emits the JavaScript the examples then run as
    # (plain node: tsx's loader cost ~3 s of CPU per run), into examples/typescript/.build-js (git-ignored).
    shutil.rmtree(where / TS_EXAMPLES_JS, ignore_errors=True)
    tsc = [str(where / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json", "--noEmit", "false", "--outDir", TS_EXAMPLES_JS]
    must(tsc, where, "tsc --strict examples/typescript")


# --- servers ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stops a server this script started (its own process group), politely, then for good."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def server_command(name: str, port_file: Path) -> list[str]:
    if name == "python":
        return [sys.executable, "-m", "cqc.testing", "--port", "0", "--port-file", str(port_file),
                "--testdata", str(TESTDATA)]  # fmt: skip
    if name == "go":
        return [str(BIN / "cqc-reference-server"), "--addr", "127.0.0.1:0", "--port-file", str(port_file),
                "--testdata", str(TESTDATA)]  # fmt: skip
    raise ValueError(name)


@contextmanager
def started(name: str, work: Path) -> Iterator[Server]:
    """Starts a reference server, waits for its --port-file, and stops it when the block exits."""
    port_file = work / f"{name}.port"
    port_file.unlink(missing_ok=True)
    log_path = BUILD / "logs" / f"server-{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            server_command(name, port_file), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        port = 0
        while port == 0:
            if process.poll() is not None:
                raise RuntimeError(f"the {name} server exited with {process.returncode} before listening:\n"
                                   + tail(log_path.read_text(errors="replace"), 30))  # fmt: skip
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {name} server wrote no port to {port_file} within {START_TIMEOUT_S:.0f} s:\n"
                                   + tail(log_path.read_text(errors="replace"), 30))  # fmt: skip
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit() and int(text) > 0:
                port = int(text)
            else:
                time.sleep(0.05)
        yield Server(name, process, port, log_path)
    finally:
        stop(process)


# --- conformance cells, examples, buf curl -------------------------------------------------------------


def executor_command(executor: str) -> str:
    """The --executor argument of cqc-conformance (run from packages/typescript for the TypeScript one)."""
    if executor == "python":
        return "python"
    if executor == "go":
        return str(BIN / "cqc-conformance-exec")
    if executor == "typescript":
        return "node --import tsx test/conformance-exec.ts"
    raise ValueError(executor)


def run_cell(executor: str, server: Server, selection: Sequence[str]) -> Outcome:
    """Every selected case, seed cases included, through `executor` against `server` (cqc-conformance --json)."""
    label = f"{executor} -> {server.name}"
    command = [sys.executable, "-m", "cqc.conformance", "--target", server.target, "--seed", "--server-name",
               server.name, "--executor", executor_command(executor), "--executor-cwd", str(TS_PKG), "--json",
               *selection]  # fmt: skip
    code, output, seconds = run(command, ROOT, CELL_TIMEOUT_S)
    (BUILD / "logs" / f"conformance-{executor}-{server.name}.log").write_text(output)
    start = output.find("{")
    try:
        report = json.loads(output[start:]) if start >= 0 else None
        results = report["results"] if report else None
    except (ValueError, KeyError, TypeError):
        results = None
    if not results:
        return Outcome(label, False, f"error (exit {code})", seconds, [f"no report:\n{tail(output)}"])
    services: dict[str, tuple[int, int]] = {}
    for result in results:
        service = str(result["service"]).rsplit(".", 1)[-1]
        passed, ran = services.get(service, (0, 0))
        services[service] = (passed + (result["status"] == "passed"), ran + 1)
    problems = [f"{r['name']}: " + "; ".join(r["problems"]) for r in results if r["status"] != "passed"]
    passed = sum(r["status"] == "passed" for r in results)
    if not problems and code != 0:
        problems.append(f"exit code {code} although every case passed:\n{tail(output)}")
    summary = f"{passed}/{len(results)} ok" if not problems else f"{passed}/{len(results)} FAIL"
    return Outcome(label, not problems, summary, seconds, problems, services)


def example_commands(server: Server) -> list[tuple[str, list[str], Path]]:
    target = ["--target", server.target]
    commands: list[tuple[str, list[str], Path]] = []
    for script in sorted((EXAMPLES / "python").glob("*.py")) if (EXAMPLES / "python").is_dir() else []:
        if not script.name.startswith("_"):
            commands.append((f"python/{script.name}", [sys.executable, str(script), *target], EXAMPLES / "python"))
    for example in (e for e in go_examples() if not is_server_example(e)):
        binary = BIN / "examples" / example.name
        commands.append((f"go/{example.name}", [str(binary), *target], example))
    ts = EXAMPLES / "typescript"
    for script in sorted(ts.glob("*.ts")) if ts.is_dir() else []:
        if not script.name.endswith(".d.ts"):
            js = ts / TS_EXAMPLES_JS / script.with_suffix(".js").name
            commands.append((f"typescript/{script.name}", ["node", str(js), *target], ts))
    return commands


def run_example(label: str, command: list[str], cwd: Path) -> Outcome:
    code, output, seconds = run(command, cwd, EXAMPLE_TIMEOUT_S)
    name = label.replace("/", "-")
    (BUILD / "logs" / f"example-{name}.log").write_text(output)
    if code == 0:
        return Outcome(label, True, "ok", seconds)
    return Outcome(label, False, f"exit {code}", seconds, [tail(output)])


def buf_binary() -> str:
    beside = Path(sys.executable).parent / "buf"
    if beside.exists():
        return str(beside)
    found = shutil.which("buf")
    if found is None:
        raise SystemExit("interop: buf not found (pip install -r tools/requirements.txt)")
    return found


def run_buf_curl(server: Server) -> Outcome:
    command = [buf_binary(), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--data", BUF_CURL_DATA,
               f"http://{server.target}/{BUF_CURL_METHOD}"]  # fmt: skip
    code, output, seconds = run(command, ROOT, EXAMPLE_TIMEOUT_S)
    label = f"buf curl -> {server.name}"
    if code != 0:
        return Outcome(label, False, f"exit {code}", seconds, [tail(output)])
    try:
        market_id = json.loads(output)["market"]["marketId"]
    except (ValueError, KeyError, TypeError):
        market_id = None
    if market_id != BUF_CURL_EXPECT:
        return Outcome(
            label, False, "wrong answer", seconds, [f"want market.marketId {BUF_CURL_EXPECT}:\n{tail(output)}"]
        )
    return Outcome(label, True, f"ok ({BUF_CURL_EXPECT})", seconds)


# --- report ----------------------------------------------------------------------------------------------


def print_report(
    servers: Sequence[str], executors: Sequence[str], cells: dict[tuple[str, str], Outcome], others: list[Outcome]
) -> bool:
    columns = [(e, s) for e in executors for s in servers if (e, s) in cells]
    width = max(16, *(len(f"{e} -> {s}") + 2 for e, s in columns))
    services = sorted({name for cell in cells.values() for name in cell.services})
    print()
    print("Conformance matrix (cases passed / run, per service; columns: executor -> server)")
    print("service".ljust(16) + "".join(f"{e} -> {s}".ljust(width) for e, s in columns))
    for service in services:
        row = service.ljust(16)
        for key in columns:
            cell = cells.get(key)
            counts = cell.services.get(service) if cell else None
            row += (f"{counts[0]}/{counts[1]}" if counts else "-").ljust(width)
        print(row.rstrip())
    row = "all".ljust(16)
    for key in columns:
        cell = cells.get(key)
        row += (cell.summary if cell else "not run").ljust(width)
    print(row.rstrip())
    if others:
        print()
        label_width = max(len(o.label) for o in others) + 2
        summary_width = max(len(o.summary) for o in others) + 2
        for outcome in others:
            print(f"{outcome.label.ljust(label_width)}{outcome.summary.ljust(summary_width)}{outcome.seconds:5.1f} s")
    failures = [o for o in [*cells.values(), *others] if not o.ok]
    for outcome in failures:
        print(f"\nFAILED {outcome.label}:")
        for problem in outcome.problems:
            print("  " + problem.replace("\n", "\n  "))
    print()
    return not failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: python,go")
    parser.add_argument("--executors", default=",".join(EXECUTORS), help="comma-separated: python,go,typescript")
    parser.add_argument(
        "--cells",
        default="",
        help="comma-separated executor:server pairs to run instead of every executor against every server "
        "(e.g. typescript:go,go:python); --servers/--executors are then taken from them",
    )
    parser.add_argument("--service", action="append", default=[], help="only this suite (cqc-conformance --service)")
    parser.add_argument("--case", action="append", default=[], help="only cases matching this glob")
    parser.add_argument("--examples-server", default="go", help="the server the examples run against")
    parser.add_argument("--no-examples", action="store_true", help="skip the examples")
    parser.add_argument("--no-buf-curl", action="store_true", help="skip the buf curl calls")
    args = parser.parse_args(argv)
    servers = [s for s in args.servers.split(",") if s]
    executors = [e for e in args.executors.split(",") if e]
    pairs: list[tuple[str, str]] | None = None
    if args.cells:
        try:
            pairs = [(e, s) for e, s in (cell.split(":") for cell in args.cells.split(",") if cell)]
        except ValueError:
            parser.error(f"--cells takes executor:server pairs, not {args.cells!r}")
        servers = [s for s in SERVERS if any(server == s for _, server in pairs)]
        executors = [e for e in EXECUTORS if any(executor == e for executor, _ in pairs)]
    selection = [arg for s in args.service for arg in ("--service", s)] + [a for c in args.case for a in ("--case", c)]
    for name in servers:
        if name not in SERVERS:
            parser.error(f"unknown server {name!r}")
    for name in executors:
        if name not in EXECUTORS:
            parser.error(f"unknown executor {name!r}")
    examples = not args.no_examples and args.examples_server in servers

    begun = time.monotonic()
    build_go(servers, executors, examples)
    if examples and (EXAMPLES / "typescript").is_dir():
        build_typescript_examples()
    log(f"built in {time.monotonic() - begun:.1f} s")

    # Stop the servers on SIGTERM/SIGINT as well (the ExitStack below runs on SystemExit / KeyboardInterrupt).
    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, interrupted)
    cells: dict[tuple[str, str], Outcome] = {}
    others: list[Outcome] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="cqc-interop-") as tmp:
        running: dict[str, Server] = {}
        start = time.monotonic()
        for name in servers:
            try:
                running[name] = stack.enter_context(started(name, Path(tmp)))
                log(f"{name} server listening on {running[name].target}")
            except (RuntimeError, OSError) as err:
                for executor in executors:
                    cells[(executor, name)] = Outcome(f"{executor} -> {name}", False, "server down", 0.0, [str(err)])
        log(f"servers started in {time.monotonic() - start:.1f} s")

        # Two at a time (a 2-core machine), the slowest executor (TypeScript: Node's start and per-call cost)
        # first; every case run uses fresh ids (${ulid:...}, ${uuid:...}), so cells running at once against one
        # server do not interfere.
        order = sorted(executors, key=lambda name: name != "typescript")
        jobs: list[Callable[[], Outcome]] = [
            partial(run_cell, executor, server, selection)
            for executor in order
            for name, server in running.items()
            if pairs is None or (executor, name) in pairs
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for outcome in pool.map(lambda job: job(), jobs):
                executor, name = outcome.label.split(" -> ")
                cells[(executor, name)] = outcome
                log(f"{outcome.label}: {outcome.summary} ({outcome.seconds:.1f} s)")

        if examples:
            server = running.get(args.examples_server)
            if server is None:
                others.append(Outcome(f"examples -> {args.examples_server}", False, "server down", 0.0, []))
            else:
                commands = example_commands(server)
                with ThreadPoolExecutor(max_workers=2) as pool:
                    found = list(pool.map(lambda c: run_example(*c), commands))
                others += [Outcome(f"example {o.label} -> {server.name}", o.ok, o.summary, o.seconds, o.problems)
                           for o in found]  # fmt: skip
                for language in ("python", "go", "typescript"):
                    if not any(o.label.startswith(language + "/") for o in found):
                        others.append(Outcome(f"examples/{language}", False, "missing", 0.0, ["no example found"]))
        if not args.no_buf_curl:
            for server in running.values():
                others.append(run_buf_curl(server))

    ok = print_report(servers, executors, cells, others)
    log(f"{'passed' if ok else 'FAILED'} in {time.monotonic() - begun:.1f} s (logs and results in "
        f"{BUILD.relative_to(ROOT)}/)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
