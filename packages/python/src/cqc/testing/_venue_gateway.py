"""The reference VenueGateway: venue accounts (seeded) and an in-memory order book of record per account."""

from __future__ import annotations

import grpc

from cqc.services.v1 import venue_gateway_pb2 as pb
from cqc.services.v1 import venue_gateway_pb2_grpc
from cqc.testing._store import Store
from cqc.testing._venue_gateway_account import VenueAccountMixin
from cqc.testing._venue_gateway_deposit import DepositAddressMixin
from cqc.testing._venue_gateway_executions import ExecutionReportsMixin
from cqc.testing._venue_gateway_orders import OrderEntryMixin

__all__ = ["VenueGatewayServicer"]

Ctx = grpc.ServicerContext


class VenueGatewayServicer(
    OrderEntryMixin,
    VenueAccountMixin,
    ExecutionReportsMixin,
    DepositAddressMixin,
    venue_gateway_pb2_grpc.VenueGatewayServicer,
):
    """The order RPCs (OrderEntryMixin: place, lists, batches, amend, cancel, cancel-all, dead-man switch,
    reads, StreamOrders), the venue-account RPCs and the execution reports (ExecutionReportsMixin); the other
    RPCs answer UNIMPLEMENTED (the generated default). Every mutating RPC shares one store of request ids."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- Venue accounts --------------------------------------------------------------------------------------

    def GetVenueAccount(self, request: pb.GetVenueAccountRequest, context: Ctx) -> pb.GetVenueAccountResponse:
        return pb.GetVenueAccountResponse(venue_account=self.store.accounts.get(request.account_id))

    def ListVenueAccounts(self, request: pb.ListVenueAccountsRequest, context: Ctx) -> pb.ListVenueAccountsResponse:
        items, token = self.store.accounts.list(
            request.page_size,
            request.page_token,
            lambda a: not request.HasField("venue_id") or a.venue_id == request.venue_id,
            request,
        )
        return pb.ListVenueAccountsResponse(venue_accounts=items, next_page_token=token)

    def CreateVenueAccount(self, request: pb.CreateVenueAccountRequest, context: Ctx) -> pb.CreateVenueAccountResponse:
        return pb.CreateVenueAccountResponse(venue_account=self.store.accounts.create(request.venue_account))

    def UpdateVenueAccount(self, request: pb.UpdateVenueAccountRequest, context: Ctx) -> pb.UpdateVenueAccountResponse:
        updated = self.store.accounts.update(request.venue_account, request.update_mask)
        return pb.UpdateVenueAccountResponse(venue_account=updated)
