/**
 * Undoing a failed recovery: drop the databases and roles it created on the target, and turn
 * the failure into the error to report, whose hint says the target is as it was, or exactly
 * what is left and the SQL that removes it.
 *
 * @module
 */
import { BUG_HINT, reasonOf, RestoreError, StoppedError, ToolboxError } from "../errors.ts";
import type { RestoreRun } from "../restore/run.ts";
import { cleanupSql, type Leftovers, undoRecovery } from "./target.ts";

/**
 * After a failure once the target may have changed: drop what the recovery created, and return
 * the failure to report.
 *
 * @param created what this recovery may have created (absent before it began)
 * @param err the failure
 */
export async function undo(run: RestoreRun, created: Leftovers, err: unknown): Promise<unknown> {
  const { log, server, config } = run;
  // Names that psql found already there were not ours to drop.
  const taken = err instanceof ToolboxError
    ? [...err.message.matchAll(/(database|role) "((?:[^"]|"")+)" already exists/g)]
    : [];
  const notOurs = new Set(taken.map((m) => m[2]!.replaceAll('""', '"')));
  const mine: Leftovers = {
    databases: created.databases.filter((d) => !notOurs.has(d)),
    roles: created.roles.filter((r) => !notOurs.has(r)),
  };
  const outcome = await undoRecovery(server, mine, config.scratchWaitSeconds);
  const what = err instanceof ToolboxError ? err : undefined;
  const message = what?.message ?? `unexpected error: ${reasonOf(err)}`;
  const hint = what?.hint ?? BUG_HINT;
  if (outcome.left.databases.length + outcome.left.roles.length === 0) {
    log.info("undo", "recovery failed; dropped what it had created", {
      databases: outcome.dropped.databases,
      roles: outcome.dropped.roles,
    });
    if (err instanceof StoppedError) return err;
    return new RestoreError(
      message,
      `the target is as it was (the recovery dropped the databases and roles it had created); ${hint}`,
      what?.exitCode,
      { cause: err },
    );
  }
  const left = describe(outcome.left);
  log.error("undo", `cleanup incomplete: left on the target: ${left}`, {
    dropped: outcome.dropped,
    error: outcome.reason,
    hint: `connect to ${server.host}:${server.port} as ${server.user} and run: ${
      cleanupSql(outcome.left)
    }`,
  });
  return new RestoreError(
    `${message}; left on the target ${server.host}:${server.port}: ${left}`,
    `when the server is back, run as ${server.user} in database postgres: ${
      cleanupSql(outcome.left)
    } then ${hint}`,
    what?.exitCode,
    { cause: err },
  );
}

function describe(left: Leftovers): string {
  const parts: string[] = [];
  if (left.databases.length > 0) {
    parts.push(
      `${left.databases.length === 1 ? "database" : "databases"} ${
        left.databases.map((d) => JSON.stringify(d)).join(", ")
      }`,
    );
  }
  if (left.roles.length > 0) {
    parts.push(
      `${left.roles.length === 1 ? "role" : "roles"} ${
        left.roles.map((r) => JSON.stringify(r)).join(", ")
      }`,
    );
  }
  return parts.join(" and ");
}
