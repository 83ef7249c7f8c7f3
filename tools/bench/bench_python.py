#!/usr/bin/env python3
"""Python benchmark of CQC messages: binary and canonical JSON encode/decode, and protovalidate validation.

Run by `nox -s bench` (docs/BENCHMARKS.md), or directly in an environment with cqc-contracts installed
(`pip install -e packages/python`): `python tools/bench/bench_python.py [--json FILE] [--target-seconds S]`.

Every language benchmarks the same messages (the examples named in MESSAGES, from testdata/examples) and the
same operations (OPERATIONS), and reports ns/op, ops/s and the encoded sizes; `tools/bench/report.py` puts
the three side by side. Each measurement is timeit's: warm up and calibrate a loop count so that one run
takes about --target-seconds, then keep the best of three runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from cqc.registry import message_class
from cqc.validation import validate
from google.protobuf import json_format
from google.protobuf.internal import api_implementation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "testdata" / "examples"

# The same list is in packages/go/bench_test.go and packages/typescript/test/bench.ts.
MESSAGES = (
    "cqc.markets.v1.Market/binance-spot-btcusdt",
    "cqc.venues.v1.Order/binance-btcusdt-limit-gtc-buy",
    "cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled",
    "cqc.markets.v1.OrderBook/binance-btcusdt-spot-l2-snapshot",
    "cqc.events.v1.Event/asset-created-usdc",
)
OPERATIONS = ("binary-encode", "binary-decode", "json-encode", "json-decode", "validate")
REPEAT = 3


def compact_json(value: Any) -> str:
    """JSON text without insignificant whitespace: the size every language reports for canonical JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def measure(operation: Callable[[], object], target_seconds: float) -> tuple[float, int]:
    """(ns per call, calls per run): calibrate the loop count to ~target_seconds, best of REPEAT runs."""
    timer = timeit.Timer(operation)
    number = 1
    while True:  # also the warm-up: caches (e.g. compiled validation rules) fill on the first calls
        elapsed = timer.timeit(number)
        if elapsed >= target_seconds / 10:
            break
        number *= 10
    number = max(1, round(number * target_seconds / elapsed))
    best = min(timer.repeat(repeat=REPEAT, number=number))
    return best * 1e9 / number, number


def bench_message(key: str, target_seconds: float) -> tuple[list[dict[str, Any]], dict[str, int]]:
    type_name, example = key.split("/")
    cls = message_class(type_name)
    message = json_format.Parse((EXAMPLES / type_name / f"{example}.json").read_text(), cls())
    wire = message.SerializeToString()
    text = json_format.MessageToJson(message, indent=None)
    validate(message)  # the examples are valid: a benchmark of the error path would measure something else

    operations: dict[str, Callable[[], object]] = {
        "binary-encode": message.SerializeToString,
        "binary-decode": lambda: cls.FromString(wire),
        "json-encode": lambda: json_format.MessageToJson(message, indent=None),
        "json-decode": lambda: json_format.Parse(text, cls()),
        "validate": lambda: validate(message),
    }
    results = []
    for name in OPERATIONS:
        ns, iterations = measure(operations[name], target_seconds)
        results.append({"message": key, "op": name, "ns_per_op": ns, "ops_per_s": 1e9 / ns, "iterations": iterations})
    sizes = {"binary": len(wire), "json": len(compact_json(json_format.MessageToDict(message)).encode())}
    return results, sizes


def runtime() -> str:
    return (
        f"CPython {platform.python_version()}, protobuf {metadata.version('protobuf')} "
        f"({api_implementation.Type()}), protovalidate {metadata.version('protovalidate')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this file (for report.py)")
    parser.add_argument("--target-seconds", type=float, default=0.1, help="duration of one timed run (0.1)")
    args = parser.parse_args()

    print(f"python: {runtime()}")
    print(f"{'message':<64} {'operation':<14} {'ns/op':>12} {'ops/s':>12}")
    results: list[dict[str, Any]] = []
    sizes: dict[str, dict[str, int]] = {}
    for key in MESSAGES:
        found, sizes[key] = bench_message(key, args.target_seconds)
        results.extend(found)
        for r in found:
            print(f"{key:<64} {r['op']:<14} {r['ns_per_op']:>12,.0f} {r['ops_per_s']:>12,.0f}")
        sys.stdout.flush()
    print(f"\n{'message':<64} {'binary B':>9} {'JSON B':>9}")
    for key, size in sizes.items():
        print(f"{key:<64} {size['binary']:>9} {size['json']:>9}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"language": "python", "runtime": runtime(), "results": results, "sizes": sizes}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
