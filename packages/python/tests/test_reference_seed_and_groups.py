"""The packaged seed data (cqc.testing.seed, loaded by a server started without testdata) and the reference
servers' AssetRegistry relationships / quality flags / groups, MarketData VWAP / depth / liquidity / candles and
VenueGateway GetDepositAddress, as testdata/interop/README.md documents them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

import cqc.testing
from cqc.assets.v1 import group_pb2
from cqc.markets.v1 import candle_pb2, market_data_pb2
from cqc.services.v1 import asset_registry_pb2 as pb
from cqc.services.v1 import asset_registry_pb2_grpc, market_data_pb2_grpc, venue_gateway_pb2_grpc
from cqc.services.v1 import market_data_pb2 as mpb
from cqc.services.v1 import venue_gateway_pb2 as vpb
from cqc.testing import seed

ROOT = Path(__file__).resolve().parents[3]
USDC = "ast_01JDVSDC000000000000000000"
BTC_SPOT = "mkt_01JDBNBTCVSDTSP0T000000000"
ACCOUNT = "acc_01JDBNSP0TMA1N000000000000"


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    with cqc.testing.serve() as server, grpc.insecure_channel(server.target) as opened:  # the packaged seed
        yield opened


def _error(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    assert isinstance(error, grpc.Call)
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    status = status_pb2.Status.FromString(raw if isinstance(raw, bytes) else b"")
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return error.code(), info.reason, dict(info.metadata)


def test_seed_bundle_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("cqcgen", ROOT / "tools" / "cqcgen.py")
    assert spec is not None and spec.loader is not None
    cqcgen = importlib.util.module_from_spec(spec)
    sys.modules["cqcgen"] = cqcgen
    spec.loader.exec_module(cqcgen)
    packaged = (ROOT / "packages/python/src/cqc/testing/seed/examples.json").read_bytes()
    assert packaged == cqcgen.seed_bundle(), "stale seed bundle: run nox -s generate"
    assert (ROOT / "packages/go/cqctest/seed/examples.json").read_bytes() == packaged
    assert set(cqcgen.SEED_TYPES) <= set(seed.types())
    assets = seed.examples("cqc.assets.v1.Asset")
    assert list(assets) == sorted(assets) and any(a["assetId"] == USDC for a in assets.values())
    assert seed.examples("no.such.Type") == {}


def test_registry_groups_flags_relationships(channel: grpc.Channel) -> None:
    stub = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    groups = stub.ListAssetGroups(pb.ListAssetGroupsRequest(page_size=2))
    assert len(groups.asset_groups) == 2 and groups.next_page_token
    rest = stub.ListAssetGroups(pb.ListAssetGroupsRequest(page_size=2, page_token=groups.next_page_token))
    assert len(rest.asset_groups) == 1 and not rest.next_page_token
    assert [g.group_id for g in [*groups.asset_groups, *rest.asset_groups]] == sorted(
        g.group_id for g in [*groups.asset_groups, *rest.asset_groups]
    )
    relationships = stub.ListAssetRelationships(pb.ListAssetRelationshipsRequest(subject_asset_id=USDC))
    assert [r.object_asset_id for r in relationships.asset_relationships] == ["ast_01JDFVSD000000000000000000"]
    flags = stub.ListAssetQualityFlags(pb.ListAssetQualityFlagsRequest(asset_id=USDC)).asset_quality_flags
    assert len(flags) == 2
    active = stub.ListAssetQualityFlags(pb.ListAssetQualityFlagsRequest(asset_id=USDC, active_only=True))
    assert [f.flag_id for f in active.asset_quality_flags] == ["flg_01JDMVTCHNFTMEXP0000000000"]

    group_id = "grp_01JE0000000000000000000TST"
    group = group_pb2.AssetGroup(group_id=group_id, name="test group", kind=group_pb2.ASSET_GROUP_KIND_CATEGORY)
    created = stub.CreateAssetGroup(pb.CreateAssetGroupRequest(asset_group=group)).asset_group
    assert created.HasField("create_time") and created.HasField("update_time") and created.etag.startswith("W1-")
    again = stub.CreateAssetGroup(pb.CreateAssetGroupRequest(asset_group=group)).asset_group
    assert again.create_time == created.create_time
    changed = group_pb2.AssetGroup(group_id=group_id, name="other", kind=group_pb2.ASSET_GROUP_KIND_CATEGORY)
    with pytest.raises(grpc.RpcError) as caught:
        stub.CreateAssetGroup(pb.CreateAssetGroupRequest(asset_group=changed))
    assert _error(caught.value) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS", {"group_id": group_id})

    mask = field_mask_pb2.FieldMask(paths=["name"])
    updated = stub.UpdateAssetGroup(
        pb.UpdateAssetGroupRequest(asset_group=changed, update_mask=mask, etag=created.etag)
    )
    assert updated.asset_group.name == "other" and updated.asset_group.etag != created.etag
    assert updated.asset_group.create_time == created.create_time
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateAssetGroup(pb.UpdateAssetGroupRequest(asset_group=changed, update_mask=mask, etag=created.etag))
    assert _error(caught.value) == (
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
        {"group_id": group_id, "current_etag": updated.asset_group.etag},
    )
    for path in ("group_id", "create_time", "no_such_field"):
        with pytest.raises(grpc.RpcError) as caught:
            stub.UpdateAssetGroup(
                pb.UpdateAssetGroupRequest(asset_group=changed, update_mask=field_mask_pb2.FieldMask(paths=[path]))
            )
        assert _error(caught.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UPDATE_MASK", {"paths": path})
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetAssetGroup(pb.GetAssetGroupRequest(group_id="grp_01JDZZZZZZZZZZZZZZZZZZZZZZ"))
    assert _error(caught.value) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"group_id": "grp_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListAssetGroups(pb.ListAssetGroupsRequest(page_token="bm90IGEgdG9rZW4="))
    assert _error(caught.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


def test_market_data_vwap_depth_liquidity_candles(channel: grpc.Channel) -> None:
    stub = market_data_pb2_grpc.MarketDataStub(channel)
    hour = stub.GetVWAP(mpb.GetVWAPRequest(market_id=BTC_SPOT, window=duration_pb2.Duration(seconds=3600))).vwap
    assert hour.vwap == "43038.7719"
    five = stub.GetVWAP(mpb.GetVWAPRequest(market_id=BTC_SPOT, window=duration_pb2.Duration(seconds=300))).vwap
    assert five.vwap == "43046.31856312"
    depth = stub.GetMarketDepth(mpb.GetMarketDepthRequest(market_id=BTC_SPOT, band_fractions=["0.010"])).market_depth
    assert [b.distance for b in depth.bands] == ["0.01"]
    default = stub.GetMarketDepth(mpb.GetMarketDepthRequest(market_id=BTC_SPOT)).market_depth
    assert [b.distance for b in default.bands] == ["0.005", "0.01", "0.02"]
    metrics = stub.GetLiquidityMetrics(mpb.GetLiquidityMetricsRequest(market_id=BTC_SPOT)).liquidity_metrics
    assert metrics.market_id == BTC_SPOT
    bar = candle_pb2.BarSpecification(
        step=1,
        aggregation=candle_pb2.BAR_AGGREGATION_MINUTE,
        price_type=market_data_pb2.PRICE_TYPE_LAST,
        aggregation_source=candle_pb2.AGGREGATION_SOURCE_EXTERNAL,
        interval_type=candle_pb2.BAR_INTERVAL_TYPE_RIGHT_OPEN,
    )
    candles = stub.ListCandles(mpb.ListCandlesRequest(market_id=BTC_SPOT, bar=bar)).candles
    assert [c.close for c in candles] == ["43050.10000000"] and not candles[0].HasField("source_record")
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetVWAP(
            mpb.GetVWAPRequest(market_id="mkt_01JDZZZZZZZZZZZZZZZZZZZZZZ", window=duration_pb2.Duration(seconds=60))
        )
    assert _error(caught.value)[:2] == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_MARKET")


def test_deposit_address(channel: grpc.Channel) -> None:
    stub = venue_gateway_pb2_grpc.VenueGatewayStub(channel)
    request = vpb.GetDepositAddressRequest(
        account_id=ACCOUNT, asset_id=USDC, deployment_id="dep_01JDVSDCETH000000000000000"
    )
    first = stub.GetDepositAddress(request)
    assert first.address.startswith("0x") and len(first.address) == 42 and first.memo == ""
    assert stub.GetDepositAddress(request) == first
    request.deployment_id = "dep_01JDWETHETH000000000000000"  # WETH's, not USDC's
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetDepositAddress(request)
    assert _error(caught.value) == (
        grpc.StatusCode.NOT_FOUND,
        "NOT_FOUND_RESOURCE",
        {"deployment_id": "dep_01JDWETHETH000000000000000"},
    )


def test_create_asset_sets_output_only_times(channel: grpc.Channel) -> None:
    stub = asset_registry_pb2_grpc.AssetRegistryStub(channel)
    asset = stub.GetAsset(pb.GetAssetRequest(asset_id=USDC)).asset
    asset.asset_id = "ast_01JE0000000000000000000TST"
    asset.ClearField("etag")
    asset.create_time.FromSeconds(978307200)  # output only: ignored on input
    created = stub.CreateAsset(pb.CreateAssetRequest(asset=asset)).asset
    assert created.create_time.seconds > 978307200 and created.update_time == created.create_time
    created.name = "renamed"
    updated = stub.UpdateAsset(
        pb.UpdateAssetRequest(asset=created, update_mask=field_mask_pb2.FieldMask(paths=["name"]), etag=created.etag)
    ).asset
    assert updated.name == "renamed" and updated.create_time == created.create_time
    assert updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
