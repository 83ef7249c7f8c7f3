package cqctest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqckit"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	eventsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/events/v1"
	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// The reference RiskEngine: risk limits (CRUD), pre-trade checks and reservations, trading states, Flatten,
// risk alerts (list, get, acknowledge, resolve, stream) and exposures (list, stream), in memory. The
// behaviour is specified in testdata/interop/README.md ("RiskEngine"); the Python server
// (cqc/testing/_risk_engine.py) implements the same.

const defaultReservationTTL = 30 * time.Second

var evaluatedMetrics = map[portfoliov1.RiskMetric]bool{
	portfoliov1.RiskMetric_RISK_METRIC_ORDER_SIZE:       true,
	portfoliov1.RiskMetric_RISK_METRIC_ORDER_NOTIONAL:   true,
	portfoliov1.RiskMetric_RISK_METRIC_POSITION_SIZE:    true,
	portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL:         true,
	portfoliov1.RiskMetric_RISK_METRIC_OPEN_ORDER_COUNT: true,
}

type reservation struct {
	msg      *portfoliov1.RiskReservation
	venueID  string
	strategy string
	quantity *big.Rat // signed: + buy, - sell
	notional *big.Rat // signed
}

type tradingState struct {
	state  venuesv1.TradingState
	reason string
	update time.Time
	expire *time.Time
}

type riskRequest struct {
	request  proto.Message
	response proto.Message
	err      error
}

// riskEngine implements cqc.services.v1.RiskEngine.
type riskEngine struct {
	servicesv1.UnimplementedRiskEngineServer
	s *state

	mu            sync.Mutex
	limits        map[string]*portfoliov1.RiskLimit
	alerts        map[string]*eventsv1.RiskAlert
	alertLog      []*eventsv1.RiskAlert // every raise or change, in order
	alertChanged  chan struct{}         // closed and replaced on every alert change
	exposures     []*portfoliov1.Exposure
	portfolios    map[string]bool
	extraAccounts map[string]bool
	reservations  map[string]*reservation
	trading       map[string]*tradingState
	requests      map[string]riskRequest
	tokens        *cqckit.PageTokens
	gateway       *venueGateway // the server's VenueGateway, which Flatten cancels through
}

func newRiskEngine(s *state, testdata string) (*riskEngine, error) {
	r := &riskEngine{
		s: s, limits: map[string]*portfoliov1.RiskLimit{}, alerts: map[string]*eventsv1.RiskAlert{},
		alertChanged: make(chan struct{}), portfolios: map[string]bool{}, extraAccounts: map[string]bool{},
		reservations: map[string]*reservation{}, trading: map[string]*tradingState{}, requests: map[string]riskRequest{},
		tokens: cqckit.NewPageTokens(nil),
	}
	if testdata == "" {
		return r, r.seed(bundleLoader) // the seed data embedded in the package (seed.go)
	}
	dir := filepath.Join(testdata, "examples")
	if _, err := os.Stat(dir); err != nil {
		dir = testdata
	}
	return r, r.seed(dirLoader(dir))
}

func (r *riskEngine) seed(load loader) error {
	if err := load("cqc.portfolio.v1.RiskLimit", func() proto.Message { return &portfoliov1.RiskLimit{} }, func(m proto.Message) {
		l := m.(*portfoliov1.RiskLimit)
		r.limits[l.GetLimitId()] = l
		if id, ok := l.GetScope().(*portfoliov1.RiskLimit_PortfolioId); ok {
			r.portfolios[id.PortfolioId] = true
		}
	}); err != nil {
		return err
	}
	if err := load("cqc.events.v1.RiskAlert", func() proto.Message { return &eventsv1.RiskAlert{} }, func(m proto.Message) {
		a := m.(*eventsv1.RiskAlert)
		r.alerts[a.GetAlertId()] = a
		if a.PortfolioId != nil {
			r.portfolios[a.GetPortfolioId()] = true
		}
	}); err != nil {
		return err
	}
	if err := load("cqc.portfolio.v1.Exposure", func() proto.Message { return &portfoliov1.Exposure{} }, func(m proto.Message) {
		e := m.(*portfoliov1.Exposure)
		r.exposures = append(r.exposures, e)
		if e.GetPortfolioId() != "" {
			r.portfolios[e.GetPortfolioId()] = true
		} else {
			r.extraAccounts[e.GetAccountId()] = true
		}
	}); err != nil {
		return err
	}
	return load("cqc.portfolio.v1.Portfolio", func() proto.Message { return &portfoliov1.Portfolio{} }, func(m proto.Message) {
		r.portfolios[m.(*portfoliov1.Portfolio).GetPortfolioId()] = true
	})
}

// --- helpers ------------------------------------------------------------------------------------------

func riskError(reason servicesv1.ErrorReason, md map[string]string, format string, args ...any) error {
	return cqckit.Errorf(reason, md, format, args...)
}

func ratOf(text string) *big.Rat {
	v, ok := new(big.Rat).SetString(text)
	if !ok {
		return new(big.Rat)
	}
	return v
}

// fmtRat is a decimal as canonical text: no exponent, no trailing zeros, "0" for zero.
func fmtRat(v *big.Rat) string {
	if v.Sign() == 0 {
		return "0"
	}
	text := v.FloatString(60) // every value here is a finite decimal well within 60 places
	if strings.Contains(text, ".") {
		text = strings.TrimRight(strings.TrimRight(text, "0"), ".")
	}
	return text
}

func absRat(v *big.Rat) *big.Rat { return new(big.Rat).Abs(v) }

func riskDigest(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return hex.EncodeToString(sum[:])[:16]
}

func scopeKey(scope *servicesv1.RiskScope) string {
	if id, ok := scope.GetId().(*servicesv1.RiskScope_PortfolioId); ok {
		return "pfl:" + id.PortfolioId
	}
	return "acc:" + scope.GetAccountId()
}

func metricLabel(m portfoliov1.RiskMetric) string {
	return strings.ToLower(strings.TrimPrefix(m.String(), "RISK_METRIC_"))
}

// checkScope answers NOT_FOUND_ACCOUNT / NOT_FOUND_RESOURCE for an account or portfolio the server does not
// know; the caller holds r.mu.
func (r *riskEngine) checkScope(scope *servicesv1.RiskScope) error {
	if id, ok := scope.GetId().(*servicesv1.RiskScope_PortfolioId); ok {
		if !r.portfolios[id.PortfolioId] && !r.portfolioCreated(id.PortfolioId) {
			return riskError(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, map[string]string{"portfolio_id": id.PortfolioId},
				"no portfolio %q", id.PortfolioId)
		}
		return nil
	}
	return r.checkAccount(scope.GetAccountId())
}

// portfolioCreated reports whether the Portfolio service of this server stores the portfolio.
func (r *riskEngine) portfolioCreated(id string) bool {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	_, ok := r.s.portfolio.portfolios[id]
	return ok
}

func (r *riskEngine) checkAccount(accountID string) error {
	if r.extraAccounts[accountID] {
		return nil
	}
	_, err := get[*venuesv1.VenueAccount](r.s, r.s.accounts, accountID)
	return err
}

// tradingStateOf is the scope's state after any expiry; nil when never set. The caller holds r.mu.
func (r *riskEngine) tradingStateOf(key string, now time.Time) *tradingState {
	t := r.trading[key]
	if t != nil && t.expire != nil && !t.expire.After(now) {
		t = &tradingState{state: venuesv1.TradingState_TRADING_STATE_ACTIVE, reason: "expired", update: *t.expire}
		r.trading[key] = t
	}
	return t
}

// replay returns the first answer to requestID (its error included); ok is false for a new request id.
func (r *riskEngine) replay(requestID string, req proto.Message) (proto.Message, bool, error) {
	seen, found := r.requests[requestID]
	if !found {
		return nil, false, nil
	}
	if !sameRequest(seen.request, req) {
		return nil, true, riskError(servicesv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED, map[string]string{"request_id": requestID},
			"request_id %s was used with a different request", requestID)
	}
	if seen.err != nil {
		return nil, true, seen.err
	}
	return proto.Clone(seen.response), true, nil
}

// remember records the answer to a request id: a response or an error, except UNAVAILABLE (transient: a
// retry with the same request id runs again).
func (r *riskEngine) remember(requestID string, req, resp proto.Message, err error) {
	if err != nil && status.Code(err) == codes.Unavailable {
		return
	}
	r.requests[requestID] = riskRequest{request: proto.Clone(req), response: resp, err: err}
}

func (r *riskEngine) expire(now time.Time) {
	for _, res := range r.reservations {
		m := res.msg
		if m.GetState() == portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_HELD && !m.GetExpireTime().AsTime().After(now) {
			m.State = portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_EXPIRED
			m.UpdateTime = proto.Clone(m.GetExpireTime()).(*timestamppb.Timestamp)
		}
	}
}

// record stores an alert and appends it to the change log; the caller holds r.mu.
func (r *riskEngine) record(a *eventsv1.RiskAlert) {
	stored := proto.Clone(a).(*eventsv1.RiskAlert)
	r.alerts[a.GetAlertId()] = stored
	r.alertLog = append(r.alertLog, stored)
	close(r.alertChanged)
	r.alertChanged = make(chan struct{})
}

// limitApplies reports whether the limit's scope covers an order or a counted item of (account, market,
// venue, strategy); holders maps an account to the portfolios holding it.
func limitApplies(l *portfoliov1.RiskLimit, accountID, marketID, venueID, strategy string, holders map[string]map[string]bool) bool {
	switch scope := l.GetScope().(type) {
	case *portfoliov1.RiskLimit_PortfolioId:
		return holders[accountID][scope.PortfolioId]
	case *portfoliov1.RiskLimit_AccountId:
		return scope.AccountId == accountID
	case *portfoliov1.RiskLimit_MarketId:
		return scope.MarketId == marketID
	case *portfoliov1.RiskLimit_VenueId:
		return scope.VenueId == venueID
	case *portfoliov1.RiskLimit_StrategyId:
		return strategy != "" && scope.StrategyId == strategy
	}
	return false // asset limits are not evaluated by the reference server
}

func limitEffective(l *portfoliov1.RiskLimit, now time.Time) bool {
	if l.GetState() != portfoliov1.RiskLimitState_RISK_LIMIT_STATE_ENABLED || !evaluatedMetrics[l.GetMetric()] {
		return false
	}
	if l.GetEffectiveFromTime() != nil && l.GetEffectiveFromTime().AsTime().After(now) {
		return false
	}
	return l.GetEffectiveToTime() == nil || l.GetEffectiveToTime().AsTime().After(now)
}

// referencePrice is the market's seeded MARK price, else its latest seeded price of any type.
func (r *riskEngine) referencePrice(marketID string) *big.Rat {
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	var marks, all []*marketsv1.Price
	for _, p := range r.s.prices {
		if p.GetMarketId() == marketID {
			all = append(all, p)
			if p.GetPriceType() == marketsv1.PriceType_PRICE_TYPE_MARK {
				marks = append(marks, p)
			}
		}
	}
	chosen := marks
	if len(chosen) == 0 {
		chosen = all
	}
	if len(chosen) == 0 {
		return nil
	}
	best := chosen[0]
	for _, p := range chosen[1:] {
		if p.GetReceiveTime().AsTime().After(best.GetReceiveTime().AsTime()) {
			best = p
		}
	}
	return ratOf(best.GetValue())
}

// --- pre-trade checks ----------------------------------------------------------------------------------

type evaluation struct {
	result   *portfoliov1.RiskCheckResult
	breached []*portfoliov1.RiskLimit
	quantity *big.Rat // signed
	notional *big.Rat // signed
	venueID  string
}

// evaluate checks order against every applicable limit and the account's trading state; the caller holds r.mu.
func (r *riskEngine) evaluate(order *servicesv1.NewOrder, now time.Time) (*evaluation, error) {
	if err := r.checkAccount(order.GetAccountId()); err != nil {
		return nil, err
	}
	market, err := get[*marketsv1.Market](r.s, r.s.markets, order.GetMarketId())
	if err != nil {
		return nil, err
	}
	venueID, strategy := market.GetVenueId(), order.GetStrategyId()
	holders := map[string]map[string]bool{}
	r.s.mu.RLock()
	for id, p := range r.s.portfolio.portfolios {
		for _, held := range p.GetAccountIds() {
			if holders[held] == nil {
				holders[held] = map[string]bool{}
			}
			holders[held][id] = true
		}
	}
	r.s.mu.RUnlock()
	ids := make([]string, 0, len(r.limits))
	for id := range r.limits {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var limits []*portfoliov1.RiskLimit
	needsPrice := false
	for _, id := range ids {
		l := r.limits[id]
		if limitEffective(l, now) && limitApplies(l, order.GetAccountId(), order.GetMarketId(), venueID, strategy, holders) {
			limits = append(limits, l)
			m := l.GetMetric()
			if m == portfoliov1.RiskMetric_RISK_METRIC_ORDER_NOTIONAL || m == portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL {
				needsPrice = true
			}
		}
	}
	if order.QuoteQuantity != nil && len(limits) > 0 {
		needsPrice = true
	}
	var price *big.Rat
	if order.Price != nil {
		price = ratOf(order.GetPrice())
	} else if needsPrice {
		if price = r.referencePrice(order.GetMarketId()); price == nil {
			return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_RISK_DATA_UNAVAILABLE,
				map[string]string{"missing": "mark_price:" + order.GetMarketId()}, "no price of market %s to value the order", order.GetMarketId())
		}
	}
	sign := big.NewRat(1, 1)
	if order.GetSide() == venuesv1.Side_SIDE_SELL {
		sign = big.NewRat(-1, 1)
	}
	quantity, notional := new(big.Rat), new(big.Rat)
	switch {
	case order.Quantity != nil:
		quantity = ratOf(order.GetQuantity())
		if price != nil {
			notional = new(big.Rat).Mul(quantity, price)
		}
	case order.QuoteQuantity != nil && price != nil && price.Sign() != 0:
		notional = ratOf(order.GetQuoteQuantity())
		quantity = ratOf(new(big.Rat).Quo(notional, price).FloatString(8))
	}
	counted := r.counted(now)
	result := &portfoliov1.RiskCheckResult{CheckTime: timestamppb.New(now)}
	ev := &evaluation{result: result, quantity: new(big.Rat).Mul(sign, quantity), notional: new(big.Rat).Mul(sign, notional), venueID: venueID}
	deny, warn := false, false
	for _, l := range limits {
		var mine []contribution
		for _, c := range counted {
			if limitApplies(l, c.accountID, c.marketID, c.venueID, c.strategy, holders) {
				mine = append(mine, c)
			}
		}
		observed, projected := new(big.Rat), new(big.Rat)
		switch l.GetMetric() {
		case portfoliov1.RiskMetric_RISK_METRIC_ORDER_SIZE:
			projected = absRat(quantity)
		case portfoliov1.RiskMetric_RISK_METRIC_ORDER_NOTIONAL:
			projected = absRat(notional)
		case portfoliov1.RiskMetric_RISK_METRIC_POSITION_SIZE, portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL:
			total := new(big.Rat)
			for _, res := range mine {
				if l.GetMetric() == portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL {
					total.Add(total, res.notional)
				} else {
					total.Add(total, res.quantity)
				}
			}
			own := ev.quantity
			if l.GetMetric() == portfoliov1.RiskMetric_RISK_METRIC_NOTIONAL {
				own = ev.notional
			}
			observed, projected = absRat(total), absRat(new(big.Rat).Add(total, own))
		default: // OPEN_ORDER_COUNT
			observed, projected = big.NewRat(int64(len(mine)), 1), big.NewRat(int64(len(mine)+1), 1)
		}
		outcome := portfoliov1.LimitCheckOutcome_LIMIT_CHECK_OUTCOME_WITHIN
		name := l.GetName()
		if len(name) > 200 {
			name = name[:200]
		}
		switch {
		case projected.Cmp(ratOf(l.GetThreshold())) > 0:
			outcome = portfoliov1.LimitCheckOutcome_LIMIT_CHECK_OUTCOME_BREACHED
			ev.breached = append(ev.breached, l)
			if l.GetAction() == portfoliov1.RiskLimitAction_RISK_LIMIT_ACTION_ALERT {
				warn = true
			} else {
				deny = true
			}
			result.Messages = append(result.Messages, fmt.Sprintf("%s %s would exceed limit %s (%s)",
				metricLabel(l.GetMetric()), fmtRat(projected), l.GetThreshold(), name))
		case l.WarningThreshold != nil && projected.Cmp(ratOf(l.GetWarningThreshold())) > 0:
			outcome = portfoliov1.LimitCheckOutcome_LIMIT_CHECK_OUTCOME_WARNING
			warn = true
			result.Messages = append(result.Messages, fmt.Sprintf("%s %s would pass warning level %s (%s)",
				metricLabel(l.GetMetric()), fmtRat(projected), l.GetWarningThreshold(), name))
		}
		result.LimitChecks = append(result.LimitChecks, &portfoliov1.LimitCheck{
			LimitId: l.GetLimitId(), Metric: l.GetMetric(), Unit: l.GetUnit(), UnitAssetId: l.UnitAssetId,
			Threshold: l.GetThreshold(), WarningThreshold: l.WarningThreshold,
			ObservedValue: fmtRat(observed), ProjectedValue: fmtRat(projected), Outcome: outcome, Action: l.GetAction(),
		})
	}
	where, tradingState := r.orderState(order.GetAccountId(), now)
	result.TradingState = tradingState
	switch {
	case tradingState == venuesv1.TradingState_TRADING_STATE_HALTED:
		deny = true
		result.Messages = append(result.Messages, where+" is TRADING_STATE_HALTED")
	case tradingState == venuesv1.TradingState_TRADING_STATE_REDUCING && !order.GetReduceOnly():
		deny = true
		result.Messages = append(result.Messages, where+" is TRADING_STATE_REDUCING and the order is not reduce_only")
	}
	switch {
	case deny:
		result.Decision = portfoliov1.RiskDecision_RISK_DECISION_DENY
	case warn:
		result.Decision = portfoliov1.RiskDecision_RISK_DECISION_WARN
	default:
		result.Decision = portfoliov1.RiskDecision_RISK_DECISION_ALLOW
	}
	return ev, nil
}

// orderState is the trading state that applies to an order of the account: the most restrictive (HALTED,
// then REDUCING) of the account's and those of the portfolios (Portfolio service) holding the account, the
// account first, then the portfolios by id; ("account <id>", ACTIVE) when none is restricted. The caller
// holds r.mu.
func (r *riskEngine) orderState(accountID string, now time.Time) (string, venuesv1.TradingState) {
	type scope struct{ where, key string }
	scopes := []scope{{"account " + accountID, "acc:" + accountID}}
	r.s.mu.RLock()
	var ids []string
	for id, p := range r.s.portfolio.portfolios {
		if slices.Contains(p.GetAccountIds(), accountID) {
			ids = append(ids, id)
		}
	}
	r.s.mu.RUnlock()
	sort.Strings(ids)
	for _, id := range ids {
		scopes = append(scopes, scope{"portfolio " + id, "pfl:" + id})
	}
	for _, rank := range []venuesv1.TradingState{venuesv1.TradingState_TRADING_STATE_HALTED, venuesv1.TradingState_TRADING_STATE_REDUCING} {
		for _, sc := range scopes {
			if t := r.tradingStateOf(sc.key, now); t != nil && t.state == rank {
				return sc.where, rank
			}
		}
	}
	return scopes[0].where, venuesv1.TradingState_TRADING_STATE_ACTIVE
}

// contribution is one thing a check counts besides the order: a reservation or a working order.
type contribution struct {
	accountID, marketID, venueID, strategy string
	quantity, notional                     *big.Rat // signed: + buy, - sell
}

// counted is what a check counts besides the order: the HELD reservations, the working orders of
// VenueGateway (open statuses, by their leaves quantity) and the COMMITTED reservations whose order
// VenueGateway does not hold (they stand for an order placed elsewhere). The caller holds r.mu.
func (r *riskEngine) counted(now time.Time) []contribution {
	r.expire(now)
	type working struct {
		order   *venuesv1.Order
		venueID string
	}
	r.s.mu.RLock()
	held := map[string]bool{}
	var orders []working
	for id, e := range r.s.orders {
		held[id] = true
		if openStatuses[e.order.GetStatus()] {
			venueID := ""
			if m, ok := r.s.markets.items[e.order.GetMarketId()]; ok {
				venueID = m.(*marketsv1.Market).GetVenueId()
			}
			orders = append(orders, working{proto.Clone(e.order).(*venuesv1.Order), venueID})
		}
	}
	r.s.mu.RUnlock()
	var out []contribution
	for _, res := range r.reservations {
		st := res.msg.GetState()
		if st == portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_HELD ||
			(st == portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_COMMITTED && !held[res.msg.GetOrderId()]) {
			out = append(out, contribution{res.msg.GetAccountId(), res.msg.GetMarketId(), res.venueID, res.strategy, res.quantity, res.notional})
		}
	}
	for _, w := range orders {
		o := w.order
		quantity := new(big.Rat)
		switch {
		case o.LeavesQuantity != nil:
			quantity = ratOf(o.GetLeavesQuantity())
		case o.Quantity != nil:
			quantity = new(big.Rat).Sub(ratOf(o.GetQuantity()), ratOf(o.GetFilledQuantity()))
		}
		price := new(big.Rat)
		if o.Price != nil {
			price = ratOf(o.GetPrice())
		} else if p := r.referencePrice(o.GetMarketId()); p != nil {
			price = p
		}
		if o.GetSide() == venuesv1.Side_SIDE_SELL {
			quantity.Neg(quantity)
		}
		out = append(out, contribution{o.GetAccountId(), o.GetMarketId(), w.venueID, o.GetStrategyId(), quantity, new(big.Rat).Mul(quantity, price)})
	}
	return out
}

func (r *riskEngine) CheckOrder(_ context.Context, req *servicesv1.CheckOrderRequest) (*servicesv1.CheckOrderResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, err := r.evaluate(req.GetOrder(), r.s.now())
	if err != nil {
		return nil, err
	}
	return &servicesv1.CheckOrderResponse{Result: ev.result}, nil
}

func (r *riskEngine) ReserveOrder(_ context.Context, req *servicesv1.ReserveOrderRequest) (*servicesv1.ReserveOrderResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, seen, err := r.replay(req.GetRequestId(), req); seen {
		if err != nil {
			return nil, err
		}
		return first.(*servicesv1.ReserveOrderResponse), nil
	}
	now := r.s.now()
	ev, err := r.evaluate(req.GetOrder(), now)
	if err != nil {
		r.remember(req.GetRequestId(), req, nil, err)
		return nil, err
	}
	order := req.GetOrder()
	for _, l := range ev.breached {
		r.raiseAlert(l, order, ev.result, now)
	}
	if ev.result.GetDecision() != portfoliov1.RiskDecision_RISK_DECISION_DENY {
		ttl := defaultReservationTTL
		if req.GetTtl() != nil {
			ttl = req.GetTtl().AsDuration()
		}
		ids := make([]string, 0, len(ev.result.GetLimitChecks()))
		for _, c := range ev.result.GetLimitChecks() {
			ids = append(ids, c.GetLimitId())
		}
		res := &portfoliov1.RiskReservation{
			ReservationId: "rsv_" + newULID(now), State: portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_HELD,
			AccountId: order.GetAccountId(), MarketId: order.GetMarketId(), ClientOrderId: order.ClientOrderId, LimitIds: ids,
			ExpireTime: timestamppb.New(now.Add(ttl)), CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
		}
		r.reservations[res.GetReservationId()] = &reservation{
			msg: res, venueID: ev.venueID, strategy: order.GetStrategyId(), quantity: ev.quantity, notional: ev.notional,
		}
		ev.result.ReservationId = proto.String(res.GetReservationId())
		ev.result.ReservationExpireTime = proto.Clone(res.GetExpireTime()).(*timestamppb.Timestamp)
	}
	resp := &servicesv1.ReserveOrderResponse{Result: ev.result}
	r.remember(req.GetRequestId(), req, proto.Clone(resp), nil)
	return resp, nil
}

func (r *riskEngine) raiseAlert(l *portfoliov1.RiskLimit, order *servicesv1.NewOrder, result *portfoliov1.RiskCheckResult, now time.Time) {
	var check *portfoliov1.LimitCheck
	for _, c := range result.GetLimitChecks() {
		if c.GetLimitId() == l.GetLimitId() {
			check = c
		}
	}
	severity := assetsv1.FlagSeverity_FLAG_SEVERITY_HIGH
	if l.GetAction() == portfoliov1.RiskLimitAction_RISK_LIMIT_ACTION_ALERT {
		severity = assetsv1.FlagSeverity_FLAG_SEVERITY_MEDIUM
	}
	title := fmt.Sprintf("%s %s above limit %s", metricLabel(l.GetMetric()), check.GetProjectedValue(), l.GetThreshold())
	if len(title) > 200 {
		title = title[:200]
	}
	r.record(&eventsv1.RiskAlert{
		AlertId: "alr_" + newULID(now), RuleId: "limit." + metricLabel(l.GetMetric()), RuleName: l.GetName(),
		LimitId: proto.String(l.GetLimitId()), Category: eventsv1.RiskAlertCategory_RISK_ALERT_CATEGORY_LIMIT_BREACH,
		Severity: severity, Status: eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_OPEN, Title: title,
		AccountId: proto.String(order.GetAccountId()), MarketId: proto.String(order.GetMarketId()),
		Metric: metricLabel(l.GetMetric()), ObservedValue: proto.String(check.GetProjectedValue()),
		ThresholdValue: proto.String(l.GetThreshold()), ThresholdOperator: eventsv1.ThresholdOperator_THRESHOLD_OPERATOR_GREATER_THAN,
		Unit: l.GetUnit(), UnitAssetId: l.UnitAssetId, TriggerTime: timestamppb.New(now), OccurrenceCount: 1,
	})
}

func (r *riskEngine) reservation(id string) (*portfoliov1.RiskReservation, error) {
	res, ok := r.reservations[id]
	if !ok {
		return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, map[string]string{"reservation_id": id},
			"no reservation %q", id)
	}
	return res.msg, nil
}

func notHeld(m *portfoliov1.RiskReservation) error {
	md := map[string]string{"reservation_id": m.GetReservationId(), "state": m.GetState().String()}
	if m.GetState() == portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_COMMITTED {
		md["order_id"] = m.GetOrderId()
	}
	return riskError(servicesv1.ErrorReason_ERROR_REASON_RISK_RESERVATION_NOT_HELD, md, "reservation %s is %s",
		m.GetReservationId(), m.GetState())
}

func (r *riskEngine) CommitReservation(_ context.Context, req *servicesv1.CommitReservationRequest) (*servicesv1.CommitReservationResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.s.now()
	r.expire(now)
	m, err := r.reservation(req.GetReservationId())
	if err != nil {
		return nil, err
	}
	switch m.GetState() {
	case portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_COMMITTED:
		if m.GetOrderId() != req.GetOrderId() {
			return nil, notHeld(m)
		}
	case portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_RELEASED:
		return nil, notHeld(m)
	default:
		m.State = portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_COMMITTED
		m.OrderId = proto.String(req.GetOrderId())
		m.UpdateTime = timestamppb.New(now)
	}
	return &servicesv1.CommitReservationResponse{Reservation: proto.Clone(m).(*portfoliov1.RiskReservation)}, nil
}

func (r *riskEngine) ReleaseReservation(_ context.Context, req *servicesv1.ReleaseReservationRequest) (*servicesv1.ReleaseReservationResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.s.now()
	r.expire(now)
	m, err := r.reservation(req.GetReservationId())
	if err != nil {
		return nil, err
	}
	switch m.GetState() {
	case portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_COMMITTED:
		return nil, notHeld(m)
	case portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_HELD:
		m.State = portfoliov1.RiskReservationState_RISK_RESERVATION_STATE_RELEASED
		m.UpdateTime = timestamppb.New(now)
	}
	return &servicesv1.ReleaseReservationResponse{Reservation: proto.Clone(m).(*portfoliov1.RiskReservation)}, nil
}

// --- trading state and Flatten -------------------------------------------------------------------------

func (r *riskEngine) GetTradingState(_ context.Context, req *servicesv1.GetTradingStateRequest) (*servicesv1.GetTradingStateResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.checkScope(req.GetScope()); err != nil {
		return nil, err
	}
	t := r.tradingStateOf(scopeKey(req.GetScope()), r.s.now())
	if t == nil {
		return &servicesv1.GetTradingStateResponse{State: venuesv1.TradingState_TRADING_STATE_ACTIVE}, nil
	}
	resp := &servicesv1.GetTradingStateResponse{State: t.state, Reason: t.reason, UpdateTime: timestamppb.New(t.update)}
	if t.expire != nil {
		resp.ExpireTime = timestamppb.New(*t.expire)
	}
	return resp, nil
}

// setState puts the scope in state (unless that state with the same expiry is already in force); the caller
// holds r.mu.
func (r *riskEngine) setState(scope *servicesv1.RiskScope, state venuesv1.TradingState, reason string, expire *time.Time, now time.Time) *tradingState {
	key := scopeKey(scope)
	current := r.tradingStateOf(key, now)
	if current != nil && current.state == state && ((current.expire == nil && expire == nil) ||
		(current.expire != nil && expire != nil && current.expire.Equal(*expire))) {
		return current
	}
	changed := &tradingState{state: state, reason: reason, update: now, expire: expire}
	r.trading[key] = changed
	return changed
}

func (r *riskEngine) SetTradingState(_ context.Context, req *servicesv1.SetTradingStateRequest) (*servicesv1.SetTradingStateResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, seen, err := r.replay(req.GetRequestId(), req); seen {
		if err != nil {
			return nil, err
		}
		return first.(*servicesv1.SetTradingStateResponse), nil
	}
	now := r.s.now()
	fail := func(err error) (*servicesv1.SetTradingStateResponse, error) {
		r.remember(req.GetRequestId(), req, nil, err)
		return nil, err
	}
	if err := r.checkScope(req.GetScope()); err != nil {
		return fail(err)
	}
	var expire *time.Time
	switch {
	case req.GetExpireTime() != nil:
		t := req.GetExpireTime().AsTime()
		if !t.After(now) {
			return fail(validationStatus(req, []cqc.Violation{{
				Field: "expire_time", RuleID: "set_trading_state.expire_time_in_future", Message: "expire_time must be in the future",
			}}))
		}
		expire = &t
	case req.GetDuration() != nil:
		t := now.Add(req.GetDuration().AsDuration())
		expire = &t
	}
	t := r.setState(req.GetScope(), req.GetState(), req.GetReason(), expire, now)
	resp := &servicesv1.SetTradingStateResponse{State: t.state, UpdateTime: timestamppb.New(t.update)}
	if t.expire != nil {
		resp.ExpireTime = timestamppb.New(*t.expire)
	}
	r.remember(req.GetRequestId(), req, proto.Clone(resp), nil)
	return resp, nil
}

func (r *riskEngine) Flatten(ctx context.Context, req *servicesv1.FlattenRequest) (*servicesv1.FlattenResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first, seen, err := r.replay(req.GetRequestId(), req); seen {
		if err != nil {
			return nil, err
		}
		return first.(*servicesv1.FlattenResponse), nil
	}
	now := r.s.now()
	err := r.checkScope(req.GetScope())
	for _, id := range req.GetMarketIds() {
		if err == nil {
			_, err = get[*marketsv1.Market](r.s, r.s.markets, id)
		}
	}
	if err != nil {
		r.remember(req.GetRequestId(), req, nil, err)
		return nil, err
	}
	t := r.setState(req.GetScope(), req.GetTradingStateAfter(), req.GetReason(), nil, now)
	canceled, unclosed, err := r.flattenOrders(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &servicesv1.FlattenResponse{TradingState: t.state, CanceledOrderIds: canceled, UnclosedPositionIds: unclosed,
		UpdateTime: timestamppb.New(t.update)}
	r.remember(req.GetRequestId(), req, proto.Clone(resp), nil)
	return resp, nil
}

// nameUUID is a UUID derived from key (SHA-256, version and variant bits of a name-based UUID), so that a
// retried Flatten sends the same CancelAllOrders request ids.
func nameUUID(key string) string {
	sum := sha256.Sum256([]byte(key))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// scopeAccounts are the accounts of a scope: the account itself, or the portfolio's account_ids (Portfolio).
func (r *riskEngine) scopeAccounts(scope *servicesv1.RiskScope) []string {
	id, ok := scope.GetId().(*servicesv1.RiskScope_PortfolioId)
	if !ok {
		return []string{scope.GetAccountId()}
	}
	r.s.mu.RLock()
	defer r.s.mu.RUnlock()
	if p, found := r.s.portfolio.portfolios[id.PortfolioId]; found {
		return slices.Clone(p.GetAccountIds())
	}
	return nil
}

// flattenOrders cancels the scope's working orders through the server's VenueGateway (CancelAllOrders per
// account, and per market when market_ids narrows it) and lists the open positions of the scope (Portfolio)
// as unclosed for CANCEL_AND_CLOSE: the reference RiskEngine places no closing orders. The caller holds r.mu.
func (r *riskEngine) flattenOrders(ctx context.Context, req *servicesv1.FlattenRequest) (canceled, unclosed []string, err error) {
	gateway := r.gateway
	if gateway == nil {
		gateway = &venueGateway{s: r.s}
	}
	accounts := r.scopeAccounts(req.GetScope())
	markets := req.GetMarketIds()
	if len(markets) == 0 {
		markets = []string{""}
	}
	seen := map[string]bool{}
	for _, account := range accounts {
		r.s.mu.RLock()
		_, known := r.s.accounts.items[account]
		r.s.mu.RUnlock()
		if !known {
			continue // not a VenueGateway account: nothing to cancel there
		}
		for _, market := range markets {
			key := "cqc-risk-flatten:" + req.GetRequestId() + ":" + account + ":" + market
			cancel := &servicesv1.CancelAllOrdersRequest{RequestId: nameUUID(key), AccountId: account}
			if market != "" {
				cancel.MarketId = proto.String(market)
			}
			resp, err := gateway.CancelAllOrders(ctx, cancel)
			if err != nil {
				return nil, nil, err
			}
			for _, o := range resp.GetOrders() {
				if !seen[o.GetOrderId()] {
					seen[o.GetOrderId()] = true
					canceled = append(canceled, o.GetOrderId())
				}
			}
		}
	}
	if req.GetMode() == servicesv1.FlattenMode_FLATTEN_MODE_CANCEL_AND_CLOSE {
		inScope := map[string]bool{}
		for _, a := range accounts {
			inScope[a] = true
		}
		narrowed := map[string]bool{}
		for _, m := range req.GetMarketIds() {
			narrowed[m] = true
		}
		r.s.mu.RLock()
		for _, p := range r.s.portfolio.positions {
			if inScope[p.GetAccountId()] && (len(narrowed) == 0 || narrowed[p.GetMarketId()]) && ratOf(p.GetQuantity()).Sign() != 0 {
				unclosed = append(unclosed, p.GetPositionId())
			}
		}
		r.s.mu.RUnlock()
	}
	sort.Strings(canceled)
	sort.Strings(unclosed)
	return canceled, unclosed, nil
}

// --- risk limits ---------------------------------------------------------------------------------------

func (r *riskEngine) limit(id string) (*portfoliov1.RiskLimit, error) {
	l, ok := r.limits[id]
	if !ok {
		return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, map[string]string{"limit_id": id}, "no risk limit %q", id)
	}
	return proto.Clone(l).(*portfoliov1.RiskLimit), nil
}

func (r *riskEngine) GetRiskLimit(_ context.Context, req *servicesv1.GetRiskLimitRequest) (*servicesv1.GetRiskLimitResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, err := r.limit(req.GetLimitId())
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetRiskLimitResponse{RiskLimit: l}, nil
}

func (r *riskEngine) ListRiskLimits(_ context.Context, req *servicesv1.ListRiskLimitsRequest) (*servicesv1.ListRiskLimitsResponse, error) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.limits))
	for id := range r.limits {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var items []*portfoliov1.RiskLimit
	for _, id := range ids {
		l := r.limits[id]
		if (req.PortfolioId != nil && l.GetPortfolioId() != req.GetPortfolioId()) ||
			(req.AccountId != nil && l.GetAccountId() != req.GetAccountId()) ||
			(req.GetEnabledOnly() && l.GetState() != portfoliov1.RiskLimitState_RISK_LIMIT_STATE_ENABLED) {
			continue
		}
		items = append(items, proto.Clone(l).(*portfoliov1.RiskLimit))
	}
	r.mu.Unlock()
	chosen, next, err := riskPage(r.tokens, "ListRiskLimits", cqckit.FilterDigest(req), items,
		func(l *portfoliov1.RiskLimit) string { return l.GetLimitId() }, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListRiskLimitsResponse{RiskLimits: chosen, NextPageToken: next}, nil
}

// riskPage is one page of items (in listing order) after the token's item.
func riskPage[T any](tokens *cqckit.PageTokens, rpc, filters string, items []T, idOf func(T) string, size int32, token string) ([]T, string, error) {
	after, err := tokens.Decode(rpc, filters, token)
	if err != nil {
		return nil, "", err
	}
	if size <= 0 {
		size = defaultPageSize
	}
	start := 0
	if after != "" {
		start = len(items)
		for i, item := range items {
			if idOf(item) == after {
				start = i + 1
				break
			}
		}
	}
	end := min(start+int(size), len(items))
	next := ""
	if end < len(items) && end > start {
		next = tokens.Encode(rpc, filters, idOf(items[end-1]))
	}
	return items[start:end], next, nil
}

func withoutTimes(l *portfoliov1.RiskLimit) *portfoliov1.RiskLimit {
	c := proto.Clone(l).(*portfoliov1.RiskLimit)
	c.CreateTime, c.UpdateTime = nil, nil
	return c
}

func (r *riskEngine) CreateRiskLimit(_ context.Context, req *servicesv1.CreateRiskLimitRequest) (*servicesv1.CreateRiskLimitResponse, error) {
	given := withoutTimes(req.GetRiskLimit())
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing, ok := r.limits[given.GetLimitId()]; ok {
		if !sameRequest(withoutTimes(existing), given) {
			return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS, map[string]string{"limit_id": given.GetLimitId()},
				"risk limit %s exists with other values", given.GetLimitId())
		}
		return &servicesv1.CreateRiskLimitResponse{RiskLimit: proto.Clone(existing).(*portfoliov1.RiskLimit)}, nil
	}
	now := timestamppb.New(r.s.now())
	given.CreateTime, given.UpdateTime = now, proto.Clone(now).(*timestamppb.Timestamp)
	r.limits[given.GetLimitId()] = given
	return &servicesv1.CreateRiskLimitResponse{RiskLimit: proto.Clone(given).(*portfoliov1.RiskLimit)}, nil
}

func (r *riskEngine) UpdateRiskLimit(_ context.Context, req *servicesv1.UpdateRiskLimitRequest) (*servicesv1.UpdateRiskLimitResponse, error) {
	desc := (&portfoliov1.RiskLimit{}).ProtoReflect().Descriptor()
	var refused []string
	var fields []protoreflect.FieldDescriptor
	for _, path := range req.GetUpdateMask().GetPaths() {
		fd := desc.Fields().ByName(protoreflect.Name(path))
		if fd == nil || path == "limit_id" || path == "create_time" || path == "update_time" {
			refused = append(refused, path)
			continue
		}
		fields = append(fields, fd)
	}
	if len(refused) > 0 {
		return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_INVALID_UPDATE_MASK, map[string]string{"paths": strings.Join(refused, ",")},
			"update_mask paths that are not updatable fields of RiskLimit: %s", strings.Join(refused, ", "))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	updated, err := r.limit(req.GetRiskLimit().GetLimitId())
	if err != nil {
		return nil, err
	}
	src, dst := req.GetRiskLimit().ProtoReflect(), updated.ProtoReflect()
	for _, fd := range fields {
		if src.Has(fd) {
			dst.Set(fd, src.Get(fd))
		} else {
			dst.Clear(fd)
		}
	}
	updated.UpdateTime = timestamppb.New(r.s.now())
	violations, err := cqc.Violations(updated)
	if err != nil {
		return nil, internalError(err)
	}
	if len(violations) > 0 {
		for i := range violations {
			violations[i].Field = strings.TrimSuffix("risk_limit."+violations[i].Field, ".")
		}
		return nil, validationStatus(req, violations)
	}
	r.limits[updated.GetLimitId()] = updated
	return &servicesv1.UpdateRiskLimitResponse{RiskLimit: proto.Clone(updated).(*portfoliov1.RiskLimit)}, nil
}

// --- alerts --------------------------------------------------------------------------------------------

func (r *riskEngine) alert(id string) (*eventsv1.RiskAlert, error) {
	a, ok := r.alerts[id]
	if !ok {
		return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_NOT_FOUND_RESOURCE, map[string]string{"alert_id": id}, "no risk alert %q", id)
	}
	return proto.Clone(a).(*eventsv1.RiskAlert), nil
}

func (r *riskEngine) GetRiskAlert(_ context.Context, req *servicesv1.GetRiskAlertRequest) (*servicesv1.GetRiskAlertResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.alert(req.GetAlertId())
	if err != nil {
		return nil, err
	}
	return &servicesv1.GetRiskAlertResponse{RiskAlert: a}, nil
}

func alertMatches(a *eventsv1.RiskAlert, minSeverity assetsv1.FlagSeverity, scope *servicesv1.RiskScope) bool {
	if minSeverity != 0 && a.GetSeverity() < minSeverity {
		return false
	}
	if scope == nil {
		return true
	}
	if id, ok := scope.GetId().(*servicesv1.RiskScope_PortfolioId); ok {
		return a.PortfolioId != nil && a.GetPortfolioId() == id.PortfolioId
	}
	return a.AccountId != nil && a.GetAccountId() == scope.GetAccountId()
}

func alertOlder(a, b *eventsv1.RiskAlert) bool {
	ta, tb := a.GetTriggerTime().AsTime(), b.GetTriggerTime().AsTime()
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.GetAlertId() < b.GetAlertId()
}

func (r *riskEngine) ListRiskAlerts(_ context.Context, req *servicesv1.ListRiskAlertsRequest) (*servicesv1.ListRiskAlertsResponse, error) {
	statuses := map[eventsv1.RiskAlertStatus]bool{}
	for _, s := range req.GetStatuses() {
		statuses[s] = true
	}
	r.mu.Lock()
	var items []*eventsv1.RiskAlert
	for _, a := range r.alerts {
		if len(statuses) > 0 && !statuses[a.GetStatus()] {
			continue
		}
		if req.GetSinceTime() != nil && a.GetTriggerTime().AsTime().Before(req.GetSinceTime().AsTime()) {
			continue
		}
		if alertMatches(a, req.GetMinSeverity(), req.GetScope()) {
			items = append(items, proto.Clone(a).(*eventsv1.RiskAlert))
		}
	}
	r.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return alertOlder(items[j], items[i]) })
	chosen, next, err := riskPage(r.tokens, "ListRiskAlerts", cqckit.FilterDigest(req), items,
		func(a *eventsv1.RiskAlert) string { return a.GetAlertId() }, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListRiskAlertsResponse{RiskAlerts: chosen, NextPageToken: next}, nil
}

func (r *riskEngine) AcknowledgeRiskAlert(_ context.Context, req *servicesv1.AcknowledgeRiskAlertRequest) (*servicesv1.AcknowledgeRiskAlertResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.alert(req.GetAlertId())
	if err != nil {
		return nil, err
	}
	switch a.GetStatus() {
	case eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_RESOLVED:
		return nil, riskError(servicesv1.ErrorReason_ERROR_REASON_RISK_ALERT_RESOLVED,
			map[string]string{"alert_id": a.GetAlertId(), "status": a.GetStatus().String()},
			"risk alert %s is RESOLVED", a.GetAlertId())
	case eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_ACKNOWLEDGED:
	default:
		a.Status = eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_ACKNOWLEDGED
		a.AcknowledgeTime = timestamppb.New(r.s.now())
		a.AcknowledgedBy = req.GetAcknowledgedBy()
		a.SuppressUntil = nil
		r.record(a)
	}
	return &servicesv1.AcknowledgeRiskAlertResponse{RiskAlert: a}, nil
}

func (r *riskEngine) ResolveRiskAlert(_ context.Context, req *servicesv1.ResolveRiskAlertRequest) (*servicesv1.ResolveRiskAlertResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.alert(req.GetAlertId())
	if err != nil {
		return nil, err
	}
	if a.GetStatus() != eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_RESOLVED {
		now := r.s.now()
		if trigger := a.GetTriggerTime().AsTime(); now.Before(trigger) {
			now = trigger
		}
		a.Status = eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_RESOLVED
		a.ResolveTime = timestamppb.New(now)
		a.ResolvedBy = req.GetResolvedBy()
		a.SuppressUntil = nil
		r.record(a)
	}
	return &servicesv1.ResolveRiskAlertResponse{RiskAlert: a}, nil
}

// streamToken is a stream position signed for the stream kind and its filters; resumePos reads it back
// (FAILED_PRECONDITION RESUME_TOKEN_EXPIRED for anything this stream did not issue, or beyond end).
func (r *riskEngine) streamToken(kind, filters string, position int) string {
	return r.tokens.Encode("stream:"+kind, filters, strconv.Itoa(position))
}

func (r *riskEngine) resumePos(kind, filters, token string, end int) (int, error) {
	text, err := r.tokens.Decode("stream:"+kind, filters, token)
	position, convErr := strconv.Atoi(text)
	if err != nil || convErr != nil || position < 0 || position > end {
		return 0, riskError(servicesv1.ErrorReason_ERROR_REASON_RESUME_TOKEN_EXPIRED, nil,
			"resume_token was not issued by this %s stream with the same filters", kind)
	}
	return position, nil
}

func optionalScopeKey(scope *servicesv1.RiskScope) string {
	if scope == nil {
		return "-"
	}
	return scopeKey(scope)
}

func (r *riskEngine) StreamRiskAlerts(req *servicesv1.StreamRiskAlertsRequest, stream servicesv1.RiskEngine_StreamRiskAlertsServer) error {
	scope := req.GetScope()
	filters := riskDigest("alerts", strconv.Itoa(int(req.GetMinSeverity())), optionalScopeKey(scope))
	r.mu.Lock()
	if scope != nil {
		if err := r.checkScope(scope); err != nil {
			r.mu.Unlock()
			return err
		}
	}
	position := len(r.alertLog)
	var snapshot []*eventsv1.RiskAlert
	if req.ResumeToken != nil {
		var err error
		if position, err = r.resumePos("alerts", filters, req.GetResumeToken(), position); err != nil {
			r.mu.Unlock()
			return err
		}
	} else {
		for _, a := range r.alerts {
			if a.GetStatus() != eventsv1.RiskAlertStatus_RISK_ALERT_STATUS_RESOLVED && alertMatches(a, req.GetMinSeverity(), scope) {
				snapshot = append(snapshot, proto.Clone(a).(*eventsv1.RiskAlert))
			}
		}
	}
	r.mu.Unlock()
	deadline := endBeforeDeadline(stream.Context())
	if req.ResumeToken == nil {
		sort.Slice(snapshot, func(i, j int) bool { return alertOlder(snapshot[i], snapshot[j]) })
		token := r.streamToken("alerts", filters, position)
		for _, a := range snapshot {
			if err := stream.Send(&servicesv1.StreamRiskAlertsResponse{RiskAlert: a, IsSnapshot: true, ResumeToken: token}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamRiskAlertsResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	for {
		r.mu.Lock()
		changes := slices.Clone(r.alertLog[position:])
		changed := r.alertChanged
		r.mu.Unlock()
		for _, a := range changes {
			position++
			if alertMatches(a, req.GetMinSeverity(), scope) {
				if err := stream.Send(&servicesv1.StreamRiskAlertsResponse{RiskAlert: a, ResumeToken: r.streamToken("alerts", filters, position)}); err != nil {
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
		case <-deadline:
			return deadlineReached()
		case <-r.s.closing:
			return nil
		case <-changed:
		}
	}
}

// --- exposures -----------------------------------------------------------------------------------------

func (r *riskEngine) exposuresOf(scope *servicesv1.RiskScope, dimension portfoliov1.ExposureDimension) []*portfoliov1.Exposure {
	var found []*portfoliov1.Exposure
	for _, e := range r.exposures {
		if e.GetDimension() != dimension {
			continue
		}
		switch id := scope.GetId().(type) {
		case *servicesv1.RiskScope_PortfolioId:
			if e.GetPortfolioId() == "" || e.GetPortfolioId() != id.PortfolioId {
				continue
			}
		case *servicesv1.RiskScope_AccountId:
			if e.GetAccountId() == "" || e.GetAccountId() != id.AccountId {
				continue
			}
		}
		found = append(found, proto.Clone(e).(*portfoliov1.Exposure))
	}
	gross := func(e *portfoliov1.Exposure) *big.Rat {
		return new(big.Rat).Add(ratOf(e.GetGrossLong()), ratOf(e.GetGrossShort()))
	}
	sort.Slice(found, func(i, j int) bool {
		if c := gross(found[i]).Cmp(gross(found[j])); c != 0 {
			return c > 0
		}
		return found[i].GetExposureId() < found[j].GetExposureId()
	})
	return found
}

func (r *riskEngine) ListExposures(_ context.Context, req *servicesv1.ListExposuresRequest) (*servicesv1.ListExposuresResponse, error) {
	r.mu.Lock()
	if err := r.checkScope(req.GetScope()); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	items := r.exposuresOf(req.GetScope(), req.GetDimension())
	r.mu.Unlock()
	chosen, next, err := riskPage(r.tokens, "ListExposures", cqckit.FilterDigest(req), items,
		func(e *portfoliov1.Exposure) string { return e.GetExposureId() }, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &servicesv1.ListExposuresResponse{Exposures: chosen, NextPageToken: next}, nil
}

func (r *riskEngine) StreamExposures(req *servicesv1.StreamExposuresRequest, stream servicesv1.RiskEngine_StreamExposuresServer) error {
	filters := riskDigest("exposures", scopeKey(req.GetScope()), strconv.Itoa(int(req.GetDimension())))
	r.mu.Lock()
	if err := r.checkScope(req.GetScope()); err != nil {
		r.mu.Unlock()
		return err
	}
	snapshot := r.exposuresOf(req.GetScope(), req.GetDimension())
	r.mu.Unlock()
	// The reference server never recomputes exposures: the change log stays empty (position 0).
	if req.ResumeToken != nil {
		if _, err := r.resumePos("exposures", filters, req.GetResumeToken(), 0); err != nil {
			return err
		}
	} else {
		token := r.streamToken("exposures", filters, 0)
		for _, e := range snapshot {
			if err := stream.Send(&servicesv1.StreamExposuresResponse{Exposure: e, IsSnapshot: true, ResumeToken: token}); err != nil {
				return err
			}
		}
		if err := stream.Send(&servicesv1.StreamExposuresResponse{SnapshotComplete: true, ResumeToken: token}); err != nil {
			return err
		}
	}
	select {
	case <-stream.Context().Done():
		return stream.Context().Err()
	case <-endBeforeDeadline(stream.Context()):
		return deadlineReached()
	case <-r.s.closing:
		return nil
	}
}

// endBeforeDeadline fires 50 ms before the call's deadline (nil channel without one). A live stream ends
// itself then with DEADLINE_EXCEEDED: grpc-go's transport resets the stream (RST_STREAM CANCEL) at the
// deadline, which a client whose own timer has not fired yet reports as CANCELLED.
func endBeforeDeadline(ctx context.Context) <-chan time.Time {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	return time.After(time.Until(deadline) - 50*time.Millisecond)
}

func deadlineReached() error {
	return status.Error(codes.DeadlineExceeded, "the call's deadline is reached")
}
