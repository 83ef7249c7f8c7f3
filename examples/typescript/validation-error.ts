// Reads a rich gRPC error: an invalid request answers INVALID_ARGUMENT with google.rpc.ErrorInfo (reason
// VALIDATION_FAILED) and google.rpc.BadRequest (one violation per broken rule) in the status details.
//   npx tsx validation-error.ts [--target 127.0.0.1:50051]
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema } from "@crypto-quant/cqc/google/rpc";
import { AssetRegistry } from "@crypto-quant/cqc/services/v1";

const { values } = parseArgs({ options: { target: { type: "string", default: "127.0.0.1:50051" } } });

const transport = createGrpcTransport({ baseUrl: `http://${values.target}` });
const registry = createClient(AssetRegistry, transport);

try {
  // "binance" is not a venue id (ids are "<prefix>_<ULID>"): the server rejects it before the handler runs.
  await registry.resolveMarket({ venueId: "binance", venueSymbol: "BTCUSDT" }, { timeoutMs: 5_000 });
  throw new Error("expected INVALID_ARGUMENT, the call succeeded");
} catch (err) {
  if (!(err instanceof ConnectError) || err.code !== Code.InvalidArgument) {
    throw err;
  }
  const [info] = err.findDetails(ErrorInfoSchema);
  console.log(`${Code[err.code]}: ${err.rawMessage}`);
  console.log(`  reason ${info?.reason} (domain ${info?.domain})`);
  for (const badRequest of err.findDetails(BadRequestSchema)) {
    for (const violation of badRequest.fieldViolations) {
      console.log(`  field ${violation.field || "(request)"}: ${violation.description}`);
    }
  }
  if (info?.reason !== "VALIDATION_FAILED") {
    throw new Error(`expected reason VALIDATION_FAILED, got ${info?.reason}`);
  }
}
