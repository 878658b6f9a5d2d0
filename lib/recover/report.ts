/**
 * The recovery report: logged as one line (`recovery report`). A recovery is not a drill, so
 * nothing is stored beside the backup (the drill's key may write only drill-report.json).
 *
 * @module
 */
import { totals } from "../bucket/manifest.ts";
import type { ServerVersion } from "../pg/client.ts";
import type { OpenedBackup } from "../restore/open.ts";
import { reportBase, type RestoreReport } from "../restore/report.ts";
import type { RestoreRun } from "../restore/run.ts";
import type { RecoveryPlan } from "./plan.ts";
import type { Restored, Verified } from "./reader.ts";

/** The recovery report: the shared sections, the target, and what only a recovery has. */
export type RecoveryReport = RestoreReport<"target"> & {
  readonly recovered_at: string;
  /**
   * How the backup was read: `whole` (its sha256 checked), or `sections` (only the globals and
   * the chosen databases, each section's sha256 checked against the index in manifest.json).
   */
  readonly read: "whole" | "sections";
  /** Backup name → name on the target. */
  readonly databases: Readonly<Record<string, string>>;
  readonly roles: {
    readonly created: readonly string[];
    readonly kept: readonly string[];
    readonly memberships_skipped: readonly string[];
  };
  /** Cluster-wide statements of the dump that were not sent, by their first words. */
  readonly skipped_cluster_wide: Readonly<Record<string, number>>;
  /** Uncompressed dump bytes read, and of them the bytes sent to psql. */
  readonly sql_bytes: { readonly dump: number; readonly sent_to_psql: number };
  /** From the start of the recovery to the end of its checks: the RTO. */
  readonly duration_ms: number;
};

/** What a recovery did, step by step. */
export interface RecoveryOutcome {
  readonly plan: RecoveryPlan;
  readonly opened: OpenedBackup;
  readonly version: ServerVersion;
  readonly verified: Verified;
  readonly restored: Restored;
}

/** Builds the report of a recovery that passed, and logs it (`recovery report`). */
export function recoveryReport(run: RestoreRun, outcome: RecoveryOutcome): RecoveryReport {
  const { plan, restored, verified, opened } = outcome;
  const sum = totals(restored.counted ?? restored.dumpCounts);
  const report: RecoveryReport = {
    ...reportBase(
      run,
      {
        opened,
        read: { bytes: restored.bytes, sha256: verified.sha256, decrypted: restored.decrypted },
        manifest: opened.manifest,
        version: outcome.version,
        values: restored.values,
      },
      "target",
      restored.counted !== undefined,
    ),
    recovered_at: run.ctx.now().toISOString(),
    read: restored.read,
    databases: Object.fromEntries(plan),
    roles: {
      created: restored.createdRoles,
      kept: verified.keptRoles,
      memberships_skipped: restored.skippedMemberships,
    },
    skipped_cluster_wide: restored.skipped,
    restored: { ...sum, databases: plan.size },
    sql_bytes: { dump: restored.sqlBytes, sent_to_psql: restored.sentBytes },
    duration_ms: Math.round(performance.now() - run.startedAt),
  };
  run.log.info("report", "recovery report", { report });
  return report;
}
