// Runs the language-neutral corpus (testdata/) against the TypeScript package: decode, validate, round-trip.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { messageSchema, registry } from "../src/registry.js";
import { violations } from "../src/validation.js";
import { cases } from "./corpus.js";

const all = cases();

describe("conformance corpus", () => {
  it("is not empty", () => {
    assert.ok(all.filter((c) => c.valid).length >= 5);
    assert.ok(all.filter((c) => !c.valid).length >= 20);
  });
  for (const c of all) {
    it(c.name, () => {
      const schema = messageSchema(c.type);
      const message = fromJson(schema, c.value, { registry });
      const found = violations(schema, message).map((v) => `${v.field} ${v.ruleId}`).sort();
      assert.deepEqual(found, c.violations);
      const fromWire = fromBinary(schema, toBinary(schema, message));
      assert.ok(equals(schema, fromWire, message), "binary round trip changed the message");
      const fromCanonicalJson = fromJson(schema, toJson(schema, message, { registry }), { registry });
      assert.ok(equals(schema, fromCanonicalJson, message), "JSON round trip changed the message");
    });
  }
});
