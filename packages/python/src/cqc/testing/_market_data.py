"""The reference MarketData: the seeded prices, order books and trades, unary and streamed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import grpc

from cqc.markets.v1 import market_data_pb2, order_book_pb2
from cqc.services.v1 import market_data_pb2 as pb
from cqc.services.v1 import market_data_pb2_grpc
from cqc.testing._errors import ServiceError, failed_precondition, not_found
from cqc.testing._market_data_feeds import MarketDataFeedsMixin, resume_position, resume_token, wait_until_cancelled
from cqc.testing._market_data_liquidity import MarketDataLiquidityMixin
from cqc.testing._store import Store

__all__ = ["MarketDataServicer"]

Ctx = grpc.ServicerContext


def _truncated(book: order_book_pb2.OrderBook, depth: int) -> order_book_pb2.OrderBook:
    copy = order_book_pb2.OrderBook()
    copy.CopyFrom(book)
    if depth:
        del copy.bids[depth:]
        del copy.asks[depth:]
        if copy.depth > depth:
            copy.depth = depth
    return copy


class MarketDataServicer(MarketDataLiquidityMixin, MarketDataFeedsMixin, market_data_pb2_grpc.MarketDataServicer):
    """Every MarketData RPC over the seeded data (MarketDataLiquidityMixin: VWAP, depth, liquidity metrics and
    candles). Streams carry resume tokens (a position in the stream's ordered seed data) and mark the end of
    their snapshot."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _require_markets(self, market_ids: Iterable[str]) -> None:
        """NOT_FOUND_MARKET for the first id that names no market (the service promises it for unknown markets:
        a stream refuses before any message)."""
        for market_id in market_ids:
            if self.store.markets.find(market_id) is None:
                raise not_found("NOT_FOUND_MARKET", f"no market {market_id!r}", market_id=market_id)

    def _missing(self, market_id: str, what: str) -> ServiceError:
        if self.store.markets.find(market_id) is None:
            return not_found("NOT_FOUND_MARKET", f"no market {market_id!r}", market_id=market_id)
        return not_found("NOT_FOUND_RESOURCE", f"no {what} for market {market_id!r}", market_id=market_id)

    def GetPrice(self, request: pb.GetPriceRequest, context: Ctx) -> pb.GetPriceResponse:
        matching = [
            p for p in self.store.prices if p.market_id == request.market_id and p.price_type == request.price_type
        ]
        if not matching:
            raise self._missing(request.market_id, market_data_pb2.PriceType.Name(request.price_type))
        latest = max(matching, key=lambda p: (p.receive_time.seconds, p.receive_time.nanos))
        return pb.GetPriceResponse(price=latest)

    def _snapshot(self, market_id: str) -> order_book_pb2.OrderBook | None:
        snapshots = [b for b in self.store.order_books if b.market_id == market_id and b.is_snapshot]
        return max(snapshots, key=lambda b: b.last_update_id) if snapshots else None

    def GetOrderBook(self, request: pb.GetOrderBookRequest, context: Ctx) -> pb.GetOrderBookResponse:
        snapshot = self._snapshot(request.market_id)
        if snapshot is None:
            raise self._missing(request.market_id, "order book")
        book = _truncated(snapshot, request.depth)
        if not request.include_source_record:
            book.ClearField("source_record")
        return pb.GetOrderBookResponse(order_book=book)

    def StreamOrderBook(self, request: pb.StreamOrderBookRequest, context: Ctx) -> Iterator[pb.StreamOrderBookResponse]:
        if self.store.markets.find(request.market_id) is None:
            raise self._missing(request.market_id, "order book")
        snapshot = self._snapshot(request.market_id)
        deltas = [b for b in self.store.order_books if b.market_id == request.market_id and not b.is_snapshot]
        deltas.sort(key=lambda b: b.last_update_id)
        # Position 0 is the snapshot, position i the i-th delta. A resume replays the deltas after the token;
        # one the server no longer holds (here: beyond the seeded deltas) is expired.
        start = resume_position("book", request.resume_token if request.HasField("resume_token") else None)
        if start > len(deltas):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if not request.HasField("resume_token") and snapshot is not None:
            yield pb.StreamOrderBookResponse(
                order_book=_truncated(snapshot, request.depth),
                resume_token=resume_token("book", 0),
                snapshot_complete=True,
            )
        for position, delta in enumerate(deltas[start:], start=start + 1):
            yield pb.StreamOrderBookResponse(
                order_book=_truncated(delta, request.depth), resume_token=resume_token("book", position)
            )

    def StreamPrices(self, request: pb.StreamPricesRequest, context: Ctx) -> Iterator[pb.StreamPricesResponse]:
        self._require_markets(request.market_ids)
        markets, types = set(request.market_ids), set(request.price_types)
        matching = [p for p in self.store.prices if p.market_id in markets and p.price_type in types]
        matching.sort(key=lambda p: (p.market_id, p.price_type, p.receive_time.seconds, p.receive_time.nanos))
        start = resume_position("prices", request.resume_token if request.HasField("resume_token") else None)
        if start > len(matching):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if start == 0 and not matching:
            yield pb.StreamPricesResponse(resume_token=resume_token("prices", 0), snapshot_complete=True)
        for position, price in enumerate(matching[start:], start=start + 1):
            yield pb.StreamPricesResponse(
                price=price,
                is_snapshot=start == 0,
                resume_token=resume_token("prices", position),
                snapshot_complete=start == 0 and position == len(matching),
            )

    def StreamTrades(self, request: pb.StreamTradesRequest, context: Ctx) -> Iterator[pb.StreamTradesResponse]:
        self._require_markets(request.market_ids)
        markets = set(request.market_ids)
        matching = [t for t in self.store.trades if t.market_id in markets]
        matching.sort(key=lambda t: (t.event_time.seconds, t.event_time.nanos, t.venue_trade_id))
        start = resume_position("trades", request.resume_token if request.HasField("resume_token") else None)
        if start > len(matching):
            raise failed_precondition("RESUME_TOKEN_EXPIRED", "resume_token is beyond this stream; subscribe again")
        if start == 0:  # trades have no state: the snapshot is empty, the marker says so
            yield pb.StreamTradesResponse(resume_token=resume_token("trades", 0), snapshot_complete=True)
        # The seeded trades play the live feed, each with its position as resume token.
        for position, trade in enumerate(matching[start:], start=start + 1):
            yield pb.StreamTradesResponse(trade=trade, resume_token=resume_token("trades", position))
        # A live feed with nothing new: stay open until the client cancels or its deadline passes.
        wait_until_cancelled(context)
