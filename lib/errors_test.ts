import assert from "node:assert/strict";
import {
  ChecksumMismatchError,
  ConfigError,
  EXIT_CONFIG,
  EXIT_FAILED,
  EXIT_OK,
  PipelineError,
  PreflightError,
  RestoreError,
  signalNumber,
  SmokeError,
  StaleBackupError,
  StoppedError,
  StoreError,
  ToolboxError,
} from "./errors.ts";

Deno.test("exit codes are 0 OK, 1 a step failed, 2 bad settings", () => {
  assert.equal(EXIT_OK, 0);
  assert.equal(EXIT_FAILED, 1);
  assert.equal(EXIT_CONFIG, 2);
});

Deno.test("ToolboxError keeps message, hint, exit code, cause and its class name", () => {
  const cause = new Error("ECONNREFUSED");
  const err = new PreflightError("cannot reach S3", "check S3_ENDPOINT", undefined, { cause });
  assert.ok(err instanceof ToolboxError);
  assert.ok(err instanceof Error);
  assert.equal(err.name, "PreflightError");
  assert.equal(err.message, "cannot reach S3");
  assert.equal(err.hint, "check S3_ENDPOINT");
  assert.equal(err.exitCode, 1);
  assert.equal(err.cause, cause);
  for (const E of [ChecksumMismatchError, StaleBackupError, RestoreError, SmokeError]) {
    const e = new E("m", "h");
    assert.equal(e.name, E.name);
    assert.equal(e.exitCode, 1);
  }
});

Deno.test("ConfigError joins every problem and exits 2", () => {
  const err = new ConfigError(["missing settings: PGHOST", 'invalid PGPORT "x": expected']);
  assert.equal(err.name, "ConfigError");
  assert.equal(err.exitCode, 2);
  assert.equal(err.message, 'missing settings: PGHOST; invalid PGPORT "x": expected');
  assert.deepEqual(err.problems, ["missing settings: PGHOST", 'invalid PGPORT "x": expected']);
  assert.equal(err.hint, "set them in the environment or as flags; see --help");
});

Deno.test("PipelineError and StoreError keep the fields callers branch on", () => {
  const pipe = new PipelineError(
    "pg_dumpall",
    1,
    "FATAL: password authentication failed",
    "m",
    "h",
  );
  assert.equal(pipe.program, "pg_dumpall");
  assert.equal(pipe.code, 1);
  assert.equal(pipe.lastStderrLine, "FATAL: password authentication failed");
  assert.equal(pipe.exitCode, 1);
  const store = new StoreError("cannot list", "check S3_BUCKET", "NoSuchBucket");
  assert.equal(store.code, "NoSuchBucket");
  assert.equal(store.exitCode, 1);
});

Deno.test("StoppedError exits 143 for SIGTERM and 130 for SIGINT", () => {
  const term = new StoppedError("SIGTERM");
  assert.equal(term.exitCode, 143);
  assert.equal(term.signal, "SIGTERM");
  assert.equal(term.message, "stopped by SIGTERM");
  assert.equal(term.name, "StoppedError");
  assert.equal(new StoppedError("SIGINT").exitCode, 130);
});

Deno.test("signalNumber() knows the common signals and returns 0 otherwise", () => {
  assert.equal(signalNumber("SIGHUP"), 1);
  assert.equal(signalNumber("SIGINT"), 2);
  assert.equal(signalNumber("SIGKILL"), 9);
  assert.equal(signalNumber("SIGTERM"), 15);
  assert.equal(signalNumber("SIGUSR1"), 0);
});
