/**
 * CQC decimal strings as exact values. Decimals travel as strings in one grammar (rule `cqc.decimal` in
 * `proto/cqc/types/v1/rules.proto`): `^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`, at most 100 characters, no negative
 * zero. This module converts between that string and an exact {@link Decimal} (a bigint coefficient and a
 * power-of-ten exponent; never a `number`, which cannot hold 0.1 or a 78-digit integer), and makes the two
 * checks a trading service needs on prices and sizes: is a value on a tick or lot ({@link isMultiple}), and
 * the nearest value that is ({@link roundToIncrement}). Python (`cqc.decimal`) and Go (`cqc.ParseDecimal`
 * ...) behave the same, proven by the shared cases in `testdata/helpers/decimal-cases.json`.
 */

/** An exact decimal value: `coefficient × 10^exponent`. `exponent` is a safe integer. */
export interface Decimal {
  readonly coefficient: bigint;
  readonly exponent: number;
}

/** The longest decimal string the contract accepts, in characters. */
export const MAX_DECIMAL_LENGTH = 100;

/** How {@link roundToIncrement} picks a multiple when a value lies between two. */
export type RoundingMode = "DOWN" | "UP" | "FLOOR" | "CEIL" | "HALF_EVEN";

/**
 * The rounding modes by name: `DOWN` toward zero, `UP` away from zero, `FLOOR` toward negative infinity,
 * `CEIL` toward positive infinity, `HALF_EVEN` to the nearest multiple with a tie to the even one.
 */
export const RoundingMode = {
  DOWN: "DOWN",
  UP: "UP",
  FLOOR: "FLOOR",
  CEIL: "CEIL",
  HALF_EVEN: "HALF_EVEN",
} as const satisfies Record<RoundingMode, RoundingMode>;

const PATTERN = "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?$";
const GRAMMAR = new RegExp(PATTERN); // no `m` flag: `$` is the end of the input, not of a line
const NEGATIVE_ZERO = /^-0(\.0+)?$/;

/**
 * A string that is not a CQC decimal, a value that is not a valid {@link Decimal}, or an increment that is not
 * positive. `input` is the offending input, `reason` what is wrong, `ruleId` the contract rule it breaks:
 * `"cqc.decimal"`, or `"cqc.decimal.positive"` for an increment.
 */
export class InvalidDecimalError extends Error {
  override readonly name = "InvalidDecimalError";
  constructor(
    readonly input: string,
    readonly reason: string,
    readonly ruleId: "cqc.decimal" | "cqc.decimal.positive" = "cqc.decimal",
  ) {
    super(`invalid decimal ${JSON.stringify(input)}: ${reason} [${ruleId}]`);
  }
}

/**
 * The exact value of the CQC decimal string `s`. Accepts exactly what the `cqc.decimal` rule accepts;
 * anything else ("1e5", "+1", ".5", "01", " 1", "NaN", "-0", more than 100 characters, ...) throws
 * {@link InvalidDecimalError} naming `s` and the rule. The value keeps the string's scale
 * (`parseDecimal("0.010")` is `{coefficient: 10n, exponent: -3}`).
 */
export function parseDecimal(s: string): Decimal {
  if (typeof s !== "string") {
    throw new InvalidDecimalError(String(s), `not a string but ${typeof s}`);
  }
  const length = [...s].length; // code points, as the rule's CEL size() counts them
  if (length > MAX_DECIMAL_LENGTH) {
    throw new InvalidDecimalError(s, `longer than ${MAX_DECIMAL_LENGTH} characters (${length})`);
  }
  if (!GRAMMAR.test(s)) {
    throw new InvalidDecimalError(s, `does not match ${PATTERN}`);
  }
  if (NEGATIVE_ZERO.test(s)) {
    throw new InvalidDecimalError(s, "negative zero (zero is written without a sign)");
  }
  const point = s.indexOf(".");
  if (point < 0) {
    return { coefficient: BigInt(s), exponent: 0 };
  }
  return { coefficient: BigInt(s.slice(0, point) + s.slice(point + 1)), exponent: -(s.length - point - 1) };
}

/**
 * The canonical CQC string of `value`: no exponent, no `+`, no leading zeros, `-` only for a non-zero value,
 * no trailing zeros after the point and no point for an integer
 * (`formatDecimal(parseDecimal("0.01000000")) === "0.01"`, `formatDecimal({coefficient: 1n, exponent: 5})
 * === "100000"`). Throws {@link InvalidDecimalError} when `value` is not a {@link Decimal}. The result is not
 * limited to 100 characters; check a computed value with {@link parseDecimal} before sending it.
 */
export function formatDecimal(value: Decimal): string {
  let { coefficient, exponent } = checked(value);
  if (coefficient === 0n) {
    return "0";
  }
  while (exponent < 0 && coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent += 1;
  }
  const negative = coefficient < 0n;
  const digits = (negative ? -coefficient : coefficient).toString();
  let text: string;
  if (exponent >= 0) {
    text = digits + "0".repeat(exponent);
  } else {
    const scale = -exponent;
    const padded = digits.padStart(scale + 1, "0");
    text = `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
  }
  return negative ? `-${text}` : text;
}

/**
 * Whether `value` is an exact multiple of `increment` (> 0): the check a tick size or lot size makes
 * (`isMultiple("43050.12", "0.01")` is true, `isMultiple("101", "2.5")` false; zero is a multiple of every
 * increment). Strings are parsed with {@link parseDecimal}. Throws {@link InvalidDecimalError} for an
 * invalid argument or an increment that is not greater than zero (rule `cqc.decimal.positive`).
 */
export function isMultiple(value: Decimal | string, increment: Decimal | string): boolean {
  const [v, inc] = aligned(operand(value), positive(increment));
  return v % inc === 0n;
}

/**
 * The multiple of `increment` (> 0) nearest `value` in the direction `mode` says; a value that already is a
 * multiple comes back unchanged. The result carries the increment's exponent
 * (`roundToIncrement("43050.127", "0.01000000", "DOWN")` is `{coefficient: 4305012000000n, exponent: -8}`,
 * formatted "43050.12"). Throws {@link InvalidDecimalError} for an invalid value or a non-positive increment,
 * and an `Error` for an unknown mode.
 */
export function roundToIncrement(value: Decimal | string, increment: Decimal | string, mode: RoundingMode): Decimal {
  if (!Object.hasOwn(RoundingMode, mode)) {
    throw new Error(`unknown rounding mode ${JSON.stringify(mode)}: one of ${Object.keys(RoundingMode).join(", ")}`);
  }
  const inc = positive(increment);
  const [v, step] = aligned(operand(value), inc);
  // bigint division truncates toward zero; the remainder has the value's sign and |remainder| < step.
  let quotient = v / step;
  const remainder = v % step;
  if (remainder !== 0n) {
    const negative = v < 0n;
    let away: boolean;
    switch (mode) {
      case "DOWN":
        away = false;
        break;
      case "UP":
        away = true;
        break;
      case "FLOOR":
        away = negative;
        break;
      case "CEIL":
        away = !negative;
        break;
      case "HALF_EVEN": {
        const twice = 2n * (negative ? -remainder : remainder);
        away = twice > step || (twice === step && quotient % 2n !== 0n);
        break;
      }
    }
    if (away) {
      quotient += negative ? -1n : 1n;
    }
  }
  return { coefficient: quotient * inc.coefficient, exponent: inc.exponent };
}

function checked(value: Decimal): Decimal {
  if (
    typeof value !== "object" ||
    value === null ||
    typeof value.coefficient !== "bigint" ||
    !Number.isSafeInteger(value.exponent)
  ) {
    throw new InvalidDecimalError(String(value), "not a {coefficient: bigint, exponent: safe integer} value");
  }
  return value;
}

function operand(value: Decimal | string): Decimal {
  return typeof value === "string" ? parseDecimal(value) : checked(value);
}

function positive(increment: Decimal | string): Decimal {
  const inc = operand(increment);
  if (inc.coefficient <= 0n) {
    const shown = typeof increment === "string" ? increment : formatDecimal(inc);
    throw new InvalidDecimalError(shown, "an increment must be greater than zero", "cqc.decimal.positive");
  }
  return inc;
}

/** Both coefficients scaled to the smaller exponent, so they can be compared and divided as integers. */
function aligned(a: Decimal, b: Decimal): [bigint, bigint] {
  const exponent = Math.min(a.exponent, b.exponent);
  return [a.coefficient * 10n ** BigInt(a.exponent - exponent), b.coefficient * 10n ** BigInt(b.exponent - exponent)];
}
