"""The reference Portfolio service: portfolios and allocations (create, read, update, list), the seeded positions
and ledger (read, list, stream) and ComputePnL, in memory. The behaviour is documented in
testdata/interop/README.md ("Portfolio"); the Go server (cqctest/portfolio.go) does the same."""

from __future__ import annotations

import bisect
import decimal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from cqc import decimal as cqc_decimal
from cqc.kit.pagination import PageTokens, clamp_page_size
from cqc.kit.resources import OUTPUT_ONLY, apply_update_mask, check_create, stamp, without
from cqc.portfolio.v1 import allocation_pb2, pnl_pb2, portfolio_pb2, position_pb2, transaction_pb2
from cqc.services.v1 import portfolio_pb2 as pb
from cqc.services.v1 import portfolio_pb2_grpc
from cqc.testing._errors import (
    ServiceError,
    failed_precondition,
    invalid_argument,
    not_found,
    validation_failed,
)
from cqc.testing._store import Store, load_examples, new_ulid
from cqc.validation import ContractViolation

__all__ = ["PortfolioServicer", "PortfolioState"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)

_SEEDED = (portfolio_pb2.Portfolio, allocation_pb2.Allocation, position_pb2.Position, transaction_pb2.Transaction)


def _copy(message: M) -> M:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


def _is_zero(value: str) -> bool:
    try:
        return cqc_decimal.parse(value) == 0
    except ValueError:
        return False


class PortfolioState:
    """The Portfolio service's resources, guarded by the store's lock: portfolios and allocations by id, the
    seeded positions and transactions, and the position change log StreamPositions follows."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock
        self.portfolios: dict[str, portfolio_pb2.Portfolio] = {}
        self.allocations: dict[str, allocation_pb2.Allocation] = {}
        self.positions: dict[str, position_pb2.Position] = {}
        self.transactions: dict[str, transaction_pb2.Transaction] = {}
        self.changes: list[position_pb2.Position] = []  # every position change, in order (position = index + 1)
        self.changed = threading.Condition(self.lock)
        self.tokens = PageTokens()  # page and resume tokens: signed, bound to the RPC and its filters
        self.seed(store.examples_directory)

    def seed(self, directory: Path | None) -> None:
        """Loads the portfolio examples of ``directory`` (None: the packaged seed bundle), as the store does."""
        tables: dict[type[Message], tuple[dict[str, Any], str]] = {
            portfolio_pb2.Portfolio: (self.portfolios, "portfolio_id"),
            allocation_pb2.Allocation: (self.allocations, "allocation_id"),
            position_pb2.Position: (self.positions, "position_id"),
            transaction_pb2.Transaction: (self.transactions, "transaction_id"),
        }
        for cls in _SEEDED:
            table, id_field = tables[cls]
            for message in load_examples(directory, cls):
                table[getattr(message, id_field)] = message

    def record_position(self, position: position_pb2.Position) -> None:
        """Stores a new state of a position (after a fill, funding or a mark; quantity "0" once closed) and
        appends it to the change log: open StreamPositions calls of its account send it, resume tokens replay it.
        The reference servers' RPCs never change a position; this is the hook a simulated venue would call."""
        with self.changed:
            self.positions[position.position_id] = _copy(position)
            self.changes.append(_copy(position))
            self.changed.notify_all()

    # --- what is known ---------------------------------------------------------------------------------------

    def account_known(self, account_id: str) -> bool:
        with self.lock:
            if self.store.accounts.find(account_id) is not None:
                return True
            return (
                any(p.account_id == account_id for p in self.positions.values())
                or any(t.account_id == account_id for t in self.transactions.values())
                or any(account_id in f.account_ids for f in self.portfolios.values())
            )

    def market_known(self, market_id: str) -> bool:
        with self.lock:
            if self.store.markets.find(market_id) is not None:
                return True
            return any(p.market_id == market_id for p in self.positions.values())


def _state(store: Store) -> PortfolioState:
    with store.lock:
        state = getattr(store, "_portfolio_state", None)
        if state is None:
            state = PortfolioState(store)
            setattr(store, "_portfolio_state", state)  # noqa: B010
        assert isinstance(state, PortfolioState)
        return state


def _missing(kind: str, id_field: str, resource_id: str) -> ServiceError:
    return not_found("NOT_FOUND_RESOURCE", f"no {kind} with {id_field} {resource_id!r}", **{id_field: resource_id})


def _descending_page(
    state: PortfolioState, request: Message, items: list[M], key: Callable[[M], str]
) -> tuple[list[M], str]:
    """One page of ``items`` sorted by ``key`` descending, starting at the first key below the token's (the
    kit's PageTokens.page covers ascending keys and listing order; this is the newest-first order of
    ListTransactions). Tokens are the kit's, bound to the RPC and the request's filters."""
    size = clamp_page_size(getattr(request, "page_size"))  # noqa: B009  # any List request
    page_token = getattr(request, "page_token")  # noqa: B009
    keys = [key(item) for item in items]
    start = 0
    if page_token:
        last = state.tokens.decode(page_token, request)
        start = len(keys) - bisect.bisect_left(list(reversed(keys)), last)
    chosen = items[start : start + size]
    more = start + size < len(items)
    return chosen, state.tokens.encode(key(chosen[-1]), request) if more and chosen else ""


def _checked_mask(resource: Message, mask: field_mask_pb2.FieldMask, id_field: str) -> list[str]:
    """The mask's paths, or INVALID_UPDATE_MASK naming those that are not updatable top-level fields."""
    fields = resource.DESCRIPTOR.fields_by_name
    refused = [p for p in mask.paths if p not in fields or p in (id_field, *OUTPUT_ONLY)]
    if refused:
        raise invalid_argument(
            "INVALID_UPDATE_MASK",
            f"update_mask paths must be updatable fields of {resource.DESCRIPTOR.full_name}: {', '.join(refused)}",
            paths=",".join(refused),
        )
    return list(mask.paths)


def _create(state: PortfolioState, table: dict[str, M], resource: M, id_field: str) -> M:
    """Stores ``resource`` with create_time and update_time set to now; the same content again returns the stored
    one, other content under the id is ALREADY_EXISTS (cqc.kit check_create)."""
    resource_id = getattr(resource, id_field)
    with state.lock:
        repeated = check_create(table.get(resource_id), resource, id_field)
        if repeated is not None:
            return repeated
        incoming = without(resource)
        stamp(incoming, "create_time", "update_time")
        table[resource_id] = incoming
        return _copy(incoming)


def _update(
    state: PortfolioState, table: dict[str, M], body: M, mask: field_mask_pb2.FieldMask, id_field: str, field_name: str
) -> M:
    """The mask checked first (INVALID_UPDATE_MASK), then the resource looked up (NOT_FOUND_RESOURCE), then the
    masked fields copied and the result validated (cqc.kit apply_update_mask) and stamped."""
    _checked_mask(body, mask, id_field)
    resource_id = getattr(body, id_field)
    with state.lock:
        stored = table.get(resource_id)
        if stored is None:
            raise _missing(body.DESCRIPTOR.name, id_field, resource_id)
        updated = apply_update_mask(stored, body, mask, immutable=(id_field,), field_name=field_name)
        stamp(updated, "update_time")
        table[resource_id] = updated
        return _copy(updated)


# --- PnL -------------------------------------------------------------------------------------------------------


def _pnl_asset(position: position_pb2.Position) -> str:
    """The asset a position's PnL is in: the first of its asset fields that is set (README "ComputePnL")."""
    candidates = [
        position.settlement_asset_id,
        position.unrealized_pnl.asset_id,
        position.realized_pnl.asset_id,
        position.funding.asset_id,
        position.commissions[0].asset_id if position.commissions else "",
        position.notional_asset_id,
        position.lending.reserve_asset_id,
        position.liquidity_range.amounts[0].asset_id if position.liquidity_range.amounts else "",
    ]
    return next((c for c in candidates if c), "")


_EXACT = decimal.Context(prec=1000, rounding=decimal.ROUND_HALF_EVEN)


def _dec(value: str) -> decimal.Decimal:
    return cqc_decimal.parse(value)


def _fmt(value: decimal.Decimal) -> str:
    return cqc_decimal.format(value)


def _compute(request: pb.ComputePnLRequest, positions: list[position_pb2.Position], asset_id: str) -> pnl_pb2.PnL:
    realized = unrealized = fees = funding = decimal.Decimal(0)
    has_fees = has_funding = False
    with decimal.localcontext(_EXACT):
        for p in positions:
            if _pnl_asset(p) != asset_id:
                continue
            if p.HasField("realized_pnl") and p.realized_pnl.asset_id == asset_id:
                realized += _dec(p.realized_pnl.amount)
            if p.HasField("unrealized_pnl") and p.unrealized_pnl.asset_id == asset_id:
                unrealized += _dec(p.unrealized_pnl.amount)
            for c in p.commissions:
                if c.asset_id == asset_id:
                    fees += _dec(c.amount)
                    has_fees = True
            if p.HasField("funding") and p.funding.asset_id == asset_id:
                funding += _dec(p.funding.amount)
                has_funding = True
        gross = realized + unrealized
        net = gross - fees - funding
    pnl = pnl_pb2.PnL(
        pnl_id=f"pnl_{new_ulid()}",
        scope=request.scope,
        scope_id=request.scope_id,
        asset_id=asset_id,
        realized_pnl=_fmt(realized),
        unrealized_pnl=_fmt(unrealized),
        gross_pnl=_fmt(gross),
        net_pnl=_fmt(net),
    )
    pnl.period_start_time.CopyFrom(request.period_start)
    pnl.period_end_time.CopyFrom(request.period_end)
    if has_fees:
        pnl.fees = _fmt(fees)
    if has_funding:
        pnl.funding = _fmt(funding)
    if request.scope == pnl_pb2.PNL_SCOPE_POSITION and positions and positions[0].HasField("mark_price"):
        mark = positions[0].mark_price
        if not mark.startswith("-"):
            pnl.mark_price = mark
    stamp(pnl, "create_time")
    return pnl


def _tx_key(t: transaction_pb2.Transaction) -> str:
    return f"{t.create_time.ToNanoseconds():020d}/{t.transaction_id}"


def _stream_scope(account_ids: Iterable[str]) -> str:
    """What a StreamPositions resume token is bound to: the account set, in any order."""
    return ",".join(sorted(account_ids))


class PortfolioServicer(portfolio_pb2_grpc.PortfolioServicer):
    """Every Portfolio RPC (README "Portfolio")."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.state = _state(store)

    # --- portfolios --------------------------------------------------------------------------------------------

    def GetPortfolio(self, request: pb.GetPortfolioRequest, context: Ctx) -> pb.GetPortfolioResponse:
        with self.state.lock:
            found = self.state.portfolios.get(request.portfolio_id)
            if found is None:
                raise _missing("Portfolio", "portfolio_id", request.portfolio_id)
            return pb.GetPortfolioResponse(portfolio=_copy(found))

    def ListPortfolios(self, request: pb.ListPortfoliosRequest, context: Ctx) -> pb.ListPortfoliosResponse:
        with self.state.lock:
            items = [_copy(self.state.portfolios[k]) for k in sorted(self.state.portfolios)]
        chosen, token = self.state.tokens.page(items, request, lambda p: p.portfolio_id)
        return pb.ListPortfoliosResponse(portfolios=chosen, next_page_token=token)

    def CreatePortfolio(self, request: pb.CreatePortfolioRequest, context: Ctx) -> pb.CreatePortfolioResponse:
        created = _create(self.state, self.state.portfolios, request.portfolio, "portfolio_id")
        return pb.CreatePortfolioResponse(portfolio=created)

    def UpdatePortfolio(self, request: pb.UpdatePortfolioRequest, context: Ctx) -> pb.UpdatePortfolioResponse:
        updated = _update(
            self.state, self.state.portfolios, request.portfolio, request.update_mask, "portfolio_id", "portfolio"
        )
        return pb.UpdatePortfolioResponse(portfolio=updated)

    # --- allocations -------------------------------------------------------------------------------------------

    def GetAllocation(self, request: pb.GetAllocationRequest, context: Ctx) -> pb.GetAllocationResponse:
        with self.state.lock:
            found = self.state.allocations.get(request.allocation_id)
            if found is None:
                raise _missing("Allocation", "allocation_id", request.allocation_id)
            return pb.GetAllocationResponse(allocation=_copy(found))

    def ListAllocations(self, request: pb.ListAllocationsRequest, context: Ctx) -> pb.ListAllocationsResponse:
        portfolio_id = request.portfolio_id if request.HasField("portfolio_id") else None
        with self.state.lock:
            if portfolio_id is not None and portfolio_id not in self.state.portfolios:
                raise _missing("Portfolio", "portfolio_id", portfolio_id)
            items = [
                _copy(self.state.allocations[k])
                for k in sorted(self.state.allocations)
                if portfolio_id is None or self.state.allocations[k].portfolio_id == portfolio_id
            ]
        chosen, token = self.state.tokens.page(items, request, lambda a: a.allocation_id)
        return pb.ListAllocationsResponse(allocations=chosen, next_page_token=token)

    def CreateAllocation(self, request: pb.CreateAllocationRequest, context: Ctx) -> pb.CreateAllocationResponse:
        created = _create(self.state, self.state.allocations, request.allocation, "allocation_id")
        return pb.CreateAllocationResponse(allocation=created)

    def UpdateAllocation(self, request: pb.UpdateAllocationRequest, context: Ctx) -> pb.UpdateAllocationResponse:
        updated = _update(
            self.state, self.state.allocations, request.allocation, request.update_mask, "allocation_id", "allocation"
        )
        return pb.UpdateAllocationResponse(allocation=updated)

    # --- positions ---------------------------------------------------------------------------------------------

    def GetPosition(self, request: pb.GetPositionRequest, context: Ctx) -> pb.GetPositionResponse:
        with self.state.lock:
            found = self.state.positions.get(request.position_id)
            if found is None:
                raise _missing("Position", "position_id", request.position_id)
            return pb.GetPositionResponse(position=_copy(found))

    def _check_account(self, account_id: str) -> None:
        if not self.state.account_known(account_id):
            raise not_found("NOT_FOUND_ACCOUNT", f"no venue account {account_id!r}", account_id=account_id)

    def ListPositions(self, request: pb.ListPositionsRequest, context: Ctx) -> pb.ListPositionsResponse:
        account_id = request.account_id if request.HasField("account_id") else None
        portfolio_id = request.portfolio_id if request.HasField("portfolio_id") else None
        market_id = request.market_id if request.HasField("market_id") else None
        with self.state.lock:
            if account_id is not None:
                self._check_account(account_id)
            accounts: set[str] | None = None
            if portfolio_id is not None:
                found = self.state.portfolios.get(portfolio_id)
                if found is None:
                    raise _missing("Portfolio", "portfolio_id", portfolio_id)
                accounts = set(found.account_ids)
            if market_id is not None and not self.state.market_known(market_id):
                raise not_found("NOT_FOUND_MARKET", f"no market {market_id!r}", market_id=market_id)
            items = [
                _copy(p)
                for _, p in sorted(self.state.positions.items())
                if (account_id is None or p.account_id == account_id)
                and (accounts is None or p.account_id in accounts)
                and (market_id is None or p.market_id == market_id)
                and (not request.open_only or not _is_zero(p.quantity))
            ]
        chosen, token = self.state.tokens.page(items, request, lambda p: p.position_id)
        return pb.ListPositionsResponse(positions=chosen, next_page_token=token)

    def StreamPositions(self, request: pb.StreamPositionsRequest, context: Ctx) -> Iterator[pb.StreamPositionsResponse]:
        state = self.state
        for account_id in request.account_ids:
            self._check_account(account_id)
        accounts = set(request.account_ids)
        scope = _stream_scope(request.account_ids)

        def token(at: int) -> str:
            return state.tokens.encode(str(at), rpc="StreamPositions", filters=scope)

        with state.lock:
            position = len(state.changes)
            snapshot: list[position_pb2.Position] = []
            if request.HasField("resume_token"):
                position = self._resume_position(request.resume_token, scope, len(state.changes))
            else:
                snapshot = [
                    _copy(p)
                    for _, p in sorted(state.positions.items())
                    if p.account_id in accounts and not _is_zero(p.quantity)
                ]
        if not request.HasField("resume_token"):
            start = token(position)
            for p in snapshot:
                yield pb.StreamPositionsResponse(position=p, is_snapshot=True, resume_token=start)
            yield pb.StreamPositionsResponse(snapshot_complete=True, resume_token=start)
        while context.is_active():
            with state.changed:
                if position >= len(state.changes):
                    state.changed.wait(timeout=0.2)
                changes = [_copy(p) for p in state.changes[position:]]
            for p in changes:
                position += 1
                if p.account_id in accounts:
                    yield pb.StreamPositionsResponse(position=p, resume_token=token(position))

    def _resume_position(self, resume_token: str, scope: str, end: int) -> int:
        try:
            position = self.state.tokens.decode(resume_token, rpc="StreamPositions", filters=scope)
        except ServiceError:
            position = ""
        if position.isdigit() and str(int(position)) == position and int(position) <= end:
            return int(position)
        raise failed_precondition(
            "RESUME_TOKEN_EXPIRED", "resume_token was not issued by StreamPositions for the same accounts"
        )

    # --- ledger and PnL ----------------------------------------------------------------------------------------

    def ListTransactions(self, request: pb.ListTransactionsRequest, context: Ctx) -> pb.ListTransactionsResponse:
        types = set(request.types)
        since = request.since_time.ToNanoseconds() if request.HasField("since_time") else None
        until = request.until_time.ToNanoseconds() if request.HasField("until_time") else None
        with self.state.lock:
            self._check_account(request.account_id)
            items = [
                _copy(t)
                for t in self.state.transactions.values()
                if t.account_id == request.account_id
                and (not types or t.type in types)
                and (since is None or t.create_time.ToNanoseconds() >= since)
                and (until is None or t.create_time.ToNanoseconds() < until)
            ]
        items.sort(key=_tx_key, reverse=True)
        chosen, token = _descending_page(self.state, request, items, _tx_key)
        return pb.ListTransactionsResponse(transactions=chosen, next_page_token=token)

    def ComputePnL(self, request: pb.ComputePnLRequest, context: Ctx) -> pb.ComputePnLResponse:
        state = self.state
        scope_id = request.scope_id
        reporting = request.reporting_asset_id if request.HasField("reporting_asset_id") else ""
        unknown = not_found(
            "NOT_FOUND_RESOURCE", f"no {pnl_pb2.PnlScope.Name(request.scope)} {scope_id!r}", scope_id=scope_id
        )
        with state.lock:
            positions: list[position_pb2.Position] = []
            asset_id = ""
            if request.scope == pnl_pb2.PNL_SCOPE_POSITION:
                found = state.positions.get(scope_id)
                if found is None:
                    raise unknown
                positions = [_copy(found)]
                asset_id = _pnl_asset(found)
            elif request.scope == pnl_pb2.PNL_SCOPE_ACCOUNT:
                if not state.account_known(scope_id):
                    raise unknown
                positions = [_copy(p) for _, p in sorted(state.positions.items()) if p.account_id == scope_id]
                account = state.store.accounts.find(scope_id)
                asset_id = reporting or (account.base_asset_id if account is not None else "")
                asset_id = asset_id or next((a for a in map(_pnl_asset, positions) if a), "")
            elif request.scope == pnl_pb2.PNL_SCOPE_PORTFOLIO:
                portfolio = state.portfolios.get(scope_id)
                if portfolio is None:
                    raise unknown
                accounts = set(portfolio.account_ids)
                positions = [_copy(p) for _, p in sorted(state.positions.items()) if p.account_id in accounts]
                asset_id = reporting or portfolio.reporting_asset_id
            else:  # STRATEGY: known when an allocation targets it; no position is attributed to a strategy
                allocation = next(
                    (
                        a
                        for _, a in sorted(state.allocations.items())
                        if a.strategy_id == scope_id and a.HasField("strategy_id")
                    ),
                    None,
                )
                if allocation is None:
                    raise unknown
                owner = state.portfolios.get(allocation.portfolio_id)
                asset_id = reporting or (
                    owner.reporting_asset_id if owner is not None else allocation.notional_asset_id
                )
        if not asset_id:
            asset_id = reporting
        if not asset_id:
            raise validation_failed(
                request.DESCRIPTOR.full_name,
                [ContractViolation("reporting_asset_id", "required", "the scope has no default reporting asset")],
            )
        return pb.ComputePnLResponse(pnl=_compute(request, positions, asset_id))
