"""Phase 2 of the conformance suite in Python: decode what Go and TypeScript encoded for every case (binary
and canonical JSON, from .build/conformance/<run>/<language>.json) and compare with Python's own decoding of the
case, as protobuf values (binary: unknown fields included). Verdicts and canonical JSON values must agree
too. Run by `nox -s conformance` after phase 1 in all three languages: `pytest tests/conformance_cross.py`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from conformance_engine import RESULTS, decode, run_id, without_unknown, write_results
from corpus import LANGUAGES, cases, expected_failures
from google.protobuf import json_format
from google.protobuf.message import Message

OTHERS = [lang for lang in LANGUAGES if lang != "python"]


def load(language: str) -> dict[str, Any] | None:
    """A language's phase-1 results, or None when missing or from another run (the report says which)."""
    path = RESULTS / f"{language}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document if document.get("run") == run_id() else None


def compare(own: Message | None, mine: dict[str, Any], theirs: dict[str, Any] | None) -> list[str]:
    """What differs between Python's result of a case and another language's."""
    if theirs is None:
        return ["no result for this case"]
    problems = []
    if (mine["verdict"], mine["violations"]) != (theirs["verdict"], theirs["violations"]):
        problems.append(
            f"verdict {theirs['verdict']} {theirs['violations']} != ours {mine['verdict']} {mine['violations']}"
        )
    if own is None or "binary" not in theirs:
        return problems
    cls = type(own)
    try:
        if cls.FromString(base64.b64decode(theirs["binary"])) != own:
            problems.append("their binary decodes to a different message")
    except Exception as error:  # any decode failure is a disagreement worth reporting, not a crash
        problems.append(f"their binary does not decode: {error}")
    if (theirs.get("json") is None) != (mine.get("json") is None):
        problems.append("one language encodes canonical JSON, the other refuses")
    elif theirs.get("json") is not None:
        try:
            if json_format.ParseDict(theirs["json"], cls()) != without_unknown(own):
                problems.append("their canonical JSON decodes to a different message")
        except json_format.ParseError as error:
            problems.append(f"their canonical JSON does not decode: {error}")
        if theirs["json"] != mine["json"]:
            problems.append(f"canonical JSON differs: {json.dumps(theirs['json'])[:200]}")
    return problems


def cross() -> dict[str, dict[str, Any]]:
    own_results = load("python")
    if own_results is None:
        pytest.fail("python's phase-1 results are missing or stale")
    mine = own_results["cases"]
    xfail = expected_failures()
    report: dict[str, dict[str, Any]] = {}
    decoded: dict[str, Message | None] = {}
    for case in cases():
        try:
            decoded[case.name] = decode(case)
        except Exception:
            decoded[case.name] = None
    for language in OTHERS:
        entry: dict[str, Any] = {"checked": 0, "agreed": 0, "mismatches": {}, "xfail": {}}
        loaded = load(language)
        if loaded is None:
            entry["mismatches"]["*"] = [f"{language}'s phase-1 results are missing or stale"]
            report[language] = entry
            continue
        theirs = loaded["cases"]
        for name, record in mine.items():
            entry["checked"] += 1
            problems = compare(decoded.get(name), record, theirs.get(name))
            known = xfail.get(name)
            if not problems:
                entry["agreed"] += 1
            elif known is not None and known.languages & {"python", language}:
                entry["xfail"][name] = problems
            else:
                entry["mismatches"][name] = problems
        report[language] = entry
    write_results("python-cross", {"against": report})
    return report


REPORT: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("language", OTHERS)
def test_decodes_what_the_other_language_encoded(language: str) -> None:
    if not REPORT:
        REPORT.update(cross())
    mismatches = REPORT[language]["mismatches"]
    assert not mismatches, "\n".join(f"{name}: {'; '.join(p)}" for name, p in sorted(mismatches.items()))
