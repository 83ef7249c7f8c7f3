"""The reference AssetRegistry: reads, lists, creates and updates the seeded reference data in memory."""

from __future__ import annotations

import grpc
from google.protobuf.message import Message

from cqc.markets.v1 import instrument_pb2
from cqc.services.v1 import asset_registry_pb2 as pb
from cqc.services.v1 import asset_registry_pb2_grpc
from cqc.testing._errors import failed_precondition, not_found
from cqc.testing._store import Store

__all__ = ["AssetRegistryServicer"]

Ctx = grpc.ServicerContext


def _has(request: Message, field: str) -> bool:
    return request.HasField(field)


class AssetRegistryServicer(asset_registry_pb2_grpc.AssetRegistryServicer):
    """Every AssetRegistry RPC on assets, chains, deployments, instruments, markets, identifiers, venues and
    venue assets; relationships, quality flags and groups answer UNIMPLEMENTED (the generated default)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- ResolveMarket and the typed instrument getters ---------------------------------------------------

    def ResolveMarket(self, request: pb.ResolveMarketRequest, context: Ctx) -> pb.ResolveMarketResponse:
        for market in self.store.markets.all():
            if market.venue_id == request.venue_id and market.venue_symbol == request.venue_symbol:
                return pb.ResolveMarketResponse(market=market)
        raise not_found(
            "NOT_FOUND_MARKET",
            f"venue {request.venue_id} lists no market {request.venue_symbol!r}",
            venue_id=request.venue_id,
            venue_symbol=request.venue_symbol,
        )

    def _typed(self, instrument_id: str, expected: str) -> instrument_pb2.Instrument:
        instrument = self.store.instruments.get(instrument_id)
        if instrument.instrument_type != expected:
            raise failed_precondition(
                "WRONG_INSTRUMENT_TYPE",
                f"instrument {instrument_id} is {instrument.instrument_type}, not {expected}",
                instrument_id=instrument_id,
                actual_type=instrument.instrument_type,
                expected_type=expected,
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

    # --- Assets ----------------------------------------------------------------------------------------------

    def GetAsset(self, request: pb.GetAssetRequest, context: Ctx) -> pb.GetAssetResponse:
        return pb.GetAssetResponse(asset=self.store.assets.get(request.asset_id))

    def ListAssets(self, request: pb.ListAssetsRequest, context: Ctx) -> pb.ListAssetsResponse:
        items, token = self.store.assets.list(
            request.page_size,
            request.page_token,
            lambda a: (
                (not request.type or a.type == request.type)
                and (not request.symbol or a.symbol == request.symbol)
                and (not request.status or a.status == request.status)
            ),
        )
        return pb.ListAssetsResponse(assets=items, next_page_token=token)

    def CreateAsset(self, request: pb.CreateAssetRequest, context: Ctx) -> pb.CreateAssetResponse:
        return pb.CreateAssetResponse(asset=self.store.assets.create(request.asset))

    def UpdateAsset(self, request: pb.UpdateAssetRequest, context: Ctx) -> pb.UpdateAssetResponse:
        return pb.UpdateAssetResponse(asset=self.store.assets.update(request.asset, request.update_mask))

    # --- Chains ----------------------------------------------------------------------------------------------

    def GetChain(self, request: pb.GetChainRequest, context: Ctx) -> pb.GetChainResponse:
        return pb.GetChainResponse(chain=self.store.chains.get(request.chain_id))

    def ListChains(self, request: pb.ListChainsRequest, context: Ctx) -> pb.ListChainsResponse:
        items, token = self.store.chains.list(
            request.page_size,
            request.page_token,
            lambda c: (
                (not request.family or c.family == request.family) and (request.include_testnets or not c.is_testnet)
            ),
        )
        return pb.ListChainsResponse(chains=items, next_page_token=token)

    def CreateChain(self, request: pb.CreateChainRequest, context: Ctx) -> pb.CreateChainResponse:
        return pb.CreateChainResponse(chain=self.store.chains.create(request.chain))

    def UpdateChain(self, request: pb.UpdateChainRequest, context: Ctx) -> pb.UpdateChainResponse:
        return pb.UpdateChainResponse(chain=self.store.chains.update(request.chain, request.update_mask))

    # --- Asset deployments -----------------------------------------------------------------------------------

    def GetAssetDeployment(self, request: pb.GetAssetDeploymentRequest, context: Ctx) -> pb.GetAssetDeploymentResponse:
        return pb.GetAssetDeploymentResponse(asset_deployment=self.store.deployments.get(request.deployment_id))

    def ListAssetDeployments(
        self, request: pb.ListAssetDeploymentsRequest, context: Ctx
    ) -> pb.ListAssetDeploymentsResponse:
        items, token = self.store.deployments.list(
            request.page_size,
            request.page_token,
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
        created = self.store.deployments.create(request.asset_deployment)
        return pb.CreateAssetDeploymentResponse(asset_deployment=created)

    def UpdateAssetDeployment(
        self, request: pb.UpdateAssetDeploymentRequest, context: Ctx
    ) -> pb.UpdateAssetDeploymentResponse:
        updated = self.store.deployments.update(request.asset_deployment, request.update_mask)
        return pb.UpdateAssetDeploymentResponse(asset_deployment=updated)

    # --- Instruments -----------------------------------------------------------------------------------------

    def GetInstrument(self, request: pb.GetInstrumentRequest, context: Ctx) -> pb.GetInstrumentResponse:
        return pb.GetInstrumentResponse(instrument=self.store.instruments.get(request.instrument_id))

    def ListInstruments(self, request: pb.ListInstrumentsRequest, context: Ctx) -> pb.ListInstrumentsResponse:
        items, token = self.store.instruments.list(
            request.page_size,
            request.page_token,
            lambda i: (
                (not request.instrument_type or i.instrument_type == request.instrument_type)
                and (not _has(request, "base_asset_id") or i.base_asset_id == request.base_asset_id)
            ),
        )
        return pb.ListInstrumentsResponse(instruments=items, next_page_token=token)

    def CreateInstrument(self, request: pb.CreateInstrumentRequest, context: Ctx) -> pb.CreateInstrumentResponse:
        return pb.CreateInstrumentResponse(instrument=self.store.instruments.create(request.instrument))

    def UpdateInstrument(self, request: pb.UpdateInstrumentRequest, context: Ctx) -> pb.UpdateInstrumentResponse:
        updated = self.store.instruments.update(request.instrument, request.update_mask)
        return pb.UpdateInstrumentResponse(instrument=updated)

    # --- Markets ---------------------------------------------------------------------------------------------

    def GetMarket(self, request: pb.GetMarketRequest, context: Ctx) -> pb.GetMarketResponse:
        return pb.GetMarketResponse(market=self.store.markets.get(request.market_id))

    def ListMarkets(self, request: pb.ListMarketsRequest, context: Ctx) -> pb.ListMarketsResponse:
        items, token = self.store.markets.list(
            request.page_size,
            request.page_token,
            lambda m: (
                (not _has(request, "venue_id") or m.venue_id == request.venue_id)
                and (not _has(request, "instrument_id") or m.instrument_id == request.instrument_id)
            ),
        )
        return pb.ListMarketsResponse(markets=items, next_page_token=token)

    def CreateMarket(self, request: pb.CreateMarketRequest, context: Ctx) -> pb.CreateMarketResponse:
        return pb.CreateMarketResponse(market=self.store.markets.create(request.market))

    def UpdateMarket(self, request: pb.UpdateMarketRequest, context: Ctx) -> pb.UpdateMarketResponse:
        return pb.UpdateMarketResponse(market=self.store.markets.update(request.market, request.update_mask))

    # --- Identifiers -----------------------------------------------------------------------------------------

    def GetIdentifier(self, request: pb.GetIdentifierRequest, context: Ctx) -> pb.GetIdentifierResponse:
        return pb.GetIdentifierResponse(identifier=self.store.identifiers.get(request.identifier_id))

    def ListIdentifiers(self, request: pb.ListIdentifiersRequest, context: Ctx) -> pb.ListIdentifiersResponse:
        items, token = self.store.identifiers.list(
            request.page_size,
            request.page_token,
            lambda i: (
                (not _has(request, "asset_id") or i.asset_id == request.asset_id)
                and (not _has(request, "instrument_id") or i.instrument_id == request.instrument_id)
                and (not _has(request, "market_id") or i.market_id == request.market_id)
                and (not request.value or i.value == request.value)
            ),
        )
        return pb.ListIdentifiersResponse(identifiers=items, next_page_token=token)

    def CreateIdentifier(self, request: pb.CreateIdentifierRequest, context: Ctx) -> pb.CreateIdentifierResponse:
        return pb.CreateIdentifierResponse(identifier=self.store.identifiers.create(request.identifier))

    def UpdateIdentifier(self, request: pb.UpdateIdentifierRequest, context: Ctx) -> pb.UpdateIdentifierResponse:
        updated = self.store.identifiers.update(request.identifier, request.update_mask)
        return pb.UpdateIdentifierResponse(identifier=updated)

    # --- Venues ----------------------------------------------------------------------------------------------

    def GetVenue(self, request: pb.GetVenueRequest, context: Ctx) -> pb.GetVenueResponse:
        return pb.GetVenueResponse(venue=self.store.venues.get(request.venue_id))

    def ListVenues(self, request: pb.ListVenuesRequest, context: Ctx) -> pb.ListVenuesResponse:
        items, token = self.store.venues.list(request.page_size, request.page_token)
        return pb.ListVenuesResponse(venues=items, next_page_token=token)

    def CreateVenue(self, request: pb.CreateVenueRequest, context: Ctx) -> pb.CreateVenueResponse:
        return pb.CreateVenueResponse(venue=self.store.venues.create(request.venue))

    def UpdateVenue(self, request: pb.UpdateVenueRequest, context: Ctx) -> pb.UpdateVenueResponse:
        return pb.UpdateVenueResponse(venue=self.store.venues.update(request.venue, request.update_mask))

    # --- Venue assets ----------------------------------------------------------------------------------------

    def GetVenueAsset(self, request: pb.GetVenueAssetRequest, context: Ctx) -> pb.GetVenueAssetResponse:
        return pb.GetVenueAssetResponse(venue_asset=self.store.venue_assets.get(request.venue_asset_id))

    def ListVenueAssets(self, request: pb.ListVenueAssetsRequest, context: Ctx) -> pb.ListVenueAssetsResponse:
        items, token = self.store.venue_assets.list(
            request.page_size,
            request.page_token,
            lambda v: (
                (not _has(request, "venue_id") or v.venue_id == request.venue_id)
                and (not _has(request, "asset_id") or v.asset_id == request.asset_id)
            ),
        )
        return pb.ListVenueAssetsResponse(venue_assets=items, next_page_token=token)

    def CreateVenueAsset(self, request: pb.CreateVenueAssetRequest, context: Ctx) -> pb.CreateVenueAssetResponse:
        return pb.CreateVenueAssetResponse(venue_asset=self.store.venue_assets.create(request.venue_asset))

    def UpdateVenueAsset(self, request: pb.UpdateVenueAssetRequest, context: Ctx) -> pb.UpdateVenueAssetResponse:
        updated = self.store.venue_assets.update(request.venue_asset, request.update_mask)
        return pb.UpdateVenueAssetResponse(venue_asset=updated)
