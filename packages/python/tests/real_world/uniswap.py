"""Uniswap v3 subgraph Pool entity -> AMM_POOL Market and the AssetDeployments of token0 / token1.

Conversions (AmmPoolSpecs / AmmPoolState comments): feeTier in 1e-6 units -> fee_tier verbatim and fee_rate
= feeTier / 1e6; the subgraph's token0Price is token0 per token1, i.e. AmmPoolState.token1_price (and
token1Price is token0_price); tick spacing is fixed per fee tier by the v3 factory (100: 1, 500: 10, 3000: 60,
10000: 200); createdAtTimestamp is epoch seconds; token amounts are already whole tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.assets.v1 import deployment_pb2
from cqc.markets.v1 import market_pb2, market_rules_pb2
from cqc.types.v1.source_pb2 import SourceRecord
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record

# UniswapV3Factory constructor: feeAmountTickSpacing[500] = 10, [3000] = 60, [10000] = 200; enableFeeAmount(100, 1).
V3_TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


@dataclass(frozen=True)
class PoolIds:
    """Registry ids and the facts the Pool entity does not carry (chain, factory, the tokens' registry view)."""

    market_id: str
    venue_id: str
    instrument_id: str
    chain_id: str
    factory_address: str
    deployments: Mapping[str, str]
    """Lower-case token address -> "dep_" id."""
    assets: Mapping[str, str]
    """Lower-case token address -> "ast_" id."""
    receive_time: datetime


def seconds(value: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(int(value))
    return stamp


def fee_rate(fee_tier: str) -> str:
    """feeTier in hundredths of a basis point -> fraction (500 -> "0.0005")."""
    return fmt(Decimal(int(fee_tier)).scaleb(-6))


def _deployment(token: Json, ids: PoolIds, record: SourceRecord) -> deployment_pb2.AssetDeployment:
    address = token["id"]
    return deployment_pb2.AssetDeployment(
        deployment_id=ids.deployments[address.lower()],
        asset_id=ids.assets[address.lower()],
        chain_id=ids.chain_id,
        token_standard=deployment_pb2.TOKEN_STANDARD_ERC20,
        address=address,
        decimals=int(token["decimals"]),
        symbol=token["symbol"],
        name=token["name"],
        kind=deployment_pb2.DEPLOYMENT_KIND_CANONICAL,
        status=deployment_pb2.DEPLOYMENT_STATUS_ACTIVE,
        source_record=record,
    )


def uniswap_v3_pool(payload: Json, ids: PoolIds) -> dict[str, Message]:
    """One subgraph Pool -> {"market", "token0", "token1"}."""
    p = payload
    record = source_record("uniswap-v3-subgraph", f'graphql pool(id: "{p["id"]}")', payload, ids.receive_time)
    base, quote = p["token0"]["symbol"], p["token1"]["symbol"]
    fee = fee_rate(p["feeTier"])
    created = seconds(p["createdAtTimestamp"])
    percent = fmt(Decimal(int(p["feeTier"])).scaleb(-4).normalize())
    market = market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=p["id"],
        symbol=f"{base}/{quote}",
        display_name=f"Uniswap v3 {base}/{quote} {percent}%",
        market_type=market_pb2.MARKET_TYPE_AMM_POOL,
        venue_base_symbol=base,
        venue_quote_symbol=quote,
        status=market_pb2.MARKET_STATUS_TRADING,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        fees=market_rules_pb2.FeeSchedule(
            maker_fee_rate=fee, taker_fee_rate=fee, fee_side=market_rules_pb2.FEE_SIDE_GIVE
        ),
        listing_time=created,
        amm_pool=market_pb2.AmmPoolSpecs(
            chain_id=ids.chain_id,
            dex_name="uniswap-v3",
            factory_address=ids.factory_address,
            amm_type=market_pb2.AMM_TYPE_CLAMM,
            pool_address=p["id"],
            tokens=[
                market_pb2.AmmPoolToken(deployment_id=ids.deployments[p["token0"]["id"].lower()]),
                market_pb2.AmmPoolToken(deployment_id=ids.deployments[p["token1"]["id"].lower()]),
            ],
            fee_tier=int(p["feeTier"]),
            fee_rate=fee,
            tick_spacing=V3_TICK_SPACING.get(int(p["feeTier"])),
            creation_block=int(p["createdAtBlockNumber"]),
            creation_time=created,
            state=market_pb2.AmmPoolState(
                liquidity=p["liquidity"],
                sqrt_price_x96=p["sqrtPrice"],
                tick=None if p["tick"] is None else int(p["tick"]),
                token0_price=p["token1Price"],
                token1_price=p["token0Price"],
                tokens=[
                    market_pb2.AmmPoolTokenState(
                        deployment_id=ids.deployments[p["token0"]["id"].lower()], balance=p["totalValueLockedToken0"]
                    ),
                    market_pb2.AmmPoolTokenState(
                        deployment_id=ids.deployments[p["token1"]["id"].lower()], balance=p["totalValueLockedToken1"]
                    ),
                ],
                tvl_usd=p["totalValueLockedUSD"],
                volume_usd=p["volumeUSD"],
                fees_usd=p["feesUSD"],
                fee_growth_global0_x128=p["feeGrowthGlobal0X128"],
                fee_growth_global1_x128=p["feeGrowthGlobal1X128"],
            ),
        ),
        source_record=record,
    )
    return {
        "market": market,
        "token0": _deployment(p["token0"], ids, record),
        "token1": _deployment(p["token1"], ids, record),
    }
