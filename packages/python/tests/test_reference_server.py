"""The Python reference server (cqc.testing): focused checks of paging, idempotency, error details, update masks,
health, reflection and the CLI (the service conformance suite runs against it: test_service_conformance.py)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from conftest import TESTDATA
from grpc_details import error_details, metadata_pairs
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from protovalidate import Validator

import cqc.testing
from cqc.assets.v1 import asset_pb2
from cqc.services.v1 import (
    asset_registry_pb2,
    asset_registry_pb2_grpc,
    venue_gateway_pb2,
    venue_gateway_pb2_grpc,
)
from cqc.venues.v1 import trading_pb2

ACCOUNT = "acc_01JDBNSP0TMA1N000000000000"
MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    """A fresh server (fresh state) per focused test."""
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        yield channel


# --- Paging -----------------------------------------------------------------------------------------------


def _all_asset_ids(registry: asset_registry_pb2_grpc.AssetRegistryStub, page_size: int) -> tuple[list[str], int]:
    ids: list[str] = []
    token, pages = "", 0
    while True:
        response = registry.ListAssets(asset_registry_pb2.ListAssetsRequest(page_size=page_size, page_token=token))
        assert len(response.assets) <= (page_size or 100)
        ids += [a.asset_id for a in response.assets]
        pages += 1
        token = response.next_page_token
        if not token:
            return ids, pages


def test_pagination_boundaries(channel: grpc.Channel) -> None:
    registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    everything, pages = _all_asset_ids(registry, 0)
    total = len(everything)
    assert pages == 1 and everything == sorted(set(everything)) and total == 7  # bitcoin has two examples
    for size, want_pages in ((1, total), (total - 1, 2), (total, 1), (total + 1, 1), (1000, 1)):
        ids, pages = _all_asset_ids(registry, size)
        assert (ids, pages) == (everything, want_pages), size


def test_page_token_survives_inserts_and_rejects_garbage(channel: grpc.Channel) -> None:
    registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    first = registry.ListAssets(asset_registry_pb2.ListAssetsRequest(page_size=2))
    usdc = registry.GetAsset(asset_registry_pb2.GetAssetRequest(asset_id="ast_01JDVSDC000000000000000000")).asset
    usdc.asset_id, usdc.symbol = "ast_01JD0000000000000000000000", "FIRST"
    registry.CreateAsset(asset_registry_pb2.CreateAssetRequest(asset=usdc))  # sorts before every seeded id
    second = registry.ListAssets(asset_registry_pb2.ListAssetsRequest(page_size=2, page_token=first.next_page_token))
    assert second.assets[0].asset_id > first.assets[-1].asset_id
    for token in ("!!not-a-token!!", base64.b64encode(b"hello").decode(), "%%%"):
        with pytest.raises(grpc.RpcError) as caught:
            registry.ListAssets(asset_registry_pb2.ListAssetsRequest(page_token=token))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        info, _ = error_details(caught.value.trailing_metadata())
        assert info is not None and info.reason == "INVALID_PAGE_TOKEN"


# --- Orders -----------------------------------------------------------------------------------------------


def _new_order(**changes: Any) -> venue_gateway_pb2.NewOrder:
    fields: dict[str, Any] = {
        "account_id": ACCOUNT,
        "market_id": MARKET,
        "side": trading_pb2.SIDE_BUY,
        "order_type": trading_pb2.ORDER_TYPE_LIMIT,
        "time_in_force": trading_pb2.TIME_IN_FORCE_GTC,
        "quantity": "0.001",
        "price": "60000.00",
    }
    fields.update(changes)
    return venue_gateway_pb2.NewOrder(**fields)


def test_place_order_is_idempotent_and_valid(channel: grpc.Channel) -> None:
    gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
    request_id = str(uuid.uuid4())
    first = gateway.PlaceOrder(venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=_new_order())).order
    again = gateway.PlaceOrder(venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=_new_order())).order
    assert first == again
    assert first.order_id.startswith("ord_") and first.client_order_id == first.order_id[4:]
    assert first.status == trading_pb2.ORDER_STATUS_NEW and first.leaves_quantity == "0.001"
    assert first.filled_quantity == "0" and first.request_id == request_id
    assert first.venue_id == "ven_01JDB1NANCE000000000000000"
    Validator().validate(first)
    other = gateway.PlaceOrder(
        venue_gateway_pb2.PlaceOrderRequest(request_id=str(uuid.uuid4()), order=_new_order())
    ).order
    assert other.order_id != first.order_id
    with pytest.raises(grpc.RpcError) as caught:
        gateway.PlaceOrder(venue_gateway_pb2.PlaceOrderRequest(request_id=request_id, order=_new_order(quantity="0.5")))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info, _ = error_details(caught.value.trailing_metadata())
    assert info is not None and info.reason == "REQUEST_ID_REUSED" and info.metadata["request_id"] == request_id
    listed = gateway.ListOrders(venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT, page_size=1))
    assert [o.order_id for o in listed.orders] == [other.order_id] and listed.next_page_token
    rest = gateway.ListOrders(
        venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT, page_size=1, page_token=listed.next_page_token)
    )
    assert [o.order_id for o in rest.orders] == [first.order_id] and not rest.next_page_token


def test_get_and_cancel_order(channel: grpc.Channel) -> None:
    gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
    placed = gateway.PlaceOrder(
        venue_gateway_pb2.PlaceOrderRequest(request_id=str(uuid.uuid4()), order=_new_order(client_order_id="mine-1"))
    ).order
    by_client_id = venue_gateway_pb2.OrderRef(account_id=ACCOUNT, client_order_id="mine-1")
    assert gateway.GetOrder(venue_gateway_pb2.GetOrderRequest(order=by_client_id)).order == placed
    cancel = venue_gateway_pb2.CancelOrderRequest(request_id=str(uuid.uuid4()), order=by_client_id)
    canceled = gateway.CancelOrder(cancel).order
    assert canceled.status == trading_pb2.ORDER_STATUS_CANCELED and canceled.order_id == placed.order_id
    Validator().validate(canceled)
    assert gateway.CancelOrder(cancel).order == canceled  # a retry of the same cancellation
    with pytest.raises(grpc.RpcError) as caught:
        gateway.CancelOrder(venue_gateway_pb2.CancelOrderRequest(request_id=str(uuid.uuid4()), order=by_client_id))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = error_details(caught.value.trailing_metadata())
    assert info is not None and info.reason == "ORDER_NOT_OPEN"


# --- Errors, update masks, metadata -----------------------------------------------------------------------


def test_validation_error_details(channel: grpc.Channel) -> None:
    gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
    bad = venue_gateway_pb2.PlaceOrderRequest(request_id="not-a-uuid", order=_new_order(price=None, account_id="x"))
    with pytest.raises(grpc.RpcError) as caught:
        gateway.PlaceOrder(bad, metadata=(("x-cqc-request-id", "req-1"),))
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, bad_request = error_details(error.trailing_metadata())
    assert info is not None and bad_request is not None
    assert (info.reason, info.domain) == ("VALIDATION_FAILED", "cqc.crypto-quant")
    found = {(v.field, v.description.rsplit("[", 1)[1].rstrip("]")) for v in bad_request.field_violations}
    assert found == {
        ("request_id", "string.uuid"),
        ("order.account_id", "cqc.id"),
        ("order", "new_order.price_required_for_limit_types"),
    }
    assert all(" [" in v.description for v in bad_request.field_violations)
    assert ("x-cqc-request-id", "req-1") in metadata_pairs(cast(grpc.Call, error).initial_metadata())
    assert ("x-cqc-server", "python") in metadata_pairs(error.trailing_metadata())


def test_update_mask(channel: grpc.Channel) -> None:
    registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    usdc = registry.GetAsset(asset_registry_pb2.GetAssetRequest(asset_id="ast_01JDVSDC000000000000000000")).asset
    changed = asset_pb2.Asset()
    changed.CopyFrom(usdc)
    changed.name, changed.description = "USD Coin (renamed)", "not applied: not in the mask"
    request = asset_registry_pb2.UpdateAssetRequest(asset=changed)
    request.update_mask.paths.append("name")
    updated = registry.UpdateAsset(request).asset
    assert updated.name == "USD Coin (renamed)" and updated.description == usdc.description
    request.update_mask.paths.append("no_such_field")
    with pytest.raises(grpc.RpcError) as caught:
        registry.UpdateAsset(request)
    info, _ = error_details(caught.value.trailing_metadata())
    assert info is not None and info.reason == "INVALID_UPDATE_MASK"
    del request.update_mask.paths[1:]
    request.asset.asset_id = "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"
    with pytest.raises(grpc.RpcError) as caught:
        registry.UpdateAsset(request)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_error_carries_the_trailer(channel: grpc.Channel) -> None:
    registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        registry.GetAssetGroup(asset_registry_pb2.GetAssetGroupRequest(group_id="grp_01JDZZZZZZZZZZZZZZZZZZZZZZ"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-cqc-server", "python") in metadata_pairs(caught.value.trailing_metadata())


# --- Health, reflection, CLI ------------------------------------------------------------------------------


def health_check(channel: grpc.Channel, service: str = "") -> health_pb2.HealthCheckResponse:
    """grpc.health.v1.Health/Check through the generated stub (its typeshed stub does not declare Check)."""
    check: Any = getattr(health_pb2_grpc.HealthStub(channel), "Check")  # noqa: B009
    response: health_pb2.HealthCheckResponse = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return response


def test_health(channel: grpc.Channel) -> None:
    for name in ("", *cqc.testing.SERVICE_NAMES):
        assert health_check(channel, name).status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.RpcError) as caught:
        health_check(channel, "cqc.services.v1.Nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _reflect(channel: grpc.Channel, service: str, request: reflection_pb2.ServerReflectionRequest) -> Any:
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=5)))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_the_services(channel: grpc.Channel, version: str) -> None:
    service = f"grpc.reflection.{version}.ServerReflection"
    listed = _reflect(channel, service, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in listed.list_services_response.service}
    assert {*cqc.testing.SERVICE_NAMES, "grpc.health.v1.Health", service} <= names
    described = _reflect(
        channel, service, reflection_pb2.ServerReflectionRequest(file_containing_symbol="cqc.services.v1.VenueGateway")
    )
    assert described.file_descriptor_response.file_descriptor_proto


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cqc.testing",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--testdata",
            str(TESTDATA),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert health_check(channel).status == health_pb2.HealthCheckResponse.SERVING
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert f"listening on 127.0.0.1:{port}" in out
