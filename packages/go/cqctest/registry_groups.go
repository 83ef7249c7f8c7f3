package cqctest

import (
	"context"
	"time"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// The AssetRegistry's asset relationships, quality flags and groups: the same read masks, etags, pages,
// idempotent creates and masked updates as every other registry resource (registry_reads.go).

// --- asset relationships ------------------------------------------------------------------------------

func (r *assetRegistry) GetAssetRelationship(_ context.Context, req *servicesv1.GetAssetRelationshipRequest) (*servicesv1.GetAssetRelationshipResponse, error) {
	m, err := regGet[*assetsv1.AssetRelationship](r.s, r.s.relationships, req.GetRelationshipId(), req.GetReadMask())
	return &servicesv1.GetAssetRelationshipResponse{AssetRelationship: m}, err
}

// ListAssetRelationships filters on subject and object asset (AND).
func (r *assetRegistry) ListAssetRelationships(_ context.Context, req *servicesv1.ListAssetRelationshipsRequest) (*servicesv1.ListAssetRelationshipsResponse, error) {
	items, next, err := regList(r.s, r.s.relationships, req, req.GetReadMask(), func(x *assetsv1.AssetRelationship) bool {
		return optionalEq(req.SubjectAssetId, x.GetSubjectAssetId()) && optionalEq(req.ObjectAssetId, x.GetObjectAssetId())
	})
	return &servicesv1.ListAssetRelationshipsResponse{AssetRelationships: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAssetRelationship(_ context.Context, req *servicesv1.CreateAssetRelationshipRequest) (*servicesv1.CreateAssetRelationshipResponse, error) {
	m, err := regCreate(r.s, r.s.relationships, req.GetAssetRelationship())
	return &servicesv1.CreateAssetRelationshipResponse{AssetRelationship: m}, err
}

func (r *assetRegistry) UpdateAssetRelationship(_ context.Context, req *servicesv1.UpdateAssetRelationshipRequest) (*servicesv1.UpdateAssetRelationshipResponse, error) {
	m, err := regUpdate(r.s, r.s.relationships, req.GetAssetRelationship(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetRelationshipResponse{AssetRelationship: m}, err
}

// --- asset quality flags ------------------------------------------------------------------------------

func (r *assetRegistry) GetAssetQualityFlag(_ context.Context, req *servicesv1.GetAssetQualityFlagRequest) (*servicesv1.GetAssetQualityFlagResponse, error) {
	m, err := regGet[*assetsv1.AssetQualityFlag](r.s, r.s.flags, req.GetFlagId(), req.GetReadMask())
	return &servicesv1.GetAssetQualityFlagResponse{AssetQualityFlag: m}, err
}

// flagInForce: active, already effective (effective_time, else raise_time, not after now) and not expired.
func flagInForce(f *assetsv1.AssetQualityFlag, now time.Time) bool {
	if !f.GetActive() || f.GetResolveTime() != nil {
		return false
	}
	start := f.GetRaiseTime()
	if f.GetEffectiveTime() != nil {
		start = f.GetEffectiveTime()
	}
	if start != nil && start.AsTime().After(now) {
		return false
	}
	return f.GetExpireTime() == nil || f.GetExpireTime().AsTime().After(now)
}

// ListAssetQualityFlags keeps, with asset_id, the flags on that asset or on one of its deployments; with
// active_only, the flags in force now (flagInForce).
func (r *assetRegistry) ListAssetQualityFlags(_ context.Context, req *servicesv1.ListAssetQualityFlagsRequest) (*servicesv1.ListAssetQualityFlagsResponse, error) {
	deploymentsOfAsset := map[string]bool{}
	if req.AssetId != nil {
		r.s.mu.RLock()
		for id, m := range r.s.deployments.items {
			if m.(*assetsv1.AssetDeployment).GetAssetId() == req.GetAssetId() {
				deploymentsOfAsset[id] = true
			}
		}
		r.s.mu.RUnlock()
	}
	now := r.s.now()
	items, next, err := regList(r.s, r.s.flags, req, req.GetReadMask(), func(f *assetsv1.AssetQualityFlag) bool {
		if req.AssetId != nil && f.GetAssetId() != req.GetAssetId() &&
			(f.DeploymentId == nil || !deploymentsOfAsset[f.GetDeploymentId()]) {
			return false
		}
		return !req.GetActiveOnly() || flagInForce(f, now)
	})
	return &servicesv1.ListAssetQualityFlagsResponse{AssetQualityFlags: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAssetQualityFlag(_ context.Context, req *servicesv1.CreateAssetQualityFlagRequest) (*servicesv1.CreateAssetQualityFlagResponse, error) {
	m, err := regCreate(r.s, r.s.flags, req.GetAssetQualityFlag())
	return &servicesv1.CreateAssetQualityFlagResponse{AssetQualityFlag: m}, err
}

func (r *assetRegistry) UpdateAssetQualityFlag(_ context.Context, req *servicesv1.UpdateAssetQualityFlagRequest) (*servicesv1.UpdateAssetQualityFlagResponse, error) {
	m, err := regUpdate(r.s, r.s.flags, req.GetAssetQualityFlag(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetQualityFlagResponse{AssetQualityFlag: m}, err
}

// --- asset groups -------------------------------------------------------------------------------------

func (r *assetRegistry) GetAssetGroup(_ context.Context, req *servicesv1.GetAssetGroupRequest) (*servicesv1.GetAssetGroupResponse, error) {
	m, err := regGet[*assetsv1.AssetGroup](r.s, r.s.groups, req.GetGroupId(), req.GetReadMask())
	return &servicesv1.GetAssetGroupResponse{AssetGroup: m}, err
}

func (r *assetRegistry) ListAssetGroups(_ context.Context, req *servicesv1.ListAssetGroupsRequest) (*servicesv1.ListAssetGroupsResponse, error) {
	items, next, err := regList[*assetsv1.AssetGroup](r.s, r.s.groups, req, req.GetReadMask(), nil)
	return &servicesv1.ListAssetGroupsResponse{AssetGroups: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAssetGroup(_ context.Context, req *servicesv1.CreateAssetGroupRequest) (*servicesv1.CreateAssetGroupResponse, error) {
	m, err := regCreate(r.s, r.s.groups, req.GetAssetGroup())
	return &servicesv1.CreateAssetGroupResponse{AssetGroup: m}, err
}

func (r *assetRegistry) UpdateAssetGroup(_ context.Context, req *servicesv1.UpdateAssetGroupRequest) (*servicesv1.UpdateAssetGroupResponse, error) {
	m, err := regUpdate(r.s, r.s.groups, req.GetAssetGroup(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetGroupResponse{AssetGroup: m}, err
}
