"""Compound III (Comet) market configuration -> LENDING_RESERVE Markets and their lending Instruments.

Source: compound-finance/comet deployments/<network>/<market>/configuration.json (the governance-reviewed
launch configuration a Comet deployment is built from; the deploy script converts it to on-chain factors).
One Comet market is one pool with one borrowable base asset and N supply-only collateral assets:
  - the base reserve: a Market with a LendingDeposit (supply) and a LendingBorrow (variable) instrument;
    no receipt token and no debt token (Comet keeps balances itself), so both token fields stay unset;
  - each collateral: a Market with a LendingDeposit instrument only (collateral earns and costs nothing:
    no rate strategy).
Conversions (LendingReserve / RateCurve / RewardEmission comments): rates in the file are per-year fractions
(RATE_PERIOD_YEAR) with Compound's per-unit-of-utilization slopes; amounts written "100e6" are base units in
scientific notation, divided by 10^decimals; borrowCF -> ltv, liquidateCF -> liquidation_threshold,
liquidationFactor f -> liquidation_penalty 1 - f; storeFrontPriceFactor -> collateral_sale_discount_factor of
every collateral; Comet supplyCap is a real cap ("0" = nothing may be supplied), never "no cap"; tracking
speeds / indexScale -> COMP per second. The Comet proxy address, the chain, the registry ids and the base
token's decimals are registry facts supplied with the ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message

from cqc.markets.v1 import instrument_pb2, market_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record
from .gaps import raw
from .ledger import Entry, Expect, Target, mapped
from .ledgers import same

YEAR = instrument_pb2.RATE_PERIOD_YEAR
PER_UNIT = instrument_pb2.SLOPE_CONVENTION_PER_UNIT_UTILIZATION


@dataclass(frozen=True)
class CometIds:
    """Registry ids of the pool's markets / instruments and the deployments the file's addresses denote."""

    venue_id: str
    chain_id: str
    comet_address: str
    base_decimals: int
    market_ids: Mapping[str, str]
    """"base" or a collateral symbol -> "mkt_" id."""
    deposit_ids: Mapping[str, str]
    """"base" or a collateral symbol -> "ins_" id of the LendingDeposit."""
    borrow_id: str
    deployments: Mapping[str, str]
    """Lower-case token address -> "dep_" id."""
    assets: Mapping[str, str]
    """Lower-case token address -> "ast_" id."""
    receive_time: datetime
    chain_name: str = ""
    """Display name of the chain ("Ethereum"), for instrument names."""


def units(value: str, decimals: int) -> str:
    """Base units in the file's notation ("100e6", "0e18") -> whole tokens ("100", "0")."""
    return fmt(Decimal(value).scaleb(-decimals).normalize())


def plain(value: float | int) -> str:
    """A JSON number (0.0325, 0) -> decimal string."""
    return fmt(Decimal(repr(value)).normalize())


def _curve(rates: Json, side: str) -> instrument_pb2.RateCurve:
    return instrument_pb2.RateCurve(
        base_rate=plain(rates[f"{side}Base"]),
        kink=plain(rates[f"{side}Kink"]),
        slope_below_kink=plain(rates[f"{side}SlopeLow"]),
        slope_above_kink=plain(rates[f"{side}SlopeHigh"]),
        slope_convention=PER_UNIT,
        rate_period=YEAR,
    )


def _reward(p: Json, ids: CometIds, speed: str) -> instrument_pb2.RewardEmission:
    tracking = p["tracking"]
    return instrument_pb2.RewardEmission(
        reward_deployment_id=ids.deployments[p["rewardTokenAddress"].lower()],
        emission_rate=fmt((Decimal(tracking[speed]) / Decimal(tracking["indexScale"])).normalize()),
        rate_period=instrument_pb2.RATE_PERIOD_SECOND,
        min_balance=units(tracking["baseMinForRewards"], ids.base_decimals),
    )


def comet_market(payload: Json, ids: CometIds) -> dict[str, Message]:
    """A configuration.json -> {"market", "deposit", "borrow", and per collateral SYM "market:SYM",
    "deposit:SYM"}."""
    p = payload
    record = source_record("compound-v3", f"configuration.json ({p['symbol']})", payload, ids.receive_time)
    base_address = p["baseTokenAddress"].lower()
    base = instrument_pb2.LendingReserve(
        protocol="compound-v3",
        market_name=p["symbol"],
        chain_id=ids.chain_id,
        pool_address=ids.comet_address,
        underlying_deployment_id=ids.deployments[base_address],
        rate_strategy=instrument_pb2.InterestRateStrategy(
            borrow_curve=_curve(p["rates"], "borrow"), supply_curve=_curve(p["rates"], "supply")
        ),
        target_reserves=units(p["targetReserves"], ids.base_decimals),
        min_borrow=units(p["borrowMin"], ids.base_decimals),
        flags=instrument_pb2.LendingReserveFlags(active=True, borrowing_enabled=True),
        oracle_address=p["baseTokenPriceFeed"],
        decimals=ids.base_decimals,
    )
    deposit = instrument_pb2.Instrument(
        instrument_id=ids.deposit_ids["base"],
        instrument_type="LENDING_DEPOSIT",
        name=_name(ids, p, p["baseToken"], "supply"),
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[base_address],
        lending_deposit=instrument_pb2.LendingDeposit(reserve=base, rewards=[_reward(p, ids, "baseSupplySpeed")]),
        source_record=record,
    )
    borrow = instrument_pb2.Instrument(
        instrument_id=ids.borrow_id,
        instrument_type="LENDING_BORROW",
        name=_name(ids, p, p["baseToken"], "borrow"),
        status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
        base_asset_id=ids.assets[base_address],
        lending_borrow=instrument_pb2.LendingBorrow(
            reserve=base,
            rate_mode=instrument_pb2.LENDING_RATE_MODE_VARIABLE,
            rewards=[_reward(p, ids, "baseBorrowSpeed")],
        ),
        source_record=record,
    )
    out: dict[str, Message] = {
        "market": _market(ids, "base", p["symbol"], p["name"], p["baseToken"], record, ids.borrow_id),
        "deposit": deposit,
        "borrow": borrow,
    }
    for symbol, asset in p["assets"].items():
        address = asset["address"].lower()
        decimals = int(asset["decimals"])
        reserve = instrument_pb2.LendingReserve(
            protocol="compound-v3",
            market_name=p["symbol"],
            chain_id=ids.chain_id,
            pool_address=ids.comet_address,
            underlying_deployment_id=ids.deployments[address],
            ltv=plain(asset["borrowCF"]),
            liquidation_threshold=plain(asset["liquidateCF"]),
            liquidation_penalty=fmt(1 - Decimal(repr(asset["liquidationFactor"]))),
            collateral_sale_discount_factor=plain(p["storeFrontPriceFactor"]),
            supply_cap=units(asset["supplyCap"], decimals),
            flags=instrument_pb2.LendingReserveFlags(active=True, collateral_enabled=True),
            oracle_address=asset["priceFeed"],
            decimals=decimals,
        )
        out[f"deposit:{symbol}"] = instrument_pb2.Instrument(
            instrument_id=ids.deposit_ids[symbol],
            instrument_type="LENDING_DEPOSIT",
            name=_name(ids, p, symbol, "collateral"),
            status=instrument_pb2.INSTRUMENT_STATUS_ACTIVE,
            base_asset_id=ids.assets[address],
            lending_deposit=instrument_pb2.LendingDeposit(reserve=reserve),
            source_record=record,
        )
        out[f"market:{symbol}"] = _market(ids, symbol, p["symbol"], p["name"], symbol, record, None)
    return out


def _name(ids: CometIds, p: Json, token: str, role: str) -> str:
    """ "Compound v3 Ethereum cUSDCv3 USDC supply" (display text)."""
    return " ".join(x for x in ("Compound v3", ids.chain_name, p["symbol"], token, role) if x)


def _market(
    ids: CometIds, key: str, comet_symbol: str, name: str, token: str, record: object, borrow_id: str | None
) -> market_pb2.Market:
    return market_pb2.Market(
        market_id=ids.market_ids[key],
        venue_id=ids.venue_id,
        instrument_id=ids.deposit_ids[key],
        venue_symbol=f"{ids.comet_address}:{token}",
        symbol=f"{comet_symbol}:{token}",
        display_name=f"{name} ({token} {'base' if key == 'base' else 'collateral'})",
        market_type=market_pb2.MARKET_TYPE_LENDING_RESERVE,
        venue_base_symbol=token,
        status=market_pb2.MARKET_STATUS_TRADING,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        lending_reserve=market_pb2.LendingReserveSpecs(
            deposit_instrument_id=ids.deposit_ids[key], borrow_instrument_id=borrow_id
        ),
        source_record=record,  # type: ignore[arg-type]
    )


# --- Ledger -----------------------------------------------------------------------------------------------------

BASE = ("deposit", "lending_deposit.reserve"), ("borrow", "lending_borrow.reserve")


def _base(path: str, expect: object, kind: str = "plain") -> tuple[Target, ...]:
    return tuple(Target(m, f"{prefix}.{path}", expect, kind) for m, prefix in BASE)  # type: ignore[arg-type]


def _num(v: object, _r: object) -> Decimal:
    return Decimal(repr(v))


def _scaled(decimals: int) -> Expect:
    """Base units in the file's notation -> whole tokens, for a token of `decimals`."""
    return lambda v, _r: Decimal(v).scaleb(-decimals)


def comet_market_ledger(ids: CometIds, payload: Json) -> dict[str, Entry]:
    """Every key of a Comet configuration.json (rates, tracking and every collateral asset)."""
    dep = lambda v, _r: ids.deployments[str(v).lower()]  # noqa: E731
    base_units = lambda v, _r: Decimal(v).scaleb(-ids.base_decimals)  # noqa: E731
    rate = "rate_strategy"
    ledger: dict[str, Entry] = {
        "name": mapped(Target("market", "display_name", lambda v, _r: f"{v} ({payload['baseToken']} base)")),
        "symbol": mapped(
            Target("market", "symbol", lambda v, r: f"{v}:{r['baseToken']}"), *_base("market_name", lambda v, _r: v)
        ),
        "baseToken": mapped(same("market", "venue_base_symbol")),
        "baseTokenAddress": mapped(*_base("underlying_deployment_id", dep)),
        "baseTokenPriceFeed": mapped(*_base("oracle_address", lambda v, _r: v)),
        "borrowMin": mapped(*_base("min_borrow", base_units, "decimal")),
        "governor": raw("governance timelock that may change the configuration: an admin role, not a market term"),
        "pauseGuardian": raw("address allowed to pause supply/withdraw/absorb/buy: an admin role, not a market term"),
        "storeFrontPriceFactor": mapped(
            *(
                Target(f"deposit:{s}", "lending_deposit.reserve.collateral_sale_discount_factor", _num, "decimal")
                for s in payload["assets"]
            )
        ),
        "targetReserves": mapped(*_base("target_reserves", base_units, "decimal")),
        "rewardTokenAddress": mapped(
            Target("deposit", "lending_deposit.rewards[0].reward_deployment_id", dep),
            Target("borrow", "lending_borrow.rewards[0].reward_deployment_id", dep),
        ),
        "tracking.indexScale": mapped(
            Target(
                "deposit",
                "lending_deposit.rewards[0].emission_rate",
                lambda v, r: Decimal(r["tracking"]["baseSupplySpeed"]) / Decimal(v),
                "decimal",
            ),
        ),
        "tracking.baseSupplySpeed": mapped(
            Target(
                "deposit",
                "lending_deposit.rewards[0].emission_rate",
                lambda v, r: Decimal(v) / Decimal(r["tracking"]["indexScale"]),
                "decimal",
            ),
            Target("deposit", "lending_deposit.rewards[0].rate_period", lambda _v, _r: 1),
        ),
        "tracking.baseBorrowSpeed": mapped(
            Target(
                "borrow",
                "lending_borrow.rewards[0].emission_rate",
                lambda v, r: Decimal(v) / Decimal(r["tracking"]["indexScale"]),
                "decimal",
            ),
            Target("borrow", "lending_borrow.rewards[0].rate_period", lambda _v, _r: 1),
        ),
        "tracking.baseMinForRewards": mapped(
            Target("deposit", "lending_deposit.rewards[0].min_balance", base_units, "decimal"),
            Target("borrow", "lending_borrow.rewards[0].min_balance", base_units, "decimal"),
        ),
    }
    for side in ("supply", "borrow"):
        curve = f"{rate}.{side}_curve"
        for key, field in (
            ("Kink", "kink"),
            ("SlopeLow", "slope_below_kink"),
            ("SlopeHigh", "slope_above_kink"),
            ("Base", "base_rate"),
        ):
            ledger[f"rates.{side}{key}"] = mapped(
                *_base(f"{curve}.{field}", _num, "decimal"),
                *_base(f"{curve}.rate_period", lambda _v, _r: YEAR),
                *_base(f"{curve}.slope_convention", lambda _v, _r: PER_UNIT),
            )
    for symbol in payload["assets"]:
        msg, res = f"deposit:{symbol}", "lending_deposit.reserve"
        decimals = int(payload["assets"][symbol]["decimals"])
        prefix = f"assets.{symbol}"
        ledger[f"{prefix}.address"] = mapped(
            Target(msg, f"{res}.underlying_deployment_id", dep),
            Target(msg, "base_asset_id", lambda v, _r: ids.assets[str(v).lower()]),
        )
        ledger[f"{prefix}.priceFeed"] = mapped(Target(msg, f"{res}.oracle_address", lambda v, _r: v))
        ledger[f"{prefix}.decimals"] = mapped(Target(msg, f"{res}.decimals", lambda v, _r: int(v)))
        ledger[f"{prefix}.borrowCF"] = mapped(Target(msg, f"{res}.ltv", _num, "decimal"))
        ledger[f"{prefix}.liquidateCF"] = mapped(Target(msg, f"{res}.liquidation_threshold", _num, "decimal"))
        ledger[f"{prefix}.liquidationFactor"] = mapped(
            Target(msg, f"{res}.liquidation_penalty", lambda v, _r: 1 - Decimal(repr(v)), "decimal")
        )
        ledger[f"{prefix}.supplyCap"] = mapped(
            Target(
                msg,
                f"{res}.supply_cap",
                _scaled(decimals),
                "decimal",
            )
        )
    return ledger
