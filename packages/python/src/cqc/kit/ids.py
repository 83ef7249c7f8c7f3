"""Ids a service assigns: ``<prefix>_<ULID>`` resource ids and UUIDv7 event ids.

CQC resource ids are a three-letter prefix, ``_`` and a ULID in Crockford base32 (``pfl_01JDB...``, the
``(cqc.types.v1.id_prefix)`` rule); ULIDs come from the maintained ``python-ulid`` library (extra
``server``). Event ids are UUIDv7, as the event envelope requires (:func:`cqc.envelope.uuid7`).
"""

from __future__ import annotations

import re

from ulid import ULID

from cqc.envelope import uuid7

__all__ = ["ID_PATTERN", "is_id", "new_event_id", "new_id", "new_ulid"]

ID_PATTERN = re.compile(r"^([a-z]{3})_[0-9A-HJKMNP-TV-Z]{26}$")
"""A CQC resource id: three lowercase letters, ``_``, 26 Crockford base32 characters (a ULID)."""

_PREFIX = re.compile(r"^[a-z]{3}$")


def new_ulid() -> str:
    """A new ULID (48 bits of milliseconds since the epoch, 80 random bits), 26 Crockford base32 characters."""
    return str(ULID())


def new_id(prefix: str) -> str:
    """A new resource id ``<prefix>_<ULID>``; ``prefix`` is the resource's three lowercase letters
    (``"pfl"``, ``"ord"``, ``"acc"``...)."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"id prefix must be three lowercase letters, got {prefix!r}")
    return f"{prefix}_{new_ulid()}"


def is_id(value: str, prefix: str | None = None) -> bool:
    """True when ``value`` is a CQC resource id (with ``prefix``, when given)."""
    found = ID_PATTERN.match(value)
    return found is not None and (prefix is None or found.group(1) == prefix)


def new_event_id() -> str:
    """A new event id: a UUIDv7 in lower case with hyphens (ids made later sort after earlier ones)."""
    return uuid7()
