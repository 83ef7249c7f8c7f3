// The decimal helpers against the shared cases of testdata/helpers/decimal-cases.json (run by Python and Go
// too), plus a few checks of the TypeScript surface.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type Decimal,
  formatDecimal,
  InvalidDecimalError,
  isMultiple,
  parseDecimal,
  type RoundingMode,
  roundToIncrement,
} from "../src/decimal.js";
import { testdata } from "./corpus.js";

interface DecimalCase {
  name: string;
  op: "parse" | "format" | "is_multiple" | "round_to_increment";
  args: string[];
  result?: string | boolean;
  error?: boolean;
}

const cases = (
  JSON.parse(readFileSync(join(testdata, "helpers", "decimal-cases.json"), "utf8")) as { cases: DecimalCase[] }
).cases;

function arg(c: DecimalCase, index: number): string {
  const value = c.args[index];
  if (value === undefined) throw new Error(`${c.name}: missing argument ${index}`);
  return value;
}

function run(c: DecimalCase): string | boolean {
  switch (c.op) {
    case "parse":
      return formatDecimal(parseDecimal(arg(c, 0)));
    case "format": {
      const value: Decimal = { coefficient: BigInt(arg(c, 0)), exponent: Number.parseInt(arg(c, 1), 10) };
      return formatDecimal(value);
    }
    case "is_multiple":
      return isMultiple(arg(c, 0), arg(c, 1));
    case "round_to_increment":
      return formatDecimal(roundToIncrement(arg(c, 0), arg(c, 1), arg(c, 2) as RoundingMode));
  }
  throw new Error(`${c.name}: unknown op ${String(c.op)}`);
}

describe("decimal cases (testdata/helpers/decimal-cases.json)", () => {
  it("has unique names and enough cases", () => {
    assert.ok(cases.length >= 120);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
  });
  for (const c of cases) {
    it(c.name, () => {
      if (c.error === true) {
        assert.throws(() => run(c));
      } else {
        assert.equal(run(c), c.result);
      }
    });
  }
});

describe("decimal helpers", () => {
  it("names the input and the rule in errors", () => {
    assert.throws(
      () => parseDecimal("1e5"),
      (error: unknown) =>
        error instanceof InvalidDecimalError &&
        error.input === "1e5" &&
        error.ruleId === "cqc.decimal" &&
        error.message.includes('"1e5"') &&
        error.message.includes("[cqc.decimal]"),
    );
    assert.throws(
      () => isMultiple("1", "0"),
      (error: unknown) => error instanceof InvalidDecimalError && error.ruleId === "cqc.decimal.positive",
    );
    assert.throws(() => roundToIncrement("1", "1", "HALF_UP" as RoundingMode), /HALF_UP/);
  });

  it("keeps the exact value and scale", () => {
    assert.deepEqual(parseDecimal("0.010"), { coefficient: 10n, exponent: -3 });
    assert.deepEqual(parseDecimal("-115792089237316195423570985008687907853269984665640564039457584007913129639935"), {
      coefficient: -(2n ** 256n - 1n),
      exponent: 0,
    });
    assert.deepEqual(roundToIncrement("43050.127", "0.01000000", "DOWN"), { coefficient: 4305012000000n, exponent: -8 });
    assert.deepEqual(roundToIncrement({ coefficient: 3n, exponent: 2 }, "250", "HALF_EVEN"), {
      coefficient: 250n,
      exponent: 0,
    });
  });

  it("rejects values that are not a Decimal", () => {
    assert.throws(() => formatDecimal({ coefficient: 1n, exponent: 0.5 }), InvalidDecimalError);
    assert.throws(() => formatDecimal({ coefficient: 1 as unknown as bigint, exponent: 0 }), InvalidDecimalError);
    assert.throws(() => parseDecimal(1 as unknown as string), InvalidDecimalError);
  });

  it("formats canonical results as a fixed point of parse", () => {
    for (const c of cases) {
      if (typeof c.result !== "string" || c.result.length > 100) continue;
      assert.equal(formatDecimal(parseDecimal(c.result)), c.result, c.name);
    }
  });
});
