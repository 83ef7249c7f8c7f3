"""Opaque, signed page tokens and page-size clamping for the ``List*`` RPCs.

A token is base64url (no padding) of ``version | rpc digest | filter digest | position`` followed by an
HMAC-SHA256 tag under a per-server key, so a client can neither forge nor alter one, and a token issued by
one RPC, or for other filters, is refused by another. :meth:`PageTokens.decode` answers every bad token
with INVALID_ARGUMENT ``INVALID_PAGE_TOKEN``::

    tokens = PageTokens()                 # one per server (pass key=... to share tokens across replicas)
    size = clamp_page_size(request.page_size)
    items, next_token = tokens.page(sorted_items, request, key=lambda p: p.portfolio_id)

The filters of a request are every field except ``page_size`` and ``page_token`` (:func:`filter_digest`).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from cqc.kit.errors import ServiceError, error, validation_error
from cqc.validation import ContractViolation

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PageTokens", "clamp_page_size", "filter_digest"]

DEFAULT_PAGE_SIZE = 100
"""The page size of a request with ``page_size = 0``."""
MAX_PAGE_SIZE = 1000
"""The largest page a server returns; a larger ``page_size`` is served as this."""

_VERSION = b"\x01"
_DIGEST = 8  # bytes of the RPC digest and of the filter digest
_TAG = 16  # bytes of the HMAC-SHA256 tag kept
_PAGING_FIELDS = ("page_size", "page_token")

T = TypeVar("T")


def clamp_page_size(page_size: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The number of items to return: ``default`` for 0, ``maximum`` above it, ``page_size`` otherwise. A
    negative size is INVALID_ARGUMENT ``VALIDATION_FAILED`` (field ``page_size``, rule ``int32.gte_lte``, as the
    contract's rule reports it) — the validation interceptor already refuses it for CQC requests; this guards
    handlers called directly."""
    if page_size < 0:
        message = f"must be greater than or equal to 0 and less than or equal to {maximum}"
        raise validation_error("page_size", [ContractViolation("page_size", "int32.gte_lte", message)])
    if page_size == 0:
        return default
    return min(page_size, maximum)


def filter_digest(request: Message | bytes | str | None) -> bytes:
    """SHA-256 of what a page token is bound to: for a request message, its deterministic encoding with
    ``page_size`` and ``page_token`` cleared (unknown fields dropped); bytes or text as given."""
    if request is None:
        data = b""
    elif isinstance(request, Message):
        copy = type(request)()
        copy.CopyFrom(request)
        for name in _PAGING_FIELDS:
            if name in copy.DESCRIPTOR.fields_by_name:
                copy.ClearField(name)
        copy.DiscardUnknownFields()
        data = copy.SerializeToString(deterministic=True)
    elif isinstance(request, str):
        data = request.encode()
    else:
        data = request
    return hashlib.sha256(data).digest()


class PageTokens:
    """Issues and checks page tokens under one HMAC key (random per instance unless ``key`` is given)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else os.urandom(32)

    def _body(self, rpc: str, filters: Message | bytes | str | None, position: str) -> bytes:
        rpc_digest = hashlib.sha256(rpc.encode()).digest()[:_DIGEST]
        return _VERSION + rpc_digest + filter_digest(filters)[:_DIGEST] + position.encode()

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG]

    def encode(self, position: str, request: Message | None = None, *, rpc: str | None = None,
               filters: Message | bytes | str | None = None) -> str:  # fmt: skip
        """A token for the page after ``position`` (usually the last item's id), bound to ``rpc`` (default:
        the request's full type name) and to the request's filters (or ``filters`` when given)."""
        body = self._body(_rpc_of(request, rpc), request if filters is None else filters, position)
        return base64.urlsafe_b64encode(body + self._tag(body)).rstrip(b"=").decode("ascii")

    def decode(self, token: str, request: Message | None = None, *, rpc: str | None = None,
               filters: Message | bytes | str | None = None) -> str:  # fmt: skip
        """The position ``token`` carries; INVALID_ARGUMENT ``INVALID_PAGE_TOKEN`` for garbage, a tampered
        token, or a token another RPC or other filters were given."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        except (UnicodeError, binascii.Error, ValueError):
            raise _invalid(token) from None
        body, tag = raw[:-_TAG], raw[-_TAG:]
        if len(raw) < 1 + 2 * _DIGEST + _TAG or not hmac.compare_digest(tag, self._tag(body)):
            raise _invalid(token)
        expected = self._body(_rpc_of(request, rpc), request if filters is None else filters, "")
        if body[: len(expected)] != expected:
            raise _invalid(token)
        try:
            return body[len(expected) :].decode()
        except UnicodeError:
            raise _invalid(token) from None

    def page(
        self,
        items: Sequence[T],
        request: Message,
        key: Callable[[T], str],
        *,
        ascending: bool = True,
        default: int = DEFAULT_PAGE_SIZE,
        maximum: int = MAX_PAGE_SIZE,
    ) -> tuple[list[T], str]:
        """One page of ``items`` (already filtered, in listing order) for a request with ``page_size`` and
        ``page_token``, and the next page's token (``""`` on the last page). With ``ascending`` the items are
        ordered by ``key`` and a page starts at the first key above the token's, so paging stays right while
        items come and go; otherwise it starts right after the token's item."""
        size = clamp_page_size(getattr(request, "page_size", 0), default, maximum)
        token = getattr(request, "page_token", "")
        start = 0
        if token:
            last = self.decode(token, request)
            keys = [key(item) for item in items]
            if ascending:
                start = bisect.bisect_right(keys, last)
            else:
                start = keys.index(last) + 1 if last in keys else len(items)
        chosen = list(items[start : start + size])
        more = start + size < len(items)
        return chosen, self.encode(key(chosen[-1]), request) if more and chosen else ""


def _rpc_of(request: Message | None, rpc: str | None) -> str:
    if rpc is not None:
        return rpc
    return request.DESCRIPTOR.full_name if request is not None else ""


def _invalid(token: str) -> ServiceError:
    shown = token if len(token) <= 64 else token[:61] + "..."
    return error("INVALID_PAGE_TOKEN", f"page_token {shown!r} is not a token this RPC issued for these filters")
