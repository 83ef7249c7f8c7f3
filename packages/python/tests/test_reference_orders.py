"""The Python reference server's order entry: the two rejection shapes, amend with a new client order id,
batches with per-item errors, order lists, cancel-all filters, the dead-man switch, ListOrders filters and
read masks, and StreamOrders snapshots and resume tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import duration_pb2, field_mask_pb2
from grpc_details import error_details
from protovalidate import Validator

import cqc.testing
from cqc.services.v1 import errors_pb2, venue_gateway_pb2, venue_gateway_pb2_grpc
from cqc.testing._venue_gateway_orders import VENUE_REJECT_TAG
from cqc.venues.v1 import order_pb2, trading_pb2

ACCOUNT = "acc_01JDBNSP0TMA1N000000000000"
MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"
UNKNOWN_MARKET = "mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.fixture
def gateway() -> Iterator[venue_gateway_pb2_grpc.VenueGatewayStub]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        yield venue_gateway_pb2_grpc.VenueGatewayStub(channel)


def new_order(**changes: Any) -> venue_gateway_pb2.NewOrder:
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


def place(gateway: venue_gateway_pb2_grpc.VenueGatewayStub, **changes: Any) -> order_pb2.Order:
    request = venue_gateway_pb2.PlaceOrderRequest(request_id=str(uuid.uuid4()), order=new_order(**changes))
    order: order_pb2.Order = gateway.PlaceOrder(request).order
    return order


def reason_of(error: grpc.RpcError) -> str:
    info, _ = error_details(error.trailing_metadata())
    assert info is not None
    return str(info.reason)


def test_venue_rejection_is_an_order_and_refusal_before_the_venue_is_an_error(
    gateway: venue_gateway_pb2_grpc.VenueGatewayStub,
) -> None:
    rejected = place(gateway, tags=[VENUE_REJECT_TAG], client_order_id="rej-1")
    assert rejected.status == trading_pb2.ORDER_STATUS_REJECTED and rejected.order_id.startswith("ord_")
    assert rejected.venue_reason_code == "-2010" and rejected.HasField("close_time")
    Validator().validate(rejected)
    working = place(gateway, client_order_id="dup-1")
    with pytest.raises(grpc.RpcError) as caught:
        place(gateway, client_order_id="dup-1")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(caught.value) == "DUPLICATE_CLIENT_ORDER_ID"
    listed = gateway.ListOrders(venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT)).orders
    assert sorted(o.order_id for o in listed) == sorted([rejected.order_id, working.order_id])  # no third order


def test_attached_take_profit_and_close_position_are_kept(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    take_profit = order_pb2.AttachedOrder(trigger_price="66000", order_type=trading_pb2.ORDER_TYPE_MARKET)
    order = place(gateway, take_profit=take_profit, min_quantity="0.001", leverage="3")
    assert order.take_profit == take_profit and order.min_quantity == "0.001" and order.leverage == "3"
    closing = place(
        gateway,
        order_type=trading_pb2.ORDER_TYPE_STOP_MARKET,
        side=trading_pb2.SIDE_SELL,
        quantity=None,
        price=None,
        trigger_price="50000",
        close_position=True,
    )
    assert closing.close_position and not closing.HasField("quantity") and not closing.HasField("leaves_quantity")
    Validator().validate(closing)


def test_amend_takes_a_new_client_order_id(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    order = place(gateway, client_order_id="amend-1")
    request = venue_gateway_pb2.AmendOrderRequest(
        request_id=str(uuid.uuid4()),
        order=venue_gateway_pb2.OrderRef(account_id=ACCOUNT, client_order_id="amend-1"),
        price="60100.00",
        quantity="0.002",
        new_client_order_id="amend-1-r1",
    )
    amended = gateway.AmendOrder(request).order
    assert (amended.order_id, amended.client_order_id, amended.orig_client_order_id) == (
        order.order_id,
        "amend-1-r1",
        "amend-1",
    )
    assert (amended.price, amended.quantity, amended.leaves_quantity) == ("60100.00", "0.002", "0.002")
    assert gateway.AmendOrder(request).order == amended  # a retry answers the same
    by_new_id = venue_gateway_pb2.OrderRef(account_id=ACCOUNT, client_order_id="amend-1-r1")
    assert gateway.GetOrder(venue_gateway_pb2.GetOrderRequest(order=by_new_id)).order == amended
    gateway.CancelOrder(venue_gateway_pb2.CancelOrderRequest(request_id=str(uuid.uuid4()), order=by_new_id))
    with pytest.raises(grpc.RpcError) as caught:
        gateway.AmendOrder(
            venue_gateway_pb2.AmendOrderRequest(request_id=str(uuid.uuid4()), order=by_new_id, price="1")
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_of(caught.value) == "ORDER_NOT_OPEN"


def test_batches_report_each_item(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    good = venue_gateway_pb2.PlaceOrderRequest(request_id=str(uuid.uuid4()), order=new_order(client_order_id="b-1"))
    bad = venue_gateway_pb2.PlaceOrderRequest(request_id=str(uuid.uuid4()), order=new_order(market_id=UNKNOWN_MARKET))
    results = gateway.BatchPlaceOrders(venue_gateway_pb2.BatchPlaceOrdersRequest(requests=[good, bad])).results
    assert results[0].WhichOneof("result") == "order" and results[0].order.client_order_id == "b-1"
    assert results[1].WhichOneof("result") == "error"
    assert results[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert results[1].error.reason == errors_pb2.ERROR_REASON_NOT_FOUND_MARKET
    placed = results[0].order
    ref = venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=placed.order_id)
    cancels = [
        venue_gateway_pb2.CancelOrderRequest(request_id=str(uuid.uuid4()), order=ref),
        venue_gateway_pb2.CancelOrderRequest(request_id=str(uuid.uuid4()), order=ref),
    ]
    canceled = gateway.BatchCancelOrders(venue_gateway_pb2.BatchCancelOrdersRequest(requests=cancels)).results
    assert canceled[0].order.status == trading_pb2.ORDER_STATUS_CANCELED
    assert canceled[1].error.reason == errors_pb2.ERROR_REASON_ORDER_NOT_OPEN
    amend = venue_gateway_pb2.AmendOrderRequest(request_id=str(uuid.uuid4()), order=ref, price="1")
    amended = gateway.BatchAmendOrders(venue_gateway_pb2.BatchAmendOrdersRequest(requests=[amend])).results
    assert amended[0].error.reason == errors_pb2.ERROR_REASON_ORDER_NOT_OPEN


def test_otoco_bracket(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    legs = [
        new_order(client_order_id="entry"),
        new_order(client_order_id="tp", side=trading_pb2.SIDE_SELL, price="66000"),
        new_order(
            client_order_id="sl",
            side=trading_pb2.SIDE_SELL,
            order_type=trading_pb2.ORDER_TYPE_STOP_LIMIT,
            price="54900",
            trigger_price="55000",
        ),
    ]
    request = venue_gateway_pb2.PlaceOrderListRequest(
        request_id=str(uuid.uuid4()),
        account_id=ACCOUNT,
        market_id=MARKET,
        contingency_type=trading_pb2.CONTINGENCY_TYPE_OTOCO,
        orders=legs,
    )
    response = gateway.PlaceOrderList(request)
    entry, tp, sl = response.orders
    assert entry.status == trading_pb2.ORDER_STATUS_NEW
    assert tp.status == sl.status == trading_pb2.ORDER_STATUS_PENDING_NEW
    assert tp.parent_order_id == entry.order_id and set(entry.linked_order_ids) == {tp.order_id, sl.order_id}
    assert list(response.order_list.order_ids) == [entry.order_id, tp.order_id, sl.order_id]
    assert response.order_list.list_order_status == trading_pb2.LIST_ORDER_STATUS_EXECUTING
    Validator().validate(response)
    assert gateway.PlaceOrderList(request) == response
    del request.orders[2]
    request.request_id = str(uuid.uuid4())
    with pytest.raises(grpc.RpcError) as caught:  # validated before anything is placed
        gateway.PlaceOrderList(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cancel_all_filters(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    buy_a = place(gateway, strategy_id="a")
    sell_a = place(gateway, strategy_id="a", side=trading_pb2.SIDE_SELL, price="70000")
    buy_b = place(gateway, strategy_id="b")
    request = venue_gateway_pb2.CancelAllOrdersRequest(
        request_id=str(uuid.uuid4()), account_id=ACCOUNT, side=trading_pb2.SIDE_BUY, strategy_id="a"
    )
    assert [o.order_id for o in gateway.CancelAllOrders(request).orders] == [buy_a.order_id]
    assert [o.order_id for o in gateway.CancelAllOrders(request).orders] == [buy_a.order_id]  # idempotent
    left = gateway.ListOrders(venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT, open_only=True)).orders
    assert {o.order_id for o in left} == {sell_a.order_id, buy_b.order_id}


def test_dead_man_switch(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    order = place(gateway)
    arm = venue_gateway_pb2.SetCancelAllAfterRequest(account_id=ACCOUNT, timeout=duration_pb2.Duration(seconds=1))
    armed = gateway.SetCancelAllAfter(arm)
    assert armed.HasField("trigger_time") and armed.account_id == ACCOUNT
    disarmed = gateway.SetCancelAllAfter(
        venue_gateway_pb2.SetCancelAllAfterRequest(account_id=ACCOUNT, timeout=duration_pb2.Duration())
    )
    assert not disarmed.HasField("trigger_time")
    time.sleep(1.3)
    ref = venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=order.order_id)
    assert gateway.GetOrder(venue_gateway_pb2.GetOrderRequest(order=ref)).order.status == trading_pb2.ORDER_STATUS_NEW
    gateway.SetCancelAllAfter(arm)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = gateway.GetOrder(venue_gateway_pb2.GetOrderRequest(order=ref)).order.status
        if status == trading_pb2.ORDER_STATUS_CANCELED:
            break
        time.sleep(0.1)
    assert status == trading_pb2.ORDER_STATUS_CANCELED


def test_list_orders_filters_and_read_mask(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    buy = place(gateway, client_order_id="f-buy")
    sell = place(gateway, client_order_id="f-sell", side=trading_pb2.SIDE_SELL, price="70000")
    gateway.CancelOrder(
        venue_gateway_pb2.CancelOrderRequest(
            request_id=str(uuid.uuid4()), order=venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=sell.order_id)
        )
    )

    def listed(**filters: Any) -> list[str]:
        request = venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT, **filters)
        return [o.order_id for o in gateway.ListOrders(request).orders]

    assert listed(statuses=[trading_pb2.ORDER_STATUS_CANCELED]) == [sell.order_id]
    assert listed(side=trading_pb2.SIDE_BUY) == [buy.order_id]
    assert listed(client_order_id="f-buy") == [buy.order_id]
    mask = field_mask_pb2.FieldMask(paths=["order_id", "status"])
    masked = gateway.ListOrders(venue_gateway_pb2.ListOrdersRequest(account_id=ACCOUNT, read_mask=mask)).orders
    assert [(o.order_id, o.status, o.price) for o in masked] == [
        (sell.order_id, trading_pb2.ORDER_STATUS_CANCELED, ""),
        (buy.order_id, trading_pb2.ORDER_STATUS_NEW, ""),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        gateway.GetOrder(
            venue_gateway_pb2.GetOrderRequest(
                order=venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=buy.order_id),
                read_mask=field_mask_pb2.FieldMask(paths=["no_such_field"]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_stream_orders_snapshot_then_resume(gateway: venue_gateway_pb2_grpc.VenueGatewayStub) -> None:
    gone = place(gateway)
    gateway.CancelOrder(
        venue_gateway_pb2.CancelOrderRequest(
            request_id=str(uuid.uuid4()), order=venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=gone.order_id)
        )
    )
    working = place(gateway)
    stream = gateway.StreamOrders(venue_gateway_pb2.StreamOrdersRequest(account_id=ACCOUNT))
    snapshot = []
    for message in stream:
        assert message.resume_token
        if message.snapshot_complete:
            marker = message
            break
        assert message.is_snapshot
        snapshot.append(message.order)
    # the order canceled while nobody watched is in the snapshot, so a client never misses it
    assert {(o.order_id, o.status) for o in snapshot} == {
        (gone.order_id, trading_pb2.ORDER_STATUS_CANCELED),
        (working.order_id, trading_pb2.ORDER_STATUS_NEW),
    }
    live = place(gateway)
    change = next(stream)
    assert change.order.order_id == live.order_id and not change.is_snapshot
    stream.cancel()
    # away: the live order is canceled; resuming from the marker replays both changes, without a snapshot
    gateway.CancelOrder(
        venue_gateway_pb2.CancelOrderRequest(
            request_id=str(uuid.uuid4()), order=venue_gateway_pb2.OrderRef(account_id=ACCOUNT, order_id=live.order_id)
        )
    )
    resumed = gateway.StreamOrders(
        venue_gateway_pb2.StreamOrdersRequest(account_id=ACCOUNT, resume_token=marker.resume_token)
    )
    first, second = next(resumed), next(resumed)
    resumed.cancel()
    assert [(m.order.order_id, m.order.status, m.is_snapshot) for m in (first, second)] == [
        (live.order_id, trading_pb2.ORDER_STATUS_NEW, False),
        (live.order_id, trading_pb2.ORDER_STATUS_CANCELED, False),
    ]
    assert first.resume_token != second.resume_token
    with pytest.raises(grpc.RpcError) as caught:
        next(
            gateway.StreamOrders(
                venue_gateway_pb2.StreamOrdersRequest(account_id=ACCOUNT, resume_token="bm90LWEtdG9rZW4")
            )
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "RESUME_TOKEN_EXPIRED"
