// The redaction helpers against the shared cases of testdata/helpers/redaction-cases.json and
// scrub-cases.json (run by Python and Go too), and every output form a service uses to print a message.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { format, inspect } from "node:util";
import { create, equals, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, AnySchema } from "@bufbuild/protobuf/wkt";
import { SourceRecordSchema } from "../src/gen/cqc/types/v1/source_pb.js";
import { VenueAccountSchema } from "../src/gen/cqc/venues/v1/account_pb.js";
import {
  endpointFromRequest,
  REDACTED,
  redact,
  redactingLogger,
  safe,
  scrubEndpoint,
  scrubJson,
  sourceRecord,
  toSafeJson,
  toSafeJsonString,
} from "../src/redaction.js";
import { messageSchema, registry } from "../src/registry.js";
import { violations } from "../src/validation.js";
import { testdata } from "./corpus.js";

interface RedactionCase {
  name: string;
  type: string;
  input: JsonValue;
  expected: JsonValue;
}
interface ScrubCase {
  name: string;
  op: "endpoint" | "json" | "request";
  args: string[];
  result: string;
}

const redaction = JSON.parse(readFileSync(join(testdata, "helpers", "redaction-cases.json"), "utf8")) as {
  marker: string;
  cases: RedactionCase[];
};
const scrub = (
  JSON.parse(readFileSync(join(testdata, "helpers", "scrub-cases.json"), "utf8")) as { cases: ScrubCase[] }
).cases;

const secrets = ["354937868", "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIg", "vault://trading/binance/main"];
const first = redaction.cases[0];
if (first === undefined) {
  throw new Error("no redaction cases");
}
const account = () => fromJson(VenueAccountSchema, first.input, { registry });

function assertSafe(form: string, output: string): void {
  for (const secret of secrets) {
    assert.ok(!output.includes(secret), `${form} leaks ${secret}: ${output}`);
  }
  assert.ok(output.includes(REDACTED), `${form} shows no marker: ${output}`);
}

describe("redaction: shared cases", () => {
  it("uses the shared marker", () => assert.equal(REDACTED, redaction.marker));
  for (const c of redaction.cases) {
    it(c.name, () => {
      const schema = messageSchema(c.type);
      const input = fromJson(schema, c.input, { registry });
      const before = toBinary(schema, input);
      const got = redact(schema, input);
      assert.ok(equals(schema, got, fromJson(schema, c.expected, { registry })), JSON.stringify(toSafeJson(schema, input)));
      assert.deepEqual(toBinary(schema, input), before, "the input was modified");
      assert.deepEqual(toSafeJson(schema, input), c.expected);
    });
  }
});

describe("redaction: output forms", () => {
  it("raw protobuf-es forms leak, so the safe API is required", () => {
    // protobuf-es ignores debug_redact; if this starts failing, upstream began honouring the option.
    assert.ok(inspect(account()).includes(secrets[0] as string));
    assert.ok(format("%o", account()).includes(secrets[0] as string));
  });

  it("safe() hides redacted values in every printing path", () => {
    const wrapped = safe(account());
    const lines: string[] = [];
    const sink = { log: (...args: unknown[]) => lines.push(format(...args)) };
    sink.log(wrapped);
    sink.log("%s", wrapped);
    sink.log("%o", wrapped);
    for (const [form, output] of Object.entries({
      inspect: inspect(wrapped),
      "inspect nested": inspect({ account: wrapped }, { depth: 10 }),
      String: String(wrapped),
      template: `${wrapped}`,
      "JSON.stringify": JSON.stringify({ account: wrapped }),
      "console.log": lines.join("\n"),
      toSafeJsonString: toSafeJsonString(VenueAccountSchema, account(), 2),
    })) {
      assertSafe(form, output);
    }
  });

  it("redactingLogger redacts message arguments of console-like loggers", () => {
    const lines: string[] = [];
    const base = {
      info: (...args: unknown[]) => lines.push(format(...args)),
      error: (...args: unknown[]) => lines.push(format(...args)),
    };
    const log = redactingLogger(base);
    log.info("account", account());
    log.info({ account: account(), n: 1 });
    log.error("list", [account()]);
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assertSafe("logger", line);
    }
  });

  it("drops unknown fields and redacts inside Any", () => {
    const message = account();
    message.$unknown = [{ no: 999, wireType: 2, data: new TextEncoder().encode("\x06secret") }];
    assert.equal(redact(VenueAccountSchema, message).$unknown?.length ?? 0, 0);
    const packed = anyPack(VenueAccountSchema, account());
    const inner = anyUnpack(redact(AnySchema, packed), VenueAccountSchema);
    assert.equal(inner?.externalAccountId, REDACTED);
    const unknown = create(AnySchema, { typeUrl: "type.googleapis.com/example.Unknown", value: new Uint8Array([10, 1, 65]) });
    assert.equal(redact(AnySchema, unknown).value.length, 0);
  });
});

describe("scrubbing: shared cases", () => {
  for (const c of scrub) {
    it(c.name, () => {
      const record = create(SourceRecordSchema, { source: "binance", receiveTime: { seconds: 1733047200n } });
      let got: string;
      if (c.op === "endpoint") {
        got = scrubEndpoint(c.args[0] ?? "");
        record.endpoint = got;
      } else if (c.op === "json") {
        got = scrubJson(c.args[0] ?? "");
        record.rawJson = got;
      } else {
        got = endpointFromRequest(c.args[0] ?? "", c.args[1] ?? "");
        record.endpoint = got;
      }
      assert.equal(got, c.result);
      assert.deepEqual(violations(SourceRecordSchema, record), []);
    });
  }

  it("sourceRecord scrubs and validates", () => {
    const record = sourceRecord({
      source: "binance",
      endpoint: "GET /api/v3/order?symbol=BTCUSDT&signature=c8db5682",
      rawJson: '{"symbol":"BTCUSDT","apiKey":"vmPUZE6mv9SD"}',
    });
    assert.equal(record.endpoint, "GET /api/v3/order?symbol=BTCUSDT");
    assert.equal(record.rawJson, '{"symbol":"BTCUSDT","apiKey":"[REDACTED]"}');
    assert.deepEqual(violations(SourceRecordSchema, record), []);
  });
});
