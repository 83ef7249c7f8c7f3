"""Safe printing and logging of CQC messages: fields marked ``debug_redact = true`` never appear in clear.

Protobuf's own ``str()``, ``repr()``, ``text_format`` and ``json_format`` print every field, including the
ones the contract marks ``debug_redact`` (wallet and deposit addresses, memos, venue account identifiers,
api key ids, credential references; the policy is in proto/README.md, section "Redaction"). Use this
module whenever a message leaves the process as text (logs, error messages, debug output):

- :func:`redacted` returns a copy with every redacted field replaced (strings by :data:`REDACTED`);
- :func:`to_text` and :func:`to_json` format that copy (text format, canonical proto JSON);
- :func:`safe` wraps a message so ``str()``/``repr()``/``%s``/f-strings print the redacted text;
- :class:`RedactingFilter` makes :mod:`logging` redact every message found in a record's ``msg`` and
  ``args``: ``logger.addFilter(RedactingFilter())`` (or on a handler), then log messages as usual.

Rules (the same in Go and TypeScript; testdata/helpers/redaction-cases.json is the shared spec):

- a set redacted string field becomes ``"[REDACTED]"`` (each element of a repeated one; each value of a
  map);
- any other set redacted field (number, bool, enum, bytes, message, a map with non-string values) is
  cleared;
- fields that are not redacted are kept, and messages inside them (singular, repeated, map values, oneof
  members) are redacted recursively; a ``google.protobuf.Any`` is unpacked when its type is known,
  redacted and packed again, and its value is dropped when the type is unknown;
- unknown fields are dropped (a newer schema may have marked them redacted).

The input message is never modified.
"""

from __future__ import annotations

import logging
import re as _re
from datetime import UTC
from datetime import datetime as _datetime
from typing import Any, TypeVar

from google.protobuf import any_pb2, json_format, symbol_database, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

__all__ = ["REDACTED", "RedactingFilter", "SafeMessage", "redacted", "safe", "to_json", "to_text"]

REDACTED = "[REDACTED]"
"""The marker every redacted string field prints as, in every CQC package."""

M = TypeVar("M", bound=Message)

_ANY = any_pb2.Any.DESCRIPTOR.full_name
_needs_cache: dict[str, bool] = {}


def _is_map(field: FieldDescriptor) -> bool:
    message_type = field.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _needs_redaction(descriptor: Descriptor, visiting: frozenset[str] = frozenset()) -> bool:
    """Whether a message of this type can hold a redacted field (or an Any, or unknown fields)."""
    name = descriptor.full_name
    if name in _needs_cache:
        return _needs_cache[name]
    if name == _ANY:
        return True
    if name in visiting:
        return False
    found = False
    for field in descriptor.fields:
        if field.GetOptions().debug_redact:
            found = True
        elif field.message_type is not None and _needs_redaction(field.message_type, visiting | {name}):
            found = True
        if found:
            break
    if not visiting:
        _needs_cache[name] = found
    return found


def _redact_any(message: any_pb2.Any) -> None:
    if not message.type_url:
        return
    type_name = message.type_url.rsplit("/", 1)[-1]
    try:
        inner_class = symbol_database.Default().GetSymbol(type_name)
    except KeyError:
        message.value = b""  # unknown type: its content cannot be checked
        return
    inner = inner_class()
    inner.ParseFromString(message.value)
    inner.DiscardUnknownFields()
    _redact_in_place(inner)
    message.value = inner.SerializeToString(deterministic=True)


def _redact_in_place(message: Message) -> None:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
    if not _needs_redaction(descriptor):
        return
    if descriptor.full_name == _ANY:
        _redact_any(message)  # type: ignore[arg-type]
        return
    for field, value in list(message.ListFields()):
        if field.GetOptions().debug_redact:
            _redact_field(message, field, value)
        elif field.message_type is not None:
            if _is_map(field):
                value_field = field.message_type.fields_by_name["value"]
                if value_field.message_type is not None:
                    for item in value.values():
                        _redact_in_place(item)
            elif _is_repeated(field):
                for item in value:
                    _redact_in_place(item)
            else:
                _redact_in_place(value)


def _redact_field(message: Message, field: FieldDescriptor, value: Any) -> None:
    if _is_map(field):
        assert field.message_type is not None
        value_field = field.message_type.fields_by_name["value"]
        if value_field.type == FieldDescriptor.TYPE_STRING:
            for key in list(value.keys()):
                value[key] = REDACTED
        else:
            message.ClearField(field.name)
    elif field.type == FieldDescriptor.TYPE_STRING:
        if _is_repeated(field):
            value[:] = [REDACTED] * len(value)
        else:
            setattr(message, field.name, REDACTED)
    else:
        message.ClearField(field.name)


def redacted(message: M) -> M:
    """A copy of ``message`` with every ``debug_redact`` field redacted (see the module rules)."""
    copy = type(message)()
    copy.CopyFrom(message)
    copy.DiscardUnknownFields()
    _redact_in_place(copy)
    return copy


def to_text(message: Message, *, as_one_line: bool = True) -> str:
    """Protobuf text format of the redacted message (one line by default, for logs)."""
    return text_format.MessageToString(redacted(message), as_one_line=as_one_line)


def to_json(message: Message, *, indent: int | None = None) -> str:
    """Canonical proto JSON of the redacted message (compact by default, for logs)."""
    return json_format.MessageToJson(redacted(message), indent=indent)


class SafeMessage:
    """Wraps a message so every way of turning it into text (``str``, ``repr``, ``format``) is redacted.

    ``message`` gives the original back for code that needs it; printing never does.
    """

    __slots__ = ("message",)

    def __init__(self, message: Message) -> None:
        self.message = message

    def __str__(self) -> str:
        return f"{self.message.DESCRIPTOR.full_name}{{{to_text(self.message)}}}"

    def __repr__(self) -> str:
        return f"<{self.message.DESCRIPTOR.full_name} {to_text(self.message)}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def safe(message: Message) -> SafeMessage:
    """``safe(msg)`` prints redacted wherever it is formatted: ``log.info("sent %s", safe(request))``."""
    return SafeMessage(message)


def _safe_value(value: Any) -> Any:
    if isinstance(value, Message):
        return SafeMessage(value)
    if isinstance(value, tuple):
        return tuple(_safe_value(item) for item in value)
    if isinstance(value, list):
        return [_safe_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _safe_value(item) for key, item in value.items()}
    return value


class RedactingFilter(logging.Filter):
    """A :mod:`logging` filter that wraps every protobuf message in a record's ``msg`` and ``args`` (also
    inside tuples, lists and dicts) with :class:`SafeMessage`, so any formatter prints it redacted.

    Attach it to the handlers that write records out (``handler.addFilter(RedactingFilter())``) so
    records from every logger pass through it, or to one logger. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _safe_value(record.msg)
        if record.args:
            record.args = _safe_value(record.args)
        return True


class RedactingFormatter(logging.Formatter):
    """A :class:`logging.Formatter` that redacts like :class:`RedactingFilter` before formatting, for setups
    configured by formatter (``logging.config``) rather than by filter."""

    _filter = RedactingFilter()

    def format(self, record: logging.LogRecord) -> str:
        self._filter.filter(record)
        return super().format(record)


__all__ += ["RedactingFormatter"]


# --- Scrubbing credentials out of source records --------------------------------------------------------
#
# SourceRecord keeps what a venue sent; what CQC sent to the venue (signatures, api keys, passphrases) must
# not be kept. The contract refuses credential parameters in SourceRecord.endpoint (cqc.no_credential_params)
# and credential values in raw_json (cqc.no_credential_json_values); these helpers remove them first. The
# algorithm is the same in Go and TypeScript; testdata/helpers/scrub-cases.json is the shared spec.


def _names(words: list[str]) -> str:
    # "-" and "_" alike; case-insensitive matching is done by the caller's flags
    return "|".join(_re.sub("[-_]", "[-_]", word) for word in words)


CREDENTIAL_PARAMETERS = (
    "signature",
    "sign",
    "apikey",
    "api_key",
    "apisecret",
    "secret",
    "secretkey",
    "passphrase",
    "password",
    "token",
    "access_token",
    "listenkey",
    "privatekey",
    "private_key",
    "x-mbx-apikey",
    "ok-access-key",
    "ok-access-sign",
    "ok-access-passphrase",
    "cb-access-key",
    "cb-access-sign",
    "cb-access-passphrase",
)
"""Parameter and header names dropped from endpoints (compared case-insensitively, "-" and "_" alike)."""

CREDENTIAL_JSON_KEYS = (
    "signature",
    "apikey",
    "api_key",
    "apisecret",
    "api_secret",
    "secret",
    "secretkey",
    "secret_key",
    "passphrase",
    "password",
    "privatekey",
    "private_key",
    "listenkey",
    "x-mbx-apikey",
    "ok-access-key",
    "ok-access-sign",
    "ok-access-passphrase",
    "cb-access-key",
    "cb-access-sign",
    "cb-access-passphrase",
)
"""JSON keys whose string values are replaced by the marker in raw JSON."""

_PARAM = _re.compile(f"^({_names(list(CREDENTIAL_PARAMETERS))})$", _re.IGNORECASE)
_HEADER = _re.compile(f"[ \\t]+({_names(list(CREDENTIAL_PARAMETERS))})[ ]*:[ ]*[^ \\t]*", _re.IGNORECASE)
_RULE = _re.compile(f"(^|[^A-Za-z0-9])({_names(list(CREDENTIAL_PARAMETERS))})[\"']?[ ]*[=:]", _re.IGNORECASE)
_JSON_VALUE = _re.compile(
    f'("({_names(list(CREDENTIAL_JSON_KEYS))})"[ \\t\\r\\n]*:[ \\t\\r\\n]*)"(?:[^"\\\\]|\\\\.)+"',
    _re.IGNORECASE,
)
_QUERY = _re.compile(r"\?([^\t\n\f\r #]*)")


def scrub_endpoint(endpoint: str) -> str:
    """``endpoint`` without credential parameters: query parameters named in CREDENTIAL_PARAMETERS are
    dropped (and the "?" when none is left), header-like ``" Name: value"`` parts are removed, and if
    anything credential-like is still left the text is cut before it. The result passes
    ``cqc.no_credential_params``."""

    def clean_query(match: _re.Match[str]) -> str:
        kept = [item for item in match.group(1).split("&") if item and not _PARAM.match(item.split("=", 1)[0])]
        return "?" + "&".join(kept) if kept else ""

    result = _QUERY.sub(clean_query, endpoint, count=1)
    result = _HEADER.sub("", result)
    leftover = _RULE.search(result)
    if leftover:
        result = result[: leftover.start()].rstrip(" \t?&;")
    return result


def scrub_json(raw_json: str) -> str:
    """``raw_json`` with the non-empty string value of every key in CREDENTIAL_JSON_KEYS (case-insensitive,
    any depth) replaced by ``"[REDACTED]"``; every other byte is kept as received."""
    return _JSON_VALUE.sub(lambda match: f'{match.group(1)}"{REDACTED}"', raw_json)


def endpoint_from_request(method: str, url: str) -> str:
    """``"GET /api/v3/order?symbol=BTCUSDT"`` from a request method and URL: scheme, host and user-info are
    left out, credential parameters scrubbed."""
    rest = url
    scheme = _re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", rest)
    if scheme:
        rest = rest[scheme.end() :]
    if not rest.startswith("/"):
        rest = "/" + rest
    return scrub_endpoint(f"{method.upper()} {rest}" if method else rest)


def source_record(
    source: str,
    endpoint: str,
    *,
    raw_json: str = "",
    raw_text: str = "",
    raw_bytes: bytes = b"",
    format: int = 0,
    receive_time: _datetime | None = None,
) -> Any:
    """A ``cqc.types.v1.SourceRecord`` with ``endpoint`` and ``raw_json`` scrubbed; ``receive_time``
    defaults to now (UTC)."""
    from cqc.types.v1 import source_pb2

    record = source_pb2.SourceRecord(
        source=source,
        endpoint=scrub_endpoint(endpoint),
        raw_json=scrub_json(raw_json),
        raw_text=raw_text,
        raw_bytes=raw_bytes,
        format=format,  # type: ignore[arg-type]
    )
    record.receive_time.FromDatetime(receive_time or _datetime.now(UTC))
    return record


__all__ += [
    "CREDENTIAL_JSON_KEYS",
    "CREDENTIAL_PARAMETERS",
    "endpoint_from_request",
    "scrub_endpoint",
    "scrub_json",
    "source_record",
]
