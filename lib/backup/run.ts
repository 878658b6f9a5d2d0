/**
 * The backup, step by step: preflight → clean up → stream → commit → tripwire → (prune). Each
 * step logs its line; a failure leaves nothing under a final key and removes this run's staged
 * objects.
 *
 * @module
 */
import { fileNameOf, keysForDate, runTempDir, withSlash } from "../bucket/keys.ts";
import { totals } from "../bucket/manifest.ts";
import { checkLifecycle, prune, removeStaleLeftovers } from "../bucket/retention.ts";
import type { BackupConfig } from "../config.ts";
import { ToolboxError } from "../errors.ts";
import type { PgConnection } from "../pg/tools.ts";
import type { ProgramContext } from "../program.ts";
import { Staged } from "../s3/staged.ts";
import { graceAfter } from "../signals.ts";
import { backupManifest, commitBackup, type Staging } from "./commit.ts";
import { preflight } from "./preflight.ts";
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
  /** Tables the tripwire found shrunk since the previous backup; undefined if it could not run. */
  readonly tablesShrunk: number | undefined;
  readonly durationMs: number;
}

/** A commit under way when SIGTERM arrives may go on this long (the Job's grace is 60 s). */
const COMMIT_GRACE_MS = 30_000;

/** The age recipients of a backup: AGE_RECIPIENTS and the file's, without repeats. */
export function backupRecipients(config: BackupConfig): string[] {
  return [...new Set([...config.ageRecipients, ...config.ageRecipientsFile])];
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
  if (config.pruneOnly) {
    await ctx.store.checkBucket(withSlash(config.s3Prefix));
    await pruneOld(config, ctx);
    return undefined;
  }
  const t0 = performance.now();
  const startedAt = ctx.now();
  const source = sourceOf(config);
  const recipients = backupRecipients(config);
  const staging: Staging = {
    keys: keysForDate(config.s3Prefix, startedAt, config.timeZone, recipients.length > 0),
    tempDir: runTempDir(config.s3Prefix, startedAt),
    staged: new Staged(),
  };

  const versions = await preflight(ctx, source, config.s3Prefix, recipients.length > 0);
  await cleanUp(config, ctx, startedAt);
  let streamed: Streamed;
  try {
    streamed = await streamDump(
      config,
      ctx,
      source,
      staging.tempDir + fileNameOf(staging.keys.data),
      staging.staged,
      recipients,
    );
    const settings = await recordSettings(ctx, source, Object.keys(streamed.counts));
    const manifest = backupManifest({
      keys: staging.keys,
      versions,
      startedAt,
      finishedAt: ctx.now(),
      streamed,
      settings,
      recipients,
    });
    // The data is uploaded: a SIGTERM now lets the commit finish, within the grace period.
    const store = ctx.store.withSignal(graceAfter(ctx.signal, COMMIT_GRACE_MS));
    await commitBackup(store, ctx.log, staging, streamed, manifest);
  } catch (err) {
    await removeStaged(ctx, staging, false);
    throw err;
  }
  // The backup is committed: what cannot be tidied now is a warning, not a failure.
  await removeStaged(ctx, staging, true);
  const tablesShrunk = await runTripwire(ctx.store, {
    prefix: config.s3Prefix,
    dir: staging.keys.dir,
    counts: streamed.counts,
    percent: config.shrinkWarnPercent,
  }, ctx.log);
  const sum = totals(streamed.counts);
  const summary: BackupSummary = {
    key: staging.keys.data,
    compressedBytes: streamed.compressedBytes,
    dumpBytes: streamed.dumpBytes,
    sha256: streamed.sha256,
    rows: sum.rows,
    tables: sum.tables,
    tablesShrunk,
    durationMs: Math.round(performance.now() - t0),
  };
  if (config.prune) await pruneOld(config, ctx);
  ctx.log.info("done", "backup OK", {
    key: summary.key,
    bytes: summary.compressedBytes,
    dump_bytes: summary.dumpBytes,
    sha256: summary.sha256,
    databases: sum.databases,
    tables: sum.tables,
    rows: sum.rows,
    large_objects: sum.large_objects,
    encrypted: recipients.length > 0,
    duration_ms: summary.durationMs,
  });
  return summary;
}

function sourceOf(config: BackupConfig): PgConnection {
  return {
    host: config.pgHost,
    port: config.pgPort,
    user: config.pgUser,
    password: config.pgPassword,
  };
}

/**
 * Clean up before streaming: the bucket's lifecycle rule is checked (and set with
 * --apply-lifecycle), and what killed runs left is removed. Neither fails the backup.
 */
async function cleanUp(config: BackupConfig, ctx: ProgramContext, startedAt: Date): Promise<void> {
  const { store, log } = ctx;
  await Promise.all([
    checkLifecycle(store, config.s3Prefix, config.retentionDays, config.applyLifecycle, log),
    removeStaleLeftovers(store, config.s3Prefix, config.staleUploadHours, startedAt, log),
  ]);
  ctx.signal.throwIfAborted();
}

/** PRUNE / --prune-only: delete backups past retention (never the newest, nor the newest drilled). */
async function pruneOld(config: BackupConfig, ctx: ProgramContext): Promise<void> {
  await prune(
    ctx.store,
    config.s3Prefix,
    config.retentionDays,
    ctx.now(),
    config.dryRun,
    ctx.log,
  );
}

/**
 * Removes this run's staged objects and open uploads (bounded in time, whatever S3 does); names
 * what is left for the next run's stale cleanup.
 */
async function removeStaged(
  ctx: ProgramContext,
  staging: Staging,
  committed: boolean,
): Promise<void> {
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
