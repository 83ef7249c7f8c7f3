"""OKX GET /api/v5/public/instruments elements (SWAP and FUTURES) -> CQC Instrument and Market.

OKX sends every number as a string and "" for "not applicable"; quantities (minSz, lotSz, max*Sz) are in
contracts of ctVal x ctMult ctValCcy each; max*Amt and posLmtAmt are USD.
"""

from __future__ import annotations

from decimal import Decimal

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import (
    OKX_ALIAS,
    OKX_CONTRACT_TYPE,
    OKX_INST_TYPE,
    OKX_MARKET_STATUS,
    Json,
    fmt,
    instrument_status,
    okx_optional,
    okx_timestamp,
    percent_to_fraction,
    source_record,
)
from .ids import ListingIds


def okx_instrument(payload: Json, ids: ListingIds) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """One element of `data` -> (PERPETUAL or FUTURE Instrument, Market)."""
    p = payload
    market_type = OKX_INST_TYPE[p["instType"]]
    base, quote = p["uly"].split("-")
    settle = p["settleCcy"]
    contract_type = OKX_CONTRACT_TYPE[p["ctType"]]
    record = source_record("okx", f"GET /api/v5/public/instruments?instType={p['instType']}", payload, ids.receive_time)
    listing = okx_timestamp(p["listTime"])
    expiry = okx_timestamp(p["expTime"])

    kind = "perpetual" if market_type == market_pb2.MARKET_TYPE_PERPETUAL else "future"
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type=kind.upper(),
        name=f"{p['uly']} {p['ctType']} {kind}, {p['ctVal']} {p['ctValCcy']} contracts",
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        settlement_asset_id=ids.assets[settle],
        contract_type=contract_type,  # type: ignore[arg-type]
        listing_time=listing,
        source_record=record,
    )
    # Leverage, pre-market status and delisting are the listing's (Market.derivative, Market.delisting_time).
    derivative = market_pb2.DerivativeSpecs(
        index_price_source=p["uly"],
        margin=market_rules_pb2.MarginTerms(max_leverage=okx_optional(p["lever"])),
    )
    if kind == "perpetual":
        instrument.perpetual.SetInParent()
        derivative.pre_listing = p["ruleType"] == "pre_market"
        pre_listing_end = okx_timestamp(p["preMktSwTime"])
        if pre_listing_end is not None:
            derivative.pre_listing_end_time.CopyFrom(pre_listing_end)
    else:
        assert expiry is not None, "a dated contract has an expTime"
        instrument.future.expiry_time.CopyFrom(expiry)
        instrument.future.cycle = OKX_ALIAS.get(p["alias"], instrument_pb2.EXPIRY_CYCLE_UNSPECIFIED)  # type: ignore[assignment]

    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["instId"],
        venue_numeric_id=str(p["instIdCode"]),
        symbol=f"{base}/{quote}:{settle}" + ("" if kind == "perpetual" else f"-{p['instId'].rsplit('-', 1)[-1]}"),
        market_type=market_type,  # type: ignore[arg-type]
        venue_market_type=p["instType"],
        venue_tags=[
            f"ruleType:{p['ruleType']}",
            f"instFamily:{p['instFamily']}",
            f"category:{p['category']}",
            *([f"openType:{p['openType']}"] if p["openType"] else []),
        ],
        venue_base_symbol=p["baseCcy"],
        venue_quote_symbol=p["quoteCcy"],
        venue_settlement_symbol=settle,
        status=OKX_MARKET_STATUS[p["state"]],  # type: ignore[arg-type]
        venue_status=p["state"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_CONTRACTS,
        tick_size=p["tickSz"],
        lot_size=p["lotSz"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=p["tickSz"])),
        limit_order_size=market_rules_pb2.OrderSizeLimits(
            min_quantity=okx_optional(p["minSz"]), max_quantity=okx_optional(p["maxLmtSz"])
        ),
        market_order_size=market_rules_pb2.OrderSizeLimits(
            min_quantity=okx_optional(p["minSz"]), max_quantity=okx_optional(p["maxMktSz"])
        ),
        leverage_limits=market_rules_pb2.LeverageLimits(max_leverage=okx_optional(p["lever"])),
        order_limits=market_rules_pb2.OrderLimits(
            max_iceberg_order_size=okx_optional(p["maxIcebergSz"]),
            max_trigger_order_size=okx_optional(p["maxTriggerSz"]),
            max_twap_order_size=okx_optional(p["maxTwapSz"]),
            max_stop_order_size=okx_optional(p["maxStopSz"]),
            max_position_notional=okx_optional(p["posLmtAmt"]),
            max_position_share=None if p["posLmtPct"] == "" else percent_to_fraction(p["posLmtPct"]),
            max_platform_open_interest=okx_optional(p["maxPlatOILmt"]),
        ),
        fees=market_rules_pb2.FeeSchedule(fee_group=p["category"]),
        listing_time=listing,
        derivative=derivative,
        source_record=record,
        # Market.contract_size "already includes" ctMult; contract_multiplier keeps the venue's factor.
        contract_size=fmt(Decimal(p["ctVal"]) * Decimal(p["ctMult"])),
        contract_size_asset_id=ids.assets[p["ctValCcy"]],
        contract_multiplier=p["ctMult"],
    )
    market.daily_settlement = p["futureSettlement"]
    market.trade_quote_asset_ids.extend(ids.assets[code] for code in p["tradeQuoteCcyList"])
    market_status = market.status
    instrument.status = instrument_status(market_status)  # type: ignore[assignment]
    if kind == "perpetual" and expiry is not None:
        market.delisting_time.CopyFrom(expiry)
    # contTdSwTime supersedes auctionEndTime; both name the end of the opening call auction.
    auction_end = okx_timestamp(p["contTdSwTime"] or p["auctionEndTime"])
    if auction_end is not None:
        market.auction_end_time.CopyFrom(auction_end)
    # maxLmtAmt (USD) bounds limit orders only; maxMktAmt bounds market orders (NotionalLimits).
    if p["maxLmtAmt"] != "" or p["maxMktAmt"] != "":
        notional = market.notional_limits
        notional.notional_asset_id = ids.assets["USD"]
        if p["maxLmtAmt"] != "":
            notional.max_notional = p["maxLmtAmt"]
            notional.apply_max_to_market = False
        if p["maxMktAmt"] != "":
            notional.max_market_order_notional = p["maxMktAmt"]
    return instrument, market
