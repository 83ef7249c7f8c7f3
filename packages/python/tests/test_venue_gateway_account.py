"""The Python reference VenueGateway's account side: reconciliation mass status, margin summary, account
control (leverage, margin and position mode, isolated margin, transfers, borrow/repay, fee rates) and
withdrawals, each with its idempotency and its documented error reasons."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import field_mask_pb2, timestamp_pb2
from grpc_details import error_details

import cqc.testing
from cqc.portfolio.v1 import transaction_pb2
from cqc.services.v1 import venue_gateway_account_pb2 as apb
from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.services.v1 import venue_gateway_pb2_grpc
from cqc.types.v1 import amount_pb2
from cqc.validation import violations
from cqc.venues.v1 import account_pb2, balance_pb2, order_pb2, trading_pb2

SPOT = "acc_01JDBNSP0TMA1N000000000000"
USDM = "acc_01JDBNVSDMMA1N000000000000"
MARGIN = "acc_01JDBNMARG1NCR0SS000000000"
TREASURY = "acc_01JDBNTREASVRY000000000000"
SPOT_MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"
PERP = "mkt_01JDBNBTCVSDTPERP000000000"
USDT = "ast_01JDVSDT000000000000000000"
USDC = "ast_01JDVSDC000000000000000000"
USDC_ETH = "dep_01JDVSDCETH000000000000000"


@pytest.fixture
def served() -> Iterator[tuple[cqc.testing.ReferenceServer, venue_gateway_pb2_grpc.VenueGatewayStub]]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        stub = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
        for account_id, account_type, name, permissions in (
            (USDM, account_pb2.ACCOUNT_TYPE_FUTURES, "Binance USD-M main", []),
            (MARGIN, account_pb2.ACCOUNT_TYPE_MARGIN, "Binance cross margin", []),
            (TREASURY, account_pb2.ACCOUNT_TYPE_SPOT, "Binance treasury", [account_pb2.ACCOUNT_PERMISSION_WITHDRAW]),
        ):
            account = account_pb2.VenueAccount(
                account_id=account_id,
                venue_id="ven_01JDB1NANCE000000000000000" if account_id != USDM else "ven_01JDB1NANCEFVTVRES00000000",
                name=name,
                external_account_id="354937868",
                account_type=account_type,
                status=account_pb2.ACCOUNT_STATUS_ACTIVE,
                margin_mode=trading_pb2.MARGIN_MODE_CROSS,
                base_asset_id=USDT,
                permissions=permissions,
            )
            account.limits.max_leverage = "50"
            stub.CreateVenueAccount(pb.CreateVenueAccountRequest(venue_account=account))
        yield server, stub


def _rid() -> str:
    return str(uuid.uuid4())


def _reason(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    info, _ = error_details(error.trailing_metadata())
    assert info is not None
    return error.code(), info.reason, dict(info.metadata)


def _fails(call: Any, request: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request)
    return _reason(caught.value)


def _ts(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def _filled_perp_order(
    server: cqc.testing.ReferenceServer, side: int, quantities: list[tuple[str, str]], start: int = 1748779001
) -> order_pb2.Order:
    """Stores an order of the USD-M account in the perpetual market with the given fills (quantity, price)."""
    order = order_pb2.Order(
        order_id=f"ord_01JDBNF111ED{len(server.store.orders.all()):014d}",
        client_order_id=f"fill-{len(server.store.orders.all())}",
        venue_order_id=f"41072{len(server.store.orders.all()):05d}",
        account_id=USDM,
        venue_id="ven_01JDB1NANCEFVTVRES00000000",
        market_id=PERP,
        side=side,  # type: ignore[arg-type]
        order_type=trading_pb2.ORDER_TYPE_MARKET,
        status=trading_pb2.ORDER_STATUS_FILLED,
        filled_quantity="0",
        create_time=_ts(1748779000),
        update_time=_ts(1748779100),
    )
    total = 0.0
    for i, (quantity, price) in enumerate(quantities):
        order.fills.add(
            venue_trade_id=f"{order.venue_order_id}-{i}",
            quantity=quantity,
            price=price,
            liquidity_side=trading_pb2.LIQUIDITY_SIDE_TAKER,
            transact_time=_ts(start + i),
            commission=amount_pb2.AssetAmount(amount="0.1", asset_id=USDT),
        )
        total += float(quantity)
    order.quantity = order.filled_quantity = f"{total:g}"
    assert not violations(order), violations(order)
    server.store.orders.put(order)
    return order


def test_order_status_reports_from_stored_orders(served: Any) -> None:
    _, stub = served
    placed = stub.PlaceOrder(
        pb.PlaceOrderRequest(
            request_id=_rid(),
            order=pb.NewOrder(
                account_id=SPOT,
                market_id=SPOT_MARKET,
                side=trading_pb2.SIDE_BUY,
                order_type=trading_pb2.ORDER_TYPE_LIMIT,
                quantity="0.01",
                price="60000",
            ),
        )
    ).order
    reports = stub.ListOrderStatusReports(apb.ListOrderStatusReportsRequest(account_id=SPOT)).order_status_reports
    assert [(r.order_id, r.status, r.quantity, r.price) for r in reports] == [
        (placed.order_id, trading_pb2.ORDER_STATUS_NEW, "0.01", "60000")
    ]
    assert reports[0].venue_order_id == (placed.venue_order_id or placed.order_id)
    assert not violations(reports[0])
    masked = stub.ListOrderStatusReports(
        apb.ListOrderStatusReportsRequest(
            account_id=SPOT, read_mask=field_mask_pb2.FieldMask(paths=["order_id", "status"])
        )
    ).order_status_reports
    assert masked[0].order_id == placed.order_id and masked[0].quantity == "" and not masked[0].HasField("receive_time")
    other = stub.ListOrderStatusReports(apb.ListOrderStatusReportsRequest(account_id=SPOT, market_ids=[PERP]))
    assert list(other.order_status_reports) == []
    code, reason, _ = _fails(
        stub.ListOrderStatusReports, apb.ListOrderStatusReportsRequest(account_id="acc_01JDZZZZZZZZZZZZZZZZZZZZZZ")
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_ACCOUNT")


def test_fill_and_position_reports_from_stored_fills(served: Any) -> None:
    server, stub = served
    buy = _filled_perp_order(server, trading_pb2.SIDE_BUY, [("0.2", "60000"), ("0.1", "63000")])
    _filled_perp_order(server, trading_pb2.SIDE_SELL, [("0.05", "65000")], start=1748779010)
    fills = stub.ListFillReports(apb.ListFillReportsRequest(account_id=USDM, since_time=_ts(1748779000))).fill_reports
    assert [(f.venue_trade_id, f.last_quantity, f.side) for f in fills] == [
        (f"{buy.venue_order_id}-0", "0.2", trading_pb2.SIDE_BUY),
        (f"{buy.venue_order_id}-1", "0.1", trading_pb2.SIDE_BUY),
        (fills[2].venue_trade_id, "0.05", trading_pb2.SIDE_SELL),
    ]
    assert all(not violations(f) for f in fills)
    later = stub.ListFillReports(
        apb.ListFillReportsRequest(account_id=USDM, since_time=_ts(1748779002), until_time=_ts(1748779010))
    )
    assert [f.last_quantity for f in later.fill_reports] == ["0.1"]
    page = stub.ListFillReports(apb.ListFillReportsRequest(account_id=USDM, since_time=_ts(0), page_size=2))
    rest = stub.ListFillReports(
        apb.ListFillReportsRequest(account_id=USDM, since_time=_ts(0), page_size=2, page_token=page.next_page_token)
    )
    assert len(page.fill_reports) == 2 and len(rest.fill_reports) == 1 and rest.next_page_token == ""
    positions = stub.ListPositionStatusReports(
        apb.ListPositionStatusReportsRequest(account_id=USDM)
    ).position_status_reports
    assert [(p.market_id, p.position_side, p.signed_quantity, p.avg_open_price) for p in positions] == [
        (PERP, trading_pb2.POSITION_SIDE_NET, "0.25", "61000")
    ]
    assert not violations(positions[0])
    spot = stub.ListPositionStatusReports(apb.ListPositionStatusReportsRequest(account_id=SPOT))
    assert list(spot.position_status_reports) == []


def test_set_leverage_idempotent_and_bounded(served: Any) -> None:
    _, stub = served
    request = apb.SetLeverageRequest(request_id=_rid(), account_id=USDM, market_id=PERP, leverage="20")
    first = stub.SetLeverage(request)
    assert (first.market_leverage.market_id, first.market_leverage.long_leverage) == (PERP, "20")
    assert stub.SetLeverage(request) == first
    stored = stub.GetVenueAccount(pb.GetVenueAccountRequest(account_id=USDM)).venue_account
    assert [(m.market_id, m.long_leverage) for m in stored.market_leverages] == [(PERP, "20")]
    code, reason, _ = _fails(
        stub.SetLeverage,
        apb.SetLeverageRequest(request_id=request.request_id, account_id=USDM, market_id=PERP, leverage="10"),
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    short = stub.SetLeverage(
        apb.SetLeverageRequest(
            request_id=_rid(),
            account_id=USDM,
            market_id=PERP,
            leverage="5",
            position_side=trading_pb2.POSITION_SIDE_SHORT,
        )
    )
    assert (short.market_leverage.long_leverage, short.market_leverage.short_leverage) == ("20", "5")
    code, reason, metadata = _fails(
        stub.SetLeverage, apb.SetLeverageRequest(request_id=_rid(), account_id=USDM, market_id=PERP, leverage="125")
    )
    assert (code, reason, metadata["max_leverage"]) == (grpc.StatusCode.INVALID_ARGUMENT, "LEVERAGE_OUT_OF_RANGE", "50")
    code, reason, metadata = _fails(
        stub.SetLeverage,
        apb.SetLeverageRequest(request_id=_rid(), account_id=SPOT, market_id=SPOT_MARKET, leverage="2"),
    )
    assert (code, reason, metadata["operation"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ACCOUNT_OPERATION_UNSUPPORTED",
        "SetLeverage",
    )
    code, reason, _ = _fails(
        stub.SetLeverage,
        apb.SetLeverageRequest(
            request_id=_rid(), account_id=USDM, market_id="mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ", leverage="2"
        ),
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_MARKET")


def test_margin_and_position_mode_and_isolated_margin(served: Any) -> None:
    server, stub = served
    hedge = stub.SetPositionMode(
        apb.SetPositionModeRequest(request_id=_rid(), account_id=USDM, position_mode=trading_pb2.POSITION_MODE_HEDGE)
    )
    assert hedge.venue_account.position_mode == trading_pb2.POSITION_MODE_HEDGE
    isolated = stub.SetMarginMode(
        apb.SetMarginModeRequest(
            request_id=_rid(), account_id=USDM, market_id=PERP, margin_mode=trading_pb2.MARGIN_MODE_ISOLATED
        )
    )
    assert [(m.market_id, m.margin_mode) for m in isolated.venue_account.market_leverages] == [
        (PERP, trading_pb2.MARGIN_MODE_ISOLATED)
    ]
    adjust = apb.AdjustIsolatedMarginRequest(
        request_id=_rid(),
        account_id=USDM,
        market_id=PERP,
        position_side=trading_pb2.POSITION_SIDE_NET,
        adjustment=apb.ISOLATED_MARGIN_ADJUSTMENT_ADD,
        amount="100",
    )
    code, reason, _ = _fails(stub.AdjustIsolatedMargin, adjust)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_POSITION")
    _filled_perp_order(server, trading_pb2.SIDE_BUY, [("0.2", "60000")])
    added = stub.AdjustIsolatedMargin(apb.AdjustIsolatedMarginRequest(**{**_fields(adjust), "request_id": _rid()}))
    assert added.position.isolated_margin.amount == "100"
    assert (added.transaction.type, added.transaction.amount) == (balance_pb2.BALANCE_CHANGE_REASON_TRANSFER, "-100")
    reduce = apb.AdjustIsolatedMarginRequest(
        **{
            **_fields(adjust),
            "request_id": _rid(),
            "adjustment": apb.ISOLATED_MARGIN_ADJUSTMENT_REDUCE,
            "amount": "150",
        }
    )
    code, reason, metadata = _fails(stub.AdjustIsolatedMargin, reduce)
    assert (code, reason, metadata["max_removable"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "MARGIN_REMOVAL_EXCEEDS_FREE",
        "100",
    )
    code, reason, metadata = _fails(
        stub.SetMarginMode,
        apb.SetMarginModeRequest(
            request_id=_rid(), account_id=USDM, market_id=PERP, margin_mode=trading_pb2.MARGIN_MODE_CROSS
        ),
    )
    assert (code, reason, metadata["setting"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "POSITIONS_OR_ORDERS_OPEN",
        "margin_mode",
    )
    same = stub.SetMarginMode(
        apb.SetMarginModeRequest(
            request_id=_rid(), account_id=USDM, market_id=PERP, margin_mode=trading_pb2.MARGIN_MODE_ISOLATED
        )
    )
    assert same.venue_account.market_leverages[0].margin_mode == trading_pb2.MARGIN_MODE_ISOLATED


def _fields(message: Any) -> dict[str, Any]:
    return {f.name: v for f, v in message.ListFields()}


def test_withdrawal_request_list_cancel(served: Any) -> None:
    _, stub = served
    request = pb.RequestWithdrawalRequest(
        request_id=_rid(),
        account_id=TREASURY,
        asset_id=USDC,
        deployment_id=USDC_ETH,
        address="0x7a16ff8270133f063aab6c9977183d9e72835428",
        amount="2500",
        client_transaction_id="payout-1",
    )
    withdrawal = stub.RequestWithdrawal(request).withdrawal
    assert (withdrawal.status, withdrawal.amount, withdrawal.client_transaction_id) == (
        transaction_pb2.TRANSACTION_STATUS_PENDING,
        "-2500",
        "payout-1",
    )
    assert stub.RequestWithdrawal(request).withdrawal == withdrawal
    listed = stub.ListWithdrawals(
        pb.ListWithdrawalsRequest(account_id=TREASURY, statuses=[transaction_pb2.TRANSACTION_STATUS_PENDING])
    ).withdrawals
    assert [w.transaction_id for w in listed] == [withdrawal.transaction_id]
    assert (
        list(
            stub.ListWithdrawals(
                pb.ListWithdrawalsRequest(account_id=TREASURY, statuses=[transaction_pb2.TRANSACTION_STATUS_COMPLETED])
            ).withdrawals
        )
        == []
    )
    cancel = apb.CancelWithdrawalRequest(request_id=_rid(), account_id=TREASURY, client_transaction_id="payout-1")
    canceled = stub.CancelWithdrawal(cancel).withdrawal
    assert (canceled.transaction_id, canceled.status) == (
        withdrawal.transaction_id,
        transaction_pb2.TRANSACTION_STATUS_CANCELED,
    )
    assert stub.CancelWithdrawal(cancel).withdrawal == canceled
    code, reason, metadata = _fails(
        stub.CancelWithdrawal,
        apb.CancelWithdrawalRequest(request_id=_rid(), account_id=TREASURY, transaction_id=withdrawal.transaction_id),
    )
    assert (code, reason, metadata["status"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "WITHDRAWAL_NOT_CANCELABLE",
        "TRANSACTION_STATUS_CANCELED",
    )
    code, reason, _ = _fails(
        stub.CancelWithdrawal,
        apb.CancelWithdrawalRequest(request_id=_rid(), account_id=TREASURY, client_transaction_id="nope"),
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_TRANSACTION")
    code, reason, _ = _fails(
        stub.RequestWithdrawal,
        pb.RequestWithdrawalRequest(**{**_fields(request), "request_id": _rid(), "account_id": SPOT}),
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")


def test_transfer_borrow_repay_fee_rates_margin(served: Any) -> None:
    _, stub = served
    transfer = stub.TransferInternal(
        apb.TransferInternalRequest(
            request_id=_rid(),
            account_id=SPOT,
            from_wallet="spot",
            to_account_id=MARGIN,
            to_wallet="cross_margin",
            asset_id=USDC,
            amount="5000",
        )
    ).transfer
    assert (transfer.amount, transfer.counterparty_account_id, transfer.counterparty_wallet) == (
        "-5000",
        MARGIN,
        "cross_margin",
    )
    code, reason, _ = _fails(
        stub.Borrow, apb.BorrowRequest(request_id=_rid(), account_id=SPOT, asset_id=USDC, amount="1")
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_OPERATION_UNSUPPORTED")
    borrow = apb.BorrowRequest(request_id=_rid(), account_id=MARGIN, asset_id=USDC, amount="1000")
    loan = stub.Borrow(borrow)
    assert (loan.transaction.amount, loan.borrowed) == ("1000", "1000")
    assert stub.Borrow(borrow) == loan
    code, reason, metadata = _fails(
        stub.Repay, apb.RepayRequest(request_id=_rid(), account_id=MARGIN, asset_id=USDC, amount="1500")
    )
    assert (code, reason, metadata["owed"]) == (grpc.StatusCode.INVALID_ARGUMENT, "REPAY_EXCEEDS_DEBT", "1000")
    repaid = stub.Repay(apb.RepayRequest(request_id=_rid(), account_id=MARGIN, asset_id=USDC, repay_all=True))
    assert (repaid.transaction.amount, repaid.borrowed) == ("-1000", "0")
    rates = stub.ListTradingFeeRates(
        apb.ListTradingFeeRatesRequest(account_id=SPOT, market_ids=[SPOT_MARKET])
    ).market_fee_rates
    assert [(r.market_id, r.rates.maker_fee_rate) for r in rates] == [(SPOT_MARKET, "0.00100000")]
    code, reason, _ = _fails(stub.GetMarginSummary, apb.GetMarginSummaryRequest(account_id=SPOT))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ACCOUNT_OPERATION_UNSUPPORTED")
    summary = stub.GetMarginSummary(apb.GetMarginSummaryRequest(account_id=USDM)).margin_summary
    assert (summary.account_id, summary.asset_id, summary.is_reported) == (USDM, USDT, False)
    stream = stub.StreamMarginSummaries(apb.StreamMarginSummariesRequest(account_id=USDM), timeout=2)
    first, marker = next(stream), next(stream)
    assert first.is_snapshot and first.margin_summary.account_id == USDM and first.resume_token
    assert marker.snapshot_complete and not marker.HasField("margin_summary")
    stream.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        next(
            iter(
                stub.StreamMarginSummaries(
                    apb.StreamMarginSummariesRequest(account_id=USDM, resume_token="bm9wZQ"), timeout=2
                )
            )
        )
    assert _reason(caught.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "RESUME_TOKEN_EXPIRED")


def test_margin_summary_stream_change_and_resume(served: Any) -> None:
    _, stub = served
    unified = "acc_01JDBNVN1F1ED0000000000000"
    account = account_pb2.VenueAccount(
        account_id=unified,
        venue_id="ven_01JDB1NANCE000000000000000",
        name="Binance portfolio margin",
        external_account_id="354937868",
        account_type=account_pb2.ACCOUNT_TYPE_UNIFIED,
        status=account_pb2.ACCOUNT_STATUS_ACTIVE,
        margin_mode=trading_pb2.MARGIN_MODE_PORTFOLIO,
        base_asset_id=USDC,
    )
    stub.CreateVenueAccount(pb.CreateVenueAccountRequest(venue_account=account))
    stream = stub.StreamMarginSummaries(apb.StreamMarginSummariesRequest(account_id=unified), timeout=5)
    first, marker = next(stream), next(stream)
    assert first.is_snapshot and marker.snapshot_complete
    stub.Borrow(apb.BorrowRequest(request_id=_rid(), account_id=unified, asset_id=USDC, amount="250"))
    change = next(stream)
    assert (change.is_snapshot, change.margin_summary.borrowed) == (False, "250")
    stream.cancel()
    resumed = stub.StreamMarginSummaries(
        apb.StreamMarginSummariesRequest(account_id=unified, resume_token=marker.resume_token), timeout=5
    )
    replayed = next(resumed)
    assert (replayed.snapshot_complete, replayed.margin_summary.borrowed) == (False, "250")
    resumed.cancel()


def test_balances_list_and_stream(served: Any) -> None:
    _, stub = served
    stub.TransferInternal(
        apb.TransferInternalRequest(
            request_id=_rid(),
            account_id=SPOT,
            from_wallet="spot",
            to_account_id=MARGIN,
            to_wallet="cross_margin",
            asset_id=USDC,
            amount="5000",
        )
    )
    listed = stub.ListBalances(pb.ListBalancesRequest(account_id=MARGIN)).balances
    assert [(b.asset_id, b.wallet, b.wallet_balance, b.is_reported) for b in listed] == [
        (USDC, "cross_margin", "5000", False)
    ]
    assert all(not violations(b) for b in listed)
    stream = stub.StreamBalances(pb.StreamBalancesRequest(account_id=MARGIN), timeout=5)
    first, marker = next(stream), next(stream)
    assert first.is_snapshot and first.balance.wallet_balance == "5000" and marker.snapshot_complete
    stub.Borrow(apb.BorrowRequest(request_id=_rid(), account_id=MARGIN, asset_id=USDC, amount="1000"))
    change = next(stream)
    assert (change.balance.wallet_balance, change.balance.borrowed, change.reason) == (
        "1000",
        "1000",
        balance_pb2.BALANCE_CHANGE_REASON_BORROW,
    )  # the borrow lands in the account's default ledger ("")
    assert change.balance.last_delta.amount == "1000" and not violations(change)
    stream.cancel()
    resumed = stub.StreamBalances(
        pb.StreamBalancesRequest(account_id=MARGIN, resume_token=marker.resume_token), timeout=5
    )
    assert next(resumed).balance.borrowed == "1000"
    resumed.cancel()
    code, reason, _ = _fails(
        lambda r: next(iter(stub.StreamBalances(r, timeout=5))),
        pb.StreamBalancesRequest(account_id=MARGIN, resume_token="bm9wZQ"),
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RESUME_TOKEN_EXPIRED")
