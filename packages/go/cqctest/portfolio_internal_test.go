package cqctest

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
)

// A position change (here: the inverse short closing) reaches the open stream of its account, not others,
// and a resume token from before it replays it, closed position included.
func TestStreamPositionsLiveChangesAndReplay(t *testing.T) {
	srv, hs, st, _, err := build(Options{Testdata: corpus.Testdata()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { st.close(); hs.Shutdown(); srv.Stop() })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := servicesv1.NewPortfolioClient(conn)
	const swap, perp, short = "acc_01JD0KXSWAPMA1N00000000000", "acc_01JDBNVSDMMA1N000000000000", "pos_01JD0KXBTCVSDSWAPSH0RT0000"

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mine, err := client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: []string{swap}})
	if err != nil {
		t.Fatal(err)
	}
	otherCtx, otherCancel := context.WithTimeout(context.Background(), time.Second)
	defer otherCancel()
	other, err := client.StreamPositions(otherCtx, &servicesv1.StreamPositionsRequest{AccountIds: []string{perp}})
	if err != nil {
		t.Fatal(err)
	}
	recv := func(s servicesv1.Portfolio_StreamPositionsClient) *servicesv1.StreamPositionsResponse {
		t.Helper()
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if !recv(mine).GetIsSnapshot() {
		t.Fatal("first message is not a snapshot")
	}
	marker := recv(mine)
	if !marker.GetSnapshotComplete() || recv(other).GetSnapshotComplete() || !recv(other).GetSnapshotComplete() {
		t.Fatal("snapshots do not end with the marker")
	}
	got, err := client.GetPosition(ctx, &servicesv1.GetPositionRequest{PositionId: short})
	if err != nil {
		t.Fatal(err)
	}
	closed := got.GetPosition()
	closed.Quantity = "0"
	st.recordPosition(closed)
	change := recv(mine)
	if !proto.Equal(change.GetPosition(), closed) || change.GetIsSnapshot() || change.GetResumeToken() == marker.GetResumeToken() {
		t.Fatalf("change %v", change)
	}
	if _, err := other.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("other account's stream: %v, want DEADLINE_EXCEEDED", err)
	}
	replay, err := client.StreamPositions(ctx, &servicesv1.StreamPositionsRequest{AccountIds: []string{swap}, ResumeToken: proto.String(marker.GetResumeToken())})
	if err != nil {
		t.Fatal(err)
	}
	if replayed := recv(replay); !proto.Equal(replayed.GetPosition(), closed) || replayed.GetResumeToken() != change.GetResumeToken() {
		t.Fatalf("replayed %v", replayed)
	}
	short2, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer stop()
	caughtUp, err := client.StreamPositions(short2, &servicesv1.StreamPositionsRequest{AccountIds: []string{swap}, ResumeToken: proto.String(change.GetResumeToken())})
	if err == nil {
		_, err = caughtUp.Recv()
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("caught-up stream: %v, want DEADLINE_EXCEEDED", err)
	}
	open, err := client.ListPositions(ctx, &servicesv1.ListPositionsRequest{AccountId: proto.String(swap), OpenOnly: true})
	if err != nil || len(open.GetPositions()) != 0 {
		t.Fatalf("open positions after the close: %v %v", open, err)
	}
}
