"""Derivatives and index market data records -> the market-data messages of cqc.markets.v1.

Sources and conversions (market_data.proto / order_book.proto comments):
  - Bybit V5 option ticker (tickers.{symbol} data): bid/ask -> L1 OrderBook snapshot ("0" price and size =
    no order on that side); bidIv / askIv / markPriceIv fractions -> OptionGreeks (an iv of "0" beside an
    empty side = not published); delta / gamma / vega / theta verbatim; markPrice / indexPrice -> Price;
    24 h statistics -> TickerStatistics (change24h is a fraction already; totalVolume / totalTurnover are
    lifetime); predictedDeliveryPrice "0" = none (a Price only when non-zero); ts (beside the payload) ->
    event times.
  - Binance USD-M forceOrder event -> Liquidation (S side, o type, f time in force, q size, p price, ap
    average, X status, l last filled, z filled, T time); E is the stream's push time.
  - OKX funding-rate-history element -> FundingRate SETTLED with realized_rate.
  - Binance USD-M openInterestHist element -> OpenInterest (sumOpenInterest in base, value in USDT).
  - OKX index-tickers element -> INDEX-market Price and TickerStatistics (open24h / high24h / low24h and
    the UTC+0 / UTC+8 session opens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from cqc.markets.v1 import market_data_pb2, order_book_pb2
from cqc.types.v1 import amount_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, source_record, timestamp_ms
from .gaps import raw
from .ledger import UNSET, Entry, Expect, Target, mapped
from .ledgers import same

DAY = Duration(seconds=24 * 3600)


@dataclass(frozen=True)
class FeedIds:
    """The venue symbol's CQC market, the assets prices are quoted in, and when the record arrived."""

    markets: Mapping[str, str]
    assets: Mapping[str, str]
    receive_time: datetime


def _stamp(message: Message, ids: FeedIds) -> Message:
    message.receive_time.FromDatetime(ids.receive_time)  # type: ignore[attr-defined]
    return message


def _none_if_zero(value: str) -> str | None:
    return None if Decimal(value) == 0 else value


# --- Bybit option ticker ------------------------------------------------------------------------------------------


def bybit_option_ticker(payload: Json, ids: FeedIds, ts: int, quote: str) -> dict[str, Message]:
    """tickers.{symbol} data of an option -> {"book", "greeks", "ticker", "open_interest", "mark", "index"
    [, "estimated_delivery"]}."""
    p = payload
    record = source_record("bybit", f"WebSocket tickers.{p['symbol']} (option)", payload, ids.receive_time)
    market = ids.markets[p["symbol"]]
    when = timestamp_ms(ts)
    book = order_book_pb2.OrderBook(
        market_id=market,
        book_type=order_book_pb2.BOOK_TYPE_L1_MBP,
        is_snapshot=True,
        event_time=when,
        source_record=record,
    )
    for side, price, size in ((book.bids, p["bidPrice"], p["bidSize"]), (book.asks, p["askPrice"], p["askSize"])):
        if Decimal(price) != 0 or Decimal(size) != 0:
            side.add(price=price, size=size, action=order_book_pb2.BOOK_ACTION_ADD)
    greeks = market_data_pb2.OptionGreeks(
        market_id=market,
        source="bybit",
        bid_iv=None if Decimal(p["bidPrice"]) == 0 else p["bidIv"],
        ask_iv=None if Decimal(p["askPrice"]) == 0 else p["askIv"],
        mark_iv=p["markPriceIv"],
        delta=p["delta"],
        gamma=p["gamma"],
        vega=p["vega"],
        theta=p["theta"],
        underlying_price=p["underlyingPrice"],
        mark_price=p["markPrice"],
        event_time=when,
        source_record=record,
    )
    ticker = market_data_pb2.TickerStatistics(
        market_id=market,
        window=DAY,
        high_price=p["highPrice24h"],
        low_price=p["lowPrice24h"],
        last_price=p["lastPrice"],
        volume=p["volume24h"],
        quote_volume=p["turnover24h"],
        price_change_rate=p["change24h"],
        lifetime_volume=p["totalVolume"],
        lifetime_quote_volume=p["totalTurnover"],
        close_time=when,
        source_record=record,
    )
    open_interest = market_data_pb2.OpenInterest(
        market_id=market,
        amount=p["openInterest"],
        amount_unit=trading_pb2.QUANTITY_UNIT_BASE,
        event_time=when,
        source_record=record,
    )
    out: dict[str, Message] = {"book": book, "greeks": greeks, "ticker": ticker, "open_interest": open_interest}
    for name, key, kind in (
        ("mark", "markPrice", market_data_pb2.PRICE_TYPE_MARK),
        ("index", "indexPrice", market_data_pb2.PRICE_TYPE_INDEX),
        ("estimated_delivery", "predictedDeliveryPrice", market_data_pb2.PRICE_TYPE_ESTIMATED_SETTLEMENT),
    ):
        if Decimal(p[key]) == 0 and name == "estimated_delivery":
            continue
        out[name] = market_data_pb2.Price(
            market_id=market,
            price_type=kind,
            value=p[key],
            quote_asset_id=ids.assets[quote],
            source="bybit",
            source_type=market_data_pb2.PRICE_SOURCE_TYPE_VENUE,
            event_time=when,
            source_record=record,
        )
    for message in [*out.values(), book]:
        _stamp(message, ids)
    return out


def _dec(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: Decimal(v), "decimal")


def _book(side: str, field: str, key_price: str) -> Target:
    """A top-of-book value; "0" price and size = no order on that side (no level)."""
    return Target(
        "book",
        f"{side}[0].{field}",
        lambda v, r: UNSET if Decimal(r[key_price]) == 0 else Decimal(v),
        "decimal",
    )


def _iv_when_side(key_price: str) -> Expect:
    return lambda v, r: UNSET if Decimal(r[key_price]) == 0 else Decimal(v)


def bybit_option_ticker_ledger(markets: Mapping[str, str], payload: Json) -> dict[str, Entry]:
    """Every key of a Bybit option ticker's data object."""
    delivery = (
        mapped() if Decimal(payload["predictedDeliveryPrice"]) == 0 else mapped(_dec("estimated_delivery", "value"))
    )
    return {
        "symbol": mapped(*(Target(m, "market_id", lambda v, _r: markets[v]) for m in ("book", "greeks", "ticker"))),
        "bidPrice": mapped(_book("bids", "price", "bidPrice")),
        "bidSize": mapped(_book("bids", "size", "bidPrice")),
        "bidIv": mapped(Target("greeks", "bid_iv", _iv_when_side("bidPrice"), "decimal")),
        "askPrice": mapped(_book("asks", "price", "askPrice")),
        "askSize": mapped(_book("asks", "size", "askPrice")),
        "askIv": mapped(Target("greeks", "ask_iv", _iv_when_side("askPrice"), "decimal")),
        "lastPrice": mapped(_dec("ticker", "last_price")),
        "highPrice24h": mapped(_dec("ticker", "high_price")),
        "lowPrice24h": mapped(_dec("ticker", "low_price")),
        "markPrice": mapped(_dec("mark", "value"), _dec("greeks", "mark_price")),
        "indexPrice": mapped(_dec("index", "value")),
        "markPriceIv": mapped(_dec("greeks", "mark_iv")),
        "underlyingPrice": mapped(_dec("greeks", "underlying_price")),
        "openInterest": mapped(_dec("open_interest", "amount")),
        "turnover24h": mapped(_dec("ticker", "quote_volume")),
        "volume24h": mapped(_dec("ticker", "volume")),
        "totalVolume": mapped(_dec("ticker", "lifetime_volume")),
        "totalTurnover": mapped(_dec("ticker", "lifetime_quote_volume")),
        "delta": mapped(_dec("greeks", "delta")),
        "gamma": mapped(_dec("greeks", "gamma")),
        "vega": mapped(_dec("greeks", "vega")),
        "theta": mapped(_dec("greeks", "theta")),
        "predictedDeliveryPrice": delivery,
        "change24h": mapped(_dec("ticker", "price_change_rate")),
    }


# --- Binance USD-M forceOrder -------------------------------------------------------------------------------------

SIDE = {"BUY": trading_pb2.SIDE_BUY, "SELL": trading_pb2.SIDE_SELL}
FUTURES_TYPE = {"LIMIT": trading_pb2.ORDER_TYPE_LIMIT, "MARKET": trading_pb2.ORDER_TYPE_MARKET}
TIF = {"IOC": trading_pb2.TIME_IN_FORCE_IOC, "GTC": trading_pb2.TIME_IN_FORCE_GTC, "FOK": trading_pb2.TIME_IN_FORCE_FOK}


def binance_force_order(payload: Json, ids: FeedIds) -> dict[str, Message]:
    """A forceOrder event -> {"liquidation"}."""
    o = payload["o"]
    record = source_record("binance-usdm", f"WebSocket {o['s'].lower()}@forceOrder", payload, ids.receive_time)
    liquidation = market_data_pb2.Liquidation(
        market_id=ids.markets[o["s"]],
        side=SIDE[o["S"]],
        price=o["p"],
        size=o["q"],
        average_price=o["ap"],
        filled_size=o["z"],
        last_filled_size=o["l"],
        order_type=FUTURES_TYPE[o["o"]],
        time_in_force=TIF[o["f"]],
        venue_order_status=o["X"],
        event_time=timestamp_ms(o["T"]),
        source_record=record,
    )
    return {"liquidation": _stamp(liquidation, ids)}


def binance_force_order_ledger(markets: Mapping[str, str]) -> dict[str, Entry]:
    liq = "liquidation"
    return {
        "e": raw("the event type name 'forceOrder', which selects this mapping"),
        "E": raw("when the stream pushed the event; the liquidation's own time is o.T"),
        "o.s": mapped(Target(liq, "market_id", lambda v, _r: markets[v])),
        "o.S": mapped(Target(liq, "side", lambda v, _r: SIDE[v])),
        "o.o": mapped(Target(liq, "order_type", lambda v, _r: FUTURES_TYPE[v])),
        "o.f": mapped(Target(liq, "time_in_force", lambda v, _r: TIF[v])),
        "o.q": mapped(_dec(liq, "size")),
        "o.p": mapped(_dec(liq, "price")),
        "o.ap": mapped(_dec(liq, "average_price")),
        "o.X": mapped(same(liq, "venue_order_status")),
        "o.l": mapped(_dec(liq, "last_filled_size")),
        "o.z": mapped(_dec(liq, "filled_size")),
        "o.T": mapped(Target(liq, "event_time", lambda v, _r: int(v), "time")),
    }


# --- OKX funding-rate history ---------------------------------------------------------------------------------------


def okx_funding_history(payload: Json, ids: FeedIds) -> dict[str, Message]:
    """One funding-rate-history element -> {"funding"} (SETTLED)."""
    p = payload
    record = source_record("okx", "GET /api/v5/public/funding-rate-history", payload, ids.receive_time)
    funding = market_data_pb2.FundingRate(
        market_id=ids.markets[p["instId"]],
        funding_rate=p["fundingRate"],
        status=market_data_pb2.FUNDING_RATE_STATUS_SETTLED,
        funding_time=timestamp_ms(int(p["fundingTime"])),
        realized_rate=p["realizedRate"],
        source_record=record,
    )
    return {"funding": _stamp(funding, ids)}


def okx_funding_history_ledger(markets: Mapping[str, str]) -> dict[str, Entry]:
    return {
        "instType": raw("the instrument family of instId (SWAP): the market already says it"),
        "instId": mapped(Target("funding", "market_id", lambda v, _r: markets[v])),
        "fundingRate": mapped(_dec("funding", "funding_rate")),
        "realizedRate": mapped(_dec("funding", "realized_rate")),
        "fundingTime": mapped(Target("funding", "funding_time", lambda v, _r: int(v), "time")),
    }


# --- Binance open-interest history ------------------------------------------------------------------------------------


def binance_open_interest_hist(payload: Json, ids: FeedIds, value_asset: str) -> dict[str, Message]:
    """One openInterestHist element -> {"open_interest"}."""
    p = payload
    record = source_record("binance-usdm", "GET /futures/data/openInterestHist", payload, ids.receive_time)
    oi = market_data_pb2.OpenInterest(
        market_id=ids.markets[p["symbol"]],
        amount=p["sumOpenInterest"],
        amount_unit=trading_pb2.QUANTITY_UNIT_BASE,
        value=amount_pb2.AssetAmount(amount=p["sumOpenInterestValue"], asset_id=ids.assets[value_asset]),
        event_time=timestamp_ms(int(p["timestamp"])),
        source_record=record,
    )
    return {"open_interest": _stamp(oi, ids)}


def binance_open_interest_hist_ledger(markets: Mapping[str, str]) -> dict[str, Entry]:
    oi = "open_interest"
    return {
        "symbol": mapped(Target(oi, "market_id", lambda v, _r: markets[v])),
        "sumOpenInterest": mapped(_dec(oi, "amount")),
        "sumOpenInterestValue": mapped(_dec(oi, "value.amount")),
        "timestamp": mapped(Target(oi, "event_time", lambda v, _r: int(v), "time")),
    }


# --- OKX index ticker -----------------------------------------------------------------------------------------------


def okx_index_ticker(payload: Json, ids: FeedIds, quote: str) -> dict[str, Message]:
    """One index-tickers element -> {"index", "ticker"} on the index's INDEX market."""
    p = payload
    record = source_record("okx", "GET /api/v5/market/index-tickers", payload, ids.receive_time)
    market = ids.markets[p["instId"]]
    when = timestamp_ms(int(p["ts"]))
    price = market_data_pb2.Price(
        market_id=market,
        price_type=market_data_pb2.PRICE_TYPE_INDEX,
        value=p["idxPx"],
        quote_asset_id=ids.assets[quote],
        source="okx",
        source_type=market_data_pb2.PRICE_SOURCE_TYPE_VENUE,
        event_time=when,
        source_record=record,
    )
    ticker = market_data_pb2.TickerStatistics(
        market_id=market,
        window=DAY,
        open_price=p["open24h"],
        high_price=p["high24h"],
        low_price=p["low24h"],
        last_price=p["idxPx"],
        close_time=when,
        session_open_prices=[
            market_data_pb2.SessionOpenPrice(utc_offset=Duration(seconds=0), price=p["sodUtc0"]),
            market_data_pb2.SessionOpenPrice(utc_offset=Duration(seconds=8 * 3600), price=p["sodUtc8"]),
        ],
        source_record=record,
    )
    return {"index": _stamp(price, ids), "ticker": _stamp(ticker, ids)}


def okx_index_ticker_ledger(markets: Mapping[str, str]) -> dict[str, Entry]:
    return {
        "instId": mapped(*(Target(m, "market_id", lambda v, _r: markets[v]) for m in ("index", "ticker"))),
        "idxPx": mapped(_dec("index", "value"), _dec("ticker", "last_price")),
        "high24h": mapped(_dec("ticker", "high_price")),
        "sodUtc0": mapped(_dec("ticker", "session_open_prices[0].price")),
        "open24h": mapped(_dec("ticker", "open_price")),
        "low24h": mapped(_dec("ticker", "low_price")),
        "sodUtc8": mapped(
            _dec("ticker", "session_open_prices[1].price"),
            Target("ticker", "session_open_prices[1].utc_offset", lambda _v, _r: 8 * 3600 * 1000, "duration"),
        ),
        "ts": mapped(
            Target("index", "event_time", lambda v, _r: int(v), "time"),
            Target("ticker", "close_time", lambda v, _r: int(v), "time"),
        ),
    }
