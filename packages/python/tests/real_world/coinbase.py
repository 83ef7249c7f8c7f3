"""Coinbase Exchange GET /products/{product_id} -> CQC SPOT Instrument and Market.

Coinbase sends decimals as strings; status is "online" / "offline" / "internal" / "delisted", and the
post_only / limit_only / cancel_only / trading_disabled / auction_mode booleans say which orders are accepted.
The contract has one trading state, Market.status: the booleans fold into it (see MarketStatus).
"""

from __future__ import annotations

from cqc.markets.v1 import instrument_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import COINBASE_MARKET_STATUS, Json, instrument_status, okx_optional, percent_to_fraction, source_record
from .ids import ListingIds


def coinbase_status(p: Json) -> int:
    """The unified MarketStatus of a product: its status, refined by the order-acceptance booleans while
    "online" (precedence as documented on MarketStatus)."""
    status = COINBASE_MARKET_STATUS[p["status"]]
    if status != market_pb2.MARKET_STATUS_TRADING:
        return status
    for flag, folded in (
        ("trading_disabled", market_pb2.MARKET_STATUS_HALTED),
        ("cancel_only", market_pb2.MARKET_STATUS_CANCEL_ONLY),
        ("limit_only", market_pb2.MARKET_STATUS_LIMIT_ONLY),
        ("post_only", market_pb2.MARKET_STATUS_POST_ONLY),
        ("auction_mode", market_pb2.MARKET_STATUS_PRE_OPEN),
    ):
        if p[flag]:
            return folded
    return status


def coinbase_product(payload: Json, ids: ListingIds) -> tuple[instrument_pb2.Instrument, market_pb2.Market]:
    """One product -> (SPOT Instrument, Market)."""
    p = payload
    base, quote = p["base_currency"], p["quote_currency"]
    record = source_record("coinbase", f"GET /products/{p['id']}", payload, ids.receive_time)
    status = COINBASE_MARKET_STATUS[p["status"]]
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="SPOT",
        name=f"{base}/{quote} spot",
        status=instrument_status(status),  # type: ignore[arg-type]
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        spot=instrument_pb2.SpotInstrument(),
        source_record=record,
    )
    slippage, high_bid = p["max_slippage_percentage"], p["high_bid_limit_percentage"]
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["id"],
        symbol=f"{base}/{quote}",
        display_name=p["display_name"],
        market_type=market_pb2.MARKET_TYPE_SPOT,
        venue_tags=[*(["fx_stablecoin:true"] if p["fx_stablecoin"] else [])],
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        status=coinbase_status(p),  # type: ignore[arg-type]
        venue_status=p["status"],
        status_message=p["status_message"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        tick_size=p["quote_increment"],
        lot_size=p["base_increment"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=p["quote_increment"])),
        notional_limits=market_rules_pb2.NotionalLimits(
            min_notional=okx_optional(p["min_market_funds"]), notional_asset_id=ids.assets[quote]
        ),
        price_bands=market_rules_pb2.PriceBands(
            max_slippage=None if slippage == "" else percent_to_fraction(slippage),
            high_bid_limit=None if high_bid == "" else percent_to_fraction(high_bid),
        ),
        permissions=market_rules_pb2.TradingPermissions(margin_trading_allowed=p["margin_enabled"]),
        source_record=record,
    )
    return instrument, market
