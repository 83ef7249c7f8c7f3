"""The reference VenueGateway's execution reports: every change order entry makes to an order (accepted, pending,
rejected by the simulated venue, replaced, canceled, filled) is recorded as one ExecutionReport, as a venue would
send it; ListExecutionReports pages them (newest first, filters, read mask, 4 MiB-bounded pages) and
StreamExecutionReports follows them (since_time replay, snapshot_complete marker, resume tokens).

The simulated venue fills an order tagged ``cqc-testing:venue-fill`` completely at its limit price as soon as it
is accepted (one TAKER fill, trade id ``<venue_order_id>-1``), so clients can see a TRADE report; nothing else
ever fills.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from google.protobuf import timestamp_pb2

from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.testing._errors import ServiceError, failed_precondition
from cqc.testing._store import Store, new_ulid
from cqc.testing._venue_gateway_account import _masked, _paged
from cqc.types.v1 import source_pb2
from cqc.validation import violations
from cqc.venues.v1 import execution_pb2, order_pb2, trading_pb2

__all__ = ["VENUE_FILL_TAG", "ExecutionReportsMixin", "record_execution"]

Ctx = grpc.ServicerContext
VENUE_FILL_TAG = "cqc-testing:venue-fill"
"""An order carrying this tag (and a quantity and a price) is filled whole by the simulated venue on acceptance."""

_EXEC_TYPE_BY_STATUS = {
    trading_pb2.ORDER_STATUS_NEW: trading_pb2.EXEC_TYPE_NEW,
    trading_pb2.ORDER_STATUS_PENDING_NEW: trading_pb2.EXEC_TYPE_PENDING_NEW,
    trading_pb2.ORDER_STATUS_REJECTED: trading_pb2.EXEC_TYPE_REJECTED,
    trading_pb2.ORDER_STATUS_CANCELED: trading_pb2.EXEC_TYPE_CANCELED,
    trading_pb2.ORDER_STATUS_EXPIRED: trading_pb2.EXEC_TYPE_EXPIRED,
    trading_pb2.ORDER_STATUS_PARTIALLY_FILLED: trading_pb2.EXEC_TYPE_TRADE,
    trading_pb2.ORDER_STATUS_FILLED: trading_pb2.EXEC_TYPE_TRADE,
    trading_pb2.ORDER_STATUS_PENDING_CANCEL: trading_pb2.EXEC_TYPE_PENDING_CANCEL,
    trading_pb2.ORDER_STATUS_PENDING_REPLACE: trading_pb2.EXEC_TYPE_PENDING_REPLACE,
    trading_pb2.ORDER_STATUS_TRIGGERED: trading_pb2.EXEC_TYPE_TRIGGERED,
    trading_pb2.ORDER_STATUS_SUSPENDED: trading_pb2.EXEC_TYPE_SUSPENDED,
}


@dataclass
class _ExecutionState:
    """Every execution report of one Store, in the order they were recorded (the stream positions)."""

    cond: threading.Condition
    log: list[execution_pb2.ExecutionReport] = field(default_factory=list)
    orders: dict[str, order_pb2.Order] = field(default_factory=dict)  # order_id -> the order as last reported


def _state(store: Store) -> _ExecutionState:
    with store.lock:
        state = getattr(store, "_venue_gateway_executions", None)
        if state is None:
            state = _ExecutionState(cond=threading.Condition(store.lock))
            setattr(store, "_venue_gateway_executions", state)  # noqa: B010
        assert isinstance(state, _ExecutionState)
        return state


def exec_type_of(previous: order_pb2.Order | None, order: order_pb2.Order) -> int:
    """What a venue would report for this change: a fill when the filled quantity grew, a replacement when an
    open order changed without changing status, otherwise the new status's report."""
    if previous is not None and len(order.fills) > len(previous.fills):
        return trading_pb2.EXEC_TYPE_TRADE
    if previous is not None and previous.status == order.status and order.status in _EXEC_TYPE_BY_STATUS:
        return trading_pb2.EXEC_TYPE_REPLACED
    return _EXEC_TYPE_BY_STATUS.get(order.status, trading_pb2.EXEC_TYPE_ORDER_STATUS)


def record_execution(store: Store, order: order_pb2.Order) -> execution_pb2.ExecutionReport:
    """Records the report of one order change (the caller holds store.lock and passes a snapshot of the order
    after the change) and wakes the streams."""
    state = _state(store)
    exec_type = exec_type_of(state.orders.get(order.order_id), order)
    state.orders[order.order_id] = order
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    report = execution_pb2.ExecutionReport(
        execution_id=f"exe_{new_ulid()}",
        exec_type=exec_type,  # type: ignore[arg-type]
        venue_exec_type=trading_pb2.ExecType.Name(exec_type).removeprefix("EXEC_TYPE_"),  # type: ignore[arg-type]
        order_status=order.status,
        venue_order_status=trading_pb2.OrderStatus.Name(order.status).removeprefix("ORDER_STATUS_"),
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        orig_client_order_id=order.orig_client_order_id,
        account_id=order.account_id,
        venue_id=order.venue_id,
        market_id=order.market_id,
        side=order.side,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        post_only=order.post_only,
        cum_quantity=order.filled_quantity or "0",
        transact_time=now,
        receive_time=now,
        reject_reason=order.reject_reason,
        venue_reason_code=order.venue_reason_code,
        reason_text=order.reason_text,
        position_side=order.position_side,
        reduce_only=order.reduce_only,
    )
    for name in ("quantity", "price", "trigger_price", "leaves_quantity", "avg_fill_price", "venue_order_list_id"):
        target = {"quantity": "order_quantity", "price": "order_price", "avg_fill_price": "avg_price"}.get(name, name)
        if order.HasField(name):
            setattr(report, target, getattr(order, name))
    if order.HasField("create_time"):
        report.order_create_time.CopyFrom(order.create_time)
    if order.HasField("working_time"):
        report.working_time.CopyFrom(order.working_time)
    if exec_type == trading_pb2.EXEC_TYPE_TRADE and order.fills:
        fill = order.fills[-1]
        report.venue_trade_id = fill.venue_trade_id
        report.venue_execution_id = fill.venue_trade_id
        report.last_quantity = fill.quantity
        report.last_price = fill.price
        report.liquidity_side = fill.liquidity_side
        if fill.HasField("commission"):
            report.commission.CopyFrom(fill.commission)
        if fill.HasField("transact_time"):
            report.transact_time.CopyFrom(fill.transact_time)
    venue_message = {
        "e": "executionReport",
        "x": report.venue_exec_type,
        "X": report.venue_order_status,
        "i": order.venue_order_id,
        "c": order.client_order_id,
        "z": report.cum_quantity,
    }
    report.source_record.CopyFrom(
        source_pb2.SourceRecord(
            source="cqc-testing",
            endpoint="simulated-venue/executionReport",
            raw_json=json.dumps(venue_message, separators=(",", ":")),
            format=source_pb2.SOURCE_FORMAT_JSON,
            receive_time=now,
        )
    )
    broken = violations(report)
    if broken:
        raise ServiceError(grpc.StatusCode.INTERNAL, "INTERNAL", f"built an invalid execution report: {broken}")
    state.log.append(report)
    state.cond.notify_all()
    return report


def _stream_scope(request: pb.StreamExecutionReportsRequest) -> str:
    key = request.account_id + "|" + ",".join(sorted(request.market_ids))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _stream_token(scope: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"executions|{scope}|{position}".encode()).decode()


def _resume_position(token: str, scope: str, end: int) -> int:
    try:
        kind, token_scope, position = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").split("|")
        value = int(position)
    except (UnicodeError, binascii.Error, ValueError):
        kind, token_scope, value = "", "", -1
    if kind != "executions" or token_scope != scope or not 0 <= value <= end:
        raise failed_precondition(
            "RESUME_TOKEN_EXPIRED",
            "resume_token was not issued by StreamExecutionReports with the same account and markets",
        )
    return value


class ExecutionReportsMixin:
    """ListExecutionReports and StreamExecutionReports of the reference VenueGateway."""

    store: Store

    def ListExecutionReports(
        self, request: pb.ListExecutionReportsRequest, context: Ctx
    ) -> pb.ListExecutionReportsResponse:
        self.store.accounts.get(request.account_id)
        markets = set(request.market_ids)
        since = request.since_time.ToNanoseconds() if request.HasField("since_time") else None
        until = request.until_time.ToNanoseconds() if request.HasField("until_time") else None

        def keep(report: execution_pb2.ExecutionReport) -> bool:
            at = report.transact_time.ToNanoseconds()
            return (
                report.account_id == request.account_id
                and (not markets or report.market_id in markets)
                and (not request.HasField("order_id") or report.order_id == request.order_id)
                and (not request.trades_only or report.exec_type == trading_pb2.EXEC_TYPE_TRADE)
                and (since is None or at >= since)
                and (until is None or at < until)
            )

        with self.store.lock:
            log = list(_state(self.store).log)
        # Newest first: by transact time, then by recording order (the log position) for ties.
        ordered = [r for _, r in sorted(enumerate(log), key=lambda p: (-p[1].transact_time.ToNanoseconds(), -p[0]))]
        chosen, token = _paged(
            [r for r in ordered if keep(r)],
            lambda r: r.execution_id,
            request.page_size,
            request.page_token,
            request,
        )
        out = []
        for report in chosen:
            copy = execution_pb2.ExecutionReport()
            copy.CopyFrom(report)
            if request.HasField("read_mask"):
                _masked(copy, request.read_mask)
            out.append(copy)
        return pb.ListExecutionReportsResponse(execution_reports=out, next_page_token=token)

    def StreamExecutionReports(
        self, request: pb.StreamExecutionReportsRequest, context: Ctx
    ) -> Iterator[pb.StreamExecutionReportsResponse]:
        self.store.accounts.get(request.account_id)
        state = _state(self.store)
        markets = set(request.market_ids)
        scope = _stream_scope(request)

        def mine(report: execution_pb2.ExecutionReport) -> bool:
            return report.account_id == request.account_id and (not markets or report.market_id in markets)

        with self.store.lock:
            end = len(state.log)
            resumed = request.HasField("resume_token")
            position = _resume_position(request.resume_token, scope, end) if resumed else end
            replay: list[tuple[int, execution_pb2.ExecutionReport]] = []
            if not resumed and request.HasField("since_time"):
                since = request.since_time.ToDatetime(datetime.UTC)
                replay = [
                    (index + 1, r)
                    for index, r in enumerate(state.log)
                    if mine(r) and r.transact_time.ToDatetime(datetime.UTC) >= since
                ]
                replay.sort(key=lambda p: (p[1].transact_time.ToNanoseconds(), p[0]))
        if not resumed:
            for _, report in replay:
                yield pb.StreamExecutionReportsResponse(
                    execution_report=report, is_snapshot=True, resume_token=_stream_token(scope, position)
                )
            yield pb.StreamExecutionReportsResponse(snapshot_complete=True, resume_token=_stream_token(scope, position))
        while context.is_active():
            with state.cond:
                if position >= len(state.log):
                    state.cond.wait(timeout=0.2)
                changes = state.log[position:]
            for report in changes:
                position += 1
                if mine(report):
                    yield pb.StreamExecutionReportsResponse(
                        execution_report=report, resume_token=_stream_token(scope, position)
                    )
