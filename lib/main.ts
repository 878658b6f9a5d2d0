/**
 * What both entrypoints share: settings, logging, signals, the bucket, and turning any error
 * into one operator line and an exit code, in one place.
 *
 * @module
 */
import {
  describeSettings,
  helpText,
  parseSettings,
  secretValues,
  type SettingsOf,
  type SettingsTable,
} from "./config.ts";
import { ConfigError, EXIT_FAILED, EXIT_OK, ToolboxError } from "./errors.ts";
import { normalizePrefix } from "./bucket/keys.ts";
import { createLog, type Log, writeStderr } from "./log.ts";
import type { Sample } from "./monitor/metrics.ts";
import { type RunReport, startReport } from "./monitor/run_report.ts";
import { baseEnv } from "./pipeline.ts";
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
    hint: "this is a bug in backup-toolbox; keep this log and report it",
    error: err instanceof Error ? err.name : typeof err,
    stack: err instanceof Error
      ? err.stack?.split("\n").slice(1, 6).map((l) => l.trim())
      : undefined,
    duration_ms: durationMs,
  });
  return EXIT_FAILED;
}

/** A program: its settings table and the work it does with them. */
export interface Program<T extends SettingsTable> {
  /** Binary name, e.g. `backup`. */
  readonly name: string;
  /** What `--help` says it does. */
  readonly summary: string;
  readonly settings: T;
  /** The Kubernetes Secret that holds its S3 keys, named in hints. */
  readonly credentialsSecret: string;
  /**
   * The Pushgateway job and check-in a run reports as (its CronJob's name), or undefined for a
   * run that reports nothing (the backup's --prune-only).
   */
  reportAs(config: SettingsOf<T>): string | undefined;
  /**
   * The work; resolves with the figures to push when it succeeded. Throws a ToolboxError for
   * anything the operator must act on.
   */
  run(config: SettingsOf<T>, ctx: ProgramContext): Promise<readonly Sample[]>;
}

/** What a program's work gets besides its settings. */
export interface ProgramContext {
  readonly log: Log;
  readonly store: S3Store;
  /** Aborted on SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  /** The environment children start from. */
  readonly childEnv: Record<string, string>;
}

/** Settings every program has: where the bucket is and how to sign. */
type WithStore = {
  s3Endpoint: string;
  s3Region: string;
  s3Bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  s3TimeoutSeconds: number;
  s3Retries: number;
};

/** Settings every program has for telling someone about a run. */
type WithNotify = {
  s3Prefix: string;
  pushgatewayUrl: string | undefined;
  healthcheckUrl: string | undefined;
};

/**
 * Runs a program: parse settings (help/version), log the start with secrets redacted, send the
 * start ping, listen for signals, run, push metrics and ping the outcome, and turn any failure
 * into one line and an exit code.
 *
 * @returns the exit code
 */
export async function runProgram<T extends SettingsTable>(
  program: Program<T>,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<number> {
  const startedAt = performance.now();
  // While set, lines are held back instead of written (the failure line, see below).
  let held: string[] | undefined;
  const log = createLog(program.name, {
    write: (line) => held ? held.push(line) : writeStderr(line),
  });
  let report: RunReport | undefined;
  try {
    const parsed = parseSettings(program.settings, args, env);
    if (parsed.kind === "help") {
      console.log(helpText(program.name, program.summary, program.settings));
      return EXIT_OK;
    }
    if (parsed.kind === "version") {
      console.log(`${program.name} (backup-toolbox) ${VERSION}`);
      return EXIT_OK;
    }
    const config = parsed.config;
    log.addSecrets(secretValues(program.settings, config));
    log.info("start", `${program.name} started`, {
      version: VERSION,
      settings: describeSettings(program.settings, config),
    });
    const job = program.reportAs(config);
    if (job !== undefined) {
      const notify = config as unknown as WithNotify;
      report = await startReport({
        job,
        labels: { prefix: normalizePrefix(notify.s3Prefix) },
        pushgatewayUrl: notify.pushgatewayUrl,
        healthcheckUrl: notify.healthcheckUrl,
        log,
        startedAt,
      });
    }
    const s3 = config as unknown as WithStore;
    using signals = abortOnSignals();
    const store = new S3Store({
      endpoint: s3.s3Endpoint,
      region: s3.s3Region,
      bucket: s3.s3Bucket,
      accessKey: s3.accessKeyId,
      secretKey: s3.secretAccessKey,
      credentialsSecret: program.credentialsSecret,
    }, {
      policy: retryPolicy(s3.s3Retries, s3.s3TimeoutSeconds),
      signal: signals.signal,
      log,
    });
    const samples = await program.run(config, {
      log,
      store,
      signal: signals.signal,
      childEnv: baseEnv(env),
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
