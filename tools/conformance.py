"""The message conformance runner: every case of testdata/conformance/ in Python, Go and TypeScript, then
each language decodes the other two's encodings; prints the table and exits non-zero on any disagreement.

One runner, thin executors (the protovalidate/Connect conformance model, as tools/fuzz.py): this file owns the
cases (examples, case files, base + patch, json, json_text, binary: packages/python/tests/corpus.py reads
them), the expected verdicts, the golden canonical JSON, the expected failures, the cross-language decoding and
the report. The executors are the fuzzer's (tools/fuzz_exec.py, packages/go/internal/cmd/cqc-fuzz-exec,
packages/typescript/test/fuzz-exec.ts): each decodes an input with its package's decode helpers, validates,
re-encodes, and with ``"check": true`` also runs the round trips, decodes the golden JSON and the other
languages' encodings and compares them with its message as protobuf values (only the executor's runtime can).

Run by ``nox -s conformance`` (testdata/conformance/README.md). Results also go to
.build/conformance/<run>/results.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "python" / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from conformance_coverage import Coverage, compute  # noqa: E402
from corpus import GOLDEN, LANGUAGES, Case, ExpectedFailure, cases, examples, expected_failures, golden_path  # noqa: E402
from fuzz import Executor, build_go, executor_commands  # noqa: E402

SHOWN = 15  # failures listed per language
Record = dict[str, Any]


def request(case: Case, **extra: Any) -> str:
    """The executor request for a case's input (JSON values go as text and are decoded as values)."""
    req: dict[str, Any] = {"type": case.type, "check": True, **extra}
    if case.binary is not None:
        req["binary"] = base64.b64encode(case.binary).decode()
    elif case.json_text is not None:
        req["json"] = case.json_text
    else:
        req["json_value"] = json.dumps(case.value, ensure_ascii=False)
    if case.example is not None and golden_path(case.example).exists():
        req["golden"] = golden_path(case.example).read_text()
    return json.dumps(req, ensure_ascii=False) + "\n"


def judge(case: Case, out: dict[str, Any], language: str, xfail: ExpectedFailure | None) -> Record:
    """One language's record of a case: its verdict, violations, encodings and the failures found."""
    failures: list[str] = []
    verdict = out["verdict"]
    record: Record = {
        "type": case.type,
        "input": case.input_kind,
        "expected": case.expected_verdict,
        "verdict": verdict,
        "violations": sorted(out.get("violations") or []),
        "failures": failures,
    }
    if out.get("error"):
        record["error"] = out["error"]
    if verdict == "unknown_type":
        failures.append(f"{case.type} is not in the generated code (regenerate: nox -s generate)")
    elif verdict == "crash":
        failures.append(f"the executor crashed: {out.get('error')}")
    elif verdict == "parse_error":
        if not case.parse_error:
            failures.append(f"decode failed: {out.get('error')}")
    elif verdict == "runtime_error":
        if case.parse_error:
            failures.append("decoded, but the case expects a decode error")
        failures.append(f"validation raised instead of reporting violations: {out.get('error')}")
    else:
        _judge_decoded(case, out, record, failures)
    record["ok"] = not failures
    if xfail is not None and language in xfail.languages:
        record["expected_failure"] = xfail.reason
    return record


def _judge_decoded(case: Case, out: dict[str, Any], record: Record, failures: list[str]) -> None:
    if case.parse_error:
        failures.append("decoded, but the case expects a decode error")
    expected = sorted(f"{field} {rule}" for field, rule in case.violations)
    if not case.parse_error and record["violations"] != expected:
        failures.append(f"violations: expected {expected}, got {record['violations']}")
    if out.get("binary") is None:
        failures.append(f"binary encode: {out.get('binary_error')}")
    else:
        record["binary"] = out["binary"]
        wire = base64.b64decode(out["binary"])
        if case.reencoded is not None and wire != case.reencoded:
            failures.append(f"re-encoded bytes {wire.hex()} differ from the expected {case.reencoded.hex()}")
    record["json"] = out.get("json")
    if record["json"] is None:
        if case.json_encodable:
            failures.append(f"canonical JSON encoding failed: {out.get('json_error')}")
    elif not case.json_encodable:
        failures.append("encoded as JSON, but the case says the message has no canonical JSON form")
    failures.extend((out.get("checks") or {}).get("problems", []))
    if case.example is not None and record["json"] is not None:
        path = golden_path(case.example)
        if not path.exists():
            failures.append(f"no golden file {path.relative_to(ROOT)}; regenerate: nox -s conformance -- golden")
        elif json.loads(path.read_text()) != record["json"]:
            failures.append(f"canonical JSON differs from {path.name}: {json.dumps(record['json'], sort_keys=True)}")


def outcome(record: Record) -> str:
    """passed, failed, xfail (failed as expected) or xpass (listed as expected failure but passed: a failure)."""
    if "expected_failure" in record:
        return "xpass" if record["ok"] else "xfail"
    return "passed" if record["ok"] else "failed"


DECODED = ("valid", "invalid")


def cross_requests(corpus: list[Case], language: str, phase1: dict[str, dict[str, Record]]) -> list[Any]:
    """Phase 2 for one language: every case it decoded, with the others' binary and canonical JSON to compare.
    Each item: (case name, the language each compare entry came from, the request line)."""
    found = []
    for case in corpus:
        if case.problem is not None or phase1[language][case.name]["verdict"] not in DECODED:
            continue
        compare, origin = [], []
        for other in LANGUAGES:
            theirs = phase1[other][case.name]
            if other == language or "binary" not in theirs:
                continue
            compare.append({"binary": theirs["binary"]})
            origin.append(other)
            if theirs.get("json") is not None:
                compare.append({"json": json.dumps(theirs["json"], ensure_ascii=False)})
                origin.append(other)
        if compare:
            found.append((case.name, origin, request(case, compare=compare)))
    return found


Compared = dict[str, dict[str, list[str]]]  # case name → other language → problems found decoding its encodings


def cross(
    corpus: list[Case],
    phase1: dict[str, dict[str, Record]],
    compared: dict[str, Compared],
    xfail: dict[str, ExpectedFailure],
) -> dict[str, dict[str, Any]]:
    """For each decoder language, per other language: cases checked, agreed, mismatches and excused ones."""
    report: dict[str, dict[str, Any]] = {}
    for language in LANGUAGES:
        report[language] = {}
        for other in LANGUAGES:
            if other == language:
                continue
            entry: dict[str, Any] = {"checked": 0, "agreed": 0, "mismatches": {}, "xfail": {}}
            for case in corpus:
                name = case.name
                entry["checked"] += 1
                own, theirs = phase1[language][name], phase1[other].get(name)
                problems = _differences(own, theirs, compared[language].get(name, {}).get(other, []))
                known = xfail.get(name)
                if not problems:
                    entry["agreed"] += 1
                elif known is not None and known.languages & {language, other}:
                    entry["xfail"][name] = problems
                else:
                    entry["mismatches"][name] = problems
            report[language][other] = entry
    return report


def _differences(own: Record, theirs: Record | None, decoding: list[str]) -> list[str]:
    if theirs is None:
        return ["no result for this case"]
    problems = []
    if (own["verdict"], own["violations"]) != (theirs["verdict"], theirs["violations"]):
        problems.append(
            f"verdict {theirs['verdict']} {theirs['violations']} != ours {own['verdict']} {own['violations']}"
        )
    if own["verdict"] not in DECODED or "binary" not in theirs:
        return problems
    problems.extend(decoding)
    if (theirs.get("json") is None) != (own.get("json") is None):
        problems.append("one language encodes canonical JSON, the other refuses")
    elif theirs.get("json") is not None and theirs["json"] != own["json"]:
        problems.append(f"canonical JSON differs: {json.dumps(theirs['json'])[:200]}")
    return problems


def corpus_problems(corpus: list[Case], coverage: Coverage, xfail: dict[str, ExpectedFailure]) -> list[str]:
    """What is wrong with the corpus itself: uncovered messages, unresolvable violation paths, golden files
    stale or not as the regeneration writes them, expected failures naming unknown cases. Each fails the run."""
    problems = coverage.gaps() + coverage.problems
    goldens = {f"{p.parent.name}/{p.stem}" for p in GOLDEN.glob("*/*.json")}
    for stale in sorted(goldens - set(examples())):
        problems.append(f"corpus: golden {stale}.json has no example; regenerate: nox -s conformance -- golden")
    for path in sorted(GOLDEN.glob("*/*.json")):
        text = path.read_text()
        if text != json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n":
            problems.append(f"corpus: golden {path.relative_to(ROOT)} is not formatted as the regeneration writes it")
    names = {c.name for c in corpus}
    for entry in xfail.values():
        if entry.case not in names:
            problems.append(f"corpus: expected-failures.json names unknown case {entry.case!r}")
        if not entry.languages or not entry.languages <= set(LANGUAGES):
            problems.append(f"corpus: expected-failures.json entry {entry.case!r} names languages {entry.languages}")
    return problems


def report(
    phase1: dict[str, dict[str, Record]],
    phase2: dict[str, dict[str, Any]],
    corpus: list[Case],
    gaps: list[str],
    coverage: Coverage,
) -> list[str]:
    problems: list[str] = []
    print("\nConformance, phase 1: each language runs every case of testdata/ (examples, cases, golden JSON)")
    header = f"{'language':<12}{'cases':>7}{'passed':>8}{'failed':>8}{'xfail':>7}{'xpass':>7}"
    print(header)
    print("-" * len(header))
    counts = set()
    for lang, records in phase1.items():
        tally = {"passed": 0, "failed": 0, "xfail": 0, "xpass": 0}
        for name, record in sorted(records.items()):
            key = outcome(record)
            tally[key] += 1
            if key == "failed":
                problems.append(f"{lang}: {name}: {'; '.join(record['failures'])}")
            elif key == "xpass":
                problems.append(f"{lang}: {name}: passes but is listed in expected-failures.json")
        counts.add(len(records))
        print(
            f"{lang:<12}{len(records):>7}{tally['passed']:>8}{tally['failed']:>8}{tally['xfail']:>7}{tally['xpass']:>7}"
        )
    if len(counts) > 1:
        problems.append(f"the languages ran different numbers of cases: {sorted(counts)}")

    print("\nConformance, phase 2: the row language decodes what the column language encoded (agreed/checked)")
    print(f"{'decoder':<12}" + "".join(f"{lang:>16}" for lang in LANGUAGES))
    for lang in LANGUAGES:
        cells = []
        for other in LANGUAGES:
            if other == lang:
                cells.append(f"{'-':>16}")
                continue
            entry = phase2[lang][other]
            known = f"+{len(entry['xfail'])}x" if entry["xfail"] else ""
            cells.append(f"{str(entry['agreed']) + '/' + str(entry['checked']) + known:>16}")
            for name, what in sorted(entry["mismatches"].items()):
                problems.append(f"{lang} decoding {other}: {name}: {'; '.join(what)}")
        print(f"{lang:<12}" + "".join(cells))
    print("(+Nx: N disagreements listed in testdata/conformance/expected-failures.json)")

    print(f"\nCorpus: {len(corpus)} cases; {len(gaps)} gap(s)" + (":" if gaps else ""))
    for gap in gaps:  # all of them: this list is the to-do
        print(f"  {gap}")
    print(
        f"coverage: {len(coverage.covered())}/{len(coverage.messages)} messages have a valid and a rejecting case"
        " (testdata/conformance/README.md, Coverage)"
    )
    return problems + gaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-build", action="store_true", help="do not rebuild the Go executor")
    args = parser.parse_args()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        built = None if args.no_build else pool.submit(build_go)
        loading = pool.submit(lambda: (cases(), expected_failures()))
        corpus, xfail = loading.result()
        coverage_job = pool.submit(compute, corpus)
        if built is not None:
            built.result()
        coverage = coverage_job.result()
    executors = {name: Executor(name, cmd, cwd) for name, (cmd, cwd) in executor_commands(sys.executable).items()}
    try:
        runnable = [c for c in corpus if c.problem is None]
        lines = [request(c) for c in runnable]
        with ThreadPoolExecutor(len(executors)) as pool:
            futures = {name: pool.submit(ex.run, lines) for name, ex in executors.items()}
            outputs = {name: future.result() for name, future in futures.items()}
        phase1: dict[str, dict[str, Record]] = {}
        for lang in LANGUAGES:
            records: dict[str, Record] = {}
            for case in corpus:
                if case.problem is not None:
                    records[case.name] = {
                        "type": case.type,
                        "input": case.input_kind,
                        "expected": case.expected_verdict,
                        "verdict": "bad_case",
                        "violations": [],
                        "failures": [case.problem],
                        "ok": False,
                    }
                    known = xfail.get(case.name)
                    if known is not None and lang in known.languages:
                        records[case.name]["expected_failure"] = known.reason
            for case, out in zip(runnable, outputs[lang], strict=True):
                records[case.name] = judge(case, out, lang, xfail.get(case.name))
            phase1[lang] = {c.name: records[c.name] for c in corpus}

        jobs = {lang: cross_requests(corpus, lang, phase1) for lang in LANGUAGES}
        with ThreadPoolExecutor(len(executors)) as pool:
            futures = {lang: pool.submit(executors[lang].run, [job[2] for job in jobs[lang]]) for lang in LANGUAGES}
            answers = {lang: future.result() for lang, future in futures.items()}
    finally:
        for executor in executors.values():
            executor.close()
    compared: dict[str, Compared] = {}
    for lang in LANGUAGES:
        compared[lang] = {}
        for (name, origin, _), out in zip(jobs[lang], answers[lang], strict=True):
            found: dict[str, list[str]] = {}
            results = (out.get("checks") or {}).get("compared")
            for index, other in enumerate(origin):
                if results is None:  # the executor failed to decode its own input this time
                    problem: str | None = f"{out['verdict']}: {out.get('error')}"
                else:
                    problem = results[index]
                if problem is not None:
                    found.setdefault(other, []).append(problem)
            compared[lang][name] = found
    phase2 = cross(corpus, phase1, compared, xfail)

    gaps = corpus_problems(corpus, coverage, xfail)
    problems = report(phase1, phase2, corpus, gaps, coverage)
    out_dir = ROOT / ".build" / "conformance" / (os.environ.get("CQC_CONFORMANCE_RUN") or "last")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps({"cases": phase1, "cross": phase2}, indent=1, sort_keys=True))
    print(f"({time.monotonic() - started:.1f} s; results: {out_dir.relative_to(ROOT)}/results.json)")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)")
        for problem in problems[: SHOWN * len(LANGUAGES)]:
            print(f"  {problem}")
        if len(problems) > SHOWN * len(LANGUAGES):
            print(f"  ... and {len(problems) - SHOWN * len(LANGUAGES)} more (see {out_dir}/results.json)")
        return 1
    print("\nOK: every language gives every expected outcome and decodes every other language's encodings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
