"""Stream a market's order book: print the snapshot's best bid and ask, then apply each delta and print the
new top of book.

    python stream_order_book.py --target 127.0.0.1:50051 --market-id mkt_01JDBNBTCVSDTSP0T000000000
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from decimal import Decimal

import grpc

from cqc.markets.v1 import order_book_pb2
from cqc.services.v1 import market_data_pb2, market_data_pb2_grpc

Side = dict[Decimal, Decimal]  # price -> size


def apply(side: Side, levels: Iterable[order_book_pb2.OrderBookLevel]) -> None:
    """Applies levels to one side of the book: size 0 or a DELETE action removes the price level."""
    for level in levels:
        price, size = Decimal(level.price), Decimal(level.size)
        if level.action == order_book_pb2.BOOK_ACTION_DELETE or size == 0:
            side.pop(price, None)
        else:
            side[price] = size


def top(bids: Side, asks: Side) -> str:
    bid = max(bids) if bids else None
    ask = min(asks) if asks else None
    best_bid = f"{bid} x {bids[bid]}" if bid is not None else "-"
    best_ask = f"{ask} x {asks[ask]}" if ask is not None else "-"
    return f"best bid {best_bid} | best ask {best_ask}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of a MarketData service")
    parser.add_argument("--market-id", default="mkt_01JDBNBTCVSDTSP0T000000000", help="Binance BTCUSDT spot")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up on the stream")
    args = parser.parse_args()
    bids: Side = {}
    asks: Side = {}
    with grpc.insecure_channel(args.target) as channel:
        market_data = market_data_pb2_grpc.MarketDataStub(channel)
        request = market_data_pb2.StreamOrderBookRequest(market_id=args.market_id)
        for message in market_data.StreamOrderBook(request, timeout=args.timeout):
            book = message.order_book
            if book.is_snapshot:
                bids.clear()
                asks.clear()
            apply(bids, book.bids)
            apply(asks, book.asks)
            kind = "snapshot" if book.is_snapshot else "delta"
            print(f"{kind} (last_update_id {book.last_update_id}): {top(bids, asks)}")


if __name__ == "__main__":
    main()
