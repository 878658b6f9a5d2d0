/**
 * `restore-drill`: the weekly job. Finds the newest backup, verifies its sha256, restores it
 * into the scratch PostgreSQL on localhost, and proves every row came back.
 *
 * Wiring only: settings → log → drill steps → exit code.
 *
 * @module
 */
import { DRILL_SETTINGS } from "./lib/config.ts";
import { runDrill } from "./lib/drill_steps.ts";
import { runProgram } from "./lib/main.ts";
import { drillFigures, drillSamples, PUSH_JOBS } from "./lib/monitor/metrics.ts";

const SUMMARY = `Restores the newest backup (or --key) into a scratch PostgreSQL on localhost:
find -> sha256 check -> [age -d] | zstd -dc | psql -v ON_ERROR_STOP=1 -> smoke checks -> row counts
compared with the backup's manifest.json -> every value compared -> drill report (logged, and
stored as drill-report.json beside the backup). A full.sql.zst.age backup needs AGE_IDENTITY_FILE.
Log markers: "sha256 OK", "restore OK", "smoke OK", "drill OK".
With --verify-only it restores nothing: it reads the backup and compares the server SCRATCH_*
names with it (databases, tables, rows, values); the last line says "verify OK".`;

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
      settings: DRILL_SETTINGS,
      credentialsSecret: "postgres-restore-drill-s3-credentials",
      // --verify-only checks a server by hand: it is no drill, so it reports nothing.
      reportAs: (config) => config.verifyOnly ? undefined : PUSH_JOBS.drill,
      run: async (config, ctx) => {
        const report = await runDrill(config, ctx);
        ctx.log.info("done", config.verifyOnly ? "verify OK" : "drill OK", {
          key: report.backup.key,
          rows: report.restored.rows,
          duration_ms: Object.values(report.phases_ms).reduce((a, b) => a + b, 0),
        });
        return drillSamples(drillFigures(report));
      },
    },
    args,
    env,
  );
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
