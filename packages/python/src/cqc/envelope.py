"""Building and reading ``cqc.events.v1.Event`` envelopes, and their CloudEvents 1.0 attributes.

The same three helpers, with the same behaviour, exist in Go (package ``cqc``: ``NewEvent``,
``EventPayload``, ``CloudEventAttributes``) and TypeScript (``@crypto-quant/cqc/events``); the shared cases
in ``testdata/helpers/events-cases.json`` hold all three to it.

- :func:`new_event` wraps one event message of the contract in a new envelope (fresh UUIDv4 event id,
  ``event_type`` and the payload case set from the payload's type).
- :func:`payload` returns the message of the populated payload case.
- :func:`cloudevent_attributes` gives the CloudEvents attributes of the mapping documented on
  ``cqc.events.v1.Event``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.events.v1.envelope_pb2 import Event

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "cloudevent_attributes",
    "new_event",
    "payload",
]

CONTENT_TYPE_PROTOBUF: Final = "application/protobuf"
"""``datacontenttype`` when the CloudEvent's data is the Event in protobuf binary (the default)."""
CONTENT_TYPE_JSON: Final = "application/json"
"""``datacontenttype`` when the CloudEvent's data is the Event in canonical proto JSON."""

_PAYLOAD_ONEOF: Final = Event.DESCRIPTOR.oneofs_by_name["payload"]
# Payload field name by the full name of its message type: "cqc.events.v1.AssetCreated" -> "asset_created".
_PAYLOAD_FIELDS: Final = {
    field.message_type.full_name: field.name for field in _PAYLOAD_ONEOF.fields if field.message_type is not None
}

# The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS: Final = -62135596800
_MAX_SECONDS: Final = 253402300799
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _timestamp(value: datetime | Timestamp, name: str) -> Timestamp:
    if isinstance(value, Timestamp):
        copy = Timestamp()
        copy.CopyFrom(value)
        return copy
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (or a Timestamp), got naive {value!r}")
    stamp = Timestamp()
    stamp.FromDatetime(value)  # converts to UTC
    return stamp


def new_event(
    payload: Message,
    *,
    source: str,
    subject: str,
    occurred_at: datetime | Timestamp,
    sequence: int,
    source_version: str,
    partition_key: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    recorded_at: datetime | Timestamp | None = None,
) -> Event:
    """A new envelope holding ``payload`` (copied) in the payload case of its type.

    ``event_id`` is a new random UUID (version 4, lower case) and ``event_type`` the payload's full proto
    name. ``partition_key`` defaults to ``subject`` (``None`` or ``""``), ``correlation_id`` to the new
    ``event_id`` (the root of a chain), ``recorded_at`` to now; ``causation_id`` stays empty unless given;
    ``schema_version`` is 1. Times are timezone-aware datetimes or Timestamps (nanoseconds kept).

    ``sequence`` (the producer's position within the partition key, at least 1) and ``source_version`` (the
    producing build, e.g. "1.4.2") are required: the envelope's rules reject an event without them. With
    arguments of the documented forms the result passes :func:`cqc.validation.validate`.

    Raises ``TypeError`` naming the type when ``payload`` is not an event message of ``cqc.events.v1.Event``.
    """
    type_name = payload.DESCRIPTOR.full_name
    field_name = _PAYLOAD_FIELDS.get(type_name)
    if field_name is None:
        raise TypeError(f"{type_name} is not an event of the CQC contract (no cqc.events.v1.Event payload case)")
    event_id = str(uuid.uuid4())
    event = Event(
        event_id=event_id,
        event_type=type_name,
        source=source,
        source_version=source_version,
        subject=subject,
        partition_key=partition_key or subject,
        correlation_id=correlation_id or event_id,
        causation_id=causation_id or "",
        schema_version=1,
        sequence=sequence,
    )
    event.occurred_at.CopyFrom(_timestamp(occurred_at, "occurred_at"))
    if recorded_at is None:
        event.recorded_at.GetCurrentTime()
    else:
        event.recorded_at.CopyFrom(_timestamp(recorded_at, "recorded_at"))
    getattr(event, field_name).CopyFrom(payload)
    return event


def payload(event: Event) -> Message:
    """The message of the populated payload case (its type is ``event_type``, ``DESCRIPTOR.full_name``).

    Raises ``ValueError`` when no payload case is set: an envelope from a newer contract whose event this
    build does not know decodes that way (skip it, do not fail the stream).
    """
    case = event.WhichOneof("payload")
    if case is None:
        raise ValueError(
            f"event {event.event_id!r} of type {event.event_type!r} has no payload case known to this build"
        )
    message: Message = getattr(event, case)
    return message


def _rfc3339(stamp: Timestamp, name: str) -> str:
    """``stamp`` in RFC 3339, UTC with ``Z``, with only the fractional digits needed (none to nine)."""
    seconds, nanos = stamp.seconds, stamp.nanos
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos <= 999_999_999:
        raise ValueError(f"{name} ({seconds}s, {nanos}ns) is outside the range of google.protobuf.Timestamp")
    t = _EPOCH + timedelta(seconds=seconds)
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def cloudevent_attributes(
    event: Event,
    *,
    datacontenttype: Literal["application/protobuf", "application/json"] = CONTENT_TYPE_PROTOBUF,
) -> dict[str, str]:
    """The CloudEvents 1.0 attributes of ``event``, by the mapping documented on ``cqc.events.v1.Event``.

    ``datacontenttype`` says how the CloudEvent's data (the whole Event) is encoded: protobuf binary (the
    default) or canonical proto JSON. Times are RFC 3339 in UTC with ``Z`` and only the fractional digits
    needed (``2024-11-27T08:00:01.02Z``); ``partitionkey`` is the subject when ``partition_key`` is empty;
    ``causationid`` is left out when empty. The envelope is mapped as is, not validated, but raises
    ``ValueError`` when ``event_id``, ``source`` or ``event_type`` is empty, when ``occurred_at`` or
    ``recorded_at`` is unset, or for another ``datacontenttype``.
    """
    if datacontenttype not in (CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON):
        raise ValueError(
            f"datacontenttype {datacontenttype!r} is not {CONTENT_TYPE_PROTOBUF!r} or {CONTENT_TYPE_JSON!r}"
        )
    for name, value in (("event_id", event.event_id), ("source", event.source), ("event_type", event.event_type)):
        if not value:
            raise ValueError(f"event has no {name}: the CloudEvents attribute it maps to is required")
    if not event.HasField("occurred_at"):
        raise ValueError(f"event {event.event_id!r} has no occurred_at")
    if not event.HasField("recorded_at"):
        raise ValueError(f"event {event.event_id!r} has no recorded_at")
    attributes = {
        "id": event.event_id,
        "source": event.source,
        "specversion": "1.0",
        "type": event.event_type,
        "datacontenttype": datacontenttype,
        "dataschema": "urn:cqc:proto:" + event.event_type,
        "subject": event.subject,
        "time": _rfc3339(event.occurred_at, "occurred_at"),
        "partitionkey": event.partition_key or event.subject,
        "sequence": str(event.sequence),
        "correlationid": event.correlation_id,
    }
    if event.causation_id:
        attributes["causationid"] = event.causation_id
    attributes["recordedtime"] = _rfc3339(event.recorded_at, "recorded_at")
    attributes["sourceversion"] = event.source_version
    attributes["schemaversion"] = str(event.schema_version)
    return attributes
