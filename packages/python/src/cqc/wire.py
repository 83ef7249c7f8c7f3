"""The safe way to decode CQC messages from untrusted bytes or JSON in Python.

:func:`decode_binary` applies the wire checks CQC applies in every language (Go ``cqc.UnmarshalBinary``,
TypeScript ``decodeBinary``) before the protobuf runtime parses the bytes: tags, varints (at most 10 bytes),
fixed-width values and lengths lie inside their enclosing message, sub-messages of message-typed fields parse
exactly to their end, groups end with their own end tag, and nothing (sub-messages and groups, unknown ones
included) nests deeper than :data:`MAX_BINARY_DEPTH`. The runtimes differ on the last point (Python's stops at
100 levels, TypeScript's at 99, Go's at 10,000); CQC's helpers pin one limit so all three accept the same bytes.

:func:`decode_json` rejects, before ``json_format`` sees them, leniencies of protobuf's Python JSON parser
that Go and TypeScript do not have: an enum given as a numeric *string* (``"type": "1"``), as ``true`` or as
a fractional number, a timestamp with a decimal point but no fractional digits (``"2025-01-01T00:00:00.Z"``),
a duration with more than 9 fractional digits, malformed base64 for bytes (``"AAEC="``),
whitespace around a timestamp or duration, and a message
that is not a JSON object (``[]``).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

MAX_BINARY_DEPTH = 64
"""CQC's nesting limit for binary input: sub-messages and groups, unknown ones included, in every language."""

M = TypeVar("M", bound=Message)
Descriptor = Any  # google.protobuf.descriptor.Descriptor (the upb and pure-Python classes differ in typing)


def decode_binary(cls: type[M], data: bytes) -> M:
    """``data`` decoded as ``cls`` after CQC's wire checks; raises ``DecodeError`` on malformed input."""
    check_wire(cls.DESCRIPTOR, data)
    message = cls()
    message.ParseFromString(data)
    return message


def check_wire(descriptor: Descriptor, data: bytes) -> None:
    """Raises ``DecodeError`` unless ``data`` is well-formed wire format for ``descriptor`` (see module doc)."""
    if _scan(descriptor, memoryview(data), 0, len(data), 0, 0) != len(data):
        raise DecodeError("trailing bytes after the message")


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if pos >= end:
            raise DecodeError("truncated varint")
        b = data[pos]
        pos += 1
        if i == 9 and b > 1:
            raise DecodeError("varint overflows 64 bits")
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos
    raise DecodeError("varint longer than 10 bytes")


def _child(descriptor: Descriptor | None, number: int) -> Descriptor | None:
    if descriptor is None:
        return None
    field = descriptor.fields_by_number.get(number)
    if field is None or field.type != FieldDescriptor.TYPE_MESSAGE:
        return None
    return field.message_type


def _scan(descriptor: Descriptor | None, data: memoryview, pos: int, end: int, depth: int, group: int) -> int:
    while pos < end:
        tag, pos = _varint(data, pos, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise DecodeError(f"invalid field number {number}")
        if wire_type == 0:
            _, pos = _varint(data, pos, end)
        elif wire_type == 1:
            pos += 8
            if pos > end:
                raise DecodeError(f"truncated fixed64 field {number}")
        elif wire_type == 5:
            pos += 4
            if pos > end:
                raise DecodeError(f"truncated fixed32 field {number}")
        elif wire_type == 2:
            length, pos = _varint(data, pos, end)
            if length > end - pos:
                raise DecodeError(f"field {number} runs past the end of its message")
            sub = _child(descriptor, number)
            if sub is not None:
                if depth + 1 > MAX_BINARY_DEPTH:
                    raise DecodeError(f"nesting deeper than {MAX_BINARY_DEPTH}")
                _scan(sub, data, pos, pos + length, depth + 1, 0)
            pos += length
        elif wire_type == 3:
            if depth + 1 > MAX_BINARY_DEPTH:
                raise DecodeError(f"nesting deeper than {MAX_BINARY_DEPTH}")
            pos = _scan(None, data, pos, end, depth + 1, number)
        elif wire_type == 4:
            if number != group:
                raise DecodeError(f"unexpected end of group {number}")
            return pos
        else:
            raise DecodeError(f"invalid wire type {wire_type}")
    if group:
        raise DecodeError(f"group {group} is not terminated")
    return pos


_EMPTY_FRACTION = re.compile(r"\.(Z|[+-]\d\d:\d\d)$")
_LONG_FRACTION = re.compile(r"\.\d{10,}s$")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?([eE][-+]?\d+)?\s*")


def _is_base64(text: str) -> bool:
    """Standard or URL-safe base64, padded (to a multiple of 4) or not, as Go's protojson accepts it."""
    if not _BASE64.fullmatch(text):
        return False
    if "=" in text:
        return len(text) % 4 == 0
    return len(text) % 4 != 1


def _check_json(descriptor: Descriptor, value: Any, depth: int) -> None:
    if depth > MAX_BINARY_DEPTH:
        return
    if descriptor.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        if isinstance(value, str) and value != value.strip():
            raise json_format.ParseError(f"invalid {descriptor.name} {value!r}: surrounding whitespace")
    if descriptor.full_name == "google.protobuf.Timestamp":
        if isinstance(value, str) and _EMPTY_FRACTION.search(value):
            raise json_format.ParseError(f"invalid timestamp {value!r}: a decimal point needs digits")
        return
    if descriptor.full_name == "google.protobuf.Duration":
        if isinstance(value, str) and _LONG_FRACTION.search(value):
            raise json_format.ParseError(f"invalid duration {value!r}: at most 9 fractional digits")
        return
    if not isinstance(value, dict):
        return
    for field in descriptor.fields:
        item = value.get(field.json_name, value.get(field.name))
        if item is None:
            continue
        is_map = field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
        if is_map:
            values = list(item.values()) if isinstance(item, dict) else []
        else:
            values = item if field.is_repeated and isinstance(item, list) else [item]
        if field.type == FieldDescriptor.TYPE_BYTES:
            for v in values:
                if isinstance(v, str) and not _is_base64(v):
                    raise json_format.ParseError(f"bytes {field.name}: {v!r} is not base64")
        elif field.type == FieldDescriptor.TYPE_ENUM:
            for v in values:
                if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                    raise json_format.ParseError(f"enum {field.name}: {v!r} is neither a value name nor an integer")
                if isinstance(v, str) and _NUMBER.fullmatch(v):
                    raise json_format.ParseError(f"enum {field.name}: a number must be a JSON number, not {v!r}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            sub = field.message_type
            if is_map:
                value_field = sub.fields_by_name["value"]
                if value_field.type != FieldDescriptor.TYPE_MESSAGE:
                    continue
                sub = value_field.message_type
            for v in values:
                if v is not None and not isinstance(v, dict) and not sub.full_name.startswith("google.protobuf."):
                    raise json_format.ParseError(f"{field.name}: {sub.full_name} must be a JSON object")
                _check_json(sub, v, depth + 1)


def _check_top(descriptor: Descriptor, value: Any) -> None:
    if not isinstance(value, dict) and not descriptor.full_name.startswith("google.protobuf."):
        raise json_format.ParseError(f"{descriptor.full_name} must be a JSON object")
    _check_json(descriptor, value, 0)


def decode_json(cls: type[M], value: Any) -> M:
    """A proto3 JSON value decoded as ``cls`` after CQC's checks; raises ``json_format.ParseError``."""
    _check_top(cls.DESCRIPTOR, value)
    message = cls()
    json_format.ParseDict(value, message)
    return message


def decode_json_text(cls: type[M], text: str | bytes) -> M:
    """Proto3 JSON text decoded as ``cls`` after CQC's checks; raises ``json_format.ParseError``."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None  # json_format reports the syntax error below
    else:
        _check_top(cls.DESCRIPTOR, value)
    message = cls()
    json_format.Parse(text, message)
    return message
