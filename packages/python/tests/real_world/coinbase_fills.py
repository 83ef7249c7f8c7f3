"""Coinbase Advanced Trade GET /api/v3/brokerage/orders/historical/fills element -> FillReport.

A venue fill whose ledger entry id (entry_id) differs from its trade id (trade_id), sized in base or in quote
(size_in_quote). Conversions (FillReport comments): size -> last_quantity, or last_quote_quantity with
quantity_unit QUOTE when size_in_quote; commission is charged in the product's quote currency (Coinbase
Advanced Trade fee convention), a registry fact supplied with the ids; liquidity_indicator MAKER / TAKER ->
LiquiditySide; user_id resolves the CQC account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.types.v1 import amount_pb2
from cqc.venues.v1 import execution_pb2, trading_pb2

from .convert import Json, source_record
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import same

FILL = "fill"
SIDE = {"BUY": trading_pb2.SIDE_BUY, "SELL": trading_pb2.SIDE_SELL}
COINBASE_TRADE_TYPE: dict[str, trading_pb2.ExecType.ValueType] = {
    "FILL": trading_pb2.EXEC_TYPE_TRADE,
    "CORRECTION": trading_pb2.EXEC_TYPE_TRADE_CORRECT,
    "REVERSAL": trading_pb2.EXEC_TYPE_TRADE_CANCEL,
}
LIQUIDITY = {"MAKER": trading_pb2.LIQUIDITY_SIDE_MAKER, "TAKER": trading_pb2.LIQUIDITY_SIDE_TAKER}


@dataclass(frozen=True)
class FillIds:
    """Coinbase user id -> CQC account; product id -> CQC market and its quote asset."""

    accounts: Mapping[str, str]
    markets: Mapping[str, str]
    quote_assets: Mapping[str, str]
    receive_time: datetime


def rfc3339(value: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(value)
    return stamp


def coinbase_fill(payload: Json, ids: FillIds) -> dict[str, Message]:
    """One fills element -> {"fill"}."""
    p = payload
    record = source_record(
        "coinbase-advanced", "GET /api/v3/brokerage/orders/historical/fills", payload, ids.receive_time
    )
    fill = execution_pb2.FillReport(
        account_id=ids.accounts[p["user_id"]],
        market_id=ids.markets[p["product_id"]],
        venue_order_id=p["order_id"],
        venue_trade_id=p["trade_id"],
        venue_ledger_entry_id=p["entry_id"],
        side=SIDE[p["side"]],
        last_price=p["price"],
        commission=amount_pb2.AssetAmount(amount=p["commission"], asset_id=ids.quote_assets[p["product_id"]]),
        liquidity_side=LIQUIDITY[p["liquidity_indicator"]],
        quantity_unit=trading_pb2.QUANTITY_UNIT_QUOTE if p["size_in_quote"] else trading_pb2.QUANTITY_UNIT_BASE,
        transact_time=rfc3339(p["trade_time"]),
        sequence_time=rfc3339(p["sequence_timestamp"]),
        exec_type=COINBASE_TRADE_TYPE[p["trade_type"]],
        venue_exec_type=p["trade_type"],
        venue_portfolio_id=p["retail_portfolio_id"],
        source_record=record,
    )
    if p["size_in_quote"]:
        fill.last_quote_quantity = p["size"]
    else:
        fill.last_quantity = p["size"]
    fill.receive_time.FromDatetime(ids.receive_time)
    return {FILL: fill}


def coinbase_fill_ledger(ids: FillIds) -> dict[str, Entry]:
    """Every key of a fills element."""
    return {
        "entry_id": mapped(same(FILL, "venue_ledger_entry_id")),
        "trade_id": mapped(same(FILL, "venue_trade_id")),
        "order_id": mapped(same(FILL, "venue_order_id")),
        "trade_time": mapped(Target(FILL, "transact_time", lambda v, _r: rfc3339(v).ToMilliseconds(), "time")),
        "trade_type": mapped(
            same(FILL, "venue_exec_type"), Target(FILL, "exec_type", lambda v, _r: COINBASE_TRADE_TYPE[v])
        ),
        "price": mapped(Target(FILL, "last_price", lambda v, _r: Decimal(v), "decimal")),
        "size": mapped(
            Target(FILL, "last_quantity", lambda v, r: UNSET if r["size_in_quote"] else Decimal(v), "decimal"),
            Target(FILL, "last_quote_quantity", lambda v, r: Decimal(v) if r["size_in_quote"] else UNSET, "decimal"),
        ),
        "commission": mapped(
            Target(FILL, "commission.amount", lambda v, _r: Decimal(v), "decimal"),
            Target(FILL, "commission.asset_id", lambda _v, r: ids.quote_assets[r["product_id"]]),
        ),
        "product_id": mapped(Target(FILL, "market_id", lambda v, _r: ids.markets[v])),
        "sequence_timestamp": mapped(Target(FILL, "sequence_time", lambda v, _r: rfc3339(v).ToMilliseconds(), "time")),
        "liquidity_indicator": mapped(Target(FILL, "liquidity_side", lambda v, _r: LIQUIDITY[v])),
        "size_in_quote": mapped(
            Target(
                FILL,
                "quantity_unit",
                lambda v, _r: trading_pb2.QUANTITY_UNIT_QUOTE if v else trading_pb2.QUANTITY_UNIT_BASE,
            )
        ),
        "user_id": mapped(Target(FILL, "account_id", lambda v, _r: ids.accounts[v])),
        "side": mapped(Target(FILL, "side", lambda v, _r: SIDE[v])),
        "retail_portfolio_id": mapped(same(FILL, "venue_portfolio_id")),
    }
