/**
 * Typed errors for backup-toolbox. Every error an operator sees says what failed (the message)
 * and what to do (the hint). Entrypoints turn them into one log line and an exit code.
 *
 * @module
 */

/** Exit code for a run that completed. */
export const EXIT_OK = 0;
/** Exit code for a run in which a step failed. */
export const EXIT_FAILED = 1;
/** Exit code for a run refused because of bad settings. */
export const EXIT_CONFIG = 2;

/** The hint of a failure nobody foresaw: what to do is to report it. */
export const BUG_HINT = "this is a bug in backup-toolbox; keep this log and report it";

/**
 * A short reason from any error: the first line of its message (a connection or query error
 * from npm:postgres, an S3 error), or the value itself as text.
 *
 * @example
 * ```ts
 * reasonOf(new Error('password authentication failed for user "x"\nDETAIL: ...'));
 * // 'password authentication failed for user "x"'
 * ```
 */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.name;
  return String(err);
}

/** A failure the person on call can act on: what failed, then what to do. */
export class ToolboxError extends Error {
  /** One imperative sentence that names a setting, a command or a secret. */
  readonly hint: string;
  /** The process exit code this failure maps to. */
  readonly exitCode: number;

  /**
   * @param message lowercase, names the action and the object, no trailing period
   * @param hint what to do about it
   * @param exitCode process exit code
   * @param options `{ cause }` of the underlying error
   */
  constructor(message: string, hint: string, exitCode = EXIT_FAILED, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

/** Missing or invalid settings; lists every problem at once. Exit code 2. */
export class ConfigError extends ToolboxError {
  /** Every problem found, one entry each. */
  readonly problems: readonly string[];

  /** @param problems every problem found */
  constructor(
    problems: readonly string[],
    hint = "set them in the environment or as flags; see --help",
  ) {
    super(problems.join("; "), hint, EXIT_CONFIG);
    this.problems = problems;
  }
}

/** A check before any upload or restore failed (tools, versions, reachability). */
export class PreflightError extends ToolboxError {}

/** A child process (pg_dumpall, zstd, psql) failed. */
export class PipelineError extends ToolboxError {
  /** The child's program name. */
  readonly program: string;
  /** The child's exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The last non-empty line the child wrote to stderr. */
  readonly lastStderrLine: string;

  /**
   * @param program the child's program name
   * @param code its exit code (null for a signal)
   * @param lastStderrLine its last stderr line
   * @param message what failed
   * @param hint what to do
   */
  constructor(
    program: string,
    code: number | null,
    lastStderrLine: string,
    message: string,
    hint: string,
  ) {
    super(message, hint);
    this.program = program;
    this.code = code;
    this.lastStderrLine = lastStderrLine;
  }
}

/** An S3 request failed. `code` is the S3 error code when the server sent one. */
export class StoreError extends ToolboxError {
  /** The S3 error code (`NoSuchBucket`, `SignatureDoesNotMatch`, ...) or a network code. */
  readonly code: string;

  /**
   * @param message what failed
   * @param hint what to do
   * @param code S3 or network error code
   * @param options `{ cause }`
   */
  constructor(message: string, hint: string, code: string, options?: ErrorOptions) {
    super(message, hint, EXIT_FAILED, options);
    this.code = code;
  }
}

/** The backup's bytes differ from what the backup recorded: their sha256, or their size. */
export class ChecksumMismatchError extends ToolboxError {}

/** There is no backup, or the newest one is older than allowed. */
export class StaleBackupError extends ToolboxError {}

/** A file of the chosen backup cannot be read: it does not exist, or it is not what it should be. */
export class BackupUnreadableError extends ToolboxError {}

/** Restoring the dump into the scratch server failed. */
export class RestoreError extends ToolboxError {}

/** The restored data did not pass the smoke or deep checks. */
export class SmokeError extends ToolboxError {}

/** The run was stopped by a signal; exit code 128 + the signal's number. */
export class StoppedError extends ToolboxError {
  /** @param signal the signal's name, e.g. `SIGTERM` */
  constructor(readonly signal: string) {
    super(
      `stopped by ${signal}`,
      "nothing was committed; run the job again when the node or deadline allows",
      128 + signalNumber(signal),
    );
  }
}

/** Returns the POSIX number of a signal name (SIGTERM → 15), 0 when unknown. */
export function signalNumber(signal: string): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
