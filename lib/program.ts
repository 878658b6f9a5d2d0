/**
 * What both entrypoints share: settings, logging, signals, the bucket, the clock, and turning
 * any error into one operator line and an exit code, in one place. It knows no program's steps:
 * each program hands it its work and the figures to push.
 *
 * @module
 */
import type { ProgramSettings } from "./config.ts";
import type { ProgramSettingsTable } from "./settings.ts";
import { BUG_HINT, ConfigError, EXIT_FAILED, EXIT_OK, ToolboxError } from "./errors.ts";
import { normalizePrefix } from "./bucket/keys.ts";
import { createLog, type Log, writeStderr } from "./log.ts";
import type { Sample } from "./monitor/metrics.ts";
import { type RunReport, startReport } from "./monitor/run_report.ts";
import { baseEnv } from "./pipeline.ts";
import type { ObjectStore } from "./s3/object_store.ts";
import { retryPolicy } from "./s3/retry.ts";
import { S3Store } from "./s3/store.ts";
import { abortOnSignals } from "./signals.ts";
import { VERSION } from "./version.ts";

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
    const fields: Record<string, unknown> = {
      hint: err.hint,
      error: err.name,
      duration_ms: durationMs,
    };
    if (err instanceof ConfigError) fields.problems = err.problems;
    const cause = err.cause instanceof Error ? err.cause.message.split("\n")[0] : undefined;
    if (cause && !err.message.includes(cause)) fields.cause = cause;
    log.error("failed", err.message, fields);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  log.error("failed", `unexpected error: ${message}`, {
    hint: BUG_HINT,
    error: err instanceof Error ? err.name : typeof err,
    stack: err instanceof Error
      ? err.stack?.split("\n").slice(1, 6).map((l) => l.trim())
      : undefined,
    duration_ms: durationMs,
  });
  return EXIT_FAILED;
}

/** A program: its settings and the work it does with them. */
export interface Program<C extends ProgramSettings> {
  /** Binary name, e.g. `backup`. */
  readonly name: string;
  /** What `--help` says it does. */
  readonly summary: string;
  readonly settings: ProgramSettingsTable<C>;
  /** The Kubernetes Secret that holds its S3 keys, named in hints. */
  readonly credentialsSecret: string;
  /**
   * The Pushgateway job and check-in a run reports as (its CronJob's name), or undefined for a
   * run that reports nothing (the backup's --prune-only, a recovery).
   */
  reportAs(config: C): string | undefined;
  /**
   * The work; resolves with the figures to push when it succeeded. Throws a ToolboxError for
   * anything the operator must act on.
   */
  run(config: C, ctx: ProgramContext): Promise<readonly Sample[]>;
}

/** What a program's work gets besides its settings. */
export interface ProgramContext {
  readonly log: Log;
  readonly store: ObjectStore;
  /** Aborted on SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  /** The environment children start from. */
  readonly childEnv: Record<string, string>;
  /** The clock: every date a run records or compares comes from here. */
  readonly now: () => Date;
}

/**
 * Runs a program: parse settings (help/version), log the start with secrets redacted, send the
 * start ping, listen for signals, run, push metrics and ping the outcome, and turn any failure
 * into one line and an exit code.
 *
 * @returns the exit code
 */
export async function runProgram<C extends ProgramSettings>(
  program: Program<C>,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<number> {
  const startedAt = performance.now();
  // The one clock of the run: the report's timestamps and every date the work records.
  const now = () => new Date();
  // While set, lines are held back instead of written (the failure line, see below).
  let held: string[] | undefined;
  const log = createLog(program.name, {
    write: (line) => held ? held.push(line) : writeStderr(line),
  });
  let report: RunReport | undefined;
  try {
    const parsed = program.settings.parse(args, env);
    if (parsed.kind === "help") {
      console.log(program.settings.help(program.name, program.summary));
      return EXIT_OK;
    }
    if (parsed.kind === "version") {
      console.log(`${program.name} (backup-toolbox) ${VERSION}`);
      return EXIT_OK;
    }
    const config = parsed.config;
    log.addSecrets(program.settings.secrets(config));
    log.info("start", `${program.name} started`, {
      version: VERSION,
      settings: program.settings.describe(config),
    });
    const job = program.reportAs(config);
    if (job !== undefined) {
      report = await startReport({
        job,
        labels: { prefix: normalizePrefix(config.s3Prefix) },
        pushgatewayUrl: config.pushgatewayUrl,
        healthcheckUrl: config.healthcheckUrl,
        log,
        startedAt,
        now,
      });
    }
    using signals = abortOnSignals();
    const store = new S3Store({
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      bucket: config.s3Bucket,
      accessKey: config.accessKeyId,
      secretKey: config.secretAccessKey,
      credentialsSecret: program.credentialsSecret,
    }, {
      policy: retryPolicy(config.s3Retries, config.s3TimeoutSeconds),
      signal: signals.signal,
      log,
    });
    const samples = await program.run(config, {
      log,
      store,
      signal: signals.signal,
      childEnv: baseEnv(env),
      now,
    });
    await report?.succeeded(samples);
    return EXIT_OK;
  } catch (err) {
    if (report === undefined) return reportFailure(log, err, startedAt);
    // The failure line is the fail ping's body, and stays the run's last line: a push or ping
    // that fails logs its warning before it.
    held = [];
    const code = reportFailure(log, err, startedAt);
    const [line = ""] = held;
    held = undefined;
    await report.failed(line);
    writeStderr(line);
    return code;
  }
}
