"""AssetRegistry read and write hygiene shared by its handlers: read masks, etags, the 4 MiB response bound."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from cqc.testing._errors import ServiceError, invalid_argument
from cqc.testing._store import Table, encode_page_token

__all__ = [
    "MAX_RESPONSE_BYTES",
    "bounded_page",
    "check_batch_size",
    "checked_mask",
    "etag_of",
    "for_create",
    "readable",
    "registry_create",
    "registry_get",
    "registry_page",
    "registry_update",
    "require_etag",
]

M = TypeVar("M", bound=Message)

MAX_RESPONSE_BYTES = 4 * 1024 * 1024 - 64 * 1024
"""The 4 MiB gRPC default less room for framing and the page token: no response carries more resources."""


def _has_etag(message: Message) -> bool:
    return "etag" in message.DESCRIPTOR.fields_by_name


def etag_of(message: Message) -> str:
    """The resource's current etag: a digest of its stored content (etag field excluded), so every write
    changes it and equal content gives equal etags."""
    clone = type(message)()
    clone.CopyFrom(message)
    if _has_etag(clone):
        clone.ClearField("etag")
    digest = hashlib.sha256(clone.SerializeToString(deterministic=True)).hexdigest()
    return "W1-" + digest[:24]


def checked_mask(request: Message, resource: type[Message]) -> field_mask_pb2.FieldMask | None:
    """The request's read_mask, None when absent or empty; INVALID_READ_MASK when a path names no field."""
    if not request.HasField("read_mask"):
        return None
    mask = getattr(request, "read_mask")  # noqa: B009  # any request type of the service
    assert isinstance(mask, field_mask_pb2.FieldMask)
    if not mask.paths:
        return None
    descriptor = cast(Descriptor, resource.DESCRIPTOR)
    valid = field_mask_pb2.FieldMask
    unknown = [path for path in mask.paths if not valid(paths=[path]).IsValidForDescriptor(descriptor)]
    if unknown:
        raise invalid_argument(
            "INVALID_READ_MASK",
            f"read_mask paths name no field of {resource.DESCRIPTOR.full_name}: {', '.join(unknown)}",
            paths=",".join(unknown),
        )
    return mask


def readable(message: M, mask: field_mask_pb2.FieldMask | None) -> M:
    """The resource as a read returns it: etag set, then only the masked fields kept."""
    out = type(message)()
    out.CopyFrom(message)
    if _has_etag(out):
        setattr(out, "etag", etag_of(message))  # noqa: B010  # any resource type that has an etag
    if mask is None:
        return out
    kept = type(message)()
    mask.MergeMessage(out, kept)
    return kept


def bounded_page(items: list[M], token: str, table: Table[M], request: Message | None = None) -> tuple[list[M], str]:
    """Ends a page early, before its serialized size would pass MAX_RESPONSE_BYTES; the token then continues
    right after the last item kept (pages are ordered by id), bound to ``request``'s RPC and filters like the
    page's own. One item is always kept."""
    size = 0
    for index, item in enumerate(items):
        size += item.ByteSize() + 8  # the item plus its field tag and length prefix
        if size > MAX_RESPONSE_BYTES and index > 0:
            return items[:index], encode_page_token(table.kind.id_of(items[index - 1]), request)
    return items, token


def check_batch_size(items: Sequence[Message]) -> None:
    """RESOURCE_EXHAUSTED (RESPONSE_TOO_LARGE) when a batch cannot fit in one response."""
    size = sum(item.ByteSize() + 8 for item in items)
    if size > MAX_RESPONSE_BYTES:
        raise ServiceError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RESPONSE_TOO_LARGE",
            f"the response would be {size} bytes, over the {MAX_RESPONSE_BYTES}-byte bound: ask for fewer ids "
            "or leave out source_record with a read_mask",
            {"limit_bytes": str(MAX_RESPONSE_BYTES), "size_bytes": str(size)},
        )


def for_create(message: M) -> M:
    """The resource to store from a Create request: the output-only etag is ignored on input."""
    out = type(message)()
    out.CopyFrom(message)
    if _has_etag(out):
        out.ClearField("etag")
    return out


def require_etag(table: Table[M], resource: Message, etag: str, mask: field_mask_pb2.FieldMask) -> None:
    """Refuses an update that would write the output-only etag, or whose etag is stale (ABORTED)."""
    if "etag" in mask.paths:
        raise invalid_argument("INVALID_UPDATE_MASK", "etag is output only and cannot be in update_mask", paths="etag")
    if not etag:
        return
    resource_id = table.kind.id_of(resource)  # type: ignore[arg-type]
    current = etag_of(table.get(resource_id))
    if current != etag:
        raise ServiceError(
            grpc.StatusCode.ABORTED,
            "ETAG_MISMATCH",
            f"{table.kind.cls.DESCRIPTOR.name} {resource_id} changed since it was read (etag {etag!r}, now "
            f"{current!r}): read it again and retry",
            {table.kind.id_field: resource_id, "current_etag": current},
        )


# --- the four handler shapes every registry resource shares ------------------------------------------------


def registry_page(
    table: Table[M], request: Message, cls: type[M], keep: Callable[[M], bool] = lambda _: True
) -> tuple[list[M], str]:
    """One page of a List RPC: filtered, masked, etag set, and ended early before 4 MiB."""
    mask = checked_mask(request, cls)
    size, token = getattr(request, "page_size"), getattr(request, "page_token")  # noqa: B009  # any List request
    items, token = table.list(size, token, keep, request)  # tokens bound to the RPC and its filters
    return bounded_page([readable(item, mask) for item in items], token, table, request)


def registry_get(table: Table[M], request: Message, cls: type[M], resource_id: str) -> M:
    """A Get RPC: the read mask is checked before the lookup (INVALID_READ_MASK before NOT_FOUND, as in Go)."""
    mask = checked_mask(request, cls)
    return readable(table.get(resource_id), mask)


def registry_create(table: Table[M], resource: M) -> M:
    """A Create RPC: idempotent by id (the table decides), the output-only etag ignored on input."""
    return readable(table.create(for_create(resource)), None)


def registry_update(
    lock: threading.RLock, table: Table[M], resource: M, mask: field_mask_pb2.FieldMask, etag: str = ""
) -> M:
    """An Update RPC: under the store's re-entrant lock, so the etag check and the write it guards are atomic."""
    with lock:
        require_etag(table, resource, etag, mask)
        return readable(table.update(resource, mask), None)
