/**
 * The weekly restore drill, step by step: guard → find → wait → restore (verify and restore in
 * one pass) → smoke → compare → verify → older (CHECK_OLDER older backups read in full) →
 * report. It reports `sha256 OK`, `restore OK`, `smoke OK`, `older backup sha256 OK` and
 * `drill OK`, or fails with the first thing that went wrong; once it has found its backup, a
 * failure is stored beside it as a FAILED drill-report.json. What it shares with
 * `--verify-only` and `--recover` lives in lib/restore/.
 *
 * @module
 */
import type { DrillConfig } from "../config.ts";
import { DumpStatsStream } from "../dump/stream.ts";
import { RoleFilterStream } from "../dump/role_filter.ts";
import { RestoreError } from "../errors.ts";
import { listDatabases, type ServerVersion } from "../pg/client.ts";
import type { ProgramContext } from "../program.ts";
import { checkManifestCounts, checkRestoredValues } from "../restore/checks.ts";
import { guardTarget } from "../restore/guard.ts";
import { locateBackup, type Located } from "../restore/locate.ts";
import { openBackup, type OpenedBackup } from "../restore/open.ts";
import { psqlSink, readBackup } from "../restore/read.ts";
import { RestoreRun } from "../restore/run.ts";
import { waitForTarget } from "../restore/server.ts";
import {
  type DrillOutcome,
  type DrillReport,
  drillReport,
  storeDrillReport,
  storeFailedDrillReport,
} from "./report.ts";
import { checkOlderBackups } from "./older.ts";
import { smoke } from "./smoke.ts";

/**
 * Runs the drill.
 *
 * @returns the report (stored beside the backup as drill-report.json)
 * @throws {ToolboxError} for the first failed step
 */
export async function runDrill(config: DrillConfig, ctx: ProgramContext): Promise<DrillReport> {
  const run = new RestoreRun("drill", config, ctx);
  ctx.log.info("preflight", "preflight OK", await guardTarget(run));
  const located = await run.phase("find", () => locateBackup(run));
  // From here on the drill has a backup: a failure is its verdict, stored beside it.
  const outcome = await storingFailure(run, located, () => drill(run, located));
  // The newest backup has its verdicts; then older ones are read in full, in turn.
  const older = config.checkOlder > 0
    ? await run.phase("older", () => checkOlderBackups(run, located.key))
    : undefined;
  const report = drillReport(run, { ...outcome, ...(older ? { olderBackups: older.checks } : {}) });
  await storeDrillReport(run, located.key, report);
  if (older?.failure) throw older.failure;
  ctx.log.info("done", "drill OK", {
    key: report.backup.key,
    rows: report.restored.rows,
    duration_ms: Object.values(report.phases_ms).reduce((a, b) => a + b, 0),
  });
  return report;
}

/** Open → wait → restore → smoke → compare → verify: the drill of the backup found. */
async function drill(run: RestoreRun, located: Located): Promise<DrillOutcome> {
  const opened = await run.phase("find", () => openBackup(run, located));
  const version = await run.phase("wait", () => waitForEmptyScratch(run, opened));
  const restored = await run.phase("restore", () => restore(run, opened));
  const names = await run.phase("smoke", () => smoke(run, opened.manifest?.skipped_databases));
  const manifest = await opened.files.manifestFor(restored.read.sha256);
  const counted = await run.phase("compare", () => checkManifestCounts(run, manifest));
  const values = await run.phase(
    "verify",
    () => checkRestoredValues(run, restored.parsed.values(), manifest),
  );
  return { opened, read: restored.read, version, names, manifest, counted, values };
}

/** Runs `work`; when it fails, stores a FAILED report beside the backup, then rethrows. */
async function storingFailure<T>(
  run: RestoreRun,
  located: Located,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await storeFailedDrillReport(run, located, err);
    throw err;
  }
}

/** Wait: the scratch server accepts connections, is new enough, and holds none of the backup. */
async function waitForEmptyScratch(run: RestoreRun, opened: OpenedBackup): Promise<ServerVersion> {
  const { server } = run;
  const version = await waitForTarget(run, opened.manifest);
  const existing = new Set(await listDatabases(server));
  const clash = Object.keys(opened.manifest?.databases ?? {}).filter((db) =>
    db !== "postgres" && db !== "template1" && existing.has(db)
  );
  if (clash.length > 0) {
    throw new RestoreError(
      `scratch server ${server.host}:${server.port} already holds databases ${clash.join(", ")}`,
      "a drill needs an empty scratch server; restart the sidecar (its data is an emptyDir) or point SCRATCH_PGPORT at a fresh one",
    );
  }
  run.log.info("wait", "scratch server ready", {
    host: server.host,
    port: server.port,
    server_version: version.text,
  });
  return version;
}

/**
 * Verify and restore in one pass: S3 → sha256 → [age -d] → zstd -d → parser → role filter →
 * psql. The parser records, from the very bytes psql restores, each table's rows and value
 * digest; the role filter keeps the scratch server's own superuser as it is.
 */
async function restore(run: RestoreRun, opened: OpenedBackup) {
  const { config, log } = run;
  const parsed = new DumpStatsStream({ digests: true });
  const roles = new RoleFilterStream(config.scratchUser);
  const read = await readBackup(run, opened, {
    intro: "reading backup",
    transforms: [parsed, roles],
    sink: psqlSink(run),
    checkIndex: true,
  });
  if (roles.dropped.length > 0) {
    log.info("restore", "kept the scratch superuser as it is", {
      role: config.scratchUser,
      skipped: roles.dropped,
    });
  }
  log.info("restore", "restore OK", {
    key: opened.key,
    bytes: read.bytes,
    decrypted: read.decrypted,
    duration_ms: read.durationMs,
  });
  return { read, parsed };
}
