/**
 * A recovery, step by step: chosen databases of a backup into a target server that may be live,
 * under new names if asked, verified, and undone when it fails.
 *
 * guard → find → wait (refuse a name the target has) → verify (a first read: the sha256, the
 * backup's databases and roles, the roles the chosen databases name; nothing reaches the target)
 * → restore (a second read through {@linkcode RecoveryFilterStream} into psql) → compare (row
 * counts) → values (the value check) → report. Any failure after the target was changed drops
 * the databases and roles the recovery created, or says exactly what is left. What it shares
 * with the drill lives in lib/restore/.
 *
 * Why the sha256 is checked before the restore, at the cost of reading the backup twice: on a
 * live cluster a corrupt backup must never start a restore, and the first read is also where the
 * recovery learns which roles to create (they come first in the dump) and, for a backup without a
 * manifest, which databases it holds, so every refusal happens before the target changes. The
 * second read is hashed too and must match the first.
 *
 * @module
 */
import type { DrillConfig } from "../config.ts";
import { RecoveryFilterStream } from "../dump/recover_filter.ts";
import { ChecksumMismatchError, PreflightError } from "../errors.ts";
import type { ServerVersion } from "../pg/client.ts";
import type { ProgramContext } from "../program.ts";
import { checkManifestCounts, checkRestoredValues } from "../restore/checks.ts";
import { guardTarget } from "../restore/guard.ts";
import { locateBackup } from "../restore/locate.ts";
import { openBackup, type OpenedBackup } from "../restore/open.ts";
import { restorePass } from "../restore/pass.ts";
import { passOptions, psqlSink, readBackup } from "../restore/read.ts";
import { RestoreRun } from "../restore/run.ts";
import { waitForTarget } from "../restore/server.ts";
import { restoreFailure } from "../restore/wording.ts";
import type { RecoveryPlan } from "./plan.ts";
import { type RecoveryReport, recoveryReport } from "./report.ts";
import { inspectTarget, type Leftovers, type TargetState } from "./target.ts";
import { undo } from "./undo.ts";

/** A recovery's run: the shared restore run, and which databases go where. */
interface Recovery {
  readonly run: RestoreRun;
  readonly plan: RecoveryPlan;
}

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
  const verified = await run.phase("verify", () => verify(recovery, opened, state));
  // The target may have changed while the backup was read.
  refuseExisting(recovery, await inspectTarget(run.server));
  const created: Leftovers = { databases: [...plan.values()], roles: [...verified.createRoles] };
  try {
    const restored = await run.phase("restore", () => restore(recovery, opened, state, verified));
    const manifest = await opened.files.manifestFor(verified.sha256);
    const counted = await run.phase("compare", () => checkManifestCounts(run, manifest, plan));
    const values = await run.phase(
      "values",
      () => checkRestoredValues(run, restored.filter.values(), manifest, plan),
    );
    const report = recoveryReport(run, {
      plan,
      opened,
      version,
      read: restored.read,
      filter: restored.filter,
      keptRoles: verified.keptRoles,
      manifest,
      counted,
      values,
    });
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
  recovery: Recovery,
  opened: OpenedBackup,
): Promise<{ state: TargetState; version: ServerVersion }> {
  const { run } = recovery;
  const { server } = run;
  const version = await waitForTarget(run, opened.manifest);
  const state = await inspectTarget(server);
  refuseExisting(recovery, state);
  if (opened.manifest) {
    refuseMissing(recovery, Object.keys(opened.manifest.databases), "its manifest.json");
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

function refuseExisting({ run, plan }: Recovery, state: TargetState): void {
  const clash = [...plan.values()].filter((name) => state.databases.has(name));
  if (clash.length === 0) return;
  const first = clash[0]!;
  const from = [...plan].find(([, to]) => to === first)![0];
  throw new PreflightError(
    `refusing to recover: database ${clash.map((n) => JSON.stringify(n)).join(", ")} already ${
      clash.length === 1 ? "exists" : "exist"
    } on the target ${run.server.host}:${run.server.port}; nothing was changed`,
    `recover under a new name with --rename ${from}=${from}_restored (RESTORE_RENAME), or drop the old copy first if it is a leftover you no longer need`,
  );
}

function refuseMissing({ plan }: Recovery, inBackup: readonly string[], source: string): void {
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

interface Verified {
  readonly sha256: string;
  readonly createRoles: ReadonlySet<string>;
  readonly keptRoles: readonly string[];
}

/**
 * Verify: the whole object read once, nothing sent anywhere. Gives the sha256 verdict, the
 * backup's databases and the roles the chosen databases name.
 */
async function verify(
  recovery: Recovery,
  opened: OpenedBackup,
  state: TargetState,
): Promise<Verified> {
  const { run, plan } = recovery;
  const scan = new RecoveryFilterStream({ databases: plan });
  const pass = await readBackup(
    run,
    opened,
    "reading backup to check it before the target changes",
    [scan],
    undefined,
  );
  const filter = scan.filter;
  refuseMissing(recovery, filter.databases, "the dump");
  const needed = [...filter.neededRoles].sort();
  const createRoles = new Set(needed.filter((r) => !state.roles.has(r)));
  const keptRoles = needed.filter((r) => state.roles.has(r));
  run.log.info("verify", "backup checked; nothing sent to the target yet", {
    databases_in_backup: filter.databases.length,
    roles_to_create: [...createRoles],
    roles_to_keep: keptRoles,
    duration_ms: pass.durationMs,
  });
  return { sha256: pass.sha256, createRoles, keptRoles };
}

/** Restore: the second read, filtered and renamed, into psql; it must hash as the first did. */
async function restore(
  { run, plan }: Recovery,
  opened: OpenedBackup,
  state: TargetState,
  verified: Verified,
) {
  const { server, log } = run;
  const stream = new RecoveryFilterStream({
    databases: plan,
    createRoles: verified.createRoles,
    targetRoles: state.roles,
    digests: true,
  });
  log.info("restore", "restoring into the target", {
    databases: Object.fromEntries(plan),
    target: `${server.host}:${server.port}`,
  });
  const read = await restorePass(passOptions(run, opened, [stream], psqlSink(run)));
  if (read.complete && read.sha256 !== verified.sha256) {
    throw new ChecksumMismatchError(
      `sha256 mismatch: ${opened.key} changed between the check and the restore (${verified.sha256}, then ${read.sha256})`,
      "a backup of the same day may have been written meanwhile; recover again, or pin the backup with --key",
    );
  }
  if (read.failure) throw restoreFailure(read.failure.error, opened.key);
  const filter = stream.filter;
  log.info("restore", "roles: created the missing ones the databases need, kept the rest", {
    created: filter.createdRoles,
    kept: verified.keptRoles,
    memberships_skipped: filter.skippedMemberships,
    skipped_cluster_wide: filter.skipped,
  });
  log.info("restore", "restore OK", {
    key: opened.key,
    databases: [...plan.values()],
    bytes: read.bytes,
    sql_bytes: filter.bytes,
    sent_bytes: filter.sentBytes,
    duration_ms: read.durationMs,
  });
  return { read, filter };
}
