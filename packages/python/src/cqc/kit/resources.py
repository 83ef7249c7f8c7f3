"""Stored resources: Create idempotent by id, Update through an update_mask, server-set timestamps.

The contract's conventions for a resource a service stores (``CreateX`` / ``UpdateX`` RPCs):

- the caller sets the id, so ``CreateX`` is idempotent: the same resource again returns the stored one, a
  different resource with the same id is ALREADY_EXISTS (:func:`check_create`); ``create_time`` and
  ``update_time`` are output only, ignored on input and set by the server (:func:`stamp`);
- ``UpdateX`` writes only the ``update_mask`` paths: top-level fields of the resource; an unknown field, the id
  or an output-only field is INVALID_ARGUMENT ``INVALID_UPDATE_MASK`` (metadata ``paths``), and the result
  must still pass validation (:func:`apply_update_mask`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import TypeVar

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from cqc.kit.errors import ServiceError, error, validation_error
from cqc.kit.idempotency import same_request
from cqc.validation import ContractViolation, violations

__all__ = ["OUTPUT_ONLY", "apply_update_mask", "check_create", "copy", "stamp", "without"]

M = TypeVar("M", bound=Message)

OUTPUT_ONLY = ("create_time", "update_time", "etag")
"""Fields the server sets; refused in update masks and ignored on create (those the resource has)."""


def copy(message: M) -> M:
    """A deep copy of ``message``."""
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def without(message: M, names: Iterable[str] = OUTPUT_ONLY) -> M:
    """A copy of ``message`` with the fields ``names`` (those it has) cleared."""
    clone = copy(message)
    for name in names:
        if name in clone.DESCRIPTOR.fields_by_name:
            clone.ClearField(name)
    return clone


def stamp(message: Message, *names: str, now: datetime.datetime | None = None) -> None:
    """Sets the Timestamp fields ``names`` of ``message`` to ``now`` (default: the current UTC time)."""
    when = now or datetime.datetime.now(datetime.UTC)
    for name in names:
        getattr(message, name).FromDatetime(when)


def check_create(existing: M | None, incoming: M, id_field: str) -> M | None:
    """For ``CreateX``: the stored resource to return when ``incoming`` repeats it (output-only and unknown
    fields ignored), ``None`` when nothing is stored under the id, ALREADY_EXISTS (metadata: the id field)
    when a different resource is."""
    if existing is None:
        return None
    if same_request(without(existing), without(incoming)):
        return copy(existing)
    resource_id = getattr(existing, id_field)
    raise error(
        "ALREADY_EXISTS",
        f"{type(existing).DESCRIPTOR.name} {resource_id!r} exists with different content",
        **{id_field: resource_id},
    )


def apply_update_mask(
    stored: M,
    patch: M,
    mask: field_mask_pb2.FieldMask,
    *,
    immutable: Sequence[str] = (),
    field_name: str = "",
) -> M:
    """``stored`` with the ``mask`` paths copied from ``patch`` (a path unset in ``patch`` clears the field),
    validated. Paths must be top-level fields, not ``immutable`` (the id, fields fixed at creation) and not
    output only: otherwise INVALID_UPDATE_MASK with ``paths`` = the refused paths, comma-separated. A result
    that breaks a rule is VALIDATION_FAILED, the field paths prefixed with ``field_name`` (the request field
    holding the resource, e.g. ``"portfolio"``). Does not set ``update_time`` (:func:`stamp`)."""
    fields = stored.DESCRIPTOR.fields_by_name
    refused = [p for p in mask.paths if p not in fields or p in immutable or p in OUTPUT_ONLY]
    if refused or not mask.paths:
        raise _bad_mask(stored, refused)
    updated = copy(stored)
    for path in dict.fromkeys(mask.paths):
        field = fields[path]
        updated.ClearField(path)
        if field.is_repeated:
            getattr(updated, path).extend(getattr(patch, path))
        elif field.message_type is not None:
            if patch.HasField(path):
                getattr(updated, path).CopyFrom(getattr(patch, path))
        elif not field.has_presence or patch.HasField(path):
            setattr(updated, path, getattr(patch, path))
    broken = violations(updated)
    if broken:
        prefix = f"{field_name}." if field_name else ""
        raise validation_error(
            updated.DESCRIPTOR.full_name,
            [ContractViolation(f"{prefix}{v.field}" if v.field else field_name, v.rule_id, v.message) for v in broken],
        )
    return updated


def _bad_mask(resource: Message, refused: list[str]) -> ServiceError:
    shown = ", ".join(refused) or "(none)"
    return error(
        "INVALID_UPDATE_MASK",
        f"update_mask paths must be updatable top-level fields of {resource.DESCRIPTOR.full_name}: {shown}",
        paths=",".join(refused),
    )
