"""Builds assets/v1 messages in code, round-trips them, and shows validation naming field and rule."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from cqc.assets.v1 import asset_identifier_pb2, asset_pb2, chain_pb2
from cqc.validation import ContractViolation, InvalidMessageError, validate, violations


def usdc() -> asset_pb2.Asset:
    return asset_pb2.Asset(
        asset_id="ast_01JDVSDC000000000000000000",
        symbol="USDC",
        name="USDC",
        type=asset_pb2.ASSET_TYPE_STABLECOIN,
        precision=6,
        peg_currency="USD",
        total_supply="74123456789.123456",
        supply_source=asset_identifier_pb2.DATA_SOURCE_COINGECKO,
    )


def test_binary_and_json_round_trip() -> None:
    asset = usdc()
    assert asset_pb2.Asset.FromString(asset.SerializeToString()) == asset
    as_json = json_format.MessageToDict(asset)
    assert as_json["type"] == "ASSET_TYPE_STABLECOIN"
    assert as_json["totalSupply"] == "74123456789.123456"
    assert json_format.ParseDict(as_json, asset_pb2.Asset()) == asset


def test_optional_decimal_distinguishes_unset_from_zero() -> None:
    asset = usdc()
    assert not asset.HasField("max_supply")
    asset.max_supply = "0"
    assert asset.HasField("max_supply")


def test_valid_message_passes() -> None:
    validate(usdc())
    assert violations(usdc()) == []


def test_invalid_decimal_names_field_and_rule() -> None:
    asset = usdc()
    asset.total_supply = "1e5"
    with pytest.raises(InvalidMessageError) as raised:
        validate(asset)
    assert [(v.field, v.rule_id) for v in raised.value.violations] == [("total_supply", "cqc.decimal.non_negative")]
    assert "total_supply" in str(raised.value) and "cqc.decimal.non_negative" in str(raised.value)


def test_every_violation_is_reported() -> None:
    asset = usdc()
    asset.asset_id = "USDC"
    asset.type = asset_pb2.ASSET_TYPE_UNSPECIFIED
    found = violations(asset)
    assert found == sorted(
        [
            ContractViolation("asset_id", "cqc.id", found[0].message),
            ContractViolation("type", "enum.not_in", found[1].message),
        ]
    )


def test_cross_field_rule_on_chain() -> None:
    chain = chain_pb2.Chain(
        chain_id="chn_01JDETHEREVM10000000000000",
        slug="ethereum",
        name="Ethereum",
        caip2="eip155:10",
        family=chain_pb2.CHAIN_FAMILY_EVM,
        evm_chain_id=1,
    )
    assert [(v.field, v.rule_id) for v in violations(chain)] == [("", "chain.evm_chain_id_matches_caip2")]
    chain.caip2 = "eip155:1"
    assert violations(chain) == []
