/**
 * The one retry layer every S3 request goes through (restic's idea: no caller retries by hand).
 * A transient failure is tried again after an exponential backoff with full jitter; each retry
 * is one `warn` line naming the request, the key, the attempt, the cause and the delay; a retry
 * that worked is confirmed; a failure that retrying cannot fix (a wrong key, a missing bucket)
 * fails at once. A request stops retrying when its retries are used up, or when another try
 * could end more than the outage bound after its first failure: a refused connection gets every
 * retry (they are quick), a silent server only as many idle timeouts as fit, so a dead or silent
 * S3 ends a run in bounded time (about 30 s refused, about 2 minutes silent, with the defaults).
 * A download that broke off resumes through the same loop (download.ts), counting its failures
 * until bytes flow again.
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
 * Failures in a row without progress, and when the first of them happened: what attempt numbers,
 * backoffs and the outage bound count. The tries of one request share one; a download keeps one
 * across its resumes and starts it over when bytes flow again.
 *
 * @example
 * ```ts
 * const run = new FailureRun();
 * run.add(performance.now());
 * run.failures; // 1
 * run.reset(); // bytes flowed again
 * ```
 */
export class FailureRun {
  #failures = 0;
  #since = 0;

  /** Failures since the last progress. */
  get failures(): number {
    return this.#failures;
  }

  /** When the first of them happened (`performance.now()` time); meaningless without failures. */
  get since(): number {
    return this.#since;
  }

  /**
   * Counts a failure.
   *
   * @param now when it happened (`performance.now()` time)
   */
  add(now: number): void {
    if (this.#failures === 0) this.#since = now;
    this.#failures++;
  }

  /** Progress was made: the next failure starts a new run. */
  reset(): void {
    this.#failures = 0;
  }
}

/** A failure, classified, and what was thrown. */
export interface FailedTry {
  /** What went wrong, classified (transient or not, the cause in plain words). */
  readonly failure: Failure;
  /** What was thrown; the cause of a RequestFailedError. */
  readonly error: unknown;
}

/** A log line's message and fields. */
export interface LogLine {
  /** The words operators and tests grep for. */
  readonly msg: string;
  /** The line's fields, in order. */
  readonly fields: Record<string, unknown>;
}

/** How {@linkcode withRetries} counts and words a request's tries; every field is optional. */
export interface RetryOptions {
  /** The failures this request continues (a download's, across its resumes). @default a new run */
  readonly run?: FailureRun;
  /**
   * A failure that happened before the first try (a download's stream that broke off). It is
   * counted and decided on like a failed try, so the first try is a retry, and with a new
   * `run` the outage is timed from it.
   */
  readonly failed?: FailedTry;
  /**
   * The warn line before each retry: its message, and fields that go after `request` and `key`
   * and before `attempt`, `cause` and `delay_ms`.
   * @default {msg: "S3 request failed; retrying", fields: {}}
   */
  readonly retryLine?: LogLine;
  /**
   * The info line when a try succeeds after a failure, with all its fields.
   * @default {msg: "S3 request succeeded after retries", fields: {request, key, retries}}
   */
  readonly successLine?: LogLine;
}

/**
 * Runs a request, trying again on transient failures.
 *
 * @param name the request and key, for the log
 * @param policy retries, idle timeout, backoff
 * @param signal stops the request and any backoff at once (rejects with its reason)
 * @param log where retry lines go
 * @param send one try; it must send its requests through `attempt`'s transport
 * @param options a failure before the first try, a run of failures to continue, log lines
 * @returns what `send` returned
 * @throws {RequestFailedError} when the failure is not transient or the tries are over; its
 *   `attempts` are the run's failures and its `elapsedMs` run from the first try (from the
 *   run's first failure when `options.failed` is given) to the last failure
 * @example
 * ```ts
 * const stat = await withRetries(
 *   { request: "stat object", key },
 *   retryPolicy(5, 60),
 *   signal,
 *   log,
 *   (attempt) => adapter.stat(attempt, key),
 * );
 * ```
 */
export async function withRetries<T>(
  name: RequestName,
  policy: RetryPolicy,
  signal: AbortSignal,
  log: Log,
  send: (attempt: Attempt) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const started = performance.now();
  const run = options.run ?? new FailureRun();
  let retries = 0;

  /** Counts a failure, then gives up (throws) or logs the retry and waits out its backoff. */
  const backOff = async ({ failure, error }: FailedTry): Promise<void> => {
    const now = performance.now();
    run.add(now);
    const delayMs = backoffDelay(run.failures, policy, Math.random());
    if (!failure.transient || !mayRetry(policy, run.failures, now - run.since, delayMs)) {
      const from = options.failed ? run.since : started;
      throw new RequestFailedError(failure, run.failures, Math.round(now - from), error);
    }
    log.warn("s3", options.retryLine?.msg ?? "S3 request failed; retrying", {
      request: name.request,
      key: name.key,
      ...options.retryLine?.fields,
      attempt: `${run.failures + 1}/${policy.retries + 1}`,
      cause: failure.cause,
      delay_ms: delayMs,
    });
    await sleep(delayMs, undefined, { signal }).catch(() => {
      throw signal.reason;
    });
    retries++;
  };

  if (options.failed) {
    signal.throwIfAborted();
    await backOff(options.failed);
  }
  for (;;) {
    signal.throwIfAborted();
    const attempt = new Attempt(policy.idleMs, signal);
    try {
      const result = await send(attempt);
      if (retries > 0) {
        const line = options.successLine ?? {
          msg: "S3 request succeeded after retries",
          fields: { request: name.request, key: name.key, retries },
        };
        log.info("s3", line.msg, line.fields);
      }
      return result;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      await attempt.errorDetails();
      // The failed try's connections stay in its hands (and its abort) through the backoff.
      await backOff({ failure: classify(err, attempt), error: err });
    } finally {
      attempt.close();
    }
  }
}
