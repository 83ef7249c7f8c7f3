package cqctest_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

// TestMarginSummaryStream: a fresh stream sends the summary then the snapshot_complete marker, a borrow on
// the account is streamed as a change, the change's resume token replays nothing more, and a foreign token
// fails RESUME_TOKEN_EXPIRED.
func TestMarginSummaryStream(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const unified = "acc_01JDBNVN1F1ED0000000000000"
	_, err := gateway.CreateVenueAccount(ctx, &servicesv1.CreateVenueAccountRequest{VenueAccount: &venuesv1.VenueAccount{
		AccountId: unified, VenueId: "ven_01JDB1NANCE000000000000000", Name: "Binance portfolio margin", ExternalAccountId: "354937868",
		AccountType: venuesv1.AccountType_ACCOUNT_TYPE_UNIFIED, Status: venuesv1.AccountStatus_ACCOUNT_STATUS_ACTIVE,
		MarginMode: venuesv1.MarginMode_MARGIN_MODE_PORTFOLIO, BaseAssetId: proto.String(usdc)}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := gateway.StreamMarginSummaries(ctx, &servicesv1.StreamMarginSummariesRequest{AccountId: unified})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || !first.GetIsSnapshot() || first.GetMarginSummary().GetAssetId() != usdc || first.GetResumeToken() == "" {
		t.Fatalf("snapshot: %v %v", first, err)
	}
	marker, err := stream.Recv()
	if err != nil || !marker.GetSnapshotComplete() || marker.GetMarginSummary() != nil {
		t.Fatalf("marker: %v %v", marker, err)
	}
	if _, err := gateway.Borrow(ctx, &servicesv1.BorrowRequest{RequestId: "00000000-0000-4000-a000-000000000001", AccountId: unified,
		AssetId: usdc, Amount: "250"}); err != nil {
		t.Fatal(err)
	}
	change, err := stream.Recv()
	if err != nil || change.GetIsSnapshot() || change.GetMarginSummary().GetBorrowed() != "250" {
		t.Fatalf("change: %v %v", change, err)
	}
	resumed, err := gateway.StreamMarginSummaries(ctx, &servicesv1.StreamMarginSummariesRequest{AccountId: unified, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := resumed.Recv()
	if err != nil || replayed.GetMarginSummary().GetBorrowed() != "250" || replayed.GetSnapshotComplete() {
		t.Fatalf("replay after the marker's token: %v %v", replayed, err)
	}
	bad, err := gateway.StreamMarginSummaries(ctx, &servicesv1.StreamMarginSummariesRequest{AccountId: unified, ResumeToken: proto.String("bm9wZQ==")})
	if err == nil {
		_, err = bad.Recv()
	}
	errorInfo(t, err, codes.FailedPrecondition, "RESUME_TOKEN_EXPIRED")
}

// TestBalanceStream: balances computed from the server's ledger are listed, streamed as a snapshot then the
// marker, a borrow is streamed as a change with its reason, and a resume token replays it.
func TestBalanceStream(t *testing.T) {
	gateway := servicesv1.NewVenueGatewayClient(start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const margin = "acc_01JDBNMARG1NCR0SS000000000"
	if _, err := gateway.CreateVenueAccount(ctx, &servicesv1.CreateVenueAccountRequest{VenueAccount: &venuesv1.VenueAccount{
		AccountId: margin, VenueId: "ven_01JDB1NANCE000000000000000", Name: "Binance cross margin", ExternalAccountId: "354937868",
		AccountType: venuesv1.AccountType_ACCOUNT_TYPE_MARGIN, Status: venuesv1.AccountStatus_ACCOUNT_STATUS_ACTIVE}}); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.TransferInternal(ctx, &servicesv1.TransferInternalRequest{RequestId: "00000000-0000-4000-a000-000000000101",
		AccountId: account, FromWallet: "spot", ToAccountId: proto.String(margin), ToWallet: "cross_margin", AssetId: usdc, Amount: "5000"}); err != nil {
		t.Fatal(err)
	}
	listed, err := gateway.ListBalances(ctx, &servicesv1.ListBalancesRequest{AccountId: margin})
	if err != nil || len(listed.GetBalances()) != 1 || listed.GetBalances()[0].GetWalletBalance() != "5000" || listed.GetBalances()[0].GetWallet() != "cross_margin" {
		t.Fatalf("ListBalances: %v %v", listed, err)
	}
	stream, err := gateway.StreamBalances(ctx, &servicesv1.StreamBalancesRequest{AccountId: margin})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || !first.GetIsSnapshot() || first.GetBalance().GetWalletBalance() != "5000" {
		t.Fatalf("snapshot: %v %v", first, err)
	}
	marker, err := stream.Recv()
	if err != nil || !marker.GetSnapshotComplete() {
		t.Fatalf("marker: %v %v", marker, err)
	}
	if _, err := gateway.Borrow(ctx, &servicesv1.BorrowRequest{RequestId: "00000000-0000-4000-a000-000000000102", AccountId: margin, AssetId: usdc, Amount: "1000"}); err != nil {
		t.Fatal(err)
	}
	change, err := stream.Recv()
	if err != nil || change.GetBalance().GetBorrowed() != "1000" || change.GetReason() != venuesv1.BalanceChangeReason_BALANCE_CHANGE_REASON_BORROW {
		t.Fatalf("change: %v %v", change, err)
	}
	resumed, err := gateway.StreamBalances(ctx, &servicesv1.StreamBalancesRequest{AccountId: margin, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	if replayed, err := resumed.Recv(); err != nil || replayed.GetBalance().GetBorrowed() != "1000" {
		t.Fatalf("replay: %v %v", replayed, err)
	}
}
