"""cqc.redaction against the shared cases (testdata/helpers/redaction-cases.json, scrub-cases.json), and every
output form a service uses to print or log a message.

The same case files run in Go (redact_test.go) and TypeScript (test/redaction.test.ts).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import pkgutil
from typing import Any

import pytest
from conftest import TESTDATA
from google.protobuf import any_pb2, json_format, symbol_database, text_format

import cqc
from cqc import redaction
from cqc.types.v1 import source_pb2
from cqc.validation import violations
from cqc.venues.v1 import account_pb2

for _module in pkgutil.walk_packages(cqc.__path__, "cqc."):
    if _module.name.endswith("_pb2"):
        importlib.import_module(_module.name)  # registers every type of the shared cases

REDACTION: dict[str, Any] = json.loads((TESTDATA / "helpers" / "redaction-cases.json").read_text("utf-8"))
SCRUB: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "scrub-cases.json").read_text("utf-8"))["cases"]

SECRETS = ("354937868", "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIg", "vault://trading/binance/main")


def _message(type_name: str, value: dict[str, Any]) -> Any:
    return json_format.ParseDict(value, symbol_database.Default().GetSymbol(type_name)())


def _account() -> account_pb2.VenueAccount:
    return json_format.ParseDict(REDACTION["cases"][0]["input"], account_pb2.VenueAccount())


def test_marker_is_shared() -> None:
    assert redaction.REDACTED == REDACTION["marker"] == "[REDACTED]"


@pytest.mark.parametrize("case", REDACTION["cases"], ids=lambda case: case["name"])
def test_shared_redaction_case(case: dict[str, Any]) -> None:
    original = _message(case["type"], case["input"])
    before = original.SerializeToString(deterministic=True)
    result = redaction.redacted(original)
    assert result == _message(case["type"], case["expected"])
    assert original.SerializeToString(deterministic=True) == before, "the input must not be modified"
    assert json.loads(redaction.to_json(original)) == case["expected"]


def test_raw_protobuf_forms_leak_so_the_safe_api_is_required() -> None:
    # Python protobuf ignores debug_redact in str(), repr() and text_format: this is why services must
    # print through cqc.redaction. If this starts failing, upstream began honouring the option.
    account = _account()
    assert SECRETS[0] in str(account)
    assert SECRETS[0] in text_format.MessageToString(account)


def test_safe_forms_hide_every_redacted_value() -> None:
    account = _account()
    wrapped = redaction.safe(account)
    outputs = [
        str(wrapped),
        repr(wrapped),
        f"{wrapped}",
        "%s" % wrapped,  # noqa: UP031 - the %-operator is one of the forms under test
        f"{wrapped}",
        redaction.to_text(account),
        redaction.to_text(account, as_one_line=False),
        redaction.to_json(account),
        redaction.to_json(account, indent=2),
    ]
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, output
        assert "[REDACTED]" in output
        assert "Binance spot main" in output  # not redacted: the operator label stays readable


def _log_output(attach: str, *args: Any, msg: Any = "account %s") -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"cqc.test.redaction.{attach}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    if attach == "formatter":
        handler.setFormatter(redaction.RedactingFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
        (handler if attach == "handler" else logger).addFilter(redaction.RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.info(msg, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("attach", ["handler", "logger", "formatter"])
def test_logging_redacts_args_and_msg(attach: str) -> None:
    account = _account()
    outputs = [
        _log_output(attach, account),
        _log_output(attach, account, msg="account %r"),
        _log_output(attach, (account, 1), msg="pair %s"),
        _log_output(attach, {"account": account}, msg="%(account)s"),
        _log_output(attach, msg=account),
    ]
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, output
        assert "[REDACTED]" in output


def test_unknown_fields_are_dropped() -> None:
    account = _account()
    # field 999, length-delimited: what a newer schema's redacted field would look like to this one
    account.MergeFromString(b"\xba\x3e\x06secret")
    assert b"secret" in account.SerializeToString()
    assert b"secret" not in redaction.redacted(account).SerializeToString()


def test_any_is_unpacked_and_redacted() -> None:
    packed = any_pb2.Any()
    packed.Pack(_account())
    result = redaction.redacted(packed)
    inner = account_pb2.VenueAccount()
    assert result.Unpack(inner)
    assert inner.external_account_id == "[REDACTED]"
    unknown = any_pb2.Any(type_url="type.googleapis.com/example.Unknown", value=b"\x0a\x06secret")
    assert redaction.redacted(unknown).value == b""


def test_non_string_redacted_fields_are_cleared() -> None:
    # No such field exists in the contract today; the rule is exercised on a descriptor-built message.
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="redaction_test.proto", package="redactiontest", syntax="proto3")
    message = file.message_type.add(name="M")
    for number, (name, kind, label) in enumerate(
        [
            ("n", descriptor_pb2.FieldDescriptorProto.TYPE_INT64, 1),
            ("tags", descriptor_pb2.FieldDescriptorProto.TYPE_STRING, 3),
            ("kept", descriptor_pb2.FieldDescriptorProto.TYPE_STRING, 1),
        ],
        start=1,
    ):
        field = message.field.add(name=name, number=number, type=kind, label=label)
        field.options.debug_redact = name != "kept"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("redactiontest.M"))
    result = redaction.redacted(cls(n=7, tags=["a", "b"], kept="k"))
    assert result == cls(tags=["[REDACTED]", "[REDACTED]"], kept="k")


@pytest.mark.parametrize("case", SCRUB, ids=lambda case: case["name"])
def test_shared_scrub_case(case: dict[str, Any]) -> None:
    op, args = case["op"], case["args"]
    if op == "endpoint":
        result = redaction.scrub_endpoint(*args)
        record = source_pb2.SourceRecord(source="binance", endpoint=result)
    elif op == "json":
        result = redaction.scrub_json(*args)
        record = source_pb2.SourceRecord(source="binance", raw_json=result)
    else:
        result = redaction.endpoint_from_request(*args)
        record = source_pb2.SourceRecord(source="binance", endpoint=result)
    assert result == case["result"]
    record.receive_time.FromSeconds(1733047200)
    assert violations(record) == [], "a scrubbed record must pass the contract's credential rules"


def test_source_record_builder_scrubs_and_validates() -> None:
    record = redaction.source_record(
        "binance",
        "GET /api/v3/order?symbol=BTCUSDT&signature=c8db5682",
        raw_json='{"symbol":"BTCUSDT","apiKey":"vmPUZE6mv9SD"}',
    )
    assert record.endpoint == "GET /api/v3/order?symbol=BTCUSDT"
    assert record.raw_json == '{"symbol":"BTCUSDT","apiKey":"[REDACTED]"}'
    assert record.HasField("receive_time")
    assert violations(record) == []
    raw = source_pb2.SourceRecord(
        source="binance", endpoint="GET /x?signature=ab", raw_json='{"apiKey":"k"}', receive_time=record.receive_time
    )
    assert {v.rule_id for v in violations(raw)} == {"cqc.no_credential_params", "cqc.no_credential_json_values"}
