#!/usr/bin/env python3
"""One table of the three languages' benchmark results: `python tools/bench/report.py DIR`.

DIR (`nox -s bench` uses .build/bench) holds python.json and typescript.json, written by
tools/bench/bench_python.py and packages/typescript/test/bench.ts with --json, and go.txt, the output of
`go test -run '^$' -bench . -benchmem [-count N]` in packages/go (the best of the N runs counts). Prints ns/op and ops/s per message, operation and
language, then the encoded sizes, and exits 1 when a result is missing or the languages disagree on a size
(the same message must encode to the same number of bytes everywhere). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

LANGUAGES = ("python", "go", "typescript")
# "BenchmarkCodec/<type>/<example>/<operation>-<GOMAXPROCS>  <N>  <value> <unit>  <value> <unit> ..."
GO_LINE = re.compile(r"^BenchmarkCodec/(?P<message>\S+)/(?P<op>[a-z-]+?)(?:-\d+)?\s+\d+\s+(?P<metrics>.*)$")
GO_HEADER = re.compile(r"^(goos|goarch|cpu): (.*)$")


def read_go(path: Path) -> dict[str, Any]:
    """go test -bench output, in the shape of the Python and TypeScript JSON reports."""
    results: dict[tuple[str, str], dict[str, Any]] = {}
    sizes: dict[str, dict[str, int]] = {}
    header: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if match := GO_HEADER.match(line):
            header[match[1]] = match[2]
            continue
        match = GO_LINE.match(line)
        if not match:
            continue
        values = match["metrics"].split()
        metrics = {unit: float(value) for value, unit in zip(values[::2], values[1::2], strict=True)}
        key = match["message"]
        result = {
            "message": key,
            "op": match["op"],
            "ns_per_op": metrics["ns/op"],
            "ops_per_s": 1e9 / metrics["ns/op"],
            "bytes_per_op": metrics.get("B/op"),
            "allocs_per_op": metrics.get("allocs/op"),
        }
        # With -count N each benchmark appears N times: keep the best run, like timeit and bench.ts do.
        best = results.get((key, match["op"]))
        if best is None or result["ns_per_op"] < best["ns_per_op"]:
            results[(key, match["op"])] = result
        for unit, name in (("wire-B", "binary"), ("json-B", "json")):
            if unit in metrics:
                sizes.setdefault(key, {})[name] = int(metrics[unit])
    runtime = f"{header.get('goos', '?')}/{header.get('goarch', '?')}, cpu {header.get('cpu', '?')}"
    return {"language": "go", "runtime": runtime, "results": list(results.values()), "sizes": sizes}


def short(key: str) -> str:
    """cqc.markets.v1.Market/binance-spot-btcusdt -> Market/binance-spot-btcusdt."""
    type_name, _, example = key.partition("/")
    return f"{type_name.rsplit('.', 1)[-1]}/{example}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="directory with python.json, typescript.json and go.txt")
    args = parser.parse_args()

    reports: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for language in LANGUAGES:
        path = args.dir / ("go.txt" if language == "go" else f"{language}.json")
        if not path.exists():
            problems.append(f"{language}: no results ({path} is missing)")
            continue
        reports[language] = read_go(path) if language == "go" else json.loads(path.read_text())

    table: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for language, report in reports.items():
        for r in report["results"]:
            table.setdefault((r["message"], r["op"]), {})[language] = r

    print("\nCQC benchmarks: ns/op (ops/s), lower ns/op is faster")
    for language, report in reports.items():
        print(f"  {language}: {report['runtime']}")
    width = max((len(short(m)) for m, _ in table), default=10)
    head = f"{'message':<{width}}  {'operation':<13}" + "".join(f"  {lang:>22}" for lang in LANGUAGES)
    print(head)
    print("-" * len(head))
    previous = ""
    for (message, op), by_language in table.items():
        cells = []
        for language in LANGUAGES:
            r = by_language.get(language)
            if r is None:
                cells.append(f"  {'-':>22}")
                problems.append(f"{language}: no result for {message} {op}")
            else:
                cells.append(f"  {r['ns_per_op']:>10,.0f} ({r['ops_per_s']:>9,.0f})")
        name = short(message) if message != previous else ""
        previous = message
        print(f"{name:<{width}}  {op:<13}" + "".join(cells))

    print("\nEncoded size in bytes: binary (wire format) vs canonical JSON without insignificant whitespace")
    messages = list(dict.fromkeys(m for m, _ in table))
    print(f"{'message':<{width}}  {'binary':>7}  {'JSON':>7}  {'JSON/binary':>11}")
    for message in messages:
        seen = {lang: reports[lang]["sizes"].get(message) for lang in reports}
        distinct = {json.dumps(s, sort_keys=True) for s in seen.values()}
        if len(distinct) != 1 or None in seen.values():
            problems.append(f"sizes of {message} differ between languages: {seen}")
        size = next((s for s in seen.values() if s), {"binary": 0, "json": 0})
        ratio = size["json"] / size["binary"] if size["binary"] else 0.0
        print(f"{short(message):<{width}}  {size['binary']:>7}  {size['json']:>7}  {ratio:>10.2f}x")

    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
