"""Ledgers of the DeFi record kinds (Uniswap v3 subgraph Pool, Aave v3 AggregatedReserveData).

Expectations are written from the proto comments (units, sentinels, the subgraph's swapped price naming),
independently of the mappers' code paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from .ledger import UNSET, Entry, RawOnly, Target, mapped
from .ledgers import dec, same

DEP, BRW, MKT, RCP, DBT = "deposit", "borrow", "market", "receipt", "debt"
T0, T1 = "token0", "token1"
RESERVE = ("deposit.lending_deposit.reserve", "borrow.lending_borrow.reserve")
STATE = "lending_reserve.state"
RAY = 10**27


def _reserve(path: str, expect: object, kind: str = "plain") -> tuple[Target, ...]:
    out = []
    for r in RESERVE:
        message, prefix = r.split(".", 1)
        out.append(Target(message, f"{prefix}.{path}", expect, kind))  # type: ignore[arg-type]
    return tuple(out)


def _ray(v: object, _r: object) -> Decimal:
    return Decimal(int(str(v))) / RAY


def _bps(v: object, _r: object) -> Decimal:
    return Decimal(int(str(v))) / 10000


def _cap(v: object, _r: object) -> object:
    return UNSET if int(str(v)) == 0 else Decimal(str(v))


def _units(decimals_key: str) -> object:
    return lambda v, r: Decimal(int(v)) / Decimal(10) ** int(r[decimals_key])


def _ray_mul_units(index_key: str) -> object:
    """Scaled amount x index (rayMul, half up) in base units -> whole tokens."""
    return lambda v, r: Decimal((int(v) * int(r[index_key]) + RAY // 2) // RAY) / Decimal(10) ** int(r["decimals"])


def aave_reserve_ledger(deployments: Mapping[str, str], token_assets: Mapping[str, str]) -> dict[str, Entry]:
    """UiPoolDataProviderV3 AggregatedReserveData element."""
    dep = lambda v, _r: deployments[str(v).lower()]  # noqa: E731
    return {
        "underlyingAsset": mapped(same(MKT, "venue_symbol"), *_reserve("underlying_deployment_id", dep)),
        "name": RawOnly("the underlying token's ERC-20 name: an AssetDeployment fact (registry), not the reserve's"),
        "symbol": mapped(same(MKT, "symbol"), same(MKT, "venue_base_symbol")),
        "decimals": mapped(*_reserve("decimals", lambda v, _r: int(v))),
        "baseLTVasCollateral": mapped(*_reserve("ltv", _bps, "decimal")),
        "reserveLiquidationThreshold": mapped(*_reserve("liquidation_threshold", _bps, "decimal")),
        "reserveLiquidationBonus": mapped(
            *_reserve(
                "liquidation_bonus",
                lambda v, _r: UNSET if int(v) == 0 else Decimal(int(v) - 10000) / 10000,
                "decimal",
            )
        ),
        "reserveFactor": mapped(*_reserve("reserve_factor", _bps, "decimal")),
        "usageAsCollateralEnabled": mapped(*_reserve("flags.collateral_enabled", lambda v, _r: v)),
        "borrowingEnabled": mapped(
            *_reserve("flags.borrowing_enabled", lambda v, _r: v),
            Target(MKT, "lending_reserve.borrow_instrument_id", lambda v, _r: True if v else UNSET, "present"),
        ),
        "isActive": mapped(
            *_reserve("flags.active", lambda v, _r: v),
            Target(MKT, "venue_status", lambda v, r: "inactive" if not v else _status_word(r)),
        ),
        "isFrozen": mapped(*_reserve("flags.frozen", lambda v, _r: v)),
        "isPaused": mapped(*_reserve("flags.paused", lambda v, _r: v)),
        "isSiloedBorrowing": mapped(*_reserve("flags.siloed_borrowing", lambda v, _r: v)),
        "flashLoanEnabled": mapped(*_reserve("flags.flash_loan_enabled", lambda v, _r: v)),
        "borrowableInIsolation": mapped(*_reserve("flags.borrowable_in_isolation", lambda v, _r: v)),
        "liquidityIndex": mapped(Target(MKT, f"{STATE}.liquidity_index", _ray, "decimal")),
        "variableBorrowIndex": mapped(Target(MKT, f"{STATE}.variable_borrow_index", _ray, "decimal")),
        "liquidityRate": mapped(Target(MKT, f"{STATE}.supply_rate", _ray, "decimal")),
        "variableBorrowRate": mapped(Target(MKT, f"{STATE}.variable_borrow_rate", _ray, "decimal")),
        "lastUpdateTimestamp": mapped(Target(MKT, f"{STATE}.last_update_time", lambda v, _r: int(v) * 1000, "time")),
        "aTokenAddress": mapped(
            Target(DEP, "lending_deposit.receipt_token_deployment_id", dep),
            Target(RCP, "subject_asset_id", lambda v, _r: token_assets[str(v).lower()]),
        ),
        "variableDebtTokenAddress": mapped(
            Target(BRW, "lending_borrow.debt_token_deployment_id", dep),
            Target(DBT, "subject_asset_id", lambda v, _r: token_assets[str(v).lower()]),
        ),
        "interestRateStrategyAddress": mapped(*_reserve("rate_strategy.strategy_address", lambda v, _r: v)),
        "availableLiquidity": mapped(Target(MKT, f"{STATE}.available_liquidity", _units("decimals"), "decimal")),  # type: ignore[arg-type]
        "totalScaledVariableDebt": mapped(
            Target(MKT, f"{STATE}.total_variable_debt", _ray_mul_units("variableBorrowIndex"), "decimal")  # type: ignore[arg-type]
        ),
        "priceInMarketReferenceCurrency": RawOnly(
            "oracle price in the pool's market reference currency, whose unit and decimals are in the response's "
            "separate baseCurrencyInfo (not in this element): an observation for a Price message, not the reserve"
        ),
        "priceOracle": mapped(*_reserve("oracle_address", lambda v, _r: v)),
        "variableRateSlope1": mapped(*_reserve("rate_strategy.borrow_curve.slope_below_kink", _ray, "decimal")),
        "variableRateSlope2": mapped(*_reserve("rate_strategy.borrow_curve.slope_above_kink", _ray, "decimal")),
        "baseVariableBorrowRate": mapped(*_reserve("rate_strategy.borrow_curve.base_rate", _ray, "decimal")),
        "optimalUsageRatio": mapped(*_reserve("rate_strategy.borrow_curve.kink", _ray, "decimal")),
        "accruedToTreasury": mapped(
            Target(MKT, f"{STATE}.accrued_to_treasury", _ray_mul_units("liquidityIndex"), "decimal")  # type: ignore[arg-type]
        ),
        "unbacked": mapped(Target(MKT, f"{STATE}.unbacked", _units("decimals"), "decimal")),  # type: ignore[arg-type]
        "isolationModeTotalDebt": mapped(
            Target(
                MKT,
                f"{STATE}.isolation_mode_total_debt",
                lambda v, r: (
                    UNSET
                    if int(r["debtCeiling"]) == 0
                    else Decimal(int(v)) / Decimal(10) ** int(r["debtCeilingDecimals"])
                ),
                "decimal",
            )
        ),
        "debtCeiling": mapped(
            *_reserve(
                "debt_ceiling",
                lambda v, r: UNSET if int(v) == 0 else Decimal(int(v)) / Decimal(10) ** int(r["debtCeilingDecimals"]),
                "decimal",
            ),
            *_reserve("flags.isolation_collateral", lambda v, _r: int(v) != 0),
        ),
        "debtCeilingDecimals": RawOnly(
            "the scale of debtCeiling and isolationModeTotalDebt (2 = cents), applied on ingest: both are carried as "
            "USD decimals"
        ),
        "eModeCategoryId": mapped(
            *_reserve("emode_category.category_id", lambda v, _r: UNSET if int(v) == 0 else int(v))
        ),
        "borrowCap": mapped(*_reserve("borrow_cap", _cap, "decimal")),
        "supplyCap": mapped(*_reserve("supply_cap", _cap, "decimal")),
    }


def _status_word(r: Mapping[str, object]) -> str:
    return "paused" if r["isPaused"] else "frozen" if r["isFrozen"] else "active"


def _seconds(v: object, _r: object) -> int:
    return int(str(v)) * 1000


def uniswap_v3_pool_ledger(deployments: Mapping[str, str]) -> dict[str, Entry]:
    """v3-subgraph Pool entity with token0 / token1 {id, symbol, name, decimals}."""
    pool, state = "amm_pool", "amm_pool.state"
    ledger: dict[str, Entry] = {
        "id": mapped(same(MKT, "venue_symbol"), same(MKT, f"{pool}.pool_address")),
        "createdAtTimestamp": mapped(
            Target(MKT, f"{pool}.creation_time", _seconds, "time"), Target(MKT, "listing_time", _seconds, "time")
        ),
        "createdAtBlockNumber": mapped(Target(MKT, f"{pool}.creation_block", lambda v, _r: int(v))),
        "feeTier": mapped(
            Target(MKT, f"{pool}.fee_tier", lambda v, _r: int(v)),
            Target(MKT, f"{pool}.fee_rate", lambda v, _r: Decimal(int(v)) / 1000000, "decimal"),
            Target(MKT, "fees.maker_fee_rate", lambda v, _r: Decimal(int(v)) / 1000000, "decimal"),
            Target(MKT, "fees.taker_fee_rate", lambda v, _r: Decimal(int(v)) / 1000000, "decimal"),
            Target(MKT, f"{pool}.tick_spacing", lambda v, _r: {100: 1, 500: 10, 3000: 60, 10000: 200}[int(v)]),
        ),
        "liquidity": mapped(dec(MKT, f"{state}.liquidity")),
        "sqrtPrice": mapped(dec(MKT, f"{state}.sqrt_price_x96")),
        "feeGrowthGlobal0X128": mapped(dec(MKT, f"{state}.fee_growth_global0_x128")),
        "feeGrowthGlobal1X128": mapped(dec(MKT, f"{state}.fee_growth_global1_x128")),
        # The subgraph names prices the other way round (AmmPoolState.token0_price comment).
        "token0Price": mapped(dec(MKT, f"{state}.token1_price")),
        "token1Price": mapped(dec(MKT, f"{state}.token0_price")),
        "tick": mapped(Target(MKT, f"{state}.tick", lambda v, _r: UNSET if v is None else int(v))),
        "observationIndex": RawOnly("the pool's TWAP-oracle ring-buffer cursor: chain-internal bookkeeping"),
        "volumeToken0": RawOnly(
            "cumulative volume in token0 units; volume_usd carries the cumulative volume, "
            "windowed volumes belong to Candle / LiquidityMetrics"
        ),
        "volumeToken1": RawOnly("cumulative volume in token1 units (see volumeToken0)"),
        "volumeUSD": mapped(dec(MKT, f"{state}.volume_usd")),
        "untrackedVolumeUSD": RawOnly("the subgraph's volume including non-whitelisted pricing: an indexer artefact"),
        "feesUSD": mapped(dec(MKT, f"{state}.fees_usd")),
        "txCount": RawOnly("count of indexed pool events since creation: no trading meaning"),
        "collectedFeesToken0": RawOnly("fees already collected by LPs: position accounting, not pool state"),
        "collectedFeesToken1": RawOnly("fees already collected by LPs: position accounting, not pool state"),
        "collectedFeesUSD": RawOnly("fees already collected by LPs: position accounting, not pool state"),
        "totalValueLockedToken0": mapped(dec(MKT, f"{state}.tokens[0].balance")),
        "totalValueLockedToken1": mapped(dec(MKT, f"{state}.tokens[1].balance")),
        "totalValueLockedETH": RawOnly("TVL in ETH: tvl_usd over the ETH price, derivable"),
        "totalValueLockedUSD": mapped(dec(MKT, f"{state}.tvl_usd")),
        "totalValueLockedUSDUntracked": RawOnly("TVL including non-whitelisted pricing: an indexer artefact"),
        "liquidityProviderCount": RawOnly("subgraph counter (not maintained by v3-subgraph): no trading meaning"),
    }
    for index, (side, message, symbol_field) in enumerate(
        (("token0", T0, "venue_base_symbol"), ("token1", T1, "venue_quote_symbol"))
    ):
        ledger[f"{side}.id"] = mapped(
            same(message, "address"),
            Target(MKT, f"{pool}.tokens[{index}].deployment_id", lambda v, _r: deployments[str(v).lower()]),
            Target(MKT, f"{state}.tokens[{index}].deployment_id", lambda v, _r: deployments[str(v).lower()]),
            Target(message, "deployment_id", lambda v, _r: deployments[str(v).lower()]),
        )
        ledger[f"{side}.symbol"] = mapped(same(message, "symbol"), same(MKT, symbol_field))
        ledger[f"{side}.name"] = mapped(same(message, "name"))
        ledger[f"{side}.decimals"] = mapped(Target(message, "decimals", lambda v, _r: int(v)))
    return ledger
