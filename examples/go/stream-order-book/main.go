// Command stream-order-book streams a market's order book with MarketData.StreamOrderBook: the snapshot
// first, then the deltas, printing the best levels of each message until the stream ends.
//
//	go run ./stream-order-book -target 127.0.0.1:50051 [-market mkt_01JDBNBTCVSDTSP0T000000000]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	marketsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/markets/v1"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// binanceBTCUSDT is the CQC market id of Binance spot BTCUSDT in the reference data.
const binanceBTCUSDT = "mkt_01JDBNBTCVSDTSP0T000000000"

func main() {
	target := flag.String("target", "127.0.0.1:50051", "host:port of a MarketData service")
	market := flag.String("market", binanceBTCUSDT, "CQC market id")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *target, *market, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, target, marketID string, out io.Writer) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := servicesv1.NewMarketDataClient(conn).StreamOrderBook(ctx,
		&servicesv1.StreamOrderBookRequest{MarketId: marketID, Depth: 5})
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			fmt.Fprintf(out, "stream complete after %d messages\n", n-1)
			return nil
		}
		if err != nil {
			return fmt.Errorf("StreamOrderBook: %w", err)
		}
		book := msg.GetOrderBook()
		kind := "delta"
		if book.GetIsSnapshot() {
			kind = "snapshot"
		}
		fmt.Fprintf(out, "%s %s update %d: %d bids, %d asks, best bid %s, best ask %s\n", book.GetMarketId(), kind,
			book.GetLastUpdateId(), len(book.GetBids()), len(book.GetAsks()), level(book.GetBids()), level(book.GetAsks()))
	}
}

func level(levels []*marketsv1.OrderBookLevel) string {
	if len(levels) == 0 {
		return "-"
	}
	return levels[0].GetSize() + " @ " + levels[0].GetPrice()
}
