"""Venue listings with fee tiers, spot-margin levels and risk-limit steps -> Instrument + Market (and, for
BitMEX, the market data its instrument record carries).

Sources and conversions (market_rules.proto / market.proto / market_data.proto comments):
  - Kraken GET /0/public/AssetPairs result element (a SPOT market tradable on margin): fees / fees_maker
    [[volume, percent], ...] -> FeeSchedule.tiers (percent / 100; volume in fee_volume_currency over Kraken's
    30-day window; the first tier's rates are the base rates); leverage_buy / leverage_sell -> per-side
    leverage lists; margin_call / margin_stop percent -> spot_margin margin_call_level / stop_out_level on
    Kraken's equity / used-margin ratio; long/short_position_limit -> per-side position limits (base units);
    pair_decimals / lot_decimals / cost_decimals -> Precisions.
  - BitMEX GET /api/v1/instrument element (XBTUSD inverse perpetual): riskLimit / riskStep in satoshi (XBt,
    1e-8 XBT) -> RiskLimitSteps in XBT; initMargin / maintMargin fractions; deleverage -> auto_deleverage;
    fundingInterval is a duration written as a date after 2000-01-01T00:00:00Z; negative multiplier = inverse
    (contract_size 1 USD, QUANTITY_UNIT_USD); the 24 h statistics, prices and funding figures of the record
    -> TickerStatistics, Price (mark / fair / impact / settlement estimate / bid / ask / mid / last), FundingRate
    (announced = FIXED) and OpenInterest (contracts, value in satoshi -> XBT).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.markets.v1 import instrument_pb2, market_data_pb2, market_pb2, market_rules_pb2
from cqc.types.v1 import amount_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record
from .gaps import raw
from .ledger import UNSET, Entry, Expect, Inapplicable, Target, mapped
from .ledgers import same

INS, MKT = "instrument", "market"
# Unified (CCXT-style) codes of the venues' own asset codes: BitMEX XBT / XBt (satoshi) and Kraken's X/Z-prefixed
# four-letter codes.
UNIFIED_CODE = {"XBT": "BTC", "XBt": "BTC", "XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD", "ZEUR": "EUR"}


def unified(code: str) -> str:
    return UNIFIED_CODE.get(code, code)


def kraken_symbol(wsname: str) -> str:
    """Kraken wsname "XBT/USDT" -> unified "BTC/USDT"."""
    return "/".join(unified(code) for code in wsname.split("/"))


THIRTY_DAYS = Duration(seconds=30 * 24 * 3600)
KRAKEN_STATUS = {
    "online": market_pb2.MARKET_STATUS_TRADING,
    "cancel_only": market_pb2.MARKET_STATUS_CANCEL_ONLY,
    "post_only": market_pb2.MARKET_STATUS_POST_ONLY,
    "limit_only": market_pb2.MARKET_STATUS_LIMIT_ONLY,
    "reduce_only": market_pb2.MARKET_STATUS_REDUCE_ONLY,
    "delisted": market_pb2.MARKET_STATUS_DELISTED,
}


@dataclass(frozen=True)
class ListingIds:
    market_id: str
    instrument_id: str
    venue_id: str
    assets: Mapping[str, str]
    """Venue asset code ("XXBT", "USDT", "ZUSD", "XBT", "XBt") -> "ast_" id."""
    receive_time: datetime


def num(value: float | int) -> str:
    return fmt(Decimal(repr(value)).normalize())


def pct(value: float | int) -> str:
    return fmt((Decimal(repr(value)) / 100).normalize())


# --- Kraken AssetPairs ----------------------------------------------------------------------------------------------


def kraken_asset_pair(payload: Json, ids: ListingIds) -> dict[str, Message]:
    """One AssetPairs result element -> {"instrument", "market"}."""
    p = payload
    record = source_record("kraken", f"GET /0/public/AssetPairs ({p['altname']})", payload, ids.receive_time)
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="SPOT",
        name=p["wsname"],
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[p["base"]],
        quote_asset_id=ids.assets[p["quote"]],
        spot=instrument_pb2.SpotInstrument(),
        source_record=record,
    )
    tiers = [
        market_rules_pb2.FeeTier(
            tier=i + 1,
            volume_threshold=num(taker[0]),
            volume_asset_id=ids.assets[p["fee_volume_currency"]],
            volume_window=THIRTY_DAYS,
            maker_fee_rate=pct(maker[1]),
            taker_fee_rate=pct(taker[1]),
        )
        for i, (taker, maker) in enumerate(zip(p["fees"], p["fees_maker"], strict=True))
    ]
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["altname"],
        symbol=kraken_symbol(p["wsname"]),
        display_name=f"Kraken {p['wsname']}",
        market_type=market_pb2.MARKET_TYPE_SPOT,
        venue_base_symbol=p["base"],
        venue_quote_symbol=p["quote"],
        status=KRAKEN_STATUS[p["status"]],
        venue_status=p["status"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        tick_size=p["tick_size"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=p["tick_size"])),
        precisions=market_rules_pb2.Precisions(
            price_decimals=p["pair_decimals"], quantity_decimals=p["lot_decimals"], notional_decimals=p["cost_decimals"]
        ),
        limit_order_size=market_rules_pb2.OrderSizeLimits(min_quantity=p["ordermin"]),
        notional_limits=market_rules_pb2.NotionalLimits(min_notional=p["costmin"]),
        leverage_limits=market_rules_pb2.LeverageLimits(
            max_leverage=num(max(p["leverage_buy"] + p["leverage_sell"])),
            buy_leverages=[num(x) for x in p["leverage_buy"]],
            sell_leverages=[num(x) for x in p["leverage_sell"]],
        ),
        order_limits=market_rules_pb2.OrderLimits(
            max_long_position_quantity=num(p["long_position_limit"]),
            max_short_position_quantity=num(p["short_position_limit"]),
        ),
        fees=market_rules_pb2.FeeSchedule(
            maker_fee_rate=tiers[0].maker_fee_rate,
            taker_fee_rate=tiers[0].taker_fee_rate,
            tier_based=True,
            tier_basis=market_rules_pb2.FEE_TIER_BASIS_VOLUME,
            tiers=tiers,
        ),
        spot_margin=market_rules_pb2.MarginTerms(
            margin_call_level=pct(p["margin_call"]),
            stop_out_level=pct(p["margin_stop"]),
            margin_level_basis="equity/used_margin",
        ),
        source_record=record,
    )
    return {INS: instrument, MKT: market}


def kraken_asset_pair_ledger(assets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """Every key of a Kraken AssetPairs result element."""
    rows = range(len(payload["fees"]))
    fee = "fees"

    def taker(i: int) -> Expect:
        return lambda v, _r: Decimal(repr(v[i][1])) / 100

    def maker(i: int) -> Expect:
        return lambda v, _r: Decimal(repr(v[i][1])) / 100

    def volume(i: int) -> Expect:
        return lambda v, _r: Decimal(repr(v[i][0]))

    def leverages(v: object, _r: object) -> list[str]:
        return [num(x) for x in v]  # type: ignore[attr-defined]

    return {
        "altname": mapped(same(MKT, "venue_symbol")),
        "wsname": mapped(Target(MKT, "symbol", lambda v, _r: kraken_symbol(v)), same(INS, "name")),
        "aclass_base": raw("Kraken asset class of the base ('currency'): every spot pair's asset class"),
        "base": mapped(same(MKT, "venue_base_symbol"), Target(INS, "base_asset_id", lambda v, _r: assets[v])),
        "aclass_quote": raw("Kraken asset class of the quote ('currency')"),
        "quote": mapped(same(MKT, "venue_quote_symbol"), Target(INS, "quote_asset_id", lambda v, _r: assets[v])),
        "lot": mapped(
            Target(MKT, "quantity_unit", lambda v, _r: trading_pb2.QUANTITY_UNIT_BASE if v == "unit" else UNSET)
        ),
        "cost_decimals": mapped(Target(MKT, "precisions.notional_decimals", lambda v, _r: v)),
        "pair_decimals": mapped(Target(MKT, "precisions.price_decimals", lambda v, _r: v)),
        "lot_decimals": mapped(Target(MKT, "precisions.quantity_decimals", lambda v, _r: v)),
        "lot_multiplier": raw("lot size in base units: 1 on Kraken spot pairs, quantities are base units"),
        "leverage_buy": mapped(
            Target(MKT, "leverage_limits.buy_leverages", leverages),
            Target(
                MKT,
                "leverage_limits.max_leverage",
                lambda v, r: Decimal(repr(max(v + r["leverage_sell"]))),
                "decimal",
            ),
        ),
        "leverage_sell": mapped(Target(MKT, "leverage_limits.sell_leverages", leverages)),
        "fees": mapped(
            *(Target(MKT, f"{fee}.tiers[{i}].taker_fee_rate", taker(i), "decimal") for i in rows),
            *(Target(MKT, f"{fee}.tiers[{i}].volume_threshold", volume(i), "decimal") for i in rows),
            Target(MKT, f"{fee}.taker_fee_rate", taker(0), "decimal"),
            Target(MKT, f"{fee}.tiers[{len(rows)}].tier", lambda _v, _r: UNSET),
        ),
        "fees_maker": mapped(
            *(Target(MKT, f"{fee}.tiers[{i}].maker_fee_rate", maker(i), "decimal") for i in rows),
            Target(MKT, f"{fee}.maker_fee_rate", maker(0), "decimal"),
        ),
        "fee_volume_currency": mapped(
            *(Target(MKT, f"{fee}.tiers[{i}].volume_asset_id", lambda v, _r: assets[v]) for i in rows)
        ),
        "margin_call": mapped(
            Target(MKT, "spot_margin.margin_call_level", lambda v, _r: Decimal(repr(v)) / 100, "decimal")
        ),
        "margin_stop": mapped(
            Target(MKT, "spot_margin.stop_out_level", lambda v, _r: Decimal(repr(v)) / 100, "decimal")
        ),
        "ordermin": mapped(Target(MKT, "limit_order_size.min_quantity", lambda v, _r: Decimal(v), "decimal")),
        "costmin": mapped(Target(MKT, "notional_limits.min_notional", lambda v, _r: Decimal(v), "decimal")),
        "tick_size": mapped(
            Target(MKT, "tick_size", lambda v, _r: Decimal(v), "decimal"),
            Target(MKT, "tick_rule.fixed.tick_size", lambda v, _r: Decimal(v), "decimal"),
        ),
        "status": mapped(same(MKT, "venue_status"), Target(MKT, "status", lambda v, _r: KRAKEN_STATUS[v])),
        "long_position_limit": mapped(
            Target(MKT, "order_limits.max_long_position_quantity", lambda v, _r: Decimal(repr(v)), "decimal")
        ),
        "short_position_limit": mapped(
            Target(MKT, "order_limits.max_short_position_quantity", lambda v, _r: Decimal(repr(v)), "decimal")
        ),
    }


# --- BitMEX instrument ----------------------------------------------------------------------------------------------

SATOSHI = Decimal("1e-8")
BITMEX_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
BITMEX_STATE = {"Open": market_pb2.MARKET_STATUS_TRADING, "Closed": market_pb2.MARKET_STATUS_HALTED}


def iso(value: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(value)
    return stamp


def bitmex_interval(value: str) -> Duration:
    """BitMEX writes durations as a date after 2000-01-01T00:00:00Z ("2000-01-01T08:00:00.000Z" = 8 h)."""
    seconds = int((iso(value).ToDatetime(tzinfo=UTC) - BITMEX_EPOCH).total_seconds())
    return Duration(seconds=seconds)


def per_interval(daily: float, interval: str) -> str:
    """BitMEX fundingBaseRate / fundingQuoteRate are daily rates (its funding formula divides them by the number of
    intervals per day: I = (Q - B) / 3 for 8 h funding) -> the rate per funding interval."""
    seconds = bitmex_interval(interval).seconds
    return fmt((Decimal(repr(daily)) * seconds / 86400).normalize())


def sats(value: int) -> str:
    return fmt((Decimal(value) * SATOSHI).normalize())


def bitmex_instrument(payload: Json, ids: ListingIds) -> dict[str, Message]:
    """One instrument element (a perpetual) -> {"instrument", "market", "ticker", "funding", "open_interest",
    "mark", "fair", "impact_bid", "impact_mid", "impact_ask", "estimated_settlement", "bid", "ask", "mid", "last",
    "last_protected"}."""
    p = payload
    record = source_record("bitmex", f"GET /api/v1/instrument ({p['symbol']})", payload, ids.receive_time)
    xbt = ids.assets["XBT"]
    quote = ids.assets[p["quoteCurrency"]]
    listed = iso(p["listing"])
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="PERPETUAL",
        name=f"BitMEX {p['symbol']} perpetual",
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[p["underlying"]],
        quote_asset_id=quote,
        settlement_asset_id=ids.assets[p["settlCurrency"]],
        contract_type=_contract_type(None, p),
        listing_time=listed,
        perpetual=instrument_pb2.PerpContract(),
        source_record=record,
    )
    margin = market_rules_pb2.MarginTerms(
        initial_margin_rate=num(p["initMargin"]),
        maintenance_margin_rate=num(p["maintMargin"]),
        risk_limit_steps=market_rules_pb2.RiskLimitSteps(
            base_risk_limit=sats(p["riskLimit"]),
            risk_step=sats(p["riskStep"]),
            risk_limit_asset_id=xbt,
        ),
        auto_deleverage=p["deleverage"],
    )
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["symbol"],
        symbol=f"{unified(p['underlying'])}/{unified(p['quoteCurrency'])}:{unified(p['settlCurrency'])}",
        display_name=f"BitMEX {p['symbol']}",
        market_type=market_pb2.MARKET_TYPE_PERPETUAL,
        venue_market_type=p["typ"],
        venue_tags=[f"root:{p['rootSymbol']}", f"reference:{p['reference']}"],
        venue_base_symbol=p["underlying"],
        venue_quote_symbol=p["quoteCurrency"],
        venue_settlement_symbol=p["settlCurrency"],
        status=BITMEX_STATE[p["state"]],
        venue_status=p["state"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_USD,
        contract_size="1",
        contract_size_asset_id=quote,
        contract_multiplier=num(abs(p["multiplier"])),
        tick_size=num(p["tickSize"]),
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=num(p["tickSize"]))),
        precisions=market_rules_pb2.Precisions(min_price_increment=num(p["minTick"])),
        lot_size=num(p["lotSize"]),
        limit_order_size=market_rules_pb2.OrderSizeLimits(max_quantity=num(p["maxOrderQty"])),
        price_limits=market_rules_pb2.PriceLimits(
            max_price=num(p["maxPrice"]),
            limit_up_price=None if p["limitUpPrice"] is None else num(p["limitUpPrice"]),
            limit_down_price=None if p["limitDownPrice"] is None else num(p["limitDownPrice"]),
        ),
        fees=market_rules_pb2.FeeSchedule(
            maker_fee_rate=num(p["makerFee"]),
            taker_fee_rate=num(p["takerFee"]),
            settlement_fee_rate=num(p["settlementFee"]),
        ),
        listing_time=listed,
        derivative=market_pb2.DerivativeSpecs(
            mark_price_source=p["markMethod"],
            fair_price_method=p["fairMethod"],
            index_price_source=p["referenceSymbol"],
            funding=market_pb2.FundingSpecs(
                funding_interval=bitmex_interval(p["fundingInterval"]),
                base_interest_rate=per_interval(p["fundingBaseRate"], p["fundingInterval"]),
                quote_interest_rate=per_interval(p["fundingQuoteRate"], p["fundingInterval"]),
                base_interest_index=p["fundingBaseSymbol"],
                quote_interest_index=p["fundingQuoteSymbol"],
                premium_index=p["fundingPremiumSymbol"],
            ),
            margin=margin,
        ),
        source_record=record,
    )
    when = iso(p["timestamp"])
    ticker = market_data_pb2.TickerStatistics(
        market_id=ids.market_id,
        window=Duration(seconds=24 * 3600),
        high_price=num(p["highPrice"]),
        low_price=num(p["lowPrice"]),
        last_price=num(p["lastPrice"]),
        volume=num(p["volume24h"]),
        base_volume=num(p["homeNotional24h"]),
        quote_volume=num(p["foreignNotional24h"]),
        price_change_rate=num(p["lastChangePcnt"]),
        weighted_average_price=num(p["vwap"]),
        previous_close_price=num(p["prevClosePrice"]),
        open_price=num(p["prevPrice24h"]),
        lifetime_volume=num(p["totalVolume"]),
        session_volume=num(p["volume"]),
        settlement_volume=sats(p["turnover24h"]),
        session_settlement_volume=sats(p["turnover"]),
        lifetime_settlement_volume=sats(p["totalTurnover"]),
        close_time=when,
        source_record=record,
    )
    funding = market_data_pb2.FundingRate(
        market_id=ids.market_id,
        funding_rate=num(p["fundingRate"]),
        status=market_data_pb2.FUNDING_RATE_STATUS_FIXED,
        interval=bitmex_interval(p["fundingInterval"]),
        funding_time=iso(p["fundingTimestamp"]),
        next_funding_rate=num(p["indicativeFundingRate"]),
        capped=p["capped"],
        event_time=when,
        source_record=record,
    )
    open_interest = market_data_pb2.OpenInterest(
        market_id=ids.market_id,
        amount=num(p["openInterest"]),
        amount_unit=trading_pb2.QUANTITY_UNIT_USD,
        value=amount_pb2.AssetAmount(amount=sats(p["openValue"]), asset_id=xbt),
        event_time=when,
        source_record=record,
    )
    out: dict[str, Message] = {
        INS: instrument,
        MKT: market,
        "ticker": ticker,
        "funding": funding,
        "open_interest": open_interest,
    }
    for name, key, kind in BITMEX_PRICES:
        out[name] = market_data_pb2.Price(
            market_id=ids.market_id,
            price_type=kind,
            value=num(p[key]),
            quote_asset_id=quote,
            source="bitmex",
            source_type=market_data_pb2.PRICE_SOURCE_TYPE_VENUE,
            event_time=when,
            source_record=record,
        )
    for message in out.values():
        if message.DESCRIPTOR.fields_by_name.get("receive_time") is not None:
            message.receive_time.FromDatetime(ids.receive_time)  # type: ignore[attr-defined]
    return out


BITMEX_PRICES = (
    ("mark", "markPrice", market_data_pb2.PRICE_TYPE_MARK),
    ("fair", "fairPrice", market_data_pb2.PRICE_TYPE_FAIR),
    ("impact_bid", "impactBidPrice", market_data_pb2.PRICE_TYPE_IMPACT_BID),
    ("impact_mid", "impactMidPrice", market_data_pb2.PRICE_TYPE_IMPACT_MID),
    ("impact_ask", "impactAskPrice", market_data_pb2.PRICE_TYPE_IMPACT_ASK),
    ("estimated_settlement", "indicativeSettlePrice", market_data_pb2.PRICE_TYPE_ESTIMATED_SETTLEMENT),
    ("bid", "bidPrice", market_data_pb2.PRICE_TYPE_BID),
    ("ask", "askPrice", market_data_pb2.PRICE_TYPE_ASK),
    ("mid", "midPrice", market_data_pb2.PRICE_TYPE_MID),
    ("last", "lastPrice", market_data_pb2.PRICE_TYPE_LAST),
    ("protected_last", "lastPriceProtected", market_data_pb2.PRICE_TYPE_PROTECTED_LAST),
    ("basis", "fairBasis", market_data_pb2.PRICE_TYPE_BASIS),
    ("basis_rate", "fairBasisRate", market_data_pb2.PRICE_TYPE_BASIS_RATE),
)


def _n(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: Decimal(repr(v)), "decimal")


def _num_or_unset(v: object, _r: object) -> object:
    return UNSET if v is None else Decimal(repr(v))


def _sat(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: Decimal(v) * SATOSHI, "decimal")


def _daily(path: str) -> Target:
    """A daily BitMEX interest rate, expected per funding interval (x interval / 1 day)."""
    return Target(
        MKT,
        path,
        lambda v, r: Decimal(repr(v)) * bitmex_interval(r["fundingInterval"]).seconds / 86400,
        "decimal",
    )


def _iso(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: iso(v).ToMilliseconds(), "time")


def bitmex_instrument_ledger(assets: Mapping[str, str]) -> dict[str, Entry]:
    """Every key of a BitMEX perpetual's instrument element."""
    margin = "derivative.margin"
    ledger: dict[str, Entry] = {
        "symbol": mapped(same(MKT, "venue_symbol")),
        "rootSymbol": mapped(Target(MKT, "venue_tags", lambda v, _r: [v], "tags", tag="root")),
        "state": mapped(same(MKT, "venue_status"), Target(MKT, "status", lambda v, _r: BITMEX_STATE[v])),
        "typ": mapped(same(MKT, "venue_market_type")),
        "listing": mapped(_iso(MKT, "listing_time"), _iso(INS, "listing_time")),
        "front": raw("the front month's listing time; for a perpetual the same as listing"),
        "positionCurrency": mapped(
            Target(MKT, "quantity_unit", lambda v, _r: trading_pb2.QUANTITY_UNIT_USD if v == "USD" else UNSET)
        ),
        "underlying": mapped(same(MKT, "venue_base_symbol"), Target(INS, "base_asset_id", lambda v, _r: assets[v])),
        "quoteCurrency": mapped(
            same(MKT, "venue_quote_symbol"),
            Target(INS, "quote_asset_id", lambda v, _r: assets[v]),
            Target(MKT, "contract_size_asset_id", lambda v, _r: assets[v]),
        ),
        "underlyingSymbol": raw("BitMEX's name of the underlying spot reference ('XBT='): display"),
        "reference": mapped(Target(MKT, "venue_tags", lambda v, _r: [v], "tags", tag="reference")),
        "referenceSymbol": mapped(same(MKT, "derivative.index_price_source")),
        "maxOrderQty": mapped(_n(MKT, "limit_order_size.max_quantity")),
        "maxPrice": mapped(_n(MKT, "price_limits.max_price")),
        "lotSize": mapped(_n(MKT, "lot_size")),
        "tickSize": mapped(_n(MKT, "tick_size"), _n(MKT, "tick_rule.fixed.tick_size")),
        "multiplier": mapped(
            Target(MKT, "contract_multiplier", lambda v, _r: abs(Decimal(v)), "decimal"),
            Target(
                INS,
                "contract_type",
                lambda v, _r: instrument_pb2.CONTRACT_TYPE_INVERSE if v < 0 else instrument_pb2.CONTRACT_TYPE_LINEAR,
            ),
        ),
        "settlCurrency": mapped(
            same(MKT, "venue_settlement_symbol"), Target(INS, "settlement_asset_id", lambda v, _r: assets[v])
        ),
        "underlyingToSettleMultiplier": raw("same as multiplier for a perpetual settled in the underlying"),
        "isQuanto": mapped(Target(INS, "contract_type", _contract_type)),
        "isInverse": mapped(Target(INS, "contract_type", _contract_type)),
        "initMargin": mapped(_n(MKT, f"{margin}.initial_margin_rate")),
        "maintMargin": mapped(_n(MKT, f"{margin}.maintenance_margin_rate")),
        "riskLimit": mapped(_sat(MKT, f"{margin}.risk_limit_steps.base_risk_limit")),
        "riskStep": mapped(_sat(MKT, f"{margin}.risk_limit_steps.risk_step")),
        "taxed": raw("whether BitMEX applies tax to the contract: an accounting flag"),
        "deleverage": mapped(Target(MKT, f"{margin}.auto_deleverage", lambda v, _r: v)),
        "makerFee": mapped(_n(MKT, "fees.maker_fee_rate")),
        "takerFee": mapped(_n(MKT, "fees.taker_fee_rate")),
        "settlementFee": mapped(_n(MKT, "fees.settlement_fee_rate")),
        "fundingTimestamp": mapped(_iso("funding", "funding_time")),
        "fundingBaseSymbol": mapped(same(MKT, "derivative.funding.base_interest_index")),
        "fundingQuoteSymbol": mapped(same(MKT, "derivative.funding.quote_interest_index")),
        "fundingPremiumSymbol": mapped(same(MKT, "derivative.funding.premium_index")),
        "fundingBaseRate": mapped(_daily("derivative.funding.base_interest_rate")),
        "fundingQuoteRate": mapped(_daily("derivative.funding.quote_interest_rate")),
        "capped": mapped(Target("funding", "capped", lambda v, _r: v)),
        "fundingInterval": mapped(
            Target(MKT, "derivative.funding.funding_interval", lambda v, _r: _ms(bitmex_interval(v)), "duration"),
            Target("funding", "interval", lambda v, _r: _ms(bitmex_interval(v)), "duration"),
        ),
        "fundingRate": mapped(_n("funding", "funding_rate")),
        "indicativeFundingRate": mapped(_n("funding", "next_funding_rate")),
        "prevClosePrice": mapped(_n("ticker", "previous_close_price")),
        "limitDownPrice": mapped(Target(MKT, "price_limits.limit_down_price", _num_or_unset, "decimal")),
        "limitUpPrice": mapped(Target(MKT, "price_limits.limit_up_price", _num_or_unset, "decimal")),
        "prevTotalVolume": raw("lifetime volume before the current session: totalVolume minus volume"),
        "totalVolume": mapped(_n("ticker", "lifetime_volume")),
        "volume": mapped(_n("ticker", "session_volume")),
        "volume24h": mapped(_n("ticker", "volume")),
        "prevTotalTurnover": raw("lifetime turnover before the current session (satoshi)"),
        "totalTurnover": mapped(_sat("ticker", "lifetime_settlement_volume")),
        "turnover": mapped(_sat("ticker", "session_settlement_volume")),
        "turnover24h": mapped(_sat("ticker", "settlement_volume")),
        "homeNotional24h": mapped(_n("ticker", "base_volume")),
        "foreignNotional24h": mapped(_n("ticker", "quote_volume")),
        "prevPrice24h": mapped(_n("ticker", "open_price")),
        "vwap": mapped(_n("ticker", "weighted_average_price")),
        "highPrice": mapped(_n("ticker", "high_price")),
        "lowPrice": mapped(_n("ticker", "low_price")),
        "lastPrice": mapped(_n("ticker", "last_price"), _n("last", "value")),
        "lastPriceProtected": mapped(_n("protected_last", "value")),
        "lastTickDirection": raw("direction of the last tick (PlusTick): derivable from consecutive trades"),
        "lastChangePcnt": mapped(_n("ticker", "price_change_rate")),
        "bidPrice": mapped(_n("bid", "value")),
        "midPrice": mapped(_n("mid", "value")),
        "askPrice": mapped(_n("ask", "value")),
        "impactBidPrice": mapped(_n("impact_bid", "value")),
        "impactMidPrice": mapped(_n("impact_mid", "value")),
        "impactAskPrice": mapped(_n("impact_ask", "value")),
        "hasLiquidity": raw("whether the book is within the impact bands: derivable from the impact prices"),
        "openInterest": mapped(_n("open_interest", "amount")),
        "openValue": mapped(Target("open_interest", "value.amount", lambda v, _r: Decimal(v) * SATOSHI, "decimal")),
        "fairMethod": mapped(same(MKT, "derivative.fair_price_method")),
        "fairBasisRate": mapped(_n("basis_rate", "value")),
        "fairBasis": mapped(_n("basis", "value")),
        "fairPrice": mapped(_n("fair", "value")),
        "markMethod": mapped(same(MKT, "derivative.mark_price_source")),
        "markPrice": mapped(_n("mark", "value")),
        "indicativeSettlePrice": mapped(_n("estimated_settlement", "value")),
        "instantPnl": raw("whether unrealised PnL counts as available margin at once: an account-level rule"),
        "timestamp": mapped(_iso("ticker", "close_time"), _iso("mark", "event_time")),
        "minTick": mapped(_n(MKT, "precisions.min_price_increment")),
    }
    return ledger


def _contract_type(_v: object, r: Json) -> instrument_pb2.ContractType.ValueType:
    """isQuanto / isInverse together decide ContractType (neither = linear)."""
    if r["isQuanto"]:
        return instrument_pb2.CONTRACT_TYPE_QUANTO
    return instrument_pb2.CONTRACT_TYPE_INVERSE if r["isInverse"] else instrument_pb2.CONTRACT_TYPE_LINEAR


def _ms(duration: Duration) -> int:
    return duration.ToMilliseconds()


# --- OKX position tier (one row of a spot-margin tier table) ---------------------------------------------------------

TIER = "tier"


def okx_margin_tier(payload: Json, assets: Mapping[str, str]) -> dict[str, Message]:
    """OKX GET /api/v5/public/position-tiers?instType=MARGIN element -> one MarginTier of the market's
    `spot_margin.margin_tiers` (a tier row alone is not a Market: the Market holding the table is instId's).
    minSz / maxSz are in the base asset of instId; imr / mmr are fractions; loans are in base and quote."""
    p = payload
    base = p["instId"].split("-")[0]
    tier = market_rules_pb2.MarginTier(
        tier=int(p["tier"]),
        notional_floor=p["minSz"],
        notional_cap=p["maxSz"],
        notional_asset_id=assets[base],
        max_leverage=p["maxLever"],
        maintenance_margin_rate=p["mmr"],
        initial_margin_rate=p["imr"],
        max_base_loan=p["baseMaxLoan"],
        max_quote_loan=p["quoteMaxLoan"],
    )
    return {TIER: tier}


def okx_margin_tier_ledger(assets: Mapping[str, str]) -> dict[str, Entry]:
    def dec(path: str) -> Target:
        return Target(TIER, path, lambda v, _r: Decimal(str(v)), "decimal")

    derivatives_only = "derivative (SWAP/FUTURES/OPTION) tiers only; empty on a MARGIN tier"
    return {
        "instId": mapped(Target(TIER, "notional_asset_id", lambda v, _r: assets[str(v).split("-")[0]])),
        "tier": mapped(Target(TIER, "tier", lambda v, _r: int(str(v)))),
        "minSz": mapped(dec("notional_floor")),
        "maxSz": mapped(dec("notional_cap")),
        "maxLever": mapped(dec("max_leverage")),
        "imr": mapped(dec("initial_margin_rate")),
        "mmr": mapped(dec("maintenance_margin_rate")),
        "baseMaxLoan": mapped(dec("max_base_loan")),
        "quoteMaxLoan": mapped(dec("max_quote_loan")),
        "optMgnFactor": Inapplicable("option margin factor: OPTION tiers only ('0' on a MARGIN tier)", ("0", "")),
        "uly": Inapplicable(derivatives_only),
        "instFamily": Inapplicable(derivatives_only),
    }
