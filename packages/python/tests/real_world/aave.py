"""Aave v3 UiPoolDataProviderV3.getReservesData element (AggregatedReserveData) -> LendingDeposit and
LendingBorrow Instruments, a LENDING_RESERVE Market and the aToken / debt-token AssetRelationships.

Conversions (proto comments of LendingReserve, InterestRateStrategy, LendingReserveState): bps / 10000 for LTV,
liquidation threshold and reserve factor; liquidation bonus (10000 + bps) -> bps / 10000; rates, indexes and
the rate curve ray / 1e27 with every digit kept; caps in whole tokens with 0 = no cap -> unset; debt ceiling
/ 10^debtCeilingDecimals with 0 -> unset; token amounts / 10^decimals; scaled amounts x index (rayMul).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.assets.v1 import relationship_pb2
from cqc.markets.v1 import instrument_pb2, market_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record

RAY = 10**27


@dataclass(frozen=True)
class AaveReserveIds:
    """Registry ids and the deployment facts the reserve element does not carry (pool, market name, chain)."""

    market_id: str
    deposit_instrument_id: str
    borrow_instrument_id: str
    venue_id: str
    chain_id: str
    pool_address: str
    market_name: str
    underlying_asset_id: str
    deployments: Mapping[str, str]
    """Lower-case token address (underlying, aToken, debt token) -> "dep_" id."""
    token_assets: Mapping[str, str]
    """Lower-case aToken / debt token address -> the token's "ast_" id."""
    receipt_relationship_id: str
    debt_relationship_id: str
    receive_time: datetime


def ray(value: str) -> str:
    """Ray (1e27 = 1) -> fraction with all 27 decimals kept (LendingReserveState.liquidity_index)."""
    return fmt(Decimal(int(value)).scaleb(-27))


def bps(value: str) -> str:
    """Basis points -> fraction (LendingReserve: 7500 -> "0.75")."""
    return fmt(Decimal(int(value)).scaleb(-4))


def bonus(value: str) -> str | None:
    """Aave liquidation bonus 10000 + bps -> the bonus alone (10450 -> "0.045"); 0 (not collateral) -> unset."""
    return None if int(value) == 0 else fmt(Decimal(int(value) - 10000).scaleb(-4))


def cap(value: str) -> str | None:
    """Supply / borrow cap in whole tokens; 0 = no cap -> unset."""
    return None if int(value) == 0 else value


def scaled(value: str, places: int) -> str:
    """An integer amount in 10^-places units -> decimal ("524691356468935", 6 -> "524691356.468935")."""
    return fmt(Decimal(int(value)).scaleb(-places))


def ray_mul(a: str, b: str) -> int:
    """Aave WadRayMath.rayMul: a x b / 1e27, rounded half up (scaled balance x index -> balance)."""
    return (int(a) * int(b) + RAY // 2) // RAY


def seconds(value: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(int(value))
    return stamp


def reserve_status(p: Json) -> tuple[int, str]:
    """Market status from the reserve flags: inactive -> DELISTED, paused -> PAUSED, frozen -> REDUCE_ONLY
    (repay / withdraw / liquidate only), else TRADING; venue_status names the flag."""
    if not p["isActive"]:
        return market_pb2.MARKET_STATUS_DELISTED, "inactive"
    if p["isPaused"]:
        return market_pb2.MARKET_STATUS_PAUSED, "paused"
    if p["isFrozen"]:
        return market_pb2.MARKET_STATUS_REDUCE_ONLY, "frozen"
    return market_pb2.MARKET_STATUS_TRADING, "active"


def _reserve(p: Json, ids: AaveReserveIds) -> instrument_pb2.LendingReserve:
    decimals = int(p["decimals"])
    reserve = instrument_pb2.LendingReserve(
        protocol="aave-v3",
        market_name=ids.market_name,
        chain_id=ids.chain_id,
        pool_address=ids.pool_address,
        underlying_deployment_id=ids.deployments[p["underlyingAsset"].lower()],
        rate_strategy=instrument_pb2.InterestRateStrategy(
            strategy_address=p["interestRateStrategyAddress"],
            borrow_curve=instrument_pb2.RateCurve(
                base_rate=ray(p["baseVariableBorrowRate"]),
                kink=ray(p["optimalUsageRatio"]),
                slope_below_kink=ray(p["variableRateSlope1"]),
                slope_above_kink=ray(p["variableRateSlope2"]),
                slope_convention=instrument_pb2.SLOPE_CONVENTION_SEGMENT_TOTAL,
                rate_period=instrument_pb2.RATE_PERIOD_YEAR,
            ),
        ),
        ltv=bps(p["baseLTVasCollateral"]),
        liquidation_threshold=bps(p["reserveLiquidationThreshold"]),
        liquidation_bonus=bonus(p["reserveLiquidationBonus"]),
        reserve_factor=bps(p["reserveFactor"]),
        supply_cap=cap(p["supplyCap"]),
        borrow_cap=cap(p["borrowCap"]),
        debt_ceiling=None if int(p["debtCeiling"]) == 0 else scaled(p["debtCeiling"], int(p["debtCeilingDecimals"])),
        flags=instrument_pb2.LendingReserveFlags(
            active=p["isActive"],
            frozen=p["isFrozen"],
            paused=p["isPaused"],
            borrowing_enabled=p["borrowingEnabled"],
            collateral_enabled=p["usageAsCollateralEnabled"],
            isolation_collateral=int(p["debtCeiling"]) != 0,
            borrowable_in_isolation=p["borrowableInIsolation"],
            siloed_borrowing=p["isSiloedBorrowing"],
            flash_loan_enabled=p["flashLoanEnabled"],
        ),
        oracle_address=p["priceOracle"],
        decimals=decimals,
    )
    if int(p["eModeCategoryId"]) != 0:
        reserve.emode_category.category_id = int(p["eModeCategoryId"])
    return reserve


def aave_reserve(payload: Json, ids: AaveReserveIds) -> dict[str, Message]:
    """One AggregatedReserveData element -> {"deposit", "borrow", "market", "receipt", "debt"}."""
    p = payload
    record = source_record(
        "aave-v3", f"UiPoolDataProviderV3.getReservesData ({p['symbol']} element)", payload, ids.receive_time
    )
    decimals = int(p["decimals"])
    reserve = _reserve(p, ids)
    status, venue_status = reserve_status(p)
    instrument_status = (
        instrument_pb2.INSTRUMENT_STATUS_ACTIVE if p["isActive"] else instrument_pb2.INSTRUMENT_STATUS_DELISTED
    )
    place = ids.market_name.removeprefix("AaveV3")
    deposit = instrument_pb2.Instrument(
        instrument_id=ids.deposit_instrument_id,
        instrument_type="LENDING_DEPOSIT",
        name=f"Aave v3 {place} {p['symbol']} supply",
        status=instrument_status,
        base_asset_id=ids.underlying_asset_id,
        lending_deposit=instrument_pb2.LendingDeposit(
            reserve=reserve, receipt_token_deployment_id=ids.deployments[p["aTokenAddress"].lower()]
        ),
        source_record=record,
    )
    borrow = instrument_pb2.Instrument(
        instrument_id=ids.borrow_instrument_id,
        instrument_type="LENDING_BORROW",
        name=f"Aave v3 {place} {p['symbol']} variable-rate borrow",
        status=instrument_status,
        base_asset_id=ids.underlying_asset_id,
        lending_borrow=instrument_pb2.LendingBorrow(
            reserve=reserve,
            rate_mode=instrument_pb2.LENDING_RATE_MODE_VARIABLE,
            debt_token_deployment_id=ids.deployments[p["variableDebtTokenAddress"].lower()],
        ),
        source_record=record,
    )
    state = market_pb2.LendingReserveState(
        total_variable_debt=scaled(str(ray_mul(p["totalScaledVariableDebt"], p["variableBorrowIndex"])), decimals),
        available_liquidity=scaled(p["availableLiquidity"], decimals),
        supply_rate=ray(p["liquidityRate"]),
        variable_borrow_rate=ray(p["variableBorrowRate"]),
        liquidity_index=ray(p["liquidityIndex"]),
        variable_borrow_index=ray(p["variableBorrowIndex"]),
        last_update_time=seconds(p["lastUpdateTimestamp"]),
        accrued_to_treasury=scaled(str(ray_mul(p["accruedToTreasury"], p["liquidityIndex"])), decimals),
        unbacked=scaled(p["unbacked"], decimals),
    )
    if int(p["debtCeiling"]) != 0:
        state.isolation_mode_total_debt = scaled(p["isolationModeTotalDebt"], int(p["debtCeilingDecimals"]))
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.deposit_instrument_id,
        venue_symbol=p["underlyingAsset"],
        symbol=p["symbol"],
        display_name=f"Aave v3 {place} {p['symbol']} reserve",
        market_type=market_pb2.MARKET_TYPE_LENDING_RESERVE,
        venue_base_symbol=p["symbol"],
        status=status,  # type: ignore[arg-type]
        venue_status=venue_status,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,  # amounts in whole tokens of the underlying
        lending_reserve=market_pb2.LendingReserveSpecs(
            deposit_instrument_id=ids.deposit_instrument_id,
            borrow_instrument_id=ids.borrow_instrument_id if p["borrowingEnabled"] else None,
            state=state,
        ),
        source_record=record,
    )
    underlying = ids.underlying_asset_id
    receipt = relationship_pb2.AssetRelationship(
        relationship_id=ids.receipt_relationship_id,
        subject_asset_id=ids.token_assets[p["aTokenAddress"].lower()],
        type=relationship_pb2.RELATIONSHIP_TYPE_RECEIPT_OF,
        object_asset_id=underlying,
        ratio="1",
        via_protocol="aave-v3",
        via_address=ids.pool_address,
        via_chain_id=ids.chain_id,
        source="aave-v3",
        confidence="1",
        source_record=record,
    )
    debt = relationship_pb2.AssetRelationship(
        relationship_id=ids.debt_relationship_id,
        subject_asset_id=ids.token_assets[p["variableDebtTokenAddress"].lower()],
        type=relationship_pb2.RELATIONSHIP_TYPE_DEBT_OF,
        object_asset_id=underlying,
        ratio="1",
        via_protocol="aave-v3",
        via_address=ids.pool_address,
        via_chain_id=ids.chain_id,
        source="aave-v3",
        confidence="1",
        source_record=record,
    )
    return {"deposit": deposit, "borrow": borrow, "market": market, "receipt": receipt, "debt": debt}
