"""The Python reference AssetRegistry: read masks, etags, 4 MiB-bounded pages, instrument and market filters,
batch get and batch resolve, as documented in proto/cqc/services/v1/asset_registry.proto."""

from __future__ import annotations

from collections.abc import Iterator

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
import pytest
from conftest import TESTDATA
from google.protobuf import field_mask_pb2, timestamp_pb2

import cqc.testing
import cqc.testing._registry_reads as reads
from cqc.assets.v1 import asset_identifier_pb2
from cqc.markets.v1 import market_pb2
from cqc.services.v1 import asset_registry_pb2 as pb
from cqc.services.v1 import asset_registry_pb2_grpc

USDC = "ast_01JDVSDC000000000000000000"
BTC = "ast_01JDBTC0000000000000000000"
BINANCE_SPOT = "ven_01JDB1NANCESP0T00000000000"[:30]
UNISWAP_POOL = "mkt_01JDVN1V3VSDCWETH500000000"
COMPOUND_DEPOSIT = "ins_01JDC0MPV3VSDCDEP000000000"
COMPOUND_BORROW = "ins_01JDC0MPV3VSDCBRW000000000"


@pytest.fixture
def stub() -> Iterator[asset_registry_pb2_grpc.AssetRegistryStub]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        yield asset_registry_pb2_grpc.AssetRegistryStub(channel)


def _error(error: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, ErrorInfo reason and metadata of a failed call."""
    assert isinstance(error, grpc.Call)
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    status = status_pb2.Status.FromString(raw if isinstance(raw, bytes) else b"")
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return error.code(), info.reason, dict(info.metadata)


def test_read_mask_leaves_out_source_record(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    full = stub.GetMarket(pb.GetMarketRequest(market_id=UNISWAP_POOL)).market
    assert full.HasField("source_record") and full.etag.startswith("W1-")
    masked = stub.GetMarket(
        pb.GetMarketRequest(
            market_id=UNISWAP_POOL, read_mask=field_mask_pb2.FieldMask(paths=["market_id", "amm_pool.tokens"])
        )
    ).market
    assert masked.market_id == UNISWAP_POOL
    assert not masked.HasField("source_record") and masked.venue_symbol == "" and masked.etag == ""
    assert [t.deployment_id for t in masked.amm_pool.tokens] == [t.deployment_id for t in full.amm_pool.tokens]
    assert not masked.amm_pool.HasField("state")


def test_unknown_read_mask_path_is_invalid_read_mask(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListMarkets(pb.ListMarketsRequest(read_mask=field_mask_pb2.FieldMask(paths=["market_id", "no_such"])))
    code, reason, metadata = _error(caught.value)
    assert (code, reason, metadata["paths"]) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_READ_MASK", "no_such")


def test_update_with_stale_etag_is_aborted(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    asset = stub.GetAsset(pb.GetAssetRequest(asset_id=USDC)).asset
    read_etag = asset.etag
    asset.description = "first writer"
    mask = field_mask_pb2.FieldMask(paths=["description"])
    first = stub.UpdateAsset(pb.UpdateAssetRequest(asset=asset, update_mask=mask, etag=read_etag)).asset
    assert first.description == "first writer" and first.etag != read_etag
    asset.description = "second writer, from the same stale read"
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateAsset(pb.UpdateAssetRequest(asset=asset, update_mask=mask, etag=read_etag))
    code, reason, metadata = _error(caught.value)
    assert (code, reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    assert metadata == {"asset_id": USDC, "current_etag": first.etag}
    assert stub.GetAsset(pb.GetAssetRequest(asset_id=USDC)).asset.description == "first writer"
    unconditional = stub.UpdateAsset(pb.UpdateAssetRequest(asset=asset, update_mask=mask)).asset
    assert unconditional.description.startswith("second writer")


def test_etag_cannot_be_written(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    asset = stub.GetAsset(pb.GetAssetRequest(asset_id=USDC)).asset
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateAsset(pb.UpdateAssetRequest(asset=asset, update_mask=field_mask_pb2.FieldMask(paths=["etag"])))
    assert _error(caught.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UPDATE_MASK")


def test_batch_get_keeps_request_order_and_fails_on_unknown(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    got = stub.BatchGetAssets(pb.BatchGetAssetsRequest(asset_ids=[USDC, BTC])).assets
    assert [a.asset_id for a in got] == [USDC, BTC]
    missing = "ast_01JDN0SVCHASSET00000000000"
    with pytest.raises(grpc.RpcError) as caught:
        stub.BatchGetAssets(pb.BatchGetAssetsRequest(asset_ids=[USDC, missing]))
    assert _error(caught.value) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND_ASSET", {"asset_id": missing})
    instruments = stub.BatchGetInstruments(
        pb.BatchGetInstrumentsRequest(instrument_ids=[COMPOUND_BORROW, COMPOUND_DEPOSIT])
    ).instruments
    assert [i.instrument_type for i in instruments] == ["LENDING_BORROW", "LENDING_DEPOSIT"]
    assert not instruments[0].lending_borrow.HasField("debt_token_deployment_id")
    markets = stub.BatchGetMarkets(
        pb.BatchGetMarketsRequest(market_ids=[UNISWAP_POOL], read_mask=field_mask_pb2.FieldMask(paths=["market_id"]))
    ).markets
    assert [m.market_id for m in markets] == [UNISWAP_POOL] and not markets[0].HasField("amm_pool")


def test_batch_resolve_reports_unknown_symbols_without_failing(
    stub: asset_registry_pb2_grpc.AssetRegistryStub,
) -> None:
    pool = stub.GetMarket(pb.GetMarketRequest(market_id=UNISWAP_POOL)).market
    long_symbol = "S" * 256  # every symbol a Market can hold resolves (the request accepts 256 characters)
    results = stub.BatchResolveMarkets(
        pb.BatchResolveMarketsRequest(
            symbols=[
                pb.MarketSymbol(venue_id=pool.venue_id, venue_symbol=pool.venue_symbol),
                pb.MarketSymbol(venue_id=pool.venue_id, venue_symbol=long_symbol),
            ]
        )
    ).results
    assert results[0].market.market_id == UNISWAP_POOL and results[0].symbol.venue_symbol == pool.venue_symbol
    assert not results[1].HasField("market") and results[1].symbol.venue_symbol == long_symbol


def test_batch_over_the_response_bound_is_resource_exhausted(
    stub: asset_registry_pb2_grpc.AssetRegistryStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "MAX_RESPONSE_BYTES", 1000)
    with pytest.raises(grpc.RpcError) as caught:
        stub.BatchGetMarkets(pb.BatchGetMarketsRequest(market_ids=[UNISWAP_POOL]))
    code, reason, metadata = _error(caught.value)
    assert (code, reason, metadata["limit_bytes"]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "RESPONSE_TOO_LARGE", "1000")
    small = stub.BatchGetMarkets(
        pb.BatchGetMarketsRequest(market_ids=[UNISWAP_POOL], read_mask=field_mask_pb2.FieldMask(paths=["market_id"]))
    )
    assert len(small.markets) == 1


def test_pages_end_early_before_the_response_bound(
    stub: asset_registry_pb2_grpc.AssetRegistryStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = stub.ListMarkets(pb.ListMarketsRequest(page_size=1000)).markets
    assert len(everything) > 3
    monkeypatch.setattr(reads, "MAX_RESPONSE_BYTES", 2 * max(m.ByteSize() for m in everything))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = stub.ListMarkets(pb.ListMarketsRequest(page_size=1000, page_token=token))
        assert sum(m.ByteSize() + 8 for m in page.markets) <= reads.MAX_RESPONSE_BYTES or len(page.markets) == 1
        seen.extend(m.market_id for m in page.markets)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages > 1 and seen == [m.market_id for m in everything]


def test_market_filters(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    pools = stub.ListMarkets(pb.ListMarketsRequest(market_type=market_pb2.MARKET_TYPE_AMM_POOL)).markets
    assert pools and all(m.market_type == market_pb2.MARKET_TYPE_AMM_POOL for m in pools)
    assert UNISWAP_POOL in [m.market_id for m in pools]
    halted = stub.ListMarkets(pb.ListMarketsRequest(status=market_pb2.MARKET_STATUS_HALTED)).markets
    assert all(m.status == market_pb2.MARKET_STATUS_HALTED for m in halted)


def test_option_chain_filters(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    options = stub.ListInstruments(pb.ListInstrumentsRequest(instrument_type="OPTION")).instruments
    assert options, "the examples hold an option series"
    option = options[0].option
    expiry = option.expiry_time

    def ask(**kw: object) -> list[str]:
        return [i.instrument_id for i in stub.ListInstruments(pb.ListInstrumentsRequest(**kw)).instruments]  # type: ignore[arg-type]

    after = timestamp_pb2.Timestamp(seconds=expiry.seconds + 1)
    before = timestamp_pb2.Timestamp(seconds=expiry.seconds - 1)
    assert options[0].instrument_id in ask(min_expiry_time=before, max_expiry_time=after)
    assert options[0].instrument_id not in ask(min_expiry_time=after)
    assert options[0].instrument_id in ask(min_strike=option.strike, max_strike=option.strike)
    assert options[0].instrument_id not in ask(min_strike=str(int(float(option.strike)) + 1))
    assert options[0].instrument_id in ask(option_type=option.option_type)
    assert all(i for i in ask(min_strike="0")), "a strike filter keeps only options"
    for listed in stub.ListInstruments(pb.ListInstrumentsRequest(min_strike="0")).instruments:
        assert listed.HasField("option")
    dated = stub.ListInstruments(pb.ListInstrumentsRequest(min_expiry_time=timestamp_pb2.Timestamp(seconds=0)))
    assert all(i.HasField("future") or i.HasField("option") for i in dated.instruments)


def test_asset_identifiers_crud_and_filters(stub: asset_registry_pb2_grpc.AssetRegistryStub) -> None:
    coingecko = "aid_01JDCGVSDC0000000000000000"
    found = stub.GetAssetIdentifier(pb.GetAssetIdentifierRequest(identifier_id=coingecko)).asset_identifier
    assert (found.value, found.etag.startswith("W1-")) == ("usd-coin", True)
    listed = stub.ListAssetIdentifiers(
        pb.ListAssetIdentifiersRequest(asset_id=USDC, source=asset_identifier_pb2.DATA_SOURCE_COINMARKETCAP)
    ).asset_identifiers
    assert [i.value for i in listed] == ["3408"]
    new = asset_identifier_pb2.AssetIdentifier()
    new.CopyFrom(listed[0])
    new.identifier_id = "aid_01JDNEWTEST0000000000000000"[:30]
    new.source = asset_identifier_pb2.DATA_SOURCE_DTI
    new.value = "4H95J0R2X"
    new.ClearField("etag")
    created = stub.CreateAssetIdentifier(pb.CreateAssetIdentifierRequest(asset_identifier=new)).asset_identifier
    assert created.identifier_id == new.identifier_id and created.etag
    again = stub.CreateAssetIdentifier(pb.CreateAssetIdentifierRequest(asset_identifier=created)).asset_identifier
    assert again.etag == created.etag, "an identical Create (etag ignored on input) returns the stored identifier"
    created.confidence = "0.9"
    mask = field_mask_pb2.FieldMask(paths=["confidence"])
    updated = stub.UpdateAssetIdentifier(
        pb.UpdateAssetIdentifierRequest(asset_identifier=created, update_mask=mask, etag=created.etag)
    ).asset_identifier
    assert updated.confidence == "0.9" and updated.etag != created.etag
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateAssetIdentifier(
            pb.UpdateAssetIdentifierRequest(asset_identifier=created, update_mask=mask, etag=created.etag)
        )
    assert _error(caught.value)[:2] == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
