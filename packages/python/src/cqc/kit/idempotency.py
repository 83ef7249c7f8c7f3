"""Request-id idempotency: a retry with the same ``request_id`` gets the first answer.

Mutating CQC RPCs carry a client-chosen ``request_id``. The contract: the same request id with an equal
request returns the first call's result (or its error) without doing the work again; the same request id
with a different request is ALREADY_EXISTS ``REQUEST_ID_REUSED`` (metadata ``request_id``). "Equal" ignores
unknown fields, so a retry from a client built with a newer schema is still the same request
(:func:`same_request`)::

    creates = IdempotencyStore[CreatePortfolioResponse]()

    def CreatePortfolio(self, request, context):
        return creates.run(request.request_id, request, lambda: self._create(request))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message

from cqc.kit.errors import ServiceError, error

__all__ = ["IdempotencyStore", "reused", "same_request"]

R = TypeVar("R")


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


@dataclass
class _Entry(Generic[R]):
    request: Message
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


class IdempotencyStore(Generic[R]):
    """Remembers the outcome of each request id (thread-safe; at most ``max_entries``, oldest forgotten
    first). Use one store per RPC, or pass ``key=(rpc, request_id)``."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry[R]] = OrderedDict()

    def run(self, key: Hashable, request: Message, compute: Callable[[], R]) -> R:
        """``compute()``'s result for the first request with ``key``, the same result (or the same
        :class:`~cqc.kit.errors.ServiceError`) for every later equal request — also while the first one is
        still running — and ALREADY_EXISTS ``REQUEST_ID_REUSED`` for a different request with the same key.
        An unexpected exception is not remembered: the next retry runs ``compute`` again."""
        with self._lock:
            entry = self._entries.get(key)
            first = entry is None
            if entry is None:
                entry = _Entry(request=_copy(request))
                self._entries[key] = entry
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        if not first:
            if not same_request(entry.request, request):
                raise reused(key)
            entry.done.wait()
            if entry.error is not None:
                raise entry.error
            if entry.done.is_set() and entry.result is not None:
                return entry.result
            return self.run(key, request, compute)  # the first call failed unexpectedly: try again
        try:
            entry.result = compute()
        except ServiceError as failure:
            entry.error = failure
            raise
        except BaseException:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            raise
        finally:
            entry.done.set()
        return entry.result

    def forget(self, key: Hashable) -> None:
        """Drops what is remembered for ``key``."""
        with self._lock:
            self._entries.pop(key, None)


def reused(key: Hashable) -> ServiceError:
    """ALREADY_EXISTS ``REQUEST_ID_REUSED`` for ``key`` (the request id, or the last element of a tuple key)."""
    request_id = str(key[-1]) if isinstance(key, tuple) and key else str(key)
    return error(
        "REQUEST_ID_REUSED",
        f"request_id {request_id!r} was used before with a different request",
        request_id=request_id,
    )


def _copy(message: Message) -> Message:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone
