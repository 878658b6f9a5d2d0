/**
 * The one retry layer every S3 request goes through (restic's idea: no caller retries by hand).
 * A transient failure is tried again after an exponential backoff with full jitter; each retry
 * is one `warn` line naming the request, the key, the attempt, the cause and the delay; a retry
 * that worked is confirmed; a failure that retrying cannot fix (a wrong key, a missing bucket)
 * fails at once. A request stops retrying when its retries are used up, or when another try
 * could end more than the outage bound after its first failure: a refused connection gets every
 * retry (they are quick), a silent server only as many idle timeouts as fit, so a dead or silent
 * S3 ends a run in bounded time (about 30 s refused, about 2 minutes silent, with the defaults).
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Log } from "../log.ts";
import { Attempt } from "./attempt.ts";
import { classify, type Failure } from "./failure.ts";

/** How hard to try. */
export interface RetryPolicy {
  /** How many more times a transiently failed request is tried (S3_RETRIES). */
  readonly retries: number;
  /** A connection that moves no byte for this long is abandoned (S3_TIMEOUT_SECONDS). */
  readonly idleMs: number;
  /** The first backoff's upper bound. */
  readonly baseDelayMs: number;
  /** No backoff is longer than this. */
  readonly maxDelayMs: number;
  /** No retry starts that could end later than this after the request's first failure. */
  readonly giveUpAfterMs: number;
}

/** Defaults: about 1 s doubling to about 30 s; see {@linkcode retryPolicy}. */
export const BACKOFF = { baseDelayMs: 1_000, maxDelayMs: 30_000 } as const;

/** No retry may end later than this after a request's first failure (or two idle timeouts). */
export const OUTAGE_BOUND_MS = 120_000;

/**
 * The policy for S3_RETRIES and S3_TIMEOUT_SECONDS.
 *
 * @example
 * ```ts
 * retryPolicy(5, 60); // 5 retries, 60 s idle timeout, backoff 1 s → 30 s, bound 120 s
 * ```
 */
export function retryPolicy(retries: number, timeoutSeconds: number): RetryPolicy {
  const idleMs = timeoutSeconds * 1000;
  return { retries, idleMs, ...BACKOFF, giveUpAfterMs: Math.max(OUTAGE_BOUND_MS, 2 * idleMs) };
}

/**
 * Whether another try may start.
 *
 * @param policy the retry policy
 * @param failures failures so far (1 after the first)
 * @param failingForMs time since the first failure
 * @param delayMs the backoff before the next try
 */
export function mayRetry(
  policy: RetryPolicy,
  failures: number,
  failingForMs: number,
  delayMs: number,
): boolean {
  return failures <= policy.retries &&
    failingForMs + delayMs + policy.idleMs <= policy.giveUpAfterMs;
}

/**
 * The delay before retry number `retry` (1-based): uniform in [0, min(max, base × 2^(retry−1))].
 *
 * @param random a number in [0, 1), e.g. Math.random()
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(random * ceiling);
}

/** A request's name and key, for log lines and errors. */
export interface RequestName {
  /** `upload part`, `copy object`, ... */
  readonly request: string;
  /** The object key (or the bucket, for bucket requests). */
  readonly key: string;
}

/** Thrown when a request's tries are over; the store turns it into a StoreError. */
export class RequestFailedError extends Error {
  /**
   * @param failure the last failure, classified
   * @param attempts tries made
   * @param elapsedMs from the first try to the last failure
   * @param cause what the last try threw
   */
  constructor(
    readonly failure: Failure,
    readonly attempts: number,
    readonly elapsedMs: number,
    cause: unknown,
  ) {
    super(failure.cause, { cause });
    this.name = "RequestFailedError";
  }
}

/**
 * Runs a request, trying again on transient failures.
 *
 * @param name the request and key, for the log
 * @param policy retries, idle timeout, backoff
 * @param signal stops the request and any backoff at once (rejects with its reason)
 * @param log where retry lines go
 * @param send one try; it must send its requests through `attempt`'s transport
 * @returns what `send` returned
 * @throws {RequestFailedError} when the failure is not transient or the tries are over
 */
export async function withRetries<T>(
  name: RequestName,
  policy: RetryPolicy,
  signal: AbortSignal,
  log: Log,
  send: (attempt: Attempt) => Promise<T>,
): Promise<T> {
  const started = performance.now();
  let firstFailure = 0;
  const total = policy.retries + 1;
  for (let tryNumber = 1;; tryNumber++) {
    signal.throwIfAborted();
    const attempt = new Attempt(policy.idleMs, signal);
    try {
      const result = await send(attempt);
      if (tryNumber > 1) {
        log.info("s3", "S3 request succeeded after retries", {
          request: name.request,
          key: name.key,
          retries: tryNumber - 1,
        });
      }
      return result;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      await attempt.errorDetails();
      const failure = classify(err, attempt);
      const now = performance.now();
      if (tryNumber === 1) firstFailure = now;
      const delayMs = backoffDelay(tryNumber, policy, Math.random());
      if (!failure.transient || !mayRetry(policy, tryNumber, now - firstFailure, delayMs)) {
        throw new RequestFailedError(failure, tryNumber, Math.round(now - started), err);
      }
      log.warn("s3", "S3 request failed; retrying", {
        request: name.request,
        key: name.key,
        attempt: `${tryNumber + 1}/${total}`,
        cause: failure.cause,
        delay_ms: delayMs,
      });
      await sleep(delayMs, undefined, { signal }).catch(() => {
        throw signal.reason;
      });
    } finally {
      attempt.close();
    }
  }
}
