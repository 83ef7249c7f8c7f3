"""cqc.envelope: the shared cases of testdata/helpers/ (events-cases.json, event-stream-cases.json), new_event
for every event type, and the (cqc.events.v1.event) option every event type must carry."""

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
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from cqc import envelope
from cqc._gen.buf.validate import validate_pb2
from cqc.assets.v1 import asset_pb2
from cqc.events.v1 import options_pb2
from cqc.events.v1.envelope_pb2 import Event
from cqc.registry import message_class
from cqc.types.v1 import rules_pb2
from cqc.validation import validate

EXAMPLES = TESTDATA / "examples"
CASES: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "events-cases.json").read_text())["cases"]
STREAM_CASES: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "event-stream-cases.json").read_text())["cases"]
UUID_V7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
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
        source=envelope.producer_source(message) + "/helper-test",
        subject="ast_01JDVSDC000000000000000000",
        occurred_at=occurred_at,
        sequence=1,
        source_version="0.1.0",
    )
    validate(event)
    assert UUID_V7.match(event.event_id)
    assert event.event_type == type_name
    assert event.partition_key == envelope.partition_key_of(message) != ""
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
        partition_key=example.partition_key,
        correlation_id=example.correlation_id,
        causation_id=example.causation_id or None,
        sequence=example.sequence,
        source_version=example.source_version,
        recorded_at=example.recorded_at,
    )
    validate(event)
    event.event_id = example.event_id
    assert event == example
    # Without partition_key, new_event takes it from the payload, by the event type's option.
    again = envelope.new_event(
        envelope.payload(example),
        source=example.source,
        subject=example.subject,
        occurred_at=example.occurred_at,
        sequence=example.sequence,
        source_version=example.source_version,
    )
    assert again.partition_key == example.partition_key


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
        partition_key="ast_01JDVSDC000000000000000000",
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
        "ast_01JDVSDC000000000000000000",
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
        created,
        source="//cqc/asset-registry",
        subject=event.subject,
        occurred_at=occurred,
        sequence=8,
        source_version="1.4.2",
    )
    assert again.event_id != event.event_id
    assert (again.sequence, again.source_version) == (8, "1.4.2")


OPTIONS: dict[str, Any] = {
    "source": "//cqc/asset-registry",
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
    asset = asset_pb2.Asset(asset_id="ast_01JDVSDC000000000000000000")
    created = message_class("cqc.events.v1.AssetCreated")(asset=asset)
    with pytest.raises(ValueError, match="timezone-aware"):
        envelope.new_event(created, occurred_at=datetime(2024, 1, 1), **OPTIONS)


def test_timestamps_outside_the_range_are_rejected() -> None:
    event = case_event(CASES[0])
    event.occurred_at.seconds = 253402300800  # 10000-01-01
    with pytest.raises(ValueError, match="occurred_at"):
        envelope.cloudevent_attributes(event)


# --- The (cqc.events.v1.event) option on every event type -------------------------------------------------

PRODUCERS = {"AssetRegistry", "MarketData", "VenueGateway", "Portfolio", "RiskEngine"}
# (payload case name, event message descriptor) in Event.payload order.
PAYLOAD_CASES: list[tuple[str, Descriptor]] = [
    (f.name, f.message_type) for f in Event.DESCRIPTOR.oneofs_by_name["payload"].fields if f.message_type is not None
]
EVENT_DESCRIPTORS = {descriptor.full_name: descriptor for _, descriptor in PAYLOAD_CASES}


def _key_fields(type_name: str) -> list[FieldDescriptor]:
    """The leaf field of every partition_key path of the event type; fails when a path does not resolve."""
    leaves = []
    for path in envelope.event_options(type_name).partition_key:
        message: Descriptor | None = EVENT_DESCRIPTORS[type_name]
        leaf: FieldDescriptor | None = None
        for part in path.split("."):
            assert message is not None, f"{type_name}: partition_key path {path!r} crosses a non-message field"
            leaf = message.fields_by_name.get(part)
            assert leaf is not None, f"{type_name}: {path!r}: no field {part!r} in {message.full_name}"
            message = leaf.message_type
        assert leaf is not None and leaf.type == FieldDescriptor.TYPE_STRING, f"{type_name}: {path!r} is not a string"
        assert not leaf.is_repeated, f"{type_name}: {path!r} is a list"
        leaves.append(leaf)
    return leaves


def _id_prefix(leaf: FieldDescriptor) -> str:
    rules = leaf.GetOptions().Extensions[validate_pb2.field]
    prefix: str = rules.string.Extensions[rules_pb2.id_prefix]
    return prefix


@pytest.mark.parametrize("type_name", EVENT_TYPES)
def test_every_event_type_names_its_producer_and_partition_key(type_name: str) -> None:
    descriptor = EVENT_DESCRIPTORS[type_name]
    assert descriptor.GetOptions().HasExtension(options_pb2.event), f"{type_name} lacks option (cqc.events.v1.event)"
    options = envelope.event_options(type_name)
    assert options.producer in PRODUCERS, f"{type_name}: producer {options.producer!r} is not a CQC service"
    assert options.lifecycle, f"{type_name}: lifecycle is empty"
    assert list(options.partition_key), f"{type_name}: no partition_key path"
    for leaf in _key_fields(type_name):
        assert _id_prefix(leaf), f"{type_name}: partition key field {leaf.full_name} is not a CQC id (id_prefix)"


def test_one_lifecycle_is_keyed_by_one_kind_of_id() -> None:
    kinds: dict[str, dict[str, list[str]]] = {}
    for type_name in EVENT_TYPES:
        lifecycle = envelope.event_options(type_name).lifecycle
        kinds.setdefault(lifecycle, {})[type_name] = [_id_prefix(leaf) for leaf in _key_fields(type_name)]
    for lifecycle, by_type in kinds.items():
        assert len({tuple(v) for v in by_type.values()}) == 1, f"lifecycle {lifecycle} is keyed differently: {by_type}"
    market = kinds["Market"]
    assert set(market) == {
        "cqc.events.v1.MarketCreated",
        "cqc.events.v1.MarketUpdated",
        "cqc.events.v1.MarketStatusChanged",
        "cqc.events.v1.VenueMarketListed",
        "cqc.events.v1.VenueMarketDelisted",
    }
    assert next(iter(market.values())) == ["mkt"]
    assert {v[0] for v in kinds["Account"].values()} == {"acc"}


def _expected_rules() -> dict[str, str]:
    """The two Event rules that hold the envelope to the options, as they must read in envelope.proto."""
    key_clauses: list[str] = []
    source_groups: dict[str, list[str]] = {}
    for case, descriptor in PAYLOAD_CASES:
        options = envelope.event_options(descriptor)
        values = [f"this.{case}.{path}" for path in options.partition_key]
        value = values[-1]
        for candidate in reversed(values[:-1]):
            value = f"(has({candidate}) ? {candidate} : {value})"
        key_clauses.append(f"(!has(this.{case}) || this.partition_key == {value}) && ")
        source = envelope.producer_source(descriptor)
        source_groups.setdefault(source, []).append(f"has(this.{case})")
    source_clauses = [
        f"(!({' || '.join(has)}) || this.source.matches('^{source}(/|$)')) && " for source, has in source_groups.items()
    ]
    return {
        "event.partition_key_matches_payload": "".join(key_clauses) + "true",
        "event.source_matches_producer": "".join(source_clauses) + "true",
    }


def test_envelope_rules_follow_the_options() -> None:
    rules = {rule.id: rule.expression for rule in Event.DESCRIPTOR.GetOptions().Extensions[validate_pb2.message].cel}
    for rule_id, expression in _expected_rules().items():
        clauses = re.findall(r".*?(?:&& |true$)", expression)
        proto_lines = "\n".join('      "' + clause.replace("\\", "\\\\") + '"' for clause in clauses)
        assert rules.get(rule_id) == expression, (
            f"rule {rule_id} in envelope.proto does not follow the (cqc.events.v1.event) options; its expression"
            f" must read:\n{proto_lines}"
        )


def test_new_event_refuses_a_key_or_source_other_than_the_options() -> None:
    example = json_format.Parse((EXAMPLES / "cqc.events.v1.Event" / "order-placed-btcusdt.json").read_text(), Event())
    placed = envelope.payload(example)
    base: dict[str, Any] = {
        "subject": example.subject,
        "occurred_at": example.occurred_at,
        "sequence": 1,
        "source_version": "1.0.0",
    }
    with pytest.raises(ValueError, match=r"is not the cqc\.events\.v1\.OrderPlaced key"):
        envelope.new_event(placed, source="//cqc/venue-gateway", partition_key=example.subject, **base)
    with pytest.raises(ValueError, match="producer '//cqc/venue-gateway'"):
        envelope.new_event(placed, source="//cqc/portfolio", **base)
    with pytest.raises(ValueError, match="producer"):
        envelope.new_event(placed, source="//cqc/venue-gateway-2", **base)
    empty = message_class("cqc.events.v1.OrderPlaced")()
    with pytest.raises(ValueError, match=r"has no partition key: order\.account_id is empty"):
        envelope.new_event(empty, source="//cqc/venue-gateway", **base)
    event = envelope.new_event(placed, source="//cqc/venue-gateway/okx", **base)
    assert event.partition_key == placed.order.account_id  # type: ignore[attr-defined]
    assert envelope.producer_source("cqc.events.v1.PositionChanged") == "//cqc/portfolio"
    assert envelope.producer_source(EVENT_DESCRIPTORS["cqc.events.v1.RiskAlert"]) == "//cqc/risk-engine"


# --- UUIDv7 --------------------------------------------------------------------------------------------------


def test_uuid7_layout_and_order() -> None:
    value = envelope.uuid7(0x0193A8F26C1E)
    assert UUID_V7.match(value)
    assert value.startswith("0193a8f2-6c1e-7")
    parsed = uuid.UUID(value)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert envelope.uuid7(1) < envelope.uuid7(2) < envelope.uuid7()
    assert len({envelope.uuid7(5) for _ in range(1000)}) == 1000
    assert UUID_V7.match(envelope.uuid7(0)) and UUID_V7.match(envelope.uuid7((1 << 48) - 1))
    with pytest.raises(ValueError, match="48-bit"):
        envelope.uuid7(1 << 48)


# --- The event-stream tracker: testdata/helpers/event-stream-cases.json -------------------------------------


def _stream_event(spec: dict[str, Any]) -> Event:
    return Event(
        event_id=spec["event_id"], source=spec["source"], partition_key=spec["partition_key"], sequence=spec["sequence"]
    )


@pytest.mark.parametrize("case", STREAM_CASES, ids=[c["name"] for c in STREAM_CASES])
def test_event_stream_cases(case: dict[str, Any]) -> None:
    tracker = envelope.EventStreamTracker(**({"window": case["window"]} if "window" in case else {}))
    applied: list[str] = []
    for index, step in enumerate(case["steps"]):
        if "offer" in step:
            decision = tracker.offer(_stream_event(step["offer"]))
            assert decision.action.value == step["action"], f"step {index}: {step}"
        else:
            spec = step["resync"]
            decision = tracker.resync(spec["source"], spec["partition_key"], spec["sequence"])
        released = [e.event_id for e in decision.released]
        assert released == step["released"], f"step {index}: {step}"
        assert [e.event_id for e in decision.superseded] == step.get("superseded", []), f"step {index}: {step}"
        applied += released
    assert applied == case["applied"]
    for position in case["positions"]:
        assert tracker.position(position["source"], position["partition_key"]) == position["sequence"], position


def test_multi_producer_case_drops_no_event() -> None:
    case = next(c for c in STREAM_CASES if c["name"].startswith("multi-producer/"))
    offered = {step["offer"]["event_id"] for step in case["steps"] if "offer" in step}
    sources = {step["offer"]["source"] for step in case["steps"] if "offer" in step}
    keys = {step["offer"]["partition_key"] for step in case["steps"] if "offer" in step}
    assert len(sources) == 3 and len(keys) == 1
    assert sorted(case["applied"]) == sorted(offered)  # every distinct event applied exactly once
    assert any(step.get("action") == "gap" for step in case["steps"])
    assert any(step.get("action") == "duplicate" for step in case["steps"])


def test_tracker_falls_back_to_subject_and_rejects_bad_arguments() -> None:
    tracker = envelope.EventStreamTracker()
    event = Event(event_id="x-1", source="//cqc/portfolio", subject="pos_01JDBNBTCVSDTPERP10NG00000", sequence=1)
    assert tracker.offer(event).action is envelope.StreamAction.APPLY
    assert tracker.position("//cqc/portfolio", "pos_01JDBNBTCVSDTPERP10NG00000") == 1
    assert tracker.held("//cqc/portfolio", "pos_01JDBNBTCVSDTPERP10NG00000") == []
    with pytest.raises(ValueError):
        envelope.EventStreamTracker(window=0)
    with pytest.raises(ValueError):
        tracker.resync("//cqc/portfolio", "k", -1)
