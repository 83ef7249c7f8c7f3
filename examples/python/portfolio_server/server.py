r"""A minimal Portfolio service built on cqc.kit: CreatePortfolio, GetPortfolio, ListPortfolios and
UpdatePortfolio, in memory. Every other Portfolio RPC answers UNIMPLEMENTED.

    pip install "cqc-contracts[server,conformance]"
    python server.py --port 50061
    cqc-conformance --target 127.0.0.1:50061 --service Portfolio \
        --rpcs CreatePortfolio,GetPortfolio,ListPortfolios,UpdatePortfolio

The kit does the contract's common work: ValidationInterceptor validates each request (INVALID_ARGUMENT
VALIDATION_FAILED with the broken rules) before a handler runs and sends the errors handlers raise;
errors.error() takes each reason's gRPC code from the contract; PageTokens signs page tokens;
resources.apply_update_mask() applies an update_mask.
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc

from cqc.kit import errors, pagination, resources
from cqc.kit.server import ValidationInterceptor, enable_health, enable_reflection
from cqc.portfolio.v1 import portfolio_pb2
from cqc.services.v1 import portfolio_pb2 as pb
from cqc.services.v1 import portfolio_pb2_grpc

SERVICE = "cqc.services.v1.Portfolio"
Ctx = grpc.ServicerContext


class Portfolios(portfolio_pb2_grpc.PortfolioServicer):
    """The portfolios, by portfolio_id, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, portfolio_pb2.Portfolio] = {}
        self.tokens = pagination.PageTokens()

    def _get(self, portfolio_id: str) -> portfolio_pb2.Portfolio:
        found = self.items.get(portfolio_id)
        if found is None:
            raise errors.error("NOT_FOUND_RESOURCE", f"no portfolio {portfolio_id!r}", portfolio_id=portfolio_id)
        return found

    def CreatePortfolio(self, request: pb.CreatePortfolioRequest, context: Ctx) -> pb.CreatePortfolioResponse:
        incoming = resources.without(request.portfolio)  # create_time and update_time are output only
        with self.lock:
            existing = self.items.get(incoming.portfolio_id)
            repeated = resources.check_create(existing, incoming, "portfolio_id")  # same: stored; other: ALREADY_EXISTS
            if repeated is not None:
                return pb.CreatePortfolioResponse(portfolio=repeated)
            resources.stamp(incoming, "create_time", "update_time")
            self.items[incoming.portfolio_id] = incoming
            return pb.CreatePortfolioResponse(portfolio=incoming)

    def GetPortfolio(self, request: pb.GetPortfolioRequest, context: Ctx) -> pb.GetPortfolioResponse:
        with self.lock:
            return pb.GetPortfolioResponse(portfolio=self._get(request.portfolio_id))

    def ListPortfolios(self, request: pb.ListPortfoliosRequest, context: Ctx) -> pb.ListPortfoliosResponse:
        with self.lock:
            ordered = [self.items[key] for key in sorted(self.items)]
        page, token = self.tokens.page(ordered, request, key=lambda p: p.portfolio_id)
        return pb.ListPortfoliosResponse(portfolios=page, next_page_token=token)

    def UpdatePortfolio(self, request: pb.UpdatePortfolioRequest, context: Ctx) -> pb.UpdatePortfolioResponse:
        with self.lock:
            stored = self._get(request.portfolio.portfolio_id)
            updated = resources.apply_update_mask(
                stored, request.portfolio, request.update_mask, immutable=["portfolio_id"], field_name="portfolio"
            )
            resources.stamp(updated, "update_time")
            self.items[updated.portfolio_id] = updated
            return pb.UpdatePortfolioResponse(portfolio=updated)


def serve(port: int) -> tuple[grpc.Server, int]:
    """Starts the server on 127.0.0.1:port (0: a free port); returns it and the port."""
    interceptor = ValidationInterceptor(server_name="python-example")  # x-cqc-server: python-example
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), interceptors=[interceptor])
    portfolio_pb2_grpc.add_PortfolioServicer_to_server(Portfolios(), server)  # type: ignore[abstract]
    enable_health(server, [SERVICE])
    enable_reflection(server, [SERVICE])
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def main() -> None:
    parser = argparse.ArgumentParser(description="A minimal Portfolio service built on cqc.kit")
    parser.add_argument("--port", type=int, default=50061, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--port-file", type=Path, help="write the bound port to this file once serving")
    args = parser.parse_args()
    server, port = serve(args.port)
    if args.port_file:
        args.port_file.write_text(str(port))
    print(f"Portfolio listening on 127.0.0.1:{port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(1))
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(1)


if __name__ == "__main__":
    main()
