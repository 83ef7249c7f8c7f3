// REST with fetch only (no generated code): resolve Binance's "BTCUSDT" over AssetRegistry's REST mapping
// (GET /v1/markets:resolve), then show the error model (a google.rpc.Status JSON body) on a malformed id.
//
//   CQC_REST_URL=http://127.0.0.1:8080 npx tsx rest/rest-example.ts

const BINANCE = "ven_01JDB1NANCE000000000000000";
const base = (process.env.CQC_REST_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");

interface RpcStatus {
  code: number;
  message: string;
  details?: Array<{ "@type": string; reason?: string }>;
}

async function get(path: string, query?: Record<string, string>): Promise<[number, any]> {
  const url = base + path + (query ? "?" + new URLSearchParams(query).toString() : "");
  const response = await fetch(url, { headers: { Accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
  return [response.status, await response.json()];
}

async function main(): Promise<void> {
  // Canonical proto JSON: lowerCamelCase names, decimals as strings, enums by name.
  const [status, body] = await get("/v1/markets:resolve", { venueId: BINANCE, venueSymbol: "BTCUSDT" });
  if (status !== 200) throw new Error(`resolve failed: HTTP ${status} ${JSON.stringify(body)}`);
  const market = body.market;
  console.log(`market_id: ${market.marketId}  tick_size: ${market.tickSize}  lot_size: ${market.lotSize}`);

  // Errors: HTTP status from the gRPC code, body {"code", "message", "details": [ErrorInfo, BadRequest]}.
  const [errorStatus, error] = (await get("/v1/assets/not-an-id")) as [number, RpcStatus];
  const info = error.details?.find((d) => d["@type"].endsWith("google.rpc.ErrorInfo"));
  if (errorStatus !== 400 || error.code !== 3) throw new Error(`expected INVALID_ARGUMENT: ${JSON.stringify(error)}`);
  console.log(`malformed id: HTTP ${errorStatus}, code ${error.code} (INVALID_ARGUMENT), reason ${info?.reason}`);
}

await main();
