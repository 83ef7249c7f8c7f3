"""N-token AMM pools -> AMM_POOL Market (AmmPoolSpecs with per-token entries and state) plus the
AssetDeployments of the pool's tokens and, for the Curve API, the USD prices it publishes per coin.

Sources:
  - Balancer v2 subgraph Pool with tokens { address balance decimals symbol weight priceRate } (a
    ComposableStable pool: its own BPT is one of its tokens);
  - Curve API GET /v1/getPools/<chain>/<registry> element (a metapool over 3pool, with its underlying coins,
    gauge rewards and CRV APYs).
Conversions (AmmPoolSpecs / AmmPoolToken / AmmPoolTokenState / AmmAmplification / RewardEmission comments):
the subgraph's amounts are whole tokens already; Curve's poolBalance / totalSupply are base units
(/ 10^decimals), virtualPrice 1e18 fixed point; the published amplification is the unscaled A (precision 1);
Curve APYs are percent (/ 100); zero addresses in coinsAddresses are unused slots. The chain, the Balancer v2
Vault, the CRV token and the registry ids are registry facts supplied with the ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.assets.v1 import deployment_pb2
from cqc.markets.v1 import instrument_pb2, market_data_pb2, market_pb2
from cqc.venues.v1 import trading_pb2

from .convert import Json, fmt, source_record
from .gaps import raw
from .ledger import UNSET, Entry, Expect, Target, mapped
from .ledgers import same

MKT = "market"


def const(value: object) -> Expect:
    """The expected value is a fact of the record fixed when the ledger is built (a per-token key checked on
    that token's own message)."""
    return lambda _v, _r: value


def nth_int(index: int) -> Expect:
    """Element `index` of a list of integer strings ("18", "6") as an int."""
    return lambda v, _r: int(v[index])


ZERO = "0x0000000000000000000000000000000000000000"
SPEC, STATE = "amm_pool", "amm_pool.state"


@dataclass(frozen=True)
class AmmIds:
    """Registry ids of the pool's market and instrument and of the tokens its addresses denote."""

    market_id: str
    venue_id: str
    instrument_id: str
    chain_id: str
    chains: Mapping[str, str]
    """Curve blockchainId -> "chn_" id."""
    deployments: Mapping[str, str]
    """Lower-case token address -> "dep_" id."""
    assets: Mapping[str, str]
    """Lower-case token address -> "ast_" id."""
    usd_asset_id: str
    receive_time: datetime
    vault_address: str = ""
    """Balancer v2 Vault on the chain (registry fact)."""
    crv_deployment_id: str = ""
    """The CRV token on the chain, paid by Curve gauges (registry fact)."""


def _deployment(address: str, decimals: int, symbol: str, name: str, ids: AmmIds, record: object) -> Message:
    return deployment_pb2.AssetDeployment(
        deployment_id=ids.deployments[address.lower()],
        asset_id=ids.assets[address.lower()],
        chain_id=ids.chain_id,
        token_standard=deployment_pb2.TOKEN_STANDARD_ERC20,
        address=address,
        decimals=decimals,
        symbol=symbol,
        name=name,
        source_record=record,  # type: ignore[arg-type]
    )


def _market(ids: AmmIds, venue_symbol: str, symbol: str, name: str, record: object, spec: Message) -> Message:
    return market_pb2.Market(
        market_id=ids.market_id,
        venue_id=ids.venue_id,
        instrument_id=ids.instrument_id,
        venue_symbol=venue_symbol,
        symbol=symbol,
        display_name=name,
        market_type=market_pb2.MARKET_TYPE_AMM_POOL,
        status=market_pb2.MARKET_STATUS_TRADING,
        quantity_unit=trading_pb2.QUANTITY_UNIT_BASE,
        amm_pool=spec,  # type: ignore[arg-type]
        source_record=record,  # type: ignore[arg-type]
    )


# --- Balancer v2 subgraph ---------------------------------------------------------------------------------------

BALANCER_AMM_TYPE = {
    "Weighted": market_pb2.AMM_TYPE_WEIGHTED_POOL,
    "Stable": market_pb2.AMM_TYPE_STABLE_SWAP,
    "MetaStable": market_pb2.AMM_TYPE_STABLE_SWAP,
    "ComposableStable": market_pb2.AMM_TYPE_COMPOSABLE_POOL,
}


def balancer_pool(payload: Json, ids: AmmIds) -> dict[str, Message]:
    """One subgraph Pool -> {"market", "token0".."tokenN"}."""
    p = payload
    record = source_record("balancer-v2-subgraph", f'graphql pool(id: "{p["id"]}")', payload, ids.receive_time)
    tokens = {t["address"]: t for t in p["tokens"]}
    ordered = [tokens[a] for a in p["tokensList"]]
    spec = market_pb2.AmmPoolSpecs(
        chain_id=ids.chain_id,
        dex_name="balancer-v2",
        amm_type=BALANCER_AMM_TYPE[p["poolType"]],
        pool_address=p["address"],
        pool_id=p["id"],
        vault_address=ids.vault_address,
        lp_token_deployment_id=ids.deployments[p["address"].lower()],
        fee_rate=p["swapFee"],
        tokens=[
            market_pb2.AmmPoolToken(deployment_id=ids.deployments[t["address"].lower()], weight=t["weight"])
            for t in ordered
        ],
        state=market_pb2.AmmPoolState(
            tokens=[
                market_pb2.AmmPoolTokenState(
                    deployment_id=ids.deployments[t["address"].lower()], balance=t["balance"], rate=t["priceRate"]
                )
                for t in ordered
            ],
            lp_token_supply=p["totalShares"],
        ),
    )
    if p.get("amp") is not None:
        spec.state.amplification.CopyFrom(market_pb2.AmmAmplification(value=p["amp"], precision=1))
    symbols = "/".join(t["symbol"] for t in ordered)
    out: dict[str, Message] = {
        MKT: _market(ids, p["address"], symbols, f"Balancer v2 {p['poolType']} {symbols}", record, spec)
    }
    for i, t in enumerate(ordered):
        out[f"token{i}"] = _deployment(t["address"], int(t["decimals"]), t["symbol"], t["symbol"], ids, record)
    return out


def balancer_pool_ledger(ids: AmmIds, payload: Json) -> dict[str, Entry]:
    """Every key of a subgraph Pool with tokens (the SOR's query shape)."""
    order = {a: i for i, a in enumerate(payload["tokensList"])}
    dep = lambda v, _r: ids.deployments[str(v).lower()]  # noqa: E731
    ledger: dict[str, Entry] = {
        "id": mapped(same(MKT, f"{SPEC}.pool_id")),
        "address": mapped(
            same(MKT, "venue_symbol"),
            same(MKT, f"{SPEC}.pool_address"),
            Target(MKT, f"{SPEC}.lp_token_deployment_id", dep),
        ),
        "poolType": mapped(Target(MKT, f"{SPEC}.amm_type", lambda v, _r: BALANCER_AMM_TYPE[v])),
        "swapFee": mapped(Target(MKT, f"{SPEC}.fee_rate", lambda v, _r: Decimal(v), "decimal")),
        "totalShares": mapped(Target(MKT, f"{STATE}.lp_token_supply", lambda v, _r: Decimal(v), "decimal")),
        "amp": mapped(
            Target(MKT, f"{STATE}.amplification.value", lambda v, _r: Decimal(v), "decimal"),
            Target(MKT, f"{STATE}.amplification.precision", lambda _v, _r: 1),
        ),
        "tokensList": mapped(
            *(
                Target(MKT, f"{SPEC}.tokens[{i}].deployment_id", const(ids.deployments[a.lower()]))
                for i, a in enumerate(payload["tokensList"])
            )
        ),
        "tokens[*].id": raw("the subgraph's PoolToken entity key, '<pool id>-<token address>': derivable"),
    }
    # Per token: the subgraph lists tokens in tokensList order here; each key is checked at the token's
    # position in tokensList (the contract's order).
    for i, t in enumerate(payload["tokens"]):
        assert order[t["address"]] == i, "tokens are expected in tokensList order"
    ledger["tokens[*].address"] = mapped(
        Target(MKT, f"{SPEC}.tokens[{{i}}].deployment_id", dep),
        Target(MKT, f"{STATE}.tokens[{{i}}].deployment_id", dep),
    )
    ledger["tokens[*].balance"] = mapped(
        Target(MKT, f"{STATE}.tokens[{{i}}].balance", lambda v, _r: Decimal(v), "decimal")
    )
    ledger["tokens[*].weight"] = mapped(
        Target(MKT, f"{SPEC}.tokens[{{i}}].weight", lambda v, _r: UNSET if v is None else Decimal(v), "decimal")
    )
    ledger["tokens[*].priceRate"] = mapped(
        Target(MKT, f"{STATE}.tokens[{{i}}].rate", lambda v, _r: Decimal(v), "decimal")
    )
    ledger["tokens[*].decimals"] = mapped(
        *(Target(f"token{n}", "decimals", const(int(t["decimals"]))) for n, t in enumerate(payload["tokens"]))
    )
    ledger["tokens[*].symbol"] = mapped(
        *(Target(f"token{n}", "symbol", const(t["symbol"])) for n, t in enumerate(payload["tokens"]))
    )
    return ledger


# --- Curve API ----------------------------------------------------------------------------------------------------


def _units(value: str, decimals: int | str) -> str:
    return fmt(Decimal(int(value)).scaleb(-int(decimals)))


def _apr(percent: float | int) -> str:
    return fmt(Decimal(repr(percent)).scaleb(-2).normalize()) if percent else "0"


def _usd_price(coin: Json, ids: AmmIds, record: object) -> Message:
    price = market_data_pb2.Price(
        asset_id=ids.assets[coin["address"].lower()],
        price_type=market_data_pb2.PRICE_TYPE_REFERENCE,
        value=fmt(Decimal(repr(coin["usdPrice"]))),
        quote_asset_id=ids.usd_asset_id,
        source="curve-api",
        source_type=market_data_pb2.PRICE_SOURCE_TYPE_AGGREGATOR,
        source_record=record,  # type: ignore[arg-type]
    )
    price.receive_time.FromDatetime(ids.receive_time)
    return price


def curve_pool(payload: Json, ids: AmmIds) -> dict[str, Message]:
    """One getPools element -> {"market", "coin:<address>" deployments, "usd:<address>" prices}."""
    p = payload
    record = source_record(
        "curve-api", f"GET /v1/getPools/{p['blockchainId']}/{p['registryId']}", payload, ids.receive_time
    )

    def dep(address: str) -> str:
        return ids.deployments[address.lower()]

    coins = p["coins"]
    rewards = [
        instrument_pb2.RewardEmission(
            reward_deployment_id=dep(g["tokenAddress"]), apr=_apr(g["apy"]), distributor_address=g["gaugeAddress"]
        )
        for g in p["gaugeRewards"]
    ]
    if p.get("gaugeCrvApy"):
        low, high = p["gaugeCrvApy"]
        crv = instrument_pb2.RewardEmission(
            reward_deployment_id=ids.crv_deployment_id,
            apr=_apr(low),
            max_apr=_apr(high),
            distributor_address=p["gaugeAddress"],
        )
        if p.get("gaugeFutureCrvApy"):
            crv.projected_apr, crv.projected_max_apr = (_apr(v) for v in p["gaugeFutureCrvApy"])
        rewards.append(crv)
    created = Timestamp()
    created.FromSeconds(int(p["creationTs"]))
    spec = market_pb2.AmmPoolSpecs(
        chain_id=ids.chains[p["blockchainId"]],
        dex_name="curve",
        amm_type=market_pb2.AMM_TYPE_STABLE_SWAP,
        pool_address=p["address"],
        tokens=[
            market_pb2.AmmPoolToken(deployment_id=dep(c["address"]), base_pool_share=c["isBasePoolLpToken"])
            for c in coins
        ],
        lp_token_deployment_id=dep(p["lpTokenAddress"]),
        base_pool_address=p["basePoolAddress"] if p["isMetaPool"] else "",
        underlying_deployment_ids=[dep(c["address"]) for c in p["underlyingCoins"]] if p["isMetaPool"] else [],
        rewards=rewards,
        deposit_zap_address=p.get("zapAddress") or "",
        exchange_received_supported=p["hasMethods"]["exchange_received"],
        exchange_extended_supported=p["hasMethods"]["exchange_extended"],
        creation_block=int(p["creationBlockNumber"]),
        creation_time=created,
        state=market_pb2.AmmPoolState(
            tokens=[
                market_pb2.AmmPoolTokenState(
                    deployment_id=dep(c["address"]), balance=_units(c["poolBalance"], c["decimals"])
                )
                for c in coins
            ],
            underlying_tokens=[
                market_pb2.AmmPoolTokenState(
                    deployment_id=dep(c["address"]), balance=_units(c["poolBalance"], c["decimals"])
                )
                for c in (p["underlyingCoins"] if p["isMetaPool"] else [])
            ],
            amplification=market_pb2.AmmAmplification(value=p["amplificationCoefficient"], precision=1),
            lp_token_supply=_units(p["totalSupply"], 18),
            virtual_price=_units(p["virtualPrice"], 18),
            tvl_usd=fmt(Decimal(repr(p["usdTotal"]))),
        ),
    )
    if p["priceOracle"] is not None:  # the pool's EMA oracle: price of coins[1] in coins[0]
        spec.state.tokens[1].oracle_price = fmt(Decimal(repr(p["priceOracle"])))
    market = _market(ids, p["address"], "/".join(c["symbol"] for c in coins), p["name"], record, spec)
    market.venue_numeric_id = p["id"]  # type: ignore[attr-defined]
    market.venue_tags.append(f"registry:{p['registryId']}")  # type: ignore[attr-defined]
    if p["isBroken"]:
        market.status = market_pb2.MARKET_STATUS_HALTED  # type: ignore[attr-defined]
    out: dict[str, Message] = {MKT: market}
    for c in [*coins, *p["underlyingCoins"]]:
        key = c["address"].lower()
        out[f"coin:{key}"] = _deployment(c["address"], int(c["decimals"]), c["symbol"], c["name"], ids, record)
        out[f"usd:{key}"] = _usd_price(c, ids, record)
    return out


def curve_pool_ledger(ids: AmmIds, payload: Json) -> dict[str, Entry]:
    """Every key of a getPools element (stableswap / metapool shape)."""
    p = payload
    dep = lambda v, _r: ids.deployments[str(v).lower()]  # noqa: E731
    live = [a for a in p["coinsAddresses"] if a != ZERO]
    under = [c["address"] for c in p["underlyingCoins"]]
    ledger: dict[str, Entry] = {
        "id": mapped(same(MKT, "venue_numeric_id")),
        "address": mapped(same(MKT, "venue_symbol"), same(MKT, f"{SPEC}.pool_address")),
        "coinsAddresses": mapped(
            *(
                Target(MKT, f"{SPEC}.tokens[{i}].deployment_id", const(ids.deployments[a.lower()]))
                for i, a in enumerate(live)
            ),
            Target(MKT, f"{SPEC}.tokens[{len(live)}].deployment_id", lambda _v, _r: UNSET),
        ),
        "decimals": mapped(*(Target(f"coin:{a.lower()}", "decimals", nth_int(i)) for i, a in enumerate(live))),
        "underlyingDecimals": mapped(
            *(Target(f"coin:{a.lower()}", "decimals", nth_int(i)) for i, a in enumerate(under))
        ),
        "virtualPrice": mapped(
            Target(MKT, f"{STATE}.virtual_price", lambda v, _r: Decimal(int(v)).scaleb(-18), "decimal")
        ),
        "amplificationCoefficient": mapped(
            Target(MKT, f"{STATE}.amplification.value", lambda v, _r: Decimal(v), "decimal"),
            Target(MKT, f"{STATE}.amplification.precision", lambda _v, _r: 1),
        ),
        "totalSupply": mapped(
            Target(MKT, f"{STATE}.lp_token_supply", lambda v, _r: Decimal(int(v)).scaleb(-18), "decimal")
        ),
        "name": mapped(same(MKT, "display_name")),
        "assetType": raw("Curve's numeric peg class of the pool (0 = USD): a UI grouping, as assetTypeName"),
        "assetTypeName": raw("Curve's peg class name of the pool ('usd', 'eth', 'btc', 'crypto'): a UI grouping"),
        "priceOracle": mapped(
            Target(
                MKT,
                f"{STATE}.tokens[1].oracle_price",
                lambda v, _r: UNSET if v is None else Decimal(repr(v)),
                "decimal",
            )
        ),
        "implementation": raw("name of the pool's implementation template ('' here): a deployment detail"),
        "zapAddress": mapped(same(MKT, f"{SPEC}.deposit_zap_address")),
        "coins[*].address": mapped(
            Target(MKT, f"{SPEC}.tokens[{{i}}].deployment_id", dep),
            Target(MKT, f"{STATE}.tokens[{{i}}].deployment_id", dep),
        ),
        "coins[*].usdPrice": mapped(
            *(
                Target(f"usd:{c['address'].lower()}", "value", const(Decimal(repr(c["usdPrice"]))), "decimal")
                for c in p["coins"]
            )
        ),
        "coins[*].decimals": mapped(
            *(Target(f"coin:{c['address'].lower()}", "decimals", const(int(c["decimals"]))) for c in p["coins"])
        ),
        "coins[*].isBasePoolLpToken": mapped(Target(MKT, f"{SPEC}.tokens[{{i}}].base_pool_share", lambda v, _r: v)),
        "coins[*].symbol": mapped(
            *(Target(f"coin:{c['address'].lower()}", "symbol", const(c["symbol"])) for c in p["coins"])
        ),
        "coins[*].name": mapped(
            *(Target(f"coin:{c['address'].lower()}", "name", const(c["name"])) for c in p["coins"])
        ),
        "coins[*].poolBalance": mapped(
            Target(
                MKT,
                f"{STATE}.tokens[{{i}}].balance",
                lambda v, r: Decimal(int(v)).scaleb(-int(_coin_of(r, "coins", v)["decimals"])),
                "decimal",
            )
        ),
        "poolUrls.swap": raw("links to the Curve UI"),
        "poolUrls.deposit": raw("links to the Curve UI"),
        "poolUrls.withdraw": raw("links to the Curve UI"),
        "lpTokenAddress": mapped(Target(MKT, f"{SPEC}.lp_token_deployment_id", dep)),
        "usdTotal": mapped(Target(MKT, f"{STATE}.tvl_usd", lambda v, _r: Decimal(repr(v)), "decimal")),
        "isMetaPool": mapped(Target(MKT, f"{SPEC}.base_pool_address", lambda v, r: r["basePoolAddress"] if v else "")),
        "basePoolAddress": mapped(same(MKT, f"{SPEC}.base_pool_address")),
        "underlyingCoins[*].address": mapped(Target(MKT, f"{SPEC}.underlying_deployment_ids[{{i}}]", dep)),
        "underlyingCoins[*].usdPrice": mapped(
            *(
                Target(f"usd:{c['address'].lower()}", "value", const(Decimal(repr(c["usdPrice"]))), "decimal")
                for c in p["underlyingCoins"]
            )
        ),
        "underlyingCoins[*].decimals": mapped(
            *(
                Target(f"coin:{c['address'].lower()}", "decimals", const(int(c["decimals"])))
                for c in p["underlyingCoins"]
            )
        ),
        "underlyingCoins[*].isBasePoolLpToken": raw("always false for underlying coins: restates that they are not LP"),
        "underlyingCoins[*].symbol": mapped(
            *(Target(f"coin:{c['address'].lower()}", "symbol", const(c["symbol"])) for c in p["underlyingCoins"])
        ),
        "underlyingCoins[*].name": mapped(
            *(Target(f"coin:{c['address'].lower()}", "name", const(c["name"])) for c in p["underlyingCoins"])
        ),
        "underlyingCoins[*].poolBalance": mapped(
            Target(
                MKT,
                f"{STATE}.underlying_tokens[{{i}}].balance",
                lambda v, r: Decimal(int(v)).scaleb(-int(_coin_of(r, "underlyingCoins", v)["decimals"])),
                "decimal",
            )
        ),
        "usdTotalExcludingBasePool": raw("TVL without the base-pool LP token's value: derived from the balances"),
        "gaugeAddress": mapped(
            Target(MKT, f"{SPEC}.rewards[{len(p['gaugeRewards'])}].distributor_address", lambda v, _r: v)
        ),
        "gaugeRewards[*].gaugeAddress": mapped(
            Target(MKT, f"{SPEC}.rewards[{{i}}].distributor_address", lambda v, _r: v)
        ),
        "gaugeRewards[*].tokenPrice": raw(
            "the reward token's USD price as Curve's API values it: a Price observation "
            "of the reward token, not of the pool"
        ),
        "gaugeRewards[*].name": raw("display name of the reward token (the registry's AssetDeployment holds it)"),
        "gaugeRewards[*].symbol": raw("ticker of the reward token (the registry's AssetDeployment holds it)"),
        "gaugeRewards[*].decimals": raw("decimals of the reward token (the registry's AssetDeployment holds them)"),
        "gaugeRewards[*].apy": mapped(
            Target(MKT, f"{SPEC}.rewards[{{i}}].apr", lambda v, _r: Decimal(repr(v)) / 100, "decimal")
        ),
        "gaugeRewards[*].tokenAddress": mapped(Target(MKT, f"{SPEC}.rewards[{{i}}].reward_deployment_id", dep)),
        "gaugeCrvApy": mapped(
            Target(
                MKT, f"{SPEC}.rewards[{len(p['gaugeRewards'])}].apr", lambda v, _r: Decimal(repr(v[0])) / 100, "decimal"
            ),
            Target(
                MKT,
                f"{SPEC}.rewards[{len(p['gaugeRewards'])}].max_apr",
                lambda v, _r: Decimal(repr(v[1])) / 100,
                "decimal",
            ),
        ),
        "gaugeFutureCrvApy": mapped(
            Target(
                MKT,
                f"{SPEC}.rewards[{len(p['gaugeRewards'])}].projected_apr",
                lambda v, _r: Decimal(repr(v[0])) / 100,
                "decimal",
            ),
            Target(
                MKT,
                f"{SPEC}.rewards[{len(p['gaugeRewards'])}].projected_max_apr",
                lambda v, _r: Decimal(repr(v[1])) / 100,
                "decimal",
            ),
        ),
        "usesRateOracle": mapped(
            *(
                Target(MKT, f"{SPEC}.tokens[{i}].rate_provider_address", lambda v, _r: UNSET if v else "")
                for i in range(len(live))
            )
        ),
        "isBroken": mapped(
            Target(
                MKT, "status", lambda v, _r: market_pb2.MARKET_STATUS_HALTED if v else market_pb2.MARKET_STATUS_TRADING
            )
        ),
        "hasMethods.exchange_received": mapped(Target(MKT, f"{SPEC}.exchange_received_supported", lambda v, _r: v)),
        "hasMethods.exchange_extended": mapped(Target(MKT, f"{SPEC}.exchange_extended_supported", lambda v, _r: v)),
        "creationTs": mapped(Target(MKT, f"{SPEC}.creation_time", lambda v, _r: int(v) * 1000, "time")),
        "creationBlockNumber": mapped(Target(MKT, f"{SPEC}.creation_block", lambda v, _r: int(v))),
        "blockchainId": mapped(Target(MKT, f"{SPEC}.chain_id", lambda v, _r: ids.chains[v])),
        "registryId": mapped(Target(MKT, "venue_tags", lambda v, _r: [v], "tags", tag="registry")),
    }
    return ledger


def _coin_of(root: Json, group: str, balance: str) -> Json:
    return next(c for c in root[group] if c["poolBalance"] == balance)
