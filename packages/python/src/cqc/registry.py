"""Every CQC message type by its full proto name, e.g. ``message_class("cqc.assets.v1.Asset")``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

import cqc

__all__ = ["generated_modules", "message_class", "message_names"]


@cache
def generated_modules() -> tuple[str, ...]:
    """Imports and names every generated ``*_pb2`` module of the package (registering its types)."""
    names = []
    for info in pkgutil.walk_packages(cqc.__path__, prefix="cqc."):
        if info.name.startswith("cqc._gen") or not info.name.endswith("_pb2"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return tuple(sorted(names))


@cache
def message_names() -> tuple[str, ...]:
    """Full names of every message declared in a CQC proto (nested messages included)."""
    pool = descriptor_pool.Default()
    names: list[str] = []
    for module in generated_modules():
        proto_file = module.replace(".", "/").removesuffix("_pb2") + ".proto"
        file_descriptor = pool.FindFileByName(proto_file)
        pending = list(file_descriptor.message_types_by_name.values())
        while pending:
            descriptor = pending.pop()
            if descriptor.GetOptions().map_entry:
                continue
            names.append(descriptor.full_name)
            pending.extend(descriptor.nested_types)
    return tuple(sorted(names))


def message_class(full_name: str) -> type[Message]:
    """The generated class of the CQC message ``full_name``; raises KeyError naming it when unknown."""
    generated_modules()
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        raise KeyError(f"no message named {full_name!r} in the CQC contract") from None
    return message_factory.GetMessageClass(descriptor)
