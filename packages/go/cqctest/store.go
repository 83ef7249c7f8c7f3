package cqctest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	identifiersv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/identifiers/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

const defaultPageSize = 100

// collection holds one kind of resource keyed by its id field.
type collection struct {
	idField protoreflect.Name // e.g. "asset_id"
	reason  string            // NOT_FOUND reason, e.g. "NOT_FOUND_ASSET"
	items   map[string]proto.Message
}

func newCollection(idField protoreflect.Name, reason string) *collection {
	return &collection{idField: idField, reason: reason, items: map[string]proto.Message{}}
}

func (c *collection) idOf(m proto.Message) string {
	r := m.ProtoReflect()
	return r.Get(r.Descriptor().Fields().ByName(c.idField)).String()
}

// state is everything the three services share, guarded by mu.
type state struct {
	mu sync.RWMutex

	assets, chains, deployments, instruments, markets *collection
	identifiers, venues, venueAssets, accounts        *collection
	assetIdentifiers                                  *collection
	relationships, flags, groups                      *collection // registry_groups.go

	prices []*marketsv1.Price
	books  []*marketsv1.OrderBook
	trades []*marketsv1.Trade
	feeds  marketDataFeeds // funding, open interest, liquidations, tickers, greeks, asset market data

	portfolio portfolioState // portfolio.go: portfolios, allocations, positions, ledger

	orders    map[string]*orderEntry // by order_id
	nextSeq   int
	requests  map[string]requestEntry // by request_id
	closing   chan struct{}
	closeOnce sync.Once
	now       func() time.Time
}

func newState() *state {
	return &state{
		assets:           newCollection("asset_id", "NOT_FOUND_ASSET"),
		chains:           newCollection("chain_id", "NOT_FOUND_CHAIN"),
		deployments:      newCollection("deployment_id", "NOT_FOUND_RESOURCE"),
		instruments:      newCollection("instrument_id", "NOT_FOUND_INSTRUMENT"),
		markets:          newCollection("market_id", "NOT_FOUND_MARKET"),
		identifiers:      newCollection("identifier_id", "NOT_FOUND_IDENTIFIER"),
		assetIdentifiers: newCollection("identifier_id", "NOT_FOUND_IDENTIFIER"),
		venues:           newCollection("venue_id", "NOT_FOUND_VENUE"),
		venueAssets:      newCollection("venue_asset_id", "NOT_FOUND_VENUE_ASSET"),
		accounts:         newCollection("account_id", "NOT_FOUND_ACCOUNT"),
		relationships:    newCollection("relationship_id", "NOT_FOUND_RESOURCE"),
		flags:            newCollection("flag_id", "NOT_FOUND_RESOURCE"),
		groups:           newCollection("group_id", "NOT_FOUND_RESOURCE"),
		orders:           map[string]*orderEntry{},
		requests:         map[string]requestEntry{},
		closing:          make(chan struct{}),
		now:              time.Now,
	}
}

func (s *state) close() { s.closeOnce.Do(func() { close(s.closing) }) }

// seed loads the examples of testdata (DIR/examples/<type>/*.json, or DIR/<type>/*.json); with no
// testdata, the seed bundle embedded in the package (seed.go).
func (s *state) seed(testdata string) error {
	load := bundleLoader
	if testdata != "" {
		dir := filepath.Join(testdata, "examples")
		if _, err := os.Stat(dir); err != nil {
			dir = testdata
		}
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("cqctest: testdata: %w", err)
		}
		load = dirLoader(dir)
	}
	keyed := map[string]*collection{
		"cqc.assets.v1.Asset":             s.assets,
		"cqc.assets.v1.Chain":             s.chains,
		"cqc.assets.v1.AssetDeployment":   s.deployments,
		"cqc.markets.v1.Instrument":       s.instruments,
		"cqc.markets.v1.Market":           s.markets,
		"cqc.identifiers.v1.Identifier":   s.identifiers,
		"cqc.assets.v1.AssetIdentifier":   s.assetIdentifiers,
		"cqc.venues.v1.Venue":             s.venues,
		"cqc.venues.v1.VenueAsset":        s.venueAssets,
		"cqc.venues.v1.VenueAccount":      s.accounts,
		"cqc.assets.v1.AssetRelationship": s.relationships,
		"cqc.assets.v1.AssetQualityFlag":  s.flags,
		"cqc.assets.v1.AssetGroup":        s.groups,
	}
	types := map[string]func() proto.Message{
		"cqc.assets.v1.Asset":             func() proto.Message { return &assetsv1.Asset{} },
		"cqc.assets.v1.Chain":             func() proto.Message { return &assetsv1.Chain{} },
		"cqc.assets.v1.AssetDeployment":   func() proto.Message { return &assetsv1.AssetDeployment{} },
		"cqc.markets.v1.Instrument":       func() proto.Message { return &marketsv1.Instrument{} },
		"cqc.markets.v1.Market":           func() proto.Message { return &marketsv1.Market{} },
		"cqc.identifiers.v1.Identifier":   func() proto.Message { return &identifiersv1.Identifier{} },
		"cqc.assets.v1.AssetIdentifier":   func() proto.Message { return &assetsv1.AssetIdentifier{} },
		"cqc.venues.v1.Venue":             func() proto.Message { return &venuesv1.Venue{} },
		"cqc.venues.v1.VenueAsset":        func() proto.Message { return &venuesv1.VenueAsset{} },
		"cqc.venues.v1.VenueAccount":      func() proto.Message { return &venuesv1.VenueAccount{} },
		"cqc.assets.v1.AssetRelationship": func() proto.Message { return &assetsv1.AssetRelationship{} },
		"cqc.assets.v1.AssetQualityFlag":  func() proto.Message { return &assetsv1.AssetQualityFlag{} },
		"cqc.assets.v1.AssetGroup":        func() proto.Message { return &assetsv1.AssetGroup{} },
	}
	for typeName, c := range keyed {
		c := c
		if err := load(typeName, types[typeName], func(m proto.Message) { c.items[c.idOf(m)] = m }); err != nil {
			return err
		}
	}
	if err := load("cqc.markets.v1.Price", func() proto.Message { return &marketsv1.Price{} },
		func(m proto.Message) { s.prices = append(s.prices, m.(*marketsv1.Price)) }); err != nil {
		return err
	}
	if err := load("cqc.markets.v1.OrderBook", func() proto.Message { return &marketsv1.OrderBook{} },
		func(m proto.Message) { s.books = append(s.books, m.(*marketsv1.OrderBook)) }); err != nil {
		return err
	}
	if err := load("cqc.markets.v1.Trade", func() proto.Message { return &marketsv1.Trade{} },
		func(m proto.Message) { s.trades = append(s.trades, m.(*marketsv1.Trade)) }); err != nil {
		return err
	}
	if err := s.portfolio.seed(load); err != nil {
		return err
	}
	return s.feeds.seed(load)
}

// --- page tokens --------------------------------------------------------------------------------------

// pageTokens signs this server's page tokens (cqckit: opaque, base64url, HMAC-SHA256 with a per-process
// key); garbage, tampered and other servers' tokens are refused with INVALID_ARGUMENT INVALID_PAGE_TOKEN.
var pageTokens = cqckit.NewPageTokens(nil)

func encodeToken(lastID string) string { return pageTokens.Encode("", "", lastID) }

// decodeToken returns the last id of the previous page ("" for the first page).
func decodeToken(token string) (string, error) { return pageTokens.Decode("", "", token) }

// --- generic resource operations ----------------------------------------------------------------------

func get[T proto.Message](s *state, c *collection, id string) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := c.items[id]
	if !ok {
		var zero T
		return zero, notFound(c.reason, string(c.idField), id)
	}
	return proto.Clone(m).(T), nil
}

// page returns one page of the items (in the given order) after the token's id.
func page[T any](items []T, idOf func(T) string, size int32, token string, ascending bool) ([]T, string, error) {
	after, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	if size <= 0 {
		size = defaultPageSize
	}
	start := 0
	if after != "" {
		start = sort.Search(len(items), func(i int) bool {
			if ascending {
				return idOf(items[i]) > after
			}
			return idOf(items[i]) < after
		})
	}
	end := min(start+int(size), len(items))
	next := ""
	if end < len(items) {
		next = encodeToken(idOf(items[end-1]))
	}
	return items[start:end], next, nil
}

// list returns one page of the collection's items that keep accepts, ordered by id ascending.
func list[T proto.Message](s *state, c *collection, size int32, token string, keep func(T) bool) ([]T, string, error) {
	s.mu.RLock()
	found := make([]T, 0, len(c.items))
	for _, m := range c.items {
		if t := m.(T); keep == nil || keep(t) {
			found = append(found, proto.Clone(t).(T))
		}
	}
	s.mu.RUnlock()
	sort.Slice(found, func(i, j int) bool { return c.idOf(found[i]) < c.idOf(found[j]) })
	return page(found, func(t T) string { return c.idOf(t) }, size, token, true)
}

var outputOnly = []protoreflect.Name{"create_time", "update_time"}

func withoutOutputOnly(m proto.Message) proto.Message {
	m = proto.Clone(m)
	r := m.ProtoReflect()
	for _, name := range outputOnly {
		if fd := r.Descriptor().Fields().ByName(name); fd != nil {
			r.Clear(fd)
		}
	}
	return m
}

func setTime(m proto.Message, name protoreflect.Name, t time.Time) {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(name)
	if fd != nil && fd.Message() != nil && fd.Message().FullName() == "google.protobuf.Timestamp" {
		r.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
	}
}

// create stores msg; the same id with an equal message (ignoring output-only times) returns the stored one.
func create[T proto.Message](s *state, c *collection, msg T) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.idOf(msg)
	if existing, ok := c.items[id]; ok {
		if sameRequest(withoutOutputOnly(existing), withoutOutputOnly(msg)) {
			return proto.Clone(existing).(T), nil
		}
		var zero T
		return zero, newError(codes.AlreadyExists, "ALREADY_EXISTS", map[string]string{string(c.idField): id},
			"%s %q exists with different values", c.idField, id)
	}
	stored := proto.Clone(msg).(T)
	now := s.now()
	setTime(stored, "create_time", now)
	setTime(stored, "update_time", now)
	c.items[id] = stored
	return proto.Clone(stored).(T), nil
}

// update applies the top-level update_mask paths of msg to the stored resource with msg's id.
func update[T proto.Message](s *state, c *collection, msg T, mask *fieldmaskpb.FieldMask) (T, error) {
	var zero T
	desc := msg.ProtoReflect().Descriptor()
	var fields []protoreflect.FieldDescriptor
	var unknown, immutable []string // refused paths, in request order (all of them, as the Python server)
	for _, path := range mask.GetPaths() {
		fd := desc.Fields().ByName(protoreflect.Name(path))
		switch {
		case fd == nil || strings.Contains(path, "."):
			unknown = append(unknown, path)
		case fd.Name() == c.idField || fd.Name() == "create_time" || fd.Name() == "update_time" || fd.Name() == "etag":
			immutable = append(immutable, path)
		default:
			fields = append(fields, fd)
		}
	}
	if len(unknown) > 0 {
		return zero, newError(codes.InvalidArgument, "INVALID_UPDATE_MASK", map[string]string{"paths": strings.Join(unknown, ",")},
			"update_mask paths are not fields of %s: %s", desc.FullName(), strings.Join(unknown, ", "))
	}
	if len(immutable) > 0 {
		return zero, newError(codes.InvalidArgument, "INVALID_UPDATE_MASK", map[string]string{"paths": strings.Join(immutable, ",")},
			"update_mask paths name fields that cannot be updated: %s", strings.Join(immutable, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.idOf(msg)
	existing, ok := c.items[id]
	if !ok {
		return zero, notFound(c.reason, string(c.idField), id)
	}
	updated := proto.Clone(existing)
	src := proto.Clone(msg).ProtoReflect()
	dst := updated.ProtoReflect()
	for _, fd := range fields {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
	}
	setTime(updated, "update_time", s.now())
	if err := validate(updated); err != nil {
		return zero, err
	}
	c.items[id] = updated
	return proto.Clone(updated).(T), nil
}

// --- ULIDs --------------------------------------------------------------------------------------------

// newULID is a ULID for the time t (cqckit.ULIDAt: github.com/oklog/ulid/v2).
func newULID(t time.Time) string { return cqckit.ULIDAt(t) }
