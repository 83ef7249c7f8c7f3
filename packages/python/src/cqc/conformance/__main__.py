"""``cqc-conformance --target HOST:PORT --service Portfolio``: run the service conformance suite against a
server and report per case; exit 0 when every selected case passed, 1 when one failed, 2 on a usage error.

Seed cases (``seed: true``: they need the reference seed data, as the reference servers and the packaged
example servers load it) run only with ``--seed``; without it they are reported as skipped."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cqc.conformance._cases import CaseError, load_suites, select
from cqc.conformance._executors import ExecutorDied, make_executor
from cqc.conformance._runner import format_report, format_result, run_cases


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _reachable(target: str, seconds: float) -> bool:
    """Whether a gRPC channel to ``target`` gets ready within ``seconds`` (a server that is still starting)."""
    import grpc

    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=seconds)
        except grpc.FutureTimeoutError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cqc-conformance", description=__doc__)
    parser.add_argument("--target", help="host:port of the server under test (plaintext gRPC)")
    parser.add_argument("--service", action="append", help="Portfolio, cqc.services.v1.Portfolio or a suite file "
                        "stem (common); repeatable or comma-separated; default: every suite")  # fmt: skip
    parser.add_argument("--rpcs", action="append", help="only cases whose every step calls one of these methods")
    parser.add_argument("--case", action="append", help="only cases whose name matches this glob (repeatable)")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument("--seed", dest="seed", action="store_true", help="also run the cases that need the seed data")
    seed.add_argument("--no-seed", dest="seed", action="store_false", help="skip them (the default)")
    parser.add_argument("--executor", default="python",
                        help='"python" (built in, default) or a command speaking the executor protocol, e.g. '
                        '"node --import tsx test/conformance-exec.ts"')  # fmt: skip
    parser.add_argument("--executor-cwd", help="working directory of the executor command")
    parser.add_argument("--server-name", help='what "$server" in expected metadata stands for (default: any value)')
    parser.add_argument("--suites", action="append", type=Path, help="suite files or directories instead of the "
                        "packaged ones")  # fmt: skip
    parser.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                        help="wait up to this long for the target to accept connections (0: no wait)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    args = parser.parse_args(argv)

    try:
        suites = load_suites(args.suites or (), _split(args.service))
    except (CaseError, OSError) as error:
        print(f"cqc-conformance: {error}", file=sys.stderr)
        return 2
    services = _split(args.service)
    cases = select(suites, services, _split(args.rpcs), _split(args.case))
    if args.list:
        for case in cases:
            print(f"{case.name}{'  [seed]' if case.seed else ''}")
        return 0
    if not cases:
        print(f"cqc-conformance: no case selected (services {services or 'all'}; suites: "
              f"{', '.join(sorted({s.short_name for s in suites}))})", file=sys.stderr)  # fmt: skip
        return 2
    if not args.target:
        parser.error("--target is required")
    if args.wait > 0 and not _reachable(args.target, args.wait):
        print(f"cqc-conformance: {args.target} accepted no connection within {args.wait:g} s", file=sys.stderr)
        return 2
    try:
        executor = make_executor(args.executor, cwd=args.executor_cwd)
    except OSError as error:
        print(f"cqc-conformance: cannot start the executor {args.executor!r}: {error}", file=sys.stderr)
        return 2
    try:
        on_result = None if args.json else (lambda r: print(format_result(r), flush=True)) if args.verbose else None
        report = run_cases(cases, executor, args.target, server=args.server_name, include_seed=args.seed,
                           on_result=on_result)  # fmt: skip
    except ExecutorDied as error:
        print(f"cqc-conformance: {error}", file=sys.stderr)
        return 2
    finally:
        executor.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        lines = list(format_report(report, verbose=False))
        if args.verbose:
            lines = report.summary()
        print("\n".join(lines))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
