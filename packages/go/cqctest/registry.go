package cqctest

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"

	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	identifiersv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/identifiers/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// assetRegistry implements cqc.services.v1.AssetRegistry over the shared in-memory state. Requests arrive
// validated (interceptors); errors are apiErrors mapped by the interceptors.
type assetRegistry struct {
	servicesv1.UnimplementedAssetRegistryServer
	s *state
}

func optionalEq(filter *string, value string) bool { return filter == nil || *filter == value }

func (r *assetRegistry) resolve(venueID, symbol string) (*marketsv1.Market, error) {
	found, _, err := list(r.s, r.s.markets, 1, "", func(m *marketsv1.Market) bool {
		return m.GetVenueId() == venueID && m.GetVenueSymbol() == symbol
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return found[0], nil
}

func (r *assetRegistry) ResolveMarket(_ context.Context, req *servicesv1.ResolveMarketRequest) (*servicesv1.ResolveMarketResponse, error) {
	if err := checkReadMask(req.GetReadMask(), (&marketsv1.Market{}).ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	found, err := r.resolve(req.GetVenueId(), req.GetVenueSymbol())
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, newError(codes.NotFound, "NOT_FOUND_MARKET",
			map[string]string{"venue_id": req.GetVenueId(), "venue_symbol": req.GetVenueSymbol()},
			"venue %s lists no market %q", req.GetVenueId(), req.GetVenueSymbol())
	}
	return &servicesv1.ResolveMarketResponse{Market: readable(found, req.GetReadMask())}, nil
}

// typedInstrument returns the instrument, or FAILED_PRECONDITION WRONG_INSTRUMENT_TYPE if it has another type.
func (r *assetRegistry) typedInstrument(id, want string) (*marketsv1.Instrument, error) {
	ins, err := regGet[*marketsv1.Instrument](r.s, r.s.instruments, id, nil)
	if err != nil {
		return nil, err
	}
	if ins.GetInstrumentType() != want {
		return nil, newError(codes.FailedPrecondition, "WRONG_INSTRUMENT_TYPE",
			map[string]string{"instrument_id": id, "actual_type": ins.GetInstrumentType()},
			"instrument %s is %s, not %s", id, ins.GetInstrumentType(), want)
	}
	return ins, nil
}

func (r *assetRegistry) GetSpotInstrument(_ context.Context, req *servicesv1.GetSpotInstrumentRequest) (*servicesv1.GetSpotInstrumentResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "SPOT")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetSpotInstrumentResponse{Instrument: ins, SpotInstrument: ins.GetSpot()}, nil
}

func (r *assetRegistry) GetPerpContract(_ context.Context, req *servicesv1.GetPerpContractRequest) (*servicesv1.GetPerpContractResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "PERPETUAL")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetPerpContractResponse{Instrument: ins, PerpContract: ins.GetPerpetual()}, nil
}

func (r *assetRegistry) GetFutureContract(_ context.Context, req *servicesv1.GetFutureContractRequest) (*servicesv1.GetFutureContractResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "FUTURE")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetFutureContractResponse{Instrument: ins, FutureContract: ins.GetFuture()}, nil
}

func (r *assetRegistry) GetOptionSeries(_ context.Context, req *servicesv1.GetOptionSeriesRequest) (*servicesv1.GetOptionSeriesResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "OPTION")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetOptionSeriesResponse{Instrument: ins, OptionSeries: ins.GetOption()}, nil
}

func (r *assetRegistry) GetLendingDeposit(_ context.Context, req *servicesv1.GetLendingDepositRequest) (*servicesv1.GetLendingDepositResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "LENDING_DEPOSIT")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetLendingDepositResponse{Instrument: ins, LendingDeposit: ins.GetLendingDeposit()}, nil
}

func (r *assetRegistry) GetLendingBorrow(_ context.Context, req *servicesv1.GetLendingBorrowRequest) (*servicesv1.GetLendingBorrowResponse, error) {
	ins, err := r.typedInstrument(req.GetInstrumentId(), "LENDING_BORROW")
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetLendingBorrowResponse{Instrument: ins, LendingBorrow: ins.GetLendingBorrow()}, nil
}

// --- assets -------------------------------------------------------------------------------------------

func (r *assetRegistry) GetAsset(_ context.Context, req *servicesv1.GetAssetRequest) (*servicesv1.GetAssetResponse, error) {
	m, err := regGet[*assetsv1.Asset](r.s, r.s.assets, req.GetAssetId(), req.GetReadMask())
	return &servicesv1.GetAssetResponse{Asset: m}, err
}

func (r *assetRegistry) ListAssets(_ context.Context, req *servicesv1.ListAssetsRequest) (*servicesv1.ListAssetsResponse, error) {
	items, next, err := regList(r.s, r.s.assets, req, req.GetReadMask(), func(a *assetsv1.Asset) bool {
		return (req.GetType() == 0 || a.GetType() == req.GetType()) &&
			(req.GetSymbol() == "" || a.GetSymbol() == req.GetSymbol()) &&
			(req.GetStatus() == 0 || a.GetStatus() == req.GetStatus())
	})
	return &servicesv1.ListAssetsResponse{Assets: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAsset(_ context.Context, req *servicesv1.CreateAssetRequest) (*servicesv1.CreateAssetResponse, error) {
	m, err := regCreate(r.s, r.s.assets, req.GetAsset())
	return &servicesv1.CreateAssetResponse{Asset: m}, err
}

func (r *assetRegistry) UpdateAsset(_ context.Context, req *servicesv1.UpdateAssetRequest) (*servicesv1.UpdateAssetResponse, error) {
	m, err := regUpdate(r.s, r.s.assets, req.GetAsset(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetResponse{Asset: m}, err
}

// --- chains -------------------------------------------------------------------------------------------

func (r *assetRegistry) GetChain(_ context.Context, req *servicesv1.GetChainRequest) (*servicesv1.GetChainResponse, error) {
	m, err := regGet[*assetsv1.Chain](r.s, r.s.chains, req.GetChainId(), req.GetReadMask())
	return &servicesv1.GetChainResponse{Chain: m}, err
}

func (r *assetRegistry) ListChains(_ context.Context, req *servicesv1.ListChainsRequest) (*servicesv1.ListChainsResponse, error) {
	items, next, err := regList(r.s, r.s.chains, req, req.GetReadMask(), func(c *assetsv1.Chain) bool {
		return (req.GetFamily() == 0 || c.GetFamily() == req.GetFamily()) && (req.GetIncludeTestnets() || !c.GetIsTestnet())
	})
	return &servicesv1.ListChainsResponse{Chains: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateChain(_ context.Context, req *servicesv1.CreateChainRequest) (*servicesv1.CreateChainResponse, error) {
	m, err := regCreate(r.s, r.s.chains, req.GetChain())
	return &servicesv1.CreateChainResponse{Chain: m}, err
}

func (r *assetRegistry) UpdateChain(_ context.Context, req *servicesv1.UpdateChainRequest) (*servicesv1.UpdateChainResponse, error) {
	m, err := regUpdate(r.s, r.s.chains, req.GetChain(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateChainResponse{Chain: m}, err
}

// --- asset deployments --------------------------------------------------------------------------------

func (r *assetRegistry) GetAssetDeployment(_ context.Context, req *servicesv1.GetAssetDeploymentRequest) (*servicesv1.GetAssetDeploymentResponse, error) {
	m, err := regGet[*assetsv1.AssetDeployment](r.s, r.s.deployments, req.GetDeploymentId(), req.GetReadMask())
	return &servicesv1.GetAssetDeploymentResponse{AssetDeployment: m}, err
}

func (r *assetRegistry) ListAssetDeployments(_ context.Context, req *servicesv1.ListAssetDeploymentsRequest) (*servicesv1.ListAssetDeploymentsResponse, error) {
	items, next, err := regList(r.s, r.s.deployments, req, req.GetReadMask(), func(d *assetsv1.AssetDeployment) bool {
		addressOK := req.GetAddress() == "" || d.GetAddress() == req.GetAddress() ||
			(strings.HasPrefix(req.GetAddress(), "0x") && strings.EqualFold(d.GetAddress(), req.GetAddress()))
		return optionalEq(req.AssetId, d.GetAssetId()) && optionalEq(req.ChainId, d.GetChainId()) && addressOK
	})
	return &servicesv1.ListAssetDeploymentsResponse{AssetDeployments: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateAssetDeployment(_ context.Context, req *servicesv1.CreateAssetDeploymentRequest) (*servicesv1.CreateAssetDeploymentResponse, error) {
	m, err := regCreate(r.s, r.s.deployments, req.GetAssetDeployment())
	return &servicesv1.CreateAssetDeploymentResponse{AssetDeployment: m}, err
}

func (r *assetRegistry) UpdateAssetDeployment(_ context.Context, req *servicesv1.UpdateAssetDeploymentRequest) (*servicesv1.UpdateAssetDeploymentResponse, error) {
	m, err := regUpdate(r.s, r.s.deployments, req.GetAssetDeployment(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateAssetDeploymentResponse{AssetDeployment: m}, err
}

// --- instruments --------------------------------------------------------------------------------------

func (r *assetRegistry) GetInstrument(_ context.Context, req *servicesv1.GetInstrumentRequest) (*servicesv1.GetInstrumentResponse, error) {
	m, err := regGet[*marketsv1.Instrument](r.s, r.s.instruments, req.GetInstrumentId(), req.GetReadMask())
	return &servicesv1.GetInstrumentResponse{Instrument: m}, err
}

func (r *assetRegistry) ListInstruments(_ context.Context, req *servicesv1.ListInstrumentsRequest) (*servicesv1.ListInstrumentsResponse, error) {
	keep, err := instrumentFilter(req)
	if err != nil {
		return nil, err
	}
	items, next, err := regList(r.s, r.s.instruments, req, req.GetReadMask(), keep)
	return &servicesv1.ListInstrumentsResponse{Instruments: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateInstrument(_ context.Context, req *servicesv1.CreateInstrumentRequest) (*servicesv1.CreateInstrumentResponse, error) {
	m, err := regCreate(r.s, r.s.instruments, req.GetInstrument())
	return &servicesv1.CreateInstrumentResponse{Instrument: m}, err
}

func (r *assetRegistry) UpdateInstrument(_ context.Context, req *servicesv1.UpdateInstrumentRequest) (*servicesv1.UpdateInstrumentResponse, error) {
	m, err := regUpdate(r.s, r.s.instruments, req.GetInstrument(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateInstrumentResponse{Instrument: m}, err
}

// --- markets ------------------------------------------------------------------------------------------

func (r *assetRegistry) GetMarket(_ context.Context, req *servicesv1.GetMarketRequest) (*servicesv1.GetMarketResponse, error) {
	m, err := regGet[*marketsv1.Market](r.s, r.s.markets, req.GetMarketId(), req.GetReadMask())
	return &servicesv1.GetMarketResponse{Market: m}, err
}

func (r *assetRegistry) ListMarkets(_ context.Context, req *servicesv1.ListMarketsRequest) (*servicesv1.ListMarketsResponse, error) {
	items, next, err := regList(r.s, r.s.markets, req, req.GetReadMask(), func(m *marketsv1.Market) bool {
		return optionalEq(req.VenueId, m.GetVenueId()) && optionalEq(req.InstrumentId, m.GetInstrumentId()) &&
			(req.GetMarketType() == 0 || m.GetMarketType() == req.GetMarketType()) &&
			(req.GetStatus() == 0 || m.GetStatus() == req.GetStatus())
	})
	return &servicesv1.ListMarketsResponse{Markets: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateMarket(_ context.Context, req *servicesv1.CreateMarketRequest) (*servicesv1.CreateMarketResponse, error) {
	m, err := regCreate(r.s, r.s.markets, req.GetMarket())
	return &servicesv1.CreateMarketResponse{Market: m}, err
}

func (r *assetRegistry) UpdateMarket(_ context.Context, req *servicesv1.UpdateMarketRequest) (*servicesv1.UpdateMarketResponse, error) {
	m, err := regUpdate(r.s, r.s.markets, req.GetMarket(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateMarketResponse{Market: m}, err
}

// --- identifiers --------------------------------------------------------------------------------------

func (r *assetRegistry) GetIdentifier(_ context.Context, req *servicesv1.GetIdentifierRequest) (*servicesv1.GetIdentifierResponse, error) {
	m, err := regGet[*identifiersv1.Identifier](r.s, r.s.identifiers, req.GetIdentifierId(), req.GetReadMask())
	return &servicesv1.GetIdentifierResponse{Identifier: m}, err
}

func (r *assetRegistry) ListIdentifiers(_ context.Context, req *servicesv1.ListIdentifiersRequest) (*servicesv1.ListIdentifiersResponse, error) {
	items, next, err := regList(r.s, r.s.identifiers, req, req.GetReadMask(), func(i *identifiersv1.Identifier) bool {
		return optionalEq(req.AssetId, i.GetAssetId()) && optionalEq(req.InstrumentId, i.GetInstrumentId()) &&
			optionalEq(req.MarketId, i.GetMarketId()) && (req.GetValue() == "" || i.GetValue() == req.GetValue())
	})
	return &servicesv1.ListIdentifiersResponse{Identifiers: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateIdentifier(_ context.Context, req *servicesv1.CreateIdentifierRequest) (*servicesv1.CreateIdentifierResponse, error) {
	m, err := regCreate(r.s, r.s.identifiers, req.GetIdentifier())
	return &servicesv1.CreateIdentifierResponse{Identifier: m}, err
}

func (r *assetRegistry) UpdateIdentifier(_ context.Context, req *servicesv1.UpdateIdentifierRequest) (*servicesv1.UpdateIdentifierResponse, error) {
	m, err := regUpdate(r.s, r.s.identifiers, req.GetIdentifier(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateIdentifierResponse{Identifier: m}, err
}

// --- venues -------------------------------------------------------------------------------------------

func (r *assetRegistry) GetVenue(_ context.Context, req *servicesv1.GetVenueRequest) (*servicesv1.GetVenueResponse, error) {
	m, err := regGet[*venuesv1.Venue](r.s, r.s.venues, req.GetVenueId(), req.GetReadMask())
	return &servicesv1.GetVenueResponse{Venue: m}, err
}

func (r *assetRegistry) ListVenues(_ context.Context, req *servicesv1.ListVenuesRequest) (*servicesv1.ListVenuesResponse, error) {
	items, next, err := regList[*venuesv1.Venue](r.s, r.s.venues, req, req.GetReadMask(), nil)
	return &servicesv1.ListVenuesResponse{Venues: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateVenue(_ context.Context, req *servicesv1.CreateVenueRequest) (*servicesv1.CreateVenueResponse, error) {
	m, err := regCreate(r.s, r.s.venues, req.GetVenue())
	return &servicesv1.CreateVenueResponse{Venue: m}, err
}

func (r *assetRegistry) UpdateVenue(_ context.Context, req *servicesv1.UpdateVenueRequest) (*servicesv1.UpdateVenueResponse, error) {
	m, err := regUpdate(r.s, r.s.venues, req.GetVenue(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateVenueResponse{Venue: m}, err
}

// --- venue assets -------------------------------------------------------------------------------------

func (r *assetRegistry) GetVenueAsset(_ context.Context, req *servicesv1.GetVenueAssetRequest) (*servicesv1.GetVenueAssetResponse, error) {
	m, err := regGet[*venuesv1.VenueAsset](r.s, r.s.venueAssets, req.GetVenueAssetId(), req.GetReadMask())
	return &servicesv1.GetVenueAssetResponse{VenueAsset: m}, err
}

func (r *assetRegistry) ListVenueAssets(_ context.Context, req *servicesv1.ListVenueAssetsRequest) (*servicesv1.ListVenueAssetsResponse, error) {
	items, next, err := regList(r.s, r.s.venueAssets, req, req.GetReadMask(), func(v *venuesv1.VenueAsset) bool {
		return optionalEq(req.VenueId, v.GetVenueId()) && optionalEq(req.AssetId, v.GetAssetId())
	})
	return &servicesv1.ListVenueAssetsResponse{VenueAssets: items, NextPageToken: next}, err
}

func (r *assetRegistry) CreateVenueAsset(_ context.Context, req *servicesv1.CreateVenueAssetRequest) (*servicesv1.CreateVenueAssetResponse, error) {
	m, err := regCreate(r.s, r.s.venueAssets, req.GetVenueAsset())
	return &servicesv1.CreateVenueAssetResponse{VenueAsset: m}, err
}

func (r *assetRegistry) UpdateVenueAsset(_ context.Context, req *servicesv1.UpdateVenueAssetRequest) (*servicesv1.UpdateVenueAssetResponse, error) {
	m, err := regUpdate(r.s, r.s.venueAssets, req.GetVenueAsset(), req.GetUpdateMask(), req.GetEtag())
	return &servicesv1.UpdateVenueAssetResponse{VenueAsset: m}, err
}
