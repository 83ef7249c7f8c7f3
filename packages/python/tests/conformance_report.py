"""Prints the conformance table from .build/conformance/<run>/ and exits non-zero on any disagreement.

Run by `nox -s conformance` after both phases. It fails when a language's results are missing or from
another run, when the languages ran different numbers of cases, when any case failed (or passed while
listed in expected-failures.json), when any language decoded another's encoding differently, or when a
message of the contract lacks a valid or a rejecting case (conformance_coverage.py computes the measure).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from conformance_coverage import Coverage, compute
from conformance_engine import RESULTS, run_id
from corpus import GOLDEN, LANGUAGES, cases, examples

SHOWN = 15  # failures listed per language


def load(name: str, problems: list[str]) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        problems.append(f"{path.name} is missing: that runner crashed or did not run")
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    if document.get("run") != run_id():
        problems.append(f"{path.name} is stale (run {document.get('run')!r}, expected {run_id()!r})")
        return None
    return document


def corpus_problems(coverage: Coverage) -> list[str]:
    """What is wrong with the corpus itself: uncovered messages, unresolvable violation paths, stale golden
    files. Every one fails the run."""
    problems = coverage.gaps() + coverage.problems
    goldens = {f"{p.parent.name}/{p.stem}" for p in GOLDEN.glob("*/*.json")}
    for stale in sorted(goldens - set(examples())):
        problems.append(f"corpus: golden {stale}.json has no example; regenerate: nox -s conformance -- golden")
    return problems


def main() -> int:
    problems: list[str] = []
    phase1 = {lang: load(lang, problems) for lang in LANGUAGES}
    phase2 = {lang: load(f"{lang}-cross", problems) for lang in LANGUAGES}

    print("\nConformance, phase 1: each language runs every case of testdata/ (examples, cases, golden JSON)")
    header = f"{'language':<12}{'cases':>7}{'passed':>8}{'failed':>8}{'xfail':>7}{'xpass':>7}"
    print(header)
    print("-" * len(header))
    counts = set()
    for lang, doc in phase1.items():
        if doc is None:
            print(f"{lang:<12}{'(no results)':>37}")
            continue
        records = doc["cases"]
        tally = {"passed": 0, "failed": 0, "xfail": 0, "xpass": 0}
        for name, record in sorted(records.items()):
            if "expected_failure" in record:
                key = "xpass" if record["ok"] else "xfail"
            else:
                key = "passed" if record["ok"] else "failed"
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
    for lang, doc in phase2.items():
        cells = []
        for other in LANGUAGES:
            if other == lang:
                cells.append(f"{'-':>16}")
            elif doc is None or other not in doc["against"]:
                cells.append(f"{'(none)':>16}")
            else:
                entry = doc["against"][other]
                known = f"+{len(entry['xfail'])}x" if entry["xfail"] else ""
                cells.append(f"{str(entry['agreed']) + '/' + str(entry['checked']) + known:>16}")
                for name, what in sorted(entry["mismatches"].items()):
                    problems.append(f"{lang} decoding {other}: {name}: {'; '.join(what)}")
        print(f"{lang:<12}" + "".join(cells))
    print("(+Nx: N disagreements listed in testdata/conformance/expected-failures.json)")

    corpus = cases()
    coverage = compute(corpus)
    gaps = corpus_problems(coverage)
    print(f"\nCorpus: {len(corpus)} cases; {len(gaps)} gap(s)" + (":" if gaps else ""))
    for gap in gaps:  # all of them: this list is the to-do
        print(f"  {gap}")
    print(
        f"coverage: {len(coverage.covered())}/{len(coverage.messages)} messages have a valid and a rejecting case"
        " (testdata/conformance/README.md, Coverage)"
    )
    problems.extend(gaps)

    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)")
        for problem in problems[: SHOWN * len(LANGUAGES)]:
            print(f"  {problem}")
        if len(problems) > SHOWN * len(LANGUAGES):
            print(f"  ... and {len(problems) - SHOWN * len(LANGUAGES)} more (see .build/conformance/<run>/*.json)")
        return 1
    print("\nOK: every language gives every expected outcome and decodes every other language's encodings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
