"""A malformed decimal must give a violation naming the field, never a validation crash.

Cross-field rules compare decimals with CEL's double(); unguarded, double("abc") raises an evaluation error
and a service would answer INTERNAL instead of INVALID_ARGUMENT. For every example message, every populated
decimal field (at any depth) is set to a malformed value in turn, and validation must report exactly that
field's decimal rule among its violations, without raising.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from corpus import examples
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cqc._gen.buf.validate import validate_pb2
from cqc.registry import message_class
from cqc.types.v1 import rules_pb2
from cqc.validation import violations

DECIMAL_RULES = {
    "cqc.decimal": rules_pb2.decimal,
    "cqc.decimal.non_negative": rules_pb2.non_negative_decimal,
    "cqc.decimal.positive": rules_pb2.positive_decimal,
}


def _decimal_rule(field: FieldDescriptor) -> str | None:
    if field.type != FieldDescriptor.TYPE_STRING or field.is_repeated:
        return None
    options = field.GetOptions()
    if not options.HasExtension(validate_pb2.field):
        return None
    string_rules = options.Extensions[validate_pb2.field].string
    for rule_id, extension in DECIMAL_RULES.items():
        if string_rules.HasExtension(extension) and string_rules.Extensions[extension]:
            return rule_id
    return None


def _decimal_paths(message: Message, prefix: str = "") -> Iterator[tuple[str, Message, FieldDescriptor, str]]:
    """(path, owning message, field, rule id) for every populated singular decimal field, at any depth."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        rule = _decimal_rule(field)
        if rule is not None:
            yield path, message, field, rule
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type is not None
            and not field.message_type.GetOptions().map_entry
        ):
            if field.is_repeated:
                for index, item in enumerate(value):
                    yield from _decimal_paths(item, f"{path}[{index}].")
            else:
                yield from _decimal_paths(value, f"{path}.")


EXAMPLES = examples()


def _cases() -> list[tuple[str, str, str]]:
    found = []
    for key, value in EXAMPLES.items():
        type_name = key.split("/")[0]
        message = json_format.ParseDict(value, message_class(type_name)())
        for path, _, _, _ in _decimal_paths(message):
            found.append((key, type_name, path))
    return found


CASES = _cases()


def test_examples_have_decimals_to_break() -> None:
    assert len(CASES) > 100


@pytest.mark.parametrize("malformed", ["abc", "1e5", ""])
@pytest.mark.parametrize(("key", "type_name", "path"), CASES, ids=[f"{k}:{p}" for k, _, p in CASES])
def test_malformed_decimal_is_a_violation_not_a_crash(key: str, type_name: str, path: str, malformed: str) -> None:
    message = json_format.ParseDict(EXAMPLES[key], message_class(type_name)())
    for candidate, owner, field, rule in _decimal_paths(message):
        if candidate == path:
            setattr(owner, field.name, malformed)
            found = {(v.field, v.rule_id) for v in violations(message)}
            assert (path, rule) in found, f"{path}={malformed!r}: expected ({path}, {rule}) in {sorted(found)}"
            return
    raise AssertionError(f"{path} not found in {key}")
