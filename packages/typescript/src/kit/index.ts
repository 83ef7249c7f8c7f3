/**
 * The CQC service kit for TypeScript (Connect): what a service implementing a CQC contract needs besides the
 * generated code — errors built from the contract's ErrorReason specs and parsed back on the client, a
 * validation interceptor, signed page tokens and page-size clamping, ids, request-id idempotency, and the
 * Create / Update / List conventions of resources (output-only fields, update masks, pages).
 * Server side (uses node:crypto); browsers import `@crypto-quant/cqc/kit/errors` (errors and parseError) only.
 */
export {
  codeName,
  ERROR_DOMAIN,
  type FieldViolation,
  type ParsedError,
  parseError,
  type Reason,
  type ReasonSpec,
  reasonSpec,
  serviceError,
  validationError,
} from "./errors.js";
export { IdempotencyStore } from "./idempotency.js";
export { sizeViolations } from "./sizes.js";
export { newEventId, newId } from "./ids.js";
export { createValidationInterceptor, REQUEST_ID_HEADER, type ValidationInterceptorOptions } from "./interceptor.js";
export { clampPageSize, DEFAULT_PAGE_SIZE, filterDigest, MAX_PAGE_SIZE, PageTokens } from "./pagination.js";
export {
  applyUpdateMask,
  checkCreate,
  checkUpdateMask,
  OUTPUT_ONLY,
  type Page,
  page,
  requestFilters,
  stamp,
  without,
} from "./resources.js";
