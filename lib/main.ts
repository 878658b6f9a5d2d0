/**
 * What both entrypoints share: turning any error into one operator line and an exit code, in
 * one place.
 *
 * @module
 */
import { ConfigError, EXIT_FAILED, ToolboxError } from "./errors.ts";
import type { Log } from "./log.ts";

/**
 * Logs a failure as one line (`msg` says what failed, `hint` what to do) and picks the exit code.
 *
 * @param log the program's logger
 * @param err what was thrown
 * @param startedAt `performance.now()` at the start, for `duration_ms`
 * @returns the exit code: the error's own, or 1 for an unexpected error
 */
export function reportFailure(log: Log, err: unknown, startedAt: number): number {
  const durationMs = Math.round(performance.now() - startedAt);
  if (err instanceof ToolboxError) {
    const fields: Record<string, unknown> = { hint: err.hint, error: err.name, duration_ms: durationMs };
    if (err instanceof ConfigError) fields.problems = err.problems;
    const cause = err.cause instanceof Error ? err.cause.message.split("\n")[0] : undefined;
    if (cause && !err.message.includes(cause)) fields.cause = cause;
    log.error("failed", err.message, fields);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  log.error("failed", `unexpected error: ${message}`, {
    hint: "this is a bug in backup-toolbox; keep this log and report it",
    error: err instanceof Error ? err.name : typeof err,
    stack: err instanceof Error ? err.stack?.split("\n").slice(1, 6).map((l) => l.trim()) : undefined,
    duration_ms: durationMs,
  });
  return EXIT_FAILED;
}
