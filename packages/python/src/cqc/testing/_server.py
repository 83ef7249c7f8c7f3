"""Assembling a reference server: the three CQC services, health, reflection (v1 and v1alpha)."""

from __future__ import annotations

import os
from concurrent import futures
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from cqc.services.v1 import (
    asset_registry_pb2_grpc,
    market_data_pb2_grpc,
    portfolio_pb2_grpc,
    risk_engine_pb2_grpc,
    venue_gateway_pb2_grpc,
)
from cqc.testing._asset_registry import AssetRegistryServicer
from cqc.testing._interceptor import ReferenceInterceptor
from cqc.testing._limits import (
    DEFAULT_MAX_WORKERS,
    MAX_RECEIVE_MESSAGE_BYTES,
    MAX_STREAM_LIFETIME_SECONDS,
    MAX_STREAMS_PER_CLIENT,
    MAX_STREAMS_TOTAL,
    StreamLimiter,
)
from cqc.testing._market_data import MarketDataServicer
from cqc.testing._portfolio import PortfolioServicer
from cqc.testing._risk_engine import RiskEngineServicer
from cqc.testing._store import Store
from cqc.testing._venue_gateway import VenueGatewayServicer

__all__ = ["SERVICE_NAMES", "ReferenceServer"]

SERVICE_NAMES = (
    "cqc.services.v1.AssetRegistry",
    "cqc.services.v1.MarketData",
    "cqc.services.v1.VenueGateway",
    "cqc.services.v1.Portfolio",
    "cqc.services.v1.RiskEngine",
)
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


class ReferenceServer:
    """An in-memory CQC reference server (grpcio) on ``host:port``; port 0 picks a free port.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``target`` is what
    ``grpc.insecure_channel`` takes once started. The limits (streams per client and in total, stream
    lifetime, request size) are described in :mod:`cqc.testing._limits`; the total stream limit is kept below
    ``max_workers`` so unary calls and health checks always find a thread.
    """

    def __init__(
        self,
        testdata: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_workers: int = DEFAULT_MAX_WORKERS,
        server_name: str = "python",
        max_streams_per_client: int = MAX_STREAMS_PER_CLIENT,
        max_streams_total: int = MAX_STREAMS_TOTAL,
        max_stream_lifetime: float = MAX_STREAM_LIFETIME_SECONDS,
    ) -> None:
        self.store = Store(testdata)
        self.host = host
        self._requested_port = port
        self.port = 0
        # Streams may hold at most 3/4 of the threads: the rest serve unary calls, health and refusals.
        total = max(1, min(max_streams_total, max_workers * 3 // 4))
        self.limiter = StreamLimiter(per_client=max_streams_per_client, total=total)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cqc-testing"),
            interceptors=[ReferenceInterceptor(server_name, self.limiter, max_stream_lifetime)],
            options=[
                ("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES),
            ],
        )
        asset_registry_pb2_grpc.add_AssetRegistryServicer_to_server(
            AssetRegistryServicer(self.store),
            self._server,
        )
        market_data_pb2_grpc.add_MarketDataServicer_to_server(
            MarketDataServicer(self.store),
            self._server,
        )
        venue_gateway_pb2_grpc.add_VenueGatewayServicer_to_server(
            VenueGatewayServicer(self.store),
            self._server,
        )
        portfolio_pb2_grpc.add_PortfolioServicer_to_server(
            PortfolioServicer(self.store),
            self._server,
        )
        risk_engine_pb2_grpc.add_RiskEngineServicer_to_server(RiskEngineServicer(self.store), self._server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        _enable_reflection(self._server, (*SERVICE_NAMES, health.SERVICE_NAME))

    @property
    def target(self) -> str:
        """``host:port`` of the running server, for ``grpc.insecure_channel``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> ReferenceServer:
        address = f"[{self.host}]" if ":" in self.host else self.host
        self.port = self._server.add_insecure_port(f"{address}:{self._requested_port}")
        if not self.port:
            raise OSError(f"cannot listen on {self.host}:{self._requested_port}")
        self._server.start()
        return self

    def stop(self, grace: float | None = 0.5) -> None:
        """Stops serving; open streams are cancelled after ``grace`` seconds."""
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the server stops (or ``timeout`` passes); True when it stopped."""
        return bool(self._server.wait_for_termination(timeout))

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _enable_reflection(server: grpc.Server, service_names: tuple[str, ...]) -> None:
    """grpcio-reflection serves only v1alpha; v1 (which buf curl and grpcurl try first) has the same messages
    under another package name, so the same servicer answers both with the v1alpha message classes."""
    names = (*service_names, reflection.SERVICE_NAME, REFLECTION_V1)
    reflection.enable_server_reflection(names, server)
    servicer = reflection.ReflectionServicer(names)
    handler = grpc.method_handlers_generic_handler(
        REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
