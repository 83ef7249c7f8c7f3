"""In-memory reference gRPC servers of CQC, for tests of services and clients that speak the contract.

Install with ``pip install cqc-contracts[testing]``. The server implements ``cqc.services.v1.AssetRegistry``,
``MarketData`` and ``VenueGateway`` as ``testdata/interop/README.md`` specifies (seeded with the examples
of ``testdata/examples``, shipped in the package as :mod:`cqc.testing.seed`; validation errors as google.rpc
ErrorInfo + BadRequest; typed NOT_FOUND, ALREADY_EXISTS and FAILED_PRECONDITION errors; paging; idempotent
PlaceOrder), plus gRPC health and server reflection::

    import grpc
    import cqc.testing
    from cqc.services.v1 import asset_registry_pb2, asset_registry_pb2_grpc

    with cqc.testing.serve() as server:  # or serve("testdata"): seeded from that directory's examples/
        with grpc.insecure_channel(server.target) as channel:
            registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
            registry.GetAsset(asset_registry_pb2.GetAssetRequest(asset_id="ast_01JDVSDC000000000000000000"))

From a shell: ``python -m cqc.testing --port 50051`` (``--testdata DIR`` seeds from DIR's examples instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cqc.testing._errors import DOMAIN, ServiceError
from cqc.testing._interceptor import REQUEST_ID_HEADER, SERVER_TRAILER
from cqc.testing._server import SERVICE_NAMES, ReferenceServer
from cqc.testing._store import Store

__all__ = [
    "DOMAIN",
    "REQUEST_ID_HEADER",
    "SERVER_TRAILER",
    "SERVICE_NAMES",
    "ReferenceServer",
    "ServiceError",
    "Store",
    "serve",
]


@contextmanager
def serve(
    testdata: str | os.PathLike[str] | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[ReferenceServer]:
    """Runs a reference server seeded from ``testdata`` (the directory holding ``examples/``; None: the seed
    data shipped in the package) for the duration of the ``with`` block; ``server.target`` is its address."""
    server = ReferenceServer(testdata, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()
