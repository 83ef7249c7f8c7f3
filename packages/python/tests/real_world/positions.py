"""Venue position records -> portfolio Position.

Sources and conversions (position.proto comments; proto/README.md sign conventions):
  - OKX GET /api/v5/account/positions element: pos with posSide long / short is unsigned (negated for
    short), in contracts of the market's contract size (a registry fact); OKX fee is negative when paid and
    fundingFee / liqPenalty positive when received (both negated: CQC charges are positive when paid);
    realizedPnl = pnl + fee + fundingFee + liqPenalty, so realized_pnl takes pnl; mgnRatio is the reciprocal
    of CQC's margin_ratio; "0" figures that mean "none" (bePx, liqPenalty, pnl, loan fields) map to unset; the
    quick-margin loan fields (quoteBorrowed, quoteInterest, interest, pendingCloseOrdLiabVal) map to
    MarginLoan, unset on a position without a loan.
  - Kraken GET /0/private/OpenPositions element (a spot margin position): vol - vol_closed is the open size in
    base units; cost is the position's value in quote; fee is paid (positive); margin is the initial margin
    posted; Kraken margin is account-wide (cross). The loan (cost - margin) is not published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.portfolio.v1 import position_pb2
from cqc.types.v1 import amount_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record, timestamp_ms
from .gaps import raw
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import same

POS = "position"
OKX_SIDE = {"long": trading_pb2.POSITION_SIDE_LONG, "short": trading_pb2.POSITION_SIDE_SHORT}
OKX_MODE = {"isolated": trading_pb2.MARGIN_MODE_ISOLATED, "cross": trading_pb2.MARGIN_MODE_CROSS}


@dataclass(frozen=True)
class PositionIds:
    position_id: str
    account_id: str
    markets: Mapping[str, str]
    assets: Mapping[str, str]
    contract_sizes: Mapping[str, tuple[str, str]]
    """Venue symbol -> (contract size, asset code) of the market (registry facts)."""
    receive_time: datetime


def _none_if_zero(value: str) -> str | None:
    return None if value in ("", None) or Decimal(value) == 0 else value


def _amount(value: str, asset_id: str) -> amount_pb2.AssetAmount:
    return amount_pb2.AssetAmount(amount=value, asset_id=asset_id)


def okx_position(payload: Json, ids: PositionIds) -> dict[str, Message]:
    p = payload
    record = source_record("okx", "GET /api/v5/account/positions", payload, ids.receive_time)
    ccy = ids.assets[p["ccy"]]
    size, size_ccy = ids.contract_sizes[p["instId"]]
    side = OKX_SIDE[p["posSide"]]
    quantity = p["pos"] if side == trading_pb2.POSITION_SIDE_LONG else fmt(-Decimal(p["pos"]))
    position = position_pb2.Position(
        position_id=ids.position_id,
        venue_position_id=p["posId"],
        account_id=ids.account_id,
        market_id=ids.markets[p["instId"]],
        side=side,
        quantity=quantity,
        quantity_unit=trading_pb2.QUANTITY_UNIT_CONTRACTS,
        contract_size=size,
        contract_size_asset_id=ids.assets[size_ccy],
        settlement_asset_id=ccy,
        avg_entry_price=p["avgPx"],
        break_even_price=_none_if_zero(p["bePx"]),
        mark_price=p["markPx"],
        liquidation_price=_none_if_zero(p["liqPx"]),
        leverage=p["lever"],
        margin_mode=OKX_MODE[p["mgnMode"]],
        isolated_margin=p["margin"] if p["mgnMode"] == "isolated" else None,
        maintenance_margin=p["mmr"],
        margin_ratio=fmt((1 / Decimal(p["mgnRatio"])).normalize()) if Decimal(p["mgnRatio"]) != 0 else None,
        notional_usd=p["notionalUsd"],
        unrealized_pnl=_amount(p["upl"], ccy),
        unrealized_pnl_fraction=p["uplRatio"],
        funding=_amount(fmt(-Decimal(p["fundingFee"])), ccy),
        commissions=[_amount(fmt(-Decimal(p["fee"])), ccy)],
        adl_indicator=int(p["adl"]),
        open_time=timestamp_ms(int(p["cTime"])),
        update_time=timestamp_ms(int(p["uTime"])),
        closable_quantity=p["availPos"],
        last_venue_trade_id=p["tradeId"],
        source_record=record,
    )
    if _none_if_zero(p["pnl"]):
        position.realized_pnl.CopyFrom(_amount(p["pnl"], ccy))
    if _none_if_zero(p["liqPenalty"]):
        position.liquidation_penalty.CopyFrom(_amount(fmt(-Decimal(p["liqPenalty"])), ccy))
    if p["uplLastPx"] != "":
        position.unrealized_pnl_last_price.CopyFrom(_amount(p["uplLastPx"], ccy))
    if p["uplRatioLastPx"] != "":
        position.unrealized_pnl_last_price_fraction = p["uplRatioLastPx"]
    if p["baseBal"] != "":
        position.isolated_base_balance = p["baseBal"]
    if p["quoteBal"] != "":
        position.isolated_quote_balance = p["quoteBal"]
    if _none_if_zero(p["spotInUseAmt"]):
        position.spot_in_use.CopyFrom(_amount(p["spotInUseAmt"], ids.assets[p["spotInUseCcy"]]))
    if _none_if_zero(p["quoteBorrowed"]):
        position.margin_loan.CopyFrom(
            position_pb2.MarginLoan(
                liability=p["quoteBorrowed"],
                liability_asset_id=ids.assets[p["instId"].split("-")[1]],
                accrued_interest=_none_if_zero(p["quoteInterest"]),
                pending_close_liability=_none_if_zero(p["pendingCloseOrdLiabVal"]),
            )
        )
    return {POS: position}


def _dec(path: str) -> Target:
    return Target(POS, path, lambda v, _r: Decimal(v), "decimal")


def _dec_or_unset(path: str) -> Target:
    return Target(POS, path, lambda v, _r: UNSET if not v or Decimal(v) == 0 else Decimal(v), "decimal")


def _dec_or_empty(path: str) -> Target:
    return Target(POS, path, lambda v, _r: UNSET if v == "" else Decimal(v), "decimal")


def _negated(path: str) -> Target:
    return Target(POS, path, lambda v, _r: -Decimal(v), "decimal")


def okx_position_ledger(ids: PositionIds) -> dict[str, Entry]:
    loan = "margin_loan"

    def signed(v: object, r: Json) -> Decimal:
        return Decimal(str(v)) if r["posSide"] == "long" else -Decimal(str(v))

    return {
        "instId": mapped(Target(POS, "market_id", lambda v, _r: ids.markets[v])),
        "instType": raw("the instrument family of instId (SWAP): the market says it"),
        "mgnMode": mapped(Target(POS, "margin_mode", lambda v, _r: OKX_MODE[v])),
        "posId": mapped(same(POS, "venue_position_id")),
        "posSide": mapped(Target(POS, "side", lambda v, _r: OKX_SIDE[v])),
        "pos": mapped(Target(POS, "quantity", signed, "decimal")),
        "baseBal": mapped(_dec_or_empty("isolated_base_balance")),
        "ccy": mapped(Target(POS, "settlement_asset_id", lambda v, _r: ids.assets[v])),
        "fee": mapped(_negated("commissions[0].amount")),
        "lever": mapped(_dec("leverage")),
        "last": raw("the market's last trade price: market data, not position state"),
        "markPx": mapped(_dec("mark_price")),
        "liqPx": mapped(_dec_or_unset("liquidation_price")),
        "mmr": mapped(_dec("maintenance_margin")),
        "interest": mapped(_dec_or_unset(f"{loan}.accrued_interest")),
        "tradeId": mapped(same(POS, "last_venue_trade_id")),
        "notionalUsd": mapped(_dec("notional_usd")),
        "avgPx": mapped(_dec("avg_entry_price")),
        "upl": mapped(_dec("unrealized_pnl.amount")),
        "uplRatio": mapped(_dec("unrealized_pnl_fraction")),
        "uTime": mapped(Target(POS, "update_time", lambda v, _r: int(v), "time")),
        "margin": mapped(
            Target(POS, "isolated_margin", lambda v, r: Decimal(v) if r["mgnMode"] == "isolated" else UNSET, "decimal")
        ),
        "mgnRatio": mapped(
            Target(
                POS,
                "margin_ratio",
                lambda v, _r: UNSET if Decimal(v) == 0 else (1 / Decimal(v)).normalize(),
                "decimal",
            )
        ),
        "adl": mapped(Target(POS, "adl_indicator", lambda v, _r: int(v))),
        "cTime": mapped(Target(POS, "open_time", lambda v, _r: int(v), "time")),
        "realizedPnl": raw("= pnl + fee + fundingFee + liqPenalty (OKX): derived from the components mapped"),
        "uplLastPx": mapped(_dec_or_empty("unrealized_pnl_last_price.amount")),
        "uplRatioLastPx": mapped(_dec_or_empty("unrealized_pnl_last_price_fraction")),
        "availPos": mapped(_dec("closable_quantity")),
        "bePx": mapped(_dec_or_unset("break_even_price")),
        "fundingFee": mapped(_negated("funding.amount")),
        "idxPx": raw("the market's index price: market data, not position state"),
        "liqPenalty": mapped(
            Target(
                POS,
                "liquidation_penalty.amount",
                lambda v, _r: UNSET if Decimal(v) == 0 else -Decimal(v),
                "decimal",
            )
        ),
        "optVal": raw("option value of an option position: '0' for a swap"),
        "pendingCloseOrdLiabVal": mapped(_dec_or_unset(f"{loan}.pending_close_liability")),
        "pnl": mapped(_dec_or_unset("realized_pnl.amount")),
        "posCcy": raw("position currency of a MARGIN position; a swap counts contracts (quantity_unit)"),
        "quoteBal": mapped(_dec_or_empty("isolated_quote_balance")),
        "quoteBorrowed": mapped(_dec_or_unset(f"{loan}.liability")),
        "quoteInterest": mapped(_dec_or_unset(f"{loan}.accrued_interest")),
        "spotInUseAmt": mapped(_dec_or_unset("spot_in_use.amount")),
        "spotInUseCcy": mapped(
            Target(
                POS,
                "spot_in_use.asset_id",
                lambda v, r: ids.assets[str(v)] if _none_if_zero(r["spotInUseAmt"]) else UNSET,
            )
        ),
        "usdPx": raw("USD price of the margin currency: a conversion rate (market data)"),
    }


# --- Kraken spot margin position ------------------------------------------------------------------------------------


def kraken_margin_position(payload: Json, ids: PositionIds, txid: str, quote: str, base: str) -> dict[str, Message]:
    p = payload
    record = source_record("kraken", f"POST /0/private/OpenPositions ({txid})", payload, ids.receive_time)
    opened = Timestamp()
    opened.FromNanoseconds(int(Decimal(repr(p["time"])) * 1_000_000_000))
    side = trading_pb2.POSITION_SIDE_LONG if p["type"] == "buy" else trading_pb2.POSITION_SIDE_SHORT
    size = Decimal(p["vol"]) - Decimal(p["vol_closed"])
    position = position_pb2.Position(
        position_id=ids.position_id,
        venue_position_id=txid,
        account_id=ids.account_id,
        market_id=ids.markets[p["pair"]],
        side=side,
        quantity=fmt(size if side == trading_pb2.POSITION_SIDE_LONG else -size),
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        settlement_asset_id=ids.assets[quote],
        margin_mode=trading_pb2.MARGIN_MODE_CROSS,
        initial_margin=p["margin"],
        notional=p["cost"],
        notional_asset_id=ids.assets[quote],
        commissions=[_amount(p["fee"], ids.assets[quote])],
        open_time=opened,
        source_record=record,
    )
    position.venue_opening_order_id = p["ordertxid"]
    rate, period = kraken_rollover_terms(p["terms"])
    next_rollover = Timestamp()
    next_rollover.FromSeconds(int(p["rollovertm"]))
    # A long borrows the quote asset, a short the base asset; Kraken publishes the terms, not the amount.
    position.margin_loan.CopyFrom(
        position_pb2.MarginLoan(
            liability_asset_id=ids.assets[quote] if p["type"] == "buy" else ids.assets[base],
            interest_rate=rate,
            interest_period=period,
            next_interest_time=next_rollover,
        )
    )
    if Decimal(p["vol_closed"]) == 0:
        # Kraken publishes no update time; a position nothing was closed from last changed when it opened.
        position.update_time.CopyFrom(opened)
    return {POS: position}


def kraken_rollover_terms(terms: str) -> tuple[str, Duration]:
    """Kraken terms "0.0200% per 4 hours" -> (rate as a fraction "0.0002", period 4 h)."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)% per ([0-9]+) hours?", terms)
    if not match:
        raise ValueError(f"unrecognised Kraken rollover terms {terms!r}")
    period = Duration()
    period.FromSeconds(int(match[2]) * 3600)
    return fmt((Decimal(match[1]) / 100).normalize()), period


def kraken_margin_position_ledger(ids: PositionIds, txid: str) -> dict[str, Entry]:
    del txid

    def open_size(_v: object, r: Json) -> Decimal:
        size = Decimal(r["vol"]) - Decimal(r["vol_closed"])
        return size if r["type"] == "buy" else -size

    return {
        "ordertxid": mapped(same(POS, "venue_opening_order_id")),
        "pair": mapped(Target(POS, "market_id", lambda v, _r: ids.markets[v])),
        "time": mapped(
            Target(POS, "open_time", lambda v, _r: int(Decimal(repr(v)) * 1000), "time"),
            Target(
                POS,
                "update_time",
                lambda v, r: int(Decimal(repr(v)) * 1000) if Decimal(r["vol_closed"]) == 0 else UNSET,
                "time",
            ),
        ),
        "type": mapped(
            Target(
                POS,
                "side",
                lambda v, _r: trading_pb2.POSITION_SIDE_LONG if v == "buy" else trading_pb2.POSITION_SIDE_SHORT,
            )
        ),
        "ordertype": raw("type of the opening order (market): an order fact, not position state"),
        "cost": mapped(_dec("notional")),
        "fee": mapped(_dec("commissions[0].amount")),
        "vol": mapped(Target(POS, "quantity", open_size, "decimal")),
        "vol_closed": mapped(Target(POS, "quantity", open_size, "decimal")),
        "margin": mapped(_dec("initial_margin")),
        "posstatus": raw("'open': the endpoint lists open positions only"),
        "terms": mapped(
            Target(
                POS, "margin_loan.interest_rate", lambda v, _r: Decimal(kraken_rollover_terms(str(v))[0]), "decimal"
            ),
            Target(
                POS,
                "margin_loan.interest_period",
                lambda v, _r: kraken_rollover_terms(str(v))[1].ToMilliseconds(),
                "duration",
            ),
        ),
        "rollovertm": mapped(Target(POS, "margin_loan.next_interest_time", lambda v, _r: int(str(v)) * 1000, "time")),
    }
