package cqctest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cqc "github.com/crypto-quant/cqc/packages/go"
	portfoliov1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/portfolio/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

const (
	acctSpot     = "acc_01JDBNSP0TMA1N000000000000"
	acctUSDM     = "acc_01JDBNVSDMMA1N000000000000"
	acctMargin   = "acc_01JDBNMARG1NCR0SS000000000"
	acctTreasury = "acc_01JDBNTREASVRY000000000000"
	acctPerp     = "mkt_01JDBNBTCVSDTPERP000000000"
	acctSpotMkt  = "mkt_01JDBNBTCVSDTSP0T000000000"
	acctUSDT     = "ast_01JDVSDT000000000000000000"
	acctUSDC     = "ast_01JDVSDC000000000000000000"
)

var acctRequests int

func acctRID() string {
	acctRequests++
	return fmt.Sprintf("00000000-0000-4000-9000-%012d", acctRequests)
}

func acctGateway(t *testing.T) *venueGateway {
	t.Helper()
	s := newState()
	if err := s.seed(corpus.Testdata()); err != nil {
		t.Fatal(err)
	}
	g := &venueGateway{s: s}
	for _, a := range []struct {
		id, venue, name string
		kind            venuesv1.AccountType
		perms           []venuesv1.AccountPermission
	}{
		{acctUSDM, "ven_01JDB1NANCEFVTVRES00000000", "Binance USD-M main", venuesv1.AccountType_ACCOUNT_TYPE_FUTURES, nil},
		{acctMargin, "ven_01JDB1NANCE000000000000000", "Binance cross margin", venuesv1.AccountType_ACCOUNT_TYPE_MARGIN, nil},
		{acctTreasury, "ven_01JDB1NANCE000000000000000", "Binance treasury", venuesv1.AccountType_ACCOUNT_TYPE_SPOT,
			[]venuesv1.AccountPermission{venuesv1.AccountPermission_ACCOUNT_PERMISSION_WITHDRAW}},
	} {
		account := &venuesv1.VenueAccount{AccountId: a.id, VenueId: a.venue, Name: a.name, ExternalAccountId: "354937868",
			AccountType: a.kind, Status: venuesv1.AccountStatus_ACCOUNT_STATUS_ACTIVE, MarginMode: venuesv1.MarginMode_MARGIN_MODE_CROSS,
			BaseAssetId: proto.String(acctUSDT), Permissions: a.perms, Limits: &venuesv1.AccountLimits{MaxLeverage: proto.String("50")}}
		if _, err := g.CreateVenueAccount(context.Background(), &servicesv1.CreateVenueAccountRequest{VenueAccount: account}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// wantError checks the code, reason and (optionally) one metadata entry of a handler error.
func acctWantError(t *testing.T, err error, code codes.Code, reason string, meta ...string) {
	t.Helper()
	var e *apiError
	if !errors.As(err, &e) {
		t.Fatalf("want %s %s, got %v", code, reason, err)
	}
	if e.code != code || e.reason != reason {
		t.Fatalf("want %s %s, got %s %s (%s)", code, reason, e.code, e.reason, e.message)
	}
	if len(meta) == 2 && e.metadata[meta[0]] != meta[1] {
		t.Fatalf("metadata %s = %q, want %q", meta[0], e.metadata[meta[0]], meta[1])
	}
}

// storeFilledPerp stores a filled order of the USD-M account in the perpetual market.
func storeFilledPerp(t *testing.T, g *venueGateway, side venuesv1.Side, start int64, fills ...[2]string) *venuesv1.Order {
	t.Helper()
	n := len(g.s.orders)
	o := &venuesv1.Order{
		OrderId: fmt.Sprintf("ord_01JDBNF111ED%014d", n), ClientOrderId: fmt.Sprintf("fill-%d", n), VenueOrderId: fmt.Sprintf("41072%05d", n),
		AccountId: acctUSDM, VenueId: "ven_01JDB1NANCEFVTVRES00000000", MarketId: acctPerp, Side: side,
		OrderType: venuesv1.OrderType_ORDER_TYPE_MARKET, Status: venuesv1.OrderStatus_ORDER_STATUS_FILLED,
		CreateTime: timestamppb.New(time.Unix(1748779000, 0)), UpdateTime: timestamppb.New(time.Unix(1748779100, 0)),
	}
	total := 0.0
	for i, f := range fills {
		o.Fills = append(o.Fills, &venuesv1.OrderFill{VenueTradeId: fmt.Sprintf("%s-%d", o.GetVenueOrderId(), i), Quantity: f[0], Price: f[1],
			LiquiditySide: venuesv1.LiquiditySide_LIQUIDITY_SIDE_TAKER, TransactTime: timestamppb.New(time.Unix(start+int64(i), 0)),
			Commission: &typesv1.AssetAmount{Amount: "0.1", AssetId: acctUSDT}})
		var q float64
		fmt.Sscan(f[0], &q)
		total += q
	}
	o.Quantity = proto.String(fmt.Sprint(total))
	o.FilledQuantity = fmt.Sprint(total)
	if err := cqc.Validate(o); err != nil {
		t.Fatalf("test order invalid: %v", err)
	}
	g.s.nextSeq++
	g.s.orders[o.GetOrderId()] = &orderEntry{order: o, seq: g.s.nextSeq}
	return o
}

func TestAccountReconciliationReports(t *testing.T) {
	g := acctGateway(t)
	ctx := context.Background()
	placed, err := g.PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{RequestId: acctRID(), Order: &servicesv1.NewOrder{
		AccountId: acctSpot, MarketId: acctSpotMkt, Side: venuesv1.Side_SIDE_BUY, OrderType: venuesv1.OrderType_ORDER_TYPE_LIMIT,
		Quantity: proto.String("0.01"), Price: proto.String("60000")}})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := g.ListOrderStatusReports(ctx, &servicesv1.ListOrderStatusReportsRequest{AccountId: acctSpot})
	if err != nil {
		t.Fatal(err)
	}
	if got := orders.GetOrderStatusReports(); len(got) != 1 || got[0].GetOrderId() != placed.GetOrder().GetOrderId() ||
		got[0].GetStatus() != venuesv1.OrderStatus_ORDER_STATUS_NEW || got[0].GetQuantity() != "0.01" {
		t.Fatalf("order reports: %v", got)
	} else if err := cqc.Validate(got[0]); err != nil {
		t.Fatalf("order report invalid: %v", err)
	}
	masked, err := g.ListOrderStatusReports(ctx, &servicesv1.ListOrderStatusReportsRequest{AccountId: acctSpot,
		ReadMask: &fieldmaskpb.FieldMask{Paths: []string{"order_id", "status"}}})
	if err != nil || masked.GetOrderStatusReports()[0].Quantity != nil || masked.GetOrderStatusReports()[0].GetOrderId() == "" {
		t.Fatalf("masked: %v %v", masked, err)
	}
	_, err = g.ListOrderStatusReports(ctx, &servicesv1.ListOrderStatusReportsRequest{AccountId: "acc_01JDZZZZZZZZZZZZZZZZZZZZZZ"})
	acctWantError(t, err, codes.NotFound, "NOT_FOUND_ACCOUNT")

	buy := storeFilledPerp(t, g, venuesv1.Side_SIDE_BUY, 1748779001, [2]string{"0.2", "60000"}, [2]string{"0.1", "63000"})
	sell := storeFilledPerp(t, g, venuesv1.Side_SIDE_SELL, 1748779010, [2]string{"0.05", "65000"})
	fills, err := g.ListFillReports(ctx, &servicesv1.ListFillReportsRequest{AccountId: acctUSDM, SinceTime: timestamppb.New(time.Unix(1748779000, 0))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fills.GetFillReports() {
		ids = append(ids, f.GetVenueTradeId()+"="+f.GetLastQuantity())
		if err := cqc.Validate(f); err != nil {
			t.Fatalf("fill report invalid: %v", err)
		}
	}
	if want := fmt.Sprintf("[%[1]s-0=0.2 %[1]s-1=0.1 %[2]s-0=0.05]", buy.GetVenueOrderId(), sell.GetVenueOrderId()); fmt.Sprint(ids) != want {
		t.Fatalf("fills %v, want %s", ids, want)
	}
	first, err := g.ListFillReports(ctx, &servicesv1.ListFillReportsRequest{AccountId: acctUSDM, SinceTime: timestamppb.New(time.Unix(0, 0)), PageSize: 2})
	if err != nil || len(first.GetFillReports()) != 2 || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v %v", first, err)
	}
	rest, err := g.ListFillReports(ctx, &servicesv1.ListFillReportsRequest{AccountId: acctUSDM, SinceTime: timestamppb.New(time.Unix(0, 0)), PageSize: 2,
		PageToken: first.GetNextPageToken()})
	if err != nil || len(rest.GetFillReports()) != 1 || rest.GetNextPageToken() != "" {
		t.Fatalf("second page: %v %v", rest, err)
	}
	positions, err := g.ListPositionStatusReports(ctx, &servicesv1.ListPositionStatusReportsRequest{AccountId: acctUSDM})
	if err != nil {
		t.Fatal(err)
	}
	if got := positions.GetPositionStatusReports(); len(got) != 1 || got[0].GetSignedQuantity() != "0.25" || got[0].GetAvgOpenPrice() != "61000" ||
		got[0].GetPositionSide() != venuesv1.PositionSide_POSITION_SIDE_NET {
		t.Fatalf("positions: %v", got)
	} else if err := cqc.Validate(got[0]); err != nil {
		t.Fatalf("position report invalid: %v", err)
	}
}

func TestAccountControl(t *testing.T) {
	g := acctGateway(t)
	ctx := context.Background()
	req := &servicesv1.SetLeverageRequest{RequestId: acctRID(), AccountId: acctUSDM, MarketId: acctPerp, Leverage: "20"}
	first, err := g.SetLeverage(ctx, req)
	if err != nil || first.GetMarketLeverage().GetLongLeverage() != "20" {
		t.Fatalf("SetLeverage: %v %v", first, err)
	}
	again, err := g.SetLeverage(ctx, req)
	if err != nil || !proto.Equal(again, first) {
		t.Fatalf("retry: %v %v", again, err)
	}
	_, err = g.SetLeverage(ctx, &servicesv1.SetLeverageRequest{RequestId: req.GetRequestId(), AccountId: acctUSDM, MarketId: acctPerp, Leverage: "10"})
	acctWantError(t, err, codes.AlreadyExists, "REQUEST_ID_REUSED")
	_, err = g.SetLeverage(ctx, &servicesv1.SetLeverageRequest{RequestId: acctRID(), AccountId: acctUSDM, MarketId: acctPerp, Leverage: "125"})
	acctWantError(t, err, codes.InvalidArgument, "LEVERAGE_OUT_OF_RANGE", "max_leverage", "50")
	_, err = g.SetLeverage(ctx, &servicesv1.SetLeverageRequest{RequestId: acctRID(), AccountId: acctSpot, MarketId: acctSpotMkt, Leverage: "2"})
	acctWantError(t, err, codes.FailedPrecondition, "ACCOUNT_OPERATION_UNSUPPORTED", "operation", "SetLeverage")

	mode, err := g.SetMarginMode(ctx, &servicesv1.SetMarginModeRequest{RequestId: acctRID(), AccountId: acctUSDM, MarketId: proto.String(acctPerp),
		MarginMode: venuesv1.MarginMode_MARGIN_MODE_ISOLATED})
	if err != nil || mode.GetVenueAccount().GetMarketLeverages()[0].GetMarginMode() != venuesv1.MarginMode_MARGIN_MODE_ISOLATED {
		t.Fatalf("SetMarginMode: %v %v", mode, err)
	}
	adjust := &servicesv1.AdjustIsolatedMarginRequest{RequestId: acctRID(), AccountId: acctUSDM, MarketId: acctPerp,
		PositionSide: venuesv1.PositionSide_POSITION_SIDE_NET, Adjustment: servicesv1.IsolatedMarginAdjustment_ISOLATED_MARGIN_ADJUSTMENT_ADD, Amount: "100"}
	_, err = g.AdjustIsolatedMargin(ctx, adjust)
	acctWantError(t, err, codes.NotFound, "NOT_FOUND_POSITION")
	storeFilledPerp(t, g, venuesv1.Side_SIDE_BUY, 1748779001, [2]string{"0.2", "60000"})
	adjust.RequestId = acctRID()
	added, err := g.AdjustIsolatedMargin(ctx, adjust)
	if err != nil || added.GetPosition().GetIsolatedMargin().GetAmount() != "100" || added.GetTransaction().GetAmount() != "-100" {
		t.Fatalf("AdjustIsolatedMargin: %v %v", added, err)
	}
	_, err = g.AdjustIsolatedMargin(ctx, &servicesv1.AdjustIsolatedMarginRequest{RequestId: acctRID(), AccountId: acctUSDM, MarketId: acctPerp,
		PositionSide: venuesv1.PositionSide_POSITION_SIDE_NET, Adjustment: servicesv1.IsolatedMarginAdjustment_ISOLATED_MARGIN_ADJUSTMENT_REDUCE, Amount: "150"})
	acctWantError(t, err, codes.FailedPrecondition, "MARGIN_REMOVAL_EXCEEDS_FREE", "max_removable", "100")
	_, err = g.SetPositionMode(ctx, &servicesv1.SetPositionModeRequest{RequestId: acctRID(), AccountId: acctUSDM, PositionMode: venuesv1.PositionMode_POSITION_MODE_HEDGE})
	acctWantError(t, err, codes.FailedPrecondition, "POSITIONS_OR_ORDERS_OPEN", "setting", "position_mode")

	transfer, err := g.TransferInternal(ctx, &servicesv1.TransferInternalRequest{RequestId: acctRID(), AccountId: acctSpot, FromWallet: "spot",
		ToAccountId: proto.String(acctMargin), ToWallet: "cross_margin", AssetId: acctUSDC, Amount: "5000"})
	if err != nil || transfer.GetTransfer().GetAmount() != "-5000" || transfer.GetTransfer().GetCounterpartyAccountId() != acctMargin {
		t.Fatalf("TransferInternal: %v %v", transfer, err)
	}
	_, err = g.Borrow(ctx, &servicesv1.BorrowRequest{RequestId: acctRID(), AccountId: acctSpot, AssetId: acctUSDC, Amount: "1"})
	acctWantError(t, err, codes.FailedPrecondition, "ACCOUNT_OPERATION_UNSUPPORTED")
	loan, err := g.Borrow(ctx, &servicesv1.BorrowRequest{RequestId: acctRID(), AccountId: acctMargin, AssetId: acctUSDC, Amount: "1000"})
	if err != nil || loan.GetBorrowed() != "1000" {
		t.Fatalf("Borrow: %v %v", loan, err)
	}
	_, err = g.Repay(ctx, &servicesv1.RepayRequest{RequestId: acctRID(), AccountId: acctMargin, AssetId: acctUSDC, Amount: proto.String("1500")})
	acctWantError(t, err, codes.InvalidArgument, "REPAY_EXCEEDS_DEBT", "owed", "1000")
	repaid, err := g.Repay(ctx, &servicesv1.RepayRequest{RequestId: acctRID(), AccountId: acctMargin, AssetId: acctUSDC, RepayAll: true})
	if err != nil || repaid.GetBorrowed() != "0" || repaid.GetTransaction().GetAmount() != "-1000" {
		t.Fatalf("Repay: %v %v", repaid, err)
	}
	rates, err := g.ListTradingFeeRates(ctx, &servicesv1.ListTradingFeeRatesRequest{AccountId: acctSpot, MarketIds: []string{acctSpotMkt}})
	if err != nil || len(rates.GetMarketFeeRates()) != 1 || rates.GetMarketFeeRates()[0].GetRates().GetMakerFeeRate() != "0.00100000" {
		t.Fatalf("ListTradingFeeRates: %v %v", rates, err)
	}
	_, err = g.GetMarginSummary(ctx, &servicesv1.GetMarginSummaryRequest{AccountId: acctSpot})
	acctWantError(t, err, codes.FailedPrecondition, "ACCOUNT_OPERATION_UNSUPPORTED")
	summary, err := g.GetMarginSummary(ctx, &servicesv1.GetMarginSummaryRequest{AccountId: acctUSDM})
	if err != nil || summary.GetMarginSummary().GetAssetId() != acctUSDT || summary.GetMarginSummary().GetIsReported() {
		t.Fatalf("GetMarginSummary: %v %v", summary, err)
	}
}

func TestAccountWithdrawals(t *testing.T) {
	g := acctGateway(t)
	ctx := context.Background()
	req := &servicesv1.RequestWithdrawalRequest{RequestId: acctRID(), AccountId: acctTreasury, AssetId: acctUSDC,
		DeploymentId: "dep_01JDVSDCETH000000000000000", Address: "0x7a16ff8270133f063aab6c9977183d9e72835428", Amount: "2500",
		ClientTransactionId: proto.String("payout-1")}
	w, err := g.RequestWithdrawal(ctx, req)
	if err != nil || w.GetWithdrawal().GetStatus() != portfoliov1.TransactionStatus_TRANSACTION_STATUS_PENDING || w.GetWithdrawal().GetAmount() != "-2500" {
		t.Fatalf("RequestWithdrawal: %v %v", w, err)
	}
	if again, err := g.RequestWithdrawal(ctx, req); err != nil || !proto.Equal(again, w) {
		t.Fatalf("retry: %v %v", again, err)
	}
	listed, err := g.ListWithdrawals(ctx, &servicesv1.ListWithdrawalsRequest{AccountId: acctTreasury,
		Statuses: []portfoliov1.TransactionStatus{portfoliov1.TransactionStatus_TRANSACTION_STATUS_PENDING}})
	if err != nil || len(listed.GetWithdrawals()) != 1 {
		t.Fatalf("ListWithdrawals: %v %v", listed, err)
	}
	cancel := &servicesv1.CancelWithdrawalRequest{RequestId: acctRID(), AccountId: acctTreasury, ClientTransactionId: proto.String("payout-1")}
	canceled, err := g.CancelWithdrawal(ctx, cancel)
	if err != nil || canceled.GetWithdrawal().GetStatus() != portfoliov1.TransactionStatus_TRANSACTION_STATUS_CANCELED {
		t.Fatalf("CancelWithdrawal: %v %v", canceled, err)
	}
	if again, err := g.CancelWithdrawal(ctx, cancel); err != nil || !proto.Equal(again, canceled) {
		t.Fatalf("cancel retry: %v %v", again, err)
	}
	_, err = g.CancelWithdrawal(ctx, &servicesv1.CancelWithdrawalRequest{RequestId: acctRID(), AccountId: acctTreasury,
		TransactionId: proto.String(w.GetWithdrawal().GetTransactionId())})
	acctWantError(t, err, codes.FailedPrecondition, "WITHDRAWAL_NOT_CANCELABLE", "status", "TRANSACTION_STATUS_CANCELED")
	_, err = g.CancelWithdrawal(ctx, &servicesv1.CancelWithdrawalRequest{RequestId: acctRID(), AccountId: acctTreasury, ClientTransactionId: proto.String("nope")})
	acctWantError(t, err, codes.NotFound, "NOT_FOUND_TRANSACTION")
	denied := proto.Clone(req).(*servicesv1.RequestWithdrawalRequest)
	denied.RequestId, denied.AccountId = acctRID(), acctSpot
	_, err = g.RequestWithdrawal(ctx, denied)
	acctWantError(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
}
