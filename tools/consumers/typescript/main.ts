// CQC consumer smoke test (TypeScript): compiled with tsc --strict and run against the installed tarball.
// Usage: node build/main.js EXPECTED_VERSION
import { clone, create, equals, fromBinary, fromJson, toBinary, toJson, type DescMessage } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { AssetSchema, AssetType, ChainFamily, ChainLayer, ChainSchema, DataSource } from "@crypto-quant/cqc/assets/v1";
import { InvalidMessageError, validate, violations } from "@crypto-quant/cqc/validation";
import { createRequire } from "node:module";

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`typescript consumer: FAILED: ${what}`);
  }
}

const expectedVersion = process.argv[2];
const require = createRequire(import.meta.url);
const manifestPath = require.resolve("@crypto-quant/cqc/package.json");
const manifest = require(manifestPath) as { version: string };
check(manifestPath.includes("/node_modules/@crypto-quant/cqc/"), `resolved from ${manifestPath}`);
check(manifest.version === expectedVersion, `package version ${manifest.version} != ${String(expectedVersion)}`);

const asset = create(AssetSchema, {
  assetId: "ast_01JDVSDC000000000000000000",
  symbol: "USDC",
  name: "USDC",
  type: AssetType.STABLECOIN,
  precision: 6,
  pegCurrency: "USD",
  totalSupply: "74123456789.123456",
  supplySource: DataSource.ISSUER,
});
const chain = create(ChainSchema, {
  chainId: "chn_01JDETHEREVM10000000000000",
  slug: "ethereum",
  name: "Ethereum",
  caip2: "eip155:1",
  family: ChainFamily.EVM,
  evmChainId: 1n,
  nativeDecimals: 18,
  layer: ChainLayer.L1,
  blockTime: durationFromMs(12_000),
});

function roundTrip<Desc extends DescMessage>(schema: Desc, message: Parameters<typeof toBinary<Desc>>[1]): void {
  const fromWire = fromBinary(schema, toBinary(schema, message));
  check(equals(schema, fromWire, message), `${schema.typeName}: binary round trip`);
  const fromText = fromJson(schema, JSON.parse(JSON.stringify(toJson(schema, message))));
  check(equals(schema, fromText, message), `${schema.typeName}: JSON round trip`);
  validate(schema, message); // valid: must not throw
}
roundTrip(AssetSchema, asset);
roundTrip(ChainSchema, chain);
check((toJson(AssetSchema, asset) as { type?: string }).type === "ASSET_TYPE_STABLECOIN", "enum is a name in JSON");

const bad = clone(AssetSchema, asset);
bad.totalSupply = "1e5"; // not in the decimal grammar
try {
  validate(AssetSchema, bad);
  throw new Error("typescript consumer: FAILED: an invalid Asset validated");
} catch (error) {
  check(error instanceof InvalidMessageError, `expected InvalidMessageError, got ${String(error)}`);
  const found = error.violations.map((v) => `${v.field} ${v.ruleId}`);
  check(found.includes("total_supply cqc.decimal.non_negative"), `violation names field and rule: ${found.join(", ")}`);
  check(error.messageType === "cqc.assets.v1.Asset", `error names the message: ${error.messageType}`);
}
check(violations(AssetSchema, asset).length === 0, "violations() of a valid message is empty");
console.log(`typescript consumer: OK (@crypto-quant/cqc ${manifest.version} from ${manifestPath})`);
