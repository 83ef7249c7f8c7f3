"""The reference AssetRegistry: reads, lists, creates and updates the seeded reference data in memory."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from cqc.assets.v1 import asset_identifier_pb2, asset_pb2, chain_pb2, deployment_pb2
from cqc.identifiers.v1 import identifier_pb2
from cqc.markets.v1 import instrument_pb2, market_pb2
from cqc.services.v1 import asset_registry_pb2 as pb
from cqc.services.v1 import asset_registry_pb2_grpc
from cqc.testing._asset_registry_groups import AssetGroupsMixin
from cqc.testing._errors import failed_precondition, not_found
from cqc.testing._registry_reads import (
    check_batch_size,
    checked_mask,
    readable,
    registry_create,
    registry_get,
    registry_page,
    registry_update,
)
from cqc.testing._store import Store, Table
from cqc.venues.v1 import venue_asset_pb2, venue_pb2

__all__ = ["AssetRegistryServicer"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)


def _has(request: Message, field: str) -> bool:
    return request.HasField(field)


def _batch(table: Table[M], request: Message, cls: type[M], ids: list[str]) -> list[M]:
    """All or nothing: NOT_FOUND on the first unknown id; RESPONSE_TOO_LARGE over 4 MiB."""
    mask = checked_mask(request, cls)
    found = [readable(table.get(resource_id), mask) for resource_id in ids]
    check_batch_size(found)
    return found


def _decimal(value: str) -> Decimal:
    return Decimal(value)


def _instrument_filter(request: pb.ListInstrumentsRequest) -> Callable[[instrument_pb2.Instrument], bool]:
    """ListInstruments filters, combined with AND: type, base, status, expiry range, strike range, option type."""
    low = request.min_expiry_time.ToNanoseconds() if request.HasField("min_expiry_time") else None
    high = request.max_expiry_time.ToNanoseconds() if request.HasField("max_expiry_time") else None
    min_strike = _decimal(request.min_strike) if request.HasField("min_strike") else None
    max_strike = _decimal(request.max_strike) if request.HasField("max_strike") else None
    option_only = min_strike is not None or max_strike is not None or bool(request.option_type)

    def keep(i: instrument_pb2.Instrument) -> bool:
        if request.instrument_type and i.instrument_type != request.instrument_type:
            return False
        if _has(request, "base_asset_id") and i.base_asset_id != request.base_asset_id:
            return False
        if request.status and i.status != request.status:
            return False
        if low is not None or high is not None:
            subtype = i.future if i.HasField("future") else i.option if i.HasField("option") else None
            if subtype is None:
                return False
            expiry = subtype.expiry_time.ToNanoseconds()
            if (low is not None and expiry < low) or (high is not None and expiry > high):
                return False
        if option_only:
            if not i.HasField("option"):
                return False
            strike = _decimal(i.option.strike)
            if (min_strike is not None and strike < min_strike) or (max_strike is not None and strike > max_strike):
                return False
            if request.option_type and i.option.option_type != request.option_type:
                return False
        return True

    return keep


class AssetRegistryServicer(AssetGroupsMixin, asset_registry_pb2_grpc.AssetRegistryServicer):
    """Every AssetRegistry RPC: assets, chains, deployments, instruments, markets, identifiers, venues, venue
    assets, and (AssetGroupsMixin) relationships, quality flags and groups, with read masks, etags, 4 MiB-bounded
    pages, batch get and batch resolve."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock

    # --- ResolveMarket, BatchResolveMarkets and the typed instrument getters ------------------------------

    def _resolve(self, venue_id: str, venue_symbol: str) -> market_pb2.Market | None:
        for market in self.store.markets.all():
            if market.venue_id == venue_id and market.venue_symbol == venue_symbol:
                return market
        return None

    def ResolveMarket(self, request: pb.ResolveMarketRequest, context: Ctx) -> pb.ResolveMarketResponse:
        mask = checked_mask(request, market_pb2.Market)
        market = self._resolve(request.venue_id, request.venue_symbol)
        if market is None:
            raise not_found(
                "NOT_FOUND_MARKET",
                f"venue {request.venue_id} lists no market {request.venue_symbol!r}",
                venue_id=request.venue_id,
                venue_symbol=request.venue_symbol,
            )
        return pb.ResolveMarketResponse(market=readable(market, mask))

    def BatchResolveMarkets(
        self, request: pb.BatchResolveMarketsRequest, context: Ctx
    ) -> pb.BatchResolveMarketsResponse:
        mask = checked_mask(request, market_pb2.Market)
        results = []
        for symbol in request.symbols:
            market = self._resolve(symbol.venue_id, symbol.venue_symbol)
            result = pb.ResolvedMarket(symbol=symbol)
            if market is not None:
                result.market.CopyFrom(readable(market, mask))
            results.append(result)
        check_batch_size(results)
        return pb.BatchResolveMarketsResponse(results=results)

    def _typed(self, instrument_id: str, expected: str) -> instrument_pb2.Instrument:
        instrument = readable(self.store.instruments.get(instrument_id), None)
        if instrument.instrument_type != expected:
            raise failed_precondition(
                "WRONG_INSTRUMENT_TYPE",
                f"instrument {instrument_id} is {instrument.instrument_type}, not {expected}",
                instrument_id=instrument_id,
                actual_type=instrument.instrument_type,
            )
        return instrument

    def GetSpotInstrument(self, request: pb.GetSpotInstrumentRequest, context: Ctx) -> pb.GetSpotInstrumentResponse:
        found = self._typed(request.instrument_id, "SPOT")
        return pb.GetSpotInstrumentResponse(instrument=found, spot_instrument=found.spot)

    def GetPerpContract(self, request: pb.GetPerpContractRequest, context: Ctx) -> pb.GetPerpContractResponse:
        found = self._typed(request.instrument_id, "PERPETUAL")
        return pb.GetPerpContractResponse(instrument=found, perp_contract=found.perpetual)

    def GetFutureContract(self, request: pb.GetFutureContractRequest, context: Ctx) -> pb.GetFutureContractResponse:
        found = self._typed(request.instrument_id, "FUTURE")
        return pb.GetFutureContractResponse(instrument=found, future_contract=found.future)

    def GetOptionSeries(self, request: pb.GetOptionSeriesRequest, context: Ctx) -> pb.GetOptionSeriesResponse:
        found = self._typed(request.instrument_id, "OPTION")
        return pb.GetOptionSeriesResponse(instrument=found, option_series=found.option)

    def GetLendingDeposit(self, request: pb.GetLendingDepositRequest, context: Ctx) -> pb.GetLendingDepositResponse:
        found = self._typed(request.instrument_id, "LENDING_DEPOSIT")
        return pb.GetLendingDepositResponse(instrument=found, lending_deposit=found.lending_deposit)

    def GetLendingBorrow(self, request: pb.GetLendingBorrowRequest, context: Ctx) -> pb.GetLendingBorrowResponse:
        found = self._typed(request.instrument_id, "LENDING_BORROW")
        return pb.GetLendingBorrowResponse(instrument=found, lending_borrow=found.lending_borrow)

    # --- Batch gets ------------------------------------------------------------------------------------------

    def BatchGetAssets(self, request: pb.BatchGetAssetsRequest, context: Ctx) -> pb.BatchGetAssetsResponse:
        found = _batch(self.store.assets, request, asset_pb2.Asset, list(request.asset_ids))
        return pb.BatchGetAssetsResponse(assets=found)

    def BatchGetInstruments(
        self, request: pb.BatchGetInstrumentsRequest, context: Ctx
    ) -> pb.BatchGetInstrumentsResponse:
        found = _batch(self.store.instruments, request, instrument_pb2.Instrument, list(request.instrument_ids))
        return pb.BatchGetInstrumentsResponse(instruments=found)

    def BatchGetMarkets(self, request: pb.BatchGetMarketsRequest, context: Ctx) -> pb.BatchGetMarketsResponse:
        found = _batch(self.store.markets, request, market_pb2.Market, list(request.market_ids))
        return pb.BatchGetMarketsResponse(markets=found)

    # --- Assets ----------------------------------------------------------------------------------------------

    def GetAsset(self, request: pb.GetAssetRequest, context: Ctx) -> pb.GetAssetResponse:
        return pb.GetAssetResponse(asset=registry_get(self.store.assets, request, asset_pb2.Asset, request.asset_id))

    def ListAssets(self, request: pb.ListAssetsRequest, context: Ctx) -> pb.ListAssetsResponse:
        items, token = registry_page(
            self.store.assets,
            request,
            asset_pb2.Asset,
            lambda a: (
                (not request.type or a.type == request.type)
                and (not request.symbol or a.symbol == request.symbol)
                and (not request.status or a.status == request.status)
            ),
        )
        return pb.ListAssetsResponse(assets=items, next_page_token=token)

    def CreateAsset(self, request: pb.CreateAssetRequest, context: Ctx) -> pb.CreateAssetResponse:
        return pb.CreateAssetResponse(asset=registry_create(self.store.assets, request.asset))

    def UpdateAsset(self, request: pb.UpdateAssetRequest, context: Ctx) -> pb.UpdateAssetResponse:
        updated = registry_update(self.lock, self.store.assets, request.asset, request.update_mask, request.etag)
        return pb.UpdateAssetResponse(asset=updated)

    # --- Chains ----------------------------------------------------------------------------------------------

    def GetChain(self, request: pb.GetChainRequest, context: Ctx) -> pb.GetChainResponse:
        return pb.GetChainResponse(chain=registry_get(self.store.chains, request, chain_pb2.Chain, request.chain_id))

    def ListChains(self, request: pb.ListChainsRequest, context: Ctx) -> pb.ListChainsResponse:
        items, token = registry_page(
            self.store.chains,
            request,
            chain_pb2.Chain,
            lambda c: (
                (not request.family or c.family == request.family) and (request.include_testnets or not c.is_testnet)
            ),
        )
        return pb.ListChainsResponse(chains=items, next_page_token=token)

    def CreateChain(self, request: pb.CreateChainRequest, context: Ctx) -> pb.CreateChainResponse:
        return pb.CreateChainResponse(chain=registry_create(self.store.chains, request.chain))

    def UpdateChain(self, request: pb.UpdateChainRequest, context: Ctx) -> pb.UpdateChainResponse:
        updated = registry_update(self.lock, self.store.chains, request.chain, request.update_mask, request.etag)
        return pb.UpdateChainResponse(chain=updated)

    # --- Asset deployments -----------------------------------------------------------------------------------

    def GetAssetDeployment(self, request: pb.GetAssetDeploymentRequest, context: Ctx) -> pb.GetAssetDeploymentResponse:
        found = registry_get(self.store.deployments, request, deployment_pb2.AssetDeployment, request.deployment_id)
        return pb.GetAssetDeploymentResponse(asset_deployment=found)

    def ListAssetDeployments(
        self, request: pb.ListAssetDeploymentsRequest, context: Ctx
    ) -> pb.ListAssetDeploymentsResponse:
        items, token = registry_page(
            self.store.deployments,
            request,
            deployment_pb2.AssetDeployment,
            lambda d: (
                (not _has(request, "asset_id") or d.asset_id == request.asset_id)
                and (not _has(request, "chain_id") or d.chain_id == request.chain_id)
                and (not request.address or d.address.lower() == request.address.lower())
            ),
        )
        return pb.ListAssetDeploymentsResponse(asset_deployments=items, next_page_token=token)

    def CreateAssetDeployment(
        self, request: pb.CreateAssetDeploymentRequest, context: Ctx
    ) -> pb.CreateAssetDeploymentResponse:
        created = registry_create(self.store.deployments, request.asset_deployment)
        return pb.CreateAssetDeploymentResponse(asset_deployment=created)

    def UpdateAssetDeployment(
        self, request: pb.UpdateAssetDeploymentRequest, context: Ctx
    ) -> pb.UpdateAssetDeploymentResponse:
        updated = registry_update(
            self.store.lock, self.store.deployments, request.asset_deployment, request.update_mask, request.etag
        )
        return pb.UpdateAssetDeploymentResponse(asset_deployment=updated)

    # --- Instruments -----------------------------------------------------------------------------------------

    def GetInstrument(self, request: pb.GetInstrumentRequest, context: Ctx) -> pb.GetInstrumentResponse:
        found = registry_get(self.store.instruments, request, instrument_pb2.Instrument, request.instrument_id)
        return pb.GetInstrumentResponse(instrument=found)

    def ListInstruments(self, request: pb.ListInstrumentsRequest, context: Ctx) -> pb.ListInstrumentsResponse:
        items, token = registry_page(
            self.store.instruments, request, instrument_pb2.Instrument, _instrument_filter(request)
        )
        return pb.ListInstrumentsResponse(instruments=items, next_page_token=token)

    def CreateInstrument(self, request: pb.CreateInstrumentRequest, context: Ctx) -> pb.CreateInstrumentResponse:
        return pb.CreateInstrumentResponse(instrument=registry_create(self.store.instruments, request.instrument))

    def UpdateInstrument(self, request: pb.UpdateInstrumentRequest, context: Ctx) -> pb.UpdateInstrumentResponse:
        updated = registry_update(
            self.store.lock, self.store.instruments, request.instrument, request.update_mask, request.etag
        )
        return pb.UpdateInstrumentResponse(instrument=updated)

    # --- Markets ---------------------------------------------------------------------------------------------

    def GetMarket(self, request: pb.GetMarketRequest, context: Ctx) -> pb.GetMarketResponse:
        return pb.GetMarketResponse(
            market=registry_get(self.store.markets, request, market_pb2.Market, request.market_id)
        )

    def ListMarkets(self, request: pb.ListMarketsRequest, context: Ctx) -> pb.ListMarketsResponse:
        items, token = registry_page(
            self.store.markets,
            request,
            market_pb2.Market,
            lambda m: (
                (not _has(request, "venue_id") or m.venue_id == request.venue_id)
                and (not _has(request, "instrument_id") or m.instrument_id == request.instrument_id)
                and (not request.market_type or m.market_type == request.market_type)
                and (not request.status or m.status == request.status)
            ),
        )
        return pb.ListMarketsResponse(markets=items, next_page_token=token)

    def CreateMarket(self, request: pb.CreateMarketRequest, context: Ctx) -> pb.CreateMarketResponse:
        return pb.CreateMarketResponse(market=registry_create(self.store.markets, request.market))

    def UpdateMarket(self, request: pb.UpdateMarketRequest, context: Ctx) -> pb.UpdateMarketResponse:
        updated = registry_update(self.lock, self.store.markets, request.market, request.update_mask, request.etag)
        return pb.UpdateMarketResponse(market=updated)

    # --- Identifiers -----------------------------------------------------------------------------------------

    def GetIdentifier(self, request: pb.GetIdentifierRequest, context: Ctx) -> pb.GetIdentifierResponse:
        found = registry_get(self.store.identifiers, request, identifier_pb2.Identifier, request.identifier_id)
        return pb.GetIdentifierResponse(identifier=found)

    def ListIdentifiers(self, request: pb.ListIdentifiersRequest, context: Ctx) -> pb.ListIdentifiersResponse:
        items, token = registry_page(
            self.store.identifiers,
            request,
            identifier_pb2.Identifier,
            lambda i: (
                (not _has(request, "asset_id") or i.asset_id == request.asset_id)
                and (not _has(request, "instrument_id") or i.instrument_id == request.instrument_id)
                and (not _has(request, "market_id") or i.market_id == request.market_id)
                and (not request.value or i.value == request.value)
            ),
        )
        return pb.ListIdentifiersResponse(identifiers=items, next_page_token=token)

    def CreateIdentifier(self, request: pb.CreateIdentifierRequest, context: Ctx) -> pb.CreateIdentifierResponse:
        return pb.CreateIdentifierResponse(identifier=registry_create(self.store.identifiers, request.identifier))

    def UpdateIdentifier(self, request: pb.UpdateIdentifierRequest, context: Ctx) -> pb.UpdateIdentifierResponse:
        updated = registry_update(
            self.store.lock, self.store.identifiers, request.identifier, request.update_mask, request.etag
        )
        return pb.UpdateIdentifierResponse(identifier=updated)

    # --- Asset identifiers -----------------------------------------------------------------------------------

    def GetAssetIdentifier(self, request: pb.GetAssetIdentifierRequest, context: Ctx) -> pb.GetAssetIdentifierResponse:
        found = registry_get(
            self.store.asset_identifiers, request, asset_identifier_pb2.AssetIdentifier, request.identifier_id
        )
        return pb.GetAssetIdentifierResponse(asset_identifier=found)

    def ListAssetIdentifiers(
        self, request: pb.ListAssetIdentifiersRequest, context: Ctx
    ) -> pb.ListAssetIdentifiersResponse:
        items, token = registry_page(
            self.store.asset_identifiers,
            request,
            asset_identifier_pb2.AssetIdentifier,
            lambda i: (
                (not _has(request, "asset_id") or i.asset_id == request.asset_id)
                and (not request.source or i.source == request.source)
                and (not _has(request, "deployment_id") or i.deployment_id == request.deployment_id)
                and (not request.value or i.value == request.value)
            ),
        )
        return pb.ListAssetIdentifiersResponse(asset_identifiers=items, next_page_token=token)

    def CreateAssetIdentifier(
        self, request: pb.CreateAssetIdentifierRequest, context: Ctx
    ) -> pb.CreateAssetIdentifierResponse:
        created = registry_create(self.store.asset_identifiers, request.asset_identifier)
        return pb.CreateAssetIdentifierResponse(asset_identifier=created)

    def UpdateAssetIdentifier(
        self, request: pb.UpdateAssetIdentifierRequest, context: Ctx
    ) -> pb.UpdateAssetIdentifierResponse:
        updated = registry_update(
            self.lock, self.store.asset_identifiers, request.asset_identifier, request.update_mask, request.etag
        )
        return pb.UpdateAssetIdentifierResponse(asset_identifier=updated)

    # --- Venues ----------------------------------------------------------------------------------------------

    def GetVenue(self, request: pb.GetVenueRequest, context: Ctx) -> pb.GetVenueResponse:
        return pb.GetVenueResponse(venue=registry_get(self.store.venues, request, venue_pb2.Venue, request.venue_id))

    def ListVenues(self, request: pb.ListVenuesRequest, context: Ctx) -> pb.ListVenuesResponse:
        items, token = registry_page(self.store.venues, request, venue_pb2.Venue)
        return pb.ListVenuesResponse(venues=items, next_page_token=token)

    def CreateVenue(self, request: pb.CreateVenueRequest, context: Ctx) -> pb.CreateVenueResponse:
        return pb.CreateVenueResponse(venue=registry_create(self.store.venues, request.venue))

    def UpdateVenue(self, request: pb.UpdateVenueRequest, context: Ctx) -> pb.UpdateVenueResponse:
        updated = registry_update(self.lock, self.store.venues, request.venue, request.update_mask, request.etag)
        return pb.UpdateVenueResponse(venue=updated)

    # --- Venue assets ----------------------------------------------------------------------------------------

    def GetVenueAsset(self, request: pb.GetVenueAssetRequest, context: Ctx) -> pb.GetVenueAssetResponse:
        found = registry_get(self.store.venue_assets, request, venue_asset_pb2.VenueAsset, request.venue_asset_id)
        return pb.GetVenueAssetResponse(venue_asset=found)

    def ListVenueAssets(self, request: pb.ListVenueAssetsRequest, context: Ctx) -> pb.ListVenueAssetsResponse:
        items, token = registry_page(
            self.store.venue_assets,
            request,
            venue_asset_pb2.VenueAsset,
            lambda v: (
                (not _has(request, "venue_id") or v.venue_id == request.venue_id)
                and (not _has(request, "asset_id") or v.asset_id == request.asset_id)
            ),
        )
        return pb.ListVenueAssetsResponse(venue_assets=items, next_page_token=token)

    def CreateVenueAsset(self, request: pb.CreateVenueAssetRequest, context: Ctx) -> pb.CreateVenueAssetResponse:
        return pb.CreateVenueAssetResponse(venue_asset=registry_create(self.store.venue_assets, request.venue_asset))

    def UpdateVenueAsset(self, request: pb.UpdateVenueAssetRequest, context: Ctx) -> pb.UpdateVenueAssetResponse:
        updated = registry_update(
            self.lock, self.store.venue_assets, request.venue_asset, request.update_mask, request.etag
        )
        return pb.UpdateVenueAssetResponse(venue_asset=updated)
