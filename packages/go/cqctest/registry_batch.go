package cqctest

import (
	"context"
	"math/big"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// BatchGetAssets returns the assets in the order asked, all or nothing.
func (r *assetRegistry) BatchGetAssets(_ context.Context, req *servicesv1.BatchGetAssetsRequest) (*servicesv1.BatchGetAssetsResponse, error) {
	items, err := regBatch[*assetsv1.Asset](r.s, r.s.assets, req.GetAssetIds(), req.GetReadMask())
	if err != nil {
		return nil, err
	}
	return &servicesv1.BatchGetAssetsResponse{Assets: items}, nil
}

// BatchGetInstruments returns the instruments in the order asked, all or nothing.
func (r *assetRegistry) BatchGetInstruments(_ context.Context, req *servicesv1.BatchGetInstrumentsRequest) (*servicesv1.BatchGetInstrumentsResponse, error) {
	items, err := regBatch[*marketsv1.Instrument](r.s, r.s.instruments, req.GetInstrumentIds(), req.GetReadMask())
	if err != nil {
		return nil, err
	}
	return &servicesv1.BatchGetInstrumentsResponse{Instruments: items}, nil
}

// BatchGetMarkets returns the markets in the order asked, all or nothing.
func (r *assetRegistry) BatchGetMarkets(_ context.Context, req *servicesv1.BatchGetMarketsRequest) (*servicesv1.BatchGetMarketsResponse, error) {
	items, err := regBatch[*marketsv1.Market](r.s, r.s.markets, req.GetMarketIds(), req.GetReadMask())
	if err != nil {
		return nil, err
	}
	return &servicesv1.BatchGetMarketsResponse{Markets: items}, nil
}

// BatchResolveMarkets resolves each symbol like ResolveMarket; an unknown symbol gets a result without market.
func (r *assetRegistry) BatchResolveMarkets(_ context.Context, req *servicesv1.BatchResolveMarketsRequest) (*servicesv1.BatchResolveMarketsResponse, error) {
	if err := checkReadMask(req.GetReadMask(), (&marketsv1.Market{}).ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	results := make([]*servicesv1.ResolvedMarket, 0, len(req.GetSymbols()))
	for _, symbol := range req.GetSymbols() {
		found, err := r.resolve(symbol.GetVenueId(), symbol.GetVenueSymbol())
		if err != nil {
			return nil, err
		}
		result := &servicesv1.ResolvedMarket{Symbol: symbol}
		if found != nil {
			result.Market = readable(found, req.GetReadMask())
		}
		results = append(results, result)
	}
	if err := checkBatchSize(results); err != nil {
		return nil, err
	}
	return &servicesv1.BatchResolveMarketsResponse{Results: results}, nil
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r
}

// instrumentFilter combines the ListInstruments filters with AND: type, base, status, expiry range (dated
// instruments only), strike range and option type (options only).
func instrumentFilter(req *servicesv1.ListInstrumentsRequest) (func(*marketsv1.Instrument) bool, error) {
	var minStrike, maxStrike *big.Rat
	if req.MinStrike != nil {
		minStrike = rat(req.GetMinStrike())
	}
	if req.MaxStrike != nil {
		maxStrike = rat(req.GetMaxStrike())
	}
	optionOnly := req.MinStrike != nil || req.MaxStrike != nil || req.GetOptionType() != ""
	return func(i *marketsv1.Instrument) bool {
		if req.GetInstrumentType() != "" && i.GetInstrumentType() != req.GetInstrumentType() {
			return false
		}
		if !optionalEq(req.BaseAssetId, i.GetBaseAssetId()) {
			return false
		}
		if req.GetStatus() != 0 && i.GetStatus() != req.GetStatus() {
			return false
		}
		if req.GetMinExpiryTime() != nil || req.GetMaxExpiryTime() != nil {
			expiry := i.GetFuture().GetExpiryTime()
			if i.GetOption() != nil {
				expiry = i.GetOption().GetExpiryTime()
			}
			if expiry == nil {
				return false
			}
			at := expiry.AsTime()
			if low := req.GetMinExpiryTime(); low != nil && at.Before(low.AsTime()) {
				return false
			}
			if high := req.GetMaxExpiryTime(); high != nil && at.After(high.AsTime()) {
				return false
			}
		}
		if optionOnly {
			option := i.GetOption()
			if option == nil {
				return false
			}
			strike := rat(option.GetStrike())
			if strike == nil {
				return false
			}
			if minStrike != nil && strike.Cmp(minStrike) < 0 {
				return false
			}
			if maxStrike != nil && strike.Cmp(maxStrike) > 0 {
				return false
			}
			if req.GetOptionType() != "" && option.GetOptionType() != req.GetOptionType() {
				return false
			}
		}
		return true
	}, nil
}

// --- asset identifiers ----------------------------------------------------------------------------------

func (r *assetRegistry) GetAssetIdentifier(_ context.Context, req *servicesv1.GetAssetIdentifierRequest) (*servicesv1.GetAssetIdentifierResponse, error) {
	m, err := regGet[*assetsv1.AssetIdentifier](r.s, r.s.assetIdentifiers, req.GetIdentifierId(), req.GetReadMask())
	return &servicesv1.GetAssetIdentifierResponse{AssetIdentifier: m}, err
}

func (r *assetRegistry) ListAssetIdentifiers(_ context.Context, req *servicesv1.ListAssetIdentifiersRequest) (*servicesv1.ListAssetIdentifiersResponse, error) {
	items, next, err := regList(r.s, r.s.assetIdentifiers, req, req.GetReadMask(), func(i *assetsv1.AssetIdentifier) bool {
		return optionalEq(req.AssetId, i.GetAssetId()) && (req.GetSource() == 0 || i.GetSource() == req.GetSource()) &&
			optionalEq(req.DeploymentId, i.GetDeploymentId()) && (req.GetValue() == "" || i.GetValue() == req.GetValue())
	})
	return &servicesv1.ListAssetIdentifiersResponse{AssetIdentifiers: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAssetIdentifier(_ context.Context, req *servicesv1.CreateAssetIdentifierRequest) (*servicesv1.CreateAssetIdentifierResponse, error) {
	m, err := regCreate(r.s, r.s.assetIdentifiers, req.GetAssetIdentifier())
	return &servicesv1.CreateAssetIdentifierResponse{AssetIdentifier: m}, err
}

func (r *assetRegistry) UpdateAssetIdentifier(_ context.Context, req *servicesv1.UpdateAssetIdentifierRequest) (*servicesv1.UpdateAssetIdentifierResponse, error) {
	m, err := regUpdate(r.s, r.s.assetIdentifiers, req.GetAssetIdentifier(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetIdentifierResponse{AssetIdentifier: m}, err
}
