"""A ledger accounts for every key of a venue payload: where it went in the contract, or why it did not.

Payload keys are written as paths: `symbol.onboardDate`, `filters[PRICE_FILTER].tickSize` (Binance filters are
keyed by their filterType), `assets[*].asset` (any element of an array of objects; the concrete index replaces
`{i}` in the target field path). Arrays of scalars are leaves. Each path has one entry:

- Mapped: one or more proto field paths, each with the documented conversion; the check asserts that the
  mapped message holds exactly the converted source value (decimals compared as Decimal, times as ms).
- RawOnly: nothing in the contract, by design (a duplicate, an "ignore" field); kept only in source_record.
- Inapplicable: the contract has a field for other instrument kinds, not this one; the value must be the
  venue's "not applicable" value ("" / false / []), else the mapping for this kind loses it.
- Gap: the contract has no field for it; the value must be the venue's "not applicable" value, else the record
  cannot be represented without loss (a finding about the contract, not the mapper).

A payload key with no entry is an error: a new record of the same kind with new keys fails until the ledger
(and the mapper) account for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from .convert import Json


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""The expected or actual value of a field that has no value (an optional scalar or a message not set)."""

Expect = Callable[[Json, Json], Any]
"""(the key's value, the whole payload) -> the expected value in normalised form, or UNSET."""


def _normalise_decimal(value: Any) -> Any:
    return Decimal(value)


def _normalise_time(value: Any) -> Any:
    assert isinstance(value, Timestamp)
    return value.ToMilliseconds()


def _normalise_duration(value: Any) -> Any:
    assert isinstance(value, Duration)
    return value.ToMilliseconds()


def _normalise_plain(value: Any) -> Any:
    return list(value) if not isinstance(value, str | bytes | int | float | bool | Message) else value


NORMALISE: dict[str, Callable[[Any], Any]] = {
    "decimal": _normalise_decimal,
    "time": _normalise_time,
    "duration": _normalise_duration,
    "plain": _normalise_plain,
    "present": lambda _value: True,
}


@dataclass(frozen=True)
class Target:
    """One proto field a payload key lands in. `message` names which mapped message ("instrument", "market",
    "report"); `path` may contain `{i}`, the payload array index."""

    message: str
    path: str
    expect: Expect
    kind: str = "plain"
    tag: str = ""
    """For kind "tags": the key of the `<key>:<value>` items of Market.venue_tags."""


@dataclass(frozen=True)
class Mapped:
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class RawOnly:
    reason: str


@dataclass(frozen=True)
class Inapplicable:
    reason: str
    empty: tuple[Json, ...] = ("",)


@dataclass(frozen=True)
class Gap:
    reason: str
    empty: tuple[Json, ...] = ("",)


Entry = Mapped | RawOnly | Inapplicable | Gap
Ledger = Mapping[str, Entry]


def mapped(*targets: Target) -> Mapped:
    return Mapped(targets)


@dataclass(frozen=True)
class Leaf:
    pattern: str
    path: str
    value: Json
    index: int | None


def leaves(value: Json, pattern: str = "", path: str = "", index: int | None = None) -> Iterator[Leaf]:
    """Every leaf key of a payload. Objects are recursed into; arrays of objects too (Binance filters are
    addressed by filterType, others by position); arrays of scalars, empty arrays and scalars are leaves."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            dot = "." if pattern else ""
            yield from leaves(child, f"{pattern}{dot}{key}", f"{path}{dot}{key}", index)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for position, item in enumerate(value):
            if "filterType" in item:
                label = str(item["filterType"])
                yield from leaves(item, f"{pattern}[{label}]", f"{path}[{label}]", index)
            else:
                yield from leaves(item, f"{pattern}[*]", f"{path}[{position}]", position)
    else:
        yield Leaf(pattern, path, value, index)


_SEGMENT = re.compile(r"^(\w+)(?:\[(\d+)\])?$")


def resolve(message: Message, path: str) -> Any:
    """The value at a field path such as `derivative.margin.margin_assets[2].asset_id`, or UNSET when an
    optional field or message on the way is not set (or a repeated index is out of range)."""
    current: Any = message
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        assert match is not None, f"bad field path segment {segment!r} in {path!r}"
        name, position = match.group(1), match.group(2)
        descriptor = current.DESCRIPTOR.fields_by_name.get(name)
        assert descriptor is not None, f"{current.DESCRIPTOR.full_name} has no field {name!r} (path {path!r})"
        if descriptor.is_repeated:
            items = getattr(current, name)
            if position is None:
                current = items
                continue
            if int(position) >= len(items):
                return UNSET
            current = items[int(position)]
            continue
        if descriptor.has_presence and not current.HasField(name):
            return UNSET
        current = getattr(current, name)
    return current


@dataclass
class Account:
    """What the ledger found for one payload: key counts per category, and every problem."""

    mapped: list[str] = field(default_factory=list)
    raw_only: list[str] = field(default_factory=list)
    inapplicable: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _check_target(target: Target, leaf: Leaf, root: Json, messages: Mapping[str, Message]) -> str | None:
    path = target.path.replace("{i}", str(leaf.index))
    expected = target.expect(leaf.value, root)
    actual_raw = resolve(messages[target.message], path)
    where = f"{leaf.path} -> {target.message}.{path}"
    if target.kind == "tags":
        prefix = f"{target.tag}:"
        actual = [t[len(prefix) :] for t in actual_raw if t.startswith(prefix)]
        return None if actual == expected else f"{where}: venue_tags {target.tag}: {actual} != {expected}"
    if expected is UNSET:
        return None if actual_raw is UNSET else f"{where}: expected unset, found {actual_raw!r}"
    if actual_raw is UNSET:
        return f"{where}: expected {expected!r}, found unset"
    actual = NORMALISE[target.kind](actual_raw)
    return None if actual == expected else f"{where}: expected {expected!r}, found {actual!r}"


def account(payload: Json, ledger: Ledger, messages: Mapping[str, Message]) -> Account:
    """Checks every key of `payload` against `ledger` and the mapped `messages`, and that every message's
    source_record keeps the payload verbatim."""
    result = Account()
    for leaf in leaves(payload):
        entry = ledger.get(leaf.pattern)
        if entry is None:
            result.problems.append(f"{leaf.path}: key not in the ledger (value {leaf.value!r})")
        elif isinstance(entry, Mapped):
            result.mapped.append(leaf.path)
            for target in entry.targets:
                problem = _check_target(target, leaf, payload, messages)
                if problem is not None:
                    result.problems.append(problem)
        elif isinstance(entry, RawOnly):
            result.raw_only.append(leaf.path)
        else:
            (result.inapplicable if isinstance(entry, Inapplicable) else result.gaps).append(leaf.path)
            if leaf.value not in entry.empty:
                kind = "not applicable to this kind" if isinstance(entry, Inapplicable) else "no contract field"
                result.problems.append(f"{leaf.path}: {leaf.value!r} would be lost ({kind}: {entry.reason})")
    for name, message in messages.items():
        if "source_record" not in message.DESCRIPTOR.fields_by_name:
            continue  # a component (e.g. one MarginTier row) travels inside a message that carries the record
        raw = resolve(message, "source_record.raw_json")
        text = resolve(message, "source_record.raw_text")
        if raw not in (UNSET, ""):
            kept = json.loads(raw) == payload
        else:  # a text record (FIX tag=value): its fields, parsed as the payload was
            from .fix import fix_fields

            kept = text is not UNSET and fix_fields(text) == payload
        if not kept:
            result.problems.append(f"{name}.source_record does not hold the payload")
    return result


def is_decimal_field(field_descriptor: FieldDescriptor) -> bool:
    """Whether a string field carries one of the cqc decimal rules."""
    from cqc._gen.buf.validate import validate_pb2
    from cqc.types.v1 import rules_pb2

    if field_descriptor.type != FieldDescriptor.TYPE_STRING:
        return False
    options = field_descriptor.GetOptions()
    if not options.HasExtension(validate_pb2.field):
        return False
    rules = options.Extensions[validate_pb2.field]
    if field_descriptor.is_repeated:
        string_rules = rules.repeated.items.string
    else:
        string_rules = rules.string
    return any(
        string_rules.HasExtension(ext) and string_rules.Extensions[ext]
        for ext in (
            rules_pb2.decimal,
            rules_pb2.non_negative_decimal,
            rules_pb2.positive_decimal,
            rules_pb2.fraction,
            rules_pb2.fee_rate,
        )
    )
