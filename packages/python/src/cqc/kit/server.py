"""The server side of the kit: one gRPC interceptor that gives every RPC the contract's behaviour.

:class:`ValidationInterceptor` wraps every handler with a single request (unary and server-streaming):

1. echoes the ``x-cqc-request-id`` request header in the initial metadata;
2. validates a CQC request (``cqc.*`` types) with the package's validator, size rules first
   (:func:`cqc.validation.size_violations`, so a huge list is refused without walking it), and answers
   INVALID_ARGUMENT ``VALIDATION_FAILED`` with ErrorInfo + BadRequest (:func:`cqc.kit.errors.validation_error`)
   before the handler runs;
3. turns a :class:`~cqc.kit.errors.ServiceError` raised by the handler into its rich status, a
   ``NotImplementedError`` into UNIMPLEMENTED and any other exception into INTERNAL with a correlation id
   (the exception stays in the server's log, under the same id).

Handlers therefore only raise :func:`cqc.kit.errors.error`; they never touch ``context.abort``::

    server = grpc.server(ThreadPoolExecutor(max_workers=16), interceptors=[ValidationInterceptor()])
    portfolio_pb2_grpc.add_PortfolioServicer_to_server(MyPortfolio(), server)
    enable_health(server, ["cqc.services.v1.Portfolio"])   # extra `server`: grpcio-health-checking

Deadlines: gRPC propagates the client's deadline; a handler that waits on something checks
``context.time_remaining()`` (or ``context.is_active()`` in a stream loop) and stops when it is over.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from cqc.kit.errors import ServiceError, reason_spec, validation_error
from cqc.validation import size_violations, violations

__all__ = [
    "REQUEST_ID_HEADER",
    "SERVER_TRAILER",
    "AsyncValidationInterceptor",
    "Call",
    "ValidationInterceptor",
    "check_request",
    "enable_health",
    "enable_reflection",
]

REQUEST_ID_HEADER = "x-cqc-request-id"
"""The request header a client sets to correlate a call; servers echo it in the initial metadata."""
SERVER_TRAILER = "x-cqc-server"
"""The trailer naming the implementation that answered (``python`` and ``go`` for the reference servers)."""

_log = logging.getLogger("cqc.kit")

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


def check_request(request: object) -> None:
    """Raises INVALID_ARGUMENT ``VALIDATION_FAILED`` when ``request`` is a CQC message that breaks a rule
    (size rules are checked first, and alone when they fail). Messages of other packages pass."""
    if isinstance(request, Message) and request.DESCRIPTOR.full_name.startswith("cqc."):
        broken = size_violations(request) or violations(request)
        if broken:
            raise validation_error(request.DESCRIPTOR.full_name, broken)


class Call:
    """What the interceptor does around one call: :meth:`begin` before the handler, :meth:`fail` on an
    exception. ``trailers`` are added to the trailing metadata of every answer (e.g. a server name)."""

    def __init__(self, context: grpc.ServicerContext, method: str, trailers: Sequence[tuple[str, str]] = ()) -> None:
        self.context = context
        self.method = method
        self.trailers = tuple(trailers)

    def begin(self, request: object, *, validate: bool = True) -> None:
        """Echoes ``x-cqc-request-id``, sets the trailers, then validates a CQC request."""
        echo = tuple((k, v) for k, v in self.context.invocation_metadata() if k == REQUEST_ID_HEADER)
        if echo:
            self.context.send_initial_metadata(echo[:1])
        if self.trailers:
            self.context.set_trailing_metadata(self.trailers)
        if validate:
            check_request(request)

    def fail(self, error: BaseException) -> NoReturn:
        """Aborts the call: a ServiceError with its rich status, NotImplementedError as UNIMPLEMENTED,
        anything else as INTERNAL with a correlation id (logged with the exception on ``cqc.kit``). A
        handler that aborted the call itself (``context.abort``) keeps its status."""
        if _handler_aborted(self.context, error):
            raise error
        code, details, trailers = _failure(self.method, error, self.trailers)
        self.context.set_trailing_metadata(trailers)
        self.context.abort(code, details)


def _is_reason(reason: str) -> bool:
    try:
        reason_spec(reason)
    except ValueError:
        return False
    return True


def _handler_aborted(context: Any, error: BaseException) -> bool:
    code = getattr(context, "code", None)
    chosen = code() if callable(code) else None
    return (
        isinstance(chosen, grpc.StatusCode)
        and chosen is not grpc.StatusCode.OK
        and not isinstance(error, (ServiceError, NotImplementedError))
    )


def _failure(
    method: str, error: BaseException, trailers: tuple[tuple[str, str], ...]
) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str | bytes], ...]]:
    """The status code, message and trailing metadata that answer a failed call. A ServiceError whose reason
    is no ErrorReason (a handler's own ``ServiceError(...)``) is answered as an unexpected error: clients only
    ever see the contract's reasons."""
    if isinstance(error, ServiceError) and _is_reason(error.reason):
        status = error.to_status()
        return status.code, status.details, (*status.trailing_metadata, *trailers)
    if isinstance(error, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented here", trailers
    correlation_id = uuid.uuid4().hex
    _log.error("%s failed (correlation_id=%s)", method, correlation_id, exc_info=error)
    return grpc.StatusCode.INTERNAL, f"internal error (correlation_id={correlation_id})", trailers


class ValidationInterceptor(grpc.ServerInterceptor):
    """The kit's server interceptor (module docstring). ``server_name`` is sent in the ``x-cqc-server``
    trailer of every answer (as the reference servers do; the conformance suite checks it is there) and
    ``trailers`` are added too; ``validate=False`` keeps the error mapping and request-id echo without
    validation. Subclasses may override :meth:`serve_stream` to wrap server-streaming handlers."""

    def __init__(
        self, *, server_name: str | None = None, trailers: Sequence[tuple[str, str]] = (), validate: bool = True
    ) -> None:
        named = ((SERVER_TRAILER, server_name),) if server_name else ()
        self.trailers = (*named, *trailers)
        self.validate = validate

    def serve_stream(
        self,
        call: Call,
        stream: Callable[[Any, grpc.ServicerContext], Iterable[Any]],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Iterator[Any]:
        """Runs a server-streaming handler after :meth:`Call.begin` succeeded; by default as it is."""
        yield from stream(request, context)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Req, _Resp] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler  # client streams (e.g. reflection) keep their own behaviour
        method = handler_call_details.method
        trailers, validate = self.trailers, self.validate
        wrapped: Any
        if handler.response_streaming:
            stream = handler.unary_stream
            assert stream is not None

            def serve_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = Call(context, method, trailers)
                try:
                    call.begin(request, validate=validate)
                    yield from self.serve_stream(call, stream, request, context)
                except Exception as error:  # every failure becomes a status
                    call.fail(error)

            wrapped = grpc.unary_stream_rpc_method_handler(
                serve_stream, handler.request_deserializer, handler.response_serializer
            )
        else:
            unary = handler.unary_unary
            assert unary is not None

            def serve_unary(request: Any, context: grpc.ServicerContext) -> Any:
                call = Call(context, method, trailers)
                try:
                    call.begin(request, validate=validate)
                    return unary(request, context)
                except Exception as error:  # every failure becomes a status
                    call.fail(error)

            wrapped = grpc.unary_unary_rpc_method_handler(
                serve_unary, handler.request_deserializer, handler.response_serializer
            )
        result: grpc.RpcMethodHandler[_Req, _Resp] = wrapped
        return result


class AsyncValidationInterceptor(grpc.aio.ServerInterceptor):
    """:class:`ValidationInterceptor` for ``grpc.aio`` servers (handlers are coroutines or async
    generators): the same request-id echo, validation and error mapping."""

    def __init__(
        self, *, server_name: str | None = None, trailers: Sequence[tuple[str, str]] = (), validate: bool = True
    ) -> None:
        named = ((SERVER_TRAILER, server_name),) if server_name else ()
        self.trailers = (*named, *trailers)
        self.validate = validate

    async def _begin(self, context: grpc.aio.ServicerContext[Any, Any], request: object) -> None:
        echo = tuple((k, v) for k, v in (context.invocation_metadata() or ()) if k == REQUEST_ID_HEADER)
        if echo:
            await context.send_initial_metadata(echo[:1])
        if self.trailers:
            context.set_trailing_metadata(self.trailers)
        if self.validate:
            check_request(request)

    async def _fail(self, context: grpc.aio.ServicerContext[Any, Any], method: str, error: BaseException) -> NoReturn:
        if isinstance(error, grpc.aio.AbortError) or _handler_aborted(context, error):
            raise error
        code, details, trailers = _failure(method, error, self.trailers)
        context.set_trailing_metadata(trailers)
        await context.abort(code, details)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method = handler_call_details.method
        wrapped: Any
        if handler.response_streaming:
            stream: Any = handler.unary_stream

            async def serve_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                try:
                    await self._begin(context, request)
                    produced = stream(request, context)
                    if inspect.isasyncgen(produced) or hasattr(produced, "__aiter__"):
                        async for item in produced:
                            yield item
                    else:
                        for item in produced:
                            yield item
                except Exception as error:  # every failure becomes a status
                    await self._fail(context, method, error)

            wrapped = grpc.unary_stream_rpc_method_handler(
                serve_stream, handler.request_deserializer, handler.response_serializer
            )
        else:
            unary: Any = handler.unary_unary

            async def serve_unary(request: Any, context: Any) -> Any:
                try:
                    await self._begin(context, request)
                    answer = unary(request, context)
                    return await answer if inspect.isawaitable(answer) else answer
                except Exception as error:  # every failure becomes a status
                    await self._fail(context, method, error)

            wrapped = grpc.unary_unary_rpc_method_handler(
                serve_unary, handler.request_deserializer, handler.response_serializer
            )
        result: grpc.RpcMethodHandler[_Req, _Resp] = wrapped
        return result


def enable_health(server: grpc.Server, service_names: Iterable[str]) -> Any:
    """Registers the standard gRPC health service with ``""`` and every name in ``service_names`` SERVING;
    returns the ``grpc_health.v1.health.HealthServicer`` (``.set(name, status)`` changes a status). Needs
    ``grpcio-health-checking`` (extra ``server``)."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    for name in ("", *service_names):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


_REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def enable_reflection(server: grpc.Server, service_names: Iterable[str]) -> None:
    """Enables gRPC server reflection (v1alpha, and v1 which buf curl and grpcurl try first) for
    ``service_names``. Needs ``grpcio-reflection`` (extra ``server``)."""
    from grpc_reflection.v1alpha import reflection, reflection_pb2

    names = (*service_names, reflection.SERVICE_NAME, _REFLECTION_V1)
    reflection.enable_server_reflection(names, server)
    servicer = reflection.ReflectionServicer(names)
    handler = grpc.method_handlers_generic_handler(
        _REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
