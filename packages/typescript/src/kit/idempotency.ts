/**
 * Request-id idempotency: a retry with the same `request_id` and an equal request gets the first call's answer
 * (or its error) again; the same `request_id` with a different request → ALREADY_EXISTS REQUEST_ID_REUSED
 * `{request_id}`. Requests are compared on their known fields only: unknown fields (from a client built with a
 * newer schema) are ignored, as the contract asks.
 */
import { clone, type DescMessage, equals, type MessageShape } from "@bufbuild/protobuf";
import { serviceError } from "./errors.js";

interface Entry {
  readonly schema: DescMessage;
  readonly request: unknown;
  readonly answer: Promise<unknown>;
}

/** An in-memory store of first answers by request id (one per service; entries live as long as the store). */
export class IdempotencyStore {
  readonly #entries = new Map<string, Entry>();

  /**
   * Runs `handle` for the first call with `requestId` and remembers its result (value or thrown error); a later
   * call with the same id and an equal `request` (of the same `schema`) gets that result without running
   * `handle`; with a different request it throws ALREADY_EXISTS REQUEST_ID_REUSED. Concurrent retries wait for
   * the first call. An empty `requestId` runs `handle` without remembering anything.
   */
  async run<Desc extends DescMessage, T>(
    requestId: string,
    schema: Desc,
    request: MessageShape<Desc>,
    handle: () => T | Promise<T>,
  ): Promise<T> {
    if (requestId === "") {
      return handle();
    }
    const found = this.#entries.get(requestId);
    if (found !== undefined) {
      if (found.schema.typeName !== schema.typeName || !equals(schema, found.request as MessageShape<Desc>, request)) {
        throw serviceError("REQUEST_ID_REUSED", `request_id ${requestId} was used by a different request`, {
          request_id: requestId,
        });
      }
      return found.answer as Promise<T>;
    }
    const answer = (async () => handle())();
    answer.catch(() => undefined); // the error is kept for retries; the caller below still sees it
    this.#entries.set(requestId, { schema, request: clone(schema, request), answer });
    return answer;
  }

  /** How many request ids are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}
