/**
 * CQC errors as data, for servers and clients (no Node.js imports: this module also runs in browsers).
 *
 * Server side: {@link serviceError} builds the ConnectError of one `cqc.services.v1.ErrorReason` — its gRPC
 * code and allowed `ErrorInfo.metadata` keys are read from the reason's `(cqc.services.v1.error_reason)`
 * option, so a key the contract does not list is a programming error, thrown at once. {@link validationError}
 * builds INVALID_ARGUMENT VALIDATION_FAILED with a `google.rpc.BadRequest` (one field violation per broken
 * rule: `reason` = the rule id, `description` = "<message> [<rule id>]").
 *
 * Client side: {@link parseError} turns any error of a call into `{code, reason, domain, metadata, violations}`.
 */
import { getOption, hasOption } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { error_reason, type ErrorReasonSpec } from "../gen/cqc/services/v1/error_options_pb.js";
import { ErrorReason, ErrorReasonSchema } from "../gen/cqc/services/v1/errors_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { ContractViolation } from "../validation.js";

/** `ErrorInfo.domain` of every CQC error. */
export const ERROR_DOMAIN = "cqc.crypto-quant";

/** A reason as the enum value (`ErrorReason.NOT_FOUND_ASSET`) or its wire name (`"NOT_FOUND_ASSET"`). */
export type Reason = ErrorReason | keyof typeof ErrorReason;

/** The contract of one ErrorReason: its wire name, gRPC code and allowed metadata keys. */
export interface ReasonSpec {
  /** The name sent in `ErrorInfo.reason`, e.g. "NOT_FOUND_ASSET" (the enum value name without `ERROR_REASON_`). */
  readonly name: string;
  readonly reason: ErrorReason;
  /** The status code, e.g. `Code.NotFound`. */
  readonly code: Code;
  /** The gRPC name of the code, e.g. "NOT_FOUND". */
  readonly codeName: string;
  /** The allowed metadata keys; "*_id" admits any snake_case key ending in "_id". */
  readonly metadataKeys: readonly string[];
}

const CODES: Record<string, Code> = {
  CANCELLED: Code.Canceled,
  UNKNOWN: Code.Unknown,
  INVALID_ARGUMENT: Code.InvalidArgument,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  PERMISSION_DENIED: Code.PermissionDenied,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  ABORTED: Code.Aborted,
  OUT_OF_RANGE: Code.OutOfRange,
  UNIMPLEMENTED: Code.Unimplemented,
  INTERNAL: Code.Internal,
  UNAVAILABLE: Code.Unavailable,
  DATA_LOSS: Code.DataLoss,
  UNAUTHENTICATED: Code.Unauthenticated,
};

/** The gRPC name of a status code ("NOT_FOUND"); "OK" for 0. */
export function codeName(code: Code | 0): string {
  if (code === 0) return "OK";
  for (const [name, value] of Object.entries(CODES)) {
    if (value === code) return name;
  }
  return `CODE_${code}`;
}

let specs: Map<ErrorReason, ReasonSpec> | undefined;

function allSpecs(): Map<ErrorReason, ReasonSpec> {
  if (specs === undefined) {
    specs = new Map();
    for (const value of ErrorReasonSchema.values) {
      if (!hasOption(value, error_reason)) continue; // UNSPECIFIED: never sent
      const spec: ErrorReasonSpec = getOption(value, error_reason);
      const code = CODES[spec.code];
      if (code === undefined) {
        throw new Error(`${value.name}: (cqc.services.v1.error_reason).code ${JSON.stringify(spec.code)} is no gRPC code`);
      }
      const name = value.name.replace(/^ERROR_REASON_/, "");
      specs.set(value.number, {
        name,
        reason: value.number,
        code,
        codeName: spec.code,
        metadataKeys: Object.freeze([...spec.metadataKeys]),
      });
    }
  }
  return specs;
}

/** The contract of `reason` (from its `(cqc.services.v1.error_reason)` option); throws for UNSPECIFIED or an unknown name. */
export function reasonSpec(reason: Reason): ReasonSpec {
  const number = typeof reason === "string" ? (ErrorReason as unknown as Record<string, number>)[reason] : reason;
  const spec = number === undefined ? undefined : allSpecs().get(number);
  if (spec === undefined) {
    throw new TypeError(`${JSON.stringify(reason)} is not a CQC ErrorReason a service may send`);
  }
  return spec;
}

const SNAKE_ID = /^[a-z][a-z0-9]*(_[a-z0-9]+)*_id$/;

function allowed(spec: ReasonSpec, key: string): boolean {
  return spec.metadataKeys.includes(key) || (spec.metadataKeys.includes("*_id") && SNAKE_ID.test(key));
}

/**
 * The ConnectError a handler throws for `reason`: the code of the reason's spec, `message` for humans, and
 * one `google.rpc.ErrorInfo{reason, domain: "cqc.crypto-quant", metadata}` detail. A metadata key the spec
 * does not allow throws a TypeError naming the reason and the key (a bug in the service, not a client error).
 *
 * ```ts
 * throw serviceError("NOT_FOUND_RESOURCE", `portfolio ${id} not found`, { portfolio_id: id });
 * ```
 */
export function serviceError(reason: Reason, message: string, metadata: Readonly<Record<string, string>> = {}): ConnectError {
  const spec = reasonSpec(reason);
  for (const key of Object.keys(metadata)) {
    if (!allowed(spec, key)) {
      const keys = spec.metadataKeys.length === 0 ? "none" : spec.metadataKeys.join(", ");
      throw new TypeError(`ErrorReason ${spec.name} does not allow the metadata key ${JSON.stringify(key)} (allowed: ${keys})`);
    }
  }
  return new ConnectError(message, spec.code, undefined, [
    { desc: ErrorInfoSchema, value: { reason: spec.name, domain: ERROR_DOMAIN, metadata: { ...metadata } } },
  ]);
}

/**
 * INVALID_ARGUMENT VALIDATION_FAILED for a request of type `messageType` (e.g. "cqc.services.v1.GetPortfolioRequest")
 * that breaks `violations` (as returned by `violations()` of `@crypto-quant/cqc/validation`): ErrorInfo plus a
 * `google.rpc.BadRequest` with one field violation per rule (`field`, `reason` = rule id,
 * `description` = "<message> [<rule id>]").
 */
export function validationError(messageType: string, violations: readonly ContractViolation[]): ConnectError {
  const text = violations.map((v) => `${v.field === "" ? "(message)" : v.field}: ${v.message} [${v.ruleId}]`).join("; ");
  return new ConnectError(`invalid ${messageType}: ${text}`, Code.InvalidArgument, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "VALIDATION_FAILED", domain: ERROR_DOMAIN, metadata: {} } },
    {
      desc: BadRequestSchema,
      value: {
        fieldViolations: violations.map((v) => ({
          field: v.field,
          reason: v.ruleId,
          description: `${v.message} [${v.ruleId}]`,
        })),
      },
    },
  ]);
}

/** One broken rule as a client reads it from a `google.rpc.BadRequest`. */
export interface FieldViolation {
  /** The field path, e.g. "portfolio.name" ("" for a rule on the request itself). */
  readonly field: string;
  /** The rule id, e.g. "string.min_len" (from `reason`, or the "[...]" suffix of `description`). */
  readonly ruleId: string;
  readonly description: string;
}

/** A failed call as data. */
export interface ParsedError {
  /** The status code (`Code.NotFound`, ...). */
  readonly code: Code;
  /** Its gRPC name ("NOT_FOUND"). */
  readonly codeName: string;
  /** The error message, without Connect's "[code]" prefix. */
  readonly message: string;
  /** `ErrorInfo.reason` ("NOT_FOUND_ASSET"), "" when the error carries no ErrorInfo. */
  readonly reason: string;
  /** `ErrorInfo.domain` ("cqc.crypto-quant" for CQC errors), "" without ErrorInfo. */
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Every `google.rpc.BadRequest` field violation, in order. */
  readonly violations: readonly FieldViolation[];
}

const RULE_SUFFIX = /\[([^\[\]]+)\]\s*$/;

/**
 * Reads any error thrown by a Connect client call (or anything else: a non-Connect error becomes UNKNOWN)
 * into a {@link ParsedError}; rule ids come from `FieldViolation.reason`, falling back to the "[rule id]"
 * suffix of the description (servers before 1.0 filled only the description).
 *
 * ```ts
 * try { await portfolio.getPortfolio({ portfolioId }); } catch (err) {
 *   const e = parseError(err);
 *   if (e.reason === "NOT_FOUND_RESOURCE") ...
 * }
 * ```
 */
export function parseError(error: unknown): ParsedError {
  const err = ConnectError.from(error);
  const info = err.findDetails(ErrorInfoSchema)[0];
  const violations: FieldViolation[] = [];
  for (const bad of err.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) {
      const ruleId = v.reason !== "" ? v.reason : (RULE_SUFFIX.exec(v.description)?.[1] ?? "");
      violations.push({ field: v.field, ruleId, description: v.description });
    }
  }
  return {
    code: err.code,
    codeName: codeName(err.code),
    message: err.rawMessage,
    reason: info?.reason ?? "",
    domain: info?.domain ?? "",
    metadata: { ...(info?.metadata ?? {}) },
    violations,
  };
}
