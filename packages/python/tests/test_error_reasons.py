"""Every ErrorReason value carries (cqc.services.v1.error_reason), and its comment says the same thing.

The spec (gRPC code + metadata keys) is what the service kits and the service conformance suite read;
the comment is what a developer reads. This test keeps the two from drifting.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from cqc.services.v1 import error_options_pb2, errors_pb2

PROTO = Path(__file__).resolve().parents[3] / "proto" / "cqc" / "services" / "v1" / "errors.proto"
CODE_NAMES = {code.name for code in grpc.StatusCode}


def _comments() -> dict[str, str]:
    """The leading comment of every enum value, by value name, read from the .proto source."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in PROTO.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(ERROR_REASON_[A-Z_]+) = \d+", stripped)
        if match:
            comments[match.group(1)] = " ".join(pending)
        if stripped and not stripped.startswith("//"):
            pending = [] if match or not stripped.startswith(("code:", "metadata_keys:", "}")) else pending
    return comments


COMMENTS = _comments()
VALUES = [v for v in errors_pb2.ErrorReason.DESCRIPTOR.values if v.number != 0]


def _spec(value: object) -> error_options_pb2.ErrorReasonSpec:
    options = value.GetOptions()  # type: ignore[attr-defined]
    spec: error_options_pb2.ErrorReasonSpec = options.Extensions[error_options_pb2.error_reason]
    return spec


def test_every_value_has_a_comment() -> None:
    assert {v.name for v in VALUES} <= set(COMMENTS), "values without a comment"


@pytest.mark.parametrize("value", VALUES, ids=lambda v: v.name)
def test_spec_is_complete_and_matches_comment(value: object) -> None:
    name: str = value.name  # type: ignore[attr-defined]
    options = value.GetOptions()  # type: ignore[attr-defined]
    assert options.HasExtension(error_options_pb2.error_reason), f"{name} has no (cqc.services.v1.error_reason)"
    spec = _spec(value)
    assert spec.code in CODE_NAMES - {"OK"}, f"{name}: code {spec.code!r} is not a gRPC status code name"
    comment = COMMENTS[name]
    assert spec.code in comment, f"{name}: comment does not name the code {spec.code}"
    assert len(set(spec.metadata_keys)) == len(spec.metadata_keys), f"{name}: repeated metadata key"
    for key in spec.metadata_keys:
        if key == "*_id":
            assert re.search(r"\bid\b|_id\b", comment), f"{name}: '*_id' but the comment names no id"
            continue
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key), f"{name}: metadata key {key!r} is not snake_case"
        assert key in comment, f"{name}: metadata key {key!r} is not named in the comment"
    if not spec.metadata_keys and "Metadata:" in comment:
        assert re.search(r"Metadata: none", comment), f"{name}: comment lists metadata the spec does not"
