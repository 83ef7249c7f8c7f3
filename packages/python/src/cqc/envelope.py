"""Building, reading and ordering ``cqc.events.v1.Event`` envelopes, and their CloudEvents 1.0 attributes.

The same helpers, with the same behaviour, exist in Go (package ``cqc``: ``NewEvent``, ``EventPayload``,
``CloudEventAttributes``, ``EventStreamTracker``) and TypeScript (``@crypto-quant/cqc/events``); the shared
cases in ``testdata/helpers/events-cases.json`` and ``testdata/helpers/event-stream-cases.json`` hold all
three to it.

- :func:`new_event` wraps one event message of the contract in a new envelope (fresh UUIDv7 event id,
  ``event_type`` and the payload case set from the payload's type, ``partition_key`` from the event's
  ``(cqc.events.v1.event)`` option).
- :func:`event_options` / :func:`partition_key_of`: the producer and partition key an event type declares.
- :class:`EventStreamTracker` applies the ordering rules documented on ``cqc.events.v1.Event``: per stream
  (source, partition_key) it says for each delivered event whether to apply it, drop it as a duplicate,
  hold it behind a gap, or re-sync after a producer reset.
- :func:`uuid7`: a new UUIDv7 (RFC 9562), the form of ``event_id``.
- :func:`payload` returns the message of the populated payload case.
- :func:`cloudevent_attributes` gives the CloudEvents attributes of the mapping documented on
  ``cqc.events.v1.Event``.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.events.v1 import options_pb2
from cqc.events.v1.envelope_pb2 import Event

__all__ = [
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_PROTOBUF",
    "DEFAULT_DEDUP_WINDOW",
    "Decision",
    "EventStreamTracker",
    "StreamAction",
    "cloudevent_attributes",
    "event_options",
    "new_event",
    "partition_key_of",
    "payload",
    "producer_source",
    "uuid7",
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


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 (RFC 9562 section 5.7), lower case with hyphens: 48 bits of Unix time in milliseconds
    (``unix_ms``, default now), the version 7, 74 random bits and the RFC 9562 variant. Ids made later
    sort after ids made earlier (to the millisecond), which is why ``event_id`` uses this form."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"unix_ms {ms} does not fit the 48-bit UUIDv7 timestamp")
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, 74 used
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def event_options(event_type: Message | Descriptor | str) -> options_pb2.EventOptions:
    """The ``(cqc.events.v1.event)`` option of an event message (a message, its descriptor or its full
    name): its producer, partition key path(s) and lifecycle. Raises ``TypeError`` for a message that is
    not an event of the ``Event.payload`` oneof."""
    if isinstance(event_type, str):
        name = event_type
    elif isinstance(event_type, Descriptor):
        name = event_type.full_name
    else:
        name = event_type.DESCRIPTOR.full_name
    field_name = _PAYLOAD_FIELDS.get(name)
    if field_name is None:
        raise TypeError(f"{name} is not an event of the CQC contract (no cqc.events.v1.Event payload case)")
    descriptor = Event.DESCRIPTOR.fields_by_name[field_name].message_type
    assert descriptor is not None  # every payload case is a message
    options: options_pb2.EventOptions = descriptor.GetOptions().Extensions[options_pb2.event]
    return options


def _field_path_value(message: Message, path: str) -> str:
    value: object = message
    for part in path.split("."):
        if not isinstance(value, Message):
            return ""
        value = getattr(value, part)
    return value if isinstance(value, str) else ""


def partition_key_of(event_message: Message) -> str:
    """The partition key of an event message: the value of the first path of its option's
    ``partition_key`` that is set (e.g. ``order.account_id`` for OrderPlaced); ``""`` when none is."""
    for path in event_options(event_message).partition_key:
        value = _field_path_value(event_message, path)
        if value:
            return value
    return ""


def producer_source(event_type: Message | Descriptor | str) -> str:
    """The source of the service that produces this event type: ``"//cqc/"`` + the option's producer in
    kebab case, e.g. ``"//cqc/venue-gateway"`` for OrderPlaced. Instances append a path to it."""
    producer = event_options(event_type).producer
    return "//cqc/" + re.sub(r"(?<!^)([A-Z])", r"-\1", producer).lower()


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

    ``event_id`` is a new UUIDv7 (:func:`uuid7`) and ``event_type`` the payload's full proto name.
    ``partition_key`` defaults (``None`` or ``""``) to the payload's key named by its
    ``(cqc.events.v1.event)`` option (:func:`partition_key_of`); ``correlation_id`` to the new
    ``event_id`` (the root of a chain), ``recorded_at`` to now; ``causation_id`` stays empty unless given;
    ``schema_version`` is 1. Times are timezone-aware datetimes or Timestamps (nanoseconds kept).

    ``sequence`` (the producer's position within the partition key, at least 1) and ``source_version`` (the
    producing build, e.g. "1.4.2") are required: the envelope's rules reject an event without them. With
    arguments of the documented forms the result passes :func:`cqc.validation.validate`.

    Raises ``TypeError`` naming the type when ``payload`` is not an event message of ``cqc.events.v1.Event``,
    and ``ValueError`` when the payload has no partition key, when a given ``partition_key`` differs from
    the payload's, or when ``source`` is not the producer's (:func:`producer_source`, optionally followed
    by an instance path): the envelope's rules would reject the event.
    """
    type_name = payload.DESCRIPTOR.full_name
    field_name = _PAYLOAD_FIELDS.get(type_name)
    if field_name is None:
        raise TypeError(f"{type_name} is not an event of the CQC contract (no cqc.events.v1.Event payload case)")
    key = partition_key_of(payload)
    paths = ", ".join(event_options(payload).partition_key)
    if not key:
        raise ValueError(f"{type_name} has no partition key: {paths} is empty")
    if partition_key and partition_key != key:
        raise ValueError(f"partition_key {partition_key!r} is not the {type_name} key {key!r} ({paths})")
    expected_source = producer_source(payload)
    if source != expected_source and not source.startswith(expected_source + "/"):
        raise ValueError(f"source {source!r} is not {type_name}'s producer {expected_source!r}[/<instance>]")
    event_id = uuid7()
    event = Event(
        event_id=event_id,
        event_type=type_name,
        source=source,
        source_version=source_version,
        subject=subject,
        partition_key=key,
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


DEFAULT_DEDUP_WINDOW: Final = 1024
"""Event ids a :class:`EventStreamTracker` remembers per stream: those of the last 1024 applied sequences."""


class StreamAction(StrEnum):
    """What to do with one delivered event, by the ordering rules on ``cqc.events.v1.Event``."""

    APPLY = "apply"
    """The next event of its stream: apply it, then the held events :attr:`Decision.released` lists."""
    DUPLICATE = "duplicate"
    """Its event_id was already applied or is held: acknowledge and drop it (the only drop)."""
    GAP = "gap"
    """Events before it are missing: it is held until they arrive (or until :meth:`EventStreamTracker.resync`)."""
    RESET = "reset"
    """A sequence at or below the last applied one with a new event_id (or a second event for a held
    position): the producer lost its counter, or the event is older than the de-duplication window.
    Re-sync the entity from the producing service, then apply the event (it is in ``released``)."""


@dataclass(frozen=True)
class Decision:
    """The tracker's answer for one delivered event."""

    action: StreamAction
    """What the event is."""
    released: tuple[Event, ...] = ()
    """Events to apply now, in this order: for APPLY the event then the held events it unblocked; for
    RESET the event itself (after re-syncing); empty for DUPLICATE and GAP."""
    superseded: tuple[Event, ...] = ()
    """Held events a RESET made obsolete (the re-sync covers them): acknowledge them without applying."""


@dataclass
class _Stream:
    last: int = 0
    applied: deque[tuple[int, str]] = field(default_factory=deque)  # (sequence, event_id), oldest first
    applied_ids: set[str] = field(default_factory=set)
    held: dict[int, Event] = field(default_factory=dict)


class EventStreamTracker:
    """Applies the ordering and de-duplication rules of ``cqc.events.v1.Event`` to events in delivery order.

    A stream is (``source``, ``partition_key``; the subject when partition_key is empty): several producers
    writing the same key (the account_id is written by the VenueGateway, the Portfolio and the RiskEngine)
    are separate streams with their own sequences, so none of their events is taken for a duplicate.
    A stream never seen starts at position 0 (its next event is sequence 1); a consumer that starts from a
    snapshot calls :meth:`resync` with the position the snapshot reflects first. ``window`` is how many of
    the last applied sequences' event ids each stream remembers for de-duplication (at least 1).
    Not thread-safe; in memory only (persist :meth:`position` with the consumer's state if needed).
    """

    def __init__(self, window: int = DEFAULT_DEDUP_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._window = window
        self._streams: dict[tuple[str, str], _Stream] = {}

    @staticmethod
    def stream_of(event: Event) -> tuple[str, str]:
        """The stream of ``event``: (source, partition_key or subject)."""
        return event.source, event.partition_key or event.subject

    def _stream(self, key: tuple[str, str]) -> _Stream:
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        return stream

    def _remember(self, stream: _Stream, event: Event) -> None:
        stream.last = event.sequence
        stream.applied.append((event.sequence, event.event_id))
        stream.applied_ids.add(event.event_id)
        while stream.applied and (
            stream.applied[0][0] <= stream.last - self._window or len(stream.applied) > self._window
        ):
            _, old = stream.applied.popleft()
            stream.applied_ids.discard(old)

    def _drain(self, stream: _Stream) -> list[Event]:
        released = []
        while stream.last + 1 in stream.held:
            event = stream.held.pop(stream.last + 1)
            self._remember(stream, event)
            released.append(event)
        return released

    def offer(self, event: Event) -> Decision:
        """Classifies the next delivered event of its stream (see :class:`StreamAction`)."""
        stream = self._stream(self.stream_of(event))
        sequence = event.sequence
        held_ids = {held.event_id for held in stream.held.values()}
        if event.event_id in stream.applied_ids or event.event_id in held_ids:
            return Decision(StreamAction.DUPLICATE)
        if sequence == stream.last + 1:
            self._remember(stream, event)
            return Decision(StreamAction.APPLY, (event, *self._drain(stream)))
        if sequence > stream.last + 1 and sequence not in stream.held:
            stream.held[sequence] = event
            return Decision(StreamAction.GAP)
        superseded = tuple(stream.held[s] for s in sorted(stream.held))
        stream.held.clear()
        self._remember(stream, event)
        return Decision(StreamAction.RESET, (event,), superseded)

    def resync(self, source: str, partition_key: str, sequence: int) -> Decision:
        """Sets the stream's position to ``sequence`` after the consumer loaded the entity's state as of that
        position from the producing service (a snapshot, or the re-sync after a gap timeout or a RESET).
        Returns, as an APPLY decision, the held events above ``sequence`` that now follow without a gap
        (apply them), and as ``superseded`` the held events at or below it (the state already holds them)."""
        if sequence < 0:
            raise ValueError(f"sequence must not be negative, got {sequence}")
        stream = self._stream((source, partition_key))
        superseded = tuple(stream.held.pop(s) for s in sorted(stream.held) if s <= sequence)
        stream.last = sequence
        return Decision(StreamAction.APPLY, tuple(self._drain(stream)), superseded)

    def position(self, source: str, partition_key: str) -> int:
        """The last applied sequence of the stream (0 when nothing was applied)."""
        stream = self._streams.get((source, partition_key))
        return stream.last if stream else 0

    def held(self, source: str, partition_key: str) -> list[int]:
        """The sequences held behind a gap in the stream, ascending."""
        stream = self._streams.get((source, partition_key))
        return sorted(stream.held) if stream else []
