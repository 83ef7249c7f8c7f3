"""Deribit public/get_instrument results (future and option) -> CQC Instrument and Market.

Deribit sends numbers as JSON numbers (floats), written here in plain decimal notation from their shortest
repr. Inverse ("reversed") futures count quantity in USD (contract_size 10 USD, min_trade_amount 10); options
count it in the base coin (contract_size 1 BTC) and quote the premium in the coin while the strike is in USD
(counter_currency).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import (
    DERIBIT_CONTRACT_TYPE,
    DERIBIT_KIND,
    DERIBIT_OPTION_TYPE,
    DERIBIT_SETTLEMENT_PERIOD,
    Json,
    deribit_decimal,
    deribit_is_active,
    instrument_status,
    source_record,
    timestamp_ms,
)
from .ids import ListingIds


def deribit_instrument(payload: Json, ids: ListingIds) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """One get_instrument `result` of kind "future" or "option" -> (FUTURE / OPTION Instrument, Market)."""
    p = payload
    d = deribit_decimal
    kind = p["kind"]
    market_type = DERIBIT_KIND[kind]
    record = source_record("deribit", "public/get_instrument", payload, ids.receive_time)
    listing = timestamp_ms(p["creation_timestamp"])
    expiry = timestamp_ms(p["expiration_timestamp"])
    base, quote, settle, counter = (
        p["base_currency"],
        p["quote_currency"],
        p["settlement_currency"],
        p["counter_currency"],
    )
    # Contract size: USD for inverse futures (counter currency), the base coin for options.
    size_asset = counter if kind == "future" else base
    yymmdd = datetime.fromtimestamp(p["expiration_timestamp"] / 1000, tz=UTC).strftime("%y%m%d")
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type=kind.upper(),
        name=f"{p['instrument_name']} {'inverse' if p['instrument_type'] == 'reversed' else 'linear'} {kind}, "
        f"{d(p['contract_size'])} {size_asset} contracts",
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        settlement_asset_id=ids.assets[settle],
        contract_type=DERIBIT_CONTRACT_TYPE[p["instrument_type"]],  # type: ignore[arg-type]
        listing_time=listing,
        source_record=record,
    )
    cycle = DERIBIT_SETTLEMENT_PERIOD.get(p["settlement_period"], instrument_pb2.EXPIRY_CYCLE_OTHER)
    if kind == "future":
        instrument.future.expiry_time.CopyFrom(expiry)
        instrument.future.cycle = cycle  # type: ignore[assignment]
        instrument.future.settlement_method = instrument_pb2.SETTLEMENT_METHOD_CASH
        symbol = f"{base}/{counter}:{settle}-{yymmdd}"
    else:
        option_type = DERIBIT_OPTION_TYPE[p["option_type"]]
        instrument.option.CopyFrom(
            instrument_pb2.OptionSeries(
                option_type=option_type,
                exercise_style="european",  # every Deribit option is European (docs, "Options" spec)
                strike=d(p["strike"]),
                strike_asset_id=ids.assets[counter],
                premium_asset_id=ids.assets[quote],
                expiry_time=expiry,
                settlement_method=instrument_pb2.SETTLEMENT_METHOD_CASH,
                family=base,
                series_key=p["instrument_name"].rsplit("-", 2)[0],
                cycle=cycle,  # type: ignore[arg-type]
            )
        )
        symbol = f"{base}/{counter}:{settle}-{yymmdd}-{d(p['strike'])}-{option_type[0]}"

    status = deribit_is_active(p["is_active"])
    instrument.status = instrument_status(status)  # type: ignore[assignment]
    tick = d(p["tick_size"])
    steps = p.get("tick_size_steps") or []
    if steps:
        tick_rule = market_rules_pb2.TickRule(
            stepped=market_rules_pb2.SteppedTick(
                base_tick_size=tick,
                steps=[
                    market_rules_pb2.TickStep(above_price=d(s["above_price"]), tick_size=d(s["tick_size"]))
                    for s in steps
                ],
            )
        )
    else:
        tick_rule = market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=tick))
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["instrument_name"],
        venue_numeric_id=str(p["instrument_id"]),
        symbol=symbol,
        market_type=market_type,  # type: ignore[arg-type]
        venue_market_type=kind,
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        venue_settlement_symbol=settle,
        status=status,  # type: ignore[arg-type]
        quantity_unit=trading_pb2.QUANTITY_UNIT_USD if kind == "future" else trading_pb2.QUANTITY_UNIT_BASE,
        tick_size=tick,
        lot_size=d(p["min_trade_amount"]),
        tick_rule=tick_rule,
        limit_order_size=market_rules_pb2.OrderSizeLimits(min_quantity=d(p["min_trade_amount"])),
        fees=market_rules_pb2.FeeSchedule(
            maker_fee_rate=d(p["maker_commission"]),
            taker_fee_rate=d(p["taker_commission"]),
            block_trade_fee_rate=d(p["block_trade_commission"]),
            fee_side=market_rules_pb2.FEE_SIDE_SETTLEMENT,
        ),
        block_trade=market_rules_pb2.BlockTradeRules(
            min_quantity=d(p["block_trade_min_trade_amount"]), tick_size=d(p["block_trade_tick_size"])
        ),
        listing_time=listing,
        delisting_time=expiry,
        derivative=market_pb2.DerivativeSpecs(index_price_source=p["price_index"]),
        source_record=record,
        contract_size=d(p["contract_size"]),
        contract_size_asset_id=ids.assets[size_asset],
    )
    if kind == "future":
        market.leverage_limits.max_leverage = d(p["max_leverage"])
        # Leverage and liquidation fee are the listing's (Market.derivative.margin).
        market.derivative.margin.max_leverage = d(p["max_leverage"])
        market.derivative.margin.liquidation_fee_rate = d(p["max_liquidation_commission"])
    return instrument, market
