"""Runs conformance cases against the Python package and records each result for the other languages.

Phase 1 (:func:`run_case`): decode the case's input, validate, compare with the expected outcome, round-trip
through binary and canonical JSON, check golden JSON and re-encoded bytes. Every result, with the message
re-encoded as binary (base64) and canonical JSON, goes to .build/conformance/<run>/python.json, which the Go and
TypeScript runners decode in phase 2 (conformance_cross.py is Python's side of phase 2).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT
from corpus import Case, ExpectedFailure, golden_path
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from cqc.registry import message_class
from cqc.validation import violations
from cqc.wire import decode_binary, decode_json, decode_json_text

LANGUAGE = "python"


def run_id() -> str:
    """Set by `nox -s conformance` to a fresh id per run; empty in ordinary package test runs."""
    return os.environ.get("CQC_CONFORMANCE_RUN", "")


# Each run writes to its own directory, so concurrent runs (a shared tree) never read each other's files.
RESULTS = REPO_ROOT / ".build" / "conformance" / (run_id() or "none")


def decode(case: Case) -> Message:
    """The case's input decoded as its type; raises on malformed input (the parse_error outcome)."""
    cls = message_class(case.type)
    if case.binary is not None:
        return decode_binary(cls, case.binary)
    if case.json_text is not None:
        return decode_json_text(cls, case.json_text)
    return decode_json(cls, case.value)


def canonical_json(message: Message) -> Any:
    """The message as a canonical proto3 JSON value (lowerCamelCase names, default values omitted)."""
    return json_format.MessageToDict(message)


def without_unknown(message: Message) -> Message:
    copied = type(message)()
    copied.CopyFrom(message)
    copied.DiscardUnknownFields()
    return copied


def run_case(case: Case, xfail: ExpectedFailure | None) -> dict[str, Any]:
    """Runs one case; the record holds `ok`, the `failures` found, the verdict and the re-encodings."""
    failures: list[str] = []
    record: dict[str, Any] = {"type": case.type, "input": case.input_kind, "expected": case.expected_verdict}
    if case.problem is not None:
        record.update(verdict="bad_case", violations=[])
        failures.append(case.problem)
        return _finish(record, failures, xfail)
    try:
        message_class(case.type)
    except KeyError:
        record.update(verdict="unknown_type", violations=[])
        failures.append(f"{case.type} is not in the generated code (regenerate: nox -s generate)")
        return _finish(record, failures, xfail)
    try:
        message = decode(case)
    except (json_format.ParseError, DecodeError, ValueError, TypeError) as error:
        record.update(verdict="parse_error", violations=[], error=str(error)[:300])
        if not case.parse_error:
            failures.append(f"decode failed: {error}")
        return _finish(record, failures, xfail)
    if case.parse_error:
        failures.append("decoded, but the case expects a decode error")
    try:
        found = sorted(f"{v.field} {v.rule_id}" for v in violations(message))
    except Exception as error:  # protovalidate's EvaluationError: a rule that cannot be evaluated
        record.update(verdict="runtime_error", violations=[], error=str(error)[:300])
        failures.append(f"validation raised instead of reporting violations: {error}")
        return _finish(record, failures, xfail)
    expected = sorted(f"{field} {rule}" for field, rule in case.violations)
    record.update(verdict="invalid" if found else "valid", violations=found)
    if not case.parse_error and found != expected:
        failures.append(f"violations: expected {expected}, got {found}")

    wire = message.SerializeToString()
    record["binary"] = base64.b64encode(wire).decode()
    if message_class(case.type).FromString(wire) != message:
        failures.append("binary round trip changed the message")
    if case.reencoded is not None and wire != case.reencoded:
        failures.append(f"re-encoded bytes {wire.hex()} differ from the expected {case.reencoded.hex()}")

    try:
        as_json = canonical_json(message)
    except (json_format.SerializeToJsonError, ValueError) as error:
        record["json"] = None
        if case.json_encodable:
            failures.append(f"canonical JSON encoding failed: {error}")
    else:
        record["json"] = as_json
        if not case.json_encodable:
            failures.append("encoded as JSON, but the case says the message has no canonical JSON form")
        back = json_format.ParseDict(as_json, message_class(case.type)())
        if back != without_unknown(message):
            failures.append("canonical JSON round trip changed the message")
        if case.example is not None:
            failures.extend(check_golden(case, message, as_json))
    return _finish(record, failures, xfail)


def check_golden(case: Case, message: Message, as_json: Any) -> list[str]:
    """The example's canonical JSON equals its golden file (as JSON values), which decodes to the same message."""
    assert case.example is not None
    path = golden_path(case.example)
    if not path.exists():
        return [f"no golden file {path.relative_to(REPO_ROOT)}; regenerate: nox -s conformance -- golden"]
    golden = json.loads(path.read_text())
    problems = []
    if golden != as_json:
        problems.append(f"canonical JSON differs from {path.name}: {json.dumps(as_json, sort_keys=True)}")
    if json_format.ParseDict(golden, message_class(case.type)()) != message:
        problems.append(f"golden {path.name} decodes to a different message")
    return problems


def _finish(record: dict[str, Any], failures: list[str], xfail: ExpectedFailure | None) -> dict[str, Any]:
    record["failures"] = failures
    record["ok"] = not failures
    if xfail is not None and LANGUAGE in xfail.languages:
        record["expected_failure"] = xfail.reason
    return record


def outcome(record: dict[str, Any]) -> str:
    """passed, failed, xfail (failed as expected) or xpass (listed as expected failure but passed: a failure)."""
    if "expected_failure" in record:
        return "xpass" if record["ok"] else "xfail"
    return "passed" if record["ok"] else "failed"


def write_results(name: str, document: dict[str, Any]) -> Path | None:
    """Writes .build/conformance/<run>/<name>.json; only under `nox -s conformance` (a run id is set)."""
    if not run_id():
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"language": LANGUAGE, "run": run_id(), **document}, indent=1, sort_keys=True))
    tmp.replace(path)
    return path
