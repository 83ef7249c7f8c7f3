// Phase 2 of the conformance suite in TypeScript: decode what Python and Go encoded for every case (binary
// and canonical JSON, from .build/conformance/<run>/<language>.json) and compare with TypeScript's own decoding
// of the case, as protobuf values (binary: unknown fields included). Verdicts and canonical JSON values
// must agree too. Run by `nox -s conformance` after phase 1 in all three languages:
// `node --import tsx --test test/conformance-cross.ts` (not a *.test.ts file: `npm test` skips it).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { type DescMessage, fromBinary, fromJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import { registry } from "../src/registry.js";
import { type CaseRecord, decode, resultsDir, runId, same, withoutUnknown, writeResults } from "./conformance-engine.js";
import { cases, expectedFailures } from "./corpus.js";

const OTHERS = ["python", "go"] as const;

/** A language's phase-1 results, or undefined when missing or from another run (the report says which). */
function load(language: string): Record<string, CaseRecord> | undefined {
  const path = join(resultsDir, `${language}.json`);
  if (!existsSync(path)) return undefined;
  const doc = JSON.parse(readFileSync(path, "utf8")) as { run: string; cases: Record<string, CaseRecord> };
  return doc.run === runId() ? doc.cases : undefined;
}

function compare(schema: DescMessage | undefined, own: Message | undefined, mine: CaseRecord, theirs: CaseRecord | undefined): string[] {
  if (theirs === undefined) return ["no result for this case"];
  const problems: string[] = [];
  if (mine.verdict !== theirs.verdict || !isDeepStrictEqual(mine.violations, theirs.violations)) {
    problems.push(`verdict ${theirs.verdict} ${JSON.stringify(theirs.violations)} != ours ${mine.verdict} ${JSON.stringify(mine.violations)}`);
  }
  if (schema === undefined || own === undefined || theirs.binary === undefined) return problems;
  try {
    if (!same(schema, fromBinary(schema, new Uint8Array(Buffer.from(theirs.binary, "base64"))), own)) {
      problems.push("their binary decodes to a different message");
    }
  } catch (error) {
    problems.push(`their binary does not decode: ${String(error)}`);
  }
  const theirJson = theirs.json ?? null;
  const myJson = mine.json ?? null;
  if ((theirJson === null) !== (myJson === null)) {
    problems.push("one language encodes canonical JSON, the other refuses");
  } else if (theirJson !== null) {
    try {
      if (!same(schema, fromJson(schema, theirJson as JsonValue, { registry }), withoutUnknown(schema, own))) {
        problems.push("their canonical JSON decodes to a different message");
      }
    } catch (error) {
      problems.push(`their canonical JSON does not decode: ${String(error)}`);
    }
    if (!isDeepStrictEqual(theirJson, myJson)) {
      problems.push(`canonical JSON differs: ${JSON.stringify(theirJson).slice(0, 200)}`);
    }
  }
  return problems;
}

interface CrossEntry {
  checked: number;
  agreed: number;
  mismatches: Record<string, string[]>;
  xfail: Record<string, string[]>;
}

function cross(): Record<string, CrossEntry> {
  const mine = load("typescript");
  if (mine === undefined) throw new Error("typescript's phase-1 results are missing or stale");
  const xfails = expectedFailures();
  const report: Record<string, CrossEntry> = {};
  const all = cases();
  for (const other of OTHERS) {
    const entry: CrossEntry = { checked: 0, agreed: 0, mismatches: {}, xfail: {} };
    const theirs = load(other);
    if (theirs === undefined) {
      entry.mismatches["*"] = [`${other}'s phase-1 results are missing or stale`];
      report[other] = entry;
      continue;
    }
    for (const c of all) {
      const record = mine[c.name];
      if (record === undefined) continue;
      entry.checked += 1;
      let own: Message | undefined;
      try {
        own = decode(c);
      } catch {
        own = undefined;
      }
      const problems = compare(registry.getMessage(c.type), own, record, theirs[c.name]);
      const known = xfails.get(c.name);
      if (problems.length === 0) {
        entry.agreed += 1;
      } else if (known !== undefined && (known.languages.includes("typescript") || known.languages.includes(other))) {
        entry.xfail[c.name] = problems;
      } else {
        entry.mismatches[c.name] = problems;
      }
    }
    report[other] = entry;
  }
  writeResults("typescript-cross", { against: report });
  return report;
}

describe("cross-language decoding", () => {
  const report = cross();
  for (const other of OTHERS) {
    it(`decodes what ${other} encoded`, () => {
      const mismatches = Object.entries(report[other]?.mismatches ?? {});
      assert.deepEqual(mismatches.map(([name, p]) => `${name}: ${p.join("; ")}`), []);
    });
  }
});
