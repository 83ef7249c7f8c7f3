// Command resolve-market resolves Binance's "BTCUSDT" to its CQC market with AssetRegistry.ResolveMarket
// and prints the market's tick size and lot size.
//
//	go run ./resolve-market -target 127.0.0.1:50051
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
)

// binance is the CQC venue id of Binance (spot) in the reference data.
const binance = "ven_01JDB1NANCE000000000000000"

func main() {
	target := flag.String("target", "127.0.0.1:50051", "host:port of an AssetRegistry")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx, *target, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, target string, out io.Writer) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	registry := servicesv1.NewAssetRegistryClient(conn)
	resp, err := registry.ResolveMarket(ctx, &servicesv1.ResolveMarketRequest{VenueId: binance, VenueSymbol: "BTCUSDT"})
	if err != nil {
		return fmt.Errorf("ResolveMarket: %w", err)
	}
	m := resp.GetMarket()
	fmt.Fprintf(out, "market:    %s (%s on %s)\n", m.GetMarketId(), m.GetVenueSymbol(), m.GetVenueId())
	fmt.Fprintf(out, "tick size: %s\n", m.GetTickSize())
	fmt.Fprintf(out, "lot size:  %s\n", m.GetLotSize())
	return nil
}
