"""Bybit V5 GET /v5/market/instruments-info?category=linear|inverse elements -> CQC Instrument and Market.

Bybit sends numbers as strings; deliveryTime "0" and deliveryFeeRate "" mean "not applicable" on a perpetual;
fundingInterval is minutes. A multiplier-prefixed baseCoin ("1000000BABYDOGE") is a unit of 10^k of the asset:
the instrument's base is the asset itself, contract_size the multiplier, and quantities count those units
(QUANTITY_UNIT_CONTRACTS).
"""

from __future__ import annotations

from decimal import Decimal

from google.protobuf.duration_pb2 import Duration

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import (
    BYBIT_CONTRACT_TYPE,
    BYBIT_MARKET_STATUS,
    Json,
    bybit_base,
    bybit_ms,
    instrument_status,
    okx_optional,
    source_record,
)
from .ids import ListingIds


def bybit_instrument(
    payload: Json, ids: ListingIds, category: str = "linear"
) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """One element of result.list of a linear / inverse perpetual -> (PERPETUAL Instrument, Market)."""
    p = payload
    market_type, contract_type = BYBIT_CONTRACT_TYPE[p["contractType"]]
    assert market_type == market_pb2.MARKET_TYPE_PERPETUAL, "dated Bybit futures: not mapped yet"
    base, multiplier = bybit_base(p["baseCoin"])
    quote, settle = p["quoteCoin"], p["settleCoin"]
    record = source_record("bybit", f"GET /v5/market/instruments-info?category={category}", payload, ids.receive_time)
    listing = bybit_ms(p["launchTime"])
    delisting = bybit_ms(p["deliveryTime"])
    lev, price, lot, risk = p["leverageFilter"], p["priceFilter"], p["lotSizeFilter"], p["riskParameters"]

    # Funding, leverage and pre-market status are the listing's (Market.derivative), not the instrument's.
    derivative = market_pb2.DerivativeSpecs(
        funding=market_pb2.FundingSpecs(
            funding_interval=Duration(seconds=60 * int(p["fundingInterval"])),
            funding_rate_cap=okx_optional(p["upperFundingRate"]),
            funding_rate_floor=okx_optional(p["lowerFundingRate"]),
        ),
        margin=market_rules_pb2.MarginTerms(max_leverage=lev["maxLeverage"]),
        pre_listing=p["isPreListing"],
    )
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="PERPETUAL",
        name=f"{p['symbol']} {'linear' if contract_type == instrument_pb2.CONTRACT_TYPE_LINEAR else 'inverse'} "
        f"perpetual, {multiplier} {base} contracts",
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        settlement_asset_id=ids.assets[settle],
        contract_type=contract_type,  # type: ignore[arg-type]
        listing_time=listing,
        perpetual=instrument_pb2.PerpContract(),
        source_record=record,
    )
    status = BYBIT_MARKET_STATUS[p["status"]]
    instrument.status = instrument_status(status)  # type: ignore[assignment]
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["symbol"],
        symbol=f"{p['baseCoin']}/{quote}:{settle}",
        display_name=p["displayName"],
        market_type=market_type,  # type: ignore[arg-type]
        venue_market_type=category,
        venue_tags=[
            f"contractType:{p['contractType']}",
            f"copyTrading:{p['copyTrading']}",
            f"unifiedMarginTrade:{str(p['unifiedMarginTrade']).lower()}",
            *([f"symbolType:{p['symbolType']}"] if p.get("symbolType") else []),
        ],
        venue_base_symbol=p["baseCoin"],
        venue_quote_symbol=quote,
        venue_settlement_symbol=settle,
        status=status,  # type: ignore[arg-type]
        venue_status=p["status"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_CONTRACTS if multiplier != "1" else trading_pb2.QUANTITY_UNIT_BASE,
        tick_size=price["tickSize"],
        lot_size=lot["qtyStep"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=price["tickSize"])),
        precisions=market_rules_pb2.Precisions(price_decimals=int(p["priceScale"])),
        limit_order_size=market_rules_pb2.OrderSizeLimits(
            min_quantity=lot["minOrderQty"], max_quantity=lot["maxOrderQty"]
        ),
        market_order_size=market_rules_pb2.OrderSizeLimits(
            min_quantity=lot["minOrderQty"], max_quantity=lot["maxMktOrderQty"]
        ),
        notional_limits=market_rules_pb2.NotionalLimits(
            min_notional=okx_optional(lot.get("minNotionalValue", "")), notional_asset_id=ids.assets[quote]
        ),
        price_limits=market_rules_pb2.PriceLimits(min_price=price["minPrice"], max_price=price["maxPrice"]),
        price_bands=market_rules_pb2.PriceBands(
            price_limit_ratio_x=okx_optional(risk["priceLimitRatioX"]),
            price_limit_ratio_y=okx_optional(risk["priceLimitRatioY"]),
        ),
        leverage_limits=market_rules_pb2.LeverageLimits(
            min_leverage=lev["minLeverage"], max_leverage=lev["maxLeverage"], leverage_step=lev["leverageStep"]
        ),
        order_limits=market_rules_pb2.OrderLimits(max_post_only_order_size=okx_optional(lot["postOnlyMaxOrderQty"])),
        fees=market_rules_pb2.FeeSchedule(fee_group=p.get("symbolType", "")),
        listing_time=listing,
        delisting_time=delisting,
        derivative=derivative,
        source_record=record,
        contract_size=multiplier,
        contract_size_asset_id=ids.assets[base],
    )
    assert Decimal(multiplier) > 0
    return instrument, market
