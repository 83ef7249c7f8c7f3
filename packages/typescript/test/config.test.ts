// Service configuration files: loadConfig (@crypto-quant/cqc/config) on the shared cases
// (testdata/helpers/config-cases.json, also run by Python and Go), and every example configuration
// (examples/config/*.yaml) against its generated JSON Schema with a standard validator (ajv, draft 2020-12).
import { type DescMessage, fromJson, type JsonValue, equals } from "@bufbuild/protobuf";
import { Ajv2020 } from "ajv/dist/2020.js";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { ConfigError, loadConfig } from "../src/config.js";
import { messageSchema, registry } from "../src/registry.js";

const root = join(import.meta.dirname, "..", "..", "..");

interface ConfigCase {
  name: string;
  type: string;
  file?: string;
  format?: string;
  content?: string;
  expect: { message?: JsonValue; error?: { field?: string; rule: string } };
}

const cases = (JSON.parse(readFileSync(join(root, "testdata", "helpers", "config-cases.json"), "utf8")) as {
  cases: ConfigCase[];
}).cases;
const scratch = mkdtempSync(join(tmpdir(), "cqc-config-"));

for (const c of cases) {
  test(`config case ${c.name}`, async () => {
    const schema: DescMessage = messageSchema(c.type);
    let path = c.file === undefined ? "" : join(root, c.file);
    if (c.file === undefined) {
      path = join(scratch, `${c.name.replace(/[^A-Za-z0-9]+/g, "_")}.${c.format}`);
      writeFileSync(path, c.content ?? "");
    }
    if (c.expect.error === undefined) {
      const loaded = await loadConfig(path, schema);
      assert.ok(equals(schema, loaded, fromJson(schema, c.expect.message ?? {}, { registry })));
      return;
    }
    const expected = c.expect.error;
    await assert.rejects(loadConfig(path, schema), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.rule, expected.rule, error.message);
      if (expected.field !== undefined) {
        assert.equal(error.field, expected.field, error.message);
      }
      assert.equal(error.file, path);
      return true;
    });
  });
}

test("example configurations match their JSON Schemas (ajv)", () => {
  const schemas = join(root, "schemas", "jsonschema");
  // Formats ("date-time", "uri"...) are annotations here; protovalidate checks values in the loaders.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  for (const name of readdirSync(schemas)) {
    if (name.startsWith("cqc.config.v1.") || name.startsWith("google.protobuf.")) {
      ajv.addSchema(JSON.parse(readFileSync(join(schemas, name), "utf8")) as object);
    }
  }
  const configs = readdirSync(join(root, "examples", "config")).filter((n) => n.endsWith(".yaml"));
  assert.equal(configs.length, 5);
  for (const config of configs) {
    const text = readFileSync(join(root, "examples", "config", config), "utf8");
    const type = /message (cqc\.config\.v1\.\w+)/.exec(text)?.[1];
    assert.ok(type, `${config}: the header comment names no cqc.config.v1 message`);
    const validate = ajv.getSchema(`${type}.jsonschema.json`);
    assert.ok(validate, `${config}: no schema for ${type}`);
    const value: unknown = parse(text);
    assert.ok(validate(value), `${config}: ${JSON.stringify(validate.errors)}`);
    assert.ok(!validate({ ...(value as object), no_such_field: true }), `${config}: an unknown key was accepted`);
  }
});
