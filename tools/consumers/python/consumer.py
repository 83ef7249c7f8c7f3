"""CQC consumer smoke test (Python): run against the installed wheel, never the source tree.

Usage: python consumer.py EXPECTED_VERSION
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import cqc
from cqc.assets.v1 import asset_identifier_pb2, asset_pb2, chain_pb2
from cqc.validation import InvalidMessageError, validate, violations
from google.protobuf import json_format


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"python consumer: FAILED: {what}")


def main(expected_version: str) -> None:
    location = Path(cqc.__file__).resolve()
    check("site-packages" in location.parts, f"cqc imported from {location}, not from an installed wheel")
    check(cqc.__version__ == expected_version, f"cqc.__version__ {cqc.__version__} != {expected_version}")
    dist_version = importlib.metadata.version("cqc-contracts")
    check(dist_version == expected_version, f"cqc-contracts metadata version {dist_version} != {expected_version}")

    asset = asset_pb2.Asset(
        asset_id="ast_01JDVSDC000000000000000000",
        symbol="USDC",
        name="USDC",
        type=asset_pb2.ASSET_TYPE_STABLECOIN,
        precision=6,
        peg_currency="USD",
        total_supply="74123456789.123456",
        supply_source=asset_identifier_pb2.DATA_SOURCE_ISSUER,
    )
    chain = chain_pb2.Chain(
        chain_id="chn_01JDETHEREVM10000000000000",
        slug="ethereum",
        name="Ethereum",
        caip2="eip155:1",
        family=chain_pb2.CHAIN_FAMILY_EVM,
        evm_chain_id=1,
        native_decimals=18,
        layer=chain_pb2.CHAIN_LAYER_L1,
    )
    chain.block_time.FromSeconds(12)

    for message in (asset, chain):
        name = message.DESCRIPTOR.full_name
        decoded = type(message).FromString(message.SerializeToString())
        check(decoded == message, f"{name}: binary round trip")
        as_json = json_format.MessageToJson(message)
        from_json = json_format.Parse(as_json, type(message)())
        check(from_json == message, f"{name}: JSON round trip")
        validate(message)  # valid: must not raise
    check('"ASSET_TYPE_STABLECOIN"' in json_format.MessageToJson(asset), "enum is a name in JSON")

    bad = asset_pb2.Asset()
    bad.CopyFrom(asset)
    bad.total_supply = "1e5"  # not in the decimal grammar
    try:
        validate(bad)
    except InvalidMessageError as error:
        found = [(v.field, v.rule_id) for v in error.violations]
        check(("total_supply", "cqc.decimal.non_negative") in found, f"violation names field and rule: {found}")
        check(error.message_type == "cqc.assets.v1.Asset", f"error names the message: {error.message_type}")
    else:
        raise SystemExit("python consumer: FAILED: an invalid Asset validated")
    check(violations(asset) == [], "violations() of a valid message is empty")
    print(f"python consumer: OK (cqc-contracts {dist_version} from {location.parent})")


if __name__ == "__main__":
    main(sys.argv[1])
