"""dYdX v4 indexer GET /v4/perpetualMarkets element -> PERPETUAL Instrument + Market (with the on-chain
quantisation an adapter needs to build a MsgPlaceOrder), and the market data the element carries: the oracle
Price, the estimated next FundingRate, the OpenInterest and the 24 h TickerStatistics.

Conversions (proto comments): initialMarginFraction / maintenanceMarginFraction are fractions already
(MarginTerms.*_margin_rate); openInterestLowerCap = openInterestUpperCap = "0" means no open-interest scaling
(OpenInterestMarginScaling unset); volume24H is USDC notional (TickerStatistics.quote_volume); the indexer's
nextFundingRate is a live estimate (FUNDING_RATE_STATUS_ESTIMATED, no funding time published).
The dYdX collateral (settlement) asset USDC is a registry fact supplied with the ids, not read from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from cqc.markets.v1 import instrument_pb2, market_data_pb2, market_pb2, market_rules_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, source_record
from .gaps import raw
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import dec, same, text

INS, MKT, FND, ORC, OIN, TKR = "instrument", "market", "funding", "oracle", "open_interest", "ticker"

# dYdX v4 perpetual market status (indexer PerpetualMarketStatus) -> MarketStatus.
DYDX_MARKET_STATUS: dict[str, int] = {
    "ACTIVE": market_pb2.MARKET_STATUS_TRADING,
    "PAUSED": market_pb2.MARKET_STATUS_PAUSED,
    "CANCEL_ONLY": market_pb2.MARKET_STATUS_CANCEL_ONLY,
    "POST_ONLY": market_pb2.MARKET_STATUS_TRADING,
    "INITIALIZING": market_pb2.MARKET_STATUS_PRE_LISTING,
    "FINAL_SETTLEMENT": market_pb2.MARKET_STATUS_DELIVERING,
}


@dataclass(frozen=True)
class DydxIds:
    """Registry ids of the listing and the assets of the ticker ("BTC", "USD") and the collateral ("USDC")."""

    market_id: str
    instrument_id: str
    venue_id: str
    assets: Mapping[str, str]
    receive_time: datetime
    collateral: str = "USDC"


def _no_scaling(p: Json) -> bool:
    return Decimal(p["openInterestLowerCap"]) == 0 and Decimal(p["openInterestUpperCap"]) == 0


def dydx_perpetual_market(payload: Json, ids: DydxIds) -> dict[str, Message]:
    """One perpetualMarkets element -> {"instrument", "market", "funding", "oracle", "open_interest", "ticker"}."""
    p = payload
    record = source_record("dydx-v4-indexer", f"GET /v4/perpetualMarkets ({p['ticker']})", payload, ids.receive_time)
    base, quote = p["ticker"].split("-")
    instrument = instrument_pb2.Instrument(
        instrument_id=ids.instrument_id,
        instrument_type="PERPETUAL",
        name=f"{base}/{quote} perpetual",
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[base],
        quote_asset_id=ids.assets[quote],
        settlement_asset_id=ids.assets[ids.collateral],
        contract_type=instrument_pb2.CONTRACT_TYPE_LINEAR,
        perpetual=instrument_pb2.PerpContract(),
        source_record=record,
    )
    margin = market_rules_pb2.MarginTerms(
        initial_margin_rate=p["initialMarginFraction"],
        maintenance_margin_rate=p["maintenanceMarginFraction"],
    )
    if not _no_scaling(p):
        margin.open_interest_scaling.CopyFrom(
            market_rules_pb2.OpenInterestMarginScaling(
                open_interest_lower_cap=p["openInterestLowerCap"],
                open_interest_upper_cap=p["openInterestUpperCap"],
                open_interest_asset_id=ids.assets[ids.collateral],
                base_open_interest=p["baseOpenInterest"],
            )
        )
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["ticker"],
        venue_numeric_id=p["clobPairId"],
        symbol=f"{base}/{quote}:{ids.collateral}",  # unified (CCXT-style) symbol of a linear perpetual
        display_name=f"dYdX {p['ticker']} perpetual",
        market_type=market_pb2.MARKET_TYPE_PERPETUAL,
        venue_market_type=p["marketType"],
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        status=DYDX_MARKET_STATUS[p["status"]],  # type: ignore[arg-type]
        venue_status=p["status"],
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        tick_size=p["tickSize"],
        lot_size=p["stepSize"],
        tick_rule=market_rules_pb2.TickRule(fixed=market_rules_pb2.FixedTick(tick_size=p["tickSize"])),
        # Sizes are in the base asset: one contract is one unit of base (Market.contract_size comment).
        contract_size="1",
        contract_size_asset_id=ids.assets[base],
        on_chain_quantization=market_rules_pb2.OnChainQuantization(
            clob_pair_id=int(p["clobPairId"]),
            atomic_resolution=int(p["atomicResolution"]),
            quantum_conversion_exponent=int(p["quantumConversionExponent"]),
            step_base_quantums=int(p["stepBaseQuantums"]),
            subticks_per_tick=int(p["subticksPerTick"]),
        ),
        derivative=market_pb2.DerivativeSpecs(
            margin=margin,
            isolated_margin_only=p["marketType"] == "ISOLATED",
            # defaultFundingRate1H is per hour: dYdX v4 settles funding hourly.
            funding=market_pb2.FundingSpecs(
                funding_interval=Duration(seconds=3600), default_funding_rate=p["defaultFundingRate1H"]
            ),
        ),
        source_record=record,
    )
    funding = market_data_pb2.FundingRate(
        market_id=ids.market_id,
        funding_rate=p["nextFundingRate"],
        status=market_data_pb2.FUNDING_RATE_STATUS_ESTIMATED,
        source_record=record,
    )
    funding.receive_time.FromDatetime(ids.receive_time)
    oracle = market_data_pb2.Price(
        market_id=ids.market_id,
        price_type=market_data_pb2.PRICE_TYPE_ORACLE,
        value=p["oraclePrice"],
        quote_asset_id=ids.assets[quote],
        source="dydx-v4",
        source_type=market_data_pb2.PRICE_SOURCE_TYPE_ORACLE,
        source_record=record,
    )
    oracle.receive_time.FromDatetime(ids.receive_time)
    open_interest = market_data_pb2.OpenInterest(
        market_id=ids.market_id,
        amount=p["openInterest"],
        amount_unit=trading_pb2.QUANTITY_UNIT_BASE,
        source_record=record,
    )
    open_interest.receive_time.FromDatetime(ids.receive_time)
    ticker = market_data_pb2.TickerStatistics(
        market_id=ids.market_id,
        window=Duration(seconds=24 * 3600),
        price_change=p["priceChange24H"],
        quote_volume=p["volume24H"],
        trade_count=int(p["trades24H"]),
        source_record=record,
    )
    ticker.receive_time.FromDatetime(ids.receive_time)
    return {
        "instrument": instrument,
        "market": market,
        "funding": funding,
        "oracle": oracle,
        "open_interest": open_interest,
        "ticker": ticker,
    }


def _int(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: int(v))


def _scaling(field: str) -> Target:
    return Target(
        MKT,
        f"derivative.margin.open_interest_scaling.{field}",
        lambda v, r: UNSET if _no_scaling(r) else Decimal(v),
        "decimal",
    )


def dydx_perpetual_market_ledger(assets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """Every key of a perpetualMarkets element (indexer v4)."""
    q = "on_chain_quantization"
    return {
        "clobPairId": mapped(text(MKT, "venue_numeric_id"), _int(MKT, f"{q}.clob_pair_id")),
        "ticker": mapped(
            same(MKT, "venue_symbol"),
            Target(INS, "base_asset_id", lambda v, _r: assets[v.split("-")[0]]),
            Target(INS, "quote_asset_id", lambda v, _r: assets[v.split("-")[1]]),
        ),
        "status": mapped(
            same(MKT, "venue_status"),
            Target(MKT, "status", lambda v, _r: DYDX_MARKET_STATUS[v]),
        ),
        "oraclePrice": mapped(dec(ORC, "value"), Target(ORC, "price_type", lambda _v, _r: 7)),
        "priceChange24H": mapped(dec(TKR, "price_change")),
        "volume24H": mapped(dec(TKR, "quote_volume")),
        "trades24H": mapped(_int(TKR, "trade_count")),
        "nextFundingRate": mapped(
            dec(FND, "funding_rate"),
            Target(FND, "status", lambda _v, _r: market_data_pb2.FUNDING_RATE_STATUS_ESTIMATED),
        ),
        "initialMarginFraction": mapped(dec(MKT, "derivative.margin.initial_margin_rate")),
        "maintenanceMarginFraction": mapped(dec(MKT, "derivative.margin.maintenance_margin_rate")),
        "openInterest": mapped(dec(OIN, "amount")),
        "atomicResolution": mapped(_int(MKT, f"{q}.atomic_resolution")),
        "quantumConversionExponent": mapped(_int(MKT, f"{q}.quantum_conversion_exponent")),
        "tickSize": mapped(dec(MKT, "tick_size"), dec(MKT, "tick_rule.fixed.tick_size")),
        "stepSize": mapped(dec(MKT, "lot_size")),
        "stepBaseQuantums": mapped(_int(MKT, f"{q}.step_base_quantums")),
        "subticksPerTick": mapped(_int(MKT, f"{q}.subticks_per_tick")),
        "marketType": mapped(
            same(MKT, "venue_market_type"),
            Target(MKT, "derivative.isolated_margin_only", lambda v, _r: v == "ISOLATED"),
        ),
        "openInterestLowerCap": mapped(_scaling("open_interest_lower_cap")),
        "openInterestUpperCap": mapped(_scaling("open_interest_upper_cap")),
        "baseOpenInterest": (
            raw("open interest read only by the OI margin scaling, which this market does not apply (caps 0/0)")
            if _no_scaling(payload)
            else mapped(
                Target(
                    MKT,
                    "derivative.margin.open_interest_scaling.base_open_interest",
                    lambda v, _r: Decimal(v),
                    "decimal",
                )
            )
        ),
        "defaultFundingRate1H": mapped(
            dec(MKT, "derivative.funding.default_funding_rate"),
            Target(MKT, "derivative.funding.funding_interval", lambda _v, _r: 3600 * 1000, "duration"),
        ),
    }
