"""Combo / spread listings -> COMBO Instrument (ComboInstrument with legs) + COMBO Market.

Sources and conversions (ComboInstrument / ComboLeg / Market comments):
  - Deribit public/get_instruments element of kind future_combo, with the public/get_combos element of the
    same instrument_id kept beside it under "combo" (the legs): leg amount +n -> BUY ratio n, -n -> SELL
    ratio n; instrument_type "reversed" -> INVERSE; an inverse future combo counts quantity in USD
    (contract_size 10 USD, QUANTITY_UNIT_USD, as Deribit futures do); settlement_period -> ExpiryCycle hint.
  - OKX GET /api/v5/sprd/spreads element: legs[].side buy / sell, ratio 1 (OKX spreads are one-by-one);
    szCcy is the unit sizes are counted in; expTime "" = no expiry (a perpetual leg only).
Leg instruments resolve through the registry (stand-in ids from the test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record, timestamp_ms
from .gaps import raw
from .ledger import UNSET, Entry, Expect, Target, mapped
from .ledgers import same

INS, MKT = "instrument", "market"
DERIBIT_CYCLE = {
    "day": instrument_pb2.EXPIRY_CYCLE_DAY,
    "week": instrument_pb2.EXPIRY_CYCLE_THIS_WEEK,
    "month": instrument_pb2.EXPIRY_CYCLE_THIS_MONTH,
}
DERIBIT_CONTRACT = {"reversed": instrument_pb2.CONTRACT_TYPE_INVERSE, "linear": instrument_pb2.CONTRACT_TYPE_LINEAR}
OKX_STATE: dict[str, market_pb2.MarketStatus.ValueType] = {
    "live": market_pb2.MARKET_STATUS_TRADING,
    "suspend": market_pb2.MARKET_STATUS_HALTED,
}
OKX_SIDE: dict[str, trading_pb2.Side.ValueType] = {"buy": trading_pb2.SIDE_BUY, "sell": trading_pb2.SIDE_SELL}
OKX_CONTRACT = {"inverse": instrument_pb2.CONTRACT_TYPE_INVERSE, "linear": instrument_pb2.CONTRACT_TYPE_LINEAR}


@dataclass(frozen=True)
class ComboIds:
    market_id: str
    instrument_id: str
    venue_id: str
    assets: Mapping[str, str]
    instruments: Mapping[str, str]
    """Leg venue symbol -> "ins_" id."""
    receive_time: datetime


def d(value: float | int) -> str:
    return fmt(Decimal(repr(value)).normalize())


def _leg(
    instrument_id: str, amount: Decimal, side: trading_pb2.Side.ValueType | None = None
) -> instrument_pb2.ComboLeg:
    return instrument_pb2.ComboLeg(
        instrument_id=instrument_id,
        ratio=fmt(abs(amount)),
        side=side if side is not None else (trading_pb2.SIDE_BUY if amount > 0 else trading_pb2.SIDE_SELL),
    )


def deribit_combo(payload: Json, combo: Json, ids: ComboIds, primary: str) -> dict[str, Message]:
    """get_instruments future_combo element + get_combos element -> {"instrument", "market"}; `primary` says
    which of the two records the messages keep as source_record ("instrument" or "combo")."""
    p = payload
    kept = p if primary == "instrument" else combo
    endpoint = "public/get_instruments" if primary == "instrument" else "public/get_combos"
    record = source_record("deribit", f"{endpoint} ({p['instrument_name']})", kept, ids.receive_time)
    listed = timestamp_ms(int(p["creation_timestamp"]))
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="COMBO",
        name=f"Deribit {p['instrument_name']}",
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE if p["is_active"] else instrument_pb2.INSTRUMENT_STATUS_EXPIRED,
        base_asset_id=ids.assets[p["base_currency"]],
        quote_asset_id=ids.assets[p["quote_currency"]],
        settlement_asset_id=ids.assets[p["settlement_currency"]],
        contract_type=DERIBIT_CONTRACT[p["instrument_type"]],
        listing_time=listed,
        combo=instrument_pb2.ComboInstrument(
            legs=[_leg(ids.instruments[leg["instrument_name"]], Decimal(repr(leg["amount"]))) for leg in combo["legs"]],
            strategy=p["kind"],
            expiry_time=timestamp_ms(int(p["expiration_timestamp"])),
            cycle=DERIBIT_CYCLE.get(p["settlement_period"], instrument_pb2.EXPIRY_CYCLE_OTHER),
        ),
        source_record=record,
    )
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["instrument_name"],
        venue_numeric_id=str(p["instrument_id"]),
        symbol=p["instrument_name"],
        display_name=f"Deribit {p['instrument_name']} future spread",
        market_type=market_pb2.MARKET_TYPE_COMBO,
        venue_market_type=p["kind"],
        venue_base_symbol=p["base_currency"],
        venue_quote_symbol=p["quote_currency"],
        venue_settlement_symbol=p["settlement_currency"],
        status=market_pb2.MARKET_STATUS_TRADING if p["state"] == "open" else market_pb2.MARKET_STATUS_HALTED,
        venue_status=p["state"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_USD,
        tick_size=d(p["tick_size"]),
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=d(p["tick_size"]))),
        contract_size=d(p["contract_size"]),
        contract_size_asset_id=ids.assets[p["counter_currency"]],
        lot_size=d(p["min_trade_amount"]),
        limit_order_size=market_rules_pb2.OrderSizeLimits(min_quantity=d(p["min_trade_amount"])),
        fees=market_rules_pb2.FeeSchedule(
            maker_fee_rate=d(p["maker_commission"]), taker_fee_rate=d(p["taker_commission"])
        ),
        listing_time=listed,
        derivative=market_pb2.DerivativeSpecs(index_price_source=p["price_index"]),
        source_record=record,
    )
    return {INS: instrument, MKT: market}


def _num(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: Decimal(repr(v)), "decimal")


def _ms(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: int(v), "time")


def deribit_combo_ledger(assets: Mapping[str, str]) -> dict[str, Entry]:
    """Every key of a Deribit get_instruments element of kind future_combo / option_combo."""
    return {
        "state": mapped(same(MKT, "venue_status")),
        "price_index": mapped(same(MKT, "derivative.index_price_source")),
        "kind": mapped(same(MKT, "venue_market_type"), same(INS, "combo.strategy")),
        "instrument_name": mapped(same(MKT, "venue_symbol")),
        "maker_commission": mapped(_num(MKT, "fees.maker_fee_rate")),
        "taker_commission": mapped(_num(MKT, "fees.taker_fee_rate")),
        "instrument_type": mapped(Target(INS, "contract_type", lambda v, _r: DERIBIT_CONTRACT[v])),
        "expiration_timestamp": mapped(_ms(INS, "combo.expiry_time")),
        "is_active": mapped(
            Target(
                INS,
                "status",
                lambda v, _r: (
                    instrument_pb2.INSTRUMENT_STATUS_ACTIVE if v else instrument_pb2.INSTRUMENT_STATUS_EXPIRED
                ),
            )
        ),
        "creation_timestamp": mapped(_ms(MKT, "listing_time"), _ms(INS, "listing_time")),
        "instrument_id": mapped(Target(MKT, "venue_numeric_id", lambda v, _r: str(v))),
        "tick_size": mapped(_num(MKT, "tick_size"), _num(MKT, "tick_rule.fixed.tick_size")),
        "contract_size": mapped(_num(MKT, "contract_size")),
        "base_currency": mapped(same(MKT, "venue_base_symbol"), Target(INS, "base_asset_id", lambda v, _r: assets[v])),
        "quote_currency": mapped(
            same(MKT, "venue_quote_symbol"), Target(INS, "quote_asset_id", lambda v, _r: assets[v])
        ),
        "settlement_currency": mapped(
            same(MKT, "venue_settlement_symbol"), Target(INS, "settlement_asset_id", lambda v, _r: assets[v])
        ),
        "min_trade_amount": mapped(_num(MKT, "limit_order_size.min_quantity"), _num(MKT, "lot_size")),
        "settlement_period": mapped(
            Target(INS, "combo.cycle", lambda v, _r: DERIBIT_CYCLE.get(v, instrument_pb2.EXPIRY_CYCLE_OTHER))
        ),
        "counter_currency": mapped(Target(MKT, "contract_size_asset_id", lambda v, _r: assets[v])),
        "tick_size_steps": mapped(Target(MKT, "tick_rule.stepped.base_tick_size", lambda v, _r: UNSET if not v else v)),
    }


def _leg_expect(index: int, field: str, instruments: Mapping[str, str]) -> Expect:
    def expect(v: object, r: Json) -> object:
        leg = r["legs"][index]
        amount = Decimal(repr(leg["amount"]))
        if field == "instrument_id":
            return instruments[leg["instrument_name"]]
        if field == "ratio":
            return abs(amount)
        return trading_pb2.SIDE_BUY if amount > 0 else trading_pb2.SIDE_SELL

    return expect


def deribit_combo_legs_ledger(instruments: Mapping[str, str], combo: Json) -> dict[str, Entry]:
    """Every key of a Deribit get_combos element (its legs)."""
    legs = range(len(combo["legs"]))
    return {
        "id": mapped(same(MKT, "venue_symbol")),
        "state": raw("get_combos' own state word ('active'); the listing state is get_instruments' state"),
        "legs[*].amount": mapped(
            *(Target(INS, f"combo.legs[{i}].ratio", _leg_expect(i, "ratio", instruments), "decimal") for i in legs),
            *(Target(INS, f"combo.legs[{i}].side", _leg_expect(i, "side", instruments)) for i in legs),
        ),
        "legs[*].instrument_name": mapped(
            *(Target(INS, f"combo.legs[{i}].instrument_id", _leg_expect(i, "instrument_id", instruments)) for i in legs)
        ),
        "creation_timestamp": mapped(_ms(MKT, "listing_time")),
        "instrument_id": mapped(Target(MKT, "venue_numeric_id", lambda v, _r: str(v))),
        "state_timestamp": raw("when get_combos' state last changed; the listing time is creation_timestamp"),
    }


# --- OKX spreads ----------------------------------------------------------------------------------------------------


def okx_spread(payload: Json, ids: ComboIds) -> dict[str, Message]:
    """One sprd/spreads element -> {"instrument", "market"}."""
    p = payload
    record = source_record("okx", "GET /api/v5/sprd/spreads", payload, ids.receive_time)
    combo = instrument_pb2.ComboInstrument(
        legs=[_leg(ids.instruments[leg["instId"]], Decimal(1), OKX_SIDE[leg["side"]]) for leg in p["legs"]]
    )
    if p["expTime"]:
        combo.expiry_time.CopyFrom(timestamp_ms(int(p["expTime"])))
    listed = timestamp_ms(int(p["listTime"]))
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="COMBO",
        name=f"OKX spread {p['sprdId']}",
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[p["baseCcy"]],
        quote_asset_id=ids.assets[p["quoteCcy"]],
        settlement_asset_id=ids.assets[p["baseCcy"] if p["sprdType"] == "inverse" else p["quoteCcy"]],
        contract_type=OKX_CONTRACT[p["sprdType"]],
        listing_time=listed,
        combo=combo,
        source_record=record,
    )
    unit = trading_pb2.QUANTITY_UNIT_BASE if p["szCcy"] == p["baseCcy"] else trading_pb2.QUANTITY_UNIT_QUOTE
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["sprdId"],
        symbol=p["sprdId"],
        display_name=f"OKX spread {p['sprdId']}",
        market_type=market_pb2.MARKET_TYPE_COMBO,
        venue_market_type=p["sprdType"],
        venue_base_symbol=p["baseCcy"],
        venue_quote_symbol=p["quoteCcy"],
        status=OKX_STATE[p["state"]],
        venue_status=p["state"],
        quantity_unit=unit,
        tick_size=p["tickSz"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=p["tickSz"])),
        lot_size=p["lotSz"],
        limit_order_size=market_rules_pb2.OrderSizeLimits(min_quantity=p["minSz"]),
        listing_time=listed,
        source_record=record,
    )
    market.update_time.CopyFrom(timestamp_ms(int(p["uTime"])))
    return {INS: instrument, MKT: market}


def okx_spread_ledger(assets: Mapping[str, str], instruments: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """Every key of an OKX sprd/spreads element."""
    legs = range(len(payload["legs"]))

    def leg_id(i: int) -> Expect:
        return lambda _v, r: instruments[r["legs"][i]["instId"]]

    def leg_side(i: int) -> Expect:
        return lambda _v, r: OKX_SIDE[r["legs"][i]["side"]]

    return {
        "sprdId": mapped(same(MKT, "venue_symbol")),
        "sprdType": mapped(same(MKT, "venue_market_type"), Target(INS, "contract_type", lambda v, _r: OKX_CONTRACT[v])),
        "state": mapped(same(MKT, "venue_status"), Target(MKT, "status", lambda v, _r: OKX_STATE[v])),
        "baseCcy": mapped(same(MKT, "venue_base_symbol"), Target(INS, "base_asset_id", lambda v, _r: assets[v])),
        "szCcy": mapped(
            Target(
                MKT,
                "quantity_unit",
                lambda v, r: trading_pb2.QUANTITY_UNIT_BASE if v == r["baseCcy"] else trading_pb2.QUANTITY_UNIT_QUOTE,
            )
        ),
        "quoteCcy": mapped(same(MKT, "venue_quote_symbol"), Target(INS, "quote_asset_id", lambda v, _r: assets[v])),
        "tickSz": mapped(
            Target(MKT, "tick_size", lambda v, _r: Decimal(v), "decimal"),
            Target(MKT, "tick_rule.fixed.tick_size", lambda v, _r: Decimal(v), "decimal"),
        ),
        "minSz": mapped(Target(MKT, "limit_order_size.min_quantity", lambda v, _r: Decimal(v), "decimal")),
        "lotSz": mapped(Target(MKT, "lot_size", lambda v, _r: Decimal(v), "decimal")),
        "listTime": mapped(
            Target(MKT, "listing_time", lambda v, _r: int(v), "time"),
            Target(INS, "listing_time", lambda v, _r: int(v), "time"),
        ),
        "legs[*].instId": mapped(*(Target(INS, f"combo.legs[{i}].instrument_id", leg_id(i)) for i in legs)),
        "legs[*].side": mapped(
            *(Target(INS, f"combo.legs[{i}].side", leg_side(i)) for i in legs),
            *(Target(INS, f"combo.legs[{i}].ratio", lambda _v, _r: Decimal(1), "decimal") for i in legs),
        ),
        "expTime": mapped(Target(INS, "combo.expiry_time", lambda v, _r: int(v) if v else UNSET, "time")),
        "uTime": mapped(Target(MKT, "update_time", lambda v, _r: int(v), "time")),
    }
