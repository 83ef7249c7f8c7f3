package cqctest

// The reference Portfolio service: portfolios and allocations (create, read, update, list), the seeded positions
// and ledger (read, list, stream) and ComputePnL, in memory. The behaviour is documented in
// testdata/interop/README.md ("Portfolio"); the Python server (cqc/testing/_portfolio.py) does the same.

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// portfolioState is the Portfolio service's data, guarded by state.mu: portfolios and allocations by id, the
// seeded positions and transactions, and the position change log StreamPositions follows.
type portfolioState struct {
	portfolios   map[string]*portfoliov1.Portfolio
	allocations  map[string]*portfoliov1.Allocation
	positions    map[string]*portfoliov1.Position
	transactions map[string]*portfoliov1.Transaction
	changes      []*portfoliov1.Position // every position change, in order (stream position = index + 1)
	changed      chan struct{}           // closed and replaced on every change
	tokens       *cqckit.PageTokens      // page and resume tokens (signed, bound to the RPC and its filters)
}

func (p *portfolioState) init() {
	if p.portfolios == nil {
		p.portfolios = map[string]*portfoliov1.Portfolio{}
		p.allocations = map[string]*portfoliov1.Allocation{}
		p.positions = map[string]*portfoliov1.Position{}
		p.transactions = map[string]*portfoliov1.Transaction{}
		p.changed = make(chan struct{})
		p.tokens = cqckit.NewPageTokens(nil)
	}
}

// seed loads the Portfolio, Allocation, Position and Transaction examples.
func (p *portfolioState) seed(load loader) error {
	p.init()
	steps := []struct {
		name   string
		newMsg func() proto.Message
		add    func(proto.Message)
	}{
		{"cqc.portfolio.v1.Portfolio", func() proto.Message { return &portfoliov1.Portfolio{} },
			func(m proto.Message) { x := m.(*portfoliov1.Portfolio); p.portfolios[x.GetPortfolioId()] = x }},
		{"cqc.portfolio.v1.Allocation", func() proto.Message { return &portfoliov1.Allocation{} },
			func(m proto.Message) { x := m.(*portfoliov1.Allocation); p.allocations[x.GetAllocationId()] = x }},
		{"cqc.portfolio.v1.Position", func() proto.Message { return &portfoliov1.Position{} },
			func(m proto.Message) { x := m.(*portfoliov1.Position); p.positions[x.GetPositionId()] = x }},
		{"cqc.portfolio.v1.Transaction", func() proto.Message { return &portfoliov1.Transaction{} },
			func(m proto.Message) { x := m.(*portfoliov1.Transaction); p.transactions[x.GetTransactionId()] = x }},
	}
	for _, step := range steps {
		if err := load(step.name, step.newMsg, step.add); err != nil {
			return err
		}
	}
	return nil
}

// recordPosition stores a new state of a position (after a fill, funding or a mark; quantity "0" once closed)
// and appends it to the change log: open StreamPositions calls of its account send it, resume tokens replay
// it. The reference servers' RPCs never change a position; this is the hook a simulated venue would call.
func (s *state) recordPosition(x *portfoliov1.Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.portfolio
	p.init()
	p.positions[x.GetPositionId()] = proto.Clone(x).(*portfoliov1.Position)
	p.changes = append(p.changes, proto.Clone(x).(*portfoliov1.Position))
	close(p.changed)
	p.changed = make(chan struct{})
}

// descendingPage is one page of items sorted by key descending (ListTransactions: newest first) after the
// token's last key; the tokens are cqckit page tokens bound to the RPC and the request's filters.
func descendingPage[T any](tokens *cqckit.PageTokens, rpc string, req proto.Message, items []T, key func(T) string, pageSize int32, pageToken string) ([]T, string, error) {
	size, err := cqckit.ClampPageSize(pageSize)
	if err != nil {
		return nil, "", err
	}
	filters := cqckit.FilterDigest(req)
	last, err := tokens.Decode(rpc, filters, pageToken)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if pageToken != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) < last })
	}
	end := min(start+int(size), len(items))
	next := ""
	if end < len(items) {
		next = tokens.Encode(rpc, filters, key(items[end-1]))
	}
	return items[start:end], next, nil
}

// portfolio serves cqc.services.v1.Portfolio (README "Portfolio").
type portfolio struct {
	servicesv1.UnimplementedPortfolioServer
	s *state
}

func (f *portfolio) data() *portfolioState {
	f.s.portfolio.init() // a server built without seed() still works
	return &f.s.portfolio
}

func missingResource(kind, field, id string) error {
	return newError(codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{field: id}, "no %s with %s %q", kind, field, id)
}

// createIn stores resource (output-only times set to now) unless its id exists: the same content returns the
// stored one, other content is ALREADY_EXISTS (cqckit.CheckCreate).
func createIn[T proto.Message](f *portfolio, table map[string]T, resource T, idField string) (T, error) {
	id := resource.ProtoReflect().Get(resource.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(idField))).String()
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	existing, ok := table[id]
	if ok {
		stored, _, err := cqckit.CheckCreate(existing, resource, idField)
		return stored, err
	}
	incoming := cqckit.Without(resource)
	cqckit.Stamp(incoming, f.s.now(), "create_time", "update_time")
	table[id] = incoming
	return proto.Clone(incoming).(T), nil
}

// updateIn copies the update_mask paths of body onto the stored resource (cqckit.ApplyUpdateMask):
// INVALID_UPDATE_MASK for paths that are not updatable top-level fields (checked first), NOT_FOUND_RESOURCE
// for an unknown id, VALIDATION_FAILED for a result that breaks a rule (field paths prefixed with fieldName).
func updateIn[T proto.Message](f *portfolio, table map[string]T, body T, mask *fieldmaskpb.FieldMask, idField, fieldName string) (T, error) {
	var zero T
	if err := cqckit.CheckUpdateMask(body, mask, idField); err != nil {
		return zero, err
	}
	desc := body.ProtoReflect().Descriptor()
	id := body.ProtoReflect().Get(desc.Fields().ByName(protoreflect.Name(idField))).String()
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	stored, ok := table[id]
	if !ok {
		return zero, missingResource(string(desc.Name()), idField, id)
	}
	updated, err := cqckit.ApplyUpdateMask(stored, body, mask, fieldName, idField)
	if err != nil {
		return zero, err
	}
	cqckit.Stamp(updated, f.s.now(), "update_time")
	table[id] = updated
	return proto.Clone(updated).(T), nil
}

// --- portfolios and allocations ---------------------------------------------------------------------------------

func (f *portfolio) GetPortfolio(_ context.Context, req *servicesv1.GetPortfolioRequest) (*servicesv1.GetPortfolioResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	found, ok := p.portfolios[req.GetPortfolioId()]
	if !ok {
		return nil, missingResource("Portfolio", "portfolio_id", req.GetPortfolioId())
	}
	return &servicesv1.GetPortfolioResponse{Portfolio: proto.Clone(found).(*portfoliov1.Portfolio)}, nil
}

func sortedValues[T proto.Message](table map[string]T, keep func(T) bool) []T {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		if keep == nil || keep(table[k]) {
			out = append(out, proto.Clone(table[k]).(T))
		}
	}
	return out
}

func (f *portfolio) ListPortfolios(_ context.Context, req *servicesv1.ListPortfoliosRequest) (*servicesv1.ListPortfoliosResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	items := sortedValues(p.portfolios, nil)
	f.s.mu.RUnlock()
	chosen, next, err := cqckit.Page(p.tokens, "ListPortfolios", req, items,
		(*portfoliov1.Portfolio).GetPortfolioId, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListPortfoliosResponse{Portfolios: chosen, NextPageToken: next}, nil
}

func (f *portfolio) CreatePortfolio(_ context.Context, req *servicesv1.CreatePortfolioRequest) (*servicesv1.CreatePortfolioResponse, error) {
	created, err := createIn(f, f.data().portfolios, req.GetPortfolio(), "portfolio_id")
	if err != nil {
		return nil, err
	}
	return &servicesv1.CreatePortfolioResponse{Portfolio: created}, nil
}

func (f *portfolio) UpdatePortfolio(_ context.Context, req *servicesv1.UpdatePortfolioRequest) (*servicesv1.UpdatePortfolioResponse, error) {
	updated, err := updateIn(f, f.data().portfolios, req.GetPortfolio(), req.GetUpdateMask(), "portfolio_id", "portfolio")
	if err != nil {
		return nil, err
	}
	return &servicesv1.UpdatePortfolioResponse{Portfolio: updated}, nil
}

func (f *portfolio) GetAllocation(_ context.Context, req *servicesv1.GetAllocationRequest) (*servicesv1.GetAllocationResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	found, ok := p.allocations[req.GetAllocationId()]
	if !ok {
		return nil, missingResource("Allocation", "allocation_id", req.GetAllocationId())
	}
	return &servicesv1.GetAllocationResponse{Allocation: proto.Clone(found).(*portfoliov1.Allocation)}, nil
}

func (f *portfolio) ListAllocations(_ context.Context, req *servicesv1.ListAllocationsRequest) (*servicesv1.ListAllocationsResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	if req.PortfolioId != nil {
		if _, ok := p.portfolios[req.GetPortfolioId()]; !ok {
			f.s.mu.RUnlock()
			return nil, missingResource("Portfolio", "portfolio_id", req.GetPortfolioId())
		}
	}
	items := sortedValues(p.allocations, func(a *portfoliov1.Allocation) bool {
		return req.PortfolioId == nil || a.GetPortfolioId() == req.GetPortfolioId()
	})
	f.s.mu.RUnlock()
	chosen, next, err := cqckit.Page(p.tokens, "ListAllocations", req, items,
		(*portfoliov1.Allocation).GetAllocationId, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListAllocationsResponse{Allocations: chosen, NextPageToken: next}, nil
}

func (f *portfolio) CreateAllocation(_ context.Context, req *servicesv1.CreateAllocationRequest) (*servicesv1.CreateAllocationResponse, error) {
	created, err := createIn(f, f.data().allocations, req.GetAllocation(), "allocation_id")
	if err != nil {
		return nil, err
	}
	return &servicesv1.CreateAllocationResponse{Allocation: created}, nil
}

func (f *portfolio) UpdateAllocation(_ context.Context, req *servicesv1.UpdateAllocationRequest) (*servicesv1.UpdateAllocationResponse, error) {
	updated, err := updateIn(f, f.data().allocations, req.GetAllocation(), req.GetUpdateMask(), "allocation_id", "allocation")
	if err != nil {
		return nil, err
	}
	return &servicesv1.UpdateAllocationResponse{Allocation: updated}, nil
}

// --- positions --------------------------------------------------------------------------------------------------

func (f *portfolio) GetPosition(_ context.Context, req *servicesv1.GetPositionRequest) (*servicesv1.GetPositionResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	found, ok := p.positions[req.GetPositionId()]
	if !ok {
		return nil, missingResource("Position", "position_id", req.GetPositionId())
	}
	return &servicesv1.GetPositionResponse{Position: proto.Clone(found).(*portfoliov1.Position)}, nil
}

// accountKnown: a stored VenueAccount, or the account of a stored position, transaction or portfolio. The
// caller holds f.s.mu.
func (f *portfolio) accountKnown(id string) bool {
	p := f.data()
	if _, ok := f.s.accounts.items[id]; ok {
		return true
	}
	for _, x := range p.positions {
		if x.GetAccountId() == id {
			return true
		}
	}
	for _, x := range p.transactions {
		if x.GetAccountId() == id {
			return true
		}
	}
	for _, x := range p.portfolios {
		if slices.Contains(x.GetAccountIds(), id) {
			return true
		}
	}
	return false
}

// marketKnown: a stored Market or the market of a stored position. The caller holds f.s.mu.
func (f *portfolio) marketKnown(id string) bool {
	if _, ok := f.s.markets.items[id]; ok {
		return true
	}
	for _, x := range f.data().positions {
		if x.GetMarketId() == id {
			return true
		}
	}
	return false
}

func unknownAccount(id string) error {
	return newError(codes.NotFound, "NOT_FOUND_ACCOUNT", map[string]string{"account_id": id}, "no venue account %q", id)
}

func isZeroDecimal(s string) bool {
	r, err := cqc.ParseDecimal(s)
	return err == nil && r.Sign() == 0
}

func (f *portfolio) ListPositions(_ context.Context, req *servicesv1.ListPositionsRequest) (*servicesv1.ListPositionsResponse, error) {
	p := f.data()
	f.s.mu.RLock()
	if req.AccountId != nil && !f.accountKnown(req.GetAccountId()) {
		f.s.mu.RUnlock()
		return nil, unknownAccount(req.GetAccountId())
	}
	var accounts map[string]bool
	if req.PortfolioId != nil {
		found, ok := p.portfolios[req.GetPortfolioId()]
		if !ok {
			f.s.mu.RUnlock()
			return nil, missingResource("Portfolio", "portfolio_id", req.GetPortfolioId())
		}
		accounts = map[string]bool{}
		for _, a := range found.GetAccountIds() {
			accounts[a] = true
		}
	}
	if req.MarketId != nil && !f.marketKnown(req.GetMarketId()) {
		f.s.mu.RUnlock()
		return nil, newError(codes.NotFound, "NOT_FOUND_MARKET", map[string]string{"market_id": req.GetMarketId()},
			"no market %q", req.GetMarketId())
	}
	items := sortedValues(p.positions, func(x *portfoliov1.Position) bool {
		return (req.AccountId == nil || x.GetAccountId() == req.GetAccountId()) &&
			(accounts == nil || accounts[x.GetAccountId()]) &&
			(req.MarketId == nil || x.GetMarketId() == req.GetMarketId()) &&
			(!req.GetOpenOnly() || !isZeroDecimal(x.GetQuantity()))
	})
	f.s.mu.RUnlock()
	chosen, next, err := cqckit.Page(p.tokens, "ListPositions", req, items,
		(*portfoliov1.Position).GetPositionId, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListPositionsResponse{Positions: chosen, NextPageToken: next}, nil
}

// positionsScope is what a StreamPositions resume token is bound to: the account set, in any order.
func positionsScope(accountIDs []string) string {
	sorted := slices.Clone(accountIDs)
	sort.Strings(sorted)
	return strings.Join(sorted, ",")
}

func (f *portfolio) StreamPositions(req *servicesv1.StreamPositionsRequest, stream servicesv1.Portfolio_StreamPositionsServer) error {
	p := f.data()
	scope := positionsScope(req.GetAccountIds())
	accounts := map[string]bool{}
	token := func(at int) string { return p.tokens.Encode("StreamPositions", scope, strconv.Itoa(at)) }
	f.s.mu.RLock()
	for _, id := range req.GetAccountIds() {
		if !f.accountKnown(id) {
			f.s.mu.RUnlock()
			return unknownAccount(id)
		}
		accounts[id] = true
	}
	position := len(p.changes)
	var snapshot []*portfoliov1.Position
	if req.ResumeToken != nil {
		at, ok := f.resumePosition(req.GetResumeToken(), scope, len(p.changes))
		if !ok {
			f.s.mu.RUnlock()
			return newError(codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED", nil,
				"resume_token was not issued by StreamPositions for the same accounts")
		}
		position = at
	} else {
		snapshot = sortedValues(p.positions, func(x *portfoliov1.Position) bool {
			return accounts[x.GetAccountId()] && !isZeroDecimal(x.GetQuantity())
		})
	}
	f.s.mu.RUnlock()
	if req.ResumeToken == nil {
		start := token(position)
		for _, x := range snapshot {
			if err := stream.Send(&servicesv1.StreamPositionsResponse{Position: x, IsSnapshot: true, ResumeToken: start}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamPositionsResponse{SnapshotComplete: true, ResumeToken: start}); err != nil {
			return err
		}
	}
	for {
		f.s.mu.RLock()
		changes := slices.Clone(p.changes[position:])
		changed := p.changed
		f.s.mu.RUnlock()
		for _, x := range changes {
			position++
			if accounts[x.GetAccountId()] {
				msg := &servicesv1.StreamPositionsResponse{Position: proto.Clone(x).(*portfoliov1.Position), ResumeToken: token(position)}
				if err := stream.Send(msg); err != nil {
					return err
				}
			}
		}
		if len(changes) > 0 {
			continue
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-f.s.closing:
			return nil
		case <-changed:
		}
	}
}

func (f *portfolio) resumePosition(token, scope string, end int) (int, bool) {
	position, err := f.data().tokens.Decode("StreamPositions", scope, token)
	if err != nil || token == "" {
		return 0, false
	}
	at, err := strconv.Atoi(position)
	if err != nil || at < 0 || at > end || strconv.Itoa(at) != position {
		return 0, false
	}
	return at, true
}

// --- ledger and PnL ---------------------------------------------------------------------------------------------

func transactionKey(t *portfoliov1.Transaction) string {
	return fmt.Sprintf("%020d/%s", t.GetCreateTime().AsTime().UnixNano(), t.GetTransactionId())
}

func (f *portfolio) ListTransactions(_ context.Context, req *servicesv1.ListTransactionsRequest) (*servicesv1.ListTransactionsResponse, error) {
	p := f.data()
	types := map[venuesv1.BalanceChangeReason]bool{}
	for _, t := range req.GetTypes() {
		types[t] = true
	}
	f.s.mu.RLock()
	if !f.accountKnown(req.GetAccountId()) {
		f.s.mu.RUnlock()
		return nil, unknownAccount(req.GetAccountId())
	}
	var items []*portfoliov1.Transaction
	for _, t := range p.transactions {
		created := t.GetCreateTime().AsTime()
		if t.GetAccountId() != req.GetAccountId() || (len(types) > 0 && !types[t.GetType()]) ||
			(req.GetSinceTime() != nil && created.Before(req.GetSinceTime().AsTime())) ||
			(req.GetUntilTime() != nil && !created.Before(req.GetUntilTime().AsTime())) {
			continue
		}
		items = append(items, proto.Clone(t).(*portfoliov1.Transaction))
	}
	f.s.mu.RUnlock()
	sort.Slice(items, func(i, j int) bool { return transactionKey(items[i]) > transactionKey(items[j]) })
	chosen, next, err := descendingPage(p.tokens, "ListTransactions", req, items, transactionKey,
		req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListTransactionsResponse{Transactions: chosen, NextPageToken: next}, nil
}

// pnlAsset is the asset a position's PnL is in: the first of its asset fields that is set.
func pnlAsset(x *portfoliov1.Position) string {
	candidates := []string{x.GetSettlementAssetId(), x.GetUnrealizedPnl().GetAssetId(), x.GetRealizedPnl().GetAssetId(),
		x.GetFunding().GetAssetId()}
	if len(x.GetCommissions()) > 0 {
		candidates = append(candidates, x.GetCommissions()[0].GetAssetId())
	}
	candidates = append(candidates, x.GetNotionalAssetId(), x.GetLending().GetReserveAssetId())
	if amounts := x.GetLiquidityRange().GetAmounts(); len(amounts) > 0 {
		candidates = append(candidates, amounts[0].GetAssetId())
	}
	for _, c := range candidates {
		if c != "" {
			return c
		}
	}
	return ""
}

func (f *portfolio) ComputePnL(_ context.Context, req *servicesv1.ComputePnLRequest) (*servicesv1.ComputePnLResponse, error) {
	p := f.data()
	scopeID := req.GetScopeId()
	reporting := req.GetReportingAssetId()
	unknown := newError(codes.NotFound, "NOT_FOUND_RESOURCE", map[string]string{"scope_id": scopeID},
		"no %s %q", req.GetScope(), scopeID)
	var positions []*portfoliov1.Position
	asset := ""
	f.s.mu.RLock()
	switch req.GetScope() {
	case portfoliov1.PnlScope_PNL_SCOPE_POSITION:
		found, ok := p.positions[scopeID]
		if !ok {
			f.s.mu.RUnlock()
			return nil, unknown
		}
		positions = []*portfoliov1.Position{proto.Clone(found).(*portfoliov1.Position)}
		asset = pnlAsset(found)
	case portfoliov1.PnlScope_PNL_SCOPE_ACCOUNT:
		if !f.accountKnown(scopeID) {
			f.s.mu.RUnlock()
			return nil, unknown
		}
		positions = sortedValues(p.positions, func(x *portfoliov1.Position) bool { return x.GetAccountId() == scopeID })
		asset = reporting
		if account, ok := f.s.accounts.items[scopeID]; ok && asset == "" {
			asset = account.(*venuesv1.VenueAccount).GetBaseAssetId()
		}
		for _, x := range positions {
			if asset == "" {
				asset = pnlAsset(x)
			}
		}
	case portfoliov1.PnlScope_PNL_SCOPE_PORTFOLIO:
		found, ok := p.portfolios[scopeID]
		if !ok {
			f.s.mu.RUnlock()
			return nil, unknown
		}
		accounts := map[string]bool{}
		for _, a := range found.GetAccountIds() {
			accounts[a] = true
		}
		positions = sortedValues(p.positions, func(x *portfoliov1.Position) bool { return accounts[x.GetAccountId()] })
		asset = reporting
		if asset == "" {
			asset = found.GetReportingAssetId()
		}
	default: // STRATEGY: known when an allocation targets it; no position is attributed to a strategy
		var allocation *portfoliov1.Allocation
		for _, a := range sortedValues(p.allocations, nil) {
			if _, ok := a.GetTarget().(*portfoliov1.Allocation_StrategyId); ok && a.GetStrategyId() == scopeID {
				allocation = a
				break
			}
		}
		if allocation == nil {
			f.s.mu.RUnlock()
			return nil, unknown
		}
		asset = reporting
		if asset == "" {
			if owner, ok := p.portfolios[allocation.GetPortfolioId()]; ok {
				asset = owner.GetReportingAssetId()
			} else {
				asset = allocation.GetNotionalAssetId()
			}
		}
	}
	f.s.mu.RUnlock()
	if asset == "" {
		asset = reporting
	}
	if asset == "" {
		return nil, validationStatus(req, []cqc.Violation{{Field: "reporting_asset_id", RuleID: "required",
			Message: "the scope has no default reporting asset"}})
	}
	pnl, err := computePnL(req, positions, asset, f.s)
	if err != nil {
		return nil, internalError(err)
	}
	return &servicesv1.ComputePnLResponse{Pnl: pnl}, nil
}

func computePnL(req *servicesv1.ComputePnLRequest, positions []*portfoliov1.Position, asset string, s *state) (*portfoliov1.PnL, error) {
	realized, unrealized, fees, funding := new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)
	hasFees, hasFunding := false, false
	add := func(sum *big.Rat, value string) error {
		r, err := cqc.ParseDecimal(value)
		if err != nil {
			return err
		}
		sum.Add(sum, r)
		return nil
	}
	for _, x := range positions {
		if pnlAsset(x) != asset {
			continue
		}
		if x.GetRealizedPnl() != nil && x.GetRealizedPnl().GetAssetId() == asset {
			if err := add(realized, x.GetRealizedPnl().GetAmount()); err != nil {
				return nil, err
			}
		}
		if x.GetUnrealizedPnl() != nil && x.GetUnrealizedPnl().GetAssetId() == asset {
			if err := add(unrealized, x.GetUnrealizedPnl().GetAmount()); err != nil {
				return nil, err
			}
		}
		for _, c := range x.GetCommissions() {
			if c.GetAssetId() == asset {
				if err := add(fees, c.GetAmount()); err != nil {
					return nil, err
				}
				hasFees = true
			}
		}
		if x.GetFunding() != nil && x.GetFunding().GetAssetId() == asset {
			if err := add(funding, x.GetFunding().GetAmount()); err != nil {
				return nil, err
			}
			hasFunding = true
		}
	}
	gross := new(big.Rat).Add(realized, unrealized)
	net := new(big.Rat).Sub(gross, fees)
	net.Sub(net, funding)
	format := func(r *big.Rat) string {
		text, err := cqc.FormatDecimal(r)
		if err != nil { // sums of finite decimals always have a finite expansion
			panic(err)
		}
		return text
	}
	pnl := &portfoliov1.PnL{
		PnlId:           "pnl_" + newULID(s.now()),
		Scope:           req.GetScope(),
		ScopeId:         req.GetScopeId(),
		PeriodStartTime: req.GetPeriodStart(),
		PeriodEndTime:   req.GetPeriodEnd(),
		AssetId:         asset,
		RealizedPnl:     format(realized),
		UnrealizedPnl:   format(unrealized),
		GrossPnl:        format(gross),
		NetPnl:          format(net),
		CreateTime:      timestamppb.New(s.now()),
	}
	if hasFees {
		pnl.Fees = proto.String(format(fees))
	}
	if hasFunding {
		pnl.Funding = proto.String(format(funding))
	}
	if req.GetScope() == portfoliov1.PnlScope_PNL_SCOPE_POSITION && len(positions) == 1 && positions[0].MarkPrice != nil &&
		!strings.HasPrefix(positions[0].GetMarkPrice(), "-") {
		pnl.MarkPrice = proto.String(positions[0].GetMarkPrice())
	}
	return pnl, nil
}
