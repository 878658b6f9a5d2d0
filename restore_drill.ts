/**
 * `restore-drill`: the weekly job. Finds the newest backup, verifies its sha256, restores it
 * into the scratch PostgreSQL on localhost, and proves every row came back. With `--recover`,
 * the same program restores chosen databases into a real (possibly live) server.
 *
 * Wiring only: settings → log → drill steps → exit code.
 *
 * @module
 */
import { DRILL_SETTINGS } from "./lib/config.ts";
import { settingsTable } from "./lib/settings.ts";
import { drillFigures } from "./lib/drill/report.ts";
import { isListRun, runList } from "./lib/drill/list.ts";
import { runDrill } from "./lib/drill/run.ts";
import { runVerifyOnly } from "./lib/drill/verify_only.ts";
import { drillSamples, PUSH_JOBS } from "./lib/monitor/metrics.ts";
import { runProgram } from "./lib/program.ts";
import { recoveryPlan } from "./lib/recover/plan.ts";
import { runRecovery } from "./lib/recover/run.ts";

const SUMMARY = `Drill (the default): restores the newest backup (or --key) into a scratch
PostgreSQL on localhost: find -> sha256 check -> [age -d] | zstd -dc | psql -v ON_ERROR_STOP=1
-> smoke checks -> row counts compared with the backup's manifest.json -> every value compared
-> drill report (logged, and stored as drill-report.json beside the backup; a drill that
fails once it found its backup stores one that says FAILED). The same read checks every
section of the index in manifest.json ("section index OK"). Then it reads CHECK_OLDER (1)
older backups in full and checks their sha256, those checked longest ago first, so successive
drills cover every retained backup; a mismatch fails the drill, naming that backup. A
full.sql.zst.age backup needs AGE_IDENTITY_FILE. Log markers: "sha256 OK", "restore OK",
"smoke OK", "older backup sha256 OK", "drill OK".
With --verify-only it restores nothing: it reads the backup and compares the server SCRATCH_*
names with it (databases, tables, rows, values); the last line says "verify OK".

Recover (--recover --databases a,b [--rename a=a_restored]): restores only the chosen
databases into the server SCRATCH_PG* names, which may be live. It refuses, changing nothing,
when a name exists there or a database is not in the backup; checks the sha256 before anything
reaches the server; creates only the missing roles the databases need and leaves every other
database, role and setting as it is; checks rows and values under the new names; and drops
what it created if it fails. A backup with a section index (manifest.json "sections") is read
by section: only the globals and the chosen databases, by ranged GETs, each section's sha256
checked first; --jobs N restores up to N of them at once. Log markers: "sha256 OK",
"restore OK", "recovery OK".

List (--list [--json]): restores nothing and needs no scratch server, only the S3 settings
(the drill's read-only key is enough). Prints to stdout every backup under the prefix, newest
first: its date and retention class, compressed size, databases, tables and rows, plain or
encrypted, the last drill's verdict (drill-report.json: OK, FAILED or -), when a drill last
found its bytes whole, its age and the databases it left out; then a line with how many
backups, the newest, the oldest and their total size. --json prints a JSON array instead.`;

/**
 * Runs the restore drill.
 *
 * @param args command-line arguments
 * @param env the environment
 * @returns the exit code
 */
export function main(args: string[], env: Record<string, string>): Promise<number> {
  return runProgram(
    {
      name: "restore-drill",
      summary: SUMMARY,
      settings: settingsTable(DRILL_SETTINGS),
      credentialsSecret: "postgres-restore-drill-s3-credentials",
      // A recovery, --verify-only or --list is no drill: it pushes no drill metrics, sends no
      // check-in.
      reportAs: (config) =>
        config.recover || config.verifyOnly || config.list || config.listJson
          ? undefined
          : PUSH_JOBS.drill,
      run: async (config, ctx) => {
        if (isListRun(config)) {
          await runList(config, ctx);
          return [];
        }
        const plan = recoveryPlan(
          config.recover,
          config.restoreDatabases,
          config.restoreRename,
          config.verifyOnly,
        );
        if (plan) {
          await runRecovery(config, plan, ctx);
          return [];
        }
        if (config.verifyOnly) {
          await runVerifyOnly(config, ctx);
          return [];
        }
        return drillSamples(drillFigures(await runDrill(config, ctx)));
      },
    },
    args,
    env,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
