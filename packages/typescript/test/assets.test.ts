// Builds assets/v1 messages in code, round-trips them, and shows validation naming field and rule.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { AssetSchema, AssetType, ChainFamily, ChainSchema, DataSource } from "../src/gen/cqc/assets/v1/index.js";
import { messageNames } from "../src/registry.js";
import { InvalidMessageError, validate, violations } from "../src/validation.js";

function usdc() {
  return create(AssetSchema, {
    assetId: "ast_01JDVSDC000000000000000000",
    symbol: "USDC",
    name: "USDC",
    type: AssetType.STABLECOIN,
    precision: 6,
    pegCurrency: "USD",
    totalSupply: "74123456789.123456",
    supplySource: DataSource.COINGECKO,
  });
}

describe("assets/v1", () => {
  it("round-trips through binary and canonical JSON", () => {
    const asset = usdc();
    assert.ok(equals(AssetSchema, fromBinary(AssetSchema, toBinary(AssetSchema, asset)), asset));
    const json = toJson(AssetSchema, asset) as Record<string, unknown>;
    assert.equal(json["type"], "ASSET_TYPE_STABLECOIN");
    assert.equal(json["totalSupply"], "74123456789.123456");
    assert.ok(equals(AssetSchema, fromJson(AssetSchema, json as never), asset));
  });

  it("keeps unset optional decimals distinct from zero", () => {
    const asset = usdc();
    assert.equal(asset.maxSupply, undefined);
    asset.maxSupply = "0";
    assert.equal(toJson(AssetSchema, asset) !== null, true);
    assert.equal((toJson(AssetSchema, asset) as Record<string, unknown>)["maxSupply"], "0");
  });

  it("accepts a valid message", () => {
    validate(AssetSchema, usdc());
    assert.deepEqual(violations(AssetSchema, usdc()), []);
  });

  it("rejects a bad decimal naming the field and the rule", () => {
    const asset = usdc();
    asset.totalSupply = "1e5";
    assert.throws(
      () => validate(AssetSchema, asset),
      (error: unknown) => {
        assert.ok(error instanceof InvalidMessageError);
        assert.deepEqual(
          error.violations.map((v) => [v.field, v.ruleId]),
          [["total_supply", "cqc.decimal.non_negative"]],
        );
        assert.match(error.message, /total_supply.*cqc\.decimal\.non_negative/);
        return true;
      },
    );
  });

  it("enforces the EVM chain id / CAIP-2 cross-field rule", () => {
    const chain = create(ChainSchema, {
      chainId: "chn_01JDETHEREVM10000000000000",
      slug: "ethereum",
      name: "Ethereum",
      caip2: "eip155:10",
      family: ChainFamily.EVM,
      evmChainId: 1n,
    });
    assert.deepEqual(
      violations(ChainSchema, chain).map((v) => v.ruleId),
      ["chain.evm_chain_id_matches_caip2"],
    );
    chain.caip2 = "eip155:1";
    assert.deepEqual(violations(ChainSchema, chain), []);
  });

  it("lists every message of the contract", () => {
    const names = messageNames();
    assert.ok(names.includes("cqc.assets.v1.Asset"));
    assert.ok(names.includes("cqc.assets.v1.Chain"));
  });
});
