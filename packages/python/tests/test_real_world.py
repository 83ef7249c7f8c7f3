"""Real venue records (testdata/real-world) map into the contract without loss.

For every record: the mapped messages are valid; a ledger accounts for every key of the payload (mapped to a
named field with its documented conversion and the value checked, or kept only in source_record with a reason);
the mapped messages agree with the hand-made examples on every field both set; binary and JSON round trips keep
them equal. A new key in a record of a known kind fails until the ledger and mapper account for it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from conftest import TESTDATA
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from real_world import (
    ExecutionIds,
    ListingIds,
    binance_execution_report,
    binance_spot_symbol,
    binance_usdm_symbol,
    okx_instrument,
)
from real_world.aave import AaveReserveIds, aave_reserve
from real_world.bybit import bybit_instrument
from real_world.coinbase import coinbase_product
from real_world.deribit import deribit_instrument
from real_world.fix import fix_fields
from real_world.issue10 import issue10_kinds, stand_in
from real_world.ledger import Account, Entry, account, is_decimal_field
from real_world.ledgers import binance_execution_report_ledger, binance_spot_ledger, binance_usdm_ledger, okx_ledger
from real_world.ledgers_defi import aave_reserve_ledger, uniswap_v3_pool_ledger
from real_world.ledgers_venues import bybit_ledger, coinbase_ledger, deribit_ledger
from real_world.uniswap import PoolIds, uniswap_v3_pool

from cqc.assets.v1 import deployment_pb2, relationship_pb2
from cqc.markets.v1 import instrument_pb2, market_pb2
from cqc.validation import violations
from cqc.venues.v1 import execution_pb2

REAL_WORLD = TESTDATA / "real-world"
EXAMPLES = TESTDATA / "examples"

# The ids of the hand-made examples (testdata/examples), so that mapped and hand-made messages compare.
BTC, USDT, USD = "ast_01JDBTC0000000000000000000", "ast_01JDVSDT000000000000000000", "ast_01JDFVSD000000000000000000"
ETH, BNB, BUSD = "ast_01JDETH0000000000000000000", "ast_01JDBNB0000000000000000000", "ast_01JDBVSD000000000000000000"
ASSETS = {"BTC": BTC, "USDT": USDT, "USD": USD, "ETH": ETH, "BNB": BNB, "BUSD": BUSD}
REGISTRY_TIME = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)

SPOT_IDS = ListingIds(
    market_id="mkt_01JDBNBTCVSDTSP0T000000000",
    instrument_id="ins_01JDBTCVSDTSPT000000000000",
    venue_id="ven_01JDB1NANCE000000000000000",
    assets=ASSETS,
    receive_time=REGISTRY_TIME,
)
USDM_IDS = ListingIds(
    market_id="mkt_01JDBNBTCVSDTPERP000000000",
    instrument_id="ins_01JDBTCVSDTPERP00000000000",
    venue_id="ven_01JDB1NANCEFVTVRES00000000",
    assets=ASSETS,
    receive_time=REGISTRY_TIME,
)
OKX_IDS = ListingIds(
    market_id="mkt_01JD0KXBTCVSDSWAP000000000",
    instrument_id="ins_01JDBTCVSDSWAP0KX000000000",
    venue_id="ven_01JD0KX0000000000000000000",
    assets=ASSETS,
    receive_time=REGISTRY_TIME,
)
DERIBIT_VENUE = "ven_01JDDER1B1T000000000000000"
DERIBIT_FUTURE_IDS = ListingIds(
    market_id="mkt_01JDDRBBTC29SEP23000000000",
    instrument_id="ins_01JDBTC29SEP23DRB000000000",
    venue_id=DERIBIT_VENUE,
    assets=ASSETS,
    receive_time=REGISTRY_TIME,
)
DERIBIT_OPTION_IDS = ListingIds(
    market_id="mkt_01JDDRBBTC13JAN2316000P000",
    instrument_id="ins_01JDBTC13JAN2316000P000000",
    venue_id=DERIBIT_VENUE,
    assets=ASSETS,
    receive_time=REGISTRY_TIME,
)
BINANCE_SPOT_MARKETS = {"ETHUSDT": "mkt_01JDBNETHVSDTSP0T000000000", "ETHBTC": "mkt_01JDBNETHBTCSP0T0000000000"}
TRADE_IDS = ExecutionIds(
    exec_id="exe_01JDBNETHVSDTTRADE00000000",
    order_id="ord_01JDBNETHVSDTBVY0000000000",
    account_id="acc_01JDBNSP0TMA1N000000000000",
    venue_id="ven_01JDB1NANCE000000000000000",
    markets=BINANCE_SPOT_MARKETS,
    assets=ASSETS,
    receive_time=datetime(2024, 3, 5, 16, 0, 1, 12000, tzinfo=UTC),
)
NEW_IDS = ExecutionIds(
    exec_id="exe_01JDBNETHBTCNEW00000000000",
    account_id="acc_01JDBNSP0TMA1N000000000000",
    venue_id="ven_01JDB1NANCE000000000000000",
    markets=BINANCE_SPOT_MARKETS,
    assets=ASSETS,
    receive_time=datetime(2017, 7, 7, 5, 34, 18, 667000, tzinfo=UTC),
)

Mapper = Callable[[Any], dict[str, Message]]
LedgerFor = Callable[[Any], Mapping[str, Entry]]


@dataclass(frozen=True)
class Case:
    """One payload of one record file, how to map it, its ledger, and the hand-made examples it should match."""

    record: str
    key: str
    map: Mapper
    ledger: LedgerFor
    examples: Mapping[str, str]
    known_differences: tuple[str, ...] = ()
    """Differences from the hand-made examples that are understood (each explained where the case is built)."""

    @property
    def id(self) -> str:
        return f"{self.record}:{self.key}"

    def payload(self) -> Any:
        value = json.loads((REAL_WORLD / self.record).read_text())[self.key]
        # A text payload is a FIX tag=value message (the only non-JSON kind here): accounted field by field.
        return fix_fields(value) if isinstance(value, str) else value


def _listing(mapper: Callable[[Any, ListingIds], tuple[Message, Message]], ids: ListingIds) -> Mapper:
    def run(payload: Any) -> dict[str, Message]:
        instrument, market = mapper(payload, ids)
        return {"instrument": instrument, "market": market}

    return run


def _execution(ids: ExecutionIds) -> Mapper:
    return lambda payload: {"report": binance_execution_report(payload, ids)}


EXAMPLE_CASES = [
    Case(
        "binance-spot-btcusdt-symbol.json",
        "payload",
        _listing(binance_spot_symbol, SPOT_IDS),
        lambda _p: binance_spot_ledger(ASSETS),
        {
            "instrument": "cqc.markets.v1.Instrument/binance-btc-usdt-spot.json",
            "market": "cqc.markets.v1.Market/binance-spot-btcusdt.json",
        },
    ),
    Case(
        "binance-usdm-btcusdt-perpetual.json",
        "payload",
        _listing(binance_usdm_symbol, USDM_IDS),
        lambda p: binance_usdm_ledger(ASSETS, p),
        {
            "instrument": "cqc.markets.v1.Instrument/binance-btcusdt-usdm-perpetual.json",
            "market": "cqc.markets.v1.Market/binance-usdm-btcusdt-perpetual.json",
        },
    ),
    Case(
        "okx-inverse-swap-btc-usd-swap.json",
        "payload",
        _listing(okx_instrument, OKX_IDS),
        lambda p: okx_ledger(ASSETS, p),
        {
            "instrument": "cqc.markets.v1.Instrument/okx-btc-usd-swap-inverse-perpetual.json",
            "market": "cqc.markets.v1.Market/okx-btc-usd-swap.json",
        },
    ),
    Case(
        "deribit-future-btc-29sep23.json",
        "payload",
        _listing(deribit_instrument, DERIBIT_FUTURE_IDS),
        lambda p: deribit_ledger(ASSETS, p),
        {"instrument": "cqc.markets.v1.Instrument/deribit-btc-29sep23-inverse-future.json"},
        (
            # The record says is_active true (as of its creation); the example describes the contract after
            # expiry (2023-09-29), as the registry sees it in 2025.
            "status: mapped 2 != example 3",
            # ExpiryCycle: Deribit settlement_period "month" -> THIS_MONTH; the example says QUARTER (29 Sep is
            # a quarterly expiry, which the record does not say).
            "future.cycle: mapped 4 != example 6",
            # The example's name says "BTC-29SEP23 inverse future, 10 USD contracts" too; both are display text.
        ),
    ),
    Case(
        "deribit-option-btc-13jan23-16000-p.json",
        "payload",
        _listing(deribit_instrument, DERIBIT_OPTION_IDS),
        lambda p: deribit_ledger(ASSETS, p),
        {},
    ),
    Case(
        "binance-spot-execution-report-trade.json",
        "payload",
        _execution(TRADE_IDS),
        lambda _p: binance_execution_report_ledger(ASSETS, BINANCE_SPOT_MARKETS),
        {"report": "cqc.venues.v1.ExecutionReport/binance-spot-ethusdt-trade-filled.json"},
    ),
    Case(
        "binance-spot-execution-report-trade.json",
        "doc_example_new_event",
        _execution(NEW_IDS),
        lambda _p: binance_execution_report_ledger(ASSETS, BINANCE_SPOT_MARKETS),
        {"report": "cqc.venues.v1.ExecutionReport/binance-spot-ethbtc-new.json"},
    ),
]

# --- DeFi records (Uniswap v3 subgraph Pool, Aave v3 reserve): the ids of the hand-made examples ---------------

ETHEREUM = "chn_01JDETHEREVM10000000000000"
USDC, WETH = "ast_01JDVSDC000000000000000000", "ast_01JDWETH000000000000000000"
AETHUSDC = "ast_01JDAETHVSDC00000000000000"
USDC_ETH, WETH_ETH = "dep_01JDVSDCETH000000000000000", "dep_01JDWETHETH000000000000000"
USDC_ADDRESS, WETH_ADDRESS = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
ATOKEN, DEBT_TOKEN = "0x98c23e9d8f34fefb1b7bd6a91b7ff122f4e16f5c", "0x72e95b8931767c79ba4eee721354d6e99a61d004"
UNISWAP_IDS = PoolIds(
    market_id="mkt_01JDVN1V3VSDCWETH500000000",
    venue_id="ven_01JDVN1SWAPV3ETH0000000000",
    instrument_id="ins_01JDVSDCWETHSPT00000000000",
    chain_id=ETHEREUM,
    factory_address="0x1F98431c8aD98523631AE4a59f267346ea31F984",
    deployments={USDC_ADDRESS: USDC_ETH, WETH_ADDRESS: WETH_ETH},
    assets={USDC_ADDRESS: USDC, WETH_ADDRESS: WETH},
    receive_time=REGISTRY_TIME,
)
AAVE_DEPLOYMENTS = {
    USDC_ADDRESS: USDC_ETH,
    ATOKEN: "dep_01JDAETHVSDC00000000000000",
    DEBT_TOKEN: "dep_01JDVDEBTETHVSDC0000000000",
}
AAVE_TOKEN_ASSETS = {ATOKEN: AETHUSDC, DEBT_TOKEN: "ast_01JDVDEBTETHVSDC0000000000"}
AAVE_IDS = AaveReserveIds(
    market_id="mkt_01JDAAVEV3ETHVSDC000000000",
    deposit_instrument_id="ins_01JDAAVEVSDCDEP00000000000",
    borrow_instrument_id="ins_01JDAAVEVSDCBRW00000000000",
    venue_id="ven_01JDAAVEV3ETH0000000000000",
    chain_id=ETHEREUM,
    pool_address="0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
    market_name="AaveV3Ethereum",
    underlying_asset_id=USDC,
    deployments=AAVE_DEPLOYMENTS,
    token_assets=AAVE_TOKEN_ASSETS,
    receipt_relationship_id="rel_01JDAETHVSDCRCPT0000000000",
    debt_relationship_id="rel_01JDVDEBTETHVSDCDEBT000000",
    receive_time=REGISTRY_TIME,
)


def _uniswap_ledger(_payload: Any) -> Mapping[str, Entry]:
    return uniswap_v3_pool_ledger(UNISWAP_IDS.deployments)


def _aave_ledger(_payload: Any) -> Mapping[str, Entry]:
    return aave_reserve_ledger(AAVE_DEPLOYMENTS, AAVE_TOKEN_ASSETS)


POOL = "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
POOL_CHECKSUMMED = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"
EXAMPLE_CASES += [
    Case(
        "uniswap-v3-pool-usdc-weth-500-ethereum.json",
        "payload",
        lambda p: uniswap_v3_pool(p, UNISWAP_IDS),
        _uniswap_ledger,
        {"market": "cqc.markets.v1.Market/uniswap-v3-usdc-weth-500-ethereum.json"},
        # The subgraph publishes addresses in lower case, the example checksummed; both are "as published".
        known_differences=(
            f"venue_symbol: mapped {POOL!r} != example {POOL_CHECKSUMMED!r}",
            f"amm_pool.pool_address: mapped {POOL!r} != example {POOL_CHECKSUMMED!r}",
        ),
    ),
    Case(
        "aave-v3-reserve-usdc-ethereum.json",
        "payload",
        lambda p: aave_reserve(p, AAVE_IDS),
        _aave_ledger,
        {
            "market": "cqc.markets.v1.Market/aave-v3-ethereum-usdc-reserve.json",
            "deposit": "cqc.markets.v1.Instrument/aave-v3-ethereum-usdc-deposit.json",
            "borrow": "cqc.markets.v1.Instrument/aave-v3-ethereum-usdc-borrow.json",
            "receipt": "cqc.assets.v1.AssetRelationship/aethusdc-receipt-of-usdc.json",
        },
    ),
]


# --- Records added later: recognised by kind from their "source", with registry-shaped stand-in ids ----------


# A deterministic "<prefix>_<ULID>" id for a venue code the tests have no registry id for.
stand_in_id = stand_in


class StandInIds(Mapping[str, str]):
    """Venue code -> id: the examples' ids where known, a stand-in id otherwise."""

    def __init__(self, prefix: str, known: Mapping[str, str]) -> None:
        self._prefix, self._known = prefix, known

    def __getitem__(self, code: str) -> str:
        return self._known.get(code) or stand_in_id(self._prefix, code)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


STAND_IN_ASSETS = StandInIds("ast", ASSETS)
STAND_IN_MARKETS = StandInIds("mkt", BINANCE_SPOT_MARKETS)


def _stand_in_listing(record: str) -> ListingIds:
    return ListingIds(
        market_id=stand_in_id("mkt", record),
        instrument_id=stand_in_id("ins", record),
        venue_id=stand_in_id("ven", record),
        assets=STAND_IN_ASSETS,
        receive_time=REGISTRY_TIME,
    )


def _stand_in_execution(record: str) -> ExecutionIds:
    return ExecutionIds(
        exec_id=stand_in_id("exe", record),
        account_id=stand_in_id("acc", record),
        venue_id=stand_in_id("ven", record),
        markets=STAND_IN_MARKETS,
        assets=STAND_IN_ASSETS,
        receive_time=REGISTRY_TIME,
    )


def kind_cases(record: str, source: str, keys: list[str]) -> list[Case]:
    """The cases of a record file, by the kind its "source" names; [] for a kind with no mapper yet."""
    if "GET /api/v3/exchangeInfo" in source:
        return [
            Case(
                record,
                "payload",
                _listing(binance_spot_symbol, _stand_in_listing(record)),
                lambda _p: binance_spot_ledger(STAND_IN_ASSETS),
                {},
            )
        ]
    if "GET /fapi/v1/exchangeInfo" in source:
        return [
            Case(
                record,
                "payload",
                _listing(binance_usdm_symbol, _stand_in_listing(record)),
                lambda p: binance_usdm_ledger(STAND_IN_ASSETS, p),
                {},
            )
        ]
    if "GET /api/v5/public/instruments" in source:
        return [
            Case(
                record,
                "payload",
                _listing(okx_instrument, _stand_in_listing(record)),
                lambda p: okx_ledger(STAND_IN_ASSETS, p),
                {},
            )
        ]
    if "public/get_instrument" in source:
        return [
            Case(
                record,
                "payload",
                _listing(deribit_instrument, _stand_in_listing(record)),
                lambda p: deribit_ledger(STAND_IN_ASSETS, p),
                {},
            )
        ]
    if "/v5/market/instruments-info" in source:
        return [
            Case(
                record,
                "payload",
                _listing(bybit_instrument, _stand_in_listing(record)),
                lambda p: bybit_ledger(STAND_IN_ASSETS, p),
                {},
            )
        ]
    if "Coinbase Exchange REST GET /products/" in source:
        return [
            Case(
                record,
                "payload",
                _listing(coinbase_product, _stand_in_listing(record)),
                lambda p: coinbase_ledger(STAND_IN_ASSETS, p),
                {},
            )
        ]
    if "executionReport" in source:
        return [
            Case(
                record,
                key,
                _execution(_stand_in_execution(record)),
                lambda _p: binance_execution_report_ledger(STAND_IN_ASSETS, STAND_IN_MARKETS),
                {},
            )
            for key in keys
            if key in ("payload", "doc_example_new_event")
        ]
    if "uniswap-v3-subgraph" in source:
        return [Case(record, "payload", lambda p: uniswap_v3_pool(p, UNISWAP_IDS), _uniswap_ledger, {})]
    if "UiPoolDataProviderV3.getReservesData" in source:
        return [Case(record, "payload", lambda p: aave_reserve(p, AAVE_IDS), _aave_ledger, {})]
    # Issue-10 kinds (real_world/issue10.py): dYdX v4 market, CoinGecko / CoinMarketCap asset market data,
    # Compound v3, Balancer / Curve N-token pools, Binance withdrawal / deposit, Coinbase fill.
    return [Case(record, *kind) for kind in issue10_kinds(REAL_WORLD / record, source, keys)]


def _record_files() -> dict[str, Any]:
    return {path.name: json.loads(path.read_text()) for path in sorted(REAL_WORLD.glob("*.json"))}


def _all_cases() -> list[Case]:
    cases = list(EXAMPLE_CASES)
    covered = {c.record for c in EXAMPLE_CASES}
    for name, record in _record_files().items():
        if name not in covered:
            cases.extend(kind_cases(name, str(record.get("source", "")), list(record)))
    return cases


CASES = _all_cases()
MESSAGE_CLASSES: dict[str, type[Message]] = {
    "instrument": instrument_pb2.Instrument,
    "market": market_pb2.Market,
    "report": execution_pb2.ExecutionReport,
    # DeFi records (real_world/uniswap.py, aave.py)
    "deposit": instrument_pb2.Instrument,
    "borrow": instrument_pb2.Instrument,
    "token0": deployment_pb2.AssetDeployment,
    "token1": deployment_pb2.AssetDeployment,
    "receipt": relationship_pb2.AssetRelationship,
    "debt": relationship_pb2.AssetRelationship,
}


def _ledger_account(case: Case, payload: Any) -> Account:
    return account(payload, case.ledger(payload), case.map(payload))


def test_every_record_file_is_covered() -> None:
    """A record added to testdata/real-world is mapped when its "source" names a known kind; a new kind needs a
    mapper and a ledger (real_world/) and a line in kind_cases before it passes."""
    assert sorted(_record_files()) == sorted({c.record for c in CASES})


def test_a_new_record_of_a_known_kind_is_picked_up() -> None:
    record = json.loads((REAL_WORLD / "okx-inverse-swap-btc-usd-swap.json").read_text())
    (case,) = kind_cases("okx-new.json", record["source"], list(record))
    payload = copy.deepcopy(record["payload"])
    payload.update(instId="ETH-USD-SWAP", uly="ETH-USD", instFamily="ETH-USD", settleCcy="ETH", ctVal="10")
    found = account(payload, case.ledger(payload), case.map(payload))
    assert found.problems == []
    for message in case.map(payload).values():
        assert violations(message) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_mapped_messages_are_valid(case: Case) -> None:
    for name, message in case.map(case.payload()).items():
        assert violations(message) == [], name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_payload_key_is_accounted_for(case: Case) -> None:
    found = _ledger_account(case, case.payload())
    assert found.problems == []
    assert found.mapped, "a ledger that maps nothing proves nothing"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_binary_and_json_round_trip(case: Case) -> None:
    for name, message in case.map(case.payload()).items():
        cls = MESSAGE_CLASSES.get(name, type(message))  # issue-10 mappers name messages per token / asset
        assert cls.FromString(message.SerializeToString()) == message, name
        as_json = json_format.MessageToJson(message)
        assert json_format.Parse(as_json, cls()) == message, name


def _same_value(field: FieldDescriptor, a: Any, b: Any) -> bool:
    if is_decimal_field(field):
        return Decimal(a) == Decimal(b)
    if field.name == "raw_json":
        return bool(json.loads(a) == json.loads(b))
    return bool(a == b)


def differences(mapped: Message, example: Message, prefix: str = "") -> list[str]:
    """Fields set in both messages whose values differ (decimals as numbers, raw JSON as parsed JSON)."""
    found: list[str] = []
    example_fields = {f.name: v for f, v in example.ListFields()}
    for field, value in mapped.ListFields():
        if field.name not in example_fields:
            continue
        other = example_fields[field.name]
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                if len(value) != len(other):
                    found.append(f"{path}: {len(value)} items mapped, {len(other)} in the example")
                    continue
                for index, (item, other_item) in enumerate(zip(value, other, strict=True)):
                    found.extend(differences(item, other_item, f"{path}[{index}]."))
            else:
                found.extend(differences(value, other, f"{path}."))
        elif field.is_repeated:
            if len(value) != len(other) or not all(_same_value(field, a, b) for a, b in zip(value, other, strict=True)):
                found.append(f"{path}: mapped {list(value)} != example {list(other)}")
        elif not _same_value(field, value, other):
            found.append(f"{path}: mapped {value!r} != example {other!r}")
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_mapped_messages_agree_with_hand_made_examples(case: Case) -> None:
    mapped = case.map(case.payload())
    for name, example_path in case.examples.items():
        cls = MESSAGE_CLASSES.get(name, type(mapped[name]))  # issue-10 mappers name messages per token / asset
        example = json_format.Parse((EXAMPLES / example_path).read_text(), cls())
        assert differences(mapped[name], example) == list(case.known_differences), example_path


def _case(record: str, key: str = "payload") -> Case:
    return next(c for c in CASES if c.record == record and c.key == key)


@pytest.mark.parametrize(
    ("record", "change", "expected"),
    [
        ("binance-spot-btcusdt-symbol.json", lambda p: p.update(newFlagAllowed=True), "newFlagAllowed: key not in"),
        (
            "binance-spot-btcusdt-symbol.json",
            lambda p: p["filters"].append({"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10}),
            "filters[TRAILING_DELTA].filterType: key not in",
        ),
        (
            "binance-usdm-btcusdt-perpetual.json",
            lambda p: p["assets"][0].update(haircut="0.05"),
            "assets[0].haircut: key not in",
        ),
        ("okx-inverse-swap-btc-usd-swap.json", lambda p: p.update(stk="100000"), "stk: '100000' would be lost"),
        (
            "binance-spot-execution-report-trade.json",
            lambda p: p.update(eR="INSUFFICIENT_LIQUIDITY"),
            "eR: key not in",
        ),
    ],
    ids=["spot-new-key", "spot-new-filter", "usdm-new-asset-key", "okx-inapplicable", "exec-new-key"],
)
def test_unaccounted_keys_and_lost_values_fail(record: str, change: Callable[[Any], None], expected: str) -> None:
    case = _case(record)
    payload = copy.deepcopy(case.payload())
    change(payload)
    problems = _ledger_account(case, payload).problems
    assert any(expected in problem for problem in problems), problems


def test_okx_values_that_once_had_no_field_are_carried() -> None:
    """futureSettlement, preMktSwTime and tradeQuoteCcyList have contract fields: set values map without loss."""
    case = _case("okx-inverse-swap-btc-usd-swap.json")
    payload = copy.deepcopy(case.payload())
    payload.update(futureSettlement=True, preMktSwTime="1700000000000", tradeQuoteCcyList=["USD"])
    result = _ledger_account(case, payload)
    assert result.problems == []
    market = case.map(payload)["market"]
    assert isinstance(market, market_pb2.Market)
    assert market.daily_settlement is True
    assert len(market.trade_quote_asset_ids) == 1


def test_a_wrong_mapping_is_caught() -> None:
    """The ledger checks values, not only keys: a mapper that drops a rule or mis-converts a unit fails."""
    case = _case("binance-usdm-btcusdt-perpetual.json")
    payload = case.payload()
    messages = case.map(payload)
    market = messages["market"]
    assert isinstance(market, market_pb2.Market)
    market.derivative.margin.maintenance_margin_rate = "2.5000"  # percent not divided by 100
    market.ClearField("market_order_size")
    problems = account(payload, case.ledger(payload), messages).problems
    assert any("maintMarginPercent -> market.derivative.margin.maintenance_margin_rate" in p for p in problems)
    assert any("filters[MARKET_LOT_SIZE].minQty" in p for p in problems)


def ledger_summary() -> dict[str, dict[str, int]]:
    """Per payload: how many keys are mapped, kept raw-only, not applicable to the kind, contract gaps."""
    summary = {}
    for case in CASES:
        found = _ledger_account(case, case.payload())
        summary[case.id] = {
            "mapped": len(found.mapped),
            "raw_only": len(found.raw_only),
            "inapplicable": len(found.inapplicable),
            "gaps": len(found.gaps),
        }
    return summary


def test_record_files_keep_the_shared_shape() -> None:
    for name, record in _record_files().items():
        assert {"source", "doc", "payload"} <= record.keys(), name


def test_deribit_option_example_maps_back_from_its_own_source_record() -> None:
    """The hand-made Deribit option example keeps its get_instrument result in source_record: mapping that result
    gives the example back, except the display name and the status (the example is written as of after expiry,
    the record says is_active true)."""
    market = json_format.Parse(
        (EXAMPLES / "cqc.markets.v1.Market/deribit-eth-29sep23-2000-c.json").read_text(), market_pb2.Market()
    )
    instrument = json_format.Parse(
        (EXAMPLES / "cqc.markets.v1.Instrument/deribit-eth-29sep23-2000-c-option.json").read_text(),
        instrument_pb2.Instrument(),
    )
    payload = json.loads(market.source_record.raw_json)
    ids = ListingIds(market.market_id, instrument.instrument_id, market.venue_id, ASSETS, REGISTRY_TIME)
    mapped_instrument, mapped_market = deribit_instrument(payload, ids)
    found = account(
        payload, deribit_ledger(ASSETS, payload), {"instrument": mapped_instrument, "market": mapped_market}
    )
    assert found.problems == []
    assert violations(mapped_instrument) == [] and violations(mapped_market) == []
    assert differences(mapped_market, market) == []
    assert [d.split(":")[0] for d in differences(mapped_instrument, instrument)] == ["name", "status"]


def test_bybit_post_only_cap_has_a_field() -> None:
    """lotSizeFilter.postOnlyMaxOrderQty had no contract field (a Gap found by this test suite):
    OrderLimits.max_post_only_order_size now carries it."""
    case = _case("bybit-linear-perp-1000000babydogeusdt.json")
    market = case.map(case.payload())["market"]
    assert isinstance(market, market_pb2.Market)
    assert market.order_limits.max_post_only_order_size == "60000000"
