"""The reference MarketData's feeds beyond prices, books and trades: funding rates, open interest, liquidations,
ticker statistics, option greeks and aggregators' asset market data, read from the seed examples; plus the
resume tokens and page tokens every MarketData stream and list shares."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from cqc.markets.v1 import liquidity_pb2, market_data_pb2
from cqc.services.v1 import market_data_pb2 as pb
from cqc.testing._errors import ServiceError, failed_precondition, not_found
from cqc.testing._store import DEFAULT_PAGE_SIZE, Store, decode_page_token, encode_page_token, load_examples

__all__ = ["MarketDataFeedsMixin", "resume_position", "resume_token", "wait_until_cancelled"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)


def resume_token(stream: str, position: int) -> str:
    """The opaque resume token after message number ``position`` (1-based) of a stream kind."""
    return base64.urlsafe_b64encode(f"{stream}:{position}".encode()).decode()


def resume_position(stream: str, token: str | None) -> int:
    """The position a resume token names (0 without a token), or FAILED_PRECONDITION RESUME_TOKEN_EXPIRED for a
    token this server did not issue for this kind of stream."""
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").partition(":")
        position = int(number)
    except (UnicodeError, binascii.Error, ValueError):
        kind, position = "", -1
    if kind != stream or position < 0:
        raise failed_precondition(
            "RESUME_TOKEN_EXPIRED", f"resume_token {token!r} is unknown or expired; subscribe again without it"
        )
    return position


def _page(
    items: Sequence[M],
    page_size: int,
    page_token: str,
    limit: int = DEFAULT_PAGE_SIZE,
    request: Message | None = None,
) -> tuple[list[M], str]:
    """A page by offset; with ``request`` the token is bound to its RPC and filters (cqc.kit page tokens)."""
    start = int(decode_page_token(page_token, request)) if page_token else 0
    size = page_size or limit
    chosen = list(items[start : start + size])
    more = start + size < len(items)
    return chosen, encode_page_token(str(start + size), request) if more else ""


def _micros(message: Message, field: str) -> int:
    if not message.HasField(field):
        return 0
    stamp = getattr(message, field)
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _without_source(message: M, keep: bool) -> M:
    if not keep and message.HasField("source_record"):
        message.ClearField("source_record")
    return message


def _in_range(micros: int, since: Message, until: Message, has_since: bool, has_until: bool) -> bool:
    if has_since and micros < int(since.seconds) * 1_000_000 + int(since.nanos) // 1000:  # type: ignore[attr-defined]
        return False
    return not (has_until and micros >= int(until.seconds) * 1_000_000 + int(until.nanos) // 1000)  # type: ignore[attr-defined]


def wait_until_cancelled(context: Ctx) -> None:
    """Keep a live stream with nothing new open until the client cancels or its deadline passes."""
    done = threading.Event()
    if context.add_callback(done.set):
        while context.is_active() and not done.wait(0.5):
            pass


class MarketDataFeedsMixin:
    """The MarketData RPCs over the seeded funding rates, open interest, liquidations, ticker statistics, option
    greeks and asset market data. Mixed into MarketDataServicer, which provides ``store``, ``_missing`` and
    ``_require_markets``."""

    store: Store
    _missing: Callable[[str, str], ServiceError]
    _require_markets: Callable[[Iterable[str]], None]
    _feeds_lock = threading.Lock()
    _feeds_cache: dict[str, list[Message]] | None = None

    def _feed(self, cls: type[M]) -> list[M]:
        with self._feeds_lock:
            if self._feeds_cache is None:
                self._feeds_cache = {}
            name = cls.DESCRIPTOR.full_name
            if name not in self._feeds_cache:
                self._feeds_cache[name] = list(load_examples(self.store.examples_directory, cls))
            found = self._feeds_cache[name]
        copies: list[M] = []
        for item in found:
            copy = cls()
            copy.MergeFrom(item)  # type: ignore[arg-type]  # the cache holds cls instances under cls's name
            copies.append(copy)
        return copies

    # --- prices ---------------------------------------------------------------------------------------------

    def ListPrices(self, request: pb.ListPricesRequest, context: Ctx) -> pb.ListPricesResponse:
        markets, assets = set(request.market_ids), set(request.asset_ids)
        types, sources = set(request.price_types), set(request.sources)
        latest: dict[tuple[str, int], market_data_pb2.Price] = {}
        for price in self.store.prices:
            subject = price.market_id if price.WhichOneof("subject") == "market_id" else price.asset_id
            wanted = subject in markets if price.WhichOneof("subject") == "market_id" else subject in assets
            if not wanted or price.price_type not in types or (sources and price.source not in sources):
                continue
            key = (subject, int(price.price_type))
            if key not in latest or _micros(price, "receive_time") > _micros(latest[key], "receive_time"):
                latest[key] = price
        prices = []
        for key in sorted(latest):
            copy = market_data_pb2.Price()
            copy.CopyFrom(latest[key])
            prices.append(_without_source(copy, request.include_source_records))
        return pb.ListPricesResponse(prices=prices)

    # --- trades -------------------------------------------------------------------------------------------

    def ListTrades(self, request: pb.ListTradesRequest, context: Ctx) -> pb.ListTradesResponse:
        if self.store.markets.find(request.market_id) is None:
            raise self._missing(request.market_id, "trades")
        found = []
        for trade in self.store.trades:
            if trade.market_id != request.market_id or not _in_range(
                _micros(trade, "event_time"),
                request.since_time,
                request.until_time,
                request.HasField("since_time"),
                request.HasField("until_time"),
            ):
                continue
            copy = market_data_pb2.Trade()
            copy.CopyFrom(trade)
            found.append(_without_source(copy, request.include_source_records))
        found.sort(key=lambda t: (_micros(t, "event_time"), t.venue_trade_id))
        chosen, token = _page(found, request.page_size, request.page_token, request=request)
        return pb.ListTradesResponse(trades=chosen, next_page_token=token)

    # --- funding --------------------------------------------------------------------------------------------

    def _funding(self, market_id: str) -> list[market_data_pb2.FundingRate]:
        rates = [r for r in self._feed(market_data_pb2.FundingRate) if r.market_id == market_id]
        return sorted(rates, key=lambda r: (_micros(r, "funding_time"), _micros(r, "receive_time")))

    def GetFundingRate(self, request: pb.GetFundingRateRequest, context: Ctx) -> pb.GetFundingRateResponse:
        rates = self._funding(request.market_id)
        if not rates:
            raise self._missing(request.market_id, "funding rate")
        current = max(rates, key=lambda r: _micros(r, "receive_time"))
        return pb.GetFundingRateResponse(funding_rate=current)

    def ListFundingRates(self, request: pb.ListFundingRatesRequest, context: Ctx) -> pb.ListFundingRatesResponse:
        self._require_markets([request.market_id])
        final = (market_data_pb2.FUNDING_RATE_STATUS_SETTLED, market_data_pb2.FUNDING_RATE_STATUS_FIXED)
        rates = [
            _without_source(r, request.include_source_records)
            for r in self._funding(request.market_id)
            if r.status in final
            and _in_range(
                _micros(r, "funding_time"),
                request.since_time,
                request.until_time,
                request.HasField("since_time"),
                request.HasField("until_time"),
            )
        ]
        chosen, token = _page(rates, request.page_size, request.page_token, request=request)
        return pb.ListFundingRatesResponse(funding_rates=chosen, next_page_token=token)

    def StreamFundingRates(
        self, request: pb.StreamFundingRatesRequest, context: Ctx
    ) -> Iterator[pb.StreamFundingRatesResponse]:
        self._require_markets(request.market_ids)
        markets = set(request.market_ids)
        rates = [r for r in self._feed(market_data_pb2.FundingRate) if r.market_id in markets]
        rates.sort(key=lambda r: (_micros(r, "receive_time"), r.market_id))
        start = resume_position("funding", request.resume_token if request.HasField("resume_token") else None)
        if start > len(rates):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if start == 0 and not rates:
            yield pb.StreamFundingRatesResponse(resume_token=resume_token("funding", 0), snapshot_complete=True)
        for position, rate in enumerate(rates[start:], start=start + 1):
            yield pb.StreamFundingRatesResponse(
                funding_rate=rate,
                resume_token=resume_token("funding", position),
                snapshot_complete=start == 0 and position == len(rates),
            )

    # --- open interest --------------------------------------------------------------------------------------

    def _open_interest(self, market_id: str) -> list[market_data_pb2.OpenInterest]:
        found = [o for o in self._feed(market_data_pb2.OpenInterest) if o.market_id == market_id]
        return sorted(found, key=lambda o: _micros(o, "event_time") or _micros(o, "receive_time"))

    def GetOpenInterest(self, request: pb.GetOpenInterestRequest, context: Ctx) -> pb.GetOpenInterestResponse:
        found = self._open_interest(request.market_id)
        if not found:
            raise self._missing(request.market_id, "open interest")
        return pb.GetOpenInterestResponse(open_interest=found[-1])

    def ListOpenInterest(self, request: pb.ListOpenInterestRequest, context: Ctx) -> pb.ListOpenInterestResponse:
        if self.store.markets.find(request.market_id) is None:
            raise self._missing(request.market_id, "open interest")
        found = [
            _without_source(o, request.include_source_records)
            for o in self._open_interest(request.market_id)
            if _in_range(
                _micros(o, "event_time") or _micros(o, "receive_time"),
                request.since_time,
                request.until_time,
                request.HasField("since_time"),
                request.HasField("until_time"),
            )
            and (not request.HasField("period") or o.period == request.period)
        ]
        chosen, token = _page(found, request.page_size, request.page_token, request=request)
        return pb.ListOpenInterestResponse(open_interests=chosen, next_page_token=token)

    # --- liquidations ---------------------------------------------------------------------------------------

    def _liquidations(self, markets: set[str]) -> list[market_data_pb2.Liquidation]:
        found = [x for x in self._feed(market_data_pb2.Liquidation) if x.market_id in markets]
        return sorted(found, key=lambda x: (_micros(x, "event_time"), x.market_id))

    def ListLiquidations(self, request: pb.ListLiquidationsRequest, context: Ctx) -> pb.ListLiquidationsResponse:
        if self.store.markets.find(request.market_id) is None:
            raise self._missing(request.market_id, "liquidations")
        found = [
            _without_source(x, request.include_source_records)
            for x in self._liquidations({request.market_id})
            if _in_range(
                _micros(x, "event_time"),
                request.since_time,
                request.until_time,
                request.HasField("since_time"),
                request.HasField("until_time"),
            )
        ]
        chosen, token = _page(found, request.page_size, request.page_token, request=request)
        return pb.ListLiquidationsResponse(liquidations=chosen, next_page_token=token)

    def StreamLiquidations(
        self, request: pb.StreamLiquidationsRequest, context: Ctx
    ) -> Iterator[pb.StreamLiquidationsResponse]:
        self._require_markets(request.market_ids)
        found = self._liquidations(set(request.market_ids))
        start = resume_position("liquidations", request.resume_token if request.HasField("resume_token") else None)
        if start > len(found):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if start == 0:  # no state: the snapshot is empty, the marker says so
            yield pb.StreamLiquidationsResponse(resume_token=resume_token("liquidations", 0), snapshot_complete=True)
        for position, liquidation in enumerate(found[start:], start=start + 1):
            yield pb.StreamLiquidationsResponse(
                liquidation=liquidation, resume_token=resume_token("liquidations", position)
            )
        wait_until_cancelled(context)

    # --- ticker statistics ----------------------------------------------------------------------------------

    def ListTickerStatistics(
        self, request: pb.ListTickerStatisticsRequest, context: Ctx
    ) -> pb.ListTickerStatisticsResponse:
        window = request.window if request.HasField("window") else None
        latest: dict[str, market_data_pb2.TickerStatistics] = {}
        for stats in self._feed(market_data_pb2.TickerStatistics):
            if stats.market_id not in request.market_ids:
                continue
            if window is not None and stats.window != window:
                continue
            if window is None and stats.window.seconds != 86400:
                continue
            known = latest.get(stats.market_id)
            if known is None or _micros(stats, "receive_time") > _micros(known, "receive_time"):
                latest[stats.market_id] = stats
        keep = request.include_source_records
        ordered = [_without_source(latest[m], keep) for m in request.market_ids if m in latest]
        return pb.ListTickerStatisticsResponse(ticker_statistics=ordered)

    # --- option greeks --------------------------------------------------------------------------------------

    def _greeks(self, markets: set[str], source: str) -> list[market_data_pb2.OptionGreeks]:
        found = [
            g
            for g in self._feed(market_data_pb2.OptionGreeks)
            if g.market_id in markets and (not source or g.source == source)
        ]
        return sorted(found, key=lambda g: (_micros(g, "receive_time"), g.market_id))

    def GetOptionGreeks(self, request: pb.GetOptionGreeksRequest, context: Ctx) -> pb.GetOptionGreeksResponse:
        found = self._greeks({request.market_id}, request.source)
        if not found:
            raise self._missing(request.market_id, "option greeks")
        return pb.GetOptionGreeksResponse(option_greeks=found[-1])

    def StreamOptionGreeks(
        self, request: pb.StreamOptionGreeksRequest, context: Ctx
    ) -> Iterator[pb.StreamOptionGreeksResponse]:
        self._require_markets(request.market_ids)
        found = self._greeks(set(request.market_ids), "")
        start = resume_position("greeks", request.resume_token if request.HasField("resume_token") else None)
        if start > len(found):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if start == 0 and not found:
            yield pb.StreamOptionGreeksResponse(resume_token=resume_token("greeks", 0), snapshot_complete=True)
        for position, greeks in enumerate(found[start:], start=start + 1):
            yield pb.StreamOptionGreeksResponse(
                option_greeks=greeks,
                resume_token=resume_token("greeks", position),
                snapshot_complete=start == 0 and position == len(found),
            )

    # --- asset market data ----------------------------------------------------------------------------------

    def _asset_market_data(self) -> list[liquidity_pb2.AssetMarketData]:
        found = self._feed(liquidity_pb2.AssetMarketData)
        unranked = 1 << 32
        return sorted(
            found,
            key=lambda a: (
                a.market_cap_rank if a.HasField("market_cap_rank") else unranked,
                a.asset_id,
                a.source,
                -_micros(a, "as_of_time"),
            ),
        )

    def GetAssetMarketData(self, request: pb.GetAssetMarketDataRequest, context: Ctx) -> pb.GetAssetMarketDataResponse:
        found = [
            a
            for a in self._asset_market_data()
            if a.asset_id == request.asset_id and (not request.source or a.source == request.source)
        ]
        if not found:
            if self.store.assets.find(request.asset_id) is None:
                raise not_found("NOT_FOUND_ASSET", f"no asset {request.asset_id!r}", asset_id=request.asset_id)
            raise not_found(
                "NOT_FOUND_RESOURCE", f"no market data for asset {request.asset_id!r}", asset_id=request.asset_id
            )
        return pb.GetAssetMarketDataResponse(asset_market_data=max(found, key=lambda a: _micros(a, "as_of_time")))

    def ListAssetMarketData(
        self, request: pb.ListAssetMarketDataRequest, context: Ctx
    ) -> pb.ListAssetMarketDataResponse:
        assets = set(request.asset_ids)
        items = [
            a
            for a in self._asset_market_data()
            if (not assets or a.asset_id in assets) and (not request.source or a.source == request.source)
        ]
        latest: dict[tuple[str, str], liquidity_pb2.AssetMarketData] = {}
        for item in items:
            key = (item.asset_id, item.source)
            if key not in latest or _micros(item, "as_of_time") > _micros(latest[key], "as_of_time"):
                latest[key] = item
        ordered = [
            _without_source(a, request.include_source_records) for a in items if latest[(a.asset_id, a.source)] is a
        ]
        chosen, token = _page(ordered, request.page_size, request.page_token, request=request)
        return pb.ListAssetMarketDataResponse(asset_market_data=chosen, next_page_token=token)
