/**
 * Connect server interceptors of a CQC service: request validation (with the package's protovalidate rules)
 * and the `x-cqc-request-id` echo. Register them on the router / adapter of `@connectrpc/connect-node`:
 *
 * ```ts
 * http2.createServer(connectNodeAdapter({ routes, interceptors: [createValidationInterceptor()] }))
 * ```
 */
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { enableFastDecode } from "../fast-decode.js";
import { violations } from "../validation.js";
import { validationError } from "./errors.js";
import { sizeViolations } from "./sizes.js";

/** The request header a client sets to correlate a call; servers echo it in the response headers. */
export const REQUEST_ID_HEADER = "x-cqc-request-id";

/** Options of {@link createValidationInterceptor}. */
export interface ValidationInterceptorOptions {
  /** Validate only messages whose full name starts with one of these (default: ["cqc."]); [""] validates all. */
  readonly packages?: readonly string[];
  /** Echo `x-cqc-request-id` in the response headers (and the metadata of an error). Default true. */
  readonly echoRequestId?: boolean;
  /** Trailers added to every response, OK or error (e.g. `{ "x-cqc-server": "my-service" }`). */
  readonly trailers?: Readonly<Record<string, string>>;
  /**
   * Where an unexpected error (anything but a ConnectError) is reported; the client gets INTERNAL
   * "internal error (correlation_id=<32 hex>)" without the error's text. Default: console.error.
   */
  readonly onInternalError?: (error: unknown, correlationId: string, procedure: string) => void;
  /**
   * Speed up the request decoding Connect does with `enableFastDecode()` of `@crypto-quant/cqc/fast-decode`
   * (a faster string reader patched into @bufbuild/protobuf's BinaryReader; same messages, same errors).
   * Default true; false leaves @bufbuild/protobuf untouched.
   */
  readonly fastDecode?: boolean;
}

/**
 * An interceptor that validates every request message (unary and streaming) before the handler sees it, size
 * rules first ({@link sizeViolations}: when one fails, only those are reported, without walking the items of an
 * oversized list), then every rule: a broken rule answers INVALID_ARGUMENT VALIDATION_FAILED with ErrorInfo and a `google.rpc.BadRequest` (one
 * field violation per rule: field path, `reason` = rule id). It also echoes `x-cqc-request-id`, adds the
 * configured trailers, and answers an unexpected (non-Connect) error with INTERNAL and a correlation id
 * instead of the error's own text. Creating it turns on `enableFastDecode()` (option `fastDecode`), so the
 * server decodes requests faster.
 */
export function createValidationInterceptor(options: ValidationInterceptorOptions = {}): Interceptor {
  if (options.fastDecode ?? true) enableFastDecode();
  const packages = options.packages ?? ["cqc."];
  const echo = options.echoRequestId ?? true;
  const trailers = Object.entries(options.trailers ?? {});
  const onInternal =
    options.onInternalError ??
    ((error: unknown, id: string, procedure: string) => console.error(`${procedure} failed (correlation_id=${id})`, error));
  const check = <Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): void => {
    if (!packages.some((p) => schema.typeName.startsWith(p))) return;
    const sized = sizeViolations(schema, message); // lengths first: an oversized list is never walked
    const broken = sized.length > 0 ? sized : violations(schema, message);
    if (broken.length > 0) {
      throw validationError(schema.typeName, broken);
    }
  };
  return (next) => async (req) => {
    const requestId = echo ? req.header.get(REQUEST_ID_HEADER) : null;
    const failure = (error: unknown): ConnectError => {
      let answer: ConnectError;
      if (error instanceof ConnectError) {
        answer = error;
      } else {
        const id = crypto.randomUUID().replaceAll("-", "");
        onInternal(error, id, `${req.service.typeName}/${req.method.name}`);
        answer = new ConnectError(`internal error (correlation_id=${id})`, Code.Internal);
      }
      if (requestId !== null) answer.metadata.set(REQUEST_ID_HEADER, requestId);
      for (const [key, value] of trailers) answer.metadata.set(key, value);
      return answer;
    };
    try {
      let res;
      if (req.stream) {
        const input = req.message;
        const schema = req.method.input;
        async function* validated() {
          for await (const message of input) {
            check(schema, message);
            yield message;
          }
        }
        res = await next({ ...req, message: validated() });
      } else {
        check(req.method.input, req.message);
        res = await next(req);
      }
      if (requestId !== null) {
        res.header.set(REQUEST_ID_HEADER, requestId);
      }
      for (const [key, value] of trailers) res.trailer.set(key, value);
      if (res.stream) {
        const output = res.message;
        async function* mapped() {
          try {
            yield* output;
          } catch (error) {
            throw failure(error);
          }
        }
        return { ...res, message: mapped() };
      }
      return res;
    } catch (error) {
      throw failure(error);
    }
  };
}
