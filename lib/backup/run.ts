/**
 * The backup, step by step: preflight → classify → clean up → stream → commit → tripwire →
 * (prune). Each step logs its line; a failure leaves nothing under a final key and removes this
 * run's staged objects.
 *
 * @module
 */
import { fileNameOf, keysForDate, runTempDir, withSlash } from "../bucket/keys.ts";
import { totals } from "../bucket/manifest.ts";
import {
  chooseRetentionClass,
  classTags,
  type KeepDays,
  keepDays,
  type RetentionClass,
} from "../bucket/retention_class.ts";
import { checkLifecycle } from "../bucket/lifecycle.ts";
import { prune } from "../bucket/prune.ts";
import { removeStaleLeftovers } from "../bucket/retention.ts";
import type { BackupConfig } from "../config.ts";
import { reasonOf, ToolboxError } from "../errors.ts";
import type { PgConnection } from "../pg/tools.ts";
import type { ProgramContext } from "../program.ts";
import { Staged } from "../s3/staged.ts";
import { graceAfter } from "../signals.ts";
import { backupManifest, commitBackup, type Staging } from "./commit.ts";
import { preflight, type SourceFacts } from "./preflight.ts";
import { recordSettings, streamDump, type Streamed } from "./stream.ts";
import { runTripwire } from "./tripwire.ts";

/** What a completed backup wrote. */
export interface BackupSummary {
  readonly key: string;
  readonly compressedBytes: number;
  readonly dumpBytes: number;
  readonly sha256: string;
  readonly rows: number;
  readonly tables: number;
  readonly retentionClass: RetentionClass;
  /** Databases of the source the backup does not hold (they do not allow connections). */
  readonly databasesSkipped: number;
  /** Tables the tripwire found shrunk since the previous backup; undefined if it could not run. */
  readonly tablesShrunk: number | undefined;
  readonly durationMs: number;
}

/** A commit under way when SIGTERM arrives may go on this long (the Job's grace is 60 s). */
const COMMIT_GRACE_MS = 30_000;

/** Days each retention class is kept: RETENTION_DAYS, KEEP_WEEKLY, KEEP_MONTHLY. */
export function backupKeepDays(config: BackupConfig): KeepDays {
  return keepDays(config.retentionDays, config.keepWeekly, config.keepMonthly);
}

/** The age recipients of a backup: AGE_RECIPIENTS and the file's, without repeats. */
export function backupRecipients(config: BackupConfig): string[] {
  return [...new Set([...config.ageRecipients, ...config.ageRecipientsFile])];
}

/** One backup run: its settings and context, what it dumps, and where it stages. */
interface BackupRun {
  readonly config: BackupConfig;
  readonly ctx: ProgramContext;
  readonly source: PgConnection;
  /** age recipients; empty for a plain backup. */
  readonly recipients: readonly string[];
  readonly staging: Staging;
  /** When it began: the backup's date (in TZ) and the staging folder's name come from it. */
  readonly startedAt: Date;
  /** `performance.now()` when it began. */
  readonly t0: number;
}

/**
 * Runs the backup (or, with `pruneOnly`, only the prune).
 *
 * @returns what was written, or undefined for --prune-only
 * @throws {ToolboxError} for any failed step, after this run's staged objects are removed
 */
export async function runBackup(
  config: BackupConfig,
  ctx: ProgramContext,
): Promise<BackupSummary | undefined> {
  if (config.pruneOnly) return await pruneOnly(config, ctx);
  const run = newRun(config, ctx);
  const facts = await preflight(ctx, run.source, config.s3Prefix, run.recipients.length > 0);
  const retentionClass = await classify(run);
  await cleanUp(run);
  const streamed = await removingStaged(run, async () => {
    const streamed = await stream(run, retentionClass);
    await commit(run, facts, streamed, retentionClass);
    return streamed;
  });
  const summary = summarize(run, streamed, {
    retentionClass,
    databasesSkipped: facts.skipped.length,
    tablesShrunk: await tripwire(run, streamed),
  });
  if (config.prune) await pruneOld(config, ctx);
  ctx.log.info("done", "backup OK", {
    key: summary.key,
    bytes: summary.compressedBytes,
    dump_bytes: summary.dumpBytes,
    sha256: summary.sha256,
    ...totals(streamed.counts),
    encrypted: run.recipients.length > 0,
    retention_class: retentionClass,
    databases_skipped: summary.databasesSkipped,
    duration_ms: summary.durationMs,
  });
  return summary;
}

function newRun(config: BackupConfig, ctx: ProgramContext): BackupRun {
  const startedAt = ctx.now();
  const recipients = backupRecipients(config);
  return {
    config,
    ctx,
    source: {
      host: config.pgHost,
      port: config.pgPort,
      user: config.pgUser,
      password: config.pgPassword,
    },
    recipients,
    staging: {
      keys: keysForDate(config.s3Prefix, startedAt, config.timeZone, recipients.length > 0),
      tempDir: runTempDir(config.s3Prefix, startedAt),
      staged: new Staged(),
    },
    startedAt,
    t0: performance.now(),
  };
}

/** --prune-only: the bucket answers, then the prune; no backup. */
async function pruneOnly(config: BackupConfig, ctx: ProgramContext): Promise<undefined> {
  await ctx.store.checkBucket(withSlash(config.s3Prefix));
  await pruneOld(config, ctx);
  return undefined;
}

/**
 * Classify: the backup's retention class, from the complete backups of its month. A listing
 * that fails does not stop the backup: it is kept as monthly, the class kept longest.
 */
async function classify(run: BackupRun): Promise<RetentionClass> {
  const { config, ctx } = run;
  try {
    const choice = await chooseRetentionClass(
      ctx.store,
      config.s3Prefix,
      run.startedAt,
      config.timeZone,
    );
    ctx.log.info("classify", "retention class chosen", {
      retention_class: choice.class,
      day: choice.day,
      iso_week: choice.isoWeek,
      earlier_in_month: choice.earlierInMonth ?? null,
      earlier_in_week: choice.earlierInWeek ?? null,
    });
    return choice.class;
  } catch (err) {
    if (!(err instanceof ToolboxError)) throw err;
    ctx.log.warn(
      "classify",
      "could not choose the retention class; keeping this backup as monthly",
      {
        error: reasonOf(err),
        hint: `the backup goes on and is kept as long as a monthly one; ${err.hint}`,
      },
    );
    return "monthly";
  }
}

/** Stream: the dump into staged segments under the run's own `.tmp/` folder. */
function stream(run: BackupRun, retentionClass: RetentionClass): Promise<Streamed> {
  const { config, ctx, source, staging } = run;
  const stagingKey = staging.tempDir + fileNameOf(staging.keys.data);
  return streamDump(
    config,
    ctx,
    source,
    stagingKey,
    staging.staged,
    run.recipients,
    classTags(retentionClass),
  );
}

/** Commit: the final keys, manifest.json last; a SIGTERM now lets it finish within a grace. */
async function commit(
  run: BackupRun,
  facts: SourceFacts,
  streamed: Streamed,
  retentionClass: RetentionClass,
) {
  const { ctx, source, staging } = run;
  const settings = await recordSettings(ctx, source, Object.keys(streamed.counts));
  const manifest = backupManifest({
    keys: staging.keys,
    versions: facts.versions,
    startedAt: run.startedAt,
    finishedAt: ctx.now(),
    streamed,
    settings,
    recipients: run.recipients,
    retentionClass,
    skipped: facts.skipped,
  });
  const store = ctx.store.withSignal(graceAfter(ctx.signal, COMMIT_GRACE_MS));
  await commitBackup(store, ctx.log, staging, streamed, manifest);
}

/**
 * Runs `work` (stream and commit) and then removes this run's staged objects, whatever
 * happened. Once the backup is committed, what cannot be tidied is a warning, not a failure.
 */
async function removingStaged<T>(run: BackupRun, work: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await removeStaged(run, false);
    throw err;
  }
  await removeStaged(run, true);
  return result;
}

/** Tripwire: tables that disappeared or shrank since the previous backup warn, never fail. */
function tripwire(run: BackupRun, streamed: Streamed): Promise<number | undefined> {
  const { config, ctx, staging } = run;
  return runTripwire(ctx.store, {
    prefix: config.s3Prefix,
    dir: staging.keys.dir,
    counts: streamed.counts,
    percent: config.shrinkWarnPercent,
  }, ctx.log);
}

function summarize(
  run: BackupRun,
  streamed: Streamed,
  more: Pick<BackupSummary, "retentionClass" | "databasesSkipped" | "tablesShrunk">,
): BackupSummary {
  const sum = totals(streamed.counts);
  return {
    key: run.staging.keys.data,
    compressedBytes: streamed.compressedBytes,
    dumpBytes: streamed.dumpBytes,
    sha256: streamed.sha256,
    rows: sum.rows,
    tables: sum.tables,
    ...more,
    durationMs: Math.round(performance.now() - run.t0),
  };
}

/**
 * Clean up before streaming: the bucket's lifecycle rules are checked (and set with
 * --apply-lifecycle), and what killed runs left is removed. Neither fails the backup.
 */
async function cleanUp(run: BackupRun): Promise<void> {
  const { config, ctx: { store, log, signal } } = run;
  await Promise.all([
    checkLifecycle(store, config.s3Prefix, backupKeepDays(config), config.applyLifecycle, log),
    removeStaleLeftovers(store, config.s3Prefix, config.staleUploadHours, run.startedAt, log),
  ]);
  signal.throwIfAborted();
}

/**
 * PRUNE / --prune-only: delete backups past their class's retention (never the newest, nor the
 * newest drilled OK).
 */
async function pruneOld(config: BackupConfig, ctx: ProgramContext): Promise<void> {
  await prune(ctx.store, {
    prefix: config.s3Prefix,
    keep: backupKeepDays(config),
    now: ctx.now(),
    timeZone: config.timeZone,
    dryRun: config.dryRun,
  }, ctx.log);
}

/**
 * Removes this run's staged objects and open uploads (bounded in time, whatever S3 does); names
 * what is left for the next run's stale cleanup.
 */
async function removeStaged(run: BackupRun, committed: boolean): Promise<void> {
  const { ctx, staging } = run;
  const left = await staging.staged.cleanUp(ctx.store, staging.tempDir);
  if (left.objects.length === 0 && left.uploads.length === 0) return;
  const why = left.error instanceof ToolboxError ? `; ${left.error.hint}` : "";
  ctx.log.warn("cleanup", "could not remove this run's staged objects", {
    temp_dir: staging.tempDir,
    objects: left.objects,
    uploads: left.uploads,
    error: left.error instanceof Error ? left.error.message : String(left.error),
    hint: `${
      committed ? "the backup is committed" : "nothing was committed"
    }; the next run removes these once they are older than STALE_UPLOAD_HOURS${why}`,
  });
}
