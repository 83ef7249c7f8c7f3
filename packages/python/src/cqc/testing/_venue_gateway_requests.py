"""The reference VenueGateway's one store of request ids, shared by every mutating RPC (order entry and account
control alike): a request_id names one intent for the whole service, so reusing it for another request, of
the same RPC or of any other, fails ALREADY_EXISTS REQUEST_ID_REUSED.

Both mixins keep their first answers in the one dict this module hands out per Store; every entry exposes the
first request as ``entry.request`` and ``entry[0]``, so each mixin's comparison sees the other's entries and
refuses a request id the other already used.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from google.protobuf.message import Message

from cqc.testing._store import Store

__all__ = ["AnsweredRequest", "shared_request_ids"]


class AnsweredRequest(NamedTuple):
    """An account-control request and its first response."""

    request: Message
    response: Message


def shared_request_ids(store: Store) -> dict[str, Any]:
    """The VenueGateway's request_id -> first use table of this store (one for the whole servicer)."""
    with store.lock:
        table = getattr(store, "_venue_gateway_request_ids", None)
        if table is None:
            table = {}
            setattr(store, "_venue_gateway_request_ids", table)  # noqa: B010
        assert isinstance(table, dict)
        return table
