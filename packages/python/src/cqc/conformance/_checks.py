"""The checks of ``expect`` on one executor result (everything but pagination and repeat, see _runner.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from cqc.conformance._values import MISSING, at_path, show

Json = Any
DOMAIN = "cqc.crypto-quant"
_RULE_SUFFIX = re.compile(r"\[([^\[\]]+)\]\s*$")


@cache
def error_reason_specs() -> dict[str, tuple[str, tuple[str, ...]]]:
    """{reason without ERROR_REASON_: (gRPC code name, metadata keys)} from errors.proto's error_reason options."""
    from cqc.services.v1 import error_options_pb2, errors_pb2

    specs = {}
    for value in errors_pb2.ErrorReason.DESCRIPTOR.values:
        options = value.GetOptions()
        if not options.HasExtension(error_options_pb2.error_reason):
            continue
        spec = options.Extensions[error_options_pb2.error_reason]
        specs[value.name.removeprefix("ERROR_REASON_")] = (spec.code, tuple(spec.metadata_keys))
    return specs


def _key_allowed(key: str, allowed: tuple[str, ...]) -> bool:
    if key in allowed:
        return True
    return "*_id" in allowed and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*_id", key) is not None


def contract_problems(result: Mapping[str, Json]) -> list[str]:
    """What every error must satisfy whatever the case says: an ErrorInfo has the CQC domain, a known reason,
    that reason's gRPC code and only its metadata keys (errors.proto, `error_reason`)."""
    info = result.get("error_info")
    if not info or result.get("code") == "OK":
        return []
    problems = []
    if info.get("domain") != DOMAIN:
        problems.append(f"ErrorInfo.domain: want {DOMAIN!r}, got {info.get('domain')!r}")
    reason = info.get("reason", "")
    spec = error_reason_specs().get(reason)
    if spec is None:
        return [*problems, f"ErrorInfo.reason {reason!r} is not an ErrorReason of errors.proto"]
    code, keys = spec
    if result.get("code") != code:
        problems.append(f"reason {reason} goes with code {code} (errors.proto), the server sent {result.get('code')}")
    extra = sorted(k for k in (info.get("metadata") or {}) if not _key_allowed(k, keys))
    if extra:
        problems.append(f"ErrorInfo.metadata keys {extra} are not in the spec of {reason} ({list(keys)})")
    return problems


def violation_rules(result: Mapping[str, Json]) -> list[tuple[str, str]]:
    """(field, rule id) of every BadRequest violation: the rule id from `reason`, else the `[...]` suffix."""
    found = []
    for violation in result.get("field_violations") or []:
        rule = violation.get("reason") or ""
        if not rule:
            match = _RULE_SUFFIX.search(violation.get("description") or "")
            rule = match.group(1) if match else ""
        found.append((violation.get("field", ""), rule))
    return found


def _fields(response: Json, expected: Mapping[str, Json], label: str) -> list[str]:
    problems = []
    for path, want in expected.items():
        got = at_path(response, path)
        if got is MISSING or got != want:
            problems.append(f"{label} {path}: want {show(want)}, got {show(got)}")
    return problems


def _metadata(got: Mapping[str, list[str]], expected: Mapping[str, str], server: str | None, label: str) -> list[str]:
    problems = []
    for key, want in expected.items():
        values = list(got.get(key, []))
        if want == "$server":
            if server is None:
                if not values:
                    problems.append(f"{label} {key}: want it present, got (absent)")
                continue
            want = server
        if want not in values:
            problems.append(f"{label} {key}: want {want!r}, got {values or '(absent)'}")
    return problems


def check(result: Mapping[str, Json], expect: Mapping[str, Json], server: str | None = None) -> list[str]:
    """Every problem of ``result`` against ``expect`` ([] when it holds)."""
    problems: list[str] = []
    want_code = expect.get("code", "OK")
    got_code = result.get("code")
    if got_code == "EXECUTOR_ERROR":
        return [f"executor error: {result.get('message')}"]
    if got_code != want_code:
        reason = (result.get("error_info") or {}).get("reason")
        problems.append(f"code: want {want_code}, got {got_code}" + (f" {reason}" if reason else "")
                        + (f" ({result.get('message')})" if result.get("message") else ""))  # fmt: skip
    problems += contract_problems(result)
    info: Json = result.get("error_info") or {}
    wants_info = any(k in expect for k in ("error_reason", "error_metadata", "error_metadata_keys"))
    if wants_info and not info:
        problems.append("no google.rpc.ErrorInfo in the status details")
    elif wants_info:
        if "error_reason" in expect and info.get("reason") != expect["error_reason"]:
            problems.append(f"ErrorInfo.reason: want {expect['error_reason']}, got {info.get('reason')!r}")
        metadata = info.get("metadata") or {}
        for key, want in (expect.get("error_metadata") or {}).items():
            if metadata.get(key) != want:
                problems.append(f"ErrorInfo.metadata[{key}]: want {want!r}, got {metadata.get(key, '(absent)')!r}")
        for key in expect.get("error_metadata_keys") or []:
            if key not in metadata:
                problems.append(f"ErrorInfo.metadata[{key}]: want it present, got {sorted(metadata)}")
    if "bad_request_rules" in expect:
        found = violation_rules(result)
        for field_path, rule in expect["bad_request_rules"]:
            if (field_path, rule) not in found:
                problems.append(f"BadRequest: no violation ({field_path!r}, {rule!r}); got {sorted(found)}")
    responses = result.get("responses") or []
    first = responses[0] if responses else MISSING
    if any(k in expect for k in ("response_fields", "response_counts", "present_fields", "absent_fields")):
        if first is MISSING:
            problems.append("no response message to check")
        else:
            problems += _fields(first, expect.get("response_fields") or {}, "response")
            for path, count in (expect.get("response_counts") or {}).items():
                items = at_path(first, path)
                got = 0 if items is MISSING else len(items) if isinstance(items, list) else MISSING
                if got != count:
                    problems.append(f"count of {path}: want {count}, got {show(got)}")
            for path in expect.get("present_fields") or []:
                if at_path(first, path) is MISSING:
                    problems.append(f"response {path}: want it set, got (absent)")
            for path in expect.get("absent_fields") or []:
                if at_path(first, path) is not MISSING:
                    problems.append(f"response {path}: want it absent, got {show(at_path(first, path))}")
    stream = expect.get("stream")
    if stream is not None:
        n = len(responses)
        if n < stream.get("min_messages", 0):
            problems.append(f"stream: want at least {stream['min_messages']} messages, got {n}")
        if "max_messages" in stream and n > stream["max_messages"]:
            problems.append(f"stream: want at most {stream['max_messages']} messages, got {n}")
        for key, index in (("first_fields", 0), ("last_fields", -1)):
            if key in stream:
                if not responses:
                    problems.append(f"stream: no message for {key}")
                else:
                    problems += _fields(responses[index], stream[key], f"{'first' if index == 0 else 'last'} message")
        for i, response in enumerate(responses):
            problems += _fields(response, stream.get("every_fields") or {}, f"message {i}")
    problems += _metadata(result.get("headers") or {}, expect.get("response_headers") or {}, server, "header")
    problems += _metadata(result.get("trailers") or {}, expect.get("response_trailers") or {}, server, "trailer")
    return problems
