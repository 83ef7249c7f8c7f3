"""The reference VenueGateway: venue accounts (seeded) and an in-memory order book of record per account."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2

from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.services.v1 import venue_gateway_pb2_grpc
from cqc.testing._errors import ServiceError, already_exists, failed_precondition, not_found
from cqc.testing._store import ORDER, Store, new_ulid, page
from cqc.validation import violations
from cqc.venues.v1 import order_pb2, trading_pb2

__all__ = ["VenueGatewayServicer"]

Ctx = grpc.ServicerContext
_OPEN = {
    trading_pb2.ORDER_STATUS_NEW,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    trading_pb2.ORDER_STATUS_PENDING_NEW,
    trading_pb2.ORDER_STATUS_PENDING_CANCEL,
    trading_pb2.ORDER_STATUS_PENDING_REPLACE,
    trading_pb2.ORDER_STATUS_TRIGGERED,
    trading_pb2.ORDER_STATUS_SUSPENDED,
}
_CANCELABLE = {trading_pb2.ORDER_STATUS_NEW, trading_pb2.ORDER_STATUS_PARTIALLY_FILLED}


def _newest_first(order: order_pb2.Order) -> tuple[int, int, str]:
    return (-order.create_time.seconds, -order.create_time.nanos, order.order_id)


class VenueGatewayServicer(venue_gateway_pb2_grpc.VenueGatewayServicer):
    """PlaceOrder (idempotent by request_id), GetOrder, CancelOrder, ListOrders and the venue-account RPCs;
    the other RPCs answer UNIMPLEMENTED (the generated default)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- Orders ----------------------------------------------------------------------------------------------

    def PlaceOrder(self, request: pb.PlaceOrderRequest, context: Ctx) -> pb.PlaceOrderResponse:
        new = request.order
        with self.store.lock:
            placed = self.store.placements.get(request.request_id)
            if placed is not None:
                earlier, order_id = placed
                if earlier != new:
                    raise already_exists(
                        "REQUEST_ID_REUSED",
                        f"request_id {request.request_id} was used for a different order",
                        request_id=request.request_id,
                    )
                return pb.PlaceOrderResponse(order=self.store.orders.get(order_id))
            self.store.accounts.get(new.account_id)
            market = self.store.markets.get(new.market_id)
            order = order_pb2.Order()
            fields = order_pb2.Order.DESCRIPTOR.fields_by_name
            for field, value in new.ListFields():  # every NewOrder field has a same-named Order field
                target = fields[field.name]
                if field.is_repeated:
                    getattr(order, target.name).extend(value)
                elif field.message_type is not None:
                    getattr(order, target.name).CopyFrom(value)
                else:
                    setattr(order, target.name, value)
            ulid = new_ulid()
            now = timestamp_pb2.Timestamp()
            now.GetCurrentTime()
            order.order_id = f"ord_{ulid}"
            order.client_order_id = new.client_order_id if new.HasField("client_order_id") else ulid
            order.venue_id = market.venue_id
            order.quantity_unit = market.quantity_unit
            order.status = trading_pb2.ORDER_STATUS_NEW
            order.filled_quantity = "0"
            if new.HasField("quantity"):
                order.leaves_quantity = new.quantity
            order.create_time.CopyFrom(now)
            order.update_time.CopyFrom(now)
            order.request_id = request.request_id
            broken = violations(order)
            if broken:
                raise ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", f"built an invalid order: {broken}")
            self.store.orders.put(order)
            self.store.placements[request.request_id] = (new, order.order_id)
            return pb.PlaceOrderResponse(order=order)

    def _find(self, ref: pb.OrderRef) -> order_pb2.Order:
        if ref.WhichOneof("id") == "order_id":
            found = self.store.orders.find(ref.order_id)
            if found is not None and found.account_id == ref.account_id:
                return found
            key = {"order_id": ref.order_id}
        else:
            matching = [
                o
                for o in self.store.orders.all()
                if o.account_id == ref.account_id and o.client_order_id == ref.client_order_id
            ]
            if matching:
                return min(matching, key=_newest_first)
            key = {"client_order_id": ref.client_order_id}
        raise not_found(
            "NOT_FOUND_ORDER", f"account {ref.account_id} has no order {key}", account_id=ref.account_id, **key
        )

    def GetOrder(self, request: pb.GetOrderRequest, context: Ctx) -> pb.GetOrderResponse:
        return pb.GetOrderResponse(order=self._find(request.order))

    def CancelOrder(self, request: pb.CancelOrderRequest, context: Ctx) -> pb.CancelOrderResponse:
        with self.store.lock:
            canceled = self.store.cancellations.get(request.request_id)
            if canceled is not None:
                earlier, order_id = canceled
                if earlier != request.order:
                    raise already_exists(
                        "REQUEST_ID_REUSED",
                        f"request_id {request.request_id} was used for a different cancellation",
                        request_id=request.request_id,
                    )
                return pb.CancelOrderResponse(order=self.store.orders.get(order_id))
            order = self._find(request.order)
            if order.status not in _CANCELABLE:
                raise failed_precondition(
                    "ORDER_NOT_OPEN",
                    f"order {order.order_id} is {trading_pb2.OrderStatus.Name(order.status)}",
                    order_id=order.order_id,
                    status=trading_pb2.OrderStatus.Name(order.status),
                )
            now = timestamp_pb2.Timestamp()
            now.GetCurrentTime()
            order.previous_status = order.status
            order.status = trading_pb2.ORDER_STATUS_CANCELED
            order.leaves_quantity = "0"
            order.update_time.CopyFrom(now)
            order.close_time.CopyFrom(now)
            self.store.orders.put(order)
            self.store.cancellations[request.request_id] = (request.order, order.order_id)
            return pb.CancelOrderResponse(order=order)

    def ListOrders(self, request: pb.ListOrdersRequest, context: Ctx) -> pb.ListOrdersResponse:
        self.store.accounts.get(request.account_id)

        def keep(order: order_pb2.Order) -> bool:
            created = order.create_time.ToNanoseconds()
            return (
                order.account_id == request.account_id
                and (not request.HasField("market_id") or order.market_id == request.market_id)
                and (not request.open_only or order.status in _OPEN)
                and (not request.HasField("since_time") or created >= request.since_time.ToNanoseconds())
                and (not request.HasField("until_time") or created < request.until_time.ToNanoseconds())
            )

        orders = sorted((o for o in self.store.orders.all() if keep(o)), key=_newest_first)
        chosen, token = page(orders, ORDER, request.page_size, request.page_token, ascending_ids=False)
        return pb.ListOrdersResponse(orders=chosen, next_page_token=token)

    # --- Venue accounts --------------------------------------------------------------------------------------

    def GetVenueAccount(self, request: pb.GetVenueAccountRequest, context: Ctx) -> pb.GetVenueAccountResponse:
        return pb.GetVenueAccountResponse(venue_account=self.store.accounts.get(request.account_id))

    def ListVenueAccounts(self, request: pb.ListVenueAccountsRequest, context: Ctx) -> pb.ListVenueAccountsResponse:
        items, token = self.store.accounts.list(
            request.page_size,
            request.page_token,
            lambda a: not request.HasField("venue_id") or a.venue_id == request.venue_id,
        )
        return pb.ListVenueAccountsResponse(venue_accounts=items, next_page_token=token)

    def CreateVenueAccount(self, request: pb.CreateVenueAccountRequest, context: Ctx) -> pb.CreateVenueAccountResponse:
        return pb.CreateVenueAccountResponse(venue_account=self.store.accounts.create(request.venue_account))

    def UpdateVenueAccount(self, request: pb.UpdateVenueAccountRequest, context: Ctx) -> pb.UpdateVenueAccountResponse:
        updated = self.store.accounts.update(request.venue_account, request.update_mask)
        return pb.UpdateVenueAccountResponse(venue_account=updated)
