/**
 * The drill report: logged as one line, and stored as `drill-report.json` beside the backup a
 * real drill restored (a `--verify-only` check is only logged: only a drill marks a backup as
 * drilled). Its figures are what the drill pushes as metrics.
 *
 * @module
 */
import { withSlash } from "../bucket/keys.ts";
import { totals } from "../bucket/manifest.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { reasonOf } from "../errors.ts";
import type { DrillFigures } from "../monitor/metrics.ts";
import { reportBase, type RestoreReport, type SectionsInput } from "../restore/report.ts";
import type { OpenedBackup } from "../restore/open.ts";
import type { RestoreRun } from "../restore/run.ts";

/** The drill report: the shared sections, the scratch server, and what only a drill has. */
export type DrillReport = RestoreReport<"scratch"> & {
  /** `drill` restored the backup into the scratch server; `verify-only` compared a server with it. */
  readonly mode: "drill" | "verify-only";
  readonly drilled_at: string;
  readonly restored: { readonly rows_per_second_verified: number };
  readonly database_names: readonly string[];
};

/** What a drill (or a check) found, step by step. */
export interface DrillOutcome extends SectionsInput {
  /** The databases on the server after the restore (the drill), or in the backup (a check). */
  readonly names: readonly string[];
  /** The server's counts, when they were compared. */
  readonly counted: DumpCounts | undefined;
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
  };
  run.log.info("report", "drill report", { report });
  return report;
}

/**
 * Stores the report beside the backup as `drill-report.json`; a key that may not write it gets
 * a warning, never a failed drill.
 */
export async function storeDrillReport(
  run: RestoreRun,
  opened: OpenedBackup,
  report: DrillReport,
): Promise<void> {
  const { store } = run.ctx;
  try {
    await store.putSmall(
      opened.keys.drillReport,
      JSON.stringify(report, null, 2) + "\n",
      "application/json",
    );
  } catch (err) {
    run.log.warn("report", "could not store the drill report beside the backup", {
      key: opened.keys.drillReport,
      error: reasonOf(err),
      hint: `grant the drill's S3 key s3:PutObject on arn:aws:s3:::${store.bucket}/${
        withSlash(run.config.s3Prefix)
      }*/*/*/drill-report.json (manifests/s3-policies/postgres-restore-drill.json); prune keeps backups that passed a drill`,
    });
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
