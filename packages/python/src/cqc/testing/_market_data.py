"""The reference MarketData: the seeded prices, order books and trades, unary and streamed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc

from cqc.markets.v1 import market_data_pb2, order_book_pb2
from cqc.services.v1 import market_data_pb2 as pb
from cqc.services.v1 import market_data_pb2_grpc
from cqc.testing._errors import ServiceError, not_found
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


class MarketDataServicer(market_data_pb2_grpc.MarketDataServicer):
    """GetPrice, GetOrderBook, StreamOrderBook, StreamPrices and StreamTrades over the seeded data; the other
    RPCs answer UNIMPLEMENTED (the generated default)."""

    def __init__(self, store: Store) -> None:
        self.store = store

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
        return pb.GetOrderBookResponse(order_book=_truncated(snapshot, request.depth))

    def StreamOrderBook(self, request: pb.StreamOrderBookRequest, context: Ctx) -> Iterator[pb.StreamOrderBookResponse]:
        if self.store.markets.find(request.market_id) is None:
            raise self._missing(request.market_id, "order book")
        snapshot = self._snapshot(request.market_id)
        if snapshot is not None:
            yield pb.StreamOrderBookResponse(order_book=_truncated(snapshot, request.depth))
        deltas = [b for b in self.store.order_books if b.market_id == request.market_id and not b.is_snapshot]
        for delta in sorted(deltas, key=lambda b: b.last_update_id):
            yield pb.StreamOrderBookResponse(order_book=_truncated(delta, request.depth))

    def StreamPrices(self, request: pb.StreamPricesRequest, context: Ctx) -> Iterator[pb.StreamPricesResponse]:
        markets, types = set(request.market_ids), set(request.price_types)
        matching = [p for p in self.store.prices if p.market_id in markets and p.price_type in types]
        matching.sort(key=lambda p: (p.market_id, p.price_type, p.receive_time.seconds, p.receive_time.nanos))
        for price in matching:
            yield pb.StreamPricesResponse(price=price, is_snapshot=True)

    def StreamTrades(self, request: pb.StreamTradesRequest, context: Ctx) -> Iterator[pb.StreamTradesResponse]:
        markets = set(request.market_ids)
        matching = [t for t in self.store.trades if t.market_id in markets]
        matching.sort(key=lambda t: (t.event_time.seconds, t.event_time.nanos, t.trade_id))
        for trade in matching:
            yield pb.StreamTradesResponse(trade=trade)
        # A live feed with nothing new: stay open until the client cancels or its deadline passes.
        done = threading.Event()
        if context.add_callback(done.set):
            while context.is_active() and not done.wait(0.5):
                pass
