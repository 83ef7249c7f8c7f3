"""Ledgers of the documentation-example records of Deribit, Bybit and Coinbase (testdata/real-world).

Written from the proto comments, independently of the mappers' code paths (see ledgers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from cqc.markets.v1 import instrument_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .coinbase import coinbase_status
from .convert import (
    BYBIT_MARKET_STATUS,
    COINBASE_MARKET_STATUS,
    DERIBIT_CONTRACT_TYPE,
    DERIBIT_KIND,
    DERIBIT_SETTLEMENT_PERIOD,
    Json,
    bybit_base,
    deribit_is_active,
    instrument_status,
)
from .ledger import UNSET, Entry, Gap, Inapplicable, RawOnly, Target, mapped
from .ledgers import INS, MKT, asset, constant, dec, enum, millis, okx_dec, percent, same, tag, text


def _num(message: str, path: str) -> Target:
    """A Deribit JSON number, compared as a decimal (0.0005 == "0.0005")."""
    return Target(message, path, lambda v, _r: Decimal(repr(v)), "decimal")


# --- Deribit -----------------------------------------------------------------------------------------------------


def deribit_ledger(assets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """public/get_instrument result of kind "future" or "option"."""
    future = payload["kind"] == "future"
    sub = "future" if future else "option"
    status = lambda v, _r: deribit_is_active(v)  # noqa: E731
    entries: dict[str, Entry] = {
        "instrument_name": mapped(
            same(MKT, "venue_symbol"),
            *([] if future else [Target(INS, "option.series_key", lambda v, _r: v.rsplit("-", 2)[0])]),
        ),
        "instrument_id": mapped(text(MKT, "venue_numeric_id")),
        "kind": mapped(
            same(MKT, "venue_market_type"),
            enum(MKT, "market_type", DERIBIT_KIND),
            Target(INS, "instrument_type", lambda v, _r: v.upper()),
        ),
        "instrument_type": mapped(enum(INS, "contract_type", DERIBIT_CONTRACT_TYPE)),
        "is_active": mapped(
            Target(MKT, "status", status),
            Target(INS, "status", lambda v, _r: instrument_status(deribit_is_active(v))),
        ),
        "base_currency": mapped(
            same(MKT, "venue_base_symbol"),
            asset(INS, "base_asset_id", assets),
            *([] if future else [same(INS, "option.family")]),
        ),
        "quote_currency": mapped(
            same(MKT, "venue_quote_symbol"),
            asset(INS, "quote_asset_id", assets),
            *([] if future else [asset(INS, "option.premium_asset_id", assets)]),
        ),
        "settlement_currency": mapped(same(MKT, "venue_settlement_symbol"), asset(INS, "settlement_asset_id", assets)),
        # Futures: the USD the contract value and quantities are counted in (= quote); options: the strike's.
        "counter_currency": mapped(
            asset(MKT, "contract_size_asset_id", assets) if future else asset(INS, "option.strike_asset_id", assets)
        ),
        "contract_size": mapped(
            _num(MKT, "contract_size"),
            Target(
                MKT,
                "contract_size_asset_id",
                lambda _v, r: assets[r["counter_currency"] if future else r["base_currency"]],
            ),
            constant(MKT, "quantity_unit", trading_pb2.QUANTITY_UNIT_USD if future else trading_pb2.QUANTITY_UNIT_BASE),
        ),
        "creation_timestamp": mapped(millis(INS, "listing_time"), millis(MKT, "listing_time")),
        "expiration_timestamp": mapped(millis(INS, f"{sub}.expiry_time"), millis(MKT, "delisting_time")),
        "settlement_period": mapped(
            Target(INS, f"{sub}.cycle", lambda v, _r: DERIBIT_SETTLEMENT_PERIOD.get(v, 100)),
        ),
        "price_index": mapped(same(MKT, "derivative.index_price_source")),
        "tick_size": mapped(
            _num(MKT, "tick_size"),
            _num(
                MKT, "tick_rule.stepped.base_tick_size" if "tick_size_steps" in payload else "tick_rule.fixed.tick_size"
            ),
        ),
        "tick_size_steps[*].above_price": mapped(_num(MKT, "tick_rule.stepped.steps[{i}].above_price")),
        "tick_size_steps[*].tick_size": mapped(_num(MKT, "tick_rule.stepped.steps[{i}].tick_size")),
        "min_trade_amount": mapped(_num(MKT, "lot_size"), _num(MKT, "limit_order_size.min_quantity")),
        "maker_commission": mapped(
            _num(MKT, "fees.maker_fee_rate"),
            constant(MKT, "fees.fee_side", market_rules_pb2.FEE_SIDE_SETTLEMENT),
        ),
        "taker_commission": mapped(_num(MKT, "fees.taker_fee_rate")),
        "block_trade_commission": mapped(_num(MKT, "fees.block_trade_fee_rate")),
        "block_trade_min_trade_amount": mapped(_num(MKT, "block_trade.min_quantity")),
        "block_trade_tick_size": mapped(_num(MKT, "block_trade.tick_size")),
        # Kinds-specific keys.
        "max_leverage": mapped(_num(MKT, "derivative.margin.max_leverage"), _num(MKT, "leverage_limits.max_leverage")),
        "max_liquidation_commission": mapped(_num(MKT, "derivative.margin.liquidation_fee_rate")),
        "future_type": RawOnly("deprecated duplicate of instrument_type (Deribit docs: use instrument_type)"),
        "strike": mapped(_num(INS, "option.strike")),
        "option_type": mapped(Target(INS, "option.option_type", lambda v, _r: v.upper())),
    }
    return entries


# --- Bybit -------------------------------------------------------------------------------------------------------


def _bybit_time(message: str, path: str) -> Target:
    """Bybit ms epoch string; "0" = none (deliveryTime of a perpetual) -> unset."""
    return Target(message, path, lambda v, _r: UNSET if v in ("", "0") else int(v), "time")


def bybit_ledger(assets: Mapping[str, str], _payload: Json) -> dict[str, Entry]:
    """GET /v5/market/instruments-info element of a linear / inverse perpetual."""
    lev, pf, lot, risk = "leverageFilter", "priceFilter", "lotSizeFilter", "riskParameters"
    return {
        "symbol": mapped(same(MKT, "venue_symbol")),
        "contractType": mapped(
            tag("contractType"),
            constant(INS, "instrument_type", "PERPETUAL"),
            Target(
                INS,
                "contract_type",
                lambda v, _r: (
                    instrument_pb2.CONTRACT_TYPE_LINEAR
                    if v.startswith("Linear")
                    else instrument_pb2.CONTRACT_TYPE_INVERSE
                ),
            ),
        ),
        "status": mapped(
            enum(MKT, "status", BYBIT_MARKET_STATUS),
            same(MKT, "venue_status"),
            Target(INS, "status", lambda v, _r: instrument_status(BYBIT_MARKET_STATUS[v])),
        ),
        # "1000000BABYDOGE": the asset is BABYDOGE, one venue unit (one contract) is 1000000 of it.
        "baseCoin": mapped(
            same(MKT, "venue_base_symbol"),
            Target(INS, "base_asset_id", lambda v, _r: assets[bybit_base(v)[0]]),
            Target(MKT, "contract_size", lambda v, _r: Decimal(bybit_base(v)[1]), "decimal"),
            Target(MKT, "contract_size_asset_id", lambda v, _r: assets[bybit_base(v)[0]]),
        ),
        "quoteCoin": mapped(same(MKT, "venue_quote_symbol"), asset(INS, "quote_asset_id", assets)),
        "settleCoin": mapped(same(MKT, "venue_settlement_symbol"), asset(INS, "settlement_asset_id", assets)),
        "launchTime": mapped(millis(INS, "listing_time"), millis(MKT, "listing_time")),
        "deliveryTime": mapped(_bybit_time(MKT, "delisting_time")),
        "deliveryFeeRate": Inapplicable("delivery fee of dated futures (FeeSchedule.settlement_fee_rate); '' here"),
        "priceScale": mapped(Target(MKT, "precisions.price_decimals", lambda v, _r: int(v))),
        f"{lev}.minLeverage": mapped(dec(MKT, "leverage_limits.min_leverage")),
        f"{lev}.maxLeverage": mapped(
            dec(MKT, "leverage_limits.max_leverage"), dec(MKT, "derivative.margin.max_leverage")
        ),
        f"{lev}.leverageStep": mapped(dec(MKT, "leverage_limits.leverage_step")),
        f"{pf}.minPrice": mapped(dec(MKT, "price_limits.min_price")),
        f"{pf}.maxPrice": mapped(dec(MKT, "price_limits.max_price")),
        f"{pf}.tickSize": mapped(dec(MKT, "tick_size"), dec(MKT, "tick_rule.fixed.tick_size")),
        f"{lot}.maxOrderQty": mapped(dec(MKT, "limit_order_size.max_quantity")),
        f"{lot}.minOrderQty": mapped(
            dec(MKT, "limit_order_size.min_quantity"), dec(MKT, "market_order_size.min_quantity")
        ),
        f"{lot}.qtyStep": mapped(dec(MKT, "lot_size")),
        f"{lot}.postOnlyMaxOrderQty": mapped(okx_dec(MKT, "order_limits.max_post_only_order_size")),
        f"{lot}.maxMktOrderQty": mapped(dec(MKT, "market_order_size.max_quantity")),
        f"{lot}.minNotionalValue": mapped(
            okx_dec(MKT, "notional_limits.min_notional"),
            Target(MKT, "notional_limits.notional_asset_id", lambda _v, r: assets[r["quoteCoin"]]),
        ),
        "unifiedMarginTrade": mapped(
            Target(MKT, "venue_tags", lambda v, _r: [str(v).lower()], "tags", "unifiedMarginTrade")
        ),
        "fundingInterval": mapped(
            Target(MKT, "derivative.funding.funding_interval", lambda v, _r: int(v) * 60_000, "duration")
        ),
        "copyTrading": mapped(tag("copyTrading")),
        "upperFundingRate": mapped(okx_dec(MKT, "derivative.funding.funding_rate_cap")),
        "lowerFundingRate": mapped(okx_dec(MKT, "derivative.funding.funding_rate_floor")),
        "isPreListing": mapped(same(MKT, "derivative.pre_listing")),
        "preListingInfo": Gap(
            "pre-market auction schedule (curAuctionPhase, phases[{phase, startTime, endTime}], auctionFeeInfo): "
            "the contract has MARKET_STATUS_PRE_OPEN / auction_end_time and DerivativeSpecs.pre_listing_end_time, "
            "not the phase table; null on a normal perpetual",
            (None,),
        ),
        f"{risk}.priceLimitRatioX": mapped(okx_dec(MKT, "price_bands.price_limit_ratio_x")),
        f"{risk}.priceLimitRatioY": mapped(okx_dec(MKT, "price_bands.price_limit_ratio_y")),
        "displayName": mapped(same(MKT, "display_name")),
        "symbolType": mapped(tag("symbolType"), same(MKT, "fees.fee_group")),
    }


# --- Coinbase ----------------------------------------------------------------------------------------------------


def coinbase_ledger(assets: Mapping[str, str], _payload: Json) -> dict[str, Entry]:
    """GET /products/{product_id}."""
    return {
        "id": mapped(same(MKT, "venue_symbol")),
        "base_currency": mapped(same(MKT, "venue_base_symbol"), asset(INS, "base_asset_id", assets)),
        "quote_currency": mapped(same(MKT, "venue_quote_symbol"), asset(INS, "quote_asset_id", assets)),
        "quote_increment": mapped(dec(MKT, "tick_size"), dec(MKT, "tick_rule.fixed.tick_size")),
        "base_increment": mapped(dec(MKT, "lot_size"), constant(MKT, "quantity_unit", trading_pb2.QUANTITY_UNIT_BASE)),
        "display_name": mapped(same(MKT, "display_name")),
        "min_market_funds": mapped(
            okx_dec(MKT, "notional_limits.min_notional"),
            Target(MKT, "notional_limits.notional_asset_id", lambda _v, r: assets[r["quote_currency"]]),
        ),
        "margin_enabled": mapped(same(MKT, "permissions.margin_trading_allowed")),
        # The order-acceptance booleans fold into the one trading state, Market.status (MarketStatus comment).
        "post_only": mapped(Target(MKT, "status", lambda _v, r: coinbase_status(r))),
        "limit_only": mapped(Target(MKT, "status", lambda _v, r: coinbase_status(r))),
        "cancel_only": mapped(Target(MKT, "status", lambda _v, r: coinbase_status(r))),
        "status": mapped(
            Target(MKT, "status", lambda _v, r: coinbase_status(r)),
            same(MKT, "venue_status"),
            Target(INS, "status", lambda v, _r: instrument_status(COINBASE_MARKET_STATUS[v])),
        ),
        "status_message": mapped(same(MKT, "status_message")),
        "auction_mode": mapped(Target(MKT, "status", lambda _v, r: coinbase_status(r))),
        "trading_disabled": mapped(Target(MKT, "status", lambda _v, r: coinbase_status(r))),
        "fx_stablecoin": mapped(
            Target(MKT, "venue_tags", lambda v, _r: ["true"] if v else [], "tags", "fx_stablecoin")
        ),
        "max_slippage_percentage": mapped(percent(MKT, "price_bands.max_slippage")),
        "high_bid_limit_percentage": mapped(percent(MKT, "price_bands.high_bid_limit")),
    }
