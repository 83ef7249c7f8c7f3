package cqctest

import (
	"context"
	"sync"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// venueGateway implements cqc.services.v1.VenueGateway: orders live in memory, nothing reaches a venue.
type venueGateway struct {
	servicesv1.UnimplementedVenueGatewayServer
	s *state

	logOnce sync.Once // order entry (gateway_orders.go): the change log, lists, dead-man switches
	olog    *orderLog
}

// --- venue accounts -----------------------------------------------------------------------------------

func (g *venueGateway) GetVenueAccount(_ context.Context, req *servicesv1.GetVenueAccountRequest) (*servicesv1.GetVenueAccountResponse, error) {
	m, err := get[*venuesv1.VenueAccount](g.s, g.s.accounts, req.GetAccountId())
	return &servicesv1.GetVenueAccountResponse{VenueAccount: m}, err
}

func (g *venueGateway) ListVenueAccounts(_ context.Context, req *servicesv1.ListVenueAccountsRequest) (*servicesv1.ListVenueAccountsResponse, error) {
	items, next, err := list(g.s, g.s.accounts, req.GetPageSize(), req.GetPageToken(), func(a *venuesv1.VenueAccount) bool {
		return optionalEq(req.VenueId, a.GetVenueId())
	})
	return &servicesv1.ListVenueAccountsResponse{VenueAccounts: items, NextPageToken: next}, err
}

func (g *venueGateway) CreateVenueAccount(_ context.Context, req *servicesv1.CreateVenueAccountRequest) (*servicesv1.CreateVenueAccountResponse, error) {
	m, err := create(g.s, g.s.accounts, req.GetVenueAccount())
	return &servicesv1.CreateVenueAccountResponse{VenueAccount: m}, err
}

func (g *venueGateway) UpdateVenueAccount(_ context.Context, req *servicesv1.UpdateVenueAccountRequest) (*servicesv1.UpdateVenueAccountResponse, error) {
	m, err := update(g.s, g.s.accounts, req.GetVenueAccount(), req.GetUpdateMask())
	return &servicesv1.UpdateVenueAccountResponse{VenueAccount: m}, err
}
