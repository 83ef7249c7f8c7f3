"""Resolve Binance BTCUSDT to its CQC market and print its tick size and lot size.

python resolve_market.py --target 127.0.0.1:50051
"""

from __future__ import annotations

import argparse

import grpc

from cqc.services.v1 import asset_registry_pb2, asset_registry_pb2_grpc

BINANCE = "ven_01JDB1NANCE000000000000000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of an AssetRegistry")
    parser.add_argument("--venue-id", default=BINANCE)
    parser.add_argument("--symbol", default="BTCUSDT")
    args = parser.parse_args()
    with grpc.insecure_channel(args.target) as channel:
        registry = asset_registry_pb2_grpc.AssetRegistryStub(channel)
        request = asset_registry_pb2.ResolveMarketRequest(venue_id=args.venue_id, venue_symbol=args.symbol)
        market = registry.ResolveMarket(request, timeout=10).market
    print(f"market_id: {market.market_id}")
    print(f"symbol:    {market.symbol} ({market.venue_symbol} on {market.venue_id})")
    print(f"tick_size: {market.tick_size}")
    print(f"lot_size:  {market.lot_size}")


if __name__ == "__main__":
    main()
