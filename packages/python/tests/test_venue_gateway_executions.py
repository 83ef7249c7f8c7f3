"""The Python reference VenueGateway: execution reports (recorded for every order change, listed with filters,
paging and read masks, streamed with since_time replay, snapshot_complete and resume tokens), one store of
request ids across order and account RPCs, and the markets' order checks (PRICE_SIGN_NOT_ALLOWED,
MARKET_NOT_TRADABLE)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import field_mask_pb2, timestamp_pb2
from grpc_details import error_details

import cqc.testing
from cqc.services.v1 import asset_registry_pb2 as rpb
from cqc.services.v1 import asset_registry_pb2_grpc, venue_gateway_pb2_grpc
from cqc.services.v1 import venue_gateway_account_pb2 as apb
from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.testing._venue_gateway_executions import VENUE_FILL_TAG
from cqc.testing._venue_gateway_orders import VENUE_REJECT_TAG
from cqc.validation import violations
from cqc.venues.v1 import account_pb2, trading_pb2

SPOT = "acc_01JDBNSP0TMA1N000000000000"
USDM = "acc_01JDBNVSDMMA1N000000000000"
SPOT_MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"
PERP = "mkt_01JDBNBTCVSDTPERP000000000"
INDEX_MARKET = "mkt_01JDDRBBTCVSD1NDEX00000000"
USDT = "ast_01JDVSDT000000000000000000"


@pytest.fixture
def served() -> Iterator[venue_gateway_pb2_grpc.VenueGatewayStub]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        stub = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
        account = account_pb2.VenueAccount(
            account_id=USDM,
            venue_id="ven_01JDB1NANCEFVTVRES00000000",
            name="Binance USD-M main",
            external_account_id="354937868",
            account_type=account_pb2.ACCOUNT_TYPE_FUTURES,
            status=account_pb2.ACCOUNT_STATUS_ACTIVE,
            margin_mode=trading_pb2.MARGIN_MODE_CROSS,
            base_asset_id=USDT,
        )
        account.limits.max_leverage = "50"
        stub.CreateVenueAccount(pb.CreateVenueAccountRequest(venue_account=account))
        yield stub


def _rid() -> str:
    return str(uuid.uuid4())


def _fails(call: Any, request: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    info, _ = error_details(caught.value.trailing_metadata())
    assert info is not None
    return caught.value.code(), info.reason, dict(info.metadata)


def _limit(price: str = "60000", tags: tuple[str, ...] = (), market: str = SPOT_MARKET, **extra: Any) -> pb.NewOrder:
    return pb.NewOrder(
        account_id=SPOT,
        market_id=market,
        side=trading_pb2.SIDE_BUY,
        order_type=trading_pb2.ORDER_TYPE_LIMIT,
        time_in_force=trading_pb2.TIME_IN_FORCE_GTC,
        quantity="0.01",
        price=price,
        tags=list(tags),
        **extra,
    )


def _place(stub: venue_gateway_pb2_grpc.VenueGatewayStub, order: pb.NewOrder) -> Any:
    return stub.PlaceOrder(pb.PlaceOrderRequest(request_id=_rid(), order=order)).order


def test_every_order_change_is_an_execution_report(served: Any) -> None:
    stub = served
    working = _place(stub, _limit())
    filled = _place(stub, _limit(price="61000", tags=(VENUE_FILL_TAG,)))
    assert filled.status == trading_pb2.ORDER_STATUS_FILLED and filled.filled_quantity == "0.01"
    rejected = _place(stub, _limit(tags=(VENUE_REJECT_TAG,)))
    stub.AmendOrder(
        pb.AmendOrderRequest(
            request_id=_rid(), order=pb.OrderRef(account_id=SPOT, order_id=working.order_id), price="59000"
        )
    )
    stub.CancelOrder(
        pb.CancelOrderRequest(request_id=_rid(), order=pb.OrderRef(account_id=SPOT, order_id=working.order_id))
    )

    reports = list(stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT)).execution_reports)
    assert all(not violations(r) for r in reports)
    by_order: dict[str, list[int]] = {}
    for report in reversed(reports):  # oldest first
        by_order.setdefault(report.order_id, []).append(report.exec_type)
    assert by_order[working.order_id] == [
        trading_pb2.EXEC_TYPE_NEW,
        trading_pb2.EXEC_TYPE_REPLACED,
        trading_pb2.EXEC_TYPE_CANCELED,
    ]
    assert by_order[filled.order_id] == [trading_pb2.EXEC_TYPE_NEW, trading_pb2.EXEC_TYPE_TRADE]
    assert by_order[rejected.order_id] == [trading_pb2.EXEC_TYPE_REJECTED]
    times = [r.transact_time.ToNanoseconds() for r in reports]
    assert times == sorted(times, reverse=True)  # newest first

    trades = stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT, trades_only=True))
    [trade] = trades.execution_reports
    assert (trade.order_id, trade.last_quantity, trade.last_price, trade.cum_quantity) == (
        filled.order_id,
        "0.01",
        "61000",
        "0.01",
    )
    assert trade.order_status == trading_pb2.ORDER_STATUS_FILLED and trade.venue_trade_id
    one_order = stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT, order_id=working.order_id))
    assert len(one_order.execution_reports) == 3
    assert not stub.ListExecutionReports(
        pb.ListExecutionReportsRequest(account_id=SPOT, market_ids=[PERP])
    ).execution_reports
    assert len(
        stub.ListExecutionReports(
            pb.ListExecutionReportsRequest(account_id=SPOT, market_ids=[SPOT_MARKET])
        ).execution_reports
    ) == len(reports)
    # time range: [since, until) on transact_time
    middle = reports[2].transact_time
    since = stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT, since_time=middle))
    assert all(r.transact_time.ToNanoseconds() >= middle.ToNanoseconds() for r in since.execution_reports)
    until = stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT, until_time=middle))
    assert all(r.transact_time.ToNanoseconds() < middle.ToNanoseconds() for r in until.execution_reports)
    assert len(since.execution_reports) + len(until.execution_reports) == len(reports)
    late = timestamp_pb2.Timestamp(seconds=middle.seconds + 3600)
    assert not stub.ListExecutionReports(
        pb.ListExecutionReportsRequest(account_id=SPOT, since_time=late)
    ).execution_reports

    # paging: page_size 2 walks every report once, in the same order
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = stub.ListExecutionReports(pb.ListExecutionReportsRequest(account_id=SPOT, page_size=2, page_token=token))
        assert len(page.execution_reports) <= 2
        seen.extend(r.execution_id for r in page.execution_reports)
        token = page.next_page_token
        if not token:
            break
    assert seen == [r.execution_id for r in reports]

    masked = stub.ListExecutionReports(
        pb.ListExecutionReportsRequest(
            account_id=SPOT, read_mask=field_mask_pb2.FieldMask(paths=["execution_id", "exec_type"])
        )
    ).execution_reports
    assert masked[0].execution_id == reports[0].execution_id and not masked[0].HasField("source_record")
    code, reason, _ = _fails(
        stub.ListExecutionReports,
        pb.ListExecutionReportsRequest(account_id=SPOT, read_mask=field_mask_pb2.FieldMask(paths=["no_such_field"])),
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_READ_MASK")
    code, reason, _ = _fails(stub.ListExecutionReports, pb.ListExecutionReportsRequest(account_id=SPOT, page_token="x"))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")
    code, reason, _ = _fails(
        stub.ListExecutionReports, pb.ListExecutionReportsRequest(account_id="acc_01JDZZZZZZZZZZZZZZZZZZZZZZ")
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_ACCOUNT")


def _collect(stream: Any, count: int, out: list[Any], done: threading.Event) -> None:
    try:
        for message in stream:
            out.append(message)
            if len(out) >= count:
                break
    except grpc.RpcError:
        pass
    finally:
        done.set()


def test_stream_execution_reports_replays_marks_and_resumes(served: Any) -> None:
    stub = served
    first = _place(stub, _limit())
    since = first.create_time
    # since_time replays the stored reports (is_snapshot), then the marker, then live reports.
    stream = stub.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id=SPOT, since_time=since), timeout=10
    )
    received: list[Any] = []
    done = threading.Event()
    threading.Thread(target=_collect, args=(stream, 3, received, done), daemon=True).start()
    for _ in range(100):  # place the next order only once the replay has ended (bounded wait)
        if len(received) >= 2:
            break
        time.sleep(0.05)
    second = _place(stub, _limit(price="58000"))
    assert done.wait(10)
    stream.cancel()
    assert [(m.is_snapshot, m.snapshot_complete) for m in received] == [(True, False), (False, True), (False, False)]
    assert received[0].execution_report.order_id == first.order_id
    assert received[2].execution_report.order_id == second.order_id
    assert all(m.resume_token for m in received) and all(not violations(m) for m in received)

    # Resuming after the marker replays only what came after it (no marker on a resumed stream).
    resumed = stub.StreamExecutionReports(
        pb.StreamExecutionReportsRequest(account_id=SPOT, resume_token=received[1].resume_token), timeout=10
    )
    again: list[Any] = []
    done = threading.Event()
    threading.Thread(target=_collect, args=(resumed, 1, again, done), daemon=True).start()
    assert done.wait(10)
    resumed.cancel()
    assert [(m.execution_report.order_id, m.snapshot_complete) for m in again] == [(second.order_id, False)]

    # Without since_time the marker comes first.
    fresh = stub.StreamExecutionReports(pb.StreamExecutionReportsRequest(account_id=SPOT), timeout=10)
    assert next(iter(fresh)).snapshot_complete
    fresh.cancel()

    for token in ("bm90LWEtdG9rZW4=", received[1].resume_token):
        request = pb.StreamExecutionReportsRequest(account_id=SPOT, resume_token=token)
        if token != "bm90LWEtdG9rZW4=":
            request.market_ids.append(PERP)  # a token of another stream scope is unknown here
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.StreamExecutionReports(request, timeout=5))
        info, _ = error_details(caught.value.trailing_metadata())
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert info is not None and info.reason == "RESUME_TOKEN_EXPIRED"


def test_request_ids_are_one_store_for_order_and_account_rpcs(served: Any) -> None:
    stub = served
    shared = _rid()
    stub.PlaceOrder(pb.PlaceOrderRequest(request_id=shared, order=_limit()))
    code, reason, metadata = _fails(
        stub.SetLeverage, apb.SetLeverageRequest(request_id=shared, account_id=USDM, market_id=PERP, leverage="5")
    )
    assert (code, reason, metadata.get("request_id")) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED", shared)
    other = _rid()
    stub.SetLeverage(apb.SetLeverageRequest(request_id=other, account_id=USDM, market_id=PERP, leverage="5"))
    code, reason, _ = _fails(stub.PlaceOrder, pb.PlaceOrderRequest(request_id=other, order=_limit()))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": "0"}, "order.price"),
        ({"price": "-1"}, "order.price"),
        ({"order_type": trading_pb2.ORDER_TYPE_STOP_LIMIT, "trigger_price": "-0.5"}, "order.trigger_price"),
    ],
)
def test_price_sign_not_allowed(served: Any, changes: dict[str, Any], field: str) -> None:
    stub = served
    order = _limit()
    for name, value in changes.items():
        setattr(order, name, value)
    code, reason, metadata = _fails(stub.PlaceOrder, pb.PlaceOrderRequest(request_id=_rid(), order=order))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PRICE_SIGN_NOT_ALLOWED")
    assert (metadata["market_id"], metadata["field"]) == (SPOT_MARKET, field)
    assert not stub.ListOrders(pb.ListOrdersRequest(account_id=SPOT)).orders  # refused before the venue


def test_amend_to_non_positive_price_and_index_market(served: Any) -> None:
    stub = served
    working = _place(stub, _limit())
    code, reason, metadata = _fails(
        stub.AmendOrder,
        pb.AmendOrderRequest(
            request_id=_rid(), order=pb.OrderRef(account_id=SPOT, order_id=working.order_id), price="0"
        ),
    )
    assert (code, reason, metadata["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "PRICE_SIGN_NOT_ALLOWED", "price")
    code, reason, metadata = _fails(
        stub.PlaceOrder, pb.PlaceOrderRequest(request_id=_rid(), order=_limit(market=INDEX_MARKET))
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MARKET_NOT_TRADABLE")
    assert metadata == {"market_id": INDEX_MARKET, "market_type": "MARKET_TYPE_INDEX"}


def test_venue_and_venue_asset_updates_compare_etags() -> None:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
        venue = registry.GetVenue(rpb.GetVenueRequest(venue_id="ven_01JDB1NANCE000000000000000")).venue
        assert venue.etag.startswith("W1-")
        venue.name = "Binance (renamed)"
        mask = field_mask_pb2.FieldMask(paths=["name"])
        code, reason, metadata = _fails(
            registry.UpdateVenue, rpb.UpdateVenueRequest(venue=venue, update_mask=mask, etag="W1-stale")
        )
        assert (code, reason, metadata["current_etag"]) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH", venue.etag)
        updated = registry.UpdateVenue(rpb.UpdateVenueRequest(venue=venue, update_mask=mask, etag=venue.etag)).venue
        assert updated.name == "Binance (renamed)" and updated.etag != venue.etag

        listed = registry.ListVenueAssets(rpb.ListVenueAssetsRequest(page_size=1)).venue_assets[0]
        assert listed.etag.startswith("W1-")
        mask = field_mask_pb2.FieldMask(paths=["deposit_enabled"])
        listed.deposit_enabled = not listed.deposit_enabled
        code, reason, _ = _fails(
            registry.UpdateVenueAsset,
            rpb.UpdateVenueAssetRequest(venue_asset=listed, update_mask=mask, etag="W1-stale"),
        )
        assert (code, reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
        done = registry.UpdateVenueAsset(
            rpb.UpdateVenueAssetRequest(venue_asset=listed, update_mask=mask, etag=listed.etag)
        ).venue_asset
        assert done.deposit_enabled == listed.deposit_enabled and done.etag != listed.etag
