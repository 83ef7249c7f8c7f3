// Command place-order places a limit order with VenueGateway.PlaceOrder, then retries the very same request
// (same request_id), as a client does after a timeout: the gateway answers with the order it already
// created, so the retry never places a second order.
//
//	go run ./place-order -target 127.0.0.1:50051
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	cqc "github.com/crypto-quant/cqc/packages/go"
	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
)

const (
	account        = "acc_01JDBNSP0TMA1N000000000000" // a Binance spot account in the reference data
	binanceBTCUSDT = "mkt_01JDBNBTCVSDTSP0T000000000"
)

func main() {
	target := flag.String("target", "127.0.0.1:50051", "host:port of a VenueGateway")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx, *target, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newRequestID is a random (version 4) UUID: one per logical order, reused by every retry of it.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func run(ctx context.Context, target string, out io.Writer) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	gateway := servicesv1.NewVenueGatewayClient(conn)
	req := &servicesv1.PlaceOrderRequest{
		RequestId: newRequestID(),
		Order: &servicesv1.NewOrder{
			AccountId:   account,
			MarketId:    binanceBTCUSDT,
			Side:        venuesv1.Side_SIDE_BUY,
			OrderType:   venuesv1.OrderType_ORDER_TYPE_LIMIT,
			TimeInForce: venuesv1.TimeInForce_TIME_IN_FORCE_GTC,
			Quantity:    proto.String("0.001"),
			Price:       proto.String("60000.00"),
		},
	}
	if err := cqc.Validate(req); err != nil { // the same rules the server enforces, checked before sending
		return err
	}
	first, err := gateway.PlaceOrder(ctx, req)
	if err != nil {
		return fmt.Errorf("PlaceOrder: %w", err)
	}
	fmt.Fprintf(out, "placed:  order %s status %s (request_id %s)\n", first.GetOrder().GetOrderId(),
		first.GetOrder().GetStatus(), req.GetRequestId())
	retry, err := gateway.PlaceOrder(ctx, req) // e.g. after a timeout: same request_id, same order
	if err != nil {
		return fmt.Errorf("PlaceOrder retry: %w", err)
	}
	fmt.Fprintf(out, "retried: order %s status %s\n", retry.GetOrder().GetOrderId(), retry.GetOrder().GetStatus())
	if retry.GetOrder().GetOrderId() != first.GetOrder().GetOrderId() {
		return fmt.Errorf("the retry created a second order %s", retry.GetOrder().GetOrderId())
	}
	fmt.Fprintln(out, "same order_id: the retry did not place a second order")
	return nil
}
