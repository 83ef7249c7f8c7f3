"""Python's executor for the differential fuzzer (tools/fuzz.py).

Reads one JSON request per line on stdin, ``{"type": "<full name>", "binary": "<base64>"}`` or
``{"type": ..., "json": "<text>"}``, and writes one JSON line per request: the verdict (``parse_error``,
``valid``, ``invalid``, ``runtime_error``), the violations (``"<field path> <rule id>"``, sorted), the binary
re-encoding (base64) and the canonical JSON (null when the message has none). Thin on purpose: it decodes with
CQC's ``cqc.wire`` helpers and validates with ``cqc.validation``, as a Python service would.

The conformance runner (tools/conformance.py) uses the same executor: ``{"json_value": "<text>"}`` decodes a
JSON value (the runtime's value decoder, not its text parser), and ``"check": true`` adds ``checks``: the
binary and canonical JSON round trips, ``"golden": "<json text>"`` decoded and compared with the message, and
``"compare": [{"binary": ...} | {"json": "<text>"}]`` (another language's encodings) decoded and compared with
the message as protobuf values (``compared``: null when equal, else the problem).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from cqc.registry import message_class
from cqc.validation import violations
from cqc.wire import decode_binary, decode_json, decode_json_text


def run(request: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"verdict": "parse_error", "violations": [], "binary": None, "json": None}
    try:
        cls = message_class(request["type"])
    except KeyError:
        return {**out, "verdict": "unknown_type"}
    try:
        if "binary" in request:
            message = decode_binary(cls, base64.b64decode(request["binary"]))
        elif "json_value" in request:
            message = decode_json(cls, json.loads(request["json_value"]))
        else:
            message = decode_json_text(cls, request["json"])
    except Exception as error:  # every decode failure is the parse_error verdict
        return {**out, "error": str(error)[:300]}
    try:
        found = sorted(f"{v.field} {v.rule_id}" for v in violations(message))
    except Exception as error:
        return {**out, "verdict": "runtime_error", "error": str(error)[:300]}
    out.update(verdict="invalid" if found else "valid", violations=found)
    try:
        out["binary"] = base64.b64encode(message.SerializeToString()).decode()
    except Exception as error:
        out["binary_error"] = str(error)[:300]
    try:
        out["json"] = json_format.MessageToDict(message)
    except Exception as error:
        out["json"] = None
        out["json_error"] = str(error)[:300]
    if request.get("check"):
        out["checks"] = checks(cls, message, out["json"], request)
    return out


def without_unknown(message: Message) -> Message:
    copied = type(message)()
    copied.CopyFrom(message)
    copied.DiscardUnknownFields()
    return copied


def checks(cls: Any, message: Message, as_json: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Conformance extras (tools/conformance.py): round trips, the golden JSON and other languages' encodings
    decoded and compared with this message as protobuf values."""
    problems: list[str] = []
    if cls.FromString(message.SerializeToString()) != message:
        problems.append("binary round trip changed the message")
    if as_json is not None and json_format.ParseDict(as_json, cls()) != without_unknown(message):
        problems.append("canonical JSON round trip changed the message")
    if "golden" in request and json_format.ParseDict(json.loads(request["golden"]), cls()) != message:
        problems.append("golden decodes to a different message")
    compared: list[str | None] = []
    for other in request.get("compare", []):
        try:
            if "binary" in other:
                same = cls.FromString(base64.b64decode(other["binary"])) == message
                compared.append(None if same else "their binary decodes to a different message")
            else:
                same = json_format.ParseDict(json.loads(other["json"]), cls()) == without_unknown(message)
                compared.append(None if same else "their canonical JSON decodes to a different message")
        except Exception as error:  # a decode failure is a disagreement, not a crash
            compared.append(f"their {'binary' if 'binary' in other else 'canonical JSON'} does not decode: {error}")
    return {"problems": problems, "compared": compared}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = run(json.loads(line))
        except Exception as error:
            result = {"verdict": "crash", "violations": [], "binary": None, "json": None, "error": str(error)[:300]}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
