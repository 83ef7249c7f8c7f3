"""The Python reference RiskEngine: limits CRUD, pre-trade checks and the reservation protocol, trading states,
Flatten, alerts (raised by ReserveOrder breaches, acknowledged, resolved, streamed with resume) and exposures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from grpc_details import error_details

import cqc.testing
from cqc.portfolio.v1 import exposure_pb2, risk_pb2
from cqc.services.v1 import portfolio_pb2 as portfolio_service_pb2
from cqc.services.v1 import portfolio_pb2_grpc, risk_engine_pb2_grpc, venue_gateway_pb2, venue_gateway_pb2_grpc
from cqc.services.v1 import risk_engine_pb2 as pb
from cqc.testing._store import new_ulid
from cqc.validation import violations
from cqc.venues.v1 import account_pb2, trading_pb2

ACCOUNT = "acc_01JDBNSP0TMA1N000000000000"
MARKET = "mkt_01JDBNBTCVSDTSP0T000000000"  # seeded BID price 43050.1, no MARK
NO_PRICE_MARKET = "mkt_01JDKRKNXBTVSDSP0T00000000"
USD = "ast_01JDFVSD000000000000000000"
PORTFOLIO = "pfl_01JDMA1NFVND00000000000000"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with cqc.testing.serve(TESTDATA) as running:
        yield running.target


@pytest.fixture
def risk(server: str) -> Iterator[risk_engine_pb2_grpc.RiskEngineStub]:
    with grpc.insecure_channel(server) as channel:
        yield risk_engine_pb2_grpc.RiskEngineStub(channel)


@pytest.fixture
def account(server: str) -> str:
    """A fresh account (VenueGateway.CreateVenueAccount), so that limits and states of other tests do not count."""
    with grpc.insecure_channel(server) as channel:
        gateway = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
        seeded = gateway.GetVenueAccount(venue_gateway_pb2.GetVenueAccountRequest(account_id=ACCOUNT)).venue_account
        seeded.account_id = f"acc_{new_ulid()}"
        seeded.ClearField("create_time")
        seeded.ClearField("update_time")
        created = gateway.CreateVenueAccount(venue_gateway_pb2.CreateVenueAccountRequest(venue_account=seeded))
        return str(created.venue_account.account_id)


def reason_of(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    info, _ = error_details(error.trailing_metadata())
    assert info is not None
    return str(info.reason), dict(info.metadata)


def limit(scope: dict[str, str], metric: int, threshold: str, **changes: Any) -> risk_pb2.RiskLimit:
    fields: dict[str, Any] = {
        "limit_id": f"lim_{new_ulid()}",
        "name": "test limit",
        "metric": metric,
        "threshold": threshold,
        "unit": risk_pb2.METRIC_UNIT_ASSET_AMOUNT,
        "action": risk_pb2.RISK_LIMIT_ACTION_BLOCK_NEW_ORDERS,
        "state": risk_pb2.RISK_LIMIT_STATE_ENABLED,
        "created_by": "tests",
        "market_id": MARKET,
    }
    fields.update(scope)
    fields.update(changes)
    if fields["unit"] == risk_pb2.METRIC_UNIT_ASSET_AMOUNT:
        fields.setdefault("unit_asset_id", USD)
    if "account_id" in scope or "strategy_id" in scope:
        fields.pop("market_id")
    return risk_pb2.RiskLimit(**fields)


def order(account_id: str, **changes: Any) -> venue_gateway_pb2.NewOrder:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "market_id": MARKET,
        "side": trading_pb2.SIDE_BUY,
        "order_type": trading_pb2.ORDER_TYPE_LIMIT,
        "time_in_force": trading_pb2.TIME_IN_FORCE_GTC,
        "quantity": "0.5",
        "price": "40000",
    }
    fields.update(changes)
    return venue_gateway_pb2.NewOrder(**fields)


def test_limit_crud_and_errors(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    created = risk.CreateRiskLimit(
        pb.CreateRiskLimitRequest(risk_limit=limit({"account_id": account}, risk_pb2.RISK_METRIC_ORDER_NOTIONAL, "1"))
    ).risk_limit
    assert created.HasField("create_time") and created.create_time == created.update_time
    again = risk.CreateRiskLimit(pb.CreateRiskLimitRequest(risk_limit=created)).risk_limit
    assert again == created
    other = risk_pb2.RiskLimit()
    other.CopyFrom(created)
    other.name = "renamed"
    with pytest.raises(grpc.RpcError) as taken:
        risk.CreateRiskLimit(pb.CreateRiskLimitRequest(risk_limit=other))
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(taken.value) == ("ALREADY_EXISTS", {"limit_id": created.limit_id})
    updated = risk.UpdateRiskLimit(
        pb.UpdateRiskLimitRequest(risk_limit=other, update_mask=field_mask_pb2.FieldMask(paths=["name"]))
    ).risk_limit
    assert updated.name == "renamed" and updated.create_time == created.create_time
    for paths in (["limit_id"], ["nope", "name"], ["create_time"]):
        with pytest.raises(grpc.RpcError) as refused:
            risk.UpdateRiskLimit(
                pb.UpdateRiskLimitRequest(risk_limit=other, update_mask=field_mask_pb2.FieldMask(paths=paths))
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(refused.value)[0] == "INVALID_UPDATE_MASK"
    missing = f"lim_{new_ulid()}"
    with pytest.raises(grpc.RpcError) as unknown:
        risk.GetRiskLimit(pb.GetRiskLimitRequest(limit_id=missing))
    assert reason_of(unknown.value) == ("NOT_FOUND_RESOURCE", {"limit_id": missing})
    listed = risk.ListRiskLimits(pb.ListRiskLimitsRequest(account_id=account)).risk_limits
    assert [x.limit_id for x in listed] == [created.limit_id]


def test_list_limits_pages_and_tokens(risk: risk_engine_pb2_grpc.RiskEngineStub) -> None:
    first = risk.ListRiskLimits(pb.ListRiskLimitsRequest(page_size=1))
    assert len(first.risk_limits) == 1 and first.next_page_token
    second = risk.ListRiskLimits(pb.ListRiskLimitsRequest(page_size=1, page_token=first.next_page_token))
    assert second.risk_limits[0].limit_id > first.risk_limits[0].limit_id
    for token, request in (
        ("garbage!", pb.ListRiskLimitsRequest(page_token="garbage!")),
        ("other filters", pb.ListRiskLimitsRequest(page_token=first.next_page_token, enabled_only=True)),
        ("tampered", pb.ListRiskLimitsRequest(page_token=first.next_page_token[:-2] + "AA")),
    ):
        with pytest.raises(grpc.RpcError) as bad:
            risk.ListRiskLimits(request)
        assert reason_of(bad.value)[0] == "INVALID_PAGE_TOKEN", token


def test_check_and_reserve(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    size = risk.CreateRiskLimit(
        pb.CreateRiskLimitRequest(
            risk_limit=limit({"account_id": account}, risk_pb2.RISK_METRIC_NOTIONAL, "40000", warning_threshold="32000")
        )
    ).risk_limit
    checked = risk.CheckOrder(pb.CheckOrderRequest(order=order(account))).result
    assert checked.decision == risk_pb2.RISK_DECISION_ALLOW and not checked.HasField("reservation_id")
    (check,) = checked.limit_checks
    assert (check.limit_id, check.observed_value, check.projected_value) == (size.limit_id, "0", "20000")
    assert violations(checked) == []
    request = pb.ReserveOrderRequest(request_id=str(uuid.uuid4()), order=order(account))
    reserved = risk.ReserveOrder(request).result
    assert reserved.decision == risk_pb2.RISK_DECISION_ALLOW and reserved.reservation_id.startswith("rsv_")
    assert risk.ReserveOrder(request).result == reserved  # idempotent
    changed = pb.ReserveOrderRequest(request_id=request.request_id, order=order(account, quantity="0.6"))
    with pytest.raises(grpc.RpcError) as reused:
        risk.ReserveOrder(changed)
    assert reason_of(reused.value) == ("REQUEST_ID_REUSED", {"request_id": request.request_id})
    warned = risk.CheckOrder(pb.CheckOrderRequest(order=order(account, quantity="0.4"))).result
    assert warned.decision == risk_pb2.RISK_DECISION_WARN
    assert (warned.limit_checks[0].observed_value, warned.limit_checks[0].projected_value) == ("20000", "36000")
    denied = risk.ReserveOrder(
        pb.ReserveOrderRequest(request_id=str(uuid.uuid4()), order=order(account, quantity="0.6"))
    ).result
    assert denied.decision == risk_pb2.RISK_DECISION_DENY and not denied.HasField("reservation_id")
    assert violations(denied) == []
    alerts = risk.ListRiskAlerts(pb.ListRiskAlertsRequest(scope=pb.RiskScope(account_id=account))).risk_alerts
    assert [a.limit_id for a in alerts] == [size.limit_id] and violations(alerts[0]) == []
    released = risk.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=reserved.reservation_id))
    assert released.reservation.state == risk_pb2.RISK_RESERVATION_STATE_RELEASED
    assert risk.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=reserved.reservation_id)) == released
    with pytest.raises(grpc.RpcError) as not_held:
        risk.CommitReservation(
            pb.CommitReservationRequest(reservation_id=reserved.reservation_id, order_id=f"ord_{new_ulid()}")
        )
    assert reason_of(not_held.value) == (
        "RISK_RESERVATION_NOT_HELD",
        {"reservation_id": reserved.reservation_id, "state": "RISK_RESERVATION_STATE_RELEASED"},
    )
    after = risk.CheckOrder(pb.CheckOrderRequest(order=order(account))).result
    assert after.limit_checks[0].observed_value == "0"  # released: no longer counted


def test_commit_protocol(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    reserved = risk.ReserveOrder(
        pb.ReserveOrderRequest(request_id=str(uuid.uuid4()), order=order(account), ttl=duration_pb2.Duration(seconds=5))
    ).result
    order_id = f"ord_{new_ulid()}"
    commit = pb.CommitReservationRequest(reservation_id=reserved.reservation_id, order_id=order_id)
    committed = risk.CommitReservation(commit).reservation
    assert committed.state == risk_pb2.RISK_RESERVATION_STATE_COMMITTED and committed.order_id == order_id
    assert risk.CommitReservation(commit).reservation == committed
    with pytest.raises(grpc.RpcError) as other:
        risk.CommitReservation(
            pb.CommitReservationRequest(reservation_id=reserved.reservation_id, order_id=f"ord_{new_ulid()}")
        )
    assert reason_of(other.value)[1]["order_id"] == order_id
    with pytest.raises(grpc.RpcError) as release:
        risk.ReleaseReservation(pb.ReleaseReservationRequest(reservation_id=reserved.reservation_id))
    assert release.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    missing = f"rsv_{new_ulid()}"
    with pytest.raises(grpc.RpcError) as unknown:
        risk.CommitReservation(pb.CommitReservationRequest(reservation_id=missing, order_id=order_id))
    assert reason_of(unknown.value) == ("NOT_FOUND_RESOURCE", {"reservation_id": missing})


def test_check_errors(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    risk.CreateRiskLimit(
        pb.CreateRiskLimitRequest(
            risk_limit=limit({"account_id": account}, risk_pb2.RISK_METRIC_ORDER_NOTIONAL, "1000000")
        )
    )
    market = order(account, market_id=NO_PRICE_MARKET, order_type=trading_pb2.ORDER_TYPE_MARKET)
    market.ClearField("price")
    with pytest.raises(grpc.RpcError) as unavailable:
        risk.CheckOrder(pb.CheckOrderRequest(order=market))
    assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason_of(unavailable.value) == ("RISK_DATA_UNAVAILABLE", {"missing": f"mark_price:{NO_PRICE_MARKET}"})
    market.market_id = MARKET  # valued at the seeded BID price
    checked = risk.CheckOrder(pb.CheckOrderRequest(order=market)).result
    assert checked.limit_checks[0].projected_value == "21525.05"
    with pytest.raises(grpc.RpcError) as no_account:
        risk.CheckOrder(pb.CheckOrderRequest(order=order(f"acc_{new_ulid()}")))
    assert reason_of(no_account.value)[0] == "NOT_FOUND_ACCOUNT"
    with pytest.raises(grpc.RpcError) as no_market:
        risk.CheckOrder(pb.CheckOrderRequest(order=order(account, market_id=f"mkt_{new_ulid()}")))
    assert reason_of(no_market.value)[0] == "NOT_FOUND_MARKET"


def test_trading_state_and_flatten(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    scope = pb.RiskScope(account_id=account)
    default = risk.GetTradingState(pb.GetTradingStateRequest(scope=scope))
    assert default.state == account_pb2.TRADING_STATE_ACTIVE and not default.HasField("update_time")
    request = pb.SetTradingStateRequest(
        request_id=str(uuid.uuid4()),
        scope=scope,
        state=account_pb2.TRADING_STATE_HALTED,
        reason="incident",
        duration=duration_pb2.Duration(seconds=60),
    )
    set_ = risk.SetTradingState(request)
    assert set_.state == account_pb2.TRADING_STATE_HALTED
    assert set_.expire_time.seconds - set_.update_time.seconds == 60
    assert risk.SetTradingState(request) == set_
    got = risk.GetTradingState(pb.GetTradingStateRequest(scope=scope))
    assert (got.state, got.reason, got.expire_time) == (set_.state, "incident", set_.expire_time)
    denied = risk.CheckOrder(pb.CheckOrderRequest(order=order(account))).result
    assert denied.decision == risk_pb2.RISK_DECISION_DENY and denied.trading_state == account_pb2.TRADING_STATE_HALTED
    past = timestamp_pb2.Timestamp(seconds=1)
    with pytest.raises(grpc.RpcError) as expired:
        risk.SetTradingState(
            pb.SetTradingStateRequest(
                request_id=str(uuid.uuid4()),
                scope=scope,
                state=account_pb2.TRADING_STATE_HALTED,
                reason="x",
                expire_time=past,
            )
        )
    assert reason_of(expired.value)[0] == "VALIDATION_FAILED"
    flatten = pb.FlattenRequest(
        request_id=str(uuid.uuid4()),
        scope=scope,
        mode=pb.FLATTEN_MODE_CANCEL_ONLY,
        trading_state_after=account_pb2.TRADING_STATE_REDUCING,
        reason="kill",
        requested_by="user:test",
    )
    flattened = risk.Flatten(flatten)
    assert flattened.trading_state == account_pb2.TRADING_STATE_REDUCING and violations(flattened) == []
    assert risk.Flatten(flatten) == flattened
    reducing = risk.CheckOrder(pb.CheckOrderRequest(order=order(account))).result
    assert reducing.decision == risk_pb2.RISK_DECISION_DENY
    assert risk.CheckOrder(pb.CheckOrderRequest(order=order(account, reduce_only=True))).result.decision == (
        risk_pb2.RISK_DECISION_ALLOW
    )
    with pytest.raises(grpc.RpcError) as unknown:
        risk.GetTradingState(pb.GetTradingStateRequest(scope=pb.RiskScope(portfolio_id=f"pfl_{new_ulid()}")))
    assert reason_of(unknown.value)[0] == "NOT_FOUND_RESOURCE"


def test_alerts_and_stream(risk: risk_engine_pb2_grpc.RiskEngineStub, account: str) -> None:
    seeded = risk.ListRiskAlerts(pb.ListRiskAlertsRequest()).risk_alerts
    assert len(seeded) >= 2
    times = [(a.trigger_time.seconds, a.trigger_time.nanos) for a in seeded]
    assert times == sorted(times, reverse=True)
    scope = pb.RiskScope(account_id=account)
    stream = risk.StreamRiskAlerts(pb.StreamRiskAlertsRequest(scope=scope), timeout=10)
    marker = next(stream)
    assert marker.snapshot_complete and marker.resume_token
    risk.CreateRiskLimit(
        pb.CreateRiskLimitRequest(risk_limit=limit({"account_id": account}, risk_pb2.RISK_METRIC_ORDER_NOTIONAL, "100"))
    )
    risk.ReserveOrder(pb.ReserveOrderRequest(request_id=str(uuid.uuid4()), order=order(account)))
    raised = next(stream)
    assert raised.risk_alert.status == 1 and not raised.is_snapshot
    alert_id = raised.risk_alert.alert_id
    acked = risk.AcknowledgeRiskAlert(pb.AcknowledgeRiskAlertRequest(alert_id=alert_id, acknowledged_by="me"))
    assert acked.risk_alert.status == 2 and violations(acked.risk_alert) == []
    assert next(stream).risk_alert.status == 2
    resolved = risk.ResolveRiskAlert(pb.ResolveRiskAlertRequest(alert_id=alert_id, resolved_by="me"))
    assert resolved.risk_alert.status == 3 and violations(resolved.risk_alert) == []
    stream.cancel()
    with pytest.raises(grpc.RpcError) as refused:
        risk.AcknowledgeRiskAlert(pb.AcknowledgeRiskAlertRequest(alert_id=alert_id, acknowledged_by="me"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    resumed = risk.StreamRiskAlerts(
        pb.StreamRiskAlertsRequest(scope=scope, resume_token=marker.resume_token), timeout=10
    )
    replay = [next(resumed).risk_alert.status for _ in range(3)]
    assert replay == [1, 2, 3]
    resumed.cancel()
    with pytest.raises(grpc.RpcError) as foreign:
        next(iter(risk.StreamRiskAlerts(pb.StreamRiskAlertsRequest(resume_token=marker.resume_token), timeout=5)))
    assert reason_of(foreign.value)[0] == "RESUME_TOKEN_EXPIRED"


def test_exposures(risk: risk_engine_pb2_grpc.RiskEngineStub) -> None:
    scope = pb.RiskScope(portfolio_id=PORTFOLIO)
    listed = risk.ListExposures(
        pb.ListExposuresRequest(scope=scope, dimension=exposure_pb2.EXPOSURE_DIMENSION_UNDERLYING)
    ).exposures
    assert [e.exposure_id for e in listed] == ["xpo_01JDBTCVNDER1Y1NG000000000"]
    stream = risk.StreamExposures(
        pb.StreamExposuresRequest(scope=scope, dimension=exposure_pb2.EXPOSURE_DIMENSION_UNDERLYING), timeout=10
    )
    first, marker = next(stream), next(stream)
    assert first.is_snapshot and first.exposure.exposure_id == listed[0].exposure_id and marker.snapshot_complete
    stream.cancel()
    with pytest.raises(grpc.RpcError) as unknown:
        risk.ListExposures(
            pb.ListExposuresRequest(
                scope=pb.RiskScope(account_id=f"acc_{new_ulid()}"), dimension=exposure_pb2.EXPOSURE_DIMENSION_ASSET
            )
        )
    assert reason_of(unknown.value)[0] == "NOT_FOUND_ACCOUNT"


def test_scope_of_created_portfolio(server: str, risk: risk_engine_pb2_grpc.RiskEngineStub) -> None:
    with grpc.insecure_channel(server) as channel:
        portfolios = portfolio_pb2_grpc.PortfolioStub(channel)
        seeded = portfolios.GetPortfolio(portfolio_service_pb2.GetPortfolioRequest(portfolio_id=PORTFOLIO)).portfolio
        seeded.portfolio_id = f"pfl_{new_ulid()}"
        seeded.ClearField("create_time")
        seeded.ClearField("update_time")
        portfolios.CreatePortfolio(portfolio_service_pb2.CreatePortfolioRequest(portfolio=seeded))
    got = risk.GetTradingState(pb.GetTradingStateRequest(scope=pb.RiskScope(portfolio_id=seeded.portfolio_id)))
    assert got.state == account_pb2.TRADING_STATE_ACTIVE


def test_flatten_portfolio_lists_unclosed_positions(risk: risk_engine_pb2_grpc.RiskEngineStub) -> None:
    request = pb.FlattenRequest(
        request_id=str(uuid.uuid4()),
        scope=pb.RiskScope(portfolio_id=PORTFOLIO),
        mode=pb.FLATTEN_MODE_CANCEL_AND_CLOSE,
        trading_state_after=account_pb2.TRADING_STATE_HALTED,
        reason="test",
        requested_by="user:test",
    )
    flattened = risk.Flatten(request)
    assert list(flattened.unclosed_position_ids) == [
        "pos_01JD0KXBTCVSDSWAPSH0RT0000",
        "pos_01JDAAVEV3VSDCSVPP1Y000000",
        "pos_01JDBNBTCVSDTPERP10NG00000",
        "pos_01JDVN1V3VSDCWETH500000000",
    ]
    assert not flattened.close_order_ids and violations(flattened) == []
