/**
 * The recovery report: logged as one line (`recovery report`). A recovery is not a drill, so
 * nothing is stored beside the backup (the drill's key may write only drill-report.json).
 *
 * @module
 */
import { totals } from "../bucket/manifest.ts";
import type { RecoveryFilterStream } from "../dump/recover_filter.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { renameDatabases } from "../restore/checks.ts";
import { reportBase, type RestoreReport, type SectionsInput } from "../restore/report.ts";
import type { RestoreRun } from "../restore/run.ts";
import type { RecoveryPlan } from "./plan.ts";

/** The recovery report: the shared sections, the target, and what only a recovery has. */
export type RecoveryReport = RestoreReport<"target"> & {
  readonly recovered_at: string;
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
export interface RecoveryOutcome extends SectionsInput {
  readonly plan: RecoveryPlan;
  /** The filter of the restoring pass: what it sent, created and skipped. */
  readonly filter: RecoveryFilterStream["filter"];
  /** Roles the databases name that the target already had. */
  readonly keptRoles: readonly string[];
  readonly counted: DumpCounts | undefined;
}

/** Builds the report of a recovery that passed, and logs it (`recovery report`). */
export function recoveryReport(run: RestoreRun, outcome: RecoveryOutcome): RecoveryReport {
  const { plan, filter, counted } = outcome;
  const sum = totals(counted ?? renameDatabases(filter.counts(), plan));
  const report: RecoveryReport = {
    ...reportBase(run, outcome, "target", counted !== undefined),
    recovered_at: run.ctx.now().toISOString(),
    databases: Object.fromEntries(plan),
    roles: {
      created: filter.createdRoles,
      kept: outcome.keptRoles,
      memberships_skipped: filter.skippedMemberships,
    },
    skipped_cluster_wide: filter.skipped,
    restored: { ...sum, databases: plan.size },
    sql_bytes: { dump: filter.bytes, sent_to_psql: filter.sentBytes },
    duration_ms: Math.round(performance.now() - run.startedAt),
  };
  run.log.info("report", "recovery report", { report });
  return report;
}
