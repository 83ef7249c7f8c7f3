// Command validation-error sends an invalid order (a LIMIT order without a price, a malformed request_id)
// and prints what the server answers: INVALID_ARGUMENT with a google.rpc.ErrorInfo reason and a
// google.rpc.BadRequest listing each broken rule.
//
//	go run ./validation-error -target 127.0.0.1:50051
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	servicesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/services/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
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

func run(ctx context.Context, target string, out io.Writer) error {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = servicesv1.NewVenueGatewayClient(conn).PlaceOrder(ctx, &servicesv1.PlaceOrderRequest{
		RequestId: "retry-1", // not a UUID
		Order: &servicesv1.NewOrder{
			AccountId: "acc_01JDBNSP0TMA1N000000000000",
			MarketId:  "mkt_01JDBNBTCVSDTSP0T000000000",
			Side:      venuesv1.Side_SIDE_BUY,
			OrderType: venuesv1.OrderType_ORDER_TYPE_LIMIT, // a LIMIT order needs a price
			Quantity:  proto.String("0.001"),
		},
	})
	if err == nil {
		return fmt.Errorf("the invalid order was accepted")
	}
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		return fmt.Errorf("PlaceOrder: %w", err)
	}
	fmt.Fprintf(out, "code: %s\n", st.Code())
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			fmt.Fprintf(out, "reason: %s (domain %s)\n", d.GetReason(), d.GetDomain())
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				field := v.GetField()
				if field == "" {
					field = "(request)"
				}
				fmt.Fprintf(out, "violation: %s: %s\n", field, v.GetDescription())
			}
		}
	}
	return nil
}
