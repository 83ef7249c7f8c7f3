"""One server interceptor for every RPC: request-id echo, the x-cqc-server trailer, request validation and
the mapping of :class:`ServiceError` (and unexpected exceptions) to rich gRPC statuses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from cqc.testing._errors import ServiceError, validation_failed
from cqc.testing._limits import MAX_STREAM_LIFETIME_SECONDS, LifetimeContext, StreamLimiter
from cqc.validation import size_violations, violations

__all__ = ["REQUEST_ID_HEADER", "SERVER_TRAILER", "ReferenceInterceptor"]

REQUEST_ID_HEADER = "x-cqc-request-id"
SERVER_TRAILER = "x-cqc-server"

_log = logging.getLogger("cqc.testing")

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class _Call:
    """What the interceptor does around one call of one RPC."""

    def __init__(self, context: grpc.ServicerContext, method: str, server_name: str) -> None:
        self.context = context
        self.method = method
        self.trailer = (SERVER_TRAILER, server_name)

    def begin(self, request: object) -> None:
        """Echoes x-cqc-request-id, sets the server trailer, then validates a CQC request."""
        echo = tuple((k, v) for k, v in self.context.invocation_metadata() if k == REQUEST_ID_HEADER)
        if echo:
            self.context.send_initial_metadata(echo[:1])
        self.context.set_trailing_metadata((self.trailer,))
        if isinstance(request, Message) and request.DESCRIPTOR.full_name.startswith("cqc."):
            broken = size_violations(request) or violations(request)  # lengths first: no walk of a huge list
            if broken:
                raise validation_failed(request.DESCRIPTOR.full_name, broken)

    def fail(self, error: Exception) -> NoReturn:
        """Aborts the call: a ServiceError with its rich status, anything else without details."""
        if not isinstance(error, ServiceError):
            self.context.set_trailing_metadata((self.trailer,))
            if isinstance(error, NotImplementedError):
                self.context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{self.method} is not implemented here")
            # The exception text stays in the server log: the client gets a correlation id to quote.
            correlation_id = uuid.uuid4().hex
            _log.error("%s failed (correlation_id=%s)", self.method, correlation_id, exc_info=error)
            self.context.abort(grpc.StatusCode.INTERNAL, f"internal error (correlation_id={correlation_id})")
        status = rpc_status.to_status(error.to_rpc_status())
        self.context.set_trailing_metadata((*status.trailing_metadata, self.trailer))
        self.context.abort(status.code, status.details)


class ReferenceInterceptor(grpc.ServerInterceptor):
    """Wraps every unary-request handler (unary and server-streaming responses) of the server."""

    def __init__(
        self,
        server_name: str = "python",
        limiter: StreamLimiter | None = None,
        stream_lifetime: float = MAX_STREAM_LIFETIME_SECONDS,
    ) -> None:
        self.server_name = server_name
        self.limiter = limiter or StreamLimiter()
        self.stream_lifetime = stream_lifetime

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Req, _Resp] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler  # reflection (stream-stream) keeps its own behaviour
        method = handler_call_details.method
        server_name = self.server_name
        limiter = self.limiter
        lifetime = self.stream_lifetime
        wrapped: Any
        if handler.response_streaming:
            stream = handler.unary_stream
            assert stream is not None

            def serve_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = _Call(context, method, server_name)
                peer = context.peer()
                counted = False
                try:
                    call.begin(request)
                    limiter.acquire(peer)  # over a limit: RESOURCE_EXHAUSTED RATE_LIMITED, no thread kept
                    counted = True
                    limited = LifetimeContext(context, lifetime)
                    yield from stream(request, limited)  # type: ignore[arg-type]  # a ServicerContext proxy
                    if limited.expired and context.is_active():
                        raise limited.lifetime_error()
                except Exception as error:  # every failure becomes a status
                    call.fail(error)
                finally:
                    if counted:
                        limiter.release(peer)

            wrapped = grpc.unary_stream_rpc_method_handler(
                serve_stream, handler.request_deserializer, handler.response_serializer
            )
        else:
            unary = handler.unary_unary
            assert unary is not None

            def serve_unary(request: Any, context: grpc.ServicerContext) -> Any:
                call = _Call(context, method, server_name)
                try:
                    call.begin(request)
                    return unary(request, context)
                except Exception as error:  # every failure becomes a status
                    call.fail(error)

            wrapped = grpc.unary_unary_rpc_method_handler(
                serve_unary, handler.request_deserializer, handler.response_serializer
            )
        result: grpc.RpcMethodHandler[_Req, _Resp] = wrapped
        return result
