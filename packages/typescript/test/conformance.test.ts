// Phase 1 of the cross-language conformance suite in TypeScript: every case of testdata/ (examples, case
// files, golden JSON) gives the expected outcome here, and the results go to .build/conformance/<run>/typescript.json
// for the Python and Go runners to decode in phase 2 (conformance-cross.ts is TypeScript's side of phase 2).
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type CaseRecord, outcome, runCase, writeResults } from "./conformance-engine.js";
import { cases, examples, expectedFailures, LANGUAGES, testdata } from "./corpus.js";

const all = cases();
const xfails = expectedFailures();
const results: Record<string, CaseRecord> = {};
const summary = { passed: 0, failed: 0, xfail: 0, xpass: 0 };
for (const c of all) {
  const record = runCase(c, xfails.get(c.name));
  results[c.name] = record;
  summary[outcome(record)] += 1;
}
writeResults("typescript", { cases: results, summary });

describe("conformance corpus", () => {
  for (const c of all) {
    const record = results[c.name];
    if (record === undefined) continue;
    const result = outcome(record);
    if (result === "xfail") {
      it(c.name, { todo: `expected failure: ${record.expected_failure} (got: ${record.failures.join("; ")})` }, () => {
        assert.fail(record.failures.join("; "));
      });
      continue;
    }
    it(c.name, () => {
      assert.notEqual(result, "xpass", "passes: remove it from expected-failures.json");
      assert.ok(record.ok, record.failures.join("; "));
    });
  }

  it("has a golden file for every example and no stale one", () => {
    const root = join(testdata, "conformance", "golden");
    const goldens = readdirSync(root).flatMap((type) =>
      readdirSync(join(root, type)).map((file) => `${type}/${file.replace(/\.json$/, "")}`),
    );
    assert.deepEqual(goldens.sort(), [...examples().keys()].sort(), "regenerate: nox -s conformance -- golden");
  });

  it("lists expected failures only for real cases and languages", () => {
    const names = new Set(all.map((c) => c.name));
    for (const entry of xfails.values()) {
      assert.ok(names.has(entry.case), `expected-failures.json names unknown case ${entry.case}`);
      assert.ok(entry.languages.length > 0 && entry.languages.every((l) => (LANGUAGES as readonly string[]).includes(l)));
    }
  });
});
