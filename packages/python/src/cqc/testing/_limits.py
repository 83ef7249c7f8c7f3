"""Resource limits of the reference server, so that no single client can stall it.

The server runs every call on a thread of one pool, and a server stream holds its thread until it ends. So:
- at most MAX_STREAMS_PER_CLIENT server streams are open per client connection (peer) and at most
  MAX_STREAMS_TOTAL in all, fewer than the pool's threads: unary calls (health checks included) always find
  a thread. A stream over a limit is refused with RESOURCE_EXHAUSTED, ErrorInfo reason RATE_LIMITED,
  metadata {limit: "streams_per_client" | "streams_total", limit_value, retry_after_ms};
- a stream lives at most MAX_STREAM_LIFETIME_SECONDS; then it ends with RESOURCE_EXHAUSTED RATE_LIMITED,
  metadata {limit: "stream_lifetime_seconds", limit_value, retry_after_ms: "0"}: resume with the last
  resume_token;
- a request message is at most MAX_RECEIVE_MESSAGE_BYTES (larger: RESOURCE_EXHAUSTED from gRPC itself);
- size rules are checked first, by length only (cqc.validation.size_violations), so an oversized list is
  refused without walking its items.
The Go server (packages/go/cqctest) applies the same limits with the same answers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import grpc

from cqc.testing._errors import ServiceError

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "MAX_RECEIVE_MESSAGE_BYTES",
    "MAX_STREAMS_PER_CLIENT",
    "MAX_STREAMS_TOTAL",
    "MAX_STREAM_LIFETIME_SECONDS",
    "LifetimeContext",
    "StreamLimiter",
    "rate_limited",
]

MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest request message accepted (the gRPC default, set explicitly)."""
MAX_STREAMS_PER_CLIENT = 8
"""Concurrent server streams per client connection (peer address)."""
MAX_STREAMS_TOTAL = 48
"""Concurrent server streams in all; below DEFAULT_MAX_WORKERS so unary calls keep threads."""
DEFAULT_MAX_WORKERS = 64
"""Threads of the Python server's pool."""
MAX_STREAM_LIFETIME_SECONDS = 900.0
"""Longest a server stream stays open (15 minutes)."""
RETRY_AFTER_MS = 1000


def rate_limited(limit: str, value: float, message: str, retry_after_ms: int = RETRY_AFTER_MS) -> ServiceError:
    """RESOURCE_EXHAUSTED, ErrorInfo reason RATE_LIMITED, metadata naming the limit."""
    shown = str(int(value)) if float(value).is_integer() else str(value)
    return ServiceError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
        message,
        {"limit": limit, "limit_value": shown, "retry_after_ms": str(retry_after_ms)},
    )


class StreamLimiter:
    """Counts open streams per peer and in total; :meth:`acquire` refuses one over a limit."""

    def __init__(self, per_client: int = MAX_STREAMS_PER_CLIENT, total: int = MAX_STREAMS_TOTAL) -> None:
        self.per_client = per_client
        self.total = total
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()
        self._count = 0

    def acquire(self, peer: str) -> None:
        """Counts one more stream of ``peer``, or raises RATE_LIMITED when a limit is reached."""
        with self._lock:
            if self._open[peer] >= self.per_client:
                raise rate_limited(
                    "streams_per_client",
                    self.per_client,
                    f"too many open streams from this client (at most {self.per_client}): close one first",
                )
            if self._count >= self.total:
                raise rate_limited(
                    "streams_total", self.total, f"the server has {self.total} open streams, its limit: retry later"
                )
            self._open[peer] += 1
            self._count += 1

    def release(self, peer: str) -> None:
        with self._lock:
            self._open[peer] -= 1
            if self._open[peer] <= 0:
                del self._open[peer]
            self._count -= 1

    def open_streams(self) -> int:
        with self._lock:
            return self._count


class LifetimeContext:
    """A ServicerContext whose call counts as inactive once the stream's lifetime is over, so that live
    streams (which loop while ``is_active()``) end; everything else is the wrapped context."""

    def __init__(self, context: grpc.ServicerContext, lifetime: float) -> None:
        self._context = context
        self._lifetime = lifetime
        self._expires = time.monotonic() + lifetime

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._expires

    def is_active(self) -> bool:
        return bool(self._context.is_active()) and not self.expired

    def time_remaining(self) -> float | None:
        left = max(0.0, self._expires - time.monotonic())
        remaining = self._context.time_remaining()
        return left if remaining is None else min(left, remaining)

    def lifetime_error(self) -> ServiceError:
        return rate_limited(
            "stream_lifetime_seconds",
            self._lifetime,
            f"the stream reached its maximum lifetime ({self._lifetime:g} s): reopen it with the last resume_token",
            retry_after_ms=0,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
