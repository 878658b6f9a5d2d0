/**
 * A recovery's refusals, each before anything changes on the target: a name the target already
 * has, or a database the backup does not hold.
 *
 * @module
 */
import { PreflightError } from "../errors.ts";
import type { PgConnection } from "../pg/tools.ts";
import type { RecoveryPlan } from "./plan.ts";
import type { TargetState } from "./target.ts";

/**
 * Refuses a plan that would create a database the target already has.
 *
 * @throws {PreflightError} naming the database and the --rename that avoids it
 */
export function refuseExisting(plan: RecoveryPlan, target: PgConnection, state: TargetState): void {
  const clash = [...plan.values()].filter((name) => state.databases.has(name));
  if (clash.length === 0) return;
  const first = clash[0]!;
  const from = [...plan].find(([, to]) => to === first)![0];
  throw new PreflightError(
    `refusing to recover: database ${clash.map((n) => JSON.stringify(n)).join(", ")} already ${
      clash.length === 1 ? "exists" : "exist"
    } on the target ${target.host}:${target.port}; nothing was changed`,
    `recover under a new name with --rename ${from}=${from}_restored (RESTORE_RENAME), or drop the old copy first if it is a leftover you no longer need`,
  );
}

/**
 * Refuses a plan that names a database the backup does not hold.
 *
 * @param inBackup the backup's databases
 * @param source what listed them (`its manifest.json`, `the dump`)
 * @throws {PreflightError} naming the missing databases and the backup's
 */
export function refuseMissing(
  plan: RecoveryPlan,
  inBackup: readonly string[],
  source: string,
): void {
  const have = new Set(inBackup);
  const missing = [...plan.keys()].filter((name) => !have.has(name));
  if (missing.length === 0) return;
  throw new PreflightError(
    `refusing to recover: database ${missing.map((n) => JSON.stringify(n)).join(", ")} ${
      missing.length === 1 ? "is" : "are"
    } not in the backup (${source} lists ${
      inBackup.filter((d) => d !== "template1").map((d) => JSON.stringify(d)).join(", ")
    }); nothing was changed`,
    "name the databases exactly as the backup stores them (case and spaces count) in RESTORE_DATABASES, or pick another backup with --key",
  );
}
