"""Send an invalid request and read the error the contract defines: INVALID_ARGUMENT with a google.rpc
ErrorInfo (reason VALIDATION_FAILED) and a BadRequest naming each broken field and rule.

    python validation_error.py --target 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
from typing import cast

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from grpc_status import rpc_status

from cqc.services.v1 import venue_gateway_pb2, venue_gateway_pb2_grpc
from cqc.venues.v1 import trading_pb2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of a VenueGateway")
    args = parser.parse_args()
    invalid = venue_gateway_pb2.PlaceOrderRequest(
        request_id="not-a-uuid",
        order=venue_gateway_pb2.NewOrder(
            account_id="binance-main",  # not an "acc_" id
            market_id="mkt_01JDBNBTCVSDTSP0T000000000",
            side=trading_pb2.SIDE_BUY,
            order_type=trading_pb2.ORDER_TYPE_LIMIT,  # a limit order without a price
            time_in_force=trading_pb2.TIME_IN_FORCE_GTC,
            quantity="0.001",
        ),
    )
    with grpc.insecure_channel(args.target) as channel:
        gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
        try:
            gateway.PlaceOrder(invalid, timeout=10)
        except grpc.RpcError as error:
            print(f"status: {error.code().name}")
            status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, error))
            for detail in status.details if status is not None else ():
                info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
                if detail.Unpack(info):
                    print(f"reason: {info.reason} (domain {info.domain})")
                elif detail.Unpack(bad_request):
                    for violation in bad_request.field_violations:
                        rule = violation.description.rsplit("[", 1)[-1].rstrip("]")
                        print(f"violation: field={violation.field or '(request)'} rule={rule}")
        else:
            raise SystemExit("expected INVALID_ARGUMENT, the request was accepted")


if __name__ == "__main__":
    main()
