#!/usr/bin/env python3
"""Python validation benchmark (issue 11): validate / binary decode, generated validators vs protovalidate.

Run by `nox -s bench` (docs/BENCHMARKS.md), or directly: `python tools/bench/bench_validate.py [--json FILE]`.
Messages: OrderBook 2x5, 2x50 and 2x500 levels (built from the Binance snapshot example), Order,
ExecutionReport, and a Portfolio with 10,000 balances. For each: binary decode (ns), validate with the
generated validators (`cqc.validation.violations`, ns) and with protovalidate (ns; skipped for the 10,000
balance Portfolio unless --old-portfolio: seconds and over a gigabyte per call), and the ratios to decode.
The generated validators memoize pure string tests (pattern matches, double()) by value; validating the same
message again hits those tables, so "cold ns" also times each call after emptying them
(cqc._validate_runtime.clear_memos, its own cost subtracted): the worst case, every string new.
`--baseline REV` also times the generated validators of git revision REV (its cqc/_validate/messages.py and
cqc/_validate_runtime.py, loaded beside the current ones) in the same process, interleaved with the current ones
(best of --rounds), to compare two versions under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import timeit
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import protovalidate
from cqc._validate_runtime import clear_memos
from cqc.registry import message_class
from cqc.validation import violations
from google.protobuf import json_format

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "testdata" / "examples"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_pv = protovalidate.Validator()


def example(key: str) -> Any:
    type_name, name = key.split("/")
    return json_format.Parse((EXAMPLES / type_name / f"{name}.json").read_text(), message_class(type_name)())


def book(levels: int) -> Any:
    message = example("cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot")
    del message.bids[:]
    del message.asks[:]
    for i in range(levels):
        bid, ask = message.bids.add(), message.asks.add()
        bid.price, bid.size = f"{40000 - i * 0.01:.2f}", "1.50000000"
        ask.price, ask.size = f"{40001 + i * 0.01:.2f}", "0.25000000"
    return message


def portfolio(balances: int) -> Any:
    message = example("cqc.portfolio.v1.Portfolio/main-fund")
    template = message.balances[0]
    del message.balances[:]
    for i in range(balances):
        item = message.balances.add()
        item.CopyFrom(template)
        n, digits = i + 1, []
        for _ in range(26):
            digits.append(CROCKFORD[n % 32])
            n //= 32
        item.asset_id = "ast_" + "".join(reversed(digits))
    return message


CASES: list[tuple[str, Callable[[], Any]]] = [
    ("OrderBook 2x5", lambda: book(5)),
    ("OrderBook 2x50", lambda: book(50)),
    ("OrderBook 2x500", lambda: book(500)),
    ("Order", lambda: example("cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy")),
    ("ExecutionReport", lambda: example("cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled")),
    ("Portfolio 10,000 balances", lambda: portfolio(10_000)),
]


def measure(operation: Callable[[], object], target_seconds: float) -> float:
    """ns per call: calibrated loop count (~target_seconds per run), best of three runs. CPU time of this
    process (time.process_time), not wall time: on a shared machine the ratios then do not depend on load."""
    timer = timeit.Timer(operation, timer=time.process_time)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= target_seconds / 10:
            break
        number *= 10
    number = max(1, round(number * target_seconds / elapsed))
    return min(timer.repeat(repeat=3, number=number)) * 1e9 / number


def baseline_violations(rev: str) -> Callable[[Any], list[tuple[str, str, str]]]:
    """violations() as the generated validators of git revision `rev` compute it (raw tuples, sorted)."""

    def show(path: str) -> str:
        command = ["git", "show", f"{rev}:{path}"]
        return subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout

    runtime = types.ModuleType("_cqc_validate_runtime_baseline")
    sys.modules[runtime.__name__] = runtime
    exec(compile(show("packages/python/src/cqc/_validate_runtime.py"), f"{rev}:runtime", "exec"), runtime.__dict__)
    source = show("packages/python/src/cqc/_validate/messages.py").replace(
        "from cqc._validate_runtime import", f"from {runtime.__name__} import"
    )
    namespace: dict[str, Any] = {"__name__": "_cqc_validate_baseline"}
    exec(compile(source, f"{rev}:messages", "exec"), namespace)
    validators = namespace["VALIDATORS"]

    def run(message: Any) -> list[tuple[str, str, str]]:
        raw: list[tuple[str, str, str]] = []
        validators[message.DESCRIPTOR.full_name](message, "", raw)
        return sorted(raw)

    return run


def compare(rev: str, rounds: int, target_seconds: float) -> None:
    """Decode, the validators of `rev` and the current ones (warm and cold), interleaved, best of `rounds`."""
    old_violations = baseline_violations(rev)
    print(
        f"{'python validate vs ' + rev[:12]:<28} {'decode ns':>11} {'baseline ns':>13} {'current ns':>13}"
        f" {'cold ns':>13} {'base/dec':>8} {'cur/dec':>8} {'cold/dec':>8} {'speedup':>8}"
    )
    for name, build in CASES:
        message = build()
        cls, wire = type(message), message.SerializeToString()
        assert violations(message) == [] and old_violations(message) == [], name
        clear_cost = measure(clear_memos, target_seconds)
        operations: list[Callable[[], object]] = [
            lambda cls=cls, wire=wire: cls.FromString(wire),
            lambda message=message: old_violations(message),
            lambda message=message: violations(message),
            lambda message=message: (clear_memos(), violations(message)),
        ]
        best = [float("inf")] * 4
        for _ in range(rounds):
            for k, operation in enumerate(operations):
                best[k] = min(best[k], measure(operation, target_seconds) - (clear_cost if k == 3 else 0))
        decode, old, new, cold = best
        print(
            f"{name:<28} {decode:>11,.0f} {old:>13,.0f} {new:>13,.0f} {cold:>13,.0f} {old / decode:>7.1f}x"
            f" {new / decode:>7.1f}x {cold / decode:>7.1f}x {old / new:>7.2f}x"
        )
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--target-seconds", type=float, default=0.1)
    parser.add_argument("--old-portfolio", action="store_true", help="also time protovalidate on 10,000 balances")
    parser.add_argument("--baseline", metavar="REV", help="compare with the generated validators of a git revision")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of --baseline (best of)")
    args = parser.parse_args()
    if args.baseline:
        compare(args.baseline, args.rounds, args.target_seconds)
        return 0
    rows = []
    print(
        f"{'python validate':<28} {'decode ns':>11} {'generated ns':>13} {'cold ns':>13} {'protovalidate ns':>17}"
        f" {'new/dec':>8} {'cold/dec':>8} {'old/dec':>8}"
    )
    clear_cost = measure(clear_memos, args.target_seconds)
    for name, build in CASES:
        message = build()
        cls, wire = type(message), message.SerializeToString()
        assert violations(message) == [], (name, violations(message)[:3])
        decode = measure(lambda cls=cls, wire=wire: cls.FromString(wire), args.target_seconds)
        new = measure(lambda message=message: violations(message), args.target_seconds)
        cold = measure(lambda message=message: (clear_memos(), violations(message)), args.target_seconds) - clear_cost
        old = None
        if "10,000" not in name or args.old_portfolio:
            assert not _pv.collect_violations(message), name
            old = measure(lambda message=message: _pv.collect_violations(message), args.target_seconds)
        row = {"message": name, "decode_ns": decode, "generated_ns": new, "generated_cold_ns": cold,
               "protovalidate_ns": old, "generated_over_decode": new / decode,
               "generated_cold_over_decode": cold / decode,
               "protovalidate_over_decode": old / decode if old else None}  # fmt: skip
        rows.append(row)
        old_text = f"{old:>17,.0f}" if old else f"{'(not run)':>17}"
        old_ratio = f"{old / decode:>7.1f}x" if old else f"{'-':>8}"
        print(
            f"{name:<28} {decode:>11,.0f} {new:>13,.0f} {cold:>13,.0f} {old_text} {new / decode:>7.1f}x"
            f" {cold / decode:>7.1f}x {old_ratio}"
        )
        sys.stdout.flush()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"language": "python", "validate": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
