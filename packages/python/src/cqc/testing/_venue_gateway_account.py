"""The reference VenueGateway's account side: reconciliation mass status (order, fill and position reports built
from the stored orders and their fills), margin summary (Get and stream), account control (leverage, margin
mode, position mode, isolated margin, internal transfers, borrow/repay, trading fee rates) and withdrawals
(request, list, cancel).

Nothing reaches a venue. The in-memory "venue" is the store: an order's venue id is its venue_order_id (or its
order_id when it has none), positions are the net of the stored fills per (market, position side) in
non-spot markets, and every mutation is idempotent by request_id (a retry with the same request returns the
first answer; another request under the same id fails ALREADY_EXISTS REQUEST_ID_REUSED).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from cqc.markets.v1 import market_pb2
from cqc.portfolio.v1 import transaction_pb2
from cqc.services.v1 import venue_gateway_account_pb2 as apb
from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.testing._equality import same_request
from cqc.testing._errors import ServiceError, already_exists, failed_precondition, invalid_argument, not_found
from cqc.testing._store import DEFAULT_PAGE_SIZE, Store, decode_page_token, encode_page_token, new_ulid
from cqc.testing._venue_gateway_requests import AnsweredRequest, shared_request_ids
from cqc.validation import violations
from cqc.venues.v1 import account_pb2, balance_pb2, execution_pb2, order_pb2, trading_pb2

__all__ = ["VenueAccountMixin"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)
T = transaction_pb2
_OPEN = {
    trading_pb2.ORDER_STATUS_NEW,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    trading_pb2.ORDER_STATUS_PENDING_NEW,
    trading_pb2.ORDER_STATUS_PENDING_CANCEL,
    trading_pb2.ORDER_STATUS_PENDING_REPLACE,
    trading_pb2.ORDER_STATUS_TRIGGERED,
    trading_pb2.ORDER_STATUS_SUSPENDED,
}
_CASH_ACCOUNTS = {
    account_pb2.ACCOUNT_TYPE_SPOT,
    account_pb2.ACCOUNT_TYPE_FUNDING,
    account_pb2.ACCOUNT_TYPE_EARN,
    account_pb2.ACCOUNT_TYPE_WALLET,
}
_BORROWING_ACCOUNTS = {account_pb2.ACCOUNT_TYPE_MARGIN, account_pb2.ACCOUNT_TYPE_UNIFIED}
_CANCELABLE_WITHDRAWAL = {
    T.TRANSACTION_STATUS_PENDING,
    T.TRANSACTION_STATUS_AWAITING_USER_CONFIRMATION,
    T.TRANSACTION_STATUS_AWAITING_APPROVAL,
}
DEFAULT_LEVERAGE = "1"
"""Leverage of a market leverage entry the server creates when only the margin mode was set."""
MAX_PAGE_BYTES = 3 * 1024 * 1024
"""Pages end early before their encoded size passes this (the contract's 4 MiB bound, with headroom)."""


@dataclass
class _AccountState:
    """Account-side state shared by every call on one Store."""

    cond: threading.Condition
    # request_id -> (request, response); the servicer's one request-id store (shared with order entry)
    requests: dict[str, tuple[Message, Message]] = field(default_factory=dict)
    ledger: list[transaction_pb2.Transaction] = field(default_factory=list)  # withdrawals, transfers, loans
    debts: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)  # (account, asset, market) -> principal
    isolated: dict[tuple[str, str, int], Decimal] = field(default_factory=dict)  # (account, market, side) -> margin
    margin_log: list[balance_pb2.MarginSummary] = field(default_factory=list)
    balances: dict[tuple[str, str, str], balance_pb2.Balance] = field(default_factory=dict)  # (account, asset, wallet)
    balance_log: list[tuple[balance_pb2.Balance, int]] = field(default_factory=list)  # (balance after, reason)


def _now() -> timestamp_pb2.Timestamp:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return now


def _dec(value: Decimal) -> str:
    """A Decimal in the contract's decimal grammar: no exponent, no negative zero, no trailing fraction zeros."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _venue_order_id(order: order_pb2.Order) -> str:
    return order.venue_order_id or order.order_id


def _masked(message: Message, mask: field_mask_pb2.FieldMask) -> None:
    """Keeps only the top-level fields the read mask names (INVALID_ARGUMENT INVALID_READ_MASK on unknown paths)."""
    if not mask.paths:
        return
    fields = message.DESCRIPTOR.fields_by_name
    unknown = [p for p in mask.paths if p.split(".")[0] not in fields]
    if unknown:
        raise invalid_argument("INVALID_READ_MASK", f"unknown read_mask paths {unknown}", paths=",".join(unknown))
    keep = {p.split(".")[0] for p in mask.paths}
    for name in fields:
        if name not in keep:
            message.ClearField(name)


def _paged(
    items: list[M], key: Callable[[M], str], page_size: int, page_token: str, request: Message | None = None
) -> tuple[list[M], str]:
    """A page of items (already in listing order, each with a unique key) after the token's key, bounded by
    page_size and by MAX_PAGE_BYTES; with ``request`` the tokens are bound to its RPC and filters."""
    start = 0
    if page_token:
        last = decode_page_token(page_token, request)  # garbage, tampering, other filters -> INVALID_PAGE_TOKEN
        keys = [key(item) for item in items]
        start = keys.index(last) + 1 if last in keys else len(items)
    size = page_size or DEFAULT_PAGE_SIZE
    chosen: list[M] = []
    used = 0
    for item in items[start : start + size]:
        item_size = item.ByteSize() + 8
        if chosen and used + item_size > MAX_PAGE_BYTES:
            break
        chosen.append(item)
        used += item_size
    more = start + len(chosen) < len(items)
    token = encode_page_token(key(chosen[-1]), request) if more and chosen else ""
    return chosen, token


class VenueAccountMixin:
    """The reconciliation, margin and account-control RPCs of the reference VenueGateway."""

    store: Store

    # --- state and helpers -----------------------------------------------------------------------------------

    def _accounts_state(self) -> _AccountState:
        with self.store.lock:
            state = getattr(self.store, "_venue_accounts", None)
            if state is None:
                state = _AccountState(
                    cond=threading.Condition(self.store.lock), requests=shared_request_ids(self.store)
                )
                setattr(self.store, "_venue_accounts", state)  # noqa: B010
            assert isinstance(state, _AccountState)
            return state

    def _idempotent(self, request_id: str, request: Message, act: Callable[[], Message]) -> Message:
        """The first answer to request_id, or act() remembered under it; the caller holds no lock."""
        state = self._accounts_state()
        with self.store.lock:
            earlier = state.requests.get(request_id)
            if earlier is not None:
                if not same_request(earlier[0], request):
                    raise already_exists(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id} was used for a different request",
                        request_id=request_id,
                    )
                return earlier[1]
            response = act()
            stored = type(request)()
            stored.CopyFrom(request)
            state.requests[request_id] = AnsweredRequest(stored, response)
            return response

    def _account(self, account_id: str) -> account_pb2.VenueAccount:
        return self.store.accounts.get(account_id)

    def _unsupported(
        self, operation: str, account: account_pb2.VenueAccount, why: str, market_id: str = ""
    ) -> ServiceError:
        metadata = {"operation": operation, "venue_id": account.venue_id}
        if market_id:
            metadata["market_id"] = market_id
        return failed_precondition("ACCOUNT_OPERATION_UNSUPPORTED", f"{operation}: {why}", **metadata)

    def _open_orders(self, account_id: str, market_id: str = "") -> list[order_pb2.Order]:
        return [
            o
            for o in self.store.orders.all()
            if o.account_id == account_id and o.status in _OPEN and (not market_id or o.market_id == market_id)
        ]

    def _book(self, entry: transaction_pb2.Transaction) -> transaction_pb2.Transaction:
        broken = violations(entry)
        if broken:
            raise ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", f"built an invalid transaction: {broken}")
        self._accounts_state().ledger.append(entry)
        borrowed = Decimal(entry.amount) if entry.type == balance_pb2.BALANCE_CHANGE_REASON_BORROW else Decimal(0)
        if entry.type == balance_pb2.BALANCE_CHANGE_REASON_REPAY:
            borrowed = Decimal(entry.amount)
        self._move(entry.account_id, entry.asset_id, entry.wallet, Decimal(entry.amount), borrowed, entry.type)
        if entry.type == balance_pb2.BALANCE_CHANGE_REASON_TRANSFER and (
            entry.HasField("counterparty_account_id") or entry.counterparty_wallet
        ):
            target = entry.counterparty_account_id if entry.HasField("counterparty_account_id") else entry.account_id
            if entry.counterparty_wallet != "isolated_margin":  # isolated margin is held by the position, not a ledger
                self._move(
                    target, entry.asset_id, entry.counterparty_wallet, -Decimal(entry.amount), Decimal(0), entry.type
                )
        return entry

    def _move(
        self, account_id: str, asset_id: str, wallet: str, amount: Decimal, borrowed: Decimal, reason: int
    ) -> None:
        """Applies a change to the computed balance of (account, asset, wallet) and logs it for StreamBalances;
        the caller holds the lock. Balances here are computed by CQC from the server's own ledger (is_reported
        false): the reference venue publishes none."""
        state = self._accounts_state()
        key = (account_id, asset_id, wallet)
        balance = state.balances.get(key)
        if balance is None:
            balance = balance_pb2.Balance(account_id=account_id, asset_id=asset_id, wallet=wallet, wallet_balance="0")
        balance.wallet_balance = _dec(Decimal(balance.wallet_balance or "0") + amount)
        if borrowed or balance.HasField("borrowed"):
            balance.borrowed = _dec(max(Decimal(balance.borrowed or "0") + borrowed, Decimal(0)))
        balance.update_time.CopyFrom(_now())
        balance.last_delta.amount = _dec(amount)
        balance.last_delta.reason = reason  # type: ignore[assignment]
        balance.last_delta.clear_time.CopyFrom(balance.update_time)
        state.balances[key] = balance
        logged = balance_pb2.Balance()
        logged.CopyFrom(balance)
        state.balance_log.append((logged, reason))
        state.cond.notify_all()

    def _account_balances(self, account_id: str) -> list[balance_pb2.Balance]:
        """The account's computed balances ordered by (asset_id, wallet); the caller holds the lock."""
        state = self._accounts_state()
        found = [b for (acc, _, _), b in sorted(state.balances.items()) if acc == account_id]
        copies = []
        for balance in found:
            copy = balance_pb2.Balance()
            copy.CopyFrom(balance)
            copy.ClearField("last_delta")
            copies.append(copy)
        return copies

    def ListBalances(self, request: pb.ListBalancesRequest, context: Ctx) -> pb.ListBalancesResponse:
        with self.store.lock:
            self._account(request.account_id)
            balances = [
                b
                for b in self._account_balances(request.account_id)
                if request.include_zero or Decimal(b.wallet_balance) != 0 or Decimal(b.borrowed or "0") != 0
            ]
        chosen, token = _paged(
            balances, lambda b: f"{b.asset_id}/{b.wallet}", request.page_size, request.page_token, request
        )
        return pb.ListBalancesResponse(balances=chosen, next_page_token=token)

    def StreamBalances(self, request: pb.StreamBalancesRequest, context: Ctx) -> Iterator[pb.StreamBalancesResponse]:
        state = self._accounts_state()
        scope = request.account_id
        with self.store.lock:
            self._account(request.account_id)
            position = len(state.balance_log)
            snapshot = [
                b
                for b in self._account_balances(request.account_id)
                if Decimal(b.wallet_balance) != 0 or Decimal(b.borrowed or "0") != 0
            ]
            if request.HasField("resume_token"):
                position = _resume_position("balances", request.resume_token, scope, position)
        if not request.HasField("resume_token"):
            token = _token("balances", scope, position)
            for balance in snapshot:
                yield pb.StreamBalancesResponse(balance=balance, is_snapshot=True, resume_token=token)
            yield pb.StreamBalancesResponse(snapshot_complete=True, resume_token=token)
        while context.is_active():
            with state.cond:
                if position >= len(state.balance_log):
                    state.cond.wait(timeout=0.2)
                changes = state.balance_log[position:]
            for balance, reason in changes:
                position += 1
                if balance.account_id == request.account_id:
                    yield pb.StreamBalancesResponse(
                        balance=balance,
                        reason=reason,  # type: ignore[arg-type]
                        resume_token=_token("balances", scope, position),
                    )

    def _entry(
        self, account_id: str, asset_id: str, reason: int, amount: Decimal, status: int = T.TRANSACTION_STATUS_COMPLETED
    ) -> transaction_pb2.Transaction:
        now = _now()
        entry = transaction_pb2.Transaction(
            transaction_id=f"txn_{new_ulid()}",
            account_id=account_id,
            asset_id=asset_id,
            type=reason,  # type: ignore[arg-type]
            amount=_dec(amount),
            direction=T.TRANSACTION_DIRECTION_IN if amount >= 0 else T.TRANSACTION_DIRECTION_OUT,
            status=status,  # type: ignore[arg-type]
            create_time=now,
        )
        if status == T.TRANSACTION_STATUS_COMPLETED:
            entry.settle_time.CopyFrom(now)
        return entry

    # --- reconciliation -----------------------------------------------------------------------------------

    def _order_report(
        self, order: order_pb2.Order, receive: timestamp_pb2.Timestamp
    ) -> execution_pb2.OrderStatusReport:
        report = execution_pb2.OrderStatusReport(
            account_id=order.account_id,
            market_id=order.market_id,
            client_order_id=order.client_order_id,
            venue_order_id=_venue_order_id(order),
            contingency_type=order.contingency_type,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            status=order.status,
            filled_quantity=order.filled_quantity or "0",
            trigger_price_type=order.trigger_price_type,
            trailing_offset_type=order.trailing_offset_type,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            reason_text=order.reason_text,
            order_id=order.order_id,
            close_position=order.close_position,
            position_side=order.position_side,
            quantity_unit=order.quantity_unit,
        )
        for name in (
            "venue_order_list_id",
            "quantity",
            "price",
            "trigger_price",
            "trailing_offset",
            "limit_offset",
            "display_quantity",
            "quote_quantity",
        ):
            if order.HasField(name):
                setattr(report, name, getattr(order, name))
        if order.HasField("avg_fill_price"):
            report.avg_price = order.avg_fill_price
        if order.HasField("expire_time"):
            report.expire_time.CopyFrom(order.expire_time)
        if order.HasField("working_time"):
            report.accept_time.CopyFrom(order.working_time)
        if order.HasField("trigger_time"):
            report.trigger_time.CopyFrom(order.trigger_time)
        report.last_update_time.CopyFrom(order.update_time if order.HasField("update_time") else order.create_time)
        report.receive_time.CopyFrom(receive)
        return report

    def _account_orders(self, account_id: str, market_ids: Iterable[str]) -> list[order_pb2.Order]:
        self._account(account_id)
        markets = set(market_ids)
        for market_id in markets:
            self.store.markets.get(market_id)
        return [
            o for o in self.store.orders.all() if o.account_id == account_id and (not markets or o.market_id in markets)
        ]

    def ListOrderStatusReports(
        self, request: apb.ListOrderStatusReportsRequest, context: Ctx
    ) -> apb.ListOrderStatusReportsResponse:
        with self.store.lock:
            orders = self._account_orders(request.account_id, request.market_ids)
            since = request.since_time.ToNanoseconds() if request.HasField("since_time") else None

            def keep(o: order_pb2.Order) -> bool:
                changed = (o.update_time if o.HasField("update_time") else o.create_time).ToNanoseconds()
                return o.status in _OPEN or (since is not None and changed >= since)

            receive = _now()
            reports = [self._order_report(o, receive) for o in orders if keep(o)]
        reports.sort(key=lambda r: (r.last_update_time.ToNanoseconds(), r.venue_order_id))
        for report in reports:
            _masked(report, request.read_mask)
        chosen, token = _paged(
            reports, lambda r: r.venue_order_id or r.order_id, request.page_size, request.page_token, request
        )
        return apb.ListOrderStatusReportsResponse(order_status_reports=chosen, next_page_token=token)

    def _fill_reports(self, orders: Iterable[order_pb2.Order]) -> list[execution_pb2.FillReport]:
        receive = _now()
        reports = []
        for order in orders:
            for fill in order.fills:
                report = execution_pb2.FillReport(
                    account_id=order.account_id,
                    market_id=order.market_id,
                    venue_order_id=_venue_order_id(order),
                    client_order_id=order.client_order_id,
                    venue_trade_id=fill.venue_trade_id,
                    side=order.side,
                    last_quantity=fill.quantity,
                    last_price=fill.price,
                    liquidity_side=fill.liquidity_side,
                    order_id=order.order_id,
                    position_side=order.position_side,
                    quantity_unit=order.quantity_unit,
                )
                if fill.HasField("execution_id"):
                    report.execution_id = fill.execution_id
                if fill.HasField("commission"):
                    report.commission.CopyFrom(fill.commission)
                report.transact_time.CopyFrom(
                    fill.transact_time if fill.HasField("transact_time") else order.update_time
                )
                report.receive_time.CopyFrom(receive)
                reports.append(report)
        return reports

    def ListFillReports(self, request: apb.ListFillReportsRequest, context: Ctx) -> apb.ListFillReportsResponse:
        with self.store.lock:
            reports = self._fill_reports(self._account_orders(request.account_id, request.market_ids))
        since = request.since_time.ToNanoseconds()
        until = request.until_time.ToNanoseconds() if request.HasField("until_time") else None
        reports = [
            r
            for r in reports
            if r.transact_time.ToNanoseconds() >= since and (until is None or r.transact_time.ToNanoseconds() < until)
        ]
        reports.sort(key=lambda r: (r.transact_time.ToNanoseconds(), r.venue_order_id, r.venue_trade_id))
        for report in reports:
            _masked(report, request.read_mask)
        chosen, token = _paged(
            reports,
            lambda r: f"{r.venue_order_id}/{r.venue_trade_id}",
            request.page_size,
            request.page_token,
            request,
        )
        return apb.ListFillReportsResponse(fill_reports=chosen, next_page_token=token)

    def _positions(
        self, account_id: str, market_ids: Iterable[str]
    ) -> dict[tuple[str, int], tuple[Decimal, Decimal, Decimal]]:
        """(market, position side) -> (signed quantity, cost of the open quantity, last fill time ns), from fills in
        non-spot markets; the caller holds the lock."""
        book: dict[tuple[str, int], tuple[Decimal, Decimal, Decimal]] = {}
        for order in self._account_orders(account_id, market_ids):
            market = self.store.markets.find(order.market_id)
            if market is None or market.market_type == market_pb2.MARKET_TYPE_SPOT:
                continue
            side = order.position_side or trading_pb2.POSITION_SIDE_NET
            sign = Decimal(1) if order.side == trading_pb2.SIDE_BUY else Decimal(-1)
            for fill in sorted(order.fills, key=lambda f: f.transact_time.ToNanoseconds()):
                quantity, cost, last = book.get((order.market_id, side), (Decimal(0), Decimal(0), Decimal(0)))
                delta = sign * Decimal(fill.quantity)
                if quantity == 0 or (quantity > 0) == (delta > 0):
                    cost += abs(delta) * Decimal(fill.price)
                else:  # reducing: keep the average price of what stays open
                    cost -= cost * min(abs(delta), abs(quantity)) / abs(quantity)
                    if abs(delta) > abs(quantity):
                        cost = (abs(delta) - abs(quantity)) * Decimal(fill.price)
                book[(order.market_id, side)] = (
                    quantity + delta,
                    cost,
                    max(last, Decimal(fill.transact_time.ToNanoseconds())),
                )
        return book

    def _margin_asset(self, market_id: str) -> str:
        """The asset a market's margin and PnL are paid in (its instrument's settlement asset), or ""."""
        market = self.store.markets.find(market_id)
        instrument = self.store.instruments.find(market.instrument_id) if market is not None else None
        if instrument is None or not instrument.HasField("settlement_asset_id"):
            return ""
        return instrument.settlement_asset_id

    def _position_report(
        self, account_id: str, market_id: str, side: int, quantity: Decimal, cost: Decimal, last_ns: Decimal
    ) -> execution_pb2.PositionStatusReport:
        report = execution_pb2.PositionStatusReport(
            account_id=account_id,
            market_id=market_id,
            position_side=side,  # type: ignore[arg-type]
            signed_quantity=_dec(quantity),
        )
        if quantity != 0:
            report.avg_open_price = _dec(cost / abs(quantity))
        account = self._account(account_id)
        for setting in account.market_leverages:
            if setting.market_id == market_id:
                report.leverage = (
                    setting.short_leverage
                    if side == trading_pb2.POSITION_SIDE_SHORT and setting.HasField("short_leverage")
                    else setting.long_leverage
                )
                report.margin_mode = setting.margin_mode or account.margin_mode
        margin = self._accounts_state().isolated.get((account_id, market_id, side))
        asset_id = self._margin_asset(market_id)
        if margin is not None and asset_id:
            report.isolated_margin.amount = _dec(margin)
            report.isolated_margin.asset_id = asset_id
        if last_ns:
            report.last_update_time.FromNanoseconds(int(last_ns))
        else:
            report.last_update_time.CopyFrom(_now())
        report.receive_time.CopyFrom(_now())
        return report

    def ListPositionStatusReports(
        self, request: apb.ListPositionStatusReportsRequest, context: Ctx
    ) -> apb.ListPositionStatusReportsResponse:
        with self.store.lock:
            book = self._positions(request.account_id, request.market_ids)
            reports = [
                self._position_report(request.account_id, market_id, side, quantity, cost, last)
                for (market_id, side), (quantity, cost, last) in sorted(book.items())
                if quantity != 0 or request.include_flat
            ]
        for report in reports:
            _masked(report, request.read_mask)
        chosen, token = _paged(
            reports,
            lambda r: f"{r.market_id}/{r.position_side}",
            request.page_size,
            request.page_token,
            request,
        )
        return apb.ListPositionStatusReportsResponse(position_status_reports=chosen, next_page_token=token)

    # --- margin -----------------------------------------------------------------------------------------------

    def _margin_summary(self, account_id: str, wallet: str, operation: str) -> balance_pb2.MarginSummary:
        account = self._account(account_id)
        if account.account_type in _CASH_ACCOUNTS:
            raise self._unsupported(operation, account, "a cash account has no margin")
        if not account.HasField("base_asset_id"):
            raise self._unsupported(operation, account, "the account has no base asset to state margin figures in")
        summary = balance_pb2.MarginSummary(
            account_id=account_id, wallet=wallet, asset_id=account.base_asset_id, margin_mode=account.margin_mode
        )
        debt = sum(
            (
                v
                for (acc, asset, _), v in self._accounts_state().debts.items()
                if acc == account_id and asset == account.base_asset_id
            ),
            Decimal(0),
        )
        if debt:
            summary.borrowed = _dec(debt)
        summary.update_time.CopyFrom(_now())
        return summary  # computed by CQC (is_reported false): the reference venue publishes no margin figures

    def GetMarginSummary(self, request: apb.GetMarginSummaryRequest, context: Ctx) -> apb.GetMarginSummaryResponse:
        with self.store.lock:
            return apb.GetMarginSummaryResponse(
                margin_summary=self._margin_summary(request.account_id, request.wallet, "GetMarginSummary")
            )

    def StreamMarginSummaries(
        self, request: apb.StreamMarginSummariesRequest, context: Ctx
    ) -> Iterator[apb.StreamMarginSummariesResponse]:
        scope = f"{request.account_id}/{request.wallet}"
        state = self._accounts_state()
        with self.store.lock:
            summary = self._margin_summary(request.account_id, request.wallet, "StreamMarginSummaries")
            position = len(state.margin_log)
            if request.HasField("resume_token"):
                position = _resume_position("margin", request.resume_token, scope, position)
        if not request.HasField("resume_token"):
            token = _token("margin", scope, position)
            yield apb.StreamMarginSummariesResponse(margin_summary=summary, is_snapshot=True, resume_token=token)
            yield apb.StreamMarginSummariesResponse(snapshot_complete=True, resume_token=token)
        while context.is_active():
            with state.cond:
                if position >= len(state.margin_log):
                    state.cond.wait(timeout=0.2)
                changes = state.margin_log[position:]
            for change in changes:
                position += 1
                if change.account_id == request.account_id and change.wallet == request.wallet:
                    yield apb.StreamMarginSummariesResponse(
                        margin_summary=change, resume_token=_token("margin", scope, position)
                    )

    def _margin_changed(self, account_id: str) -> None:
        """Records a new margin summary of a margin account for the streams; the caller holds the lock."""
        account = self.store.accounts.find(account_id)
        if account is None or account.account_type in _CASH_ACCOUNTS or not account.HasField("base_asset_id"):
            return
        state = self._accounts_state()
        state.margin_log.append(self._margin_summary(account_id, "", "StreamMarginSummaries"))
        state.cond.notify_all()

    # --- account control --------------------------------------------------------------------------------------

    def _derivatives_account(self, operation: str, account_id: str, market_id: str = "") -> account_pb2.VenueAccount:
        account = self._account(account_id)
        if market_id:
            market = self.store.markets.get(market_id)
            if (
                market.market_type == market_pb2.MARKET_TYPE_SPOT
                and account.account_type != account_pb2.ACCOUNT_TYPE_MARGIN
            ):
                raise self._unsupported(operation, account, f"market {market_id} is a spot market", market_id)
        if account.account_type in _CASH_ACCOUNTS:
            raise self._unsupported(operation, account, f"account {account_id} is a cash account", market_id)
        return account

    def _leverage_entry(self, account: account_pb2.VenueAccount, market_id: str) -> account_pb2.MarketLeverage:
        for setting in account.market_leverages:
            if setting.market_id == market_id:
                return setting
        return account.market_leverages.add(market_id=market_id, long_leverage=DEFAULT_LEVERAGE)

    def _store_account(self, account: account_pb2.VenueAccount) -> account_pb2.VenueAccount:
        account.update_time.CopyFrom(_now())
        broken = violations(account)
        if broken:
            raise ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", f"built an invalid account: {broken}")
        self.store.accounts.put(account)
        return account

    def SetLeverage(self, request: apb.SetLeverageRequest, context: Ctx) -> apb.SetLeverageResponse:
        def act() -> Message:
            account = self._derivatives_account("SetLeverage", request.account_id, request.market_id)
            leverage = Decimal(request.leverage)
            if account.limits.HasField("max_leverage") and leverage > Decimal(account.limits.max_leverage):
                raise invalid_argument(
                    "LEVERAGE_OUT_OF_RANGE",
                    f"leverage {request.leverage} is above the account's maximum {account.limits.max_leverage}",
                    market_id=request.market_id,
                    max_leverage=account.limits.max_leverage,
                )
            setting = self._leverage_entry(account, request.market_id)
            if request.position_side == trading_pb2.POSITION_SIDE_SHORT:
                setting.short_leverage = request.leverage
            elif request.position_side == trading_pb2.POSITION_SIDE_LONG:
                if not setting.HasField("short_leverage"):
                    setting.short_leverage = setting.long_leverage
                setting.long_leverage = request.leverage
            else:
                setting.long_leverage = request.leverage
                setting.ClearField("short_leverage")
            self._store_account(account)
            return apb.SetLeverageResponse(market_leverage=setting)

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def SetMarginMode(self, request: apb.SetMarginModeRequest, context: Ctx) -> apb.SetMarginModeResponse:
        def act() -> Message:
            market_id = request.market_id if request.HasField("market_id") else ""
            account = self._derivatives_account("SetMarginMode", request.account_id, market_id)
            current: int = account.margin_mode
            if market_id:
                current = (
                    next((s.margin_mode for s in account.market_leverages if s.market_id == market_id), 0) or current
                )
            if current != request.margin_mode:
                if self._open_orders(request.account_id, market_id) or self._has_position(
                    request.account_id, market_id
                ):
                    raise failed_precondition(
                        "POSITIONS_OR_ORDERS_OPEN",
                        "margin mode cannot change with open orders or positions",
                        setting="margin_mode",
                        **({"market_id": market_id} if market_id else {}),
                    )
                if market_id:
                    self._leverage_entry(account, market_id).margin_mode = request.margin_mode
                else:
                    account.margin_mode = request.margin_mode
                self._store_account(account)
            return apb.SetMarginModeResponse(venue_account=account)

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def _has_position(self, account_id: str, market_id: str = "") -> bool:
        return any(q != 0 for q, _, _ in self._positions(account_id, [market_id] if market_id else []).values())

    def SetPositionMode(self, request: apb.SetPositionModeRequest, context: Ctx) -> apb.SetPositionModeResponse:
        def act() -> Message:
            account = self._derivatives_account("SetPositionMode", request.account_id)
            if account.position_mode != request.position_mode:
                if self._open_orders(request.account_id) or self._has_position(request.account_id):
                    raise failed_precondition(
                        "POSITIONS_OR_ORDERS_OPEN",
                        "position mode cannot change with open orders or positions",
                        setting="position_mode",
                    )
                account.position_mode = request.position_mode
                self._store_account(account)
            return apb.SetPositionModeResponse(venue_account=account)

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def AdjustIsolatedMargin(
        self, request: apb.AdjustIsolatedMarginRequest, context: Ctx
    ) -> apb.AdjustIsolatedMarginResponse:
        def act() -> Message:
            account = self._derivatives_account("AdjustIsolatedMargin", request.account_id, request.market_id)
            book = self._positions(request.account_id, [request.market_id])
            position = book.get((request.market_id, request.position_side))
            if position is None or position[0] == 0:
                raise not_found(
                    "NOT_FOUND_POSITION",
                    f"account {request.account_id} has no position in {request.market_id}",
                    account_id=request.account_id,
                    market_id=request.market_id,
                    position_side=trading_pb2.PositionSide.Name(request.position_side),
                )
            mode = next((s.margin_mode for s in account.market_leverages if s.market_id == request.market_id), 0)
            if (mode or account.margin_mode) != trading_pb2.MARGIN_MODE_ISOLATED:
                raise self._unsupported(
                    "AdjustIsolatedMargin", account, "the position is not isolated", request.market_id
                )
            asset_id = self._margin_asset(request.market_id)
            if not asset_id:
                raise self._unsupported(
                    "AdjustIsolatedMargin", account, "the market has no margin asset", request.market_id
                )
            key = (request.account_id, request.market_id, int(request.position_side))
            state = self._accounts_state()
            held = state.isolated.get(key, Decimal(0))
            amount = Decimal(request.amount)
            if request.adjustment == apb.ISOLATED_MARGIN_ADJUSTMENT_REDUCE:
                if amount > held:
                    raise failed_precondition(
                        "MARGIN_REMOVAL_EXCEEDS_FREE",
                        f"only {held} can be removed",
                        market_id=request.market_id,
                        max_removable=_dec(held),
                    )
                amount = -amount
            state.isolated[key] = held + amount
            entry = self._entry(request.account_id, asset_id, balance_pb2.BALANCE_CHANGE_REASON_TRANSFER, -amount)
            entry.counterparty_wallet = "isolated_margin"
            entry.market_id = request.market_id
            self._book(entry)
            quantity, cost, last = position
            report = self._position_report(
                request.account_id, request.market_id, request.position_side, quantity, cost, last
            )
            self._margin_changed(request.account_id)
            return apb.AdjustIsolatedMarginResponse(position=report, transaction=entry)

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def TransferInternal(self, request: apb.TransferInternalRequest, context: Ctx) -> apb.TransferInternalResponse:
        def act() -> Message:
            source = self._account(request.account_id)
            self.store.assets.get(request.asset_id)
            entry = self._entry(
                request.account_id,
                request.asset_id,
                balance_pb2.BALANCE_CHANGE_REASON_TRANSFER,
                -Decimal(request.amount),
            )
            entry.wallet = request.from_wallet
            entry.counterparty_wallet = request.to_wallet
            if request.HasField("to_account_id"):
                target = self._account(request.to_account_id)
                if target.venue_id != source.venue_id:
                    raise self._unsupported(
                        "TransferInternal",
                        source,
                        f"account {target.account_id} is at another venue ({target.venue_id})",
                    )
                if target.account_id != source.account_id:
                    entry.counterparty_account_id = target.account_id
            for name in ("market_id", "client_transaction_id"):
                if request.HasField(name):
                    setattr(entry, name, getattr(request, name))
            return apb.TransferInternalResponse(transfer=self._book(entry))

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def _debt_key(self, account_id: str, asset_id: str, market_id: str) -> tuple[str, str, str]:
        return (account_id, asset_id, market_id)

    def _loan_account(self, operation: str, account_id: str, asset_id: str) -> account_pb2.VenueAccount:
        """The account a Borrow or Repay acts on: it must exist and be able to borrow, and the asset must exist."""
        account = self._account(account_id)
        if account.account_type not in _BORROWING_ACCOUNTS:
            raise self._unsupported(operation, account, f"account {account.account_id} cannot borrow")
        self.store.assets.get(asset_id)
        return account

    def Borrow(self, request: apb.BorrowRequest, context: Ctx) -> apb.BorrowResponse:
        def act() -> Message:
            account = self._loan_account("Borrow", request.account_id, request.asset_id)
            market_id = request.market_id if request.HasField("market_id") else ""
            if market_id:
                self.store.markets.get(market_id)
            amount = Decimal(request.amount)
            state = self._accounts_state()
            key = self._debt_key(request.account_id, request.asset_id, market_id)
            if account.limits.HasField("max_borrow_notional") and account.limits.limit_asset_id == request.asset_id:
                total = sum(
                    (
                        v
                        for (acc, asset, _), v in state.debts.items()
                        if acc == account.account_id and asset == request.asset_id
                    ),
                    Decimal(0),
                )
                if total + amount > Decimal(account.limits.max_borrow_notional):
                    raise failed_precondition(
                        "BORROW_LIMIT_EXCEEDED",
                        f"borrowing {amount} would exceed the account's limit {account.limits.max_borrow_notional}",
                        asset_id=request.asset_id,
                        max_borrowable=_dec(Decimal(account.limits.max_borrow_notional) - total),
                    )
            state.debts[key] = state.debts.get(key, Decimal(0)) + amount
            entry = self._entry(request.account_id, request.asset_id, balance_pb2.BALANCE_CHANGE_REASON_BORROW, amount)
            if market_id:
                entry.market_id = market_id
            self._book(entry)
            self._margin_changed(request.account_id)
            return apb.BorrowResponse(transaction=entry, borrowed=_dec(state.debts[key]))

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def Repay(self, request: apb.RepayRequest, context: Ctx) -> apb.RepayResponse:
        def act() -> Message:
            self._loan_account("Repay", request.account_id, request.asset_id)
            market_id = request.market_id if request.HasField("market_id") else ""
            state = self._accounts_state()
            key = self._debt_key(request.account_id, request.asset_id, market_id)
            owed = state.debts.get(key, Decimal(0))
            amount = owed if request.repay_all else Decimal(request.amount)
            if amount > owed or amount == 0:
                raise invalid_argument(
                    "REPAY_EXCEEDS_DEBT",
                    f"repaying {amount} but {owed} is owed",
                    asset_id=request.asset_id,
                    owed=_dec(owed),
                )
            state.debts[key] = owed - amount
            entry = self._entry(request.account_id, request.asset_id, balance_pb2.BALANCE_CHANGE_REASON_REPAY, -amount)
            if market_id:
                entry.market_id = market_id
            self._book(entry)
            self._margin_changed(request.account_id)
            return apb.RepayResponse(transaction=entry, borrowed=_dec(state.debts[key]))

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def ListTradingFeeRates(
        self, request: apb.ListTradingFeeRatesRequest, context: Ctx
    ) -> apb.ListTradingFeeRatesResponse:
        with self.store.lock:
            account = self._account(request.account_id)
            if request.market_ids:
                markets = [self.store.markets.get(m) for m in request.market_ids]
            else:
                markets = [m for m in self.store.markets.all() if m.venue_id == account.venue_id]
            rates = []
            if account.HasField("commission_rates"):
                now = _now()
                for market in sorted(markets, key=lambda m: m.market_id):
                    rates.append(
                        apb.MarketFeeRates(market_id=market.market_id, rates=account.commission_rates, update_time=now)
                    )
        chosen, token = _paged(rates, lambda r: r.market_id, request.page_size, request.page_token, request)
        return apb.ListTradingFeeRatesResponse(market_fee_rates=chosen, next_page_token=token)

    # --- withdrawals and deposits -----------------------------------------------------------------------------

    def RequestWithdrawal(self, request: pb.RequestWithdrawalRequest, context: Ctx) -> pb.RequestWithdrawalResponse:
        def act() -> Message:
            account = self._account(request.account_id)
            self.store.assets.get(request.asset_id)
            deployment = self.store.deployments.get(request.deployment_id)
            if account.permissions and account_pb2.ACCOUNT_PERMISSION_WITHDRAW not in account.permissions:
                raise ServiceError(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "PERMISSION_DENIED",
                    f"account {account.account_id} has no withdrawal permission",
                    {"account_id": account.account_id},
                )
            state = self._accounts_state()
            if request.HasField("client_transaction_id") and any(
                t.account_id == request.account_id and t.client_transaction_id == request.client_transaction_id
                for t in state.ledger
            ):
                raise already_exists(
                    "ALREADY_EXISTS",
                    f"client_transaction_id {request.client_transaction_id} is already used",
                    client_transaction_id=request.client_transaction_id,
                )
            entry = self._entry(
                request.account_id,
                request.asset_id,
                balance_pb2.BALANCE_CHANGE_REASON_WITHDRAWAL,
                -Decimal(request.amount),
                T.TRANSACTION_STATUS_PENDING,
            )
            entry.deployment_id = request.deployment_id
            entry.on_chain.chain_id = deployment.chain_id
            entry.on_chain.to_address = request.address
            if request.memo:
                entry.on_chain.tag = request.memo
            if request.HasField("client_transaction_id"):
                entry.client_transaction_id = request.client_transaction_id
            return pb.RequestWithdrawalResponse(withdrawal=self._book(entry))

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]

    def _ledger_page(
        self,
        reason: int,
        account_id: str,
        asset_id: str | None,
        since: timestamp_pb2.Timestamp | None,
        until: timestamp_pb2.Timestamp | None,
        statuses: Iterable[int],
        mask: field_mask_pb2.FieldMask,
        page_size: int,
        page_token: str,
        request: Message | None = None,
    ) -> tuple[list[transaction_pb2.Transaction], str]:
        wanted = set(statuses)
        with self.store.lock:
            self._account(account_id)
            entries = [
                t
                for t in self._accounts_state().ledger
                if t.type == reason
                and t.account_id == account_id
                and (asset_id is None or t.asset_id == asset_id)
                and (since is None or t.create_time.ToNanoseconds() >= since.ToNanoseconds())
                and (until is None or t.create_time.ToNanoseconds() < until.ToNanoseconds())
                and (not wanted or t.status in wanted)
            ]
        entries.sort(key=lambda t: (-t.create_time.ToNanoseconds(), t.transaction_id))
        copies = []
        for entry in entries:
            copy = transaction_pb2.Transaction()
            copy.CopyFrom(entry)
            _masked(copy, mask)
            copy.transaction_id = entry.transaction_id  # the page key
            copies.append(copy)
        chosen, token = _paged(copies, lambda t: t.transaction_id, page_size, page_token, request)
        return chosen, token

    def ListWithdrawals(self, request: pb.ListWithdrawalsRequest, context: Ctx) -> pb.ListWithdrawalsResponse:
        chosen, token = self._ledger_page(
            balance_pb2.BALANCE_CHANGE_REASON_WITHDRAWAL,
            request.account_id,
            request.asset_id if request.HasField("asset_id") else None,
            request.since_time if request.HasField("since_time") else None,
            request.until_time if request.HasField("until_time") else None,
            request.statuses,
            request.read_mask,
            request.page_size,
            request.page_token,
            request,
        )
        return pb.ListWithdrawalsResponse(withdrawals=chosen, next_page_token=token)

    def ListDeposits(self, request: pb.ListDepositsRequest, context: Ctx) -> pb.ListDepositsResponse:
        chosen, token = self._ledger_page(
            balance_pb2.BALANCE_CHANGE_REASON_DEPOSIT,
            request.account_id,
            request.asset_id if request.HasField("asset_id") else None,
            request.since_time if request.HasField("since_time") else None,
            request.until_time if request.HasField("until_time") else None,
            request.statuses,
            request.read_mask,
            request.page_size,
            request.page_token,
            request,
        )
        return pb.ListDepositsResponse(deposits=chosen, next_page_token=token)

    def CancelWithdrawal(self, request: apb.CancelWithdrawalRequest, context: Ctx) -> apb.CancelWithdrawalResponse:
        def act() -> Message:
            self._account(request.account_id)
            by_id = request.HasField("transaction_id")
            wanted = request.transaction_id if by_id else request.client_transaction_id
            found = next(
                (
                    t
                    for t in self._accounts_state().ledger
                    if t.account_id == request.account_id
                    and t.type == balance_pb2.BALANCE_CHANGE_REASON_WITHDRAWAL
                    and (t.transaction_id if by_id else t.client_transaction_id) == wanted
                ),
                None,
            )
            key = "transaction_id" if by_id else "client_transaction_id"
            if found is None:
                raise not_found(
                    "NOT_FOUND_TRANSACTION",
                    f"account {request.account_id} has no withdrawal {wanted}",
                    account_id=request.account_id,
                    **{key: wanted},
                )
            if found.status not in _CANCELABLE_WITHDRAWAL:
                raise failed_precondition(
                    "WITHDRAWAL_NOT_CANCELABLE",
                    f"withdrawal {found.transaction_id} is {T.TransactionStatus.Name(found.status)}",
                    transaction_id=found.transaction_id,
                    status=T.TransactionStatus.Name(found.status),
                )
            found.status = T.TRANSACTION_STATUS_CANCELED
            found.update_time.CopyFrom(_now())
            self._move(found.account_id, found.asset_id, found.wallet, -Decimal(found.amount), Decimal(0), found.type)
            result = transaction_pb2.Transaction()
            result.CopyFrom(found)
            return apb.CancelWithdrawalResponse(withdrawal=result)

        return self._idempotent(request.request_id, request, act)  # type: ignore[return-value]


def _token(kind: str, scope: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}|{scope}|{position}".encode()).decode()


def _resume_position(kind: str, token: str, scope: str, end: int) -> int:
    """The log position a resume token names; FAILED_PRECONDITION RESUME_TOKEN_EXPIRED when it is not this stream's."""
    try:
        token_kind, token_scope, position = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").split("|")
        value = int(position)
    except (UnicodeError, binascii.Error, ValueError):
        token_kind, token_scope, value = "", "", -1
    if token_kind != kind or token_scope != scope or not 0 <= value <= end:
        raise failed_precondition("RESUME_TOKEN_EXPIRED", f"resume_token was not issued by this {kind} stream")
    return value
