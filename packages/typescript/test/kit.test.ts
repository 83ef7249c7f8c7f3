// The service kit (@crypto-quant/cqc/kit): errors from the ErrorReason specs and their parser, page tokens,
// page sizes, ids, idempotency and the validation interceptor (over a real connect-node gRPC server).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { PortfolioSchema } from "../src/gen/cqc/portfolio/v1/index.js";
import {
  CreatePortfolioRequestSchema,
  ErrorReason,
  ErrorReasonSchema,
  GetPortfolioRequestSchema,
  ListAllocationsRequestSchema,
  Portfolio,
} from "../src/gen/cqc/services/v1/index.js";
import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/index.js";
import {
  applyUpdateMask,
  checkCreate,
  checkUpdateMask,
  clampPageSize,
  createValidationInterceptor,
  ERROR_DOMAIN,
  IdempotencyStore,
  newEventId,
  newId,
  page,
  PageTokens,
  parseError,
  REQUEST_ID_HEADER,
  reasonSpec,
  serviceError,
  sizeViolations,
  stamp,
  validationError,
  without,
} from "../src/kit/index.js";
import { registry } from "../src/registry.js";
import { violations } from "../src/validation.js";
import { cases } from "./corpus.js";

function rejects(fn: () => unknown, reason: string, code: Code): void {
  assert.throws(fn, (err: unknown) => {
    const e = parseError(err);
    assert.equal(e.code, code);
    assert.equal(e.reason, reason);
    return true;
  });
}

describe("kit errors", () => {
  it("every ErrorReason but UNSPECIFIED has a spec with a gRPC code", () => {
    for (const value of ErrorReasonSchema.values) {
      if (value.number === ErrorReason.UNSPECIFIED) {
        assert.throws(() => reasonSpec(ErrorReason.UNSPECIFIED), TypeError);
        continue;
      }
      const spec = reasonSpec(value.number);
      assert.equal(spec.name, value.name.replace(/^ERROR_REASON_/, ""));
      assert.ok(spec.code > 0 && spec.code <= 16, `${spec.name}: code ${spec.code}`);
    }
    assert.equal(reasonSpec("NOT_FOUND_ASSET").code, Code.NotFound);
    assert.deepEqual(reasonSpec(ErrorReason.REQUEST_ID_REUSED).metadataKeys, ["request_id"]);
    assert.throws(() => reasonSpec("NO_SUCH_REASON" as never), /not a CQC ErrorReason/);
  });

  it("builds ErrorInfo with the spec's code and refuses a metadata key the spec does not list", () => {
    const err = serviceError("NOT_FOUND_ASSET", "asset ast_1 not found", { asset_id: "ast_1" });
    assert.equal(err.code, Code.NotFound);
    const [info] = err.findDetails(ErrorInfoSchema);
    assert.equal(info?.reason, "NOT_FOUND_ASSET");
    assert.equal(info?.domain, ERROR_DOMAIN);
    assert.deepEqual(info?.metadata, { asset_id: "ast_1" });
    assert.throws(
      () => serviceError("NOT_FOUND_ASSET", "x", { market_id: "mkt_1" }),
      (e: unknown) => e instanceof TypeError && /NOT_FOUND_ASSET/.test(e.message) && /"market_id"/.test(e.message),
    );
    assert.throws(() => serviceError("VALIDATION_FAILED", "x", { field: "a" }), /allowed: none/);
    // "*_id": any snake_case key ending in _id
    assert.equal(serviceError("NOT_FOUND_RESOURCE", "x", { portfolio_id: "p" }).code, Code.NotFound);
    assert.equal(serviceError(ErrorReason.NOT_FOUND_RESOURCE, "x", { limit_id: "l" }).code, Code.NotFound);
    for (const bad of ["portfolio", "PortfolioId", "_id", "portfolio_ids"]) {
      assert.throws(() => serviceError("NOT_FOUND_RESOURCE", "x", { [bad]: "p" }), TypeError, bad);
    }
    assert.equal(serviceError("ETAG_MISMATCH", "x", {}).code, Code.Aborted);
  });

  it("parses a validation error: rule ids from reason, or from the description's [suffix]", () => {
    const broken = violations(GetPortfolioRequestSchema, create(GetPortfolioRequestSchema, { portfolioId: "nope" }));
    assert.ok(broken.length > 0);
    const parsed = parseError(validationError(GetPortfolioRequestSchema.typeName, broken));
    assert.equal(parsed.code, Code.InvalidArgument);
    assert.equal(parsed.codeName, "INVALID_ARGUMENT");
    assert.equal(parsed.reason, "VALIDATION_FAILED");
    assert.equal(parsed.domain, ERROR_DOMAIN);
    assert.deepEqual(
      parsed.violations.map((v) => [v.field, v.ruleId]),
      broken.map((v) => [v.field, v.ruleId]),
    );
    assert.equal(parsed.violations[0]?.description, `${broken[0]?.message} [${broken[0]?.ruleId}]`);
    // A server that fills only the description (before 1.0)
    const old = new ConnectError("bad", Code.InvalidArgument, undefined, [
      { desc: BadRequestSchema, value: { fieldViolations: [{ field: "name", description: "too short [string.min_len]" }] } },
    ]);
    assert.deepEqual(parseError(old).violations, [
      { field: "name", ruleId: "string.min_len", description: "too short [string.min_len]" },
    ]);
    const plain = parseError(new Error("boom"));
    assert.equal(plain.code, Code.Unknown);
    assert.equal(plain.reason, "");
    assert.deepEqual(plain.violations, []);
  });
});

describe("kit modules for browsers", () => {
  it("kit/errors.ts and kit/ids.ts import nothing from node: (directly or through the package's modules)", () => {
    const src = join(import.meta.dirname, "..", "src");
    const seen = new Set<string>();
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const [, kind, spec] of text.matchAll(/^import (type )?[^;]*? from "([^"]+)";/gms)) {
        assert.ok(!spec?.startsWith("node:"), `${file} imports ${spec}`);
        if (kind === undefined && spec?.startsWith(".")) walk(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      }
    };
    walk(join(src, "kit", "errors.ts"));
    walk(join(src, "kit", "ids.ts"));
    assert.ok(seen.size >= 4);
  });
});

describe("kit page tokens and sizes", () => {
  const tokens = new PageTokens();

  it("round-trips a position bound to the RPC and the filters", () => {
    const token = tokens.encode("ListPortfolios", { owner: "a" }, "pfl_01");
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(tokens.decode("ListPortfolios", { owner: "a" }, token), "pfl_01");
    assert.equal(tokens.decode("ListPortfolios", { owner: "a" }, ""), "");
    // filters compare by content, not key order
    const two = tokens.encode("ListX", { a: 1, b: ["x"] }, "p");
    assert.equal(tokens.decode("ListX", { b: ["x"], a: 1 }, two), "p");
  });

  it("rejects garbage, tampering, another RPC's, other filters' and another server's tokens", () => {
    const token = tokens.encode("ListPortfolios", {}, "pfl_01");
    const flipped = token.slice(0, 5) + (token[5] === "A" ? "B" : "A") + token.slice(6);
    const bad = [
      "garbage!",
      "abc",
      flipped,
      token.slice(0, -2),
      `${token}AA`,
      Buffer.from('{"r":"ListPortfolios","f":"x","p":"pfl_01"}').toString("base64url"),
    ];
    for (const t of bad) {
      rejects(() => tokens.decode("ListPortfolios", {}, t), "INVALID_PAGE_TOKEN", Code.InvalidArgument);
    }
    rejects(() => tokens.decode("ListAllocations", {}, token), "INVALID_PAGE_TOKEN", Code.InvalidArgument);
    rejects(() => tokens.decode("ListPortfolios", { owner: "b" }, token), "INVALID_PAGE_TOKEN", Code.InvalidArgument);
    rejects(() => new PageTokens().decode("ListPortfolios", {}, token), "INVALID_PAGE_TOKEN", Code.InvalidArgument);
  });

  it("clamps page sizes: 0 → 100, above 1000 → 1000, negative → VALIDATION_FAILED", () => {
    assert.equal(clampPageSize(0), 100);
    assert.equal(clampPageSize(7), 7);
    assert.equal(clampPageSize(1000), 1000);
    assert.equal(clampPageSize(5000), 1000);
    assert.equal(clampPageSize(0, 10, 50), 10);
    assert.equal(clampPageSize(60, 10, 50), 50);
    rejects(() => clampPageSize(-1), "VALIDATION_FAILED", Code.InvalidArgument);
  });
});

describe("kit ids", () => {
  it("newId is <prefix>_<ULID>, valid for id_prefix rules, and sortable", () => {
    const id = newId("pfl");
    assert.match(id, /^pfl_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.deepEqual(violations(GetPortfolioRequestSchema, create(GetPortfolioRequestSchema, { portfolioId: id })), []);
    assert.notEqual(newId("pfl"), id);
    assert.throws(() => newId("PFL"), TypeError);
    assert.throws(() => newId(""), TypeError);
  });

  it("newEventId is a UUIDv7", () => {
    assert.match(newEventId(), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("kit idempotency", () => {
  const request = (name: string) =>
    create(CreatePortfolioRequestSchema, { portfolio: { portfolioId: "pfl_01JDBNVSDMMA1N000000000000", name } });

  it("answers a retry with the first answer, ignoring unknown fields", async () => {
    const store = new IdempotencyStore();
    let calls = 0;
    const first = await store.run("req-1", CreatePortfolioRequestSchema, request("a"), () => ++calls);
    const retry = request("a");
    retry.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
    const second = await store.run("req-1", CreatePortfolioRequestSchema, retry, () => ++calls);
    assert.equal(first, 1);
    assert.equal(second, 1);
    assert.equal(calls, 1);
    assert.equal(await store.run("", CreatePortfolioRequestSchema, request("a"), () => ++calls), 2);
    assert.equal(await store.run("", CreatePortfolioRequestSchema, request("a"), () => ++calls), 3);
  });

  it("refuses the same request id with a different request: REQUEST_ID_REUSED {request_id}", async () => {
    const store = new IdempotencyStore();
    await store.run("req-2", CreatePortfolioRequestSchema, request("a"), () => "ok");
    await assert.rejects(store.run("req-2", CreatePortfolioRequestSchema, request("b"), () => "other"), (err: unknown) => {
      const e = parseError(err);
      assert.equal(e.code, Code.AlreadyExists);
      assert.equal(e.reason, "REQUEST_ID_REUSED");
      assert.deepEqual(e.metadata, { request_id: "req-2" });
      return true;
    });
  });

  it("remembers the first error too", async () => {
    const store = new IdempotencyStore();
    let calls = 0;
    const fail = () => {
      calls++;
      throw serviceError("NOT_FOUND_ACCOUNT", "no account", { account_id: "acc_1" });
    };
    for (let i = 0; i < 2; i++) {
      await assert.rejects(store.run("req-3", CreatePortfolioRequestSchema, request("a"), fail), /no account/);
    }
    assert.equal(calls, 1);
  });
});

describe("kit resources: create, update masks, pages", () => {
  const valid = (id: string, name = "p") =>
    create(PortfolioSchema, {
      portfolioId: id,
      name,
      owner: "desk:a",
      reportingAssetId: "ast_01JDFVSD000000000000000000",
      totalEquity: "0",
      asOfTime: { seconds: 1n },
    });

  it("checkCreate: nothing stored, the same again (output-only ignored), different → ALREADY_EXISTS {id}", () => {
    const id = newId("pfl");
    const first = valid(id);
    assert.equal(checkCreate(PortfolioSchema, undefined, first, "portfolio_id"), undefined);
    const storedOne = valid(id);
    stamp(PortfolioSchema, storedOne, new Date(), "create_time", "update_time");
    assert.ok(storedOne.createTime !== undefined && storedOne.updateTime !== undefined);
    assert.equal(without(PortfolioSchema, storedOne).createTime, undefined);
    assert.deepEqual(checkCreate(PortfolioSchema, storedOne, first, "portfolio_id")?.createTime, storedOne.createTime);
    assert.throws(
      () => checkCreate(PortfolioSchema, storedOne, valid(id, "other"), "portfolio_id"),
      (err: unknown) => {
        const e = parseError(err);
        return e.code === Code.AlreadyExists && e.reason === "ALREADY_EXISTS" && e.metadata.portfolio_id === id;
      },
    );
  });

  it("update masks: only masked fields written; unknown, immutable and output-only paths refused; result validated", () => {
    const current = valid(newId("pfl"));
    const patch = valid(current.portfolioId, "renamed");
    patch.owner = "desk:not-written";
    const updated = applyUpdateMask(PortfolioSchema, current, patch, ["name"], "portfolio", ["portfolio_id"]);
    assert.equal(updated.name, "renamed");
    assert.equal(updated.owner, "desk:a");
    assert.equal(current.name, "p"); // stored is not changed
    assert.throws(
      () => checkUpdateMask(PortfolioSchema, ["name", "no_such_field", "portfolio_id", "create_time"], ["portfolio_id"]),
      (err: unknown) => {
        const e = parseError(err);
        return e.reason === "INVALID_UPDATE_MASK" && e.metadata.paths === "no_such_field,portfolio_id,create_time";
      },
    );
    patch.name = "";
    assert.throws(
      () => applyUpdateMask(PortfolioSchema, current, patch, ["name"], "portfolio"),
      (err: unknown) => {
        const e = parseError(err);
        return e.reason === "VALIDATION_FAILED" && e.violations[0]?.field === "portfolio.name";
      },
    );
  });

  it("page: sorted items page by page with signed, filter-bound tokens", () => {
    const tokens = new PageTokens();
    const items = ["a", "b", "c", "d", "e"];
    const request = (pageSize: number, pageToken: string, portfolioId = "") =>
      create(ListAllocationsRequestSchema, { pageSize, pageToken, portfolioId });
    const seen: string[] = [];
    let token = "";
    do {
      const p = page(tokens, "ListAllocations", ListAllocationsRequestSchema, request(2, token), items, (x) => x);
      seen.push(...p.items);
      token = p.nextPageToken;
    } while (token !== "");
    assert.deepEqual(seen, items);
    const first = page(tokens, "ListAllocations", ListAllocationsRequestSchema, request(2, ""), items, (x) => x);
    assert.equal(page(tokens, "ListAllocations", ListAllocationsRequestSchema, request(0, ""), items, (x) => x).items.length, 5);
    rejects(
      () => page(tokens, "ListAllocations", ListAllocationsRequestSchema, request(2, first.nextPageToken, newId("pfl")), items, (x) => x),
      "INVALID_PAGE_TOKEN",
      Code.InvalidArgument,
    );
    rejects(
      () => page(tokens, "ListPortfolios", ListAllocationsRequestSchema, request(2, first.nextPageToken), items, (x) => x),
      "INVALID_PAGE_TOKEN",
      Code.InvalidArgument,
    );
  });
});

describe("kit size rules", () => {
  const portfolio = (extra: Record<string, unknown>) =>
    create(CreatePortfolioRequestSchema, {
      portfolio: {
        portfolioId: newId("pfl"),
        name: "p",
        owner: "desk:a",
        reportingAssetId: "ast_01JDFVSD000000000000000000",
        totalEquity: "0",
        asOfTime: { seconds: 1n },
        ...extra,
      },
    });

  it("finds what violations() finds for size rules, by length only", () => {
    assert.deepEqual(sizeViolations(CreatePortfolioRequestSchema, portfolio({})), []);
    const long = portfolio({ name: "é".repeat(201), valuationSnapshotId: "x".repeat(129) });
    const sized = sizeViolations(CreatePortfolioRequestSchema, long);
    assert.deepEqual(
      sized.map((v) => [v.field, v.ruleId]),
      [
        ["portfolio.name", "string.max_len"],
        ["portfolio.valuation_snapshot_id", "string.max_len"],
      ],
    );
    const all = violations(CreatePortfolioRequestSchema, long).map((v) => [v.field, v.ruleId]);
    for (const v of sized) assert.ok(all.some(([f, r]) => f === v.field && r === v.ruleId), `${v.field} ${v.ruleId}`);
  });

  it("agrees with the conformance corpus: every size violation is expected, and a case with one finds one", () => {
    const sizeRules = new Set(["repeated.max_items", "map.max_pairs", "string.max_len", "string.max_bytes", "bytes.max_len"]);
    let checked = 0;
    for (const c of cases()) {
      if (c.value === undefined || c.parseError || c.problem !== undefined) continue;
      const schema = registry.getMessage(c.type);
      if (schema === undefined) continue;
      let message;
      try {
        message = fromJson(schema, c.value as JsonValue, { registry });
      } catch {
        continue; // the corpus's own decode checks cover these
      }
      const sized = sizeViolations(schema, message).map((v) => `${v.field} ${v.ruleId}`);
      for (const v of sized) assert.ok(c.violations.includes(v), `${c.name}: ${v} not expected (${c.violations.join("; ")})`);
      const expectsSize = c.violations.some((v) => sizeRules.has(v.split(" ").at(-1) ?? ""));
      assert.equal(sized.length > 0, expectsSize, `${c.name}: size violations ${JSON.stringify(sized)}`);
      checked++;
    }
    assert.ok(checked > 500, `${checked} corpus cases checked`);
  });

  it("does not look inside a list over its max_items (1000 account ids, every one malformed)", () => {
    const ids = Array.from({ length: 1001 }, () => "bad");
    const sized = sizeViolations(CreatePortfolioRequestSchema, portfolio({ accountIds: ids }));
    assert.deepEqual(sized, [
      { field: "portfolio.account_ids", ruleId: "repeated.max_items", message: "must contain no more than 1000 item(s)" },
    ]);
  });
});

describe("kit validation interceptor (connect-node, gRPC over HTTP/2)", () => {
  let server: http2.Http2Server;
  let client: ReturnType<typeof createClient<typeof Portfolio>>;
  let handled = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  const internal: string[] = [];

  before(async () => {
    const routes = (router: ConnectRouter) =>
      router.service(Portfolio, {
        getPortfolio(req) {
          handled++;
          if (req.portfolioId.endsWith("0")) {
            throw serviceError("NOT_FOUND_RESOURCE", `portfolio ${req.portfolioId} not found`, {
              portfolio_id: req.portfolioId,
            });
          }
          return { portfolio: create(PortfolioSchema, { portfolioId: req.portfolioId, name: "p" }) };
        },
        getAllocation() {
          throw new Error("secret database detail");
        },
        async *streamPositions() {
          handled++;
          yield { isSnapshot: true, snapshotComplete: true };
        },
      });
    const interceptor = createValidationInterceptor({
      trailers: { "x-cqc-server": "kit-test" },
      onInternalError: (_error, id) => internal.push(id),
    });
    server = http2.createServer(connectNodeAdapter({ routes, interceptors: [interceptor] }));
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = createClient(Portfolio, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  });

  after(async () => {
    for (const session of sessions) session.destroy(); // the client keeps its HTTP/2 session open
    await new Promise((resolve) => server.close(resolve));
  });

  it("answers an invalid unary request with VALIDATION_FAILED and the rule ids, before the handler", async () => {
    handled = 0;
    await assert.rejects(client.getPortfolio({ portfolioId: "nope" }), (err: unknown) => {
      const e = parseError(err);
      assert.equal(e.code, Code.InvalidArgument);
      assert.equal(e.reason, "VALIDATION_FAILED");
      assert.equal(e.domain, ERROR_DOMAIN);
      assert.deepEqual(
        e.violations.map((v) => v.field),
        ["portfolio_id"],
      );
      assert.ok(e.violations[0]?.ruleId !== "");
      return true;
    });
    assert.equal(handled, 0);
  });

  it("answers an oversized request with its size violations only", async () => {
    handled = 0;
    const accountIds = Array.from({ length: 101 }, () => "bad");
    const read = async () => {
      for await (const _ of client.streamPositions({ accountIds })) {
        /* drain */
      }
    };
    await assert.rejects(read(), (err: unknown) => {
      const e = parseError(err);
      assert.deepEqual(
        e.violations.map((v) => [v.field, v.ruleId]),
        [["account_ids", "repeated.max_items"]],
      );
      return true;
    });
    assert.equal(handled, 0);
  });

  it("validates streaming requests too", async () => {
    handled = 0;
    const read = async () => {
      for await (const _ of client.streamPositions({ accountIds: ["bad"] })) {
        /* drain */
      }
    };
    await assert.rejects(read(), (err: unknown) => parseError(err).reason === "VALIDATION_FAILED");
    assert.equal(handled, 0);
  });

  it("passes valid requests, echoes x-cqc-request-id, and carries handler errors as they are", async () => {
    const id = newId("pfl").replace(/.$/, "1");
    let echoed: string | null = null;
    let server: string | null = null;
    const ok = await client.getPortfolio(
      { portfolioId: id },
      {
        headers: { [REQUEST_ID_HEADER]: "req-42" },
        onHeader: (h) => (echoed = h.get(REQUEST_ID_HEADER)),
        onTrailer: (t) => (server = t.get("x-cqc-server")),
      },
    );
    assert.equal(ok.portfolio?.portfolioId, id);
    assert.equal(echoed, "req-42");
    assert.equal(server, "kit-test");
    const missing = id.replace(/.$/, "0");
    await assert.rejects(client.getPortfolio({ portfolioId: missing }), (err: unknown) => {
      const e = parseError(err);
      assert.equal(e.code, Code.NotFound);
      assert.equal(e.reason, "NOT_FOUND_RESOURCE");
      assert.deepEqual(e.metadata, { portfolio_id: missing });
      return true;
    });
  });

  it("answers an unexpected error with INTERNAL and a correlation id, not the error's text", async () => {
    await assert.rejects(client.getAllocation({ allocationId: newId("alc") }), (err: unknown) => {
      const e = parseError(err);
      assert.equal(e.code, Code.Internal);
      assert.doesNotMatch(e.message, /secret/);
      assert.equal(e.message, `internal error (correlation_id=${internal[0]})`);
      assert.match(internal[0] ?? "", /^[0-9a-f]{32}$/);
      return true;
    });
  });
});
