import assert from "node:assert/strict";
import { createLog } from "../log.ts";
import type { Attempt } from "./attempt.ts";
import {
  backoffDelay,
  mayRetry,
  OUTAGE_BOUND_MS,
  RequestFailedError,
  retryPolicy,
  withRetries,
} from "./retry.ts";

Deno.test("retryPolicy() holds the defaults: 5 retries, 60 s idle, 1 s → 30 s backoff, 2 min bound", () => {
  assert.deepEqual(retryPolicy(5, 60), {
    retries: 5,
    idleMs: 60_000,
    baseDelayMs: 1_000,
    maxDelayMs: 30_000,
    giveUpAfterMs: OUTAGE_BOUND_MS,
  });
  assert.equal(retryPolicy(5, 300).giveUpAfterMs, 600_000, "at least two idle timeouts");
});

Deno.test("backoffDelay() is full jitter: uniform up to base × 2^(n−1), capped", () => {
  const policy = retryPolicy(5, 60);
  assert.equal(backoffDelay(1, policy, 0.999_999), 1_000);
  assert.equal(backoffDelay(3, policy, 0.5), 2_000);
  assert.equal(backoffDelay(9, policy, 0.999_999), 30_000);
  assert.equal(backoffDelay(4, policy, 0), 0);
});

Deno.test("mayRetry() bounds an outage: refused gets every retry, a silent server two tries", () => {
  const policy = retryPolicy(5, 60);
  // Refused: failures come at once, so only the count stops them.
  assert.equal(mayRetry(policy, 5, 20_000, 8_000), true);
  assert.equal(mayRetry(policy, 6, 20_000, 8_000), false);
  // Silent: every try costs the 60 s idle timeout.
  assert.equal(mayRetry(policy, 1, 0, 1_000), true);
  assert.equal(mayRetry(policy, 2, 61_000, 2_000), false);
});

Deno.test("withRetries() logs one warn line per retry and confirms the success", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLog("test", { write: (l) => lines.push(JSON.parse(l)) });
  const policy = { ...retryPolicy(3, 1), baseDelayMs: 1, maxDelayMs: 1 };
  let tries = 0;
  const result = await withRetries(
    { request: "put object", key: "k" },
    policy,
    new AbortController().signal,
    log,
    (_attempt: Attempt) => {
      tries++;
      return tries < 3
        ? Promise.reject(Object.assign(new Error("x"), { code: "ECONNRESET" }))
        : Promise.resolve("ok");
    },
  );
  assert.equal(result, "ok");
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, l.attempt ?? l.retries, l.cause]),
    [
      ["warn", "S3 request failed; retrying", "2/4", "connection reset (ECONNRESET)"],
      ["warn", "S3 request failed; retrying", "3/4", "connection reset (ECONNRESET)"],
      ["info", "S3 request succeeded after retries", 2, undefined],
    ],
  );
});

Deno.test("withRetries() does not retry a failure that retrying cannot fix", async () => {
  const log = createLog("test", { write: () => {} });
  let tries = 0;
  await assert.rejects(
    withRetries(
      { request: "check bucket", key: "b" },
      retryPolicy(5, 1),
      new AbortController().signal,
      log,
      () => {
        tries++;
        return Promise.reject(Object.assign(new Error("x"), { code: "SignatureDoesNotMatch" }));
      },
    ),
    (err: unknown) =>
      err instanceof RequestFailedError && err.attempts === 1 &&
      err.failure.code === "SignatureDoesNotMatch",
  );
  assert.equal(tries, 1);
});

Deno.test("withRetries() stops a backoff at once when its signal aborts", async () => {
  const log = createLog("test", { write: () => {} });
  const controller = new AbortController();
  const policy = { ...retryPolicy(5, 1), baseDelayMs: 60_000, maxDelayMs: 60_000 };
  const started = performance.now();
  const run = withRetries(
    { request: "upload part", key: "k" },
    policy,
    controller.signal,
    log,
    () => {
      setTimeout(() => controller.abort(new Error("stopped")), 10);
      return Promise.reject(Object.assign(new Error("x"), { code: "ECONNREFUSED" }));
    },
  );
  await assert.rejects(run, /stopped/);
  assert.ok(performance.now() - started < 1_000);
});
