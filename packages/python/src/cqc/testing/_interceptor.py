"""The reference servers' interceptor: :class:`cqc.kit.server.ValidationInterceptor` (request-id echo,
request validation, ServiceError and unexpected exceptions to rich gRPC statuses) plus the x-cqc-server
trailer and the stream limits of :mod:`cqc.testing._limits`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

from cqc.kit.server import REQUEST_ID_HEADER, Call, ValidationInterceptor
from cqc.testing._limits import MAX_STREAM_LIFETIME_SECONDS, LifetimeContext, StreamLimiter

__all__ = ["REQUEST_ID_HEADER", "SERVER_TRAILER", "ReferenceInterceptor"]

SERVER_TRAILER = "x-cqc-server"


class ReferenceInterceptor(ValidationInterceptor):
    """Wraps every unary-request handler (unary and server-streaming responses) of the server."""

    def __init__(
        self,
        server_name: str = "python",
        limiter: StreamLimiter | None = None,
        stream_lifetime: float = MAX_STREAM_LIFETIME_SECONDS,
    ) -> None:
        super().__init__(trailers=[(SERVER_TRAILER, server_name)])
        self.server_name = server_name
        self.limiter = limiter or StreamLimiter()
        self.stream_lifetime = stream_lifetime

    def serve_stream(
        self,
        call: Call,
        stream: Callable[[Any, grpc.ServicerContext], Iterable[Any]],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Iterator[Any]:
        """At most the limiter's streams per client and in all (over a limit: RESOURCE_EXHAUSTED RATE_LIMITED,
        no thread kept); a stream open longer than the lifetime ends with RATE_LIMITED."""
        peer = context.peer()
        self.limiter.acquire(peer)
        try:
            limited = LifetimeContext(context, self.stream_lifetime)
            yield from stream(request, limited)  # type: ignore[arg-type]  # a ServicerContext proxy
            if limited.expired and context.is_active():
                raise limited.lifetime_error()
        finally:
            self.limiter.release(peer)
