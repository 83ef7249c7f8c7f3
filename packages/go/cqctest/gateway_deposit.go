package cqctest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"google.golang.org/grpc/codes"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// GetDepositAddress answers a simulated, stable deposit address for (account, deployment): the first 20
// bytes of sha256("<account_id>|<deployment_id>") in hex, "0x"-prefixed on EVM chains; a memo (the first 4
// bytes as a decimal number) when the venue asset's network requires one. Errors: NOT_FOUND_ACCOUNT,
// NOT_FOUND_ASSET, NOT_FOUND_RESOURCE {deployment_id} (unknown, or a deployment of another asset);
// FAILED_PRECONDITION VENUE_REJECTED when the account's venue lists the asset with deposits disabled, for the
// asset or for that network.
func (g *venueGateway) GetDepositAddress(_ context.Context, req *servicesv1.GetDepositAddressRequest) (*servicesv1.GetDepositAddressResponse, error) {
	account, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId())
	if err != nil {
		return nil, err
	}
	if _, err := get[*assetsv1.Asset](g.s, g.s.assets, req.GetAssetId()); err != nil {
		return nil, err
	}
	deployment, err := get[*assetsv1.AssetDeployment](g.s, g.s.deployments, req.GetDeploymentId())
	if err == nil && deployment.GetAssetId() != req.GetAssetId() {
		err = newError(codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"deployment_id": req.GetDeploymentId()},
			"deployment %s is not a deployment of asset %s", req.GetDeploymentId(), req.GetAssetId())
	}
	if err != nil {
		return nil, err
	}
	memoRequired := false
	listed, _, _ := list(g.s, g.s.venueAssets, 1, "", func(v *venuesv1.VenueAsset) bool {
		return v.GetVenueId() == account.GetVenueId() && v.GetAssetId() == req.GetAssetId()
	})
	if len(listed) > 0 {
		venueAsset := listed[0]
		disabled := venueAsset.DepositEnabled != nil && !venueAsset.GetDepositEnabled()
		for _, network := range venueAsset.GetNetworks() {
			if network.GetDeploymentId() == req.GetDeploymentId() {
				disabled = disabled || !network.GetDepositEnabled()
				memoRequired = network.GetMemoRequired()
			}
		}
		if disabled {
			return nil, newError(codes.FailedPrecondition, "VENUE_REJECTED",
				map[string]string{"venue_message": "deposits of " + venueAsset.GetVenueCode() + " over this network are disabled"},
				"venue %s has deposits of %s over deployment %s disabled", account.GetVenueId(), venueAsset.GetVenueCode(), req.GetDeploymentId())
		}
	}
	sum := sha256.Sum256([]byte(req.GetAccountId() + "|" + req.GetDeploymentId()))
	address := hex.EncodeToString(sum[:20])
	if chain, err := get[*assetsv1.Chain](g.s, g.s.chains, deployment.GetChainId()); err == nil && chain.GetFamily() == assetsv1.ChainFamily_CHAIN_FAMILY_EVM {
		address = "0x" + address
	}
	out := &servicesv1.GetDepositAddressResponse{Address: address, DeploymentId: req.GetDeploymentId()}
	if memoRequired {
		out.Memo = strconv.FormatUint(uint64(binary.BigEndian.Uint32(sum[:4])), 10)
	}
	return out, nil
}
