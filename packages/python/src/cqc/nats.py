"""Publishing and consuming ``cqc.events.v1.Event`` envelopes on NATS JetStream (``pip install cqc-contracts[nats]``).

The binding is documented in proto/cqc/events/README.md, "Transport: NATS JetStream"; Go (package
``cqcnats``) and TypeScript (``@crypto-quant/cqc/nats``) implement the same binding, held together by
``nox -s events``. In short:

- subject: ``<event_type>.<partition key token>``, e.g. ``cqc.events.v1.OrderPlaced.acc_01J...``
  (:func:`subject_for`; key characters outside ``[A-Za-z0-9_-]`` are escaped as ``~XX``);
- one stream ``CQC_EVENTS`` for every event (subjects ``cqc.events.v1.>``), dead letters in
  ``CQC_DEADLETTER`` (subjects ``cqc.deadletter.v1.>``) (:func:`ensure_streams`);
- CloudEvents binary-mode headers ``ce-*`` from :func:`cqc.envelope.cloudevent_attributes`,
  ``Content-Type`` ``application/protobuf`` (or ``application/json``), ``Nats-Msg-Id`` = ``event_id``;
- :class:`Publisher`: publish with a broker ack and bounded retry (the same ``Nats-Msg-Id`` each time);
- :class:`Consumer`: a durable pull consumer with explicit ack; ordering, gap and de-duplication by
  :class:`cqc.envelope.EventStreamTracker`; positions persisted in a :class:`StateStore`; events that do
  not decode or fail ``cqc.validation`` go to the dead-letter subject with the reason, then are acked.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import nats
from google.protobuf import json_format
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from cqc.envelope import (
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_PROTOBUF,
    DEFAULT_DEDUP_WINDOW,
    EventStreamTracker,
    StreamAction,
    cloudevent_attributes,
)
from cqc.events.v1.envelope_pb2 import Event
from cqc.validation import violations

__all__ = [
    "DEADLETTER_PREFIX",
    "DEADLETTER_STREAM",
    "EVENTS_STREAM",
    "SUBJECT_PREFIX",
    "Consumer",
    "ConsumerCounts",
    "FileStateStore",
    "MemoryStateStore",
    "Publisher",
    "StateStore",
    "deadletter_subject",
    "decode_event",
    "encode_event",
    "ensure_streams",
    "event_headers",
    "key_token",
    "subject_for",
]

SUBJECT_PREFIX: Final = "cqc.events.v1"
"""Every event subject starts with this (it is the event_type's package): ``cqc.events.v1.>`` is all of them."""
DEADLETTER_PREFIX: Final = "cqc.deadletter.v1"
"""Dead-letter subjects: ``cqc.deadletter.v1.<EventType or "undecodable">``."""
EVENTS_STREAM: Final = "CQC_EVENTS"
DEADLETTER_STREAM: Final = "CQC_DEADLETTER"
EVENTS_MAX_AGE_S: Final = 7 * 24 * 3600.0
"""Events are kept 7 days: a consumer down longer re-syncs from the producing services."""
DEADLETTER_MAX_AGE_S: Final = 30 * 24 * 3600.0
DUPLICATE_WINDOW_S: Final = 600.0
"""The broker's Nats-Msg-Id window (10 minutes): longer than any publisher retry; consumers de-duplicate
beyond it by event_id (:class:`cqc.envelope.EventStreamTracker`)."""
PUBLISH_ATTEMPTS: Final = 5

_TOKEN_SAFE: Final = re.compile(r"[A-Za-z0-9_-]")
_KNOWN_TYPES: Final = frozenset(
    f.message_type.full_name for f in Event.DESCRIPTOR.oneofs_by_name["payload"].fields if f.message_type is not None
)


def key_token(partition_key: str) -> str:
    """The partition key as one NATS subject token: ``[A-Za-z0-9_-]`` kept, every other UTF-8 byte written
    ``~XX`` (upper-case hex); the empty key is ``_``. CQC ids (``acc_01J...``) pass unchanged."""
    if not partition_key:
        return "_"
    return "".join(
        ch if _TOKEN_SAFE.fullmatch(ch) else "".join(f"~{b:02X}" for b in ch.encode()) for ch in partition_key
    )


def subject_for(event: Event) -> str:
    """The subject of ``event``: its event_type, a dot, and :func:`key_token` of its partition key (the
    subject when the key is empty, as for CloudEvents' partitionkey)."""
    return f"{event.event_type}.{key_token(event.partition_key or event.subject)}"


def deadletter_subject(event_type: str) -> str:
    """``cqc.deadletter.v1.<EventType>`` (the type's last name), or ``...undecodable`` when unknown."""
    name = event_type.rsplit(".", 1)[-1] if event_type.startswith(SUBJECT_PREFIX + ".") else ""
    return f"{DEADLETTER_PREFIX}.{name if re.fullmatch(r'[A-Z][A-Za-z0-9]*', name) else 'undecodable'}"


def event_headers(event: Event, content_type: str = CONTENT_TYPE_PROTOBUF) -> dict[str, str]:
    """The message headers of ``event``: ``ce-<attribute>`` for each CloudEvents attribute except
    datacontenttype, which is ``Content-Type``; ``Nats-Msg-Id`` = event_id."""
    attributes = cloudevent_attributes(event, datacontenttype=content_type)  # type: ignore[arg-type]
    headers = {"Content-Type": attributes.pop("datacontenttype")}
    headers.update({"ce-" + name: value for name, value in attributes.items()})
    headers["Nats-Msg-Id"] = event.event_id
    return headers


def encode_event(event: Event, content_type: str = CONTENT_TYPE_PROTOBUF) -> bytes:
    """The message data: the whole Event in protobuf binary, or canonical proto JSON."""
    if content_type == CONTENT_TYPE_JSON:
        return json_format.MessageToJson(event, indent=None).encode()
    if content_type != CONTENT_TYPE_PROTOBUF:
        raise ValueError(f"content type {content_type!r} is not {CONTENT_TYPE_PROTOBUF!r} or {CONTENT_TYPE_JSON!r}")
    return event.SerializeToString()


def decode_event(data: bytes, content_type: str | None) -> Event:
    """Decodes message data by its Content-Type (protobuf when absent); unknown JSON fields are ignored.
    Raises ``ValueError`` when it does not decode."""
    try:
        if content_type == CONTENT_TYPE_JSON:
            return json_format.Parse(data.decode(), Event(), ignore_unknown_fields=True)
        if content_type not in (None, "", CONTENT_TYPE_PROTOBUF):
            raise ValueError(f"unsupported Content-Type {content_type!r}")
        return Event.FromString(data)
    except ValueError:
        raise
    except Exception as error:  # DecodeError, UnicodeDecodeError, ParseError
        raise ValueError(f"{type(error).__name__}: {error}") from error


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Creates (or updates) the two streams of the binding: CQC_EVENTS (``cqc.events.v1.>``, file storage,
    limits retention, 7 days, 10-minute duplicate window) and CQC_DEADLETTER (``cqc.deadletter.v1.>``, 30 days)."""
    for name, subjects, max_age in (
        (EVENTS_STREAM, [SUBJECT_PREFIX + ".>"], EVENTS_MAX_AGE_S),
        (DEADLETTER_STREAM, [DEADLETTER_PREFIX + ".>"], DEADLETTER_MAX_AGE_S),
    ):
        config = StreamConfig(
            name=name,
            subjects=subjects,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=max_age,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
        )
        try:
            await js.stream_info(name)
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)


class Publisher:
    """Publishes events with a JetStream ack. A failed or unacknowledged publish is retried (at most
    ``attempts`` times, backing off from ``backoff`` seconds) with the same ``Nats-Msg-Id``, so a publish
    that reached the stream before the failure is stored once. ``publish`` returns whether the broker
    reported the message as a duplicate (already stored)."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        content_type: Literal["application/protobuf", "application/json"] = CONTENT_TYPE_PROTOBUF,
        attempts: int = PUBLISH_ATTEMPTS,
        backoff: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._js, self._content_type, self._attempts = js, content_type, attempts
        self._backoff, self._timeout = backoff, timeout

    async def publish(self, event: Event) -> bool:
        subject, data = subject_for(event), encode_event(event, self._content_type)
        headers = event_headers(event, self._content_type)
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                ack = await self._js.publish(subject, data, timeout=self._timeout, headers=headers)
                return bool(ack.duplicate)
            except Exception:
                if attempt == self._attempts:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


class StateStore(Protocol):
    """Where a consumer keeps, per stream (source, partition key), the last applied sequence and the
    event ids of the last applied events. ``save`` runs after the handler and before the ack: commit it
    with the handler's effects (one transaction) to apply each event exactly once across crashes."""

    def load(self) -> dict[str, Any]: ...

    def save(self, state: dict[str, Any]) -> None: ...


@dataclass
class MemoryStateStore:
    """A state store that forgets on restart (tests, benchmarks)."""

    state: dict[str, Any] = field(default_factory=dict)

    def load(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.state))  # type: ignore[no-any-return]

    def save(self, state: dict[str, Any]) -> None:
        self.state = json.loads(json.dumps(state))


@dataclass
class FileStateStore:
    """A state store in one JSON file, replaced atomically (write, fsync, rename) on every save."""

    path: Path

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


@dataclass
class ConsumerCounts:
    """What a :class:`Consumer` saw: deliveries (``redelivered`` of them were redeliveries), events
    applied, duplicates dropped, gaps held, resets, dead letters, and unknown (newer) events skipped."""

    delivered: int = 0
    redelivered: int = 0
    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    resets: int = 0
    dead_lettered: int = 0
    unknown: int = 0


Handler = Callable[[Event], Awaitable[None] | None]


def _stream_name(source: str, key: str) -> str:
    return f"{source}|{key}"


class Consumer:
    """A durable pull consumer of the events stream (``filter_subject``, default every event) with
    explicit ack. For each message, in stream order:

    1. undecodable, or failing ``cqc.validation`` -> published to :func:`deadletter_subject` with headers
       ``CQC-Deadletter-Reason``, ``CQC-Deadletter-Subject`` (the original subject) and the original
       ``ce-*`` headers, then acked (never silently dropped);
    2. an envelope with no payload case known to this build (a newer event) -> acked, skipped;
    3. an event_id already applied (persisted window per stream) -> duplicate, acked;
    4. otherwise :class:`EventStreamTracker` decides: apply (the handler runs for it and every held event it
       releases, the state is saved, then they are acked), gap (held, not acked, until filled), reset (the
       ``on_reset`` hook re-syncs, then it is applied as above).

    After a restart the durable consumer redelivers what was not acked and the state store restores the
    stream positions and recent ids, so nothing is lost and nothing applied twice.
    """

    def __init__(
        self,
        js: JetStreamContext,
        durable: str,
        handler: Handler,
        *,
        store: StateStore | None = None,
        filter_subject: str = SUBJECT_PREFIX + ".>",
        ack_wait: float = 30.0,
        window: int = DEFAULT_DEDUP_WINDOW,
        on_reset: Callable[[Event], None] | None = None,
    ) -> None:
        self._js, self._durable, self._handler = js, durable, handler
        self._store = store if store is not None else MemoryStateStore()
        self._filter, self._ack_wait, self._window, self._on_reset = filter_subject, ack_wait, window, on_reset
        self._tracker = EventStreamTracker(window)
        self._ids: dict[str, deque[str]] = {}
        self._id_set: set[str] = set()
        self._held: dict[str, Msg] = {}  # event_id -> message not yet acked (held behind a gap)
        self.counts = ConsumerCounts()
        self._sub: JetStreamContext.PullSubscription | None = None
        state = self._store.load()
        for name, stream in state.get("streams", {}).items():
            source, key = name.split("|", 1)
            self._tracker.resync(source, key, int(stream["last"]))
            ids = self._ids[name] = deque(stream.get("ids", []), maxlen=window)
            self._id_set.update(ids)
        self._extra: dict[str, Any] = state.get("extra", {})

    @property
    def extra(self) -> dict[str, Any]:
        """Application data saved with the positions (in the same atomic save)."""
        return self._extra

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        if self._sub is None:
            config = ConsumerConfig(
                durable_name=self._durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait,
                filter_subject=self._filter,
                max_ack_pending=10_000,
            )
            self._sub = await self._js.pull_subscribe(
                self._filter, durable=self._durable, stream=EVENTS_STREAM, config=config
            )
        return self._sub

    def _save(self) -> None:
        streams = {}
        for name, ids in self._ids.items():
            source, key = name.split("|", 1)
            streams[name] = {"last": self._tracker.position(source, key), "ids": list(ids)}
        self._store.save({"streams": streams, "extra": self._extra})

    def _remember(self, event: Event) -> None:
        name = _stream_name(*EventStreamTracker.stream_of(event))
        ids = self._ids.get(name)
        if ids is None:
            ids = self._ids[name] = deque(maxlen=self._window)
        if len(ids) == ids.maxlen:
            self._id_set.discard(ids[0])
        ids.append(event.event_id)
        self._id_set.add(event.event_id)

    async def _deadletter(self, msg: Msg, reason: str, event_type: str) -> None:
        headers = {k: v for k, v in (msg.headers or {}).items() if k.startswith("ce-") or k == "Content-Type"}
        headers["CQC-Deadletter-Reason"] = reason[:1024].replace("\r", " ").replace("\n", " ")
        headers["CQC-Deadletter-Subject"] = msg.subject
        original_id = (msg.headers or {}).get("Nats-Msg-Id")
        if original_id:
            headers["Nats-Msg-Id"] = "dl-" + original_id
        await self._js.publish(deadletter_subject(event_type), msg.data, headers=headers)
        self.counts.dead_lettered += 1
        await msg.ack()

    async def _apply(self, events: Iterable[Event]) -> list[Event]:
        applied = []
        for event in events:
            result = self._handler(event)
            if result is not None:
                await result
            self._remember(event)
            applied.append(event)
            self.counts.applied += 1
        return applied

    async def handle(self, msg: Msg) -> None:
        """Processes one delivered message (what :meth:`run` does for each)."""
        self.counts.delivered += 1
        if msg.metadata.num_delivered > 1:
            self.counts.redelivered += 1
        headers = msg.headers or {}
        try:
            event = decode_event(msg.data, headers.get("Content-Type"))
        except ValueError as error:
            await self._deadletter(msg, f"undecodable: {error}", headers.get("ce-type", ""))
            return
        if event.WhichOneof("payload") is None and event.event_type not in _KNOWN_TYPES and event.event_id:
            self.counts.unknown += 1  # a newer event this build does not know: skip it, never fail the stream
            await msg.ack()
            return
        found = violations(event)
        if found:
            reason = "invalid: " + "; ".join(str(v) for v in found)
            await self._deadletter(msg, reason, event.event_type)
            return
        if event.event_id in self._id_set:
            self.counts.duplicates += 1
            await msg.ack()
            return
        decision = self._tracker.offer(event)
        if decision.action is StreamAction.DUPLICATE:
            if event.event_id in self._held:
                self._held[event.event_id] = msg  # a redelivery of a held event: keep the newest handle
            else:
                self.counts.duplicates += 1
                await msg.ack()
            return
        if decision.action is StreamAction.GAP:
            self.counts.gaps += 1
            self._held[event.event_id] = msg
            return
        if decision.action is StreamAction.RESET:
            self.counts.resets += 1
            if self._on_reset is not None:
                self._on_reset(event)
        applied = await self._apply(decision.released)
        self._save()
        for done in (*decision.superseded, *applied):
            held = self._held.pop(done.event_id, None)
            await (held or msg).ack()
        if not any(done.event_id == event.event_id for done in applied):
            await msg.ack()

    async def run(self, *, idle: float | None = None, batch: int = 256, stop: asyncio.Event | None = None) -> None:
        """Fetches and handles messages until ``stop`` is set or, with ``idle``, until no message arrived for
        ``idle`` seconds."""
        sub = await self._subscribe()
        while stop is None or not stop.is_set():
            try:
                messages = await sub.fetch(batch, timeout=idle if idle is not None else 1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                if idle is not None:
                    return
                continue
            for msg in messages:
                await self.handle(msg)


async def connect(url: str, **options: Any) -> tuple[Client, JetStreamContext]:
    """Connects to ``url`` and returns the client and its JetStream context."""
    client = await nats.connect(url, **options)
    return client, client.jetstream()
