"""The ledgers of the record kinds in testdata/real-world: every payload key -> contract field(s) + conversion.

The expectations are written from the proto comments, independently of the mappers' code paths; only the
vocabularies (venue code -> enum value) and the tiny unit conversions of convert.py are shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cqc.venues.v1 import trading_pb2

from .convert import (
    BINANCE_CONTRACT_KIND,
    BINANCE_EXEC_TYPE,
    BINANCE_FUTURES_CONTRACT_TYPE,
    BINANCE_FUTURES_ORDER_TYPES,
    BINANCE_MARKET_STATUS,
    BINANCE_ORDER_STATUS,
    BINANCE_POST_ONLY_CODES,
    BINANCE_REJECT_REASON,
    BINANCE_SENTINEL_FROM_MS,
    BINANCE_SIDE,
    BINANCE_SPOT_ORDER_TYPES,
    BINANCE_STP_MODE,
    BINANCE_TERMINAL_STATUS,
    BINANCE_TIME_IN_FORCE,
    OKX_ALIAS,
    OKX_CONTRACT_TYPE,
    OKX_INST_TYPE,
    OKX_MARKET_STATUS,
    Json,
    instrument_status,
    unified,
)
from .ledger import UNSET, Entry, Inapplicable, RawOnly, Target, mapped

INS, MKT, REP = "instrument", "market", "report"

# --- Target constructors: one per documented conversion ------------------------------------------------------


def same(message: str, path: str) -> Target:
    """Verbatim: strings, booleans, small integers, lists of codes."""
    return Target(message, path, lambda v, _r: v)


def text(message: str, path: str) -> Target:
    """A numeric venue id carried as a decimal string (venue_order_id, venue_numeric_id)."""
    return Target(message, path, lambda v, _r: str(v))


def dec(message: str, path: str) -> Target:
    """A decimal string, compared as a number ("0.01000000" == "0.01")."""
    return Target(message, path, lambda v, _r: Decimal(v), "decimal")


def binance_rule(message: str, path: str) -> Target:
    """Binance filter value; zero disables the rule -> unset (filters.md; OrderSizeLimits comment)."""
    return Target(message, path, lambda v, _r: UNSET if Decimal(v) == 0 else Decimal(v), "decimal")


def okx_dec(message: str, path: str) -> Target:
    """OKX decimal string; "" (not applicable) -> unset."""
    return Target(message, path, lambda v, _r: UNSET if v == "" else Decimal(v), "decimal")


def percent(message: str, path: str) -> Target:
    """Percent string -> fraction ("2.5000" -> 0.025; MarginTerms, OrderLimits.max_position_share)."""
    return Target(message, path, lambda v, _r: UNSET if v == "" else Decimal(v) / 100, "decimal")


def millis(message: str, path: str) -> Target:
    """Epoch milliseconds (number, or OKX string; "" -> unset) -> Timestamp."""
    return Target(message, path, lambda v, _r: UNSET if v == "" else int(v), "time")


def binance_delivery(message: str, path: str) -> Target:
    """Binance deliveryDate on a perpetual: the year-2100 sentinel is dropped (Instrument, PerpContract)."""
    return Target(message, path, lambda v, _r: UNSET if v >= BINANCE_SENTINEL_FROM_MS else v, "time")


def avg_price_minutes(message: str, path: str) -> Target:
    """Binance avgPriceMins -> Duration (5 -> "300s")."""
    return Target(message, path, lambda v, _r: v * 60_000, "duration")


def enum(message: str, path: str, table: Mapping[str, int]) -> Target:
    return Target(message, path, lambda v, _r: table[v])


def asset(message: str, path: str, assets: Mapping[str, str]) -> Target:
    """A venue asset code resolved to the registry's asset id."""
    return Target(message, path, lambda v, _r: assets[v])


def constant(message: str, path: str, value: Any, kind: str = "plain") -> Target:
    return Target(message, path, lambda _v, _r: value, kind)


def present(message: str, path: str) -> Target:
    """The key's block exists (a Binance filterType selects the rule message its other keys fill)."""
    return Target(message, path, lambda _v, _r: True, "present")


def tag(key: str) -> Target:
    """Kept as Market.venue_tags "<key>:<value>" items (one per list element; none for OKX "")."""

    def expect(value: Json, _root: Json) -> list[str]:
        values = value if isinstance(value, list) else [value]
        return [str(v) for v in values if v != ""]

    return Target(MKT, "venue_tags", expect, "tags", key)


# --- Binance -----------------------------------------------------------------------------------------------------


def _binance_filters(prefix: str) -> dict[str, Entry]:
    """Binance symbol filters (filters.md), with spot's and USD-M's spellings of the same rule."""
    f = f"{prefix}filters"
    return {
        f"{f}[PRICE_FILTER].filterType": mapped(present(MKT, "price_limits")),
        f"{f}[PRICE_FILTER].minPrice": mapped(binance_rule(MKT, "price_limits.min_price")),
        f"{f}[PRICE_FILTER].maxPrice": mapped(binance_rule(MKT, "price_limits.max_price")),
        f"{f}[PRICE_FILTER].tickSize": mapped(
            binance_rule(MKT, "tick_size"), binance_rule(MKT, "tick_rule.fixed.tick_size")
        ),
        f"{f}[PERCENT_PRICE].filterType": mapped(present(MKT, "price_bands")),
        f"{f}[PERCENT_PRICE].multiplierUp": mapped(dec(MKT, "price_bands.multiplier_up")),
        f"{f}[PERCENT_PRICE].multiplierDown": mapped(dec(MKT, "price_bands.multiplier_down")),
        f"{f}[PERCENT_PRICE].avgPriceMins": mapped(avg_price_minutes(MKT, "price_bands.average_price_window")),
        f"{f}[PERCENT_PRICE].multiplierDecimal": mapped(
            Target(MKT, "price_bands.multiplier_decimals", lambda v, _r: int(v))
        ),
        f"{f}[LOT_SIZE].filterType": mapped(present(MKT, "limit_order_size")),
        f"{f}[LOT_SIZE].minQty": mapped(binance_rule(MKT, "limit_order_size.min_quantity")),
        f"{f}[LOT_SIZE].maxQty": mapped(binance_rule(MKT, "limit_order_size.max_quantity")),
        f"{f}[LOT_SIZE].stepSize": mapped(
            binance_rule(MKT, "limit_order_size.step_size"), binance_rule(MKT, "lot_size")
        ),
        f"{f}[MARKET_LOT_SIZE].filterType": mapped(present(MKT, "market_order_size")),
        f"{f}[MARKET_LOT_SIZE].minQty": mapped(binance_rule(MKT, "market_order_size.min_quantity")),
        f"{f}[MARKET_LOT_SIZE].maxQty": mapped(binance_rule(MKT, "market_order_size.max_quantity")),
        f"{f}[MARKET_LOT_SIZE].stepSize": mapped(binance_rule(MKT, "market_order_size.step_size")),
        f"{f}[MIN_NOTIONAL].filterType": mapped(present(MKT, "notional_limits")),
        f"{f}[MIN_NOTIONAL].minNotional": mapped(binance_rule(MKT, "notional_limits.min_notional")),
        f"{f}[MIN_NOTIONAL].notional": mapped(binance_rule(MKT, "notional_limits.min_notional")),
        f"{f}[MIN_NOTIONAL].applyToMarket": mapped(same(MKT, "notional_limits.apply_min_to_market")),
        f"{f}[MIN_NOTIONAL].avgPriceMins": mapped(avg_price_minutes(MKT, "notional_limits.average_price_window")),
        f"{f}[ICEBERG_PARTS].filterType": mapped(present(MKT, "order_limits")),
        f"{f}[ICEBERG_PARTS].limit": mapped(same(MKT, "order_limits.max_iceberg_parts")),
        f"{f}[MAX_NUM_ORDERS].filterType": mapped(present(MKT, "order_limits")),
        f"{f}[MAX_NUM_ORDERS].maxNumOrders": mapped(same(MKT, "order_limits.max_open_orders")),
        f"{f}[MAX_NUM_ORDERS].limit": mapped(same(MKT, "order_limits.max_open_orders")),
        f"{f}[MAX_NUM_ALGO_ORDERS].filterType": mapped(present(MKT, "order_limits")),
        f"{f}[MAX_NUM_ALGO_ORDERS].maxNumAlgoOrders": mapped(same(MKT, "order_limits.max_algo_orders")),
        f"{f}[MAX_NUM_ALGO_ORDERS].limit": mapped(same(MKT, "order_limits.max_algo_orders")),
    }


def _status() -> Entry:
    return mapped(
        enum(MKT, "status", BINANCE_MARKET_STATUS),
        same(MKT, "venue_status"),
        Target(INS, "status", lambda v, _r: instrument_status(BINANCE_MARKET_STATUS[v])),
    )


def binance_spot_ledger(assets: Mapping[str, str]) -> dict[str, Entry]:
    """GET /api/v3/exchangeInfo symbol (2022 field set; see testdata/real-world/README.md)."""
    return {
        "symbol": mapped(same(MKT, "venue_symbol")),
        "status": _status(),
        "baseAsset": mapped(same(MKT, "venue_base_symbol"), asset(INS, "base_asset_id", assets)),
        "baseAssetPrecision": mapped(same(MKT, "precisions.base_asset_decimals")),
        "quoteAsset": mapped(same(MKT, "venue_quote_symbol"), asset(INS, "quote_asset_id", assets)),
        # Deprecated duplicate: the Precisions comment keeps it only in the source record, so the ledger
        # asserts it carries the same value as quoteAssetPrecision (else it would be lost).
        "quotePrecision": mapped(same(MKT, "precisions.quote_asset_decimals")),
        "quoteAssetPrecision": mapped(same(MKT, "precisions.quote_asset_decimals")),
        "baseCommissionPrecision": mapped(same(MKT, "precisions.base_commission_decimals")),
        "quoteCommissionPrecision": mapped(same(MKT, "precisions.quote_commission_decimals")),
        "orderTypes": mapped(
            same(MKT, "order_features.venue_order_types"),
            Target(MKT, "order_features.order_types", lambda v, _r: unified(v, BINANCE_SPOT_ORDER_TYPES)),
            Target(MKT, "order_features.post_only_allowed", lambda v, _r: "LIMIT_MAKER" in v),
        ),
        "icebergAllowed": mapped(same(MKT, "order_features.iceberg_allowed")),
        "ocoAllowed": mapped(same(MKT, "order_features.oco_allowed")),
        "quoteOrderQtyMarketAllowed": mapped(same(MKT, "order_features.quote_order_quantity_market_allowed")),
        "isSpotTradingAllowed": mapped(same(MKT, "permissions.spot_trading_allowed")),
        "isMarginTradingAllowed": mapped(same(MKT, "permissions.margin_trading_allowed")),
        "permissions": mapped(same(MKT, "permissions.permissions")),
        **_binance_filters(""),
    }


def binance_usdm_ledger(assets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """GET /fapi/v1/exchangeInfo: top-level futuresType and assets[] plus one `symbols` element as `symbol`."""
    contract_type = payload["symbol"]["contractType"]
    perpetual = contract_type == "PERPETUAL"
    delivery = (
        mapped(binance_delivery(MKT, "delisting_time")) if perpetual else mapped(millis(INS, "future.expiry_time"))
    )
    contract_kind = [
        same(MKT, "venue_market_type"),
        Target(MKT, "market_type", lambda v, _r: BINANCE_CONTRACT_KIND[v][0]),
        Target(INS, "instrument_type", lambda v, _r: "PERPETUAL" if v == "PERPETUAL" else "FUTURE"),
    ]
    if not perpetual:
        contract_kind.append(Target(INS, "future.cycle", lambda v, _r: BINANCE_CONTRACT_KIND[v][1]))
    return {
        "futuresType": mapped(tag("futuresType"), enum(INS, "contract_type", BINANCE_FUTURES_CONTRACT_TYPE)),
        "assets[*].asset": mapped(asset(MKT, "derivative.margin.margin_assets[{i}].asset_id", assets)),
        "assets[*].marginAvailable": mapped(same(MKT, "derivative.margin.margin_assets[{i}].margin_available")),
        "assets[*].autoAssetExchange": mapped(dec(MKT, "derivative.margin.margin_assets[{i}].auto_exchange_threshold")),
        "symbol.symbol": mapped(same(MKT, "venue_symbol")),
        "symbol.pair": mapped(same(MKT, "derivative.index_price_source")),
        "symbol.contractType": mapped(*contract_kind),
        "symbol.deliveryDate": delivery,
        "symbol.onboardDate": mapped(millis(INS, "listing_time"), millis(MKT, "listing_time")),
        "symbol.status": _status(),
        "symbol.maintMarginPercent": mapped(percent(MKT, "derivative.margin.maintenance_margin_rate")),
        "symbol.requiredMarginPercent": mapped(percent(MKT, "derivative.margin.initial_margin_rate")),
        "symbol.baseAsset": mapped(
            same(MKT, "venue_base_symbol"),
            asset(INS, "base_asset_id", assets),
            # USD-M quantities are in base: one contract = 1 base (Market.contract_size comment).
            asset(MKT, "contract_size_asset_id", assets),
            constant(MKT, "contract_size", Decimal(1), "decimal"),
            constant(MKT, "quantity_unit", trading_pb2.QUANTITY_UNIT_BASE),
        ),
        "symbol.quoteAsset": mapped(same(MKT, "venue_quote_symbol"), asset(INS, "quote_asset_id", assets)),
        "symbol.marginAsset": mapped(same(MKT, "venue_settlement_symbol"), asset(INS, "settlement_asset_id", assets)),
        "symbol.pricePrecision": mapped(same(MKT, "precisions.price_decimals")),
        "symbol.quantityPrecision": mapped(same(MKT, "precisions.quantity_decimals")),
        "symbol.baseAssetPrecision": mapped(same(MKT, "precisions.base_asset_decimals")),
        "symbol.quotePrecision": mapped(same(MKT, "precisions.quote_asset_decimals")),
        "symbol.underlyingType": mapped(tag("underlyingType")),
        "symbol.underlyingSubType": mapped(tag("underlyingSubType")),
        "symbol.settlePlan": mapped(tag("settlePlan")),
        "symbol.triggerProtect": mapped(dec(MKT, "price_bands.trigger_protect")),
        "symbol.liquidationFee": mapped(dec(MKT, "derivative.margin.liquidation_fee_rate")),
        "symbol.marketTakeBound": mapped(dec(MKT, "price_bands.market_take_bound")),
        "symbol.orderTypes": mapped(
            same(MKT, "order_features.venue_order_types"),
            Target(MKT, "order_features.order_types", lambda v, _r: unified(v, BINANCE_FUTURES_ORDER_TYPES)),
            Target(MKT, "order_features.trailing_stop_allowed", lambda v, _r: "TRAILING_STOP_MARKET" in v),
        ),
        "symbol.timeInForce": mapped(
            same(MKT, "order_features.venue_time_in_forces"),
            # GTX = GTC + post-only (TimeInForce comment): no time-in-force value of its own.
            Target(
                MKT,
                "order_features.time_in_forces",
                lambda v, _r: unified(v, BINANCE_TIME_IN_FORCE, skip=frozenset({"GTX"})),
            ),
            Target(MKT, "order_features.post_only_allowed", lambda v, _r: "GTX" in v),
        ),
        **_binance_filters("symbol."),
    }


def _zero_unset(message: str, path: str) -> Target:
    """Binance executionReport "0.00000000" = not applicable -> unset (ExecutionReport comment)."""
    return Target(message, path, lambda v, _r: UNSET if Decimal(v) == 0 else Decimal(v), "decimal")


def _if_trade(path: str) -> Target:
    """l / L: the fill's quantity and price, set on TRADE reports only ("0.00000000" otherwise)."""
    return Target(REP, path, lambda v, r: Decimal(v) if r["x"] == "TRADE" else UNSET, "decimal")


def _leaves(z: Json, r: Json) -> Any:
    """ExecutionReport.leaves_quantity: q - z while open, 0 once terminal."""
    if r["X"] in BINANCE_TERMINAL_STATUS:
        return Decimal(0)
    return Decimal(r["q"]) - Decimal(z) if Decimal(r["q"]) > 0 else UNSET


def _liquidity(maker: Json, r: Json) -> int:
    if r["x"] != "TRADE":
        return trading_pb2.LIQUIDITY_SIDE_UNSPECIFIED
    return trading_pb2.LIQUIDITY_SIDE_MAKER if maker else trading_pb2.LIQUIDITY_SIDE_TAKER


def binance_execution_report_ledger(assets: Mapping[str, str], markets: Mapping[str, str]) -> dict[str, Entry]:
    """Spot User Data Stream executionReport (user-data-stream.md field legend)."""
    return {
        "e": RawOnly("event type, always 'executionReport': it selects this mapper, the message type says it"),
        "E": mapped(millis(REP, "event_time")),
        "s": mapped(Target(REP, "market_id", lambda v, _r: markets[v])),
        "c": mapped(same(REP, "client_order_id")),
        "S": mapped(enum(REP, "side", BINANCE_SIDE)),
        "o": mapped(
            same(REP, "venue_order_type"),
            enum(REP, "order_type", BINANCE_SPOT_ORDER_TYPES),
            Target(REP, "post_only", lambda v, r: v in BINANCE_POST_ONLY_CODES or r["f"] in BINANCE_POST_ONLY_CODES),
        ),
        "f": mapped(enum(REP, "time_in_force", BINANCE_TIME_IN_FORCE)),
        "q": mapped(_zero_unset(REP, "order_quantity")),
        "p": mapped(_zero_unset(REP, "order_price")),
        "P": mapped(_zero_unset(REP, "trigger_price")),
        "F": mapped(_zero_unset(REP, "display_quantity")),
        "g": mapped(Target(REP, "venue_order_list_id", lambda v, _r: UNSET if v == -1 else str(v))),
        "C": mapped(same(REP, "orig_client_order_id")),
        "x": mapped(same(REP, "venue_exec_type"), enum(REP, "exec_type", BINANCE_EXEC_TYPE)),
        "X": mapped(same(REP, "venue_order_status"), enum(REP, "order_status", BINANCE_ORDER_STATUS)),
        "r": mapped(
            Target(
                REP, "reject_reason", lambda v, _r: BINANCE_REJECT_REASON.get(v, trading_pb2.ORDER_REJECT_REASON_OTHER)
            ),
            Target(REP, "venue_reason_code", lambda v, _r: "" if v == "NONE" else v),
        ),
        "i": mapped(text(REP, "venue_order_id")),
        "l": mapped(_if_trade("last_quantity")),
        "z": mapped(dec(REP, "cum_quantity"), Target(REP, "leaves_quantity", _leaves, "decimal")),
        "L": mapped(_if_trade("last_price")),
        "n": mapped(Target(REP, "commission.amount", lambda v, r: UNSET if r["N"] is None else Decimal(v), "decimal")),
        "N": mapped(Target(REP, "commission.asset_id", lambda v, _r: UNSET if v is None else assets[v])),
        "T": mapped(millis(REP, "transact_time")),
        "t": mapped(Target(REP, "venue_trade_id", lambda v, _r: "" if v == -1 else str(v))),
        "v": mapped(Target(REP, "trade_prevention.venue_prevention_id", lambda v, _r: str(v))),
        "I": mapped(text(REP, "venue_execution_id")),
        "w": mapped(same(REP, "is_working")),
        "m": mapped(Target(REP, "liquidity_side", _liquidity)),
        "M": RawOnly("documented as 'Ignore' in user-data-stream.md"),
        "O": mapped(millis(REP, "order_create_time")),
        "Z": mapped(
            dec(REP, "cum_quote_quantity"),
            # Average price = Z / z (user-data-stream.md); unset before the first fill.
            Target(
                REP,
                "avg_price",
                lambda v, r: Decimal(v) / Decimal(r["z"]) if Decimal(r["z"]) > 0 else UNSET,
                "decimal",
            ),
        ),
        "Y": mapped(_zero_unset(REP, "last_quote_quantity")),
        "Q": mapped(_zero_unset(REP, "quote_order_quantity")),
        "W": mapped(millis(REP, "working_time")),
        "V": mapped(enum(REP, "self_trade_prevention_mode", BINANCE_STP_MODE)),
    }


# --- OKX ---------------------------------------------------------------------------------------------------------


def _okx_auction_end(_value: Json, r: Json) -> Any:
    """contTdSwTime supersedes auctionEndTime; both name the end of the opening call auction."""
    end = r["contTdSwTime"] or r["auctionEndTime"]
    return UNSET if end == "" else int(end)


def okx_ledger(assets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """GET /api/v5/public/instruments element of a SWAP or FUTURES instrument."""
    perpetual = payload["instType"] == "SWAP"
    entries: dict[str, Entry] = {
        "alias": (
            Inapplicable("expiry alias of dated FUTURES (FutureContract.cycle); '' on SWAP")
            if perpetual
            else mapped(
                Target(INS, "future.cycle", lambda v, _r: OKX_ALIAS.get(v, 0)),
            )
        ),
        "auctionEndTime": mapped(Target(MKT, "auction_end_time", _okx_auction_end, "time")),
        "contTdSwTime": mapped(Target(MKT, "auction_end_time", _okx_auction_end, "time")),
        "baseCcy": mapped(same(MKT, "venue_base_symbol")),
        "quoteCcy": mapped(same(MKT, "venue_quote_symbol")),
        "category": mapped(same(MKT, "fees.fee_group"), tag("category")),
        "ctMult": mapped(okx_dec(MKT, "contract_multiplier")),
        "ctType": mapped(enum(INS, "contract_type", OKX_CONTRACT_TYPE)),
        # contract_size "already includes" ctMult (Market.contract_multiplier); quantities are contracts.
        "ctVal": mapped(
            Target(MKT, "contract_size", lambda v, r: Decimal(v) * Decimal(r["ctMult"]), "decimal"),
            constant(MKT, "quantity_unit", trading_pb2.QUANTITY_UNIT_CONTRACTS),
        ),
        "ctValCcy": mapped(asset(MKT, "contract_size_asset_id", assets)),
        # On a SWAP, expTime is the scheduled delisting ("" while none); on FUTURES the expiry.
        "expTime": (mapped(millis(MKT, "delisting_time")) if perpetual else mapped(millis(INS, "future.expiry_time"))),
        "futureSettlement": mapped(Target(MKT, "daily_settlement", lambda v, _r: v)),
        "instFamily": mapped(tag("instFamily")),
        "instId": mapped(same(MKT, "venue_symbol")),
        "instIdCode": mapped(text(MKT, "venue_numeric_id")),
        "instType": mapped(
            same(MKT, "venue_market_type"),
            enum(MKT, "market_type", OKX_INST_TYPE),
            Target(INS, "instrument_type", lambda v, _r: "PERPETUAL" if v == "SWAP" else "FUTURE"),
        ),
        "lever": mapped(okx_dec(MKT, "leverage_limits.max_leverage"), okx_dec(MKT, "derivative.margin.max_leverage")),
        "listTime": mapped(millis(INS, "listing_time"), millis(MKT, "listing_time")),
        "lotSz": mapped(okx_dec(MKT, "lot_size")),
        "tickSz": mapped(okx_dec(MKT, "tick_size"), okx_dec(MKT, "tick_rule.fixed.tick_size")),
        "minSz": mapped(okx_dec(MKT, "limit_order_size.min_quantity"), okx_dec(MKT, "market_order_size.min_quantity")),
        "maxLmtSz": mapped(okx_dec(MKT, "limit_order_size.max_quantity")),
        "maxMktSz": mapped(okx_dec(MKT, "market_order_size.max_quantity")),
        # maxLmtAmt / maxMktAmt are USD notionals, for limit and market orders respectively (NotionalLimits).
        "maxLmtAmt": mapped(
            okx_dec(MKT, "notional_limits.max_notional"),
            Target(MKT, "notional_limits.apply_max_to_market", lambda v, _r: UNSET if v == "" else False),
            Target(
                MKT,
                "notional_limits.notional_asset_id",
                lambda v, r: UNSET if v == "" and r["maxMktAmt"] == "" else assets["USD"],
            ),
        ),
        "maxMktAmt": mapped(okx_dec(MKT, "notional_limits.max_market_order_notional")),
        "maxIcebergSz": mapped(okx_dec(MKT, "order_limits.max_iceberg_order_size")),
        "maxTriggerSz": mapped(okx_dec(MKT, "order_limits.max_trigger_order_size")),
        "maxTwapSz": mapped(okx_dec(MKT, "order_limits.max_twap_order_size")),
        "maxStopSz": mapped(okx_dec(MKT, "order_limits.max_stop_order_size")),
        "maxPlatOILmt": mapped(okx_dec(MKT, "order_limits.max_platform_open_interest")),
        "posLmtAmt": mapped(okx_dec(MKT, "order_limits.max_position_notional")),
        "posLmtPct": mapped(percent(MKT, "order_limits.max_position_share")),
        "openType": mapped(tag("openType")),
        "optType": Inapplicable("option type C/P: OPTION only (OptionSeries.option_type); '' otherwise"),
        "stk": Inapplicable("strike: OPTION only (OptionSeries.strike); '' otherwise"),
        "preMktSwTime": (
            mapped(millis(MKT, "derivative.pre_listing_end_time"))
            if perpetual
            else Inapplicable("pre-market switch time: SWAP only (DerivativeSpecs.pre_listing_end_time)")
        ),
        "ruleType": mapped(
            tag("ruleType"),
            *([Target(MKT, "derivative.pre_listing", lambda v, _r: v == "pre_market")] if perpetual else []),
        ),
        "settleCcy": mapped(same(MKT, "venue_settlement_symbol"), asset(INS, "settlement_asset_id", assets)),
        "state": mapped(
            enum(MKT, "status", OKX_MARKET_STATUS),
            same(MKT, "venue_status"),
            Target(INS, "status", lambda v, _r: instrument_status(OKX_MARKET_STATUS[v])),
        ),
        "tradeQuoteCcyList": mapped(Target(MKT, "trade_quote_asset_ids", lambda v, _r: [assets[code] for code in v])),
        "uly": mapped(
            same(MKT, "derivative.index_price_source"),
            Target(INS, "base_asset_id", lambda v, _r: assets[v.split("-")[0]]),
            Target(INS, "quote_asset_id", lambda v, _r: assets[v.split("-")[1]]),
        ),
    }
    return entries
