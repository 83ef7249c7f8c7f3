"""Runs the language-neutral corpus (testdata/) against the Python package: decode, validate, round-trip."""

from __future__ import annotations

import pytest
from corpus import Case, cases
from google.protobuf import json_format

from cqc.registry import message_class
from cqc.validation import violations

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    message = json_format.ParseDict(case.value, message_class(case.type)())
    found = {(v.field, v.rule_id) for v in violations(message)}
    assert found == set(case.violations), f"{case.name}: expected {sorted(case.violations)}, got {sorted(found)}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round_trip(case: Case) -> None:
    cls = message_class(case.type)
    message = json_format.ParseDict(case.value, cls())
    from_binary = cls.FromString(message.SerializeToString())
    assert from_binary == message
    from_json = json_format.Parse(json_format.MessageToJson(message), cls())
    assert from_json == message


def test_corpus_is_not_empty() -> None:
    assert len([c for c in CASES if c.valid]) >= 5
    assert len([c for c in CASES if not c.valid]) >= 20
