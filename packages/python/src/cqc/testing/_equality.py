"""Comparing requests for idempotency: a retry from a client built with a newer schema carries fields this
server does not know (unknown fields); they must not make an identical retry look like another request."""

from __future__ import annotations

from google.protobuf.message import Message

__all__ = ["same_request"]


def same_request(a: Message, b: Message) -> bool:
    """True when ``a`` and ``b`` are the same message type with equal known fields (unknown fields, at any
    depth, are ignored)."""
    if a.DESCRIPTOR is not b.DESCRIPTOR:
        return False
    if a == b:
        return True
    left, right = type(a)(), type(b)()
    left.CopyFrom(a)
    right.CopyFrom(b)
    left.DiscardUnknownFields()
    right.DiscardUnknownFields()
    return left == right
