"""The reference VenueGateway's order entry: place (single, list, batch), amend, cancel (single, batch, all),
the dead-man switch, reads with read masks, and StreamOrders with resume tokens.

Nothing reaches a venue: an in-memory "venue" accepts every order (status NEW), except that an order tagged
``cqc-testing:venue-reject`` is rejected BY THE VENUE, so clients can exercise both rejection shapes of the
contract (see the VenueGateway service comment): a refusal before the venue is a gRPC error and creates no
order; a venue rejection returns OK with the order in status REJECTED.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from cqc.markets.v1 import market_pb2
from cqc.services.v1 import errors_pb2
from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.testing._equality import same_request
from cqc.testing._errors import (
    ServiceError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from cqc.testing._store import ORDER, Store, encode_page_token, new_ulid, page
from cqc.testing._venue_gateway_executions import VENUE_FILL_TAG, record_execution
from cqc.testing._venue_gateway_requests import shared_request_ids
from cqc.validation import violations
from cqc.venues.v1 import order_pb2, trading_pb2

__all__ = ["VENUE_REJECT_TAG", "OrderEntryMixin"]

Ctx = grpc.ServicerContext
VENUE_REJECT_TAG = "cqc-testing:venue-reject"
"""An order carrying this tag is rejected by the simulated venue (OK response, status REJECTED)."""

MAX_RESPONSE_BYTES = 4 * 1024 * 1024 - 64 * 1024  # the 4 MiB gRPC default, less room for framing
DEFAULT_TERMINAL_LOOKBACK = datetime.timedelta(hours=24)

_OPEN = {
    trading_pb2.ORDER_STATUS_INITIALIZED,
    trading_pb2.ORDER_STATUS_SUBMITTED,
    trading_pb2.ORDER_STATUS_NEW,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    trading_pb2.ORDER_STATUS_PENDING_NEW,
    trading_pb2.ORDER_STATUS_PENDING_CANCEL,
    trading_pb2.ORDER_STATUS_PENDING_REPLACE,
    trading_pb2.ORDER_STATUS_TRIGGERED,
    trading_pb2.ORDER_STATUS_SUSPENDED,
}
_CANCELABLE = {
    trading_pb2.ORDER_STATUS_NEW,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    trading_pb2.ORDER_STATUS_PENDING_NEW,
    trading_pb2.ORDER_STATUS_TRIGGERED,
}
_PENDING = {trading_pb2.ORDER_STATUS_PENDING_CANCEL, trading_pb2.ORDER_STATUS_PENDING_REPLACE}


def _now() -> timestamp_pb2.Timestamp:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return now


def _newest_first(order: order_pb2.Order) -> tuple[int, int, str]:
    return (-order.create_time.seconds, -order.create_time.nanos, order.order_id)


def _status_name(status: trading_pb2.OrderStatus.ValueType) -> str:
    return trading_pb2.OrderStatus.Name(status)


@dataclass
class _Request:
    """What a request_id was first used for and what it answered (idempotent retries)."""

    request: Message
    order_ids: list[str]
    extra: Message | None = None

    def __getitem__(self, index: int) -> Message:
        """entry[0] is the request, as for every entry of the servicer's one request-id store."""
        if index != 0:
            raise IndexError(index)
        return self.request


@dataclass
class _OrderState:
    """Order-entry state shared by every call on one Store."""

    cond: threading.Condition
    log: list[tuple[int, order_pb2.Order]] = field(default_factory=list)  # (sequence, order after the change)
    requests: dict[str, _Request] = field(default_factory=dict)
    lists: dict[str, order_pb2.OrderList] = field(default_factory=dict)
    switches: dict[tuple[str, str], threading.Timer] = field(default_factory=dict)
    next_list_id: int = 1000
    next_venue_order_id: int = 28457100000


class OrderEntryMixin:
    """The order RPCs of the reference VenueGateway (mixed into VenueGatewayServicer)."""

    store: Store

    # --- state, log, helpers ---------------------------------------------------------------------------------

    def _orders(self) -> _OrderState:
        with self.store.lock:
            state = getattr(self.store, "_order_entry", None)
            if state is None:
                state = _OrderState(cond=threading.Condition(self.store.lock), requests=shared_request_ids(self.store))
                setattr(self.store, "_order_entry", state)  # noqa: B010
            assert isinstance(state, _OrderState)
            return state

    def _save(self, order: order_pb2.Order) -> order_pb2.Order:
        """Stores a changed order, appends it to the change log and wakes the streams; the caller holds the lock."""
        broken = violations(order)
        if broken:
            raise ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", f"built an invalid order: {broken}")
        state = self._orders()
        self.store.orders.put(order)
        snapshot = order_pb2.Order()
        snapshot.CopyFrom(order)
        state.log.append((len(state.log) + 1, snapshot))
        record_execution(self.store, snapshot)  # what the venue reports about this change
        state.cond.notify_all()
        return order

    def _venue_fill(self, order: order_pb2.Order) -> order_pb2.Order:
        """The simulated venue fills an accepted order tagged VENUE_FILL_TAG whole at its limit price."""
        if (
            VENUE_FILL_TAG not in order.tags
            or order.status != trading_pb2.ORDER_STATUS_NEW
            or not order.HasField("quantity")
            or not order.HasField("price")
        ):
            return order
        now = _now()
        order.fills.add(
            venue_trade_id=f"{order.venue_order_id}-1",
            quantity=order.quantity,
            price=order.price,
            liquidity_side=trading_pb2.LIQUIDITY_SIDE_TAKER,
            transact_time=now,
        )
        order.previous_status = order.status
        order.status = trading_pb2.ORDER_STATUS_FILLED
        order.filled_quantity = order.quantity
        order.leaves_quantity = "0"
        order.avg_fill_price = order.price
        order.update_time.CopyFrom(now)
        order.close_time.CopyFrom(now)
        return self._save(order)

    def _remembered(self, request_id: str, request: Message) -> _Request | None:
        """The first use of request_id, or None; ALREADY_EXISTS when it was used for another request."""
        earlier = self._orders().requests.get(request_id)
        if earlier is None:
            return None
        if not same_request(earlier.request, request):
            raise already_exists(
                "REQUEST_ID_REUSED", f"request_id {request_id} was used for a different request", request_id=request_id
            )
        return earlier

    def _remember(self, request_id: str, request: Message, order_ids: list[str], extra: Message | None = None) -> None:
        copy = type(request)()
        copy.CopyFrom(request)
        self._orders().requests[request_id] = _Request(copy, order_ids, extra)

    def _open_with_client_id(self, account_id: str, client_order_id: str) -> order_pb2.Order | None:
        for order in self.store.orders.all():
            if order.account_id == account_id and order.client_order_id == client_order_id and order.status in _OPEN:
                return order
        return None

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
        # errors.proto: NOT_FOUND_ORDER carries order_id or client_order_id only (the account is in the message).
        raise not_found("NOT_FOUND_ORDER", f"account {ref.account_id} has no order {key}", **key)

    # --- placing -----------------------------------------------------------------------------------------------

    def _build(
        self, new: pb.NewOrder, request_id: str, ulid: str | None = None, path: str = "order"
    ) -> order_pb2.Order:
        """The Order for a NewOrder after the checks made before the venue (errors create no order); path is
        the NewOrder's field path in the request, for error metadata."""
        self.store.accounts.get(new.account_id)
        market = self.store.markets.get(new.market_id)
        _check_tradable(market)
        _check_price_signs(market, new, path)
        if new.HasField("client_order_id") and self._open_with_client_id(new.account_id, new.client_order_id):
            holder = self._open_with_client_id(new.account_id, new.client_order_id)
            assert holder is not None
            raise already_exists(
                "DUPLICATE_CLIENT_ORDER_ID",
                f"client_order_id {new.client_order_id} is used by open order {holder.order_id}",
                client_order_id=new.client_order_id,
                order_id=holder.order_id,
            )
        order = order_pb2.Order()
        fields = order_pb2.Order.DESCRIPTOR.fields_by_name
        for descriptor, value in new.ListFields():  # every NewOrder field has a same-named Order field
            target = fields[descriptor.name]
            if descriptor.is_repeated:
                getattr(order, target.name).extend(value)
            elif descriptor.message_type is not None:
                getattr(order, target.name).CopyFrom(value)
            else:
                setattr(order, target.name, value)
        ulid = ulid or new_ulid()
        now = _now()
        order.order_id = f"ord_{ulid}"
        order.client_order_id = new.client_order_id if new.HasField("client_order_id") else ulid
        order.venue_id = market.venue_id
        order.quantity_unit = market.quantity_unit
        order.filled_quantity = "0"
        order.create_time.CopyFrom(now)
        order.submit_time.CopyFrom(now)
        order.update_time.CopyFrom(now)
        order.request_id = request_id
        if VENUE_REJECT_TAG in new.tags:  # the simulated venue refuses it after submission
            order.status = trading_pb2.ORDER_STATUS_REJECTED
            order.previous_status = trading_pb2.ORDER_STATUS_SUBMITTED
            order.reject_reason = trading_pb2.ORDER_REJECT_REASON_OTHER
            order.venue_reason_code = "-2010"
            order.reason_text = "rejected by the reference server's simulated venue"
            order.close_time.CopyFrom(now)
            if new.HasField("quantity"):
                order.leaves_quantity = "0"
            return order
        order.status = trading_pb2.ORDER_STATUS_NEW
        order.previous_status = trading_pb2.ORDER_STATUS_SUBMITTED
        state = self._orders()
        state.next_venue_order_id += 1
        order.venue_order_id = str(state.next_venue_order_id)
        order.venue_create_time.CopyFrom(now)
        order.working_time.CopyFrom(now)
        if new.HasField("quantity"):
            order.leaves_quantity = new.quantity
        return order

    def _place(self, request: pb.PlaceOrderRequest) -> order_pb2.Order:
        with self.store.lock:
            earlier = self._remembered(request.request_id, request.order)
            if earlier is not None:
                return self.store.orders.get(earlier.order_ids[0])
            order = self._venue_fill(self._save(self._build(request.order, request.request_id)))
            self._remember(request.request_id, request.order, [order.order_id])
            return order

    def PlaceOrder(self, request: pb.PlaceOrderRequest, context: Ctx) -> pb.PlaceOrderResponse:
        return pb.PlaceOrderResponse(order=self._place(request))

    def BatchPlaceOrders(self, request: pb.BatchPlaceOrdersRequest, context: Ctx) -> pb.BatchPlaceOrdersResponse:
        self.store.accounts.get(request.requests[0].order.account_id)  # no item can be attempted without it
        return pb.BatchPlaceOrdersResponse(results=[_result(partial(self._place, r)) for r in request.requests])

    def PlaceOrderList(self, request: pb.PlaceOrderListRequest, context: Ctx) -> pb.PlaceOrderListResponse:
        state = self._orders()
        with self.store.lock:
            earlier = self._remembered(request.request_id, request)
            if earlier is not None:
                assert isinstance(earlier.extra, order_pb2.OrderList)
                return pb.PlaceOrderListResponse(
                    order_list=earlier.extra, orders=[self.store.orders.get(i) for i in earlier.order_ids]
                )
            contingency = request.contingency_type
            if contingency == trading_pb2.CONTINGENCY_TYPE_OUO:
                raise invalid_argument(
                    "UNSUPPORTED_ORDER_FEATURE",
                    "the reference venue has no OUO lists",
                    market_id=request.market_id,
                    feature="contingency_type",
                )
            orders = [self._build(leg, request.request_id, path=f"orders[{i}]") for i, leg in enumerate(request.orders)]
            state.next_list_id += 1
            list_id = str(state.next_list_id)
            ids = [o.order_id for o in orders]
            rejected = any(o.status == trading_pb2.ORDER_STATUS_REJECTED for o in orders)
            triggered = contingency in (
                trading_pb2.CONTINGENCY_TYPE_OTO,
                trading_pb2.CONTINGENCY_TYPE_OTOCO,
                trading_pb2.CONTINGENCY_TYPE_OPO,
            )
            now = _now()
            for index, order in enumerate(orders):
                order.venue_order_list_id = list_id
                order.contingency_type = contingency
                order.linked_order_ids.extend(i for i in ids if i != order.order_id)
                if rejected:  # the venue accepts or refuses a list as a whole
                    order.status = trading_pb2.ORDER_STATUS_REJECTED
                    order.reject_reason = trading_pb2.ORDER_REJECT_REASON_OTHER
                    order.reason_text = "order list rejected by the reference server's simulated venue"
                    order.close_time.CopyFrom(now)
                    order.ClearField("venue_order_id")
                    order.ClearField("venue_create_time")
                    order.ClearField("working_time")
                    if order.HasField("quantity"):
                        order.leaves_quantity = "0"
                elif triggered and index > 0:  # pending legs wait for the working order to fill
                    order.status = trading_pb2.ORDER_STATUS_PENDING_NEW
                    order.parent_order_id = ids[0]
                    order.ClearField("working_time")
                self._save(order)
            order_list = order_pb2.OrderList(
                venue_order_list_id=list_id,
                list_client_order_id=request.list_client_order_id
                if request.HasField("list_client_order_id")
                else f"list-{list_id}",
                account_id=request.account_id,
                market_id=request.market_id,
                contingency_type=contingency,
                list_status_type=trading_pb2.LIST_STATUS_TYPE_ALL_DONE
                if rejected
                else trading_pb2.LIST_STATUS_TYPE_EXEC_STARTED,
                list_order_status=trading_pb2.LIST_ORDER_STATUS_REJECT
                if rejected
                else trading_pb2.LIST_ORDER_STATUS_EXECUTING,
                order_ids=ids,
                reject_reason=trading_pb2.ORDER_REJECT_REASON_OTHER
                if rejected
                else trading_pb2.ORDER_REJECT_REASON_UNSPECIFIED,
                transact_time=now,
            )
            state.lists[list_id] = order_list
            self._remember(request.request_id, request, ids, order_list)
            return pb.PlaceOrderListResponse(order_list=order_list, orders=orders)

    # --- amending and canceling --------------------------------------------------------------------------------

    def _amend(self, request: pb.AmendOrderRequest) -> order_pb2.Order:
        with self.store.lock:
            earlier = self._remembered(request.request_id, request)
            if earlier is not None:
                return self.store.orders.get(earlier.order_ids[0])
            order = self._find(request.order)
            _check_changeable(order)
            market = self.store.markets.get(order.market_id)
            _check_tradable(market)
            _check_price_signs(market, request, "")
            if request.HasField("new_client_order_id"):
                holder = self._open_with_client_id(order.account_id, request.new_client_order_id)
                if holder is not None and holder.order_id != order.order_id:
                    raise already_exists(
                        "DUPLICATE_CLIENT_ORDER_ID",
                        f"client_order_id {request.new_client_order_id} is used by open order {holder.order_id}",
                        client_order_id=request.new_client_order_id,
                        order_id=holder.order_id,
                    )
                order.orig_client_order_id = order.client_order_id
                order.client_order_id = request.new_client_order_id
            if request.HasField("quantity"):
                if Decimal(request.quantity) < Decimal(order.filled_quantity):
                    raise invalid_argument(
                        "MARKET_RULE_VIOLATED",
                        f"quantity {request.quantity} is below the filled quantity {order.filled_quantity}",
                        market_id=order.market_id,
                        rule="quantity_below_filled",
                    )
                order.quantity = request.quantity
                order.leaves_quantity = str(Decimal(request.quantity) - Decimal(order.filled_quantity))
            if request.HasField("price"):
                order.price = request.price
            if request.HasField("trigger_price"):
                order.trigger_price = request.trigger_price
            order.previous_status = order.status
            order.update_time.CopyFrom(_now())
            self._save(order)
            self._remember(request.request_id, request, [order.order_id])
            return order

    def AmendOrder(self, request: pb.AmendOrderRequest, context: Ctx) -> pb.AmendOrderResponse:
        return pb.AmendOrderResponse(order=self._amend(request))

    def BatchAmendOrders(self, request: pb.BatchAmendOrdersRequest, context: Ctx) -> pb.BatchAmendOrdersResponse:
        self.store.accounts.get(request.requests[0].order.account_id)
        return pb.BatchAmendOrdersResponse(results=[_result(partial(self._amend, r)) for r in request.requests])

    def _cancel_now(self, order: order_pb2.Order) -> order_pb2.Order:
        now = _now()
        order.previous_status = order.status
        order.status = trading_pb2.ORDER_STATUS_CANCELED
        if order.HasField("leaves_quantity") or order.HasField("quantity"):
            order.leaves_quantity = "0"
        order.update_time.CopyFrom(now)
        order.close_time.CopyFrom(now)
        return self._save(order)

    def _cancel(self, request: pb.CancelOrderRequest) -> order_pb2.Order:
        with self.store.lock:
            earlier = self._remembered(request.request_id, request.order)
            if earlier is not None:
                return self.store.orders.get(earlier.order_ids[0])
            order = self._find(request.order)
            _check_changeable(order)
            canceled = self._cancel_now(order)
            self._remember(request.request_id, request.order, [order.order_id])
            return canceled

    def CancelOrder(self, request: pb.CancelOrderRequest, context: Ctx) -> pb.CancelOrderResponse:
        return pb.CancelOrderResponse(order=self._cancel(request))

    def BatchCancelOrders(self, request: pb.BatchCancelOrdersRequest, context: Ctx) -> pb.BatchCancelOrdersResponse:
        self.store.accounts.get(request.requests[0].order.account_id)
        return pb.BatchCancelOrdersResponse(results=[_result(partial(self._cancel, r)) for r in request.requests])

    def _cancel_matching(self, keep: Callable[[order_pb2.Order], bool]) -> list[order_pb2.Order]:
        with self.store.lock:
            return [self._cancel_now(o) for o in self.store.orders.all() if o.status in _CANCELABLE and keep(o)]

    def CancelAllOrders(self, request: pb.CancelAllOrdersRequest, context: Ctx) -> pb.CancelAllOrdersResponse:
        with self.store.lock:
            earlier = self._remembered(request.request_id, request)
            if earlier is not None:
                return pb.CancelAllOrdersResponse(orders=[self.store.orders.get(i) for i in earlier.order_ids])
            self.store.accounts.get(request.account_id)
            if request.HasField("market_id"):
                self.store.markets.get(request.market_id)
            canceled = self._cancel_matching(
                lambda o: (
                    o.account_id == request.account_id
                    and (not request.HasField("market_id") or o.market_id == request.market_id)
                    and (request.side == trading_pb2.SIDE_UNSPECIFIED or o.side == request.side)
                    and (not request.HasField("strategy_id") or o.strategy_id == request.strategy_id)
                )
            )
            self._remember(request.request_id, request, [o.order_id for o in canceled])
            return pb.CancelAllOrdersResponse(orders=canceled)

    def SetCancelAllAfter(self, request: pb.SetCancelAllAfterRequest, context: Ctx) -> pb.SetCancelAllAfterResponse:
        state = self._orders()
        self.store.accounts.get(request.account_id)
        if request.HasField("market_id"):
            self.store.markets.get(request.market_id)
        scope = (request.account_id, request.market_id if request.HasField("market_id") else "")
        response = pb.SetCancelAllAfterResponse(account_id=request.account_id)
        if request.HasField("market_id"):
            response.market_id = request.market_id
        with self.store.lock:
            previous = state.switches.pop(scope, None)
            if previous is not None:
                previous.cancel()
            timeout = request.timeout.ToTimedelta()
            if timeout:

                def fire() -> None:
                    with self.store.lock:
                        if state.switches.get(scope) is not timer:
                            return  # re-armed or disarmed meanwhile
                        del state.switches[scope]
                        self._cancel_matching(
                            lambda o: o.account_id == scope[0] and (not scope[1] or o.market_id == scope[1])
                        )

                timer = threading.Timer(timeout.total_seconds(), fire)
                timer.daemon = True
                state.switches[scope] = timer
                timer.start()
                trigger = datetime.datetime.now(datetime.UTC) + timeout
                response.trigger_time.FromDatetime(trigger)
        return response

    # --- reading -----------------------------------------------------------------------------------------------

    def GetOrder(self, request: pb.GetOrderRequest, context: Ctx) -> pb.GetOrderResponse:
        mask = _checked_mask(request.read_mask if request.HasField("read_mask") else None)
        return pb.GetOrderResponse(order=_masked(self._find(request.order), mask))

    def ListOrders(self, request: pb.ListOrdersRequest, context: Ctx) -> pb.ListOrdersResponse:
        self.store.accounts.get(request.account_id)
        mask = _checked_mask(request.read_mask if request.HasField("read_mask") else None)
        statuses = set(request.statuses)

        def keep(order: order_pb2.Order) -> bool:
            created = order.create_time.ToNanoseconds()
            return (
                order.account_id == request.account_id
                and (not request.HasField("market_id") or order.market_id == request.market_id)
                and (not request.open_only or order.status in _OPEN)
                and (not statuses or order.status in statuses)
                and (request.side == trading_pb2.SIDE_UNSPECIFIED or order.side == request.side)
                and (
                    not request.HasField("client_order_id")
                    or request.client_order_id in (order.client_order_id, order.orig_client_order_id)
                )
                and (not request.HasField("since_time") or created >= request.since_time.ToNanoseconds())
                and (not request.HasField("until_time") or created < request.until_time.ToNanoseconds())
            )

        orders = sorted((o for o in self.store.orders.all() if keep(o)), key=_newest_first)
        # Tokens are bound to this RPC and its filters: another listing's token is INVALID_PAGE_TOKEN.
        chosen, token = page(orders, ORDER, request.page_size, request.page_token, ascending_ids=False, request=request)
        masked = [_masked(o, mask) for o in chosen]
        # A page never exceeds the 4 MiB default: end it early, the token continuing after the last order sent.
        size, cut = 0, len(masked)
        for index, order in enumerate(masked):
            size += order.ByteSize() + 8
            if size > MAX_RESPONSE_BYTES and index > 0:
                cut = index
                break
        if cut < len(masked):
            masked = masked[:cut]
            token = encode_page_token(chosen[cut - 1].order_id, request)
        return pb.ListOrdersResponse(orders=masked, next_page_token=token)

    def StreamOrders(self, request: pb.StreamOrdersRequest, context: Ctx) -> Iterator[pb.StreamOrdersResponse]:
        self.store.accounts.get(request.account_id)
        state = self._orders()
        markets = set(request.market_ids)
        scope = _scope(request)

        def mine(order: order_pb2.Order) -> bool:
            return order.account_id == request.account_id and (not markets or order.market_id in markets)

        with self.store.lock:
            position = len(state.log)
            snapshot: list[order_pb2.Order] = []
            if request.HasField("resume_token"):
                position = _resume_position(request.resume_token, scope, len(state.log))
            else:
                since = (
                    request.terminal_since.ToDatetime(datetime.UTC)
                    if request.HasField("terminal_since")
                    else datetime.datetime.now(datetime.UTC) - DEFAULT_TERMINAL_LOOKBACK
                )
                snapshot = [
                    o
                    for o in sorted(self.store.orders.all(), key=_newest_first)
                    if mine(o)
                    and (
                        o.status in _OPEN
                        or (o.HasField("close_time") and o.close_time.ToDatetime(datetime.UTC) >= since)
                    )
                ]
        token = _token(scope, position)
        if not request.HasField("resume_token"):
            for order in snapshot:
                yield pb.StreamOrdersResponse(order=order, is_snapshot=True, resume_token=token)
            yield pb.StreamOrdersResponse(snapshot_complete=True, resume_token=token)
        while context.is_active():
            with state.cond:
                if position >= len(state.log):
                    state.cond.wait(timeout=0.2)
                changes = state.log[position:]
            for sequence, order in changes:
                position = sequence
                if mine(order):
                    yield pb.StreamOrdersResponse(order=order, resume_token=_token(scope, sequence))


def _check_tradable(market: market_pb2.Market) -> None:
    """MARKET_NOT_TRADABLE for a market that cannot take orders by its kind (a published index)."""
    if market.market_type == market_pb2.MARKET_TYPE_INDEX:
        raise failed_precondition(
            "MARKET_NOT_TRADABLE",
            f"market {market.market_id} is an index and takes no orders",
            market_id=market.market_id,
            market_type=market_pb2.MarketType.Name(market.market_type),
        )


_PRICE_FIELDS = ("price", "trigger_price", "activation_price")


def _check_price_signs(market: market_pb2.Market, message: Message, path: str) -> None:
    """PRICE_SIGN_NOT_ALLOWED for a zero or negative price (order, trigger, activation, attached take-profit /
    stop-loss) on a market whose negative_prices_allowed is false; validation accepts every sign."""
    if market.negative_prices_allowed:
        return
    prefix = f"{path}." if path else ""
    found: list[tuple[str, str]] = []
    fields = message.DESCRIPTOR.fields_by_name
    for name in _PRICE_FIELDS:
        if name in fields and message.HasField(name):
            found.append((prefix + name, getattr(message, name)))
    for attached in ("take_profit", "stop_loss"):
        if attached in fields and message.HasField(attached):
            leg = getattr(message, attached)
            if leg.trigger_price:
                found.append((f"{prefix}{attached}.trigger_price", leg.trigger_price))
            if leg.HasField("price"):
                found.append((f"{prefix}{attached}.price", leg.price))
    for where, value in found:
        try:
            positive = Decimal(value) > 0
        except ArithmeticError:
            continue  # not a decimal: validation reports it
        if not positive:
            raise invalid_argument(
                "PRICE_SIGN_NOT_ALLOWED",
                f"{where} {value} must be positive: market {market.market_id} does not allow negative or zero prices",
                market_id=market.market_id,
                field=where,
                price=value,
            )


def _check_changeable(order: order_pb2.Order) -> None:
    if order.status in _PENDING:
        raise failed_precondition(
            "ORDER_ALREADY_PENDING",
            f"order {order.order_id} has a pending cancel or replace",
            order_id=order.order_id,
            status=_status_name(order.status),
        )
    if order.status not in _CANCELABLE:
        raise failed_precondition(
            "ORDER_NOT_OPEN",
            f"order {order.order_id} is {_status_name(order.status)}",
            order_id=order.order_id,
            status=_status_name(order.status),
        )


def _result(call: Callable[[], order_pb2.Order]) -> pb.OrderResult:
    """One batch item: the order, or the error the single-order RPC would have returned."""
    try:
        return pb.OrderResult(order=call())
    except ServiceError as error:
        return pb.OrderResult(
            error=pb.BatchItemError(
                code=error.code.value[0],
                reason=errors_pb2.ErrorReason.Value(f"ERROR_REASON_{error.reason}"),
                message=error.message[:2000],
                metadata=dict(list(error.metadata.items())[:20]),
            )
        )


def _checked_mask(mask: field_mask_pb2.FieldMask | None) -> field_mask_pb2.FieldMask | None:
    if mask is None or not mask.paths:
        return None
    if not mask.IsValidForDescriptor(order_pb2.Order.DESCRIPTOR):
        order = order_pb2.Order.DESCRIPTOR
        unknown = [p for p in mask.paths if not field_mask_pb2.FieldMask(paths=[p]).IsValidForDescriptor(order)]
        raise invalid_argument(
            "INVALID_READ_MASK",
            f"read_mask {','.join(unknown)} names a field Order does not have",
            paths=",".join(unknown),
        )
    return mask


def _masked(order: order_pb2.Order, mask: field_mask_pb2.FieldMask | None) -> order_pb2.Order:
    if mask is None:
        return order
    out = order_pb2.Order()
    mask.MergeMessage(order, out)
    return out


def _scope(request: pb.StreamOrdersRequest) -> str:
    key = request.account_id + "|" + ",".join(sorted(request.market_ids))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _token(scope: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"orders|{scope}|{position}".encode()).decode()


def _resume_position(token: str, scope: str, end: int) -> int:
    """The log position a resume token names; RESUME_TOKEN_EXPIRED when it is not this stream's or unknown."""
    try:
        kind, token_scope, position = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").split("|")
        value = int(position)
    except (UnicodeError, binascii.Error, ValueError):
        kind, token_scope, value = "", "", -1
    if kind != "orders" or token_scope != scope or not 0 <= value <= end:
        raise failed_precondition(
            "RESUME_TOKEN_EXPIRED", "resume_token was not issued by StreamOrders with the same account and markets"
        )
    return value
