/**
 * `backup`: the daily job. pg_dumpall → zstd → sha256 → S3, committed by server-side copy to
 * `<prefix>/YYYY/MM/DD/full.sql.zst` with `.sha256` and `manifest.json`.
 *
 * Wiring only: settings → log → backup steps → exit code.
 *
 * @module
 */
import { runBackup } from "./lib/backup/run.ts";
import { BACKUP_SETTINGS } from "./lib/config.ts";
import { settingsTable } from "./lib/settings.ts";
import { backupSamples, PUSH_JOBS } from "./lib/monitor/metrics.ts";
import { runProgram } from "./lib/program.ts";

const SUMMARY = `Streams pg_dumpall through zstd to S3 as <prefix>/YYYY/MM/DD/full.sql.zst, with
full.sql.zst.sha256 (for sha256sum -c) and manifest.json (row counts, written last).
With AGE_RECIPIENTS it also encrypts: pg_dumpall | zstd | age, stored as full.sql.zst.age.
Nothing appears under a final key unless every step succeeded.
Each backup has a retention class: monthly (the first of its month in TZ), weekly (the first
of its ISO week), or daily; manifest.json records it as retention_class, and every object
carries the tag retention-class=<class>. Dailies are kept RETENTION_DAYS, weeklies
KEEP_WEEKLY weeks, monthlies KEEP_MONTHLY months: by the bucket's lifecycle rules (checked
each run, set with --apply-lifecycle), or by PRUNE.
A database that does not allow connections is not in the backup (pg_dumpall skips it): each
one is logged as "database not in the backup" and listed in manifest.json (skipped_databases).
With --prune-only it only deletes backups past their class's retention (see --dry-run).`;

/**
 * Runs the backup program.
 *
 * @param args command-line arguments
 * @param env the environment
 * @returns the exit code
 */
export function main(args: string[], env: Record<string, string>): Promise<number> {
  return runProgram(
    {
      name: "backup",
      summary: SUMMARY,
      settings: settingsTable(BACKUP_SETTINGS),
      credentialsSecret: "postgres-backup-s3-credentials",
      // --prune-only is no backup: no metrics, no check-in.
      reportAs: (config) => config.pruneOnly ? undefined : PUSH_JOBS.backup,
      run: async (config, ctx) => {
        const summary = await runBackup(config, ctx);
        return summary ? backupSamples(summary) : [];
      },
    },
    args,
    env,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
