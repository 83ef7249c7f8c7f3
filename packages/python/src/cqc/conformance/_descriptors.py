"""Service and message descriptors by full name, importing only what is needed (the services' modules and
their imports; every CQC module only when a name is still unknown, e.g. a type inside a google.protobuf.Any)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from google.protobuf import descriptor_pool


@cache
def _import_services() -> None:
    import cqc.services.v1

    for info in pkgutil.iter_modules(cqc.services.v1.__path__, prefix="cqc.services.v1."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)


@cache
def _import_health() -> bool:
    try:
        import grpc_health.v1.health_pb2  # noqa: F401 (registers grpc.health.v1)
    except ImportError:
        return False
    return True


def import_everything() -> None:
    """Registers every CQC type (for JSON holding google.protobuf.Any of any CQC message)."""
    import cqc.registry

    cqc.registry.generated_modules()


def find_service(name: str) -> Any:
    """The ServiceDescriptor of ``name``; KeyError when no installed module declares it."""
    pool = descriptor_pool.Default()
    for load in (lambda: None, _import_services, _import_health, import_everything):
        load()
        try:
            return pool.FindServiceByName(name)
        except KeyError:
            continue
    raise KeyError(f"no service named {name!r}")
