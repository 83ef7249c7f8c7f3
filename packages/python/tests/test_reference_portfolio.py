"""The Python reference server's Portfolio service (testdata/interop/README.md "Portfolio"): CRUD of portfolios
and allocations, idempotent creates, update masks, signed page tokens, positions, ledger, ComputePnL and
StreamPositions with resume tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import field_mask_pb2, timestamp_pb2
from grpc_details import error_details

import cqc.testing
from cqc.portfolio.v1 import allocation_pb2, pnl_pb2, portfolio_pb2
from cqc.services.v1 import portfolio_pb2 as pb
from cqc.services.v1 import portfolio_pb2_grpc
from cqc.testing._portfolio import _state as _portfolio_state
from cqc.testing._store import new_ulid
from cqc.validation import violations

MAIN_FUND = "pfl_01JDMA1NFVND00000000000000"
INVERSE_SHORT = "pos_01JD0KXBTCVSDSWAPSH0RT0000"
PERP_ACCOUNT = "acc_01JDBNVSDMMA1N000000000000"
SWAP_ACCOUNT = "acc_01JD0KXSWAPMA1N00000000000"


@pytest.fixture(scope="module")
def stub() -> Iterator[portfolio_pb2_grpc.PortfolioStub]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        yield portfolio_pb2_grpc.PortfolioStub(channel)


def _error(call: Any) -> tuple[grpc.StatusCode, str, dict[str, str], list[tuple[str, str]]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value
    info, bad_request = error_details(error.trailing_metadata())
    assert info is not None, error
    rules = (
        [(v.field, v.description.rsplit("[", 1)[-1].rstrip("]")) for v in bad_request.field_violations]
        if bad_request
        else []
    )
    return error.code(), info.reason, dict(info.metadata), rules


def _ts(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(text)
    return stamp


def _portfolio(name: str = "conformance") -> portfolio_pb2.Portfolio:
    p = portfolio_pb2.Portfolio(
        portfolio_id=f"pfl_{new_ulid()}",
        name=name,
        owner="desk:test",
        reporting_asset_id="ast_01JDFVSD000000000000000000",
        account_ids=[PERP_ACCOUNT],
        total_equity="0",
    )
    p.as_of_time.CopyFrom(_ts("2025-01-01T00:00:00Z"))
    assert not violations(p)
    return p


def _allocation(portfolio_id: str) -> allocation_pb2.Allocation:
    a = allocation_pb2.Allocation(
        allocation_id=f"alc_{new_ulid()}", portfolio_id=portfolio_id, strategy_id="basis-btc-01", target_weight="0.2"
    )
    a.effective_from_time.CopyFrom(_ts("2025-01-01T00:00:00Z"))
    return a


def _without_owner(p: portfolio_pb2.Portfolio) -> portfolio_pb2.Portfolio:
    clone = portfolio_pb2.Portfolio()
    clone.CopyFrom(p)
    clone.owner = ""
    return clone


def test_create_get_update_portfolio(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    p = _portfolio()
    p.create_time.CopyFrom(_ts("2001-01-01T00:00:00Z"))  # output only: ignored
    created = stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=p)).portfolio
    assert created.create_time.seconds > 1_000_000_000 + 700_000_000 and created.update_time == created.create_time
    again = stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=p)).portfolio
    assert again == created
    other = _portfolio("other name")
    other.portfolio_id = p.portfolio_id
    assert _error(lambda: stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=other)))[:3] == (
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_EXISTS",
        {"portfolio_id": p.portfolio_id},
    )
    assert stub.GetPortfolio(pb.GetPortfolioRequest(portfolio_id=p.portfolio_id)).portfolio == created
    body = _portfolio("renamed")  # the request is validated whole: the body is a complete portfolio
    body.portfolio_id, body.owner = p.portfolio_id, "desk:ignored"
    mask = field_mask_pb2.FieldMask(paths=["name"])
    updated = stub.UpdatePortfolio(pb.UpdatePortfolioRequest(portfolio=body, update_mask=mask)).portfolio
    assert updated.name == "renamed" and updated.owner == "desk:test" and updated.create_time == created.create_time
    bad = field_mask_pb2.FieldMask(paths=["name", "portfolio_id", "nope", "create_time"])
    assert _error(lambda: stub.UpdatePortfolio(pb.UpdatePortfolioRequest(portfolio=body, update_mask=bad)))[:3] == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_UPDATE_MASK",
        {"paths": "portfolio_id,nope,create_time"},
    )
    clear = field_mask_pb2.FieldMask(paths=["owner"])
    code, reason, _, rules = _error(
        lambda: stub.UpdatePortfolio(pb.UpdatePortfolioRequest(portfolio=_without_owner(body), update_mask=clear))
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED")
    assert ("portfolio.owner", "string.min_len") in rules
    missing = _portfolio()
    assert _error(lambda: stub.UpdatePortfolio(pb.UpdatePortfolioRequest(portfolio=missing, update_mask=mask)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"portfolio_id": missing.portfolio_id},
    )
    assert _error(lambda: stub.GetPortfolio(pb.GetPortfolioRequest(portfolio_id=missing.portfolio_id)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"portfolio_id": missing.portfolio_id},
    )


def test_list_portfolios_pages_and_tokens(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    for _ in range(3):
        stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=_portfolio()))
    seen: list[str] = []
    tokens: list[str] = []
    token = ""
    while True:
        page = stub.ListPortfolios(pb.ListPortfoliosRequest(page_size=1, page_token=token))
        seen.extend(p.portfolio_id for p in page.portfolios)
        token = page.next_page_token
        if not token:
            break
        tokens.append(token)
    first_token = tokens[0]
    assert seen == sorted(set(seen)) and MAIN_FUND in seen and len(seen) >= 4
    tampered = ("B" if first_token[0] == "A" else "A") + first_token[1:]
    for bad in ("garbage", tampered):
        assert _error(lambda bad=bad: stub.ListPortfolios(pb.ListPortfoliosRequest(page_token=bad)))[:3] == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
            {},
        )
    other = pb.ListAllocationsRequest(page_token=first_token)
    assert _error(lambda: stub.ListAllocations(other))[1] == "INVALID_PAGE_TOKEN"


def test_allocations(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    p = stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=_portfolio())).portfolio
    a = _allocation(p.portfolio_id)
    created = stub.CreateAllocation(pb.CreateAllocationRequest(allocation=a)).allocation
    assert stub.CreateAllocation(pb.CreateAllocationRequest(allocation=a)).allocation == created
    b = _allocation(p.portfolio_id)
    stub.CreateAllocation(pb.CreateAllocationRequest(allocation=b))
    listed = stub.ListAllocations(pb.ListAllocationsRequest(portfolio_id=p.portfolio_id, page_size=1))
    assert [x.allocation_id for x in listed.allocations] == [min(a.allocation_id, b.allocation_id)]
    wrong_filter = pb.ListAllocationsRequest(page_token=listed.next_page_token)  # token of another filter
    assert _error(lambda: stub.ListAllocations(wrong_filter))[1] == "INVALID_PAGE_TOKEN"
    rest = stub.ListAllocations(
        pb.ListAllocationsRequest(portfolio_id=p.portfolio_id, page_size=1, page_token=listed.next_page_token)
    )
    assert [x.allocation_id for x in rest.allocations] == [max(a.allocation_id, b.allocation_id)]
    assert rest.next_page_token == ""
    unknown = f"pfl_{new_ulid()}"
    assert _error(lambda: stub.ListAllocations(pb.ListAllocationsRequest(portfolio_id=unknown)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"portfolio_id": unknown},
    )
    body = allocation_pb2.Allocation()
    body.CopyFrom(a)
    body.band_min, body.strategy_id = "0.5", "ignored"
    code, reason, _, rules = _error(
        lambda: stub.UpdateAllocation(
            pb.UpdateAllocationRequest(allocation=body, update_mask=field_mask_pb2.FieldMask(paths=["band_min"]))
        )
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED")
    assert ("allocation", "allocation.band_contains_target") in rules
    body.band_min = "0.1"
    updated = stub.UpdateAllocation(
        pb.UpdateAllocationRequest(allocation=body, update_mask=field_mask_pb2.FieldMask(paths=["band_min"]))
    ).allocation
    assert updated.band_min == "0.1" and updated.strategy_id == "basis-btc-01"
    assert stub.GetAllocation(pb.GetAllocationRequest(allocation_id=a.allocation_id)).allocation == updated
    merged = allocation_pb2.Allocation()
    merged.CopyFrom(a)
    merged.target_weight = "0.05"  # valid alone; below the stored band_min 0.1 once merged
    code, reason, _, rules = _error(
        lambda: stub.UpdateAllocation(
            pb.UpdateAllocationRequest(allocation=merged, update_mask=field_mask_pb2.FieldMask(paths=["target_weight"]))
        )
    )
    assert (code, reason, rules) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_FAILED",
        [("allocation", "allocation.band_contains_target")],
    )


def test_positions_and_transactions(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    assert stub.GetPosition(pb.GetPositionRequest(position_id=INVERSE_SHORT)).position.quantity == "-5"
    listed = stub.ListPositions(pb.ListPositionsRequest(portfolio_id=MAIN_FUND))
    ids = [p.position_id for p in listed.positions]
    assert ids == sorted(ids) and INVERSE_SHORT in ids and "pos_01JD0KXBTCVSDTMARG1N000000" not in ids
    by_account = stub.ListPositions(pb.ListPositionsRequest(account_id=SWAP_ACCOUNT, open_only=True))
    assert [p.position_id for p in by_account.positions] == [INVERSE_SHORT]
    unknown_market = "mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ"
    assert _error(lambda: stub.ListPositions(pb.ListPositionsRequest(market_id=unknown_market)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_MARKET",
        {"market_id": unknown_market},
    )
    unknown_account = "acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"
    assert _error(lambda: stub.ListTransactions(pb.ListTransactionsRequest(account_id=unknown_account)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_ACCOUNT",
        {"account_id": unknown_account},
    )
    txns = stub.ListTransactions(pb.ListTransactionsRequest(account_id=PERP_ACCOUNT)).transactions
    assert [t.transaction_id for t in txns] == ["txn_01JDBNFVND1NGFEE0000000000"]
    none = stub.ListTransactions(
        pb.ListTransactionsRequest(account_id=PERP_ACCOUNT, until_time=_ts("2024-11-27T08:00:00Z"))
    )
    assert not none.transactions


def test_compute_pnl(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    request = pb.ComputePnLRequest(
        scope=pnl_pb2.PNL_SCOPE_POSITION,
        scope_id=INVERSE_SHORT,
        period_start=_ts("2024-11-26T08:00:00Z"),
        period_end=_ts("2024-11-27T08:00:00Z"),
    )
    pnl = stub.ComputePnL(request).pnl
    assert (pnl.asset_id, pnl.realized_pnl, pnl.unrealized_pnl, pnl.fees, pnl.funding) == (
        "ast_01JDBTC0000000000000000000",
        "0",
        "0.0000196463",
        "0.0000025706",
        "-0.0000031245",
    )
    assert (pnl.gross_pnl, pnl.net_pnl, pnl.mark_price) == ("0.0000196463", "0.0000202002", "96880.1")
    assert not violations(pnl)
    request.scope, request.scope_id = pnl_pb2.PNL_SCOPE_PORTFOLIO, MAIN_FUND
    request.reporting_asset_id = "ast_01JDVSDT000000000000000000"
    pnl = stub.ComputePnL(request).pnl
    assert (pnl.unrealized_pnl, pnl.fees, pnl.funding, pnl.net_pnl) == ("95.025", "9.65", "2.41", "82.965")
    assert not violations(pnl)
    request.scope, request.scope_id = pnl_pb2.PNL_SCOPE_PORTFOLIO, f"pfl_{new_ulid()}"
    assert _error(lambda: stub.ComputePnL(request))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"scope_id": request.scope_id},
    )


def test_stream_positions_snapshot_and_resume(stub: portfolio_pb2_grpc.PortfolioStub) -> None:
    request = pb.StreamPositionsRequest(account_ids=[PERP_ACCOUNT, SWAP_ACCOUNT])
    call: Any = stub.StreamPositions(request, timeout=5)
    first = [next(call), next(call), next(call)]
    call.cancel()
    assert [m.position.position_id for m in first[:2]] == [
        "pos_01JD0KXBTCVSDSWAPSH0RT0000",
        "pos_01JDBNBTCVSDTPERP10NG00000",
    ]
    assert all(m.is_snapshot for m in first[:2]) and first[2].snapshot_complete and not first[2].HasField("position")
    assert all(m.resume_token for m in first)
    resumed: Any = stub.StreamPositions(
        pb.StreamPositionsRequest(account_ids=[SWAP_ACCOUNT, PERP_ACCOUNT], resume_token=first[2].resume_token),
        timeout=0.5,
    )
    with pytest.raises(grpc.RpcError) as caught:
        next(resumed)  # nothing changes: the resumed stream stays open until the deadline
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    for token in ("garbage", ("B" if first[2].resume_token[0] == "A" else "A") + first[2].resume_token[1:]):
        other = pb.StreamPositionsRequest(account_ids=[PERP_ACCOUNT], resume_token=token)
        assert _error(lambda other=other: next(stub.StreamPositions(other, timeout=5)))[:3] == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "RESUME_TOKEN_EXPIRED",
            {},
        )
    foreign = pb.StreamPositionsRequest(account_ids=[PERP_ACCOUNT], resume_token=first[2].resume_token)
    assert _error(lambda: next(stub.StreamPositions(foreign, timeout=5)))[1] == "RESUME_TOKEN_EXPIRED"
    unknown = pb.StreamPositionsRequest(account_ids=["acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"])
    assert _error(lambda: next(stub.StreamPositions(unknown, timeout=5)))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_ACCOUNT",
        {"account_id": "acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
    )


def test_stream_positions_live_changes_and_replay() -> None:
    """A position change (here: the inverse short closing) reaches the open stream of its account, not others,
    and a resume token from before it replays it, closed position included."""
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        stub = portfolio_pb2_grpc.PortfolioStub(channel)
        state = _portfolio_state(server.store)
        mine: Any = stub.StreamPositions(pb.StreamPositionsRequest(account_ids=[SWAP_ACCOUNT]), timeout=10)
        other: Any = stub.StreamPositions(pb.StreamPositionsRequest(account_ids=[PERP_ACCOUNT]), timeout=1)
        snapshot, marker = next(mine), next(mine)
        assert snapshot.is_snapshot and marker.snapshot_complete
        assert [m.snapshot_complete for m in (next(other), next(other))] == [False, True]
        closed = stub.GetPosition(pb.GetPositionRequest(position_id=INVERSE_SHORT)).position
        closed.quantity = "0"
        state.record_position(closed)
        change = next(mine)
        mine.cancel()
        assert change.position.quantity == "0" and not change.is_snapshot and not change.snapshot_complete
        assert change.resume_token not in ("", marker.resume_token)
        with pytest.raises(grpc.RpcError) as caught:
            next(other)  # the other account's stream gets nothing
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        replay: Any = stub.StreamPositions(
            pb.StreamPositionsRequest(account_ids=[SWAP_ACCOUNT], resume_token=marker.resume_token), timeout=10
        )
        replayed = next(replay)
        replay.cancel()
        assert replayed.position == change.position and replayed.resume_token == change.resume_token
        caught_up: Any = stub.StreamPositions(
            pb.StreamPositionsRequest(account_ids=[SWAP_ACCOUNT], resume_token=change.resume_token), timeout=0.5
        )
        with pytest.raises(grpc.RpcError) as nothing:
            next(caught_up)
        assert nothing.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        listed = stub.ListPositions(pb.ListPositionsRequest(account_id=SWAP_ACCOUNT, open_only=True))
        assert not listed.positions
