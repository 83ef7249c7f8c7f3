"""Python's executor for the differential fuzzer (tools/fuzz.py).

Reads one JSON request per line on stdin, ``{"type": "<full name>", "binary": "<base64>"}`` or
``{"type": ..., "json": "<text>"}``, and writes one JSON line per request: the verdict (``parse_error``,
``valid``, ``invalid``, ``runtime_error``), the violations (``"<field path> <rule id>"``, sorted), the binary
re-encoding (base64) and the canonical JSON (null when the message has none). Thin on purpose: it decodes with
CQC's ``cqc.wire`` helpers and validates with ``cqc.validation``, as a Python service would.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from google.protobuf import json_format

from cqc.registry import message_class
from cqc.validation import violations
from cqc.wire import decode_binary, decode_json_text


def run(request: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"verdict": "parse_error", "violations": [], "binary": None, "json": None}
    try:
        cls = message_class(request["type"])
    except KeyError:
        return {**out, "verdict": "unknown_type"}
    try:
        if "binary" in request:
            message = decode_binary(cls, base64.b64decode(request["binary"]))
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
    except Exception:
        out["json"] = None
    return out


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
