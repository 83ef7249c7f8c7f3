"""The reference AssetRegistry's asset relationships, quality flags and groups: read masks, etags, 4 MiB-bounded
pages, idempotent creates and masked updates, like every other registry resource (``_asset_registry.py``)."""

from __future__ import annotations

import time
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from cqc.assets.v1 import group_pb2, quality_flag_pb2, relationship_pb2
from cqc.services.v1 import asset_registry_pb2 as pb
from cqc.testing._registry_reads import registry_create, registry_get, registry_page, registry_update
from cqc.testing._store import Store

__all__ = ["AssetGroupsMixin", "flag_in_force"]

Ctx = grpc.ServicerContext
M = TypeVar("M", bound=Message)


def _nanos(message: Message, field: str) -> int | None:
    if not message.HasField(field):
        return None
    value: int = getattr(message, field).ToNanoseconds()
    return value


def flag_in_force(flag: quality_flag_pb2.AssetQualityFlag, now_nanos: int) -> bool:
    """Active, already effective (effective_time, else raise_time, not after now) and not expired."""
    if not flag.active or flag.HasField("resolve_time"):
        return False
    start = _nanos(flag, "effective_time")
    if start is None:
        start = _nanos(flag, "raise_time")
    if start is not None and start > now_nanos:
        return False
    expire = _nanos(flag, "expire_time")
    return expire is None or expire > now_nanos


class AssetGroupsMixin:
    """GetAssetRelationship ... UpdateAssetGroup. Mixed into AssetRegistryServicer, which provides ``store``."""

    store: Store

    # --- Asset relationships ---------------------------------------------------------------------------------

    def GetAssetRelationship(
        self, request: pb.GetAssetRelationshipRequest, context: Ctx
    ) -> pb.GetAssetRelationshipResponse:
        found = registry_get(
            self.store.relationships, request, relationship_pb2.AssetRelationship, request.relationship_id
        )
        return pb.GetAssetRelationshipResponse(asset_relationship=found)

    def ListAssetRelationships(
        self, request: pb.ListAssetRelationshipsRequest, context: Ctx
    ) -> pb.ListAssetRelationshipsResponse:
        items, token = registry_page(
            self.store.relationships,
            request,
            relationship_pb2.AssetRelationship,
            lambda r: (
                (not request.HasField("subject_asset_id") or r.subject_asset_id == request.subject_asset_id)
                and (not request.HasField("object_asset_id") or r.object_asset_id == request.object_asset_id)
            ),
        )
        return pb.ListAssetRelationshipsResponse(asset_relationships=items, next_page_token=token)

    def CreateAssetRelationship(
        self, request: pb.CreateAssetRelationshipRequest, context: Ctx
    ) -> pb.CreateAssetRelationshipResponse:
        created = registry_create(self.store.relationships, request.asset_relationship)
        return pb.CreateAssetRelationshipResponse(asset_relationship=created)

    def UpdateAssetRelationship(
        self, request: pb.UpdateAssetRelationshipRequest, context: Ctx
    ) -> pb.UpdateAssetRelationshipResponse:
        updated = registry_update(
            self.store.lock, self.store.relationships, request.asset_relationship, request.update_mask, request.etag
        )
        return pb.UpdateAssetRelationshipResponse(asset_relationship=updated)

    # --- Asset quality flags ---------------------------------------------------------------------------------

    def GetAssetQualityFlag(
        self, request: pb.GetAssetQualityFlagRequest, context: Ctx
    ) -> pb.GetAssetQualityFlagResponse:
        found = registry_get(self.store.quality_flags, request, quality_flag_pb2.AssetQualityFlag, request.flag_id)
        return pb.GetAssetQualityFlagResponse(asset_quality_flag=found)

    def ListAssetQualityFlags(
        self, request: pb.ListAssetQualityFlagsRequest, context: Ctx
    ) -> pb.ListAssetQualityFlagsResponse:
        """With asset_id: the flags on that asset or on one of its deployments; with active_only: in force now."""
        deployments: set[str] = set()
        if request.HasField("asset_id"):
            deployments = {d.deployment_id for d in self.store.deployments.all() if d.asset_id == request.asset_id}
        now = time.time_ns()

        def keep(flag: quality_flag_pb2.AssetQualityFlag) -> bool:
            if request.HasField("asset_id") and flag.asset_id != request.asset_id:
                if not flag.HasField("deployment_id") or flag.deployment_id not in deployments:
                    return False
            return not request.active_only or flag_in_force(flag, now)

        items, token = registry_page(self.store.quality_flags, request, quality_flag_pb2.AssetQualityFlag, keep)
        return pb.ListAssetQualityFlagsResponse(asset_quality_flags=items, next_page_token=token)

    def CreateAssetQualityFlag(
        self, request: pb.CreateAssetQualityFlagRequest, context: Ctx
    ) -> pb.CreateAssetQualityFlagResponse:
        created = registry_create(self.store.quality_flags, request.asset_quality_flag)
        return pb.CreateAssetQualityFlagResponse(asset_quality_flag=created)

    def UpdateAssetQualityFlag(
        self, request: pb.UpdateAssetQualityFlagRequest, context: Ctx
    ) -> pb.UpdateAssetQualityFlagResponse:
        updated = registry_update(
            self.store.lock, self.store.quality_flags, request.asset_quality_flag, request.update_mask, request.etag
        )
        return pb.UpdateAssetQualityFlagResponse(asset_quality_flag=updated)

    # --- Asset groups ----------------------------------------------------------------------------------------

    def GetAssetGroup(self, request: pb.GetAssetGroupRequest, context: Ctx) -> pb.GetAssetGroupResponse:
        found = registry_get(self.store.groups, request, group_pb2.AssetGroup, request.group_id)
        return pb.GetAssetGroupResponse(asset_group=found)

    def ListAssetGroups(self, request: pb.ListAssetGroupsRequest, context: Ctx) -> pb.ListAssetGroupsResponse:
        items, token = registry_page(self.store.groups, request, group_pb2.AssetGroup)
        return pb.ListAssetGroupsResponse(asset_groups=items, next_page_token=token)

    def CreateAssetGroup(self, request: pb.CreateAssetGroupRequest, context: Ctx) -> pb.CreateAssetGroupResponse:
        return pb.CreateAssetGroupResponse(asset_group=registry_create(self.store.groups, request.asset_group))

    def UpdateAssetGroup(self, request: pb.UpdateAssetGroupRequest, context: Ctx) -> pb.UpdateAssetGroupResponse:
        updated = registry_update(
            self.store.lock, self.store.groups, request.asset_group, request.update_mask, request.etag
        )
        return pb.UpdateAssetGroupResponse(asset_group=updated)
