"""The reference VenueGateway's GetDepositAddress: a simulated, stable deposit address per account and network."""

from __future__ import annotations

import hashlib

import grpc

from cqc.assets.v1 import chain_pb2
from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.testing._errors import failed_precondition, not_found
from cqc.testing._store import Store

__all__ = ["DepositAddressMixin"]

Ctx = grpc.ServicerContext


class DepositAddressMixin:
    """GetDepositAddress. Mixed into VenueGatewayServicer, which provides ``store``."""

    store: Store

    def GetDepositAddress(self, request: pb.GetDepositAddressRequest, context: Ctx) -> pb.GetDepositAddressResponse:
        """The first 20 bytes of sha256("<account_id>|<deployment_id>") in hex, "0x"-prefixed on EVM chains; a
        memo (the first 4 bytes as a decimal number) when the venue asset's network requires one. NOT_FOUND for
        an unknown account, asset or deployment (or a deployment of another asset); FAILED_PRECONDITION
        VENUE_REJECTED when the account's venue lists the asset with deposits disabled (asset or network)."""
        account = self.store.accounts.get(request.account_id)
        self.store.assets.get(request.asset_id)
        deployment = self.store.deployments.get(request.deployment_id)
        if deployment.asset_id != request.asset_id:
            raise not_found(
                "NOT_FOUND_RESOURCE",
                f"deployment {request.deployment_id} is not a deployment of asset {request.asset_id}",
                deployment_id=request.deployment_id,
            )
        memo_required = False
        listed = [
            v
            for v in self.store.venue_assets.all()
            if v.venue_id == account.venue_id and v.asset_id == request.asset_id
        ]
        if listed:
            venue_asset = listed[0]
            disabled = venue_asset.HasField("deposit_enabled") and not venue_asset.deposit_enabled
            for network in venue_asset.networks:
                if network.deployment_id == request.deployment_id:
                    disabled = disabled or not network.deposit_enabled
                    memo_required = network.memo_required
            if disabled:
                raise failed_precondition(
                    "VENUE_REJECTED",
                    f"venue {account.venue_id} has deposits of {venue_asset.venue_code} over deployment "
                    f"{request.deployment_id} disabled",
                    venue_message=f"deposits of {venue_asset.venue_code} over this network are disabled",
                )
        digest = hashlib.sha256(f"{request.account_id}|{request.deployment_id}".encode()).digest()
        address = digest[:20].hex()
        chain = self.store.chains.find(deployment.chain_id)
        if chain is not None and chain.family == chain_pb2.CHAIN_FAMILY_EVM:
            address = "0x" + address
        memo = str(int.from_bytes(digest[:4], "big")) if memo_required else ""
        return pb.GetDepositAddressResponse(address=address, memo=memo, deployment_id=request.deployment_id)
