"""Generates docs/asyncapi/cqc-events.yaml, the AsyncAPI 3.0 document of CQC's events on NATS JetStream, from
the protos (through the generated Python descriptors): one channel and one message per event of
`cqc.events.v1.Event.payload`, with the subject pattern of the binding (proto/cqc/events/README.md,
"Transport: NATS JetStream"), the CloudEvents headers, the producer, partition key and lifecycle of the
event's `(cqc.events.v1.event)` option, and the payload by reference to the event's JSON Schema
(schemas/jsonschema/, generated from the same protos) and its protobuf message.

    python tools/asyncapigen.py            # write the document
    python tools/asyncapigen.py --check    # fail if the committed document is stale
Run by `nox -s generate` (tools/cqcgen.py), so `nox -s check-generated` holds it fresh.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "asyncapi" / "cqc-events.yaml"
sys.path.insert(0, str(ROOT / "packages" / "python" / "src"))

HEADER_FIELDS = {
    "ce-specversion": "CloudEvents spec version, always 1.0.",
    "ce-id": "event_id (UUIDv7); also Nats-Msg-Id.",
    "ce-source": "The producing service, //cqc/<service>[/<instance>].",
    "ce-type": "event_type, the full proto name of the payload message.",
    "ce-subject": "CQC id of the entity the event is about.",
    "ce-time": "occurred_at, RFC 3339 UTC.",
    "ce-dataschema": "urn:cqc:proto:<event_type>.",
    "ce-partitionkey": "partition_key (the subject token after the event type, unescaped).",
    "ce-sequence": "sequence in the stream (source, partition_key), decimal.",
    "ce-correlationid": "correlation_id.",
    "ce-causationid": "causation_id (absent when empty).",
    "ce-recordedtime": "recorded_at, RFC 3339 UTC.",
    "ce-sourceversion": "source_version.",
    "ce-schemaversion": "schema_version (1).",
    "Content-Type": "application/protobuf (default) or application/json: how the Event in the data is encoded.",
    "Nats-Msg-Id": "event_id: the broker drops a repeat within the stream's 10-minute duplicate window.",
}
REQUIRED_HEADERS = ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "Content-Type", "Nats-Msg-Id"]


def document() -> dict[str, Any]:
    from cqc.envelope import event_options, producer_source
    from cqc.events.v1.envelope_pb2 import Event

    headers = {
        "type": "object",
        "required": REQUIRED_HEADERS,
        "properties": {name: {"type": "string", "description": text} for name, text in HEADER_FIELDS.items()},
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Event": {
            "type": "object",
            "description": "cqc.events.v1.Event, the envelope: the message data is the whole Event, in "
            "protobuf binary or canonical proto JSON (JSON Schema: "
            "schemas/jsonschema/cqc.events.v1.Event.jsonschema.json).",
            "externalDocs": {"url": "https://github.com/crypto-quant/cqc/blob/main/proto/cqc/events/v1/envelope.proto"},
        }
    }
    fields = sorted(Event.DESCRIPTOR.oneofs_by_name["payload"].fields, key=lambda f: f.number)
    for f in fields:
        message = f.message_type
        name = message.name
        options = event_options(message.full_name)
        keys = ", ".join(options.partition_key)
        schemas[name] = {
            "type": "object",
            "description": f"{message.full_name}, in Event.{f.name} (field {f.number}). JSON Schema: "
            f"schemas/jsonschema/{message.full_name}.jsonschema.json.",
            "externalDocs": {
                "url": "https://github.com/crypto-quant/cqc/blob/main/proto/"
                + message.file.name
            },
        }
        messages[name] = {
            "name": name,
            "title": message.full_name,
            "summary": f"Published by the {options.producer} ({producer_source(message.full_name)}); "
            f"partition key {keys}; lifecycle {options.lifecycle}.",
            "contentType": "application/protobuf",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": {
                "allOf": [{"$ref": "#/components/schemas/Event"}, {"$ref": f"#/components/schemas/{name}"}],
            },
            "bindings": {"nats": {"bindingVersion": "0.1.0"}},
            "x-cqc-event": {
                "producer": options.producer,
                "partitionKey": list(options.partition_key),
                "lifecycle": options.lifecycle,
                "payloadField": f.name,
            },
        }
        channels[name] = {
            "address": f"{message.full_name}.{{partitionKey}}",
            "title": message.full_name,
            "description": f"Subject of every {name} event: the event type, then the partition key ({keys}) as "
            "one token (bytes outside [A-Za-z0-9_-] written ~XX). Stream CQC_EVENTS.",
            "parameters": {"partitionKey": {"description": f"The escaped partition key: {keys}."}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"The {options.producer} publishes with a JetStream ack, retrying with the same Nats-Msg-Id.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
        operations[f"consume{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": "A durable consumer with explicit ack; invalid events go to cqc.deadletter.v1.<EventType>.",
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    channels["DeadLetter"] = {
        "address": "cqc.deadletter.v1.{eventType}",
        "title": "Dead letters",
        "description": "Events a consumer could not decode or that failed validation, with the reason in "
        "CQC-Deadletter-Reason and the original subject in CQC-Deadletter-Subject. Stream CQC_DEADLETTER.",
        "parameters": {"eventType": {"description": "The event type's name, or undecodable."}},
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "summary": "The original message data and ce-* headers, plus the reason.",
        "headers": {
            "type": "object",
            "required": ["CQC-Deadletter-Reason", "CQC-Deadletter-Subject"],
            "properties": {
                "CQC-Deadletter-Reason": {"type": "string", "description": "Why: undecodable or invalid, with details."},
                "CQC-Deadletter-Subject": {"type": "string", "description": "The subject it was published on."},
            },
        },
        "payload": {"type": "string", "format": "binary", "description": "The original message data."},
    }
    operations["consumeDeadLetter"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/DeadLetter"},
        "messages": [{"$ref": "#/channels/DeadLetter/messages/DeadLetter"}],
    }
    schemas["CloudEventHeaders"] = headers
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CQC events",
            "version": "1.0.0",
            "description": "Generated by tools/asyncapigen.py from proto/cqc/events; do not edit. The binding: "
            "proto/cqc/events/README.md, section Transport: NATS JetStream.",
        },
        "defaultContentType": "application/protobuf",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "Any NATS server with JetStream; streams CQC_EVENTS and CQC_DEADLETTER.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return "# Generated by tools/asyncapigen.py from the protos. Do not edit.\n" + yaml.safe_dump(
        document(), sort_keys=False, width=120, allow_unicode=True
    )


def main(argv: list[str]) -> int:
    text = render()
    if argv[:1] == ["--check"]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run `nox -s generate`", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
