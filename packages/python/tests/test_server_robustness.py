"""The Python reference server cannot be stalled by one client (issue 12): streams are capped per client and
in total (health and unary calls keep answering), streams have a maximum lifetime, oversized requests are
refused by a length-only pre-check, retries carrying unknown fields stay idempotent, and unexpected exceptions
reach the client as INTERNAL with a correlation id only. Every wait is bounded."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import message_factory
from grpc_details import error_details
from grpc_health.v1 import health_pb2, health_pb2_grpc

import cqc
import cqc.validation
from cqc.services.v1 import (
    asset_registry_pb2,
    asset_registry_pb2_grpc,
    market_data_pb2,
    market_data_pb2_grpc,
    venue_gateway_pb2,
    venue_gateway_pb2_grpc,
)
from cqc.testing import ReferenceServer
from cqc.testing._asset_registry import AssetRegistryServicer
from cqc.testing._limits import MAX_STREAMS_PER_CLIENT
from cqc.validation import _size_rules, size_violations, violations
from cqc.venues.v1 import trading_pb2

MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"  # has seeded trades: StreamTrades stays open (live feed)
ASSET = "ast_01JD1MBABYD0GE000000000000"
ACCOUNT = "acc_01JDBNSP0TMA1N000000000000"


@pytest.fixture
def small_server() -> Iterator[ReferenceServer]:
    """8 threads: 3 streams per client, 6 streams in all (3/4 of the threads)."""
    with ReferenceServer(TESTDATA, max_workers=8, max_streams_per_client=3) as server:
        yield server


def _own_connection(target: str) -> grpc.Channel:
    """A channel with its own connection (so another peer): grpcio shares connections between channels."""
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def _open_trades(channel: grpc.Channel) -> Any:
    """A StreamTrades call without deadline, open once its first message (snapshot_complete) arrived."""
    call = market_data_pb2_grpc.MarketDataStub(channel).StreamTrades(
        market_data_pb2.StreamTradesRequest(market_ids=[MARKET])
    )
    first = next(call)
    assert first.snapshot_complete
    return call


def _refused(channel: grpc.Channel) -> grpc.RpcError:
    call = market_data_pb2_grpc.MarketDataStub(channel).StreamTrades(
        market_data_pb2.StreamTradesRequest(market_ids=[MARKET]), timeout=5
    )
    with pytest.raises(grpc.RpcError) as caught:
        next(call)
    return caught.value


def _answers_within_a_second(target: str) -> None:
    """Health and a GetAsset on a fresh channel (another client) answer within 1 s."""
    with _own_connection(target) as other:
        check: Any = getattr(health_pb2_grpc.HealthStub(other), "Check")  # noqa: B009  # untyped in the stubs
        health = check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        asset = asset_registry_pb2_grpc.AssetRegistryStub(other).GetAsset(
            asset_registry_pb2.GetAssetRequest(asset_id=ASSET), timeout=1
        )
        assert asset.asset.asset_id == ASSET


def _wait_open_streams(server: ReferenceServer, count: int) -> None:
    deadline = time.monotonic() + 5
    while server.limiter.open_streams() != count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.limiter.open_streams() == count


def test_streams_per_client_are_capped_and_health_answers(small_server: ReferenceServer) -> None:
    with grpc.insecure_channel(small_server.target) as channel:
        calls = [_open_trades(channel) for _ in range(3)]
        error = _refused(channel)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info, _ = error_details(error.trailing_metadata())
        assert info is not None and info.reason == "RATE_LIMITED" and info.domain == "cqc.crypto-quant"
        assert info.metadata["limit"] == "streams_per_client" and info.metadata["limit_value"] == "3"
        _answers_within_a_second(small_server.target)
        calls[0].cancel()
        _wait_open_streams(small_server, 2)
        calls.append(_open_trades(channel))  # a closed stream frees its slot
        for call in calls:
            call.cancel()
        _wait_open_streams(small_server, 0)


def test_streams_in_total_stay_below_the_thread_pool(small_server: ReferenceServer) -> None:
    channels = [_own_connection(small_server.target) for _ in range(3)]
    try:
        calls = [_open_trades(channels[i // 3]) for i in range(6)]
        error = _refused(channels[2])
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info, _ = error_details(error.trailing_metadata())
        assert info is not None and info.reason == "RATE_LIMITED" and info.metadata["limit"] == "streams_total"
        _answers_within_a_second(small_server.target)
        for call in calls:
            call.cancel()
        _wait_open_streams(small_server, 0)
    finally:
        for channel in channels:
            channel.close()


def test_default_cap_refuses_the_stream_after_the_limit() -> None:
    with ReferenceServer(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        calls = [_open_trades(channel) for _ in range(MAX_STREAMS_PER_CLIENT)]
        error = _refused(channel)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        _answers_within_a_second(server.target)
        for call in calls:
            call.cancel()


def test_a_stream_ends_at_its_maximum_lifetime() -> None:
    with ReferenceServer(TESTDATA, max_stream_lifetime=0.5) as server, grpc.insecure_channel(server.target) as ch:
        call = market_data_pb2_grpc.MarketDataStub(ch).StreamTrades(
            market_data_pb2.StreamTradesRequest(market_ids=[MARKET]), timeout=10
        )
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            for _ in call:
                pass
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
        info, _ = error_details(caught.value.trailing_metadata())
        assert info is not None and info.reason == "RATE_LIMITED"
        assert info.metadata["limit"] == "stream_lifetime_seconds" and info.metadata["retry_after_ms"] == "0"
        assert time.monotonic() - started < 9
        _wait_open_streams(server, 0)


def _huge_batch(count: int) -> asset_registry_pb2.BatchGetAssetsRequest:
    return asset_registry_pb2.BatchGetAssetsRequest(asset_ids=[f"ast_{i:026d}" for i in range(count)])


def test_size_precheck_stops_before_walking_items(monkeypatch: pytest.MonkeyPatch) -> None:
    request = _huge_batch(90_000)  # 2.8 MB, max_items 100
    assert request.ByteSize() > 2_500_000
    found = size_violations(request, max_visits=0)  # no item may be visited at all
    assert [(v.field, v.rule_id) for v in found] == [("asset_ids", "repeated.max_items")]

    # The full validator (the generated one for CQC messages) must never see an oversized request.
    full_name = request.DESCRIPTOR.full_name
    real = cqc.validation._GENERATED[full_name]

    def refuse(message: Any, path: str, out: list[tuple[str, str, str]]) -> None:
        if message.ByteSize() > 1_000_000:
            raise AssertionError("the full validator ran on an oversized request")
        real(message, path, out)

    monkeypatch.setitem(cqc.validation._GENERATED, full_name, refuse)
    results: list[Any] = []
    with ReferenceServer(TESTDATA) as server:
        channels = [grpc.insecure_channel(server.target) for _ in range(5)]
        try:

            def send(channel: grpc.Channel) -> None:
                try:
                    asset_registry_pb2_grpc.AssetRegistryStub(channel).BatchGetAssets(request, timeout=20)
                except grpc.RpcError as error:
                    results.append(error)

            started = time.monotonic()
            senders = [threading.Thread(target=send, args=(channel,)) for channel in channels[:4]]
            for sender in senders:
                sender.start()
            asset = asset_registry_pb2_grpc.AssetRegistryStub(channels[4]).GetAsset(
                asset_registry_pb2.GetAssetRequest(asset_id=ASSET), timeout=5
            )
            assert asset.asset.asset_id == ASSET
            for sender in senders:
                sender.join(30)
            print(f"4 oversized requests refused in {time.monotonic() - started:.3f} s")
        finally:
            for channel in channels:
                channel.close()
    assert len(results) == 4
    for error in results:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        _, bad = error_details(error.trailing_metadata())
        assert bad is not None
        assert [(v.field, v.description.rsplit("[", 1)[1]) for v in bad.field_violations] == [
            ("asset_ids", "repeated.max_items]")
        ]


def test_receive_size_is_bounded() -> None:
    with ReferenceServer(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            asset_registry_pb2_grpc.AssetRegistryStub(channel).BatchGetAssets(_huge_batch(150_000), timeout=20)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _size_rule_cases() -> Iterator[tuple[str, Any]]:
    """One message per size rule of the contract, breaking only that rule (for a simple field)."""
    names = [m.name for m in pkgutil.walk_packages(cqc.__path__, "cqc.") if m.name.endswith("_pb2")]
    for name in sorted(n for n in names if "._gen" not in n):
        module = importlib.import_module(name)
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            for field, rule_id, limit, _ in _size_rules(descriptor)[0]:
                message = message_factory.GetMessageClass(descriptor)()
                value: Any = getattr(message, field.name) if field.is_repeated else None
                if rule_id == "repeated.max_items":
                    for _ in range(limit + 1):
                        if field.message_type is not None:
                            value.add()
                        elif field.type == field.TYPE_STRING:
                            value.append("x")
                        elif field.type in (field.TYPE_BYTES,):
                            value.append(b"x")
                        elif field.type == field.TYPE_BOOL:
                            value.append(False)
                        else:
                            value.append(0)
                elif rule_id == "map.max_pairs":
                    continue
                else:
                    item: Any = "\u00e9" * (limit + 1) if rule_id.startswith("string") else b"x" * (limit + 1)
                    if field.is_repeated:
                        value.append(item)
                    else:
                        setattr(message, field.name, item)
                yield f"{descriptor.full_name}.{field.name}:{rule_id}", message


def test_size_precheck_agrees_with_protovalidate() -> None:
    checked = 0
    for case, message in _size_rule_cases():
        quick = set(size_violations(message))
        assert quick, case
        if message.ByteSize() > 2_000 or not case.startswith("cqc.services."):
            continue  # protovalidate compiles every type (slow): the requests servers receive are compared
        try:
            full = set(violations(message))
        except Exception:  # a CEL rule over budget on a deliberately huge message
            continue
        assert quick <= full, (case, quick - full)
        checked += 1
    assert checked > 30


def _new_order() -> venue_gateway_pb2.NewOrder:
    return venue_gateway_pb2.NewOrder(
        account_id=ACCOUNT,
        market_id=MARKET,
        side=trading_pb2.SIDE_BUY,
        order_type=trading_pb2.ORDER_TYPE_LIMIT,
        time_in_force=trading_pb2.TIME_IN_FORCE_GTC,
        quantity="0.001",
        price="60000.00",
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _unknown_field(number: int, value: int) -> bytes:
    """A varint field with a number no CQC message uses (what a newer-schema client may send)."""
    return _varint(number << 3) + _varint(value)


def test_retry_with_unknown_fields_is_the_same_request() -> None:
    with ReferenceServer(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        raw = channel.unary_unary(
            "/cqc.services.v1.VenueGateway/PlaceOrder",
            request_serializer=lambda body: body,
            response_deserializer=venue_gateway_pb2.PlaceOrderResponse.FromString,
        )
        request_id = str(uuid.uuid4())
        first = venue_gateway_pb2_grpc.VenueGatewayStub(channel).PlaceOrder(
            venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=_new_order()), timeout=5
        )
        order = _new_order().SerializeToString() + _unknown_field(9001, 7)
        nested = venue_gateway_pb2.PlaceOrderRequest(request_id=request_id).SerializeToString()
        nested += _varint(0x12) + _varint(len(order)) + order  # the order (field 2) with an unknown field inside
        parsed = venue_gateway_pb2.PlaceOrderRequest.FromString(nested)
        assert parsed.order == _new_order() or parsed.order.SerializeToString() != _new_order().SerializeToString()
        for body in (
            venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=_new_order()).SerializeToString()
            + _unknown_field(9000, 1),
            nested,
        ):
            again = raw(body, timeout=5)
            assert again.order.order_id == first.order.order_id
        with pytest.raises(grpc.RpcError) as caught:
            changed = _new_order()
            changed.quantity = "0.5"
            raw(
                venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=changed).SerializeToString()
                + _unknown_field(9000, 1),
                timeout=5,
            )
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_unexpected_exception_is_internal_without_its_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Any, request: Any, context: Any) -> Any:
        raise RuntimeError("secret-detail /etc/keys/api.pem")

    monkeypatch.setattr(AssetRegistryServicer, "GetAsset", broken)
    with caplog.at_level(logging.ERROR, logger="cqc.testing"):
        with ReferenceServer(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                asset_registry_pb2_grpc.AssetRegistryStub(channel).GetAsset(
                    asset_registry_pb2.GetAssetRequest(asset_id=ASSET), timeout=5
                )
    error = caught.value
    assert error.code() == grpc.StatusCode.INTERNAL
    details = error.details() or ""
    assert "secret-detail" not in details and "RuntimeError" not in details
    assert "correlation_id=" in details
    correlation_id = details.split("correlation_id=")[1].rstrip(")")
    assert len(correlation_id) == 32
    logged = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "secret-detail" in str(logged[0].exc_info[1])
