"""Validation of CQC messages with the protovalidate rules written in the protos.

The same rules run in Go (protovalidate-go) and TypeScript (@bufbuild/protovalidate); this module gives
them one Python face: :func:`violations` lists what is wrong, :func:`validate` raises on the first bad
message with every violation in the error, each naming the field path and the rule id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import protovalidate
from google.protobuf.message import Message

__all__ = ["ContractViolation", "InvalidMessageError", "size_violations", "validate", "violations"]

_validator = protovalidate.Validator()


@dataclass(frozen=True, order=True)
class ContractViolation:
    """One broken rule: ``field`` is a path such as ``"asset_id"`` or ``"levels[2].price"``, ``rule_id`` the
    rule's id (``"cqc.decimal"``, ``"string.pattern"``, ``"chain.evm_chain_id_matches_caip2"``)."""

    field: str
    rule_id: str
    message: str

    def __str__(self) -> str:
        where = self.field or "(message)"
        return f"{where}: {self.message} [{self.rule_id}]"


class InvalidMessageError(ValueError):
    """Raised by :func:`validate`; ``violations`` holds every broken rule, sorted by field then rule."""

    def __init__(self, message_type: str, found: list[ContractViolation]) -> None:
        self.message_type = message_type
        self.violations = found
        details = "; ".join(str(v) for v in found)
        super().__init__(f"invalid {message_type}: {details}")


def _path(field_path: Any) -> str:
    parts: list[str] = []
    for element in field_path.elements:
        name = element.field_name
        parts.append(f".{name}" if parts else name)
        subscript = element.subscript  # a oneof: repeated index or map key, or None
        if subscript is not None:
            if subscript.field == "string_key":
                parts.append(f'["{subscript.value}"]')
            elif subscript.field == "bool_key":
                parts.append(f"[{str(subscript.value).lower()}]")
            else:
                parts.append(f"[{subscript.value}]")
    return "".join(parts)


def violations(message: Message) -> list[ContractViolation]:
    """Every rule ``message`` breaks, sorted; an empty list means the message is valid."""
    found = []
    for violation in _validator.collect_violations(message):
        proto = violation.proto
        field = _path(proto.field) if proto.has_field("field") else ""
        found.append(ContractViolation(field=field, rule_id=proto.rule_id, message=proto.message))
    return sorted(found)


def validate(message: Message) -> None:
    """Raises :class:`InvalidMessageError` naming every broken rule, or returns if ``message`` is valid."""
    found = violations(message)
    if found:
        raise InvalidMessageError(message.DESCRIPTOR.full_name, found)


# Size pre-check. protovalidate walks every item of a repeated field (tens of microseconds each) and goes on
# after `max_items` already failed, so a multi-megabyte request costs seconds. Servers call
# size_violations first: it reads only lengths (repeated max_items, map max_pairs, string max_len/max_bytes,
# bytes max_len) and never walks the items of a field that is already over its item limit.

_SizeRule = tuple[Any, str, int, str]  # (field, rule id, limit, message)
_size_rule_cache: dict[str, tuple[list[_SizeRule], list[Any]]] = {}


def _size_rules(descriptor: Any) -> tuple[list[_SizeRule], list[Any]]:
    """The size rules of a message type's fields, and its message-typed fields to descend into (cached)."""
    cached = _size_rule_cache.get(descriptor.full_name)
    if cached is not None:
        return cached
    from cqc._gen.buf.validate import validate_pb2  # generated with the contract

    rules: list[_SizeRule] = []
    nested: list[Any] = []
    for field in descriptor.fields:
        options = field.GetOptions()
        field_rules = options.Extensions[validate_pb2.field] if options.HasExtension(validate_pb2.field) else None
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if field_rules is not None and field_rules.ignore != validate_pb2.IGNORE_ALWAYS:
            if is_map and field_rules.map.HasField("max_pairs"):
                limit = field_rules.map.max_pairs
                rules.append((field, "map.max_pairs", limit, f"map must be at most {limit} entries"))
            elif field.is_repeated and not is_map and field_rules.repeated.HasField("max_items"):
                limit = field_rules.repeated.max_items
                rules.append((field, "repeated.max_items", limit, f"must contain no more than {limit} item(s)"))
            scalar = field_rules.repeated.items if field.is_repeated and not is_map else field_rules
            if scalar.HasField("string"):
                if scalar.string.HasField("max_len"):
                    limit = scalar.string.max_len
                    rules.append((field, "string.max_len", limit, f"must be at most {limit} characters"))
                if scalar.string.HasField("max_bytes"):
                    limit = scalar.string.max_bytes
                    rules.append((field, "string.max_bytes", limit, f"must be at most {limit} bytes"))
            elif scalar.HasField("bytes") and scalar.bytes.HasField("max_len"):
                limit = scalar.bytes.max_len
                rules.append((field, "bytes.max_len", limit, f"must be at most {limit} bytes"))
        if field.message_type is not None and not is_map and not field.message_type.full_name.startswith("google."):
            nested.append(field)
    _size_rule_cache[descriptor.full_name] = (rules, nested)
    return rules, nested


def _check_sizes(message: Message, prefix: str, found: list[ContractViolation], budget: list[int]) -> None:
    rules, nested = _size_rules(message.DESCRIPTOR)
    over: set[str] = set()
    for field, rule_id, limit, text in rules:
        value = getattr(message, field.name)
        path = f"{prefix}.{field.name}" if prefix else field.name
        if rule_id in ("repeated.max_items", "map.max_pairs"):
            if len(value) > limit:
                found.append(ContractViolation(field=path, rule_id=rule_id, message=text))
                over.add(field.name)
            continue
        if field.name in over:
            continue  # the item limit already failed: do not walk the items
        items = value if field.is_repeated else (value,)
        for index, item in enumerate(items):
            budget[0] -= 1
            size = len(item.encode("utf-8")) if rule_id == "string.max_bytes" else len(item)
            if size > limit:
                where = f"{path}[{index}]" if field.is_repeated else path
                found.append(ContractViolation(field=where, rule_id=rule_id, message=text))
    for field in nested:
        if field.name in over:
            continue
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.is_repeated:
            for index, item in enumerate(getattr(message, field.name)):
                budget[0] -= 1
                if budget[0] < 0:
                    return
                _check_sizes(item, f"{path}[{index}]", found, budget)
        elif message.HasField(field.name):
            _check_sizes(getattr(message, field.name), path, found, budget)


def size_violations(message: Message, *, max_visits: int = 1_000_000) -> list[ContractViolation]:
    """The size rules ``message`` breaks (repeated ``max_items``, map ``max_pairs``, string ``max_len`` /
    ``max_bytes``, bytes ``max_len``), found by reading lengths only: the items of a field over its item limit
    are never visited. A subset of :func:`violations`; empty when every size rule holds (then run
    :func:`violations`). ``max_visits`` bounds the items visited in total."""
    found: list[ContractViolation] = []
    _check_sizes(message, "", found, [max_visits])
    return sorted(found)
