// Resolves a venue's symbol to the CQC market it trades, with a typed AssetRegistry client.
//   npx tsx resolve-market.ts [--target 127.0.0.1:50051] [--venue-id ID] [--symbol SYMBOL]
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AssetRegistry } from "@crypto-quant/cqc/services/v1";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "127.0.0.1:50051" },
    "venue-id": { type: "string", default: "ven_01JDB1NANCE000000000000000" },
    symbol: { type: "string", default: "BTCUSDT" },
  },
});

// gRPC over HTTP/2 without TLS (http://); use https:// for a TLS endpoint.
const transport = createGrpcTransport({ baseUrl: `http://${values.target}` });
const registry = createClient(AssetRegistry, transport);

const { market } = await registry.resolveMarket(
  { venueId: values["venue-id"], venueSymbol: values.symbol },
  { timeoutMs: 5_000 },
);
if (market === undefined) {
  throw new Error("ResolveMarket answered OK without a market");
}
console.log(`${values["venue-id"]} ${values.symbol} -> ${market.marketId} (instrument ${market.instrumentId})`);
