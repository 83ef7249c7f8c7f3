// Command consumer is CQC's Go consumer smoke test: release-check builds it in a fresh module that
// requires github.com/crypto-quant/cqc/packages/go and replaces it with the package's files, then runs
// go vet and go run. Usage: go run . EXPECTED_VERSION
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	cqc "github.com/crypto-quant/cqc/packages/go"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, "go consumer: FAILED: "+format+"\n", args...)
		os.Exit(1)
	}
}

func roundTrip(msg proto.Message) {
	name := msg.ProtoReflect().Descriptor().FullName()
	wire, err := proto.Marshal(msg)
	check(err == nil, "%s: marshal: %v", name, err)
	fromWire := msg.ProtoReflect().New().Interface()
	check(proto.Unmarshal(wire, fromWire) == nil && proto.Equal(fromWire, msg), "%s: binary round trip", name)
	text, err := protojson.Marshal(msg)
	check(err == nil, "%s: JSON marshal: %v", name, err)
	fromText := msg.ProtoReflect().New().Interface()
	check(protojson.Unmarshal(text, fromText) == nil && proto.Equal(fromText, msg), "%s: JSON round trip", name)
	check(cqc.Validate(msg) == nil, "%s: a valid message failed validation: %v", name, cqc.Validate(msg))
}

func main() {
	check(len(os.Args) == 2, "usage: consumer EXPECTED_VERSION")
	check(cqc.Version == os.Args[1], "cqc.Version %s != %s", cqc.Version, os.Args[1])

	asset := &assetsv1.Asset{
		AssetId:      "ast_01JDVSDC000000000000000000",
		Symbol:       "USDC",
		Name:         "USDC",
		Type:         assetsv1.AssetType_ASSET_TYPE_STABLECOIN,
		Precision:    proto.Uint32(6),
		PegCurrency:  proto.String("USD"),
		TotalSupply:  proto.String("74123456789.123456"),
		SupplySource: assetsv1.DataSource_DATA_SOURCE_ISSUER,
	}
	chain := &assetsv1.Chain{
		ChainId:        "chn_01JDETHEREVM10000000000000",
		Slug:           "ethereum",
		Name:           "Ethereum",
		Caip2:          "eip155:1",
		Family:         assetsv1.ChainFamily_CHAIN_FAMILY_EVM,
		EvmChainId:     proto.Uint64(1),
		NativeDecimals: 18,
		Layer:          assetsv1.ChainLayer_CHAIN_LAYER_L1,
		BlockTime:      durationpb.New(12 * time.Second),
	}
	roundTrip(asset)
	roundTrip(chain)

	bad := proto.Clone(asset).(*assetsv1.Asset)
	bad.TotalSupply = proto.String("1e5") // not in the decimal grammar
	err := cqc.Validate(bad)
	var invalid *cqc.InvalidMessageError
	check(errors.As(err, &invalid), "an invalid Asset validated (err=%v)", err)
	check(invalid.MessageType == "cqc.assets.v1.Asset", "error names the message: %s", invalid.MessageType)
	found := false
	for _, v := range invalid.Violations {
		found = found || (v.Field == "total_supply" && v.RuleID == "cqc.decimal.non_negative")
	}
	check(found, "violation names field and rule: %v", invalid.Violations)
	fmt.Printf("go consumer: OK (cqc %s)\n", cqc.Version)
}
