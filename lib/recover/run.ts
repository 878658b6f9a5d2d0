/**
 * A recovery, step by step: chosen databases of a backup into a target server that may be live,
 * under new names if asked, verified, and undone when it fails.
 *
 * guard → find → wait (refuse a name the target has, or a server too old) → verify (a first
 * read: the sha256, the backup's databases and roles, the roles the chosen databases name;
 * nothing reaches the target) → restore (a second read through the recovery filter into psql,
 * then the row counts and the values of every chosen database) → report. A backup with a section
 * index is read by section: only the globals and the chosen databases, several at once with
 * RESTORE_JOBS (sections.ts); one without is read whole (whole.ts). Any failure after the target
 * was changed drops the databases and roles the recovery created, or says exactly what is left.
 * What it shares with the drill lives in lib/restore/.
 *
 * Why the sha256 is checked before the restore, at the cost of reading twice: on a live cluster
 * a corrupt backup must never start a restore, and the first read is also where the recovery
 * learns which roles to create (they come first in the dump) and, for a backup without a
 * manifest, which databases it holds, so every refusal happens before the target changes.
 *
 * @module
 */
import type { DrillConfig } from "../config.ts";
import type { ServerVersion } from "../pg/client.ts";
import type { ProgramContext } from "../program.ts";
import { guardTarget } from "../restore/guard.ts";
import { locateBackup } from "../restore/locate.ts";
import { openBackup, type OpenedBackup } from "../restore/open.ts";
import { RestoreRun } from "../restore/run.ts";
import { waitForTarget } from "../restore/server.ts";
import type { RecoveryPlan } from "./plan.ts";
import type { Recovery } from "./reader.ts";
import { refuseExisting, refuseMissing } from "./refuse.ts";
import { type RecoveryReport, recoveryReport } from "./report.ts";
import { sectionReader, sectionsToRead } from "./sections.ts";
import { inspectTarget, type Leftovers, type TargetState } from "./target.ts";
import { undo } from "./undo.ts";
import { wholeReader } from "./whole.ts";

/**
 * Runs a recovery.
 *
 * @param plan the chosen databases and their names on the target (see recoveryPlan)
 * @returns the report
 * @throws {ToolboxError} for the first failed step, after undoing what it created
 */
export async function runRecovery(
  config: DrillConfig,
  plan: RecoveryPlan,
  ctx: ProgramContext,
): Promise<RecoveryReport> {
  const run = new RestoreRun("recover", config, ctx);
  const recovery: Recovery = { run, plan };
  ctx.log.info("preflight", "preflight OK", {
    ...await guardTarget(run),
    databases: Object.fromEntries(plan),
    target: `${run.server.host}:${run.server.port}`,
  });
  const opened = await run.phase("find", async () => openBackup(run, await locateBackup(run)));
  const { state, version } = await run.phase("wait", () => waitForFreeNames(recovery, opened));
  const sections = sectionsToRead(recovery, opened);
  const reader = sections
    ? sectionReader(recovery, opened, sections)
    : wholeReader(recovery, opened);
  const verified = await run.phase("verify", () => reader.verify(state));
  // The target may have changed while the backup was read.
  refuseExisting(plan, run.server, await inspectTarget(run.server));
  const created: Leftovers = { databases: [...plan.values()], roles: [...verified.createRoles] };
  try {
    const restored = await run.phase("restore", () => reader.restore(state, verified));
    const report = recoveryReport(run, { plan, opened, version, verified, restored });
    ctx.log.info("done", "recovery OK", {
      databases: Object.values(report.databases),
      tables: report.restored.tables,
      rows: report.restored.rows,
      duration_ms: report.duration_ms,
    });
    return report;
  } catch (err) {
    throw await undo(run, created, err);
  }
}

/** Wait: the target answers; refuse a name it already has, or a database the backup lacks. */
async function waitForFreeNames(
  { run, plan }: Recovery,
  opened: OpenedBackup,
): Promise<{ state: TargetState; version: ServerVersion }> {
  const { server } = run;
  const version = await waitForTarget(run, opened.manifest);
  const state = await inspectTarget(server);
  refuseExisting(plan, server, state);
  if (opened.manifest) {
    refuseMissing(plan, Object.keys(opened.manifest.databases), "its manifest.json");
  }
  run.log.info("wait", "target server ready", {
    host: server.host,
    port: server.port,
    server_version: state.serverVersion,
    databases: state.databases.size,
    roles: state.roles.size,
  });
  return { state, version };
}
