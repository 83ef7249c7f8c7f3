// server.ts — a minimal Portfolio service built only on @crypto-quant/cqc/kit and the generated code:
// CreatePortfolio, GetPortfolio, ListPortfolios and UpdatePortfolio, in memory (every other Portfolio RPC
// answers UNIMPLEMENTED). gRPC over HTTP/2 without TLS (connect-node also serves Connect and gRPC-Web there).
//
//   node --import tsx server.ts --addr 127.0.0.1:50063     (--port-file FILE: writes the bound port to FILE)
//   cqc-conformance --target 127.0.0.1:50063 --service Portfolio \
//       --rpcs CreatePortfolio,GetPortfolio,ListPortfolios,UpdatePortfolio
import { writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  applyUpdateMask,
  checkCreate,
  checkUpdateMask,
  createValidationInterceptor,
  page,
  PageTokens,
  serviceError,
  stamp,
  without,
} from "@crypto-quant/cqc/kit";
import { type Portfolio as PortfolioMessage, PortfolioSchema } from "@crypto-quant/cqc/portfolio/v1";
import { ListPortfoliosRequestSchema, Portfolio } from "@crypto-quant/cqc/services/v1";

const portfolios = new Map<string, PortfolioMessage>(); // by portfolio_id
const tokens = new PageTokens(); // signs this server's page tokens (random key per process)

function stored(portfolioId: string): PortfolioMessage {
  const found = portfolios.get(portfolioId);
  if (found === undefined) {
    throw serviceError("NOT_FOUND_RESOURCE", `no portfolio ${portfolioId}`, { portfolio_id: portfolioId });
  }
  return found;
}

// The kit's interceptor has validated every request before a handler runs (INVALID_ARGUMENT
// VALIDATION_FAILED with the broken rules), so handlers only implement the service's own rules.
function routes(router: ConnectRouter): void {
  router.service(Portfolio, {
    createPortfolio(req) {
      const incoming = without(PortfolioSchema, req.portfolio!); // create_time, update_time: output only
      // the same portfolio again: the stored one; other content under the id: ALREADY_EXISTS
      const existing = checkCreate(PortfolioSchema, portfolios.get(incoming.portfolioId), incoming, "portfolio_id");
      if (existing !== undefined) {
        return { portfolio: existing };
      }
      stamp(PortfolioSchema, incoming, new Date(), "create_time", "update_time");
      portfolios.set(incoming.portfolioId, incoming);
      return { portfolio: incoming };
    },

    getPortfolio(req) {
      return { portfolio: stored(req.portfolioId) };
    },

    listPortfolios(req) {
      const ordered = [...portfolios.values()].sort((a, b) => (a.portfolioId < b.portfolioId ? -1 : 1));
      const { items, nextPageToken } = page(tokens, "ListPortfolios", ListPortfoliosRequestSchema, req, ordered, (p) => p.portfolioId);
      return { portfolios: items, nextPageToken };
    },

    updatePortfolio(req) {
      const paths = req.updateMask?.paths ?? [];
      checkUpdateMask(PortfolioSchema, paths, ["portfolio_id"]); // a bad path fails even for an unknown id
      const current = stored(req.portfolio!.portfolioId);
      const updated = applyUpdateMask(PortfolioSchema, current, req.portfolio!, paths, "portfolio", ["portfolio_id"]);
      stamp(PortfolioSchema, updated, new Date(), "update_time");
      portfolios.set(updated.portfolioId, updated);
      return { portfolio: updated };
    },
  });
}

const { values } = parseArgs({
  options: { addr: { type: "string", default: "127.0.0.1:50063" }, "port-file": { type: "string" } },
});
const [host, port] = [values.addr.slice(0, values.addr.lastIndexOf(":")), Number(values.addr.split(":").pop())];
const interceptors = [createValidationInterceptor({ trailers: { "x-cqc-server": "typescript-example" } })];
const server = http2.createServer(connectNodeAdapter({ routes, interceptors }));
server.listen(port, host, () => {
  const { address, port: bound } = server.address() as AddressInfo;
  console.log(`Portfolio listening on ${address}:${bound}`);
  if (values["port-file"] !== undefined) writeFileSync(values["port-file"], String(bound));
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
