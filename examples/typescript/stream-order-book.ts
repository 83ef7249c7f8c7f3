// Follows a market's order book: one snapshot, then deltas, from the server-streaming MarketData RPC.
//   npx tsx stream-order-book.ts [--target 127.0.0.1:50051] [--market-id ID]
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MarketData } from "@crypto-quant/cqc/services/v1";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "127.0.0.1:50051" },
    "market-id": { type: "string", default: "mkt_01JDBNBTCVSDTSP0T000000000" },
  },
});

const transport = createGrpcTransport({ baseUrl: `http://${values.target}` });
const marketData = createClient(MarketData, transport);

let received = 0;
// The reference server sends the seeded snapshot and deltas, then ends the stream; a live server keeps it
// open, so a real consumer would pass an AbortSignal (`signal`) to stop.
for await (const { orderBook } of marketData.streamOrderBook({ marketId: values["market-id"] }, { timeoutMs: 10_000 })) {
  if (orderBook === undefined) continue;
  received++;
  const best = (side: typeof orderBook.bids) => (side[0] === undefined ? "-" : `${side[0].size} @ ${side[0].price}`);
  console.log(
    `${orderBook.isSnapshot ? "snapshot" : "delta   "} update ${orderBook.lastUpdateId ?? "?"}: ` +
      `${orderBook.bids.length} bids (best ${best(orderBook.bids)}), ${orderBook.asks.length} asks (best ${best(orderBook.asks)})`,
  );
}
if (received === 0) {
  throw new Error(`no order book messages for ${values["market-id"]}`);
}
console.log(`${received} messages, stream completed`);
