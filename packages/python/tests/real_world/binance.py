"""Binance spot exchangeInfo symbols, USD-M exchangeInfo symbols and spot executionReport events -> CQC.

Unknown keys are ignored here; the ledgers (ledgers.py) make an unknown key fail the tests.
"""

from __future__ import annotations

from decimal import Decimal

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import execution_pb2, trading_pb2

from .convert import (
    BINANCE_CONTRACT_KIND,
    BINANCE_EXEC_TYPE,
    BINANCE_FUTURES_CONTRACT_TYPE,
    BINANCE_FUTURES_ORDER_TYPES,
    BINANCE_MARKET_STATUS,
    BINANCE_ORDER_STATUS,
    BINANCE_POST_ONLY_CODES,
    BINANCE_REJECT_REASON,
    BINANCE_SIDE,
    BINANCE_SPOT_ORDER_TYPES,
    BINANCE_STP_MODE,
    BINANCE_TERMINAL_STATUS,
    BINANCE_TIME_IN_FORCE,
    Json,
    binance_delivery,
    binance_rule,
    binance_sentinel_zero,
    fmt,
    instrument_status,
    minutes,
    percent_to_fraction,
    source_record,
    timestamp_ms,
    unified,
)
from .ids import ExecutionIds, ListingIds


def _filters(symbol: Json) -> dict[str, Json]:
    return {f["filterType"]: f for f in symbol.get("filters", [])}


def _apply_filters(market: market_pb2.Market, symbol: Json) -> None:
    """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, PERCENT_PRICE, ICEBERG_PARTS, MAX_NUM_* (spot
    and USD-M spell some keys differently: maxNumOrders vs limit, minNotional vs notional)."""
    filters = _filters(symbol)
    if (f := filters.get("PRICE_FILTER")) is not None:
        tick = binance_rule(f["tickSize"])
        if tick is not None:
            market.tick_size = tick
            market.tick_rule.fixed.tick_size = tick
        limits = market_rules_pb2.PriceLimits(
            min_price=binance_rule(f["minPrice"]), max_price=binance_rule(f["maxPrice"])
        )
        market.price_limits.CopyFrom(limits)
    if (f := filters.get("LOT_SIZE")) is not None:
        step = binance_rule(f["stepSize"])
        if step is not None:
            market.lot_size = step
        market.limit_order_size.CopyFrom(
            market_rules_pb2.OrderSizeLimits(
                min_quantity=binance_rule(f["minQty"]), max_quantity=binance_rule(f["maxQty"]), step_size=step
            )
        )
    if (f := filters.get("MARKET_LOT_SIZE")) is not None:
        market.market_order_size.CopyFrom(
            market_rules_pb2.OrderSizeLimits(
                min_quantity=binance_rule(f["minQty"]),
                max_quantity=binance_rule(f["maxQty"]),
                step_size=binance_rule(f["stepSize"]),
            )
        )
    if (f := filters.get("MIN_NOTIONAL")) is not None:
        notional = market.notional_limits
        minimum = binance_rule(f.get("minNotional", f.get("notional", "0")))
        if minimum is not None:
            notional.min_notional = minimum
        if "applyToMarket" in f:
            notional.apply_min_to_market = f["applyToMarket"]
        if "avgPriceMins" in f:
            notional.average_price_window.CopyFrom(minutes(f["avgPriceMins"]))
    if (f := filters.get("PERCENT_PRICE")) is not None:
        bands = market.price_bands
        bands.multiplier_up = f["multiplierUp"]
        bands.multiplier_down = f["multiplierDown"]
        if "avgPriceMins" in f:
            bands.average_price_window.CopyFrom(minutes(f["avgPriceMins"]))
        if "multiplierDecimal" in f:
            bands.multiplier_decimals = int(f["multiplierDecimal"])
    counts = market.order_limits
    if (f := filters.get("ICEBERG_PARTS")) is not None:
        counts.max_iceberg_parts = f["limit"]
    if (f := filters.get("MAX_NUM_ORDERS")) is not None:
        counts.max_open_orders = f.get("maxNumOrders", f.get("limit"))
    if (f := filters.get("MAX_NUM_ALGO_ORDERS")) is not None:
        counts.max_algo_orders = f.get("maxNumAlgoOrders", f.get("limit"))


def _status(market: market_pb2.Market, instrument: instrument_pb2.Instrument, status: str) -> None:
    market.venue_status = status
    market.status = BINANCE_MARKET_STATUS[status]  # type: ignore[assignment]
    instrument.status = instrument_status(market.status)  # type: ignore[assignment]


def binance_spot_symbol(payload: Json, ids: ListingIds) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """One element of GET /api/v3/exchangeInfo `symbols` -> (SPOT Instrument, SPOT Market)."""
    base, quote = payload["baseAsset"], payload["quoteAsset"]
    record = source_record("binance", "GET /api/v3/exchangeInfo", payload, ids.receive_time)
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="SPOT",
        name=f"{base}/{quote} spot",
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        spot=instrument_pb2.SpotInstrument(),
        source_record=record,
    )
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=payload["symbol"],
        symbol=f"{base}/{quote}",
        market_type=market_pb2.MARKET_TYPE_SPOT,
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        precisions=market_rules_pb2.Precisions(
            base_asset_decimals=payload["baseAssetPrecision"],
            # quotePrecision is the deprecated duplicate of quoteAssetPrecision (Precisions comment).
            quote_asset_decimals=payload["quoteAssetPrecision"],
            base_commission_decimals=payload["baseCommissionPrecision"],
            quote_commission_decimals=payload["quoteCommissionPrecision"],
        ),
        source_record=record,
    )
    _status(market, instrument, payload["status"])
    features = market.order_features
    features.venue_order_types.extend(payload["orderTypes"])
    features.order_types.extend(unified(payload["orderTypes"], BINANCE_SPOT_ORDER_TYPES))  # type: ignore[arg-type]
    features.post_only_allowed = "LIMIT_MAKER" in payload["orderTypes"]
    features.iceberg_allowed = payload["icebergAllowed"]
    features.oco_allowed = payload["ocoAllowed"]
    features.quote_order_quantity_market_allowed = payload["quoteOrderQtyMarketAllowed"]
    permissions = market.permissions
    permissions.spot_trading_allowed = payload["isSpotTradingAllowed"]
    permissions.margin_trading_allowed = payload["isMarginTradingAllowed"]
    permissions.permissions.extend(payload["permissions"])
    _apply_filters(market, payload)
    return instrument, market


def binance_usdm_symbol(payload: Json, ids: ListingIds) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """`{"futuresType", "assets", "symbol"}` from GET /fapi/v1/exchangeInfo (the top-level margin-asset list and
    one element of `symbols`) -> (PERPETUAL or FUTURE Instrument, Market)."""
    symbol = payload["symbol"]
    base, quote, settle = symbol["baseAsset"], symbol["quoteAsset"], symbol["marginAsset"]
    market_type, cycle = BINANCE_CONTRACT_KIND[symbol["contractType"]]
    record = source_record("binance", "GET /fapi/v1/exchangeInfo", payload, ids.receive_time)

    margin = market_rules_pb2.MarginTerms(
        initial_margin_rate=percent_to_fraction(symbol["requiredMarginPercent"]),
        maintenance_margin_rate=percent_to_fraction(symbol["maintMarginPercent"]),
        liquidation_fee_rate=symbol["liquidationFee"],
        margin_assets=[
            market_rules_pb2.MarginAsset(
                asset_id=ids.assets[a["asset"]],
                margin_available=a["marginAvailable"],
                auto_exchange_threshold=a["autoAssetExchange"],
            )
            for a in payload["assets"]
        ],
    )
    contract_type = BINANCE_FUTURES_CONTRACT_TYPE[payload["futuresType"]]
    kind = "perpetual" if market_type == market_pb2.MARKET_TYPE_PERPETUAL else "future"
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type=kind.upper(),
        name=f"{symbol['symbol']} USD-M {'linear' if contract_type == 1 else 'inverse'} {kind}",
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        settlement_asset_id=ids.assets[settle],
        contract_type=contract_type,  # type: ignore[arg-type]
        listing_time=timestamp_ms(symbol["onboardDate"]),
        source_record=record,
    )
    delivery = binance_delivery(symbol["deliveryDate"])
    if kind == "perpetual":
        instrument.perpetual.SetInParent()  # margin and delisting are the listing's (Market)
    else:
        assert delivery is not None, "a dated contract has a real deliveryDate"
        instrument.future.expiry_time.CopyFrom(delivery)
        instrument.future.cycle = cycle  # type: ignore[assignment]

    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=symbol["symbol"],
        symbol=f"{base}/{quote}:{settle}",
        market_type=market_type,  # type: ignore[arg-type]
        venue_market_type=symbol["contractType"],
        venue_tags=[
            f"futuresType:{payload['futuresType']}",
            f"underlyingType:{symbol['underlyingType']}",
            *(f"underlyingSubType:{s}" for s in symbol["underlyingSubType"]),
            f"settlePlan:{symbol['settlePlan']}",
        ],
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        venue_settlement_symbol=settle,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        precisions=market_rules_pb2.Precisions(
            price_decimals=symbol["pricePrecision"],
            quantity_decimals=symbol["quantityPrecision"],
            base_asset_decimals=symbol["baseAssetPrecision"],
            quote_asset_decimals=symbol["quotePrecision"],
        ),
        price_bands=market_rules_pb2.PriceBands(
            market_take_bound=symbol["marketTakeBound"], trigger_protect=symbol["triggerProtect"]
        ),
        listing_time=timestamp_ms(symbol["onboardDate"]),
        derivative=market_pb2.DerivativeSpecs(index_price_source=symbol["pair"], margin=margin),
        source_record=record,
        # USD-M quantities are in the base asset: one contract is one unit of base (Market.contract_size).
        contract_size="1",
        contract_size_asset_id=ids.assets[base],
    )
    if kind == "perpetual" and delivery is not None:
        market.delisting_time.CopyFrom(delivery)
    _status(market, instrument, symbol["status"])
    features = market.order_features
    features.venue_order_types.extend(symbol["orderTypes"])
    features.order_types.extend(unified(symbol["orderTypes"], BINANCE_FUTURES_ORDER_TYPES))  # type: ignore[arg-type]
    features.trailing_stop_allowed = "TRAILING_STOP_MARKET" in symbol["orderTypes"]
    features.venue_time_in_forces.extend(symbol["timeInForce"])
    features.time_in_forces.extend(
        unified(symbol["timeInForce"], BINANCE_TIME_IN_FORCE, skip=frozenset({"GTX"}))  # type: ignore[arg-type]
    )
    features.post_only_allowed = "GTX" in symbol["timeInForce"]
    _apply_filters(market, symbol)
    return instrument, market


def binance_execution_report(payload: Json, ids: ExecutionIds) -> execution_pb2.ExecutionReport:
    """One spot User Data Stream `executionReport` event -> ExecutionReport. Binance sentinels (P/F/Q/l/L/Y
    "0.00000000", t -1, g -1, C "", N null, r "NONE") map to unset or empty fields (ExecutionReport comment)."""
    p = payload
    report = execution_pb2.ExecutionReport(
        execution_id=ids.exec_id,
        order_id=ids.order_id,
        venue_execution_id=str(p["I"]) if "I" in p else "",
        exec_type=BINANCE_EXEC_TYPE[p["x"]],  # type: ignore[arg-type]
        venue_exec_type=p["x"],
        order_status=BINANCE_ORDER_STATUS[p["X"]],  # type: ignore[arg-type]
        venue_order_status=p["X"],
        client_order_id=p["c"],
        venue_order_id=str(p["i"]),
        orig_client_order_id=p["C"],
        account_id=ids.account_id,
        venue_id=ids.venue_id,
        market_id=ids.markets[p["s"]],
        side=BINANCE_SIDE[p["S"]],
        order_type=BINANCE_SPOT_ORDER_TYPES[p["o"]],  # type: ignore[arg-type]
        venue_order_type=p["o"],
        time_in_force=BINANCE_TIME_IN_FORCE[p["f"]],  # type: ignore[arg-type]
        post_only=p["o"] in BINANCE_POST_ONLY_CODES or p["f"] in BINANCE_POST_ONLY_CODES,
        order_quantity=binance_sentinel_zero(p["q"]),
        order_price=binance_sentinel_zero(p["p"]),
        trigger_price=binance_sentinel_zero(p["P"]),
        venue_trade_id="" if p["t"] == -1 else str(p["t"]),
        cum_quantity=p["z"],
        cum_quote_quantity=p["Z"],
        is_working=p["w"],
        transact_time=timestamp_ms(p["T"]),
        event_time=timestamp_ms(p["E"]),
        order_create_time=timestamp_ms(p["O"]),
        reject_reason=BINANCE_REJECT_REASON.get(p["r"], trading_pb2.ORDER_REJECT_REASON_OTHER),  # type: ignore[arg-type]
        venue_reason_code="" if p["r"] == "NONE" else p["r"],
        source_record=source_record("binance", "wss executionReport", payload, ids.receive_time),
    )
    report.receive_time.FromDatetime(ids.receive_time)
    if p["x"] == "TRADE":
        report.last_quantity = p["l"]
        report.last_price = p["L"]
        report.liquidity_side = trading_pb2.LIQUIDITY_SIDE_MAKER if p["m"] else trading_pb2.LIQUIDITY_SIDE_TAKER
    if (y := binance_sentinel_zero(p.get("Y", "0"))) is not None:
        report.last_quote_quantity = y
    if Decimal(p["z"]) > 0:
        report.avg_price = fmt(Decimal(p["Z"]) / Decimal(p["z"]))  # documented: average price = Z / z
    # leaves = q - z while open, "0" once terminal (ExecutionReport.leaves_quantity).
    if p["X"] in BINANCE_TERMINAL_STATUS:
        report.leaves_quantity = fmt(Decimal(0).quantize(Decimal(p["z"])))
    elif Decimal(p["q"]) > 0:
        report.leaves_quantity = fmt(Decimal(p["q"]) - Decimal(p["z"]))
    if p.get("N") is not None:
        report.commission.amount = p["n"]
        report.commission.asset_id = ids.assets[p["N"]]
    if "g" in p and p["g"] != -1:
        report.venue_order_list_id = str(p["g"])
    if "F" in p and (display := binance_sentinel_zero(p["F"])) is not None:
        report.display_quantity = display
    if "Q" in p and (quote_qty := binance_sentinel_zero(p["Q"])) is not None:
        report.quote_order_quantity = quote_qty
    if "W" in p:
        report.working_time.CopyFrom(timestamp_ms(p["W"]))
    if "V" in p:
        report.self_trade_prevention_mode = BINANCE_STP_MODE[p["V"]]  # type: ignore[assignment]
    if "v" in p:
        report.trade_prevention.venue_prevention_id = str(p["v"])
    return report
