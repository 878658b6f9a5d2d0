/**
 * The drill report: logged as one line, and stored as `drill-report.json` beside the backup a
 * real drill restored (a `--verify-only` check is only logged: only a drill marks a backup as
 * drilled). A drill that fails once it has found its backup stores a report too, with
 * `result: "FAILED"` and its failure line, so `--list` shows the verdict and prune keeps an
 * older backup that passed. It carries the backup's retention class as its tag. Its figures
 * are what the drill pushes as metrics.
 *
 * @module
 */
import type { OlderCheck } from "../bucket/drill_record.ts";
import { keysForDataKey, withSlash } from "../bucket/keys.ts";
import { parseManifest, type SkippedDatabase, totals } from "../bucket/manifest.ts";
import { classTags, type RetentionClass } from "../bucket/retention_class.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { BUG_HINT, reasonOf, StoppedError, ToolboxError } from "../errors.ts";
import type { DrillFigures } from "../monitor/metrics.ts";
import { reportBase, type RestoreReport, type SectionsInput } from "../restore/report.ts";
import type { Located } from "../restore/locate.ts";
import type { RestoreRun } from "../restore/run.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { VERSION } from "../version.ts";

/** The drill report: the shared sections, the scratch server, and what only a drill has. */
export type DrillReport = RestoreReport<"scratch"> & {
  /** `drill` restored the backup into the scratch server; `verify-only` compared a server with it. */
  readonly mode: "drill" | "verify-only";
  readonly drilled_at: string;
  readonly restored: { readonly rows_per_second_verified: number };
  readonly database_names: readonly string[];
  /** The backup's retention class, from its manifest (absent for a backup without one). */
  readonly retention_class?: RetentionClass;
  /** The source's databases the backup does not hold, from its manifest. */
  readonly skipped_databases?: readonly SkippedDatabase[];
  /** The older backups a drill read in full and checked against their `.sha256` (CHECK_OLDER). */
  readonly older_backups?: readonly OlderCheck[];
};

/** What a drill (or a check) found, step by step. */
export interface DrillOutcome extends SectionsInput {
  /** The databases on the server after the restore (the drill), or in the backup (a check). */
  readonly names: readonly string[];
  /** The server's counts, when they were compared. */
  readonly counted: DumpCounts | undefined;
  /** The older backups a drill checked (a drill only; none for a check). */
  readonly olderBackups?: readonly OlderCheck[];
}

/** The report of a drill that failed once it had found its backup. */
export interface FailedDrillReport {
  readonly result: "FAILED";
  readonly tool_version: string;
  readonly mode: "drill";
  readonly drilled_at: string;
  readonly backup: { readonly key: string; readonly age_hours: number };
  readonly retention_class?: RetentionClass;
  /** The run's failure line: the error's class, its message and its hint. */
  readonly failure: { readonly error: string; readonly msg: string; readonly hint: string };
  readonly phases_ms: Record<string, number>;
}

/** Builds the report of a drill or a check that passed, and logs it (`drill report`). */
export function drillReport(run: RestoreRun, outcome: DrillOutcome): DrillReport {
  const { phases } = run;
  const { counted, manifest } = outcome;
  const sum = counted
    ? totals(counted)
    : { databases: outcome.names.length, tables: 0, rows: 0, large_objects: 0 };
  const verifySeconds = ((phases.compare ?? 0) + (phases.restore ?? phases.read ?? 0)) / 1000;
  const report: DrillReport = {
    ...reportBase(run, outcome, "scratch", manifest !== undefined),
    mode: run.mode === "verify-only" ? "verify-only" : "drill",
    drilled_at: run.ctx.now().toISOString(),
    restored: {
      ...sum,
      rows_per_second_verified: verifySeconds > 0 ? Math.round(sum.rows / verifySeconds) : 0,
    },
    database_names: outcome.names,
    ...(manifest?.retention_class ? { retention_class: manifest.retention_class } : {}),
    ...(manifest?.skipped_databases ? { skipped_databases: manifest.skipped_databases } : {}),
    ...(outcome.olderBackups ? { older_backups: outcome.olderBackups } : {}),
  };
  run.log.info("report", "drill report", { report });
  return report;
}

/**
 * Stores a report beside the backup as `drill-report.json`, tagged with the backup's retention
 * class; a key that may not write it gets a warning, never a failed drill.
 *
 * @param dataKey the drilled backup's data object
 */
export function storeDrillReport(
  run: RestoreRun,
  dataKey: string,
  report: DrillReport | FailedDrillReport,
): Promise<void> {
  return putReport(run, run.ctx.store, dataKey, report);
}

async function putReport(
  run: RestoreRun,
  store: ObjectStore,
  dataKey: string,
  report: DrillReport | FailedDrillReport,
): Promise<void> {
  const key = keysForDataKey(dataKey).drillReport;
  try {
    await store.putSmall(
      key,
      JSON.stringify(report, null, 2) + "\n",
      "application/json",
      report.retention_class ? classTags(report.retention_class) : {},
    );
  } catch (err) {
    run.log.warn("report", "could not store the drill report beside the backup", {
      key,
      error: reasonOf(err),
      hint:
        `grant the drill's S3 key s3:PutObject and s3:PutObjectTagging on arn:aws:s3:::${store.bucket}/${
          withSlash(run.config.s3Prefix)
        }*/*/*/drill-report.json (manifests/s3-policies/postgres-restore-drill.json); prune keeps backups that passed a drill`,
    });
  }
}

/**
 * After a drill failed on the backup it found: stores a report saying FAILED with the failure
 * line. Best effort: it never throws, and never for a run stopped by a signal (that is no
 * verdict on the backup). Uses the bounded cleanup store, which ignores the run's signal.
 *
 * @param located the backup the drill found
 * @param failure what the drill threw
 */
export async function storeFailedDrillReport(
  run: RestoreRun,
  located: Located,
  failure: unknown,
): Promise<void> {
  if (failure instanceof StoppedError || run.ctx.signal.aborted) return;
  const store = run.ctx.store.forCleanup();
  const keys = keysForDataKey(located.key);
  let retentionClass: RetentionClass | undefined;
  try {
    const text = await store.getText(keys.manifest);
    retentionClass = text === undefined ? undefined : parseManifest(text).retention_class;
  } catch {
    retentionClass = undefined; // the report goes untagged
  }
  const report: FailedDrillReport = {
    result: "FAILED",
    tool_version: VERSION,
    mode: "drill",
    drilled_at: run.ctx.now().toISOString(),
    backup: { key: located.key, age_hours: located.ageHours },
    ...(retentionClass ? { retention_class: retentionClass } : {}),
    failure: failure instanceof ToolboxError
      ? { error: failure.name, msg: failure.message, hint: failure.hint }
      : {
        error: failure instanceof Error ? failure.name : typeof failure,
        msg: `unexpected error: ${reasonOf(failure)}`,
        hint: BUG_HINT,
      },
    phases_ms: run.phases,
  };
  try {
    await putReport(run, store, located.key, report);
  } catch {
    // putReport warns itself; nothing may mask the drill's own failure.
  }
}

/**
 * What a drill report says for the metrics: the restore phase (download, sha256, zstd, psql) is
 * the recovery time; rows count as verified only when the deep check against the manifest ran.
 */
export function drillFigures(report: DrillReport): DrillFigures {
  return {
    restoreSeconds: (report.phases_ms.restore ?? 0) / 1000,
    backupAgeSeconds: Math.round(report.backup.age_hours * 3600),
    verifiedRows: report.deep_check ? report.restored.rows : 0,
  };
}
