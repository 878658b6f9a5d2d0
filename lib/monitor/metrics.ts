/**
 * The metrics both programs push after each run, the Prometheus way for batch jobs: gauges in
 * one Pushgateway group per program (grouping key `job` = the CronJob's name, plus `prefix`).
 * The names are a contract: alert rules (manifests/monitoring/pushed-metrics/) and dashboards
 * use them.
 *
 * @module
 */
/** One gauge sample: a metric name, its labels and its value. */
export interface Sample {
  readonly name: MetricName;
  readonly value: number;
  readonly labels?: Readonly<Record<string, string>>;
}

/** Every metric the programs push, with its HELP text. */
export const METRICS = {
  backup_toolbox_last_success_timestamp_seconds:
    "Unix time at which the last successful run ended.",
  backup_toolbox_last_failure_timestamp_seconds: "Unix time at which the last failed run ended.",
  backup_toolbox_duration_seconds: "How long the last run took, successful or not.",
  backup_toolbox_bytes:
    "Size of the newest backup: kind=compressed is the object in S3, kind=dump is pg_dumpall's output.",
  backup_toolbox_rows: "Rows in the newest backup, counted from the dump stream.",
  backup_toolbox_tables: "Tables in the newest backup.",
  backup_toolbox_tables_shrunk:
    "Tables of the previous backup that disappeared or lost more than SHRINK_WARN_PERCENT of their rows; NaN when the comparison could not run.",
  backup_toolbox_databases_skipped:
    "Databases of the source the newest backup does not hold: pg_dumpall skips every database that does not allow connections.",
  backup_toolbox_restore_seconds:
    "How long the drill took to download, verify and restore the backup (the recovery time).",
  backup_toolbox_backup_age_seconds: "Age of the backup the drill restored, when it started.",
  backup_toolbox_verified_rows:
    "Rows the drill counted in the restore and found equal to the manifest.",
} as const;

/** A name from {@linkcode METRICS}. */
export type MetricName = keyof typeof METRICS;

/** The Pushgateway `job` of each program: the names of their CronJobs. */
export const PUSH_JOBS = {
  backup: "postgres-backup",
  drill: "postgres-restore-drill",
} as const;

/** What a successful backup reports. */
export interface BackupFigures {
  readonly compressedBytes: number;
  readonly dumpBytes: number;
  readonly rows: number;
  readonly tables: number;
  /** Tables that shrank; undefined when the comparison could not run. */
  readonly tablesShrunk: number | undefined;
  /** Databases the backup does not hold (they do not allow connections). */
  readonly databasesSkipped: number;
}

/** What a successful drill reports. */
export interface DrillFigures {
  readonly restoreSeconds: number;
  readonly backupAgeSeconds: number;
  readonly verifiedRows: number;
}

/**
 * The samples of a successful backup (besides the outcome's).
 *
 * @example
 * ```ts
 * backupSamples({
 *   compressedBytes: 10,
 *   dumpBytes: 40,
 *   rows: 3,
 *   tables: 1,
 *   tablesShrunk: 0,
 *   databasesSkipped: 0,
 * });
 * ```
 */
export function backupSamples(figures: BackupFigures): Sample[] {
  return [
    {
      name: "backup_toolbox_bytes",
      labels: { kind: "compressed" },
      value: figures.compressedBytes,
    },
    { name: "backup_toolbox_bytes", labels: { kind: "dump" }, value: figures.dumpBytes },
    { name: "backup_toolbox_rows", value: figures.rows },
    { name: "backup_toolbox_tables", value: figures.tables },
    { name: "backup_toolbox_tables_shrunk", value: figures.tablesShrunk ?? NaN },
    { name: "backup_toolbox_databases_skipped", value: figures.databasesSkipped },
  ];
}

/** The samples of a successful drill (besides the outcome's). */
export function drillSamples(figures: DrillFigures): Sample[] {
  return [
    { name: "backup_toolbox_restore_seconds", value: figures.restoreSeconds },
    { name: "backup_toolbox_backup_age_seconds", value: figures.backupAgeSeconds },
    { name: "backup_toolbox_verified_rows", value: figures.verifiedRows },
  ];
}

/**
 * The samples every run pushes: when it ended, by outcome, and how long it took. A failure
 * carries only these, so pushing it leaves the last success's samples in place.
 *
 * @param outcome how the run ended
 * @param endedAt when it ended
 * @param durationSeconds how long it ran
 */
export function outcomeSamples(
  outcome: "success" | "failure",
  endedAt: Date,
  durationSeconds: number,
): Sample[] {
  return [
    {
      name: outcome === "success"
        ? "backup_toolbox_last_success_timestamp_seconds"
        : "backup_toolbox_last_failure_timestamp_seconds",
      value: endedAt.getTime() / 1000,
    },
    { name: "backup_toolbox_duration_seconds", value: durationSeconds },
  ];
}
