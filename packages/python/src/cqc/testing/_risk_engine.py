"""The reference RiskEngine: risk limits (CRUD), pre-trade checks and reservations, trading states, Flatten,
risk alerts (list, get, acknowledge, resolve, stream) and exposures (list, stream), in memory.

The behaviour is specified in testdata/interop/README.md ("RiskEngine"); the Go server
(packages/go/cqctest/risk*.go) implements the same."""

from __future__ import annotations

import datetime
import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from cqc.assets.v1 import quality_flag_pb2
from cqc.events.v1 import risk_events_pb2
from cqc.kit.errors import error
from cqc.kit.pagination import PageTokens
from cqc.markets.v1 import market_data_pb2, market_pb2
from cqc.portfolio.v1 import exposure_pb2, portfolio_pb2, risk_pb2
from cqc.services.v1 import risk_engine_pb2 as pb
from cqc.services.v1 import risk_engine_pb2_grpc
from cqc.services.v1 import venue_gateway_pb2 as vpb
from cqc.testing._equality import same_request
from cqc.testing._errors import (
    ServiceError,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
    validation_failed,
)
from cqc.testing._store import Store, load_examples, new_ulid
from cqc.testing._venue_gateway import VenueGatewayServicer
from cqc.validation import ContractViolation, violations
from cqc.venues.v1 import account_pb2, trading_pb2

__all__ = ["RiskEngineServicer"]

Ctx = grpc.ServicerContext

DEFAULT_TTL = datetime.timedelta(seconds=30)
_EVALUATED = (
    risk_pb2.RISK_METRIC_ORDER_SIZE,
    risk_pb2.RISK_METRIC_ORDER_NOTIONAL,
    risk_pb2.RISK_METRIC_POSITION_SIZE,
    risk_pb2.RISK_METRIC_NOTIONAL,
    risk_pb2.RISK_METRIC_OPEN_ORDER_COUNT,
)
_NEEDS_PRICE = (risk_pb2.RISK_METRIC_ORDER_NOTIONAL, risk_pb2.RISK_METRIC_NOTIONAL)
_IMMUTABLE = ("limit_id", "create_time", "update_time")
_OPEN_ALERTS = (
    risk_events_pb2.RISK_ALERT_STATUS_OPEN,
    risk_events_pb2.RISK_ALERT_STATUS_ACKNOWLEDGED,
    risk_events_pb2.RISK_ALERT_STATUS_SUPPRESSED,
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ts(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _dt(stamp: timestamp_pb2.Timestamp) -> datetime.datetime:
    return stamp.ToDatetime(datetime.UTC)


def fmt(value: Decimal) -> str:
    """A decimal as canonical text: no exponent, no trailing zeros, "0" for zero."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _exact() -> AbstractContextManager[Context]:
    """Decimal arithmetic without rounding for the values of a check (as Go's big.Rat)."""
    return localcontext(prec=1000)


def _dec(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


_TOKENS = PageTokens()  # page and resume tokens: HMAC-signed with a per-process key (cqc.kit)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


# --- state -------------------------------------------------------------------------------------------------


@dataclass
class _Reservation:
    message: risk_pb2.RiskReservation
    venue_id: str
    strategy_id: str
    quantity: Decimal  # signed: + buy, - sell
    notional: Decimal  # signed


@dataclass
class _Counted:
    """One contribution a check counts: a reservation or a working order."""

    account_id: str
    market_id: str
    venue_id: str
    strategy_id: str
    quantity: Decimal  # signed: + buy, - sell
    notional: Decimal  # signed


_WORKING = (
    trading_pb2.ORDER_STATUS_INITIALIZED,
    trading_pb2.ORDER_STATUS_SUBMITTED,
    trading_pb2.ORDER_STATUS_NEW,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    trading_pb2.ORDER_STATUS_PENDING_NEW,
    trading_pb2.ORDER_STATUS_PENDING_CANCEL,
    trading_pb2.ORDER_STATUS_PENDING_REPLACE,
    trading_pb2.ORDER_STATUS_TRIGGERED,
)


@dataclass
class _TradingState:
    state: int
    reason: str
    update_time: datetime.datetime
    expire_time: datetime.datetime | None


def _scope_key(scope: pb.RiskScope) -> str:
    return f"pfl:{scope.portfolio_id}" if scope.WhichOneof("id") == "portfolio_id" else f"acc:{scope.account_id}"


class RiskState:
    """Everything the RiskEngine keeps; guarded by the store's lock (changes to alerts notify ``cond``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock
        self.cond = threading.Condition(threading.Lock())
        self.limits: dict[str, risk_pb2.RiskLimit] = {}
        self.alerts: dict[str, risk_events_pb2.RiskAlert] = {}
        self.alert_log: list[risk_events_pb2.RiskAlert] = []  # every raise or change, in order
        self.exposures: list[exposure_pb2.Exposure] = []
        self.portfolios: set[str] = set()
        self.extra_accounts: set[str] = set()
        self.reservations: dict[str, _Reservation] = {}
        self.trading: dict[str, _TradingState] = {}
        self.requests: dict[str, tuple[Message, Message | ServiceError]] = {}
        self.seed(store.examples_directory)  # None: the packaged seed bundle, as the store

    def seed(self, directory: Path | None) -> None:
        for limit in load_examples(directory, risk_pb2.RiskLimit):
            self.limits[limit.limit_id] = limit
        for alert in sorted(load_examples(directory, risk_events_pb2.RiskAlert), key=lambda a: a.alert_id):
            self.alerts[alert.alert_id] = alert
        self.exposures = load_examples(directory, exposure_pb2.Exposure)
        self.portfolios = {p.portfolio_id for p in load_examples(directory, portfolio_pb2.Portfolio)}
        for exposure in self.exposures:
            if exposure.WhichOneof("scope") == "portfolio_id":
                self.portfolios.add(exposure.portfolio_id)
            else:
                self.extra_accounts.add(exposure.account_id)
        for limit in self.limits.values():
            if limit.HasField("portfolio_id"):
                self.portfolios.add(limit.portfolio_id)
        for alert in self.alerts.values():
            if alert.HasField("portfolio_id"):
                self.portfolios.add(alert.portfolio_id)

    # Scopes ------------------------------------------------------------------------------------------------

    def check_scope(self, scope: pb.RiskScope) -> None:
        """NOT_FOUND_ACCOUNT / NOT_FOUND_RESOURCE for an account or portfolio the server does not know."""
        if scope.WhichOneof("id") == "portfolio_id":
            # Portfolios created through the Portfolio service count too (its state hangs on the store).
            created = getattr(getattr(self.store, "_portfolio_state", None), "portfolios", {})
            known = scope.portfolio_id in self.portfolios or scope.portfolio_id in created
            if not known:
                raise not_found(
                    "NOT_FOUND_RESOURCE", f"no portfolio {scope.portfolio_id!r}", portfolio_id=scope.portfolio_id
                )
        elif scope.account_id not in self.extra_accounts:
            self.store.accounts.get(scope.account_id)

    def trading_state(self, key: str, now: datetime.datetime) -> _TradingState | None:
        current = self.trading.get(key)
        if current is not None and current.expire_time is not None and current.expire_time <= now:
            current = _TradingState(account_pb2.TRADING_STATE_ACTIVE, "expired", current.expire_time, None)
            self.trading[key] = current
        return current

    # Request ids -------------------------------------------------------------------------------------------

    def replay(self, request_id: str, request: Message) -> Message | None:
        """The first answer to ``request_id`` (re-raising its error), None for a new request id."""
        seen = self.requests.get(request_id)
        if seen is None:
            return None
        first, answer = seen
        if not same_request(first, request):
            raise already_exists(
                "REQUEST_ID_REUSED", f"request_id {request_id} was used with a different request", request_id=request_id
            )
        if isinstance(answer, ServiceError):
            raise answer
        return answer

    def remember(self, request_id: str, request: Message, answer: Message | ServiceError) -> None:
        """Records the answer to a request id: a response or an error, except UNAVAILABLE (transient: a retry
        with the same request id runs again)."""
        if isinstance(answer, ServiceError) and answer.code == grpc.StatusCode.UNAVAILABLE:
            return
        self.requests[request_id] = (request, answer)

    # Reservations ------------------------------------------------------------------------------------------

    def expire(self, now: datetime.datetime) -> None:
        for entry in self.reservations.values():
            message = entry.message
            if message.state == risk_pb2.RISK_RESERVATION_STATE_HELD and _dt(message.expire_time) <= now:
                message.state = risk_pb2.RISK_RESERVATION_STATE_EXPIRED
                message.update_time.CopyFrom(message.expire_time)

    # Alerts ------------------------------------------------------------------------------------------------

    def record(self, alert: risk_events_pb2.RiskAlert) -> None:
        stored = risk_events_pb2.RiskAlert()
        stored.CopyFrom(alert)
        self.alerts[alert.alert_id] = stored
        with self.cond:
            self.alert_log.append(stored)
            self.cond.notify_all()


def _limit_applies(
    limit: risk_pb2.RiskLimit,
    account_id: str,
    market_id: str,
    venue_id: str,
    strategy: str,
    holders: dict[str, set[str]],
) -> bool:
    """Whether the limit's scope covers an order or a counted item of (account, market, venue, strategy);
    ``holders`` maps an account to the portfolios holding it."""
    which = limit.WhichOneof("scope")
    if which == "portfolio_id":
        return limit.portfolio_id in holders.get(account_id, set())
    if which == "account_id":
        return limit.account_id == account_id
    if which == "market_id":
        return limit.market_id == market_id
    if which == "venue_id":
        return limit.venue_id == venue_id
    if which == "strategy_id":
        return bool(strategy) and limit.strategy_id == strategy
    return False  # asset_id limits are not evaluated by the reference server


def _effective(limit: risk_pb2.RiskLimit, now: datetime.datetime) -> bool:
    if limit.state != risk_pb2.RISK_LIMIT_STATE_ENABLED or limit.metric not in _EVALUATED:
        return False
    if limit.HasField("effective_from_time") and _dt(limit.effective_from_time) > now:
        return False
    return not (limit.HasField("effective_to_time") and _dt(limit.effective_to_time) <= now)


def _reference_price(store: Store, market_id: str) -> Decimal | None:
    """The market's seeded MARK price, else its latest seeded price of any type (by receive_time)."""
    prices = [p for p in store.prices if p.market_id == market_id]
    marks = [p for p in prices if p.price_type == market_data_pb2.PRICE_TYPE_MARK]
    chosen = marks or prices
    if not chosen:
        return None
    best = chosen[0]
    for price in chosen[1:]:
        if _dt(price.receive_time) > _dt(best.receive_time):
            best = price
    return _dec(best.value)


def _metric_label(metric: int) -> str:
    return risk_pb2.RiskMetric.Name(metric).removeprefix("RISK_METRIC_").lower()  # type: ignore[arg-type]


class RiskEngineServicer(risk_engine_pb2_grpc.RiskEngineServicer):
    """Every RiskEngine RPC, on one :class:`RiskState`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.risk = RiskState(store)

    # --- Pre-trade checks ------------------------------------------------------------------------------------

    def _evaluate(
        self, order: vpb.NewOrder, now: datetime.datetime
    ) -> tuple[risk_pb2.RiskCheckResult, list[risk_pb2.RiskLimit], Decimal, Decimal, str]:
        """The RiskCheckResult of ``order`` (no reservation), the limits breached, the order's signed quantity
        and notional, and its venue. Caller holds the lock."""
        risk = self.risk
        store = self.store
        if order.account_id not in risk.extra_accounts:
            store.accounts.get(order.account_id)
        market: market_pb2.Market = store.markets.get(order.market_id)
        venue_id = market.venue_id
        strategy = order.strategy_id
        holders: dict[str, set[str]] = {}
        for portfolio_id, portfolio in getattr(getattr(store, "_portfolio_state", None), "portfolios", {}).items():
            for held in portfolio.account_ids:
                holders.setdefault(held, set()).add(portfolio_id)
        limits = [
            limit
            for _, limit in sorted(risk.limits.items())
            if _effective(limit, now)
            and _limit_applies(limit, order.account_id, order.market_id, venue_id, strategy, holders)
        ]
        price: Decimal | None = _dec(order.price) if order.HasField("price") else None
        needs_price = any(limit.metric in _NEEDS_PRICE for limit in limits) or (
            order.HasField("quote_quantity") and bool(limits)
        )
        if price is None and needs_price:
            price = _reference_price(store, order.market_id)
            if price is None:
                raise error(
                    "RISK_DATA_UNAVAILABLE",
                    f"no price of market {order.market_id} to value the order",
                    missing=f"mark_price:{order.market_id}",
                )
        sign = Decimal(-1) if order.side == trading_pb2.SIDE_SELL else Decimal(1)
        if order.HasField("quantity"):
            quantity = _dec(order.quantity)
            notional = quantity * price if price is not None else Decimal(0)
        elif order.HasField("quote_quantity") and price:
            notional = _dec(order.quote_quantity)
            quantity = (notional / price).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        else:
            quantity = notional = Decimal(0)
        counted = self._counted(now)
        result = risk_pb2.RiskCheckResult(check_time=_ts(now))
        breached: list[risk_pb2.RiskLimit] = []
        deny = warn = False
        for limit in limits:
            mine = [
                c
                for c in counted
                if _limit_applies(limit, c.account_id, c.market_id, c.venue_id, c.strategy_id, holders)
            ]
            metric = limit.metric
            if metric == risk_pb2.RISK_METRIC_ORDER_SIZE:
                observed, projected = Decimal(0), abs(quantity)
            elif metric == risk_pb2.RISK_METRIC_ORDER_NOTIONAL:
                observed, projected = Decimal(0), abs(notional)
            elif metric == risk_pb2.RISK_METRIC_POSITION_SIZE:
                total = sum((r.quantity for r in mine), Decimal(0))
                observed, projected = abs(total), abs(total + sign * quantity)
            elif metric == risk_pb2.RISK_METRIC_NOTIONAL:
                total = sum((r.notional for r in mine), Decimal(0))
                observed, projected = abs(total), abs(total + sign * notional)
            else:  # OPEN_ORDER_COUNT
                observed, projected = Decimal(len(mine)), Decimal(len(mine) + 1)
            threshold = _dec(limit.threshold)
            if projected > threshold:
                outcome = risk_pb2.LIMIT_CHECK_OUTCOME_BREACHED
                breached.append(limit)
                if limit.action == risk_pb2.RISK_LIMIT_ACTION_ALERT:
                    warn = True
                else:
                    deny = True
                result.messages.append(
                    f"{_metric_label(metric)} {fmt(projected)} would exceed limit {limit.threshold} "
                    f"({limit.name[:200]})"
                )
            elif limit.HasField("warning_threshold") and projected > _dec(limit.warning_threshold):
                outcome = risk_pb2.LIMIT_CHECK_OUTCOME_WARNING
                warn = True
                result.messages.append(
                    f"{_metric_label(metric)} {fmt(projected)} would pass warning level {limit.warning_threshold} "
                    f"({limit.name[:200]})"
                )
            else:
                outcome = risk_pb2.LIMIT_CHECK_OUTCOME_WITHIN
            check = risk_pb2.LimitCheck(
                limit_id=limit.limit_id,
                metric=metric,
                unit=limit.unit,
                threshold=limit.threshold,
                observed_value=fmt(observed),
                projected_value=fmt(projected),
                outcome=outcome,
                action=limit.action,
            )
            if limit.HasField("unit_asset_id"):
                check.unit_asset_id = limit.unit_asset_id
            if limit.HasField("warning_threshold"):
                check.warning_threshold = limit.warning_threshold
            result.limit_checks.append(check)
        where, state = self._order_state(order.account_id, now)
        result.trading_state = state  # type: ignore[assignment]
        if state == account_pb2.TRADING_STATE_HALTED:
            deny = True
            result.messages.append(f"{where} is TRADING_STATE_HALTED")
        elif state == account_pb2.TRADING_STATE_REDUCING and not order.reduce_only:
            deny = True
            result.messages.append(f"{where} is TRADING_STATE_REDUCING and the order is not reduce_only")
        result.decision = (
            risk_pb2.RISK_DECISION_DENY
            if deny
            else risk_pb2.RISK_DECISION_WARN
            if warn
            else risk_pb2.RISK_DECISION_ALLOW
        )
        return result, breached, sign * quantity, sign * notional, venue_id

    def _order_state(self, account_id: str, now: datetime.datetime) -> tuple[str, int]:
        """The trading state that applies to an order of the account: the most restrictive (HALTED, then
        REDUCING) of the account's and those of the portfolios (Portfolio service) holding the account, the
        account first, then the portfolios by id; ("account <id>", ACTIVE) when none is restricted."""
        scopes = [(f"account {account_id}", f"acc:{account_id}")]
        portfolios = getattr(getattr(self.store, "_portfolio_state", None), "portfolios", {})
        scopes += [
            (f"portfolio {pid}", f"pfl:{pid}")
            for pid in sorted(portfolios)
            if account_id in portfolios[pid].account_ids
        ]
        chosen = (scopes[0][0], int(account_pb2.TRADING_STATE_ACTIVE))
        for rank in (account_pb2.TRADING_STATE_HALTED, account_pb2.TRADING_STATE_REDUCING):
            for where, key in scopes:
                current = self.risk.trading_state(key, now)
                if current is not None and current.state == rank:
                    return where, int(rank)
        return chosen

    def _counted(self, now: datetime.datetime) -> list[_Counted]:
        """What a check counts besides the order: the HELD reservations, the working orders of VenueGateway
        (open statuses, by their leaves quantity) and the COMMITTED reservations whose order VenueGateway does
        not hold (they stand for an order placed elsewhere). Caller holds the lock."""
        self.risk.expire(now)
        orders = {o.order_id: o for o in self.store.orders.all()}
        counted: list[_Counted] = []
        for entry in self.risk.reservations.values():
            message = entry.message
            if message.state == risk_pb2.RISK_RESERVATION_STATE_HELD or (
                message.state == risk_pb2.RISK_RESERVATION_STATE_COMMITTED and message.order_id not in orders
            ):
                counted.append(
                    _Counted(
                        message.account_id,
                        message.market_id,
                        entry.venue_id,
                        entry.strategy_id,
                        entry.quantity,
                        entry.notional,
                    )
                )
        for order in orders.values():
            if order.status not in _WORKING:
                continue
            if order.HasField("leaves_quantity"):
                quantity = _dec(order.leaves_quantity)
            elif order.HasField("quantity"):
                quantity = _dec(order.quantity) - _dec(order.filled_quantity or "0")
            else:
                quantity = Decimal(0)
            price = _dec(order.price) if order.HasField("price") else _reference_price(self.store, order.market_id)
            sign = Decimal(-1) if order.side == trading_pb2.SIDE_SELL else Decimal(1)
            market = self.store.markets.find(order.market_id)
            counted.append(
                _Counted(
                    order.account_id,
                    order.market_id,
                    market.venue_id if market is not None else "",
                    order.strategy_id,
                    sign * quantity,
                    sign * quantity * (price or Decimal(0)),
                )
            )
        return counted

    def CheckOrder(self, request: pb.CheckOrderRequest, context: Ctx) -> pb.CheckOrderResponse:
        with self.risk.lock, _exact():
            result, _, _, _, _ = self._evaluate(request.order, _now())
        return pb.CheckOrderResponse(result=result)

    def ReserveOrder(self, request: pb.ReserveOrderRequest, context: Ctx) -> pb.ReserveOrderResponse:
        risk = self.risk
        with risk.lock:
            first = risk.replay(request.request_id, request)
            if first is not None:
                assert isinstance(first, pb.ReserveOrderResponse)
                return first
            now = _now()
            try:
                with _exact():
                    result, breached, quantity, notional, venue_id = self._evaluate(request.order, now)
            except ServiceError as error:
                risk.remember(request.request_id, request, error)
                raise
            for limit in breached:
                self._raise_alert(limit, request.order, result, now)
            if result.decision != risk_pb2.RISK_DECISION_DENY:
                ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else DEFAULT_TTL
                reservation = risk_pb2.RiskReservation(
                    reservation_id=f"rsv_{new_ulid()}",
                    state=risk_pb2.RISK_RESERVATION_STATE_HELD,
                    account_id=request.order.account_id,
                    market_id=request.order.market_id,
                    limit_ids=[c.limit_id for c in result.limit_checks],
                    expire_time=_ts(now + ttl),
                    create_time=_ts(now),
                    update_time=_ts(now),
                )
                if request.order.HasField("client_order_id"):
                    reservation.client_order_id = request.order.client_order_id
                risk.reservations[reservation.reservation_id] = _Reservation(
                    reservation, venue_id, request.order.strategy_id, quantity, notional
                )
                result.reservation_id = reservation.reservation_id
                result.reservation_expire_time.CopyFrom(reservation.expire_time)
            response = pb.ReserveOrderResponse(result=result)
            risk.requests[request.request_id] = (request, response)
            return response

    def _raise_alert(
        self, limit: risk_pb2.RiskLimit, order: vpb.NewOrder, result: risk_pb2.RiskCheckResult, now: datetime.datetime
    ) -> None:
        check = next(c for c in result.limit_checks if c.limit_id == limit.limit_id)
        alert = risk_events_pb2.RiskAlert(
            alert_id=f"alr_{new_ulid()}",
            rule_id=f"limit.{_metric_label(limit.metric)}",
            rule_name=limit.name,
            limit_id=limit.limit_id,
            category=risk_events_pb2.RISK_ALERT_CATEGORY_LIMIT_BREACH,
            severity=quality_flag_pb2.FLAG_SEVERITY_MEDIUM
            if limit.action == risk_pb2.RISK_LIMIT_ACTION_ALERT
            else quality_flag_pb2.FLAG_SEVERITY_HIGH,
            status=risk_events_pb2.RISK_ALERT_STATUS_OPEN,
            title=f"{_metric_label(limit.metric)} {check.projected_value} above limit {limit.threshold}"[:200],
            account_id=order.account_id,
            market_id=order.market_id,
            metric=_metric_label(limit.metric),
            observed_value=check.projected_value,
            threshold_value=limit.threshold,
            threshold_operator=risk_events_pb2.THRESHOLD_OPERATOR_GREATER_THAN,
            unit=limit.unit,
            trigger_time=_ts(now),
            occurrence_count=1,
        )
        if limit.HasField("unit_asset_id"):
            alert.unit_asset_id = limit.unit_asset_id
        self.risk.record(alert)

    def _reservation(self, reservation_id: str) -> _Reservation:
        entry = self.risk.reservations.get(reservation_id)
        if entry is None:
            raise not_found("NOT_FOUND_RESOURCE", f"no reservation {reservation_id!r}", reservation_id=reservation_id)
        return entry

    def CommitReservation(self, request: pb.CommitReservationRequest, context: Ctx) -> pb.CommitReservationResponse:
        with self.risk.lock:
            now = _now()
            self.risk.expire(now)
            message = self._reservation(request.reservation_id).message
            if message.state == risk_pb2.RISK_RESERVATION_STATE_COMMITTED and message.order_id != request.order_id:
                raise _not_held(message)
            if message.state == risk_pb2.RISK_RESERVATION_STATE_RELEASED:
                raise _not_held(message)
            if message.state != risk_pb2.RISK_RESERVATION_STATE_COMMITTED:
                message.state = risk_pb2.RISK_RESERVATION_STATE_COMMITTED
                message.order_id = request.order_id
                message.update_time.CopyFrom(_ts(now))
            return pb.CommitReservationResponse(reservation=message)

    def ReleaseReservation(self, request: pb.ReleaseReservationRequest, context: Ctx) -> pb.ReleaseReservationResponse:
        with self.risk.lock:
            now = _now()
            self.risk.expire(now)
            message = self._reservation(request.reservation_id).message
            if message.state == risk_pb2.RISK_RESERVATION_STATE_COMMITTED:
                raise _not_held(message)
            if message.state == risk_pb2.RISK_RESERVATION_STATE_HELD:
                message.state = risk_pb2.RISK_RESERVATION_STATE_RELEASED
                message.update_time.CopyFrom(_ts(now))
            return pb.ReleaseReservationResponse(reservation=message)

    # --- Trading state and Flatten ---------------------------------------------------------------------------

    def GetTradingState(self, request: pb.GetTradingStateRequest, context: Ctx) -> pb.GetTradingStateResponse:
        with self.risk.lock:
            self.risk.check_scope(request.scope)
            current = self.risk.trading_state(_scope_key(request.scope), _now())
        if current is None:
            return pb.GetTradingStateResponse(state=account_pb2.TRADING_STATE_ACTIVE)
        response = pb.GetTradingStateResponse(
            state=current.state,  # type: ignore[arg-type]
            reason=current.reason,
            update_time=_ts(current.update_time),
        )
        if current.expire_time is not None:
            response.expire_time.CopyFrom(_ts(current.expire_time))
        return response

    def _set_state(
        self, scope: pb.RiskScope, state: int, reason: str, expire: datetime.datetime | None, now: datetime.datetime
    ) -> _TradingState:
        key = _scope_key(scope)
        current = self.risk.trading_state(key, now)
        if current is not None and current.state == state and current.expire_time == expire:
            return current  # the state in force with the same expiry: nothing changes
        changed = _TradingState(state, reason, now, expire)
        self.risk.trading[key] = changed
        return changed

    def SetTradingState(self, request: pb.SetTradingStateRequest, context: Ctx) -> pb.SetTradingStateResponse:
        risk = self.risk
        with risk.lock:
            first = risk.replay(request.request_id, request)
            if first is not None:
                assert isinstance(first, pb.SetTradingStateResponse)
                return first
            now = _now()
            try:
                risk.check_scope(request.scope)
                expire: datetime.datetime | None = None
                if request.HasField("expire_time"):
                    expire = _dt(request.expire_time)
                    if expire <= now:
                        raise validation_failed(
                            request.DESCRIPTOR.full_name,
                            [
                                ContractViolation(
                                    "expire_time",
                                    "set_trading_state.expire_time_in_future",
                                    "expire_time must be in the future",
                                )
                            ],
                        )
                elif request.HasField("duration"):
                    expire = now + request.duration.ToTimedelta()
            except ServiceError as error:
                risk.remember(request.request_id, request, error)
                raise
            current = self._set_state(request.scope, request.state, request.reason, expire, now)
            response = pb.SetTradingStateResponse(state=current.state, update_time=_ts(current.update_time))  # type: ignore[arg-type]
            if current.expire_time is not None:
                response.expire_time.CopyFrom(_ts(current.expire_time))
            risk.requests[request.request_id] = (request, response)
            return response

    def Flatten(self, request: pb.FlattenRequest, context: Ctx) -> pb.FlattenResponse:
        risk = self.risk
        with risk.lock:
            first = risk.replay(request.request_id, request)
            if first is not None:
                assert isinstance(first, pb.FlattenResponse)
                return first
            now = _now()
            try:
                risk.check_scope(request.scope)
                for market_id in request.market_ids:
                    self.store.markets.get(market_id)
            except ServiceError as error:
                risk.remember(request.request_id, request, error)
                raise
            current = self._set_state(request.scope, request.trading_state_after, request.reason, None, now)
            canceled, unclosed = self._flatten_orders(request)
            response = pb.FlattenResponse(
                trading_state=current.state,  # type: ignore[arg-type]
                canceled_order_ids=canceled,
                unclosed_position_ids=unclosed,
                update_time=_ts(current.update_time),
            )
            risk.requests[request.request_id] = (request, response)
            return response

    def _scope_accounts(self, scope: pb.RiskScope) -> list[str]:
        """The accounts of a scope: the account itself, or the portfolio's account_ids (Portfolio service)."""
        if scope.WhichOneof("id") == "account_id":
            return [scope.account_id]
        found = getattr(getattr(self.store, "_portfolio_state", None), "portfolios", {}).get(scope.portfolio_id)
        return list(found.account_ids) if found is not None else []

    def _flatten_orders(self, request: pb.FlattenRequest) -> tuple[list[str], list[str]]:
        """Cancels the scope's working orders through the server's VenueGateway (CancelAllOrders per account,
        and per market when market_ids narrows it) and lists the open positions of the scope (Portfolio) as
        unclosed for CANCEL_AND_CLOSE: the reference RiskEngine places no closing orders. Caller holds the lock."""
        gateway = VenueGatewayServicer(self.store)
        accounts = self._scope_accounts(request.scope)
        canceled: list[str] = []
        for account_id in accounts:
            if self.store.accounts.find(account_id) is None:
                continue  # not a VenueGateway account: nothing to cancel there
            for market_id in list(request.market_ids) or [""]:
                key = f"cqc-risk-flatten:{request.request_id}:{account_id}:{market_id}"
                cancel = vpb.CancelAllOrdersRequest(
                    request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)), account_id=account_id
                )
                if market_id:
                    cancel.market_id = market_id
                canceled.extend(o.order_id for o in gateway.CancelAllOrders(cancel, None).orders)  # type: ignore[arg-type]
        unclosed: list[str] = []
        if request.mode == pb.FLATTEN_MODE_CANCEL_AND_CLOSE:
            positions = getattr(getattr(self.store, "_portfolio_state", None), "positions", {})
            markets = set(request.market_ids)
            unclosed = [
                p.position_id
                for p in positions.values()
                if p.account_id in accounts and (not markets or p.market_id in markets) and _dec(p.quantity) != 0
            ]
        return sorted(set(canceled)), sorted(unclosed)

    # --- Risk limits -----------------------------------------------------------------------------------------

    def GetRiskLimit(self, request: pb.GetRiskLimitRequest, context: Ctx) -> pb.GetRiskLimitResponse:
        with self.risk.lock:
            return pb.GetRiskLimitResponse(risk_limit=self._limit(request.limit_id))

    def _limit(self, limit_id: str) -> risk_pb2.RiskLimit:
        found = self.risk.limits.get(limit_id)
        if found is None:
            raise not_found("NOT_FOUND_RESOURCE", f"no risk limit {limit_id!r}", limit_id=limit_id)
        copy = risk_pb2.RiskLimit()
        copy.CopyFrom(found)
        return copy

    def ListRiskLimits(self, request: pb.ListRiskLimitsRequest, context: Ctx) -> pb.ListRiskLimitsResponse:
        def keep(limit: risk_pb2.RiskLimit) -> bool:
            if request.HasField("portfolio_id") and limit.portfolio_id != request.portfolio_id:
                return False
            if request.HasField("account_id") and limit.account_id != request.account_id:
                return False
            return not request.enabled_only or limit.state == risk_pb2.RISK_LIMIT_STATE_ENABLED

        with self.risk.lock:
            items = [limit for _, limit in sorted(self.risk.limits.items()) if keep(limit)]
            chosen, token = _TOKENS.page(items, request, lambda m: m.limit_id, ascending=False)
        return pb.ListRiskLimitsResponse(risk_limits=chosen, next_page_token=token)

    def CreateRiskLimit(self, request: pb.CreateRiskLimitRequest, context: Ctx) -> pb.CreateRiskLimitResponse:
        given = risk_pb2.RiskLimit()
        given.CopyFrom(request.risk_limit)
        given.ClearField("create_time")
        given.ClearField("update_time")
        with self.risk.lock:
            existing = self.risk.limits.get(given.limit_id)
            if existing is not None:
                stored = risk_pb2.RiskLimit()
                stored.CopyFrom(existing)
                stored.ClearField("create_time")
                stored.ClearField("update_time")
                if not same_request(stored, given):
                    raise already_exists(
                        "ALREADY_EXISTS",
                        f"risk limit {given.limit_id} exists with other values",
                        limit_id=given.limit_id,
                    )
                return pb.CreateRiskLimitResponse(risk_limit=existing)
            now = _ts(_now())
            given.create_time.CopyFrom(now)
            given.update_time.CopyFrom(now)
            self.risk.limits[given.limit_id] = given
            return pb.CreateRiskLimitResponse(risk_limit=given)

    def UpdateRiskLimit(self, request: pb.UpdateRiskLimitRequest, context: Ctx) -> pb.UpdateRiskLimitResponse:
        refused = _refused_paths(request.update_mask, risk_pb2.RiskLimit)
        if refused:
            raise invalid_argument(
                "INVALID_UPDATE_MASK",
                f"update_mask paths that are not updatable fields of RiskLimit: {', '.join(refused)}",
                paths=",".join(refused),
            )
        with self.risk.lock:
            updated: Message = self._limit(request.risk_limit.limit_id)
            source: Message = request.risk_limit
            for path in dict.fromkeys(request.update_mask.paths):
                field = risk_pb2.RiskLimit.DESCRIPTOR.fields_by_name[path]
                if field.message_type is not None:
                    updated.ClearField(path)
                    if source.HasField(path):
                        getattr(updated, path).CopyFrom(getattr(source, path))
                elif field.has_presence:
                    if source.HasField(path):
                        setattr(updated, path, getattr(source, path))
                    else:
                        updated.ClearField(path)
                else:
                    setattr(updated, path, getattr(source, path))
            assert isinstance(updated, risk_pb2.RiskLimit)
            updated.update_time.CopyFrom(_ts(_now()))
            broken = [
                ContractViolation(f"risk_limit.{v.field}" if v.field else "risk_limit", v.rule_id, v.message)
                for v in violations(updated)
            ]
            if broken:
                raise validation_failed(request.DESCRIPTOR.full_name, broken)
            self.risk.limits[updated.limit_id] = updated
            return pb.UpdateRiskLimitResponse(risk_limit=updated)

    # --- Alerts ----------------------------------------------------------------------------------------------

    def GetRiskAlert(self, request: pb.GetRiskAlertRequest, context: Ctx) -> pb.GetRiskAlertResponse:
        with self.risk.lock:
            return pb.GetRiskAlertResponse(risk_alert=self._alert(request.alert_id))

    def _alert(self, alert_id: str) -> risk_events_pb2.RiskAlert:
        found = self.risk.alerts.get(alert_id)
        if found is None:
            raise not_found("NOT_FOUND_RESOURCE", f"no risk alert {alert_id!r}", alert_id=alert_id)
        copy = risk_events_pb2.RiskAlert()
        copy.CopyFrom(found)
        return copy

    def ListRiskAlerts(self, request: pb.ListRiskAlertsRequest, context: Ctx) -> pb.ListRiskAlertsResponse:
        statuses = set(request.statuses)
        since = _dt(request.since_time) if request.HasField("since_time") else None
        scope = request.scope if request.HasField("scope") else None

        def keep(alert: risk_events_pb2.RiskAlert) -> bool:
            if statuses and alert.status not in statuses:
                return False
            if since is not None and _dt(alert.trigger_time) < since:
                return False
            return _alert_matches(alert, request.min_severity, scope)

        with self.risk.lock:
            items = sorted(
                (a for a in self.risk.alerts.values() if keep(a)),
                key=lambda a: (a.trigger_time.seconds, a.trigger_time.nanos, a.alert_id),
                reverse=True,
            )
            chosen, token = _TOKENS.page(items, request, lambda m: m.alert_id, ascending=False)
        return pb.ListRiskAlertsResponse(risk_alerts=chosen, next_page_token=token)

    def AcknowledgeRiskAlert(
        self, request: pb.AcknowledgeRiskAlertRequest, context: Ctx
    ) -> pb.AcknowledgeRiskAlertResponse:
        with self.risk.lock:
            alert = self._alert(request.alert_id)
            if alert.status == risk_events_pb2.RISK_ALERT_STATUS_RESOLVED:
                raise failed_precondition(
                    "RISK_ALERT_RESOLVED",
                    f"risk alert {alert.alert_id} is RESOLVED",
                    alert_id=alert.alert_id,
                    status="RISK_ALERT_STATUS_RESOLVED",
                )
            if alert.status != risk_events_pb2.RISK_ALERT_STATUS_ACKNOWLEDGED:
                alert.status = risk_events_pb2.RISK_ALERT_STATUS_ACKNOWLEDGED
                alert.acknowledge_time.CopyFrom(_ts(_now()))
                alert.acknowledged_by = request.acknowledged_by
                alert.ClearField("suppress_until")
                self.risk.record(alert)
            return pb.AcknowledgeRiskAlertResponse(risk_alert=alert)

    def ResolveRiskAlert(self, request: pb.ResolveRiskAlertRequest, context: Ctx) -> pb.ResolveRiskAlertResponse:
        with self.risk.lock:
            alert = self._alert(request.alert_id)
            if alert.status != risk_events_pb2.RISK_ALERT_STATUS_RESOLVED:
                alert.status = risk_events_pb2.RISK_ALERT_STATUS_RESOLVED
                alert.resolve_time.CopyFrom(_ts(max(_now(), _dt(alert.trigger_time))))
                alert.resolved_by = request.resolved_by
                alert.ClearField("suppress_until")
                self.risk.record(alert)
            return pb.ResolveRiskAlertResponse(risk_alert=alert)

    def StreamRiskAlerts(
        self, request: pb.StreamRiskAlertsRequest, context: Ctx
    ) -> Iterator[pb.StreamRiskAlertsResponse]:
        risk = self.risk
        scope = request.scope if request.HasField("scope") else None
        if scope is not None:
            with risk.lock:
                risk.check_scope(scope)
        filters = _digest("alerts", str(request.min_severity), _scope_key(scope) if scope is not None else "-")
        with risk.lock, risk.cond:
            position = len(risk.alert_log)
            if request.HasField("resume_token"):
                position = _resume_position(request.resume_token, "alerts", filters, position)
                snapshot: list[risk_events_pb2.RiskAlert] = []
            else:
                snapshot = sorted(
                    (
                        a
                        for a in risk.alerts.values()
                        if a.status in _OPEN_ALERTS and _alert_matches(a, request.min_severity, scope)
                    ),
                    key=lambda a: (a.trigger_time.seconds, a.trigger_time.nanos, a.alert_id),
                )
        token = _resume_token("alerts", filters, position)
        if not request.HasField("resume_token"):
            for alert in snapshot:
                yield pb.StreamRiskAlertsResponse(risk_alert=alert, is_snapshot=True, resume_token=token)
            yield pb.StreamRiskAlertsResponse(snapshot_complete=True, resume_token=token)
        while context.is_active():
            with risk.cond:
                if position >= len(risk.alert_log):
                    risk.cond.wait(timeout=0.2)
                changes = risk.alert_log[position:]
            for alert in changes:
                position += 1
                if _alert_matches(alert, request.min_severity, scope):
                    yield pb.StreamRiskAlertsResponse(
                        risk_alert=alert, resume_token=_resume_token("alerts", filters, position)
                    )

    # --- Exposures -------------------------------------------------------------------------------------------

    def _exposures(self, scope: pb.RiskScope, dimension: int) -> list[exposure_pb2.Exposure]:
        which = scope.WhichOneof("id") or "account_id"
        found = [
            e
            for e in self.risk.exposures
            if e.dimension == dimension
            and e.WhichOneof("scope") == which
            and getattr(e, which) == getattr(scope, which)
        ]
        return sorted(found, key=lambda e: (-(_dec(e.gross_long) + _dec(e.gross_short)), e.exposure_id))

    def ListExposures(self, request: pb.ListExposuresRequest, context: Ctx) -> pb.ListExposuresResponse:
        with self.risk.lock:
            self.risk.check_scope(request.scope)
            items = self._exposures(request.scope, request.dimension)
            chosen, token = _TOKENS.page(items, request, lambda m: m.exposure_id, ascending=False)
        return pb.ListExposuresResponse(exposures=chosen, next_page_token=token)

    def StreamExposures(self, request: pb.StreamExposuresRequest, context: Ctx) -> Iterator[pb.StreamExposuresResponse]:
        filters = _digest("exposures", _scope_key(request.scope), str(request.dimension))
        with self.risk.lock:
            self.risk.check_scope(request.scope)
            snapshot = self._exposures(request.scope, request.dimension)
        # The reference server never recomputes exposures: the change log stays empty (position 0).
        if request.HasField("resume_token"):
            _resume_position(request.resume_token, "exposures", filters, 0)
        token = _resume_token("exposures", filters, 0)
        if not request.HasField("resume_token"):
            for exposure in snapshot:
                yield pb.StreamExposuresResponse(exposure=exposure, is_snapshot=True, resume_token=token)
            yield pb.StreamExposuresResponse(snapshot_complete=True, resume_token=token)
        while context.is_active():
            with self.risk.cond:
                self.risk.cond.wait(timeout=0.2)


def _alert_matches(alert: risk_events_pb2.RiskAlert, min_severity: int, scope: pb.RiskScope | None) -> bool:
    if min_severity and alert.severity < min_severity:
        return False
    if scope is None:
        return True
    if scope.WhichOneof("id") == "portfolio_id":
        return alert.HasField("portfolio_id") and alert.portfolio_id == scope.portfolio_id
    return alert.HasField("account_id") and alert.account_id == scope.account_id


def _not_held(message: risk_pb2.RiskReservation) -> ServiceError:
    state = risk_pb2.RiskReservationState.Name(message.state)
    metadata = {"reservation_id": message.reservation_id, "state": state}
    if message.state == risk_pb2.RISK_RESERVATION_STATE_COMMITTED:
        metadata["order_id"] = message.order_id
    return failed_precondition(
        "RISK_RESERVATION_NOT_HELD", f"reservation {message.reservation_id} is {state}", **metadata
    )


def _refused_paths(mask: field_mask_pb2.FieldMask, cls: type[Message]) -> list[str]:
    fields = cls.DESCRIPTOR.fields_by_name
    return [path for path in mask.paths if path not in fields or path in _IMMUTABLE]


def _resume_token(stream: str, filters: str, position: int) -> str:
    return _TOKENS.encode(str(position), rpc=f"stream:{stream}", filters=filters)


def _resume_position(token: str, stream: str, filters: str, end: int) -> int:
    """The change-log position a resume token names; FAILED_PRECONDITION RESUME_TOKEN_EXPIRED when this stream
    with these filters did not issue it (or it is beyond the log)."""
    try:
        value = int(_TOKENS.decode(token, rpc=f"stream:{stream}", filters=filters))
    except (ServiceError, ValueError):
        value = -1
    if not 0 <= value <= end:
        raise failed_precondition(
            "RESUME_TOKEN_EXPIRED", f"resume_token was not issued by this {stream} stream with the same filters"
        )
    return value
