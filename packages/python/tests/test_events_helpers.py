"""cqc.envelope: the shared cases of testdata/helpers/events-cases.json, and new_event for every event type."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTDATA
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from cqc import envelope
from cqc.assets.v1 import asset_pb2
from cqc.events.v1.envelope_pb2 import Event
from cqc.registry import message_class
from cqc.validation import validate

EXAMPLES = TESTDATA / "examples"
CASES: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "events-cases.json").read_text())["cases"]
UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EVENT_TYPES = sorted(
    field.message_type.full_name for field in Event.DESCRIPTOR.oneofs_by_name["payload"].fields if field.message_type
)
PAYLOAD_EXAMPLES = sorted(path for name in EVENT_TYPES for path in (EXAMPLES / name).glob("*.json"))
ENVELOPE_EXAMPLES = sorted((EXAMPLES / "cqc.events.v1.Event").glob("*.json"))


def case_event(case: dict[str, Any]) -> Event:
    """The case's example envelope with its patch applied (top-level keys; null removes a key)."""
    data = json.loads((EXAMPLES / "cqc.events.v1.Event" / case["example"]).read_text())
    for key, value in case.get("patch", {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json_format.ParseDict(data, Event())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cloudevent_attributes(case: dict[str, Any]) -> None:
    event = case_event(case)
    content_type = case.get("datacontenttype", envelope.CONTENT_TYPE_PROTOBUF)
    if case.get("error"):
        with pytest.raises(ValueError):
            envelope.cloudevent_attributes(event, datacontenttype=content_type)
    else:
        attributes = envelope.cloudevent_attributes(event, datacontenttype=content_type)
        assert attributes == case["attributes"]
    if case["payload"] is None:
        with pytest.raises(ValueError, match="no payload case"):
            envelope.payload(event)
    else:
        assert envelope.payload(event).DESCRIPTOR.full_name == case["payload"]


def test_case_file_covers_every_envelope_example() -> None:
    referenced = {case["example"] for case in CASES}
    assert referenced == {path.name for path in ENVELOPE_EXAMPLES}
    assert len(CASES) >= 20


def test_every_event_type_has_an_example() -> None:
    assert len(EVENT_TYPES) == 30
    assert {path.parent.name for path in PAYLOAD_EXAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("path", PAYLOAD_EXAMPLES, ids=[f"{p.parent.name}/{p.name}" for p in PAYLOAD_EXAMPLES])
def test_new_event_for_every_event_type(path: Path) -> None:
    type_name = path.parent.name
    message = json_format.Parse(path.read_text(), message_class(type_name)())
    occurred_at = datetime.now(UTC)
    event = envelope.new_event(
        message,
        source="//cqc/helper-test",
        subject="ast_01JDVSDC000000000000000000",
        occurred_at=occurred_at,
        sequence=1,
        source_version="0.1.0",
    )
    validate(event)
    assert UUID_V4.match(event.event_id)
    assert event.event_type == type_name
    assert event.partition_key == event.subject == "ast_01JDVSDC000000000000000000"
    assert event.correlation_id == event.event_id
    assert event.causation_id == ""
    assert event.schema_version == 1
    assert event.occurred_at.ToDatetime(tzinfo=UTC) == occurred_at
    recorded = event.recorded_at.ToDatetime(tzinfo=UTC)
    assert abs(recorded - datetime.now(UTC)) < timedelta(seconds=10)
    got = envelope.payload(event)
    assert got == message
    assert got is not message  # new_event copies the payload
    assert envelope.cloudevent_attributes(event)["type"] == type_name


@pytest.mark.parametrize("path", ENVELOPE_EXAMPLES, ids=[p.name for p in ENVELOPE_EXAMPLES])
def test_new_event_rebuilds_the_envelope_examples(path: Path) -> None:
    example = json_format.Parse(path.read_text(), Event())
    event = envelope.new_event(
        envelope.payload(example),
        source=example.source,
        subject=example.subject,
        occurred_at=example.occurred_at,
        partition_key=example.partition_key or None,
        correlation_id=example.correlation_id,
        causation_id=example.causation_id or None,
        sequence=example.sequence,
        source_version=example.source_version,
        recorded_at=example.recorded_at,
    )
    validate(event)
    event.event_id = example.event_id
    if not example.partition_key:
        assert event.partition_key == example.subject
        event.partition_key = ""
    assert event == example


def test_new_event_defaults_and_options() -> None:
    asset = asset_pb2.Asset(asset_id="ast_01JDVSDC000000000000000000", symbol="USDC", name="USDC")
    created = message_class("cqc.events.v1.AssetCreated")(asset=asset)
    cause = str(uuid.uuid4())
    occurred = Timestamp(seconds=1_732_093_200, nanos=123_456_789)
    event = envelope.new_event(
        created,
        source="//cqc/asset-registry",
        subject="ast_01JDVSDC000000000000000000",
        occurred_at=occurred,
        partition_key="acc_01JDBNSP0TMA1N000000000000",
        correlation_id="0193499a-2b40-7c11-8e0f-5a1d3c7b9e21",
        causation_id=cause,
        sequence=7,
        source_version="1.4.2",
        recorded_at=datetime(2024, 11, 20, 10, 0, 1, tzinfo=timezone(timedelta(hours=1))),
    )
    assert event.WhichOneof("payload") == "asset_created"
    assert event.occurred_at == occurred  # nanoseconds kept
    assert event.recorded_at == Timestamp(seconds=1_732_093_201)  # converted to UTC
    assert (event.partition_key, event.correlation_id, event.causation_id, event.sequence) == (
        "acc_01JDBNSP0TMA1N000000000000",
        "0193499a-2b40-7c11-8e0f-5a1d3c7b9e21",
        cause,
        7,
    )
    attributes = envelope.cloudevent_attributes(event)
    assert attributes["time"] == "2024-11-20T09:00:00.123456789Z"
    assert attributes["recordedtime"] == "2024-11-20T09:00:01Z"
    assert attributes["causationid"] == cause
    # Two events never share an id.
    again = envelope.new_event(
        created, source="//cqc/asset-registry", subject=event.subject, occurred_at=occurred, sequence=8,
        source_version="1.4.2",
    )
    assert again.event_id != event.event_id
    assert (again.sequence, again.source_version) == (8, "1.4.2")


OPTIONS: dict[str, Any] = {
    "source": "//cqc/x",
    "subject": "ast_01JDVSDC000000000000000000",
    "sequence": 1,
    "source_version": "1.4.2",
}


def test_new_event_rejects_what_is_not_an_event() -> None:
    asset = asset_pb2.Asset(asset_id="ast_01JDVSDC000000000000000000")
    with pytest.raises(TypeError, match=r"cqc\.assets\.v1\.Asset is not an event"):
        envelope.new_event(asset, occurred_at=Timestamp(), **OPTIONS)
    with pytest.raises(TypeError, match=r"cqc\.events\.v1\.Event is not an event"):
        envelope.new_event(Event(), occurred_at=Timestamp(), **OPTIONS)


def test_new_event_rejects_naive_datetimes() -> None:
    created = message_class("cqc.events.v1.AssetCreated")()
    with pytest.raises(ValueError, match="timezone-aware"):
        envelope.new_event(created, occurred_at=datetime(2024, 1, 1), **OPTIONS)


def test_timestamps_outside_the_range_are_rejected() -> None:
    event = case_event(CASES[0])
    event.occurred_at.seconds = 253402300800  # 10000-01-01
    with pytest.raises(ValueError, match="occurred_at"):
        envelope.cloudevent_attributes(event)
