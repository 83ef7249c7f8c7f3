"""Place a limit order idempotently: send it with a request_id, retry the very same request (as a client
would after a timeout), and see the same order_id come back: the order was placed once.

    python place_order.py --target 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import uuid

import grpc

from cqc.services.v1 import venue_gateway_pb2, venue_gateway_pb2_grpc
from cqc.venues.v1 import trading_pb2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of a VenueGateway")
    parser.add_argument("--account-id", default="acc_01JDBNSP0TMA1N000000000000")
    parser.add_argument("--market-id", default="mkt_01JDBNBTCVSDTSP0T000000000")
    args = parser.parse_args()
    request = venue_gateway_pb2.PlaceOrderRequest(
        request_id=str(uuid.uuid4()),  # one new UUID per intent; reused only to retry this request
        order=venue_gateway_pb2.NewOrder(
            account_id=args.account_id,
            market_id=args.market_id,
            side=trading_pb2.SIDE_BUY,
            order_type=trading_pb2.ORDER_TYPE_LIMIT,
            time_in_force=trading_pb2.TIME_IN_FORCE_GTC,
            quantity="0.001",
            price="60000.00",
        ),
    )
    with grpc.insecure_channel(args.target) as channel:
        gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
        first = gateway.PlaceOrder(request, timeout=10).order
        print(f"placed:  order_id {first.order_id} status {trading_pb2.OrderStatus.Name(first.status)}")
        retried = gateway.PlaceOrder(request, timeout=10).order
        print(f"retried: order_id {retried.order_id} status {trading_pb2.OrderStatus.Name(retried.status)}")
    print(f"request_id {request.request_id}: same order: {first.order_id == retried.order_id}")


if __name__ == "__main__":
    main()
