"""Phase 1 of the cross-language conformance suite in Python: every case of testdata/ (examples, case
files, golden JSON) gives the expected outcome here, and the results go to .build/conformance/<run>/python.json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conformance_engine import outcome, run_case, write_results
from corpus import GOLDEN, LANGUAGES, Case, cases, examples, expected_failures

CASES = cases()
XFAIL = expected_failures()
RESULTS: dict[str, dict[str, Any]] = {c.name: run_case(c, XFAIL.get(c.name)) for c in CASES}
write_results(
    "python",
    {
        "cases": RESULTS,
        "summary": {
            k: sum(1 for r in RESULTS.values() if outcome(r) == k) for k in ("passed", "failed", "xfail", "xpass")
        },
    },
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    record = RESULTS[case.name]
    result = outcome(record)
    if result == "xfail":
        pytest.xfail(f"{record['expected_failure']} (got: {'; '.join(record['failures'])})")
    assert result != "xpass", f"{case.name} passes: remove it from expected-failures.json"
    assert record["ok"], "; ".join(record["failures"])


def test_every_example_has_golden_json_and_no_golden_is_stale() -> None:
    goldens = {f"{p.parent.name}/{p.stem}" for p in GOLDEN.glob("*/*.json")}
    assert goldens == set(examples()), "regenerate with: nox -s conformance -- golden"


def test_expected_failures_name_real_cases_and_languages() -> None:
    names = {c.name for c in CASES}
    for entry in XFAIL.values():
        assert entry.case in names, f"expected-failures.json names unknown case {entry.case!r}"
        assert entry.languages and entry.languages <= set(LANGUAGES), entry


def test_golden_files_are_formatted() -> None:
    """Golden files are exactly what the regeneration command writes (field order, 2-space indent)."""
    for path in GOLDEN.glob("*/*.json"):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", path
