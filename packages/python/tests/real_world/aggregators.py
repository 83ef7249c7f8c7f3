"""Aggregator asset-level market data -> AssetMarketData (keyed by asset, not market), the aggregator's
AssetIdentifier, the supply figures of the Asset, and (CoinMarketCap platform) the token's AssetDeployment.

Sources: CoinGecko GET /api/v3/coins/markets element; CoinMarketCap GET /v1/cryptocurrency/listings/latest
element. Conversions (AssetMarketData / Asset comments): JSON numbers are written in plain notation from their
shortest repr; percent changes / 100 -> fractions; null -> unset ("never 0"); last_updated -> as_of_time and
Asset.supply_time / source_update_time. The Asset's type and the registry ids are registry facts supplied by
the test (AggregatorIds), never read from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.assets.v1 import asset_identifier_pb2, asset_pb2, deployment_pb2
from cqc.markets.v1 import liquidity_pb2

from .convert import Json, fmt, source_record
from .gaps import raw
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import same

AMD, AST, AID, DEP = "market_data", "asset", "identifier", "deployment"


@dataclass(frozen=True)
class AggregatorIds:
    """The registry's view of the asset the element describes (ids, its type) and the quote asset (USD)."""

    asset_id: str
    identifier_id: str
    asset_type: int
    quote_asset_id: str
    receive_time: datetime
    chains: Mapping[str, str] | None = None
    """CoinMarketCap platform slug -> "chn_" id (for the platform token's deployment)."""
    deployment_id: str | None = None


def number(value: float | int | None) -> str | None:
    """A JSON number in plain notation (5301200000.0 -> "5301200000", 0.0 -> "0"); null -> None (unset)."""
    if value is None:
        return None
    return fmt(Decimal(repr(value)).normalize()) if isinstance(value, float) else str(value)


def fraction(percent: float | None) -> str | None:
    """A percent number -> fraction (1.77392 -> "0.0177392"); null -> None."""
    return None if percent is None else fmt(Decimal(repr(percent)).scaleb(-2))


def iso_time(value: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(value)
    return stamp


def _market_data(ids: AggregatorIds, source: str, record: object, as_of: str, **values: object) -> Message:
    data = liquidity_pb2.AssetMarketData(
        asset_id=ids.asset_id,
        source=source,
        quote_asset_id=ids.quote_asset_id,
        **{k: v for k, v in values.items() if v is not None},  # type: ignore[arg-type]
        source_record=record,  # type: ignore[arg-type]
    )
    data.as_of_time.CopyFrom(iso_time(as_of))
    data.receive_time.FromDatetime(ids.receive_time)
    return data


def _asset(
    ids: AggregatorIds, symbol: str, name: str, supply_source: int, as_of: str, record: object, **kw: object
) -> asset_pb2.Asset:
    asset = asset_pb2.Asset(
        asset_id=ids.asset_id,
        symbol=symbol,
        name=name,
        type=ids.asset_type,  # type: ignore[arg-type]
        supply_source=supply_source,  # type: ignore[arg-type]
        **{k: v for k, v in kw.items() if v is not None},  # type: ignore[arg-type]
        source_record=record,  # type: ignore[arg-type]
    )
    asset.supply_time.CopyFrom(iso_time(as_of))
    asset.source_update_time.CopyFrom(iso_time(as_of))
    return asset


def coingecko_coin_market(payload: Json, ids: AggregatorIds) -> dict[str, Message]:
    """One /coins/markets element -> {"market_data", "asset", "identifier"}."""
    p = payload
    record = source_record("coingecko", "GET /api/v3/coins/markets?vs_currency=usd", payload, ids.receive_time)
    market_data = _market_data(
        ids,
        "coingecko",
        record,
        p["last_updated"],
        price=number(p["current_price"]),
        price_change_24h=number(p["price_change_24h"]),
        price_change_rate_24h=fraction(p["price_change_percentage_24h"]),
        high_24h=number(p["high_24h"]),
        low_24h=number(p["low_24h"]),
        volume_24h=number(p["total_volume"]),
        market_cap=number(p["market_cap"]),
        fully_diluted_valuation=number(p["fully_diluted_valuation"]),
        market_cap_rank=p["market_cap_rank"],
        circulating_supply=number(p["circulating_supply"]),
        market_cap_change_24h=number(p["market_cap_change_24h"]),
        market_cap_change_rate_24h=fraction(p["market_cap_change_percentage_24h"]),
    )
    asset = _asset(
        ids,
        p["symbol"],
        p["name"],
        asset_identifier_pb2.DATA_SOURCE_COINGECKO,
        p["last_updated"],
        record,
        logo_url=p["image"],
        total_supply=number(p["total_supply"]),
        circulating_supply=number(p["circulating_supply"]),
        max_supply=number(p["max_supply"]),
    )
    identifier = asset_identifier_pb2.AssetIdentifier(
        identifier_id=ids.identifier_id,
        asset_id=ids.asset_id,
        source=asset_identifier_pb2.DATA_SOURCE_COINGECKO,
        value=p["id"],
        source_symbol=p["symbol"],
        source_name=p["name"],
        source_record=record,
    )
    return {"market_data": market_data, "asset": asset, "identifier": identifier}


def coinmarketcap_listing(payload: Json, ids: AggregatorIds) -> dict[str, Message]:
    """One listings/latest element (quote.USD) -> {"market_data", "asset", "identifier"[, "deployment"]}."""
    p = payload
    usd = p["quote"]["USD"]
    record = source_record(
        "coinmarketcap", "GET /v1/cryptocurrency/listings/latest?convert=USD", payload, ids.receive_time
    )
    market_data = _market_data(
        ids,
        "coinmarketcap",
        record,
        usd["last_updated"],
        price=number(usd["price"]),
        price_change_rate_24h=fraction(usd["percent_change_24h"]),
        volume_24h=number(usd["volume_24h"]),
        market_cap=number(usd["market_cap"]),
        market_cap_rank=p["cmc_rank"],
        circulating_supply=number(p["circulating_supply"]),
        price_change_rate_1h=fraction(usd["percent_change_1h"]),
        price_change_rate_7d=fraction(usd["percent_change_7d"]),
    )
    asset = _asset(
        ids,
        p["symbol"],
        p["name"],
        asset_identifier_pb2.DATA_SOURCE_COINMARKETCAP,
        p["last_updated"],
        record,
        total_supply=number(p["total_supply"]),
        circulating_supply=number(p["circulating_supply"]),
        max_supply=number(p["max_supply"]),
    )
    asset.categories.extend(p["tags"])
    identifier = asset_identifier_pb2.AssetIdentifier(
        identifier_id=ids.identifier_id,
        asset_id=ids.asset_id,
        source=asset_identifier_pb2.DATA_SOURCE_COINMARKETCAP,
        value=str(p["id"]),
        source_symbol=p["symbol"],
        source_name=p["name"],
        source_record=record,
    )
    out: dict[str, Message] = {"market_data": market_data, "asset": asset, "identifier": identifier}
    platform = p["platform"]
    if platform is not None:
        assert ids.chains is not None and ids.deployment_id is not None
        out["deployment"] = deployment_pb2.AssetDeployment(
            deployment_id=ids.deployment_id,
            asset_id=ids.asset_id,
            chain_id=ids.chains[platform["slug"]],
            token_standard=deployment_pb2.TOKEN_STANDARD_ERC20,
            address=platform["token_address"],
            symbol=p["symbol"],
            name=p["name"],
            source_record=record,
        )
    return out


# --- Ledgers ----------------------------------------------------------------------------------------------------


def _num(message: str, path: str) -> Target:
    """A JSON number compared as a decimal; null -> unset."""
    return Target(message, path, lambda v, _r: UNSET if v is None else Decimal(repr(v)), "decimal")


def _pct(message: str, path: str) -> Target:
    """A percent number -> fraction; null -> unset."""
    return Target(message, path, lambda v, _r: UNSET if v is None else Decimal(repr(v)) / 100, "decimal")


def _time(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: iso_time(v).ToMilliseconds(), "time")


_HISTORY = "all-time high/low history of the price series (level, date, distance): not current market state"


def coingecko_coin_market_ledger(_payload: Json) -> dict[str, Entry]:
    """Every key of a CoinGecko /coins/markets element (sparkline=false, price_change_percentage unset)."""
    return {
        "id": mapped(same(AID, "value")),
        "symbol": mapped(same(AID, "source_symbol"), same(AST, "symbol")),
        "name": mapped(same(AID, "source_name"), same(AST, "name")),
        "image": mapped(same(AST, "logo_url")),
        "current_price": mapped(_num(AMD, "price")),
        "market_cap": mapped(_num(AMD, "market_cap")),
        "market_cap_rank": mapped(Target(AMD, "market_cap_rank", lambda v, _r: UNSET if v is None else v)),
        "fully_diluted_valuation": mapped(_num(AMD, "fully_diluted_valuation")),
        "total_volume": mapped(_num(AMD, "volume_24h")),
        "high_24h": mapped(_num(AMD, "high_24h")),
        "low_24h": mapped(_num(AMD, "low_24h")),
        "price_change_24h": mapped(_num(AMD, "price_change_24h")),
        "price_change_percentage_24h": mapped(_pct(AMD, "price_change_rate_24h")),
        "market_cap_change_24h": mapped(_num(AMD, "market_cap_change_24h")),
        "market_cap_change_percentage_24h": mapped(_pct(AMD, "market_cap_change_rate_24h")),
        "circulating_supply": mapped(_num(AMD, "circulating_supply"), _num(AST, "circulating_supply")),
        "total_supply": mapped(_num(AST, "total_supply")),
        "max_supply": mapped(_num(AST, "max_supply")),
        "ath": raw(_HISTORY),
        "ath_change_percentage": raw(_HISTORY),
        "ath_date": raw(_HISTORY),
        "atl": raw(_HISTORY),
        "atl_change_percentage": raw(_HISTORY),
        "atl_date": raw(_HISTORY),
        "roi": raw("return since the ICO price (null here): an investment statistic, not market state"),
        "last_updated": mapped(_time(AMD, "as_of_time"), _time(AST, "supply_time"), _time(AST, "source_update_time")),
    }


def coinmarketcap_listing_ledger(chains: Mapping[str, str]) -> dict[str, Entry]:
    """Every key of a CoinMarketCap listings/latest element with convert=USD."""
    q = "quote.USD"
    return {
        "id": mapped(Target(AID, "value", lambda v, _r: str(v))),
        "name": mapped(same(AID, "source_name"), same(AST, "name")),
        "symbol": mapped(same(AID, "source_symbol"), same(AST, "symbol")),
        "slug": raw("CoinMarketCap's URL slug of the coin page; the numeric id is the identifier"),
        "num_market_pairs": raw("count of the market pairs CoinMarketCap tracks: coverage, not market state"),
        "date_added": raw("when CoinMarketCap added the coin to its site"),
        "tags": mapped(same(AST, "categories")),
        "max_supply": mapped(_num(AST, "max_supply")),
        "circulating_supply": mapped(_num(AMD, "circulating_supply"), _num(AST, "circulating_supply")),
        "total_supply": mapped(_num(AST, "total_supply")),
        "platform": raw("null: the coin is a chain's native coin, with no token deployment to record"),
        "platform.id": raw("CoinMarketCap's id of the platform coin (Ethereum 1027); the chain is resolved by slug"),
        "platform.name": raw("display name of the platform chain"),
        "platform.symbol": raw("ticker of the platform chain's native coin"),
        "platform.slug": mapped(Target(DEP, "chain_id", lambda v, _r: chains[v])),
        "platform.token_address": mapped(same(DEP, "address")),
        "cmc_rank": mapped(same(AMD, "market_cap_rank")),
        "last_updated": mapped(_time(AST, "supply_time"), _time(AST, "source_update_time")),
        f"{q}.price": mapped(_num(AMD, "price")),
        f"{q}.volume_24h": mapped(_num(AMD, "volume_24h")),
        f"{q}.percent_change_1h": mapped(_pct(AMD, "price_change_rate_1h")),
        f"{q}.percent_change_24h": mapped(_pct(AMD, "price_change_rate_24h")),
        f"{q}.percent_change_7d": mapped(_pct(AMD, "price_change_rate_7d")),
        f"{q}.market_cap": mapped(_num(AMD, "market_cap")),
        f"{q}.last_updated": mapped(_time(AMD, "as_of_time")),
    }
