/**
 * The drill's smoke checks after the restore: the scratch server answers `SELECT 1`, and every
 * database EXPECTED_DATABASES names is there. A missing one that the backup's manifest lists as
 * skipped (it does not allow connections on the source) is named as such.
 *
 * @module
 */
import type { SkippedDatabase } from "../bucket/manifest.ts";
import { reasonOf, SmokeError } from "../errors.ts";
import { listDatabases, withDatabase } from "../pg/client.ts";
import { quoteIdent } from "../pg/ident.ts";
import type { RestoreRun } from "../restore/run.ts";

/**
 * Runs the smoke checks and logs `smoke OK`.
 *
 * @param skipped the databases the backup's manifest says it does not hold
 * @returns the scratch server's databases, without template1
 * @throws {SmokeError} `smoke FAILED: …`
 */
export async function smoke(
  run: RestoreRun,
  skipped: readonly SkippedDatabase[] = [],
): Promise<string[]> {
  const { server, config } = run;
  let names: string[];
  try {
    await withDatabase(server, "postgres", async (sql) => await sql`SELECT 1`);
    names = await listDatabases(server);
  } catch (err) {
    throw new SmokeError(
      `smoke FAILED: SELECT 1 on the scratch server failed: ${reasonOf(err)}`,
      run.wording.waitHint,
    );
  }
  const missing = config.expectedDatabases.filter((db) => !names.includes(db));
  const left = skipped.filter((d) => missing.includes(d.name));
  if (left.length > 0) {
    throw new SmokeError(
      `smoke FAILED: missing databases: ${missing.join(", ")} (${notInBackup(left)})`,
      `run ALTER DATABASE ${
        left.map((d) => quoteIdent(d.name)).join(", ")
      } ALLOW_CONNECTIONS true on the source and take a fresh backup, or take it out of EXPECTED_DATABASES (ConfigMap postgres-restore-drill-config)`,
    );
  }
  if (missing.length > 0) {
    throw new SmokeError(
      `smoke FAILED: missing databases: ${missing.join(", ")}`,
      "compare EXPECTED_DATABASES (ConfigMap postgres-restore-drill-config) with the databases on the source server; a missing one was not in the backup",
    );
  }
  const databases = names.filter((n) => n !== "template1");
  run.log.info("smoke", "smoke OK", { databases, expected: config.expectedDatabases });
  return databases;
}

/** `archive is not in the backup: it does not allow connections on the source, …` */
function notInBackup(left: readonly SkippedDatabase[]): string {
  const names = left.map((d) => d.name).join(", ");
  const reasons = [...new Set(left.map((d) => d.reason))].join("; ");
  return left.length === 1
    ? `${names} is not in the backup: it ${reasons} on the source, so pg_dumpall skipped it`
    : `${names} are not in the backup: each ${reasons} on the source, so pg_dumpall skipped them`;
}
