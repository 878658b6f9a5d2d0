import assert from "node:assert/strict";
import { createLog } from "../log.ts";
import type { Attempt } from "./attempt.ts";
import { classify } from "./failure.ts";
import {
  backoffDelay,
  type FailedTry,
  FailureRun,
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

/** A log that keeps its lines, parsed. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLog("test", { write: (l) => lines.push(JSON.parse(l)) }) };
}

/** The fields a line carries after the fixed ones, in order. */
function fieldsOf(line: Record<string, unknown> | undefined): [string, unknown][] {
  const { ts: _, level: _l, program: _p, step: _s, msg: _m, ...fields } = line ?? {};
  return Object.entries(fields);
}

/** A download's stream that broke off: what the download hands to withRetries. */
function brokeOff(): FailedTry {
  const error = Object.assign(new Error("aborted"), { code: "ECONNRESET" });
  return { failure: classify(error, { fault: "cut-short" }), error };
}

const resumeLines = {
  retryLine: { msg: "download broke off; resuming", fields: { offset_bytes: 7, object_bytes: 9 } },
  successLine: {
    msg: "download resumed",
    fields: { key: "k", offset_bytes: 7, object_bytes: 9 },
  },
};

Deno.test("withRetries() counts a failure before the first try: the first try is attempt 2", async () => {
  const { lines, log } = recordingLog();
  const policy = { ...retryPolicy(5, 1), baseDelayMs: 1, maxDelayMs: 1 };
  const run = new FailureRun();
  let tries = 0;
  const result = await withRetries(
    { request: "get object", key: "k" },
    policy,
    new AbortController().signal,
    log,
    () => Promise.resolve(++tries),
    { run, failed: brokeOff(), ...resumeLines },
  );
  assert.equal(result, 1);
  assert.equal(run.failures, 1, "the failure before the first try is the run's first");
  assert.deepEqual(lines.map((l) => [l.level, l.step, l.msg]), [
    ["warn", "s3", "download broke off; resuming"],
    ["info", "s3", "download resumed"],
  ]);
  assert.deepEqual(fieldsOf(lines[0]), [
    ["request", "get object"],
    ["key", "k"],
    ["offset_bytes", 7],
    ["object_bytes", 9],
    ["attempt", "2/6"],
    ["cause", "response cut short (ResponseCutShort)"],
    ["delay_ms", lines[0]?.delay_ms],
  ]);
  assert.ok(Number(lines[0]?.delay_ms) <= 1);
  assert.deepEqual(fieldsOf(lines[1]), [["key", "k"], ["offset_bytes", 7], ["object_bytes", 9]]);
});

Deno.test("withRetries() continues a run: attempts count on from its failures", async () => {
  const { lines, log } = recordingLog();
  const policy = { ...retryPolicy(5, 1), baseDelayMs: 1, maxDelayMs: 1 };
  const run = new FailureRun();
  run.add(performance.now());
  run.add(performance.now());
  let tries = 0;
  await withRetries(
    { request: "get object", key: "k" },
    policy,
    new AbortController().signal,
    log,
    () => ++tries < 2 ? Promise.reject(brokeOff().error) : Promise.resolve(),
    { run, failed: brokeOff(), ...resumeLines },
  );
  assert.deepEqual(lines.map((l) => [l.msg, l.attempt]), [
    ["download broke off; resuming", "4/6"],
    ["download broke off; resuming", "5/6"],
    ["download resumed", undefined],
  ]);
  run.reset();
  assert.equal(run.failures, 0, "bytes flowed: the next failure starts a new run");
});

Deno.test("withRetries() gives up when the retries of a run are used up, without a try", async () => {
  const { lines, log } = recordingLog();
  const run = new FailureRun();
  for (let i = 0; i < 5; i++) run.add(performance.now());
  let tries = 0;
  await assert.rejects(
    withRetries(
      { request: "get object", key: "k" },
      retryPolicy(5, 1),
      new AbortController().signal,
      log,
      () => Promise.resolve(++tries),
      { run, failed: brokeOff(), ...resumeLines },
    ),
    (err: unknown) =>
      err instanceof RequestFailedError && err.attempts === 6 &&
      err.failure.code === "ResponseCutShort",
  );
  assert.equal(tries, 0);
  assert.deepEqual(lines, []);
});

Deno.test("withRetries() bounds an outage from the first failure of the run it continues", async () => {
  const log = createLog("test", { write: () => {} });
  // 1 s idle timeout, 120 s bound: a run that began 119.5 s ago has no room for another try.
  const run = new FailureRun();
  run.add(performance.now() - 119_500);
  let tries = 0;
  const failed = brokeOff();
  await assert.rejects(
    withRetries(
      { request: "get object", key: "k" },
      retryPolicy(5, 1),
      new AbortController().signal,
      log,
      () => Promise.resolve(++tries),
      { run, failed, ...resumeLines },
    ),
    (err: unknown) =>
      err instanceof RequestFailedError && err.attempts === 2 && err.cause === failed.error &&
      err.elapsedMs >= 119_500 && err.elapsedMs < 125_000,
  );
  assert.equal(tries, 0);
});

Deno.test("withRetries() stops at once on a failure before the first try that retrying cannot fix", async () => {
  const { lines, log } = recordingLog();
  const error = Object.assign(new Error("x"), { code: "SignatureDoesNotMatch" });
  let tries = 0;
  await assert.rejects(
    withRetries(
      { request: "get object", key: "k" },
      retryPolicy(5, 1),
      new AbortController().signal,
      log,
      () => Promise.resolve(++tries),
      { failed: { failure: classify(error, { status: 403 }), error }, ...resumeLines },
    ),
    (err: unknown) =>
      err instanceof RequestFailedError && err.attempts === 1 &&
      err.failure.code === "SignatureDoesNotMatch" && err.cause === error,
  );
  assert.equal(tries, 0);
  assert.deepEqual(lines, []);
});

Deno.test("withRetries() ends a resume's backoff at once with the signal's reason", async () => {
  const log = createLog("test", { write: () => {} });
  const controller = new AbortController();
  const policy = { ...retryPolicy(5, 1), baseDelayMs: 60_000, maxDelayMs: 60_000 };
  const stopped = new Error("stopped by SIGTERM");
  let tries = 0;
  const started = performance.now();
  const timer = setTimeout(() => controller.abort(stopped), 10);
  await assert.rejects(
    withRetries(
      { request: "get object", key: "k" },
      policy,
      controller.signal,
      log,
      () => Promise.resolve(++tries),
      { failed: brokeOff(), ...resumeLines },
    ),
    (err: unknown) => err === stopped,
  );
  clearTimeout(timer);
  assert.equal(tries, 0);
  assert.ok(performance.now() - started < 1_000);
  // A signal that has already fired stops it before any backoff.
  await assert.rejects(
    withRetries(
      { request: "get object", key: "k" },
      policy,
      controller.signal,
      log,
      () => Promise.resolve(++tries),
      { failed: brokeOff(), ...resumeLines },
    ),
    (err: unknown) => err === stopped,
  );
});
