/**
 * Validation of CQC messages with the protovalidate rules written in the protos. The same rules run in
 * Go and Python; every violation names its field path and rule id, identically in the three languages.
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { registry } from "./registry.js";
import { validators } from "./validate/validators.js";
import type { V } from "./validate-runtime.js";

/** One broken rule: `field` is a path such as "asset_id" or "levels[2].price" ("" for message rules). */
export interface ContractViolation {
  readonly field: string;
  readonly ruleId: string;
  readonly message: string;
}

/** Thrown by {@link validate}; `violations` holds every broken rule, sorted by field then rule id. */
export class InvalidMessageError extends Error {
  override readonly name = "InvalidMessageError";
  constructor(
    readonly messageType: string,
    readonly violations: readonly ContractViolation[],
  ) {
    super(
      `invalid ${messageType}: ` +
        violations.map((v) => `${v.field === "" ? "(message)" : v.field}: ${v.message} [${v.ruleId}]`).join("; "),
    );
  }
}

// The registry carries CQC's predefined rules (cqc.types.v1 extensions), which the validator must know.
const validator = createValidator({ registry });

/**
 * Every rule `message` breaks, sorted; an empty array means the message is valid. CQC messages are checked by
 * validators generated from the protos' rules (src/validate/, tools/cqcvalidate_ts.py): the same violations as
 * protovalidate (a differential test holds them to it), exact decimal comparisons, linear in the message size.
 * Other types go to @bufbuild/protovalidate.
 */
export function violations<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): ContractViolation[] {
  const generated = validators[schema.typeName];
  if (generated !== undefined) {
    const out: V[] = [];
    generated(message, "", out);
    return out
      .map((v) => ({ field: v.field, ruleId: v.rule, message: v.message }))
      .sort((a, b) => (a.field === b.field ? cmp(a.ruleId, b.ruleId) : cmp(a.field, b.field)));
  }
  const result = validator.validate(schema, message);
  if (result.kind === "error") {
    throw result.error;
  }
  if (result.kind === "valid") {
    return [];
  }
  return result.violations
    .map((v) => ({ field: pathToString(v.field), ruleId: v.ruleId, message: v.message }))
    .sort((a, b) => (a.field === b.field ? cmp(a.ruleId, b.ruleId) : cmp(a.field, b.field)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Throws {@link InvalidMessageError} naming every broken rule, or returns if `message` is valid. */
export function validate<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void {
  const found = violations(schema, message);
  if (found.length > 0) {
    throw new InvalidMessageError(schema.typeName, found);
  }
}
