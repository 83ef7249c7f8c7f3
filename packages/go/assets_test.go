package cqc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crypto-quant/cqc/packages/go"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func usdc() *assetsv1.Asset {
	return &assetsv1.Asset{
		AssetId:      "ast_01JDVSDC000000000000000000",
		Symbol:       "USDC",
		Name:         "USDC",
		Type:         assetsv1.AssetType_ASSET_TYPE_STABLECOIN,
		Precision:    proto.Uint32(6),
		PegCurrency:  proto.String("USD"),
		TotalSupply:  proto.String("74123456789.123456"),
		SupplySource: assetsv1.DataSource_DATA_SOURCE_COINGECKO,
	}
}

func TestAssetRoundTrip(t *testing.T) {
	asset := usdc()
	wire, err := proto.Marshal(asset)
	if err != nil {
		t.Fatal(err)
	}
	decoded := &assetsv1.Asset{}
	if err := proto.Unmarshal(wire, decoded); err != nil || !proto.Equal(decoded, asset) {
		t.Fatalf("binary round trip: %v", err)
	}
	asJSON, err := protojson.Marshal(asset)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(asJSON), `"ASSET_TYPE_STABLECOIN"`) || !strings.Contains(string(asJSON), `"74123456789.123456"`) {
		t.Fatalf("unexpected JSON %s", asJSON)
	}
	fromJSON := &assetsv1.Asset{}
	if err := protojson.Unmarshal(asJSON, fromJSON); err != nil || !proto.Equal(fromJSON, asset) {
		t.Fatalf("JSON round trip: %v", err)
	}
}

func TestValidAssetPasses(t *testing.T) {
	if err := cqc.Validate(usdc()); err != nil {
		t.Fatalf("expected valid, got %v", err)
	}
}

func TestInvalidDecimalNamesFieldAndRule(t *testing.T) {
	asset := usdc()
	asset.TotalSupply = proto.String("1e5")
	err := cqc.Validate(asset)
	var invalid *cqc.InvalidMessageError
	if !errors.As(err, &invalid) {
		t.Fatalf("expected InvalidMessageError, got %v", err)
	}
	if len(invalid.Violations) != 1 || invalid.Violations[0].Field != "total_supply" ||
		invalid.Violations[0].RuleID != "cqc.decimal.non_negative" {
		t.Fatalf("unexpected violations %v", invalid.Violations)
	}
	if !strings.Contains(err.Error(), "total_supply") || !strings.Contains(err.Error(), "cqc.decimal.non_negative") {
		t.Fatalf("error text does not name field and rule: %s", err)
	}
}

func TestChainCrossFieldRule(t *testing.T) {
	chain := &assetsv1.Chain{
		ChainId:    "chn_01JDETHEREVM10000000000000",
		Slug:       "ethereum",
		Name:       "Ethereum",
		Caip2:      "eip155:10",
		Family:     assetsv1.ChainFamily_CHAIN_FAMILY_EVM,
		EvmChainId: proto.Uint64(1),
	}
	found, err := cqc.Violations(chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].RuleID != "chain.evm_chain_id_matches_caip2" {
		t.Fatalf("unexpected violations %v", found)
	}
	chain.Caip2 = "eip155:1"
	if err := cqc.Validate(chain); err != nil {
		t.Fatalf("expected valid after fix: %v", err)
	}
}
