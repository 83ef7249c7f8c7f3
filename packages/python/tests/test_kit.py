"""cqc.kit: error spec enforcement and parsing, page tokens, page-size clamp, ids, idempotency and the
validation interceptor answering over a real gRPC channel."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any, cast

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
import pytest
from google.protobuf import any_pb2, field_mask_pb2

from cqc.kit import errors, idempotency, ids, pagination, resources, server
from cqc.portfolio.v1 import portfolio_pb2 as ppb
from cqc.services.v1 import errors_pb2, portfolio_pb2, portfolio_pb2_grpc
from cqc.validation import ContractViolation

PID = "pfl_01JDMA1NFVND00000000000000"


# --- errors ------------------------------------------------------------------------------------------------


def test_every_reason_has_a_spec_with_a_grpc_code() -> None:
    for value in errors_pb2.ErrorReason.DESCRIPTOR.values:
        if value.number == 0:
            continue
        spec = errors.reason_spec(value.name)
        assert spec.reason == value.name.removeprefix("ERROR_REASON_")
        assert spec.code is not grpc.StatusCode.OK
        assert errors.reason_spec(value.number) == spec


def test_error_takes_the_code_from_the_spec() -> None:
    built = errors.error("NOT_FOUND_MARKET", "no such market", venue_id="ven_x", venue_symbol="BTCUSDT")
    assert built.code is grpc.StatusCode.NOT_FOUND
    assert built.reason == "NOT_FOUND_MARKET"
    assert built.metadata == {"venue_id": "ven_x", "venue_symbol": "BTCUSDT"}
    assert errors.error("ERROR_REASON_REQUEST_ID_REUSED", "m", request_id="r").code is grpc.StatusCode.ALREADY_EXISTS
    assert errors.error("RESUME_TOKEN_EXPIRED", "m").code is grpc.StatusCode.FAILED_PRECONDITION


def test_error_refuses_a_key_outside_the_spec() -> None:
    with pytest.raises(ValueError, match=r"NOT_FOUND_ASSET does not carry metadata key 'chain_id'"):
        errors.error("NOT_FOUND_ASSET", "m", chain_id="chn_x")
    with pytest.raises(ValueError, match="INVALID_PAGE_TOKEN"):
        errors.error("INVALID_PAGE_TOKEN", "m", page_token="x")
    with pytest.raises(ValueError, match=r"not a cqc\.services\.v1\.ErrorReason"):
        errors.error("NO_SUCH_REASON", "m")
    with pytest.raises(ValueError):
        errors.error("UNSPECIFIED", "m")


def test_star_id_admits_any_snake_case_id_key() -> None:
    assert errors.error("NOT_FOUND_RESOURCE", "m", portfolio_id=PID).metadata == {"portfolio_id": PID}
    assert (
        errors.error("ALREADY_EXISTS", "m", limit_id="lim_x", caip2="eip155:1").code is grpc.StatusCode.ALREADY_EXISTS
    )
    for bad in ("Portfolio_id", "id", "portfolio_ids", "portfolio"):
        with pytest.raises(ValueError):
            errors.error("NOT_FOUND_RESOURCE", "m", **{bad: "x"})


def test_validation_error_carries_rule_ids_in_reason_and_description() -> None:
    broken = [ContractViolation("portfolio.name", "string.min_len", "value length must be at least 1 characters")]
    built = errors.validation_error("cqc.services.v1.CreatePortfolioRequest", broken)
    status = built.to_rpc_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, info.domain) == ("VALIDATION_FAILED", "cqc.crypto-quant")
    violation = bad.field_violations[0]
    assert (violation.field, violation.reason) == ("portfolio.name", "string.min_len")
    assert violation.description == "value length must be at least 1 characters [string.min_len]"


def test_parse_status_round_trip_and_description_fallback() -> None:
    built = errors.error("NOT_FOUND_RESOURCE", "no portfolio", portfolio_id=PID)
    parsed = errors.parse_status(built.to_rpc_status())
    assert (parsed.code, parsed.reason, parsed.domain) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        errors.DOMAIN,
    )
    assert parsed.metadata == {"portfolio_id": PID} and parsed.violations == ()
    # A server that only writes the "[rule id]" suffix (CQC before 1.0's FieldViolation.reason).
    old = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="a", description="bad [string.uuid]")]
    )
    packed = any_pb2.Any()
    packed.Pack(old)
    parsed = errors.parse_status(status_pb2.Status(code=3, message="m", details=[packed]))
    assert parsed.violations == (errors.FieldViolation("a", "string.uuid", "bad [string.uuid]"),)
    assert parsed.reason == "" and parsed.rule_ids == ("string.uuid",)


# --- pagination ----------------------------------------------------------------------------------------------


def test_clamp_page_size() -> None:
    assert pagination.clamp_page_size(0) == 100
    assert pagination.clamp_page_size(7) == 7
    assert pagination.clamp_page_size(1000) == 1000
    assert pagination.clamp_page_size(5000) == 1000
    assert pagination.clamp_page_size(0, default=10, maximum=50) == 10
    with pytest.raises(errors.ServiceError) as caught:
        pagination.clamp_page_size(-1)
    assert caught.value.reason == "VALIDATION_FAILED"
    assert [(v.field, v.rule_id) for v in caught.value.violations] == [("page_size", "int32.gte_lte")]


def _refused(tokens: pagination.PageTokens, token: str, request: Any) -> None:
    with pytest.raises(errors.ServiceError) as caught:
        tokens.decode(token, request)
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    assert caught.value.metadata == {}


def test_page_tokens_round_trip_and_refuse_garbage_tampering_and_other_requests() -> None:
    tokens = pagination.PageTokens()
    first = portfolio_pb2.ListAllocationsRequest(page_size=2, portfolio_id=PID)
    token = tokens.encode("alc_01JDMA1NFVND00000000000002", first)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) <= 1024
    # page_size and page_token are not filters: the next page may change them.
    later = portfolio_pb2.ListAllocationsRequest(page_size=5, page_token=token, portfolio_id=PID)
    assert tokens.decode(token, later) == "alc_01JDMA1NFVND00000000000002"
    for garbage in ("x", "!!!", "", "AAAA", "bm90IGEgdG9rZW4"):
        _refused(tokens, garbage, later)
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    _refused(tokens, tampered, later)
    _refused(tokens, token, portfolio_pb2.ListAllocationsRequest(portfolio_id="pfl_01JDMA1NFVND00000000000001"))
    _refused(tokens, token, portfolio_pb2.ListAllocationsRequest())  # the filter removed
    _refused(tokens, token, portfolio_pb2.ListPortfoliosRequest())  # another RPC
    _refused(pagination.PageTokens(), token, later)  # another server's key
    shared = pagination.PageTokens(key=b"k" * 32)
    assert pagination.PageTokens(key=b"k" * 32).decode(shared.encode("p", later), later) == "p"
    assert tokens.decode(tokens.encode("x", rpc="A/B", filters=b"f"), rpc="A/B", filters=b"f") == "x"


def test_page_walks_every_item_once() -> None:
    tokens = pagination.PageTokens()
    items = [f"pfl_{i:026d}" for i in range(7)]
    request = portfolio_pb2.ListPortfoliosRequest(page_size=3)
    seen: list[str] = []
    while True:
        chosen, token = tokens.page(items, request, key=lambda s: s)
        seen += chosen
        if not token:
            break
        request = portfolio_pb2.ListPortfoliosRequest(page_size=3, page_token=token)
    assert seen == items
    assert tokens.page(items, portfolio_pb2.ListPortfoliosRequest(), key=lambda s: s) == (items, "")


# --- ids -----------------------------------------------------------------------------------------------------


def test_new_id_is_prefix_and_ulid() -> None:
    made = [ids.new_id("pfl") for _ in range(50)]
    assert all(re.fullmatch(r"pfl_[0-9A-HJKMNP-TV-Z]{26}", m) for m in made)
    assert len(set(made)) == 50
    assert ids.is_id(made[0], "pfl") and not ids.is_id(made[0], "acc") and not ids.is_id("pfl_x")
    with pytest.raises(ValueError):
        ids.new_id("PFL")
    earlier = ids.new_ulid()
    time.sleep(0.002)
    assert ids.new_ulid() > earlier


def test_new_event_id_is_uuid7() -> None:
    event_id = ids.new_event_id()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event_id)


# --- idempotency ---------------------------------------------------------------------------------------------


def test_same_request_ignores_unknown_fields() -> None:
    plain = portfolio_pb2.GetPortfolioRequest(portfolio_id=PID)
    newer = portfolio_pb2.GetPortfolioRequest.FromString(plain.SerializeToString() + b"\xa8\x1f\x01")  # field 501
    assert plain != newer and idempotency.same_request(plain, newer)
    assert not idempotency.same_request(plain, portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "1"))
    assert not idempotency.same_request(plain, portfolio_pb2.GetAllocationRequest())


def test_idempotency_store_answers_first_result_and_refuses_reuse() -> None:
    store: idempotency.IdempotencyStore[str] = idempotency.IdempotencyStore()
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return f"answer {len(calls)}"

    plain = portfolio_pb2.GetPortfolioRequest(portfolio_id=PID)
    newer = portfolio_pb2.GetPortfolioRequest.FromString(plain.SerializeToString() + b"\xa8\x1f\x01")
    assert store.run("r1", plain, compute) == "answer 1"
    assert store.run("r1", newer, compute) == "answer 1"
    assert len(calls) == 1
    with pytest.raises(errors.ServiceError) as caught:
        store.run("r1", portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "1"), compute)
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    assert caught.value.metadata == {"request_id": "r1"}
    assert store.run(("Create", "r2"), plain, compute) == "answer 2"


def test_idempotency_store_replays_errors_and_retries_crashes() -> None:
    store: idempotency.IdempotencyStore[str] = idempotency.IdempotencyStore(max_entries=2)
    plain = portfolio_pb2.GetPortfolioRequest(portfolio_id=PID)
    failure = errors.error("NOT_FOUND_RESOURCE", "gone", portfolio_id=PID)

    def fail() -> str:
        raise failure

    def crash() -> str:
        raise RuntimeError("bug")

    with pytest.raises(errors.ServiceError):
        store.run("e", plain, fail)
    with pytest.raises(errors.ServiceError) as caught:
        store.run("e", plain, lambda: "never")
    assert caught.value is failure
    with pytest.raises(RuntimeError):
        store.run("c", plain, crash)
    assert store.run("c", plain, lambda: "second try") == "second try"
    store.run("d", plain, lambda: "d")  # evicts "e" (max_entries=2)
    assert store.run("e", plain, lambda: "fresh") == "fresh"


def test_idempotency_store_concurrent_retry_waits_for_the_first() -> None:
    store: idempotency.IdempotencyStore[str] = idempotency.IdempotencyStore()
    plain = portfolio_pb2.GetPortfolioRequest(portfolio_id=PID)
    release = threading.Event()
    results: list[str] = []

    def slow() -> str:
        release.wait(5)
        return "first"

    worker = threading.Thread(target=lambda: results.append(store.run("k", plain, slow)))
    worker.start()
    time.sleep(0.05)
    second = threading.Thread(target=lambda: results.append(store.run("k", plain, lambda: "second")))
    second.start()
    release.set()
    worker.join(5)
    second.join(5)
    assert results == ["first", "first"]


# --- the interceptor over a real channel --------------------------------------------------------------------


class _Portfolio(portfolio_pb2_grpc.PortfolioServicer):
    def GetPortfolio(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.portfolio_id.endswith("1"):
            raise RuntimeError("secret detail")
        if request.portfolio_id.endswith("2"):
            raise NotImplementedError
        if request.portfolio_id.endswith("3"):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "the handler's own status")
        if request.portfolio_id.endswith("4"):
            raise errors.ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", "built an invalid secret thing")
        raise errors.error("NOT_FOUND_RESOURCE", "no portfolio", portfolio_id=request.portfolio_id)

    def StreamPositions(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        yield portfolio_pb2.StreamPositionsResponse(snapshot_complete=True, resume_token="t1")
        raise errors.error("RESUME_TOKEN_EXPIRED", "gone")

    def CreatePortfolio(self, request: Any, context: grpc.ServicerContext) -> Any:
        return portfolio_pb2.CreatePortfolioResponse(portfolio=request.portfolio)


@pytest.fixture(scope="module")
def stub() -> Iterator[portfolio_pb2_grpc.PortfolioStub]:
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[server.ValidationInterceptor(trailers=[("x-test", "kit")])],
    )
    portfolio_pb2_grpc.add_PortfolioServicer_to_server(_Portfolio(), grpc_server)  # type: ignore[abstract]
    server.enable_health(grpc_server, ["cqc.services.v1.Portfolio"])
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield portfolio_pb2_grpc.PortfolioStub(channel)
    grpc_server.stop(None)


def _call_error(fn: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        fn(*args, **kwargs)
    return caught.value


def test_interceptor_validates_before_the_handler(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    failed = _call_error(stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id="nope"), timeout=5)
    parsed = errors.parse(failed)
    assert (parsed.code, parsed.reason, parsed.domain) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_FAILED",
        "cqc.crypto-quant",
    )
    assert [(v.field, v.rule_id) for v in parsed.violations] == [("portfolio_id", "cqc.id")]
    assert "[cqc.id]" in parsed.violations[0].description


def test_interceptor_size_rules_come_first(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    huge = ppb.Portfolio(portfolio_id="x", account_ids=["bad"] * 1001)
    failed = _call_error(stub.CreatePortfolio, portfolio_pb2.CreatePortfolioRequest(portfolio=huge), timeout=5)
    assert errors.parse(failed).rule_ids == ("repeated.max_items",)


def test_interceptor_sends_service_errors_and_echoes_request_id(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    pid = "pfl_01JDMA1NFVND00000000000000"
    failed = _call_error(
        stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id=pid), timeout=5,
        metadata=[("x-cqc-request-id", "req-42")],
    )  # fmt: skip
    parsed = errors.parse(failed)
    assert (parsed.code, parsed.reason, parsed.metadata) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"portfolio_id": pid},
    )
    call = cast(grpc.Call, failed)
    assert ("x-cqc-request-id", "req-42") in [tuple(m) for m in call.initial_metadata()]
    assert ("x-test", "kit") in [tuple(m) for m in call.trailing_metadata()]


def test_interceptor_hides_unexpected_errors(
    stub: portfolio_pb2_grpc.PortfolioStub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cqc.kit"):
        failed = _call_error(stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "1"))
    parsed = errors.parse(failed)
    assert parsed.code is grpc.StatusCode.INTERNAL and parsed.reason == ""
    found = re.search(r"correlation_id=([0-9a-f]{32})", parsed.message)
    assert found and "secret" not in parsed.message
    assert found.group(1) in caplog.text and "secret detail" in caplog.text
    pseudo = errors.parse(
        _call_error(stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "4"))
    )
    assert (pseudo.code, pseudo.reason) == (grpc.StatusCode.INTERNAL, "") and "secret" not in pseudo.message
    unimplemented = _call_error(stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "2"))
    assert unimplemented.code() is grpc.StatusCode.UNIMPLEMENTED
    generated_default = _call_error(stub.ListPortfolios, portfolio_pb2.ListPortfoliosRequest(), timeout=5)
    assert generated_default.code() is grpc.StatusCode.UNIMPLEMENTED


def test_interceptor_wraps_streams(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    invalid = _call_error(lambda: list(stub.StreamPositions(portfolio_pb2.StreamPositionsRequest(), timeout=5)))
    assert errors.parse(invalid).rule_ids == ("repeated.min_items",)
    stream = stub.StreamPositions(portfolio_pb2.StreamPositionsRequest(account_ids=["acc_01JDBNSP0TMA1N000000000000"]))
    assert next(stream).snapshot_complete
    failed = _call_error(next, stream)
    assert errors.parse(failed).reason == "RESUME_TOKEN_EXPIRED"
    assert errors.parse(failed).code is grpc.StatusCode.FAILED_PRECONDITION


# --- resources -----------------------------------------------------------------------------------------------


def _portfolio(**fields: Any) -> ppb.Portfolio:
    base = ppb.Portfolio(
        portfolio_id=PID, name="Main", owner="desk:a", reporting_asset_id="ast_01JDFVSD000000000000000000"
    )
    base.as_of_time.FromSeconds(1_733_000_000)
    base.total_equity = "0"
    base.MergeFrom(ppb.Portfolio(**fields))
    return base


def test_apply_update_mask_writes_only_the_paths_and_clears_unset_ones() -> None:
    stored = _portfolio(account_ids=["acc_01JDBNSP0TMA1N000000000000"], gross_leverage="2")
    patch = ppb.Portfolio(portfolio_id=PID, name="Renamed", owner="desk:b")
    mask = field_mask_pb2.FieldMask(paths=["name", "account_ids", "gross_leverage"])
    updated = resources.apply_update_mask(stored, patch, mask, immutable=["portfolio_id"])
    assert (updated.name, updated.owner, list(updated.account_ids)) == ("Renamed", "desk:a", [])
    assert not updated.HasField("gross_leverage")
    assert stored.name == "Main"  # the stored resource is not changed in place


def test_apply_update_mask_refuses_bad_paths_and_invalid_results() -> None:
    stored = _portfolio()
    for paths, refused in (
        (["nope", "name"], "nope"),
        (["portfolio_id"], "portfolio_id"),
        (["create_time"], "create_time"),
        ([], ""),
    ):
        with pytest.raises(errors.ServiceError) as caught:
            resources.apply_update_mask(
                stored, stored, field_mask_pb2.FieldMask(paths=paths), immutable=["portfolio_id"]
            )
        assert (caught.value.reason, caught.value.metadata) == ("INVALID_UPDATE_MASK", {"paths": refused})
    with pytest.raises(errors.ServiceError) as caught:
        resources.apply_update_mask(
            stored, ppb.Portfolio(), field_mask_pb2.FieldMask(paths=["owner"]), field_name="portfolio"
        )
    assert [(v.field, v.rule_id) for v in caught.value.violations] == [("portfolio.owner", "string.min_len")]


def test_check_create_is_idempotent_by_id() -> None:
    stored = _portfolio()
    resources.stamp(stored, "create_time", "update_time")
    assert resources.check_create(None, _portfolio(), "portfolio_id") is None
    assert resources.check_create(stored, _portfolio(), "portfolio_id") == stored  # output-only fields ignored
    with pytest.raises(errors.ServiceError) as caught:
        resources.check_create(stored, _portfolio(name="Other"), "portfolio_id")
    assert (caught.value.code, caught.value.metadata) == (grpc.StatusCode.ALREADY_EXISTS, {"portfolio_id": PID})


def test_interceptor_keeps_a_status_the_handler_aborted_with(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    failed = _call_error(stub.GetPortfolio, portfolio_pb2.GetPortfolioRequest(portfolio_id=PID[:-1] + "3"), timeout=5)
    parsed = errors.parse(failed)
    assert (parsed.code, parsed.message) == (grpc.StatusCode.PERMISSION_DENIED, "the handler's own status")


# --- the asyncio interceptor ---------------------------------------------------------------------------------


class _AsyncPortfolio(portfolio_pb2_grpc.PortfolioServicer):
    async def GetPortfolio(self, request: Any, context: Any) -> Any:
        if request.portfolio_id.endswith("1"):
            raise RuntimeError("secret")
        if request.portfolio_id.endswith("3"):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "own")
        raise errors.error("NOT_FOUND_RESOURCE", "no portfolio", portfolio_id=request.portfolio_id)

    async def StreamPositions(self, request: Any, context: Any) -> Any:
        yield portfolio_pb2.StreamPositionsResponse(snapshot_complete=True, resume_token="t1")
        raise errors.error("RESUME_TOKEN_EXPIRED", "gone")


def test_async_interceptor() -> None:
    import asyncio

    async def scenario() -> None:
        aio_server = grpc.aio.server(interceptors=[server.AsyncValidationInterceptor(server_name="kit-aio")])
        portfolio_pb2_grpc.add_PortfolioServicer_to_server(_AsyncPortfolio(), aio_server)  # type: ignore[abstract]
        port = aio_server.add_insecure_port("127.0.0.1:0")
        await aio_server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = portfolio_pb2_grpc.PortfolioStub(channel)
                outcomes = []
                for pid in ("nope", PID, PID[:-1] + "1", PID[:-1] + "3"):
                    call = stub.GetPortfolio(
                        portfolio_pb2.GetPortfolioRequest(portfolio_id=pid), metadata=[("x-cqc-request-id", "r1")]
                    )
                    with pytest.raises(grpc.RpcError) as caught:
                        await call
                    outcomes.append(errors.parse(caught.value))
                    if pid == PID:
                        assert ("x-cqc-request-id", "r1") in [tuple(m) for m in await call.initial_metadata()]
                        assert ("x-cqc-server", "kit-aio") in [tuple(m) for m in await call.trailing_metadata()]
                assert [(o.code, o.reason) for o in outcomes] == [
                    (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED"),
                    (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_RESOURCE"),
                    (grpc.StatusCode.INTERNAL, ""),
                    (grpc.StatusCode.PERMISSION_DENIED, ""),
                ]
                assert outcomes[0].rule_ids == ("cqc.id",) and outcomes[1].metadata == {"portfolio_id": PID}
                assert "correlation_id=" in outcomes[2].message and "secret" not in outcomes[2].message
                stream = stub.StreamPositions(
                    portfolio_pb2.StreamPositionsRequest(account_ids=["acc_01JDBNSP0TMA1N000000000000"])
                )
                first: Any = await stream.read()
                assert first.snapshot_complete
                with pytest.raises(grpc.RpcError) as caught:
                    await stream.read()
                assert errors.parse(caught.value).reason == "RESUME_TOKEN_EXPIRED"
        finally:
            await aio_server.stop(None)

    asyncio.run(scenario())
