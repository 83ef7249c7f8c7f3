"""The reference MarketData's VWAP, depth bands, liquidity summary and candles, read from the seeded examples of
those types (the reference server aggregates nothing itself)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from cqc.markets.v1 import candle_pb2, liquidity_pb2
from cqc.services.v1 import market_data_pb2 as pb
from cqc.testing._errors import ServiceError, not_found
from cqc.testing._market_data_feeds import _micros, _page, _without_source
from cqc.testing._store import Store

__all__ = ["DEFAULT_DEPTH_BANDS", "MarketDataLiquidityMixin"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)

DEFAULT_DEPTH_BANDS = ("0.005", "0.01", "0.02")
"""The bands GetMarketDepth answers when the request names none."""
CANDLE_PAGE_SIZE = 500


def _number(value: str) -> Decimal | None:
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


class MarketDataLiquidityMixin:
    """GetVWAP, GetMarketDepth, GetLiquidityMetrics and ListCandles. Mixed into MarketDataServicer, which provides
    ``store``, ``_missing`` and ``_feed`` (MarketDataFeedsMixin)."""

    store: Store
    _missing: Callable[[str, str], ServiceError]
    _feed: Callable[..., list]  # type: ignore[type-arg]  # MarketDataFeedsMixin._feed(cls) -> list[cls]

    def GetVWAP(self, request: pb.GetVWAPRequest, context: Ctx) -> pb.GetVWAPResponse:
        """The market's seeded VWAP whose window equals the requested one, else its latest (by end_time)."""
        found: list[candle_pb2.VWAP] = [v for v in self._feed(candle_pb2.VWAP) if v.market_id == request.market_id]
        if not found:
            raise self._missing(request.market_id, "VWAP")
        found.sort(key=lambda v: _micros(v, "end_time"))
        want = request.window.ToMicroseconds()
        chosen = found[-1]
        for vwap in found:
            if _micros(vwap, "end_time") - _micros(vwap, "start_time") == want:
                chosen = vwap
        return pb.GetVWAPResponse(vwap=chosen)

    def GetMarketDepth(self, request: pb.GetMarketDepthRequest, context: Ctx) -> pb.GetMarketDepthResponse:
        """The market's latest seeded depth (by receive_time) with only the requested bands, narrowest first."""
        found: list[liquidity_pb2.MarketDepth] = [
            d for d in self._feed(liquidity_pb2.MarketDepth) if d.market_id == request.market_id
        ]
        if not found:
            raise self._missing(request.market_id, "depth")
        found.sort(key=lambda d: _micros(d, "receive_time"))
        depth = found[-1]
        wanted = [_number(f) for f in (request.band_fractions or DEFAULT_DEPTH_BANDS)]
        bands = [
            band for band in depth.bands if _number(band.distance) is not None and _number(band.distance) in wanted
        ]
        bands.sort(key=lambda band: _number(band.distance) or Decimal(0))
        kept = [type(band)() for band in bands]
        for copy, band in zip(kept, bands, strict=True):
            copy.CopyFrom(band)
        del depth.bands[:]
        depth.bands.extend(kept)
        return pb.GetMarketDepthResponse(market_depth=depth)

    def GetLiquidityMetrics(
        self, request: pb.GetLiquidityMetricsRequest, context: Ctx
    ) -> pb.GetLiquidityMetricsResponse:
        """The market's latest seeded liquidity summary (by as_of_time)."""
        found: list[liquidity_pb2.LiquidityMetrics] = [
            m for m in self._feed(liquidity_pb2.LiquidityMetrics) if m.market_id == request.market_id
        ]
        if not found:
            raise self._missing(request.market_id, "liquidity metrics")
        found.sort(key=lambda m: _micros(m, "as_of_time"))
        return pb.GetLiquidityMetricsResponse(liquidity_metrics=found[-1])

    def ListCandles(self, request: pb.ListCandlesRequest, context: Ctx) -> pb.ListCandlesResponse:
        """The market's seeded candles of exactly the requested bar opening in [since_time, until_time), oldest
        first, paged (page_size 0: 500); without since_time only the most recent page_size candles."""
        if self.store.markets.find(request.market_id) is None:
            raise not_found("NOT_FOUND_MARKET", f"no market {request.market_id!r}", market_id=request.market_id)
        since = _micros(request, "since_time") if request.HasField("since_time") else None
        until = _micros(request, "until_time") if request.HasField("until_time") else None
        found: list[candle_pb2.Candle] = []
        for candle in self._feed(candle_pb2.Candle):
            opened = _micros(candle, "open_time")
            if candle.market_id != request.market_id or candle.specification != request.bar:
                continue
            if (since is not None and opened < since) or (until is not None and opened >= until):
                continue
            found.append(_without_source(candle, request.include_source_records))
        found.sort(key=lambda c: _micros(c, "open_time"))
        size = request.page_size or CANDLE_PAGE_SIZE
        if since is None and len(found) > size:
            found = found[-size:]
        chosen, token = _page(found, size, request.page_token, request=request)
        return pb.ListCandlesResponse(candles=chosen, next_page_token=token)
