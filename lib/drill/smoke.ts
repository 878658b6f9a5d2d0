/**
 * The drill's smoke checks after the restore: the scratch server answers `SELECT 1`, and every
 * database EXPECTED_DATABASES names is there.
 *
 * @module
 */
import { reasonOf, SmokeError } from "../errors.ts";
import { listDatabases, withDatabase } from "../pg/client.ts";
import type { RestoreRun } from "../restore/run.ts";

/**
 * Runs the smoke checks and logs `smoke OK`.
 *
 * @returns the scratch server's databases, without template1
 * @throws {SmokeError} `smoke FAILED: …`
 */
export async function smoke(run: RestoreRun): Promise<string[]> {
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
