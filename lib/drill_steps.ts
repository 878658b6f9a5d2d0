/**
 * The restore drill, step by step: guard → find → wait → verify + restore (one pass) → smoke →
 * compare → report. It reports `sha256 OK`, `restore OK` and `smoke OK`, or fails with the
 * first thing that went wrong.
 *
 * @module
 */
import { keysForDataKey, withSlash } from "./backup_keys.ts";
import { ChecksumStream, parseSha256Line } from "./checksum.ts";
import type { DrillConfig } from "./config.ts";
import type { DumpCounts } from "./dump_stream.ts";
import {
  ChecksumMismatchError,
  PreflightError,
  RestoreError,
  SmokeError,
  StaleBackupError,
  StoppedError,
  StoreError,
  ToolboxError,
} from "./errors.ts";
import { findNewestBackup } from "./find_backup.ts";
import type { Log } from "./log.ts";
import { compareCounts, type Manifest, parseManifest, totals } from "./manifest.ts";
import {
  countDatabase,
  listDatabases,
  reasonOf,
  waitForServer,
  withDatabase,
} from "./pg_client.ts";
import { type RunningChild, spawnChild } from "./pipeline.ts";
import { type PgConnection, psqlRestoreSpec, toolVersion, zstdDecompressSpec } from "./pg_tools.ts";
import { RoleFilterStream } from "./role_filter.ts";
import type { S3Store } from "./s3_store.ts";
import { VERSION } from "./version.ts";
import type { ProgramContext } from "./main.ts";

/** What a drill needs besides its settings; `now` can be fixed in tests. */
export type DrillContext = ProgramContext & { readonly now?: () => Date };

/** The drill report: logged as one line and stored beside the backup. */
export interface DrillReport {
  readonly result: "OK";
  readonly tool_version: string;
  readonly drilled_at: string;
  readonly backup: {
    readonly key: string;
    readonly age_hours: number;
    readonly bytes: number;
    readonly sha256: string;
    readonly manifest: boolean;
  };
  readonly scratch: {
    readonly host: string;
    readonly port: number;
    readonly server_version: string;
  };
  readonly phases_ms: Record<string, number>;
  readonly restored: {
    readonly databases: number;
    readonly tables: number;
    readonly rows: number;
    readonly large_objects: number;
    readonly rows_per_second_verified: number;
  };
  readonly deep_check: boolean;
  readonly database_names: readonly string[];
}

/** How many times (a second apart) a drill re-reads a .sha256 that a same-day backup may be rewriting. */
const SHA256_REREADS = 5;

const SIDECAR_HINT =
  "check the scratch-postgres sidecar (kubectl -n apps logs <pod> -c scratch-postgres) and SCRATCH_PGHOST/SCRATCH_PGPORT/SCRATCH_PGPASSWORD";

/**
 * Whether a host is a loopback address: `localhost`, 127.0.0.0/8 or ::1. Names are not
 * resolved, so the answer never needs the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((n) => Number(n) <= 255);
}

/**
 * Runs the drill.
 *
 * @returns the report
 * @throws {ToolboxError} for the first failed step
 */
export async function runDrill(config: DrillConfig, ctx: DrillContext): Promise<DrillReport> {
  const now = ctx.now ?? (() => new Date());
  const { store, log, signal } = ctx;
  const phases: Record<string, number> = {};
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      phases[phase] = Math.round(performance.now() - t);
    }
  };
  const scratch: PgConnection = {
    host: config.scratchHost,
    port: config.scratchPort,
    user: config.scratchUser,
    password: config.scratchPassword,
  };

  // Guard: never restore into anything but a scratch server on this pod, unless told to.
  if (!isLoopbackHost(scratch.host) && !config.allowRemoteScratch) {
    throw new PreflightError(
      `refusing to restore into scratch host "${scratch.host}": it is not a loopback address`,
      "a drill restores only into the scratch sidecar on localhost; set SCRATCH_PGHOST=127.0.0.1, or pass --allow-remote-scratch only for a real recovery into a server you mean to fill",
    );
  }
  const [zstd, psql] = await Promise.all([
    toolVersion("zstd", ctx.childEnv),
    toolVersion("psql", ctx.childEnv),
  ]);
  await store.checkBucket(withSlash(config.s3Prefix));
  log.info("preflight", "preflight OK", { zstd_version: zstd.version, psql_version: psql.version });

  // Find the backup: the one asked for, or the newest complete one.
  const found = await timed("find", () => findBackup(config, store, now()));
  const keys = keysForDataKey(found.key);
  const ageExact = (now().getTime() - found.lastModified.getTime()) / 3600_000;
  const ageHours = Number(ageExact.toFixed(2));
  log.info("find", "backup found", {
    key: found.key,
    bytes: found.size,
    age_hours: ageHours,
    last_modified: found.lastModified.toISOString(),
    list_requests: found.listRequests,
  });
  if (!config.backupKey && ageExact > config.maxBackupAgeHours) {
    throw new StaleBackupError(
      `backup stale: newest backup ${found.key} is ${
        ageHours.toFixed(1)
      } h old (max ${config.maxBackupAgeHours} h)`,
      "check the postgres-backup CronJob: kubectl -n apps get jobs, then the logs of its last Job",
    );
  }
  let manifest = await readManifest(store, keys.manifest, log);

  // Wait for the scratch server, and make sure it is fresh.
  const scratchVersion = await timed("wait", async () => {
    const last = await waitForServer(scratch, config.scratchWaitSeconds, signal);
    if (last !== undefined) {
      throw new PreflightError(
        `scratch PostgreSQL ${scratch.host}:${scratch.port} did not accept connections within ${config.scratchWaitSeconds} s: ${
          reasonOf(last)
        }`,
        SIDECAR_HINT,
      );
    }
    const existing = new Set(await listDatabases(scratch));
    const clash = Object.keys(manifest?.databases ?? {}).filter((db) =>
      db !== "postgres" && db !== "template1" && existing.has(db)
    );
    if (clash.length > 0) {
      throw new RestoreError(
        `scratch server ${scratch.host}:${scratch.port} already holds databases ${
          clash.join(", ")
        }`,
        "a drill needs an empty scratch server; restart the sidecar (its data is an emptyDir) or point SCRATCH_PGPORT at a fresh one",
      );
    }
    return await withDatabase(scratch, "postgres", async (sql) => {
      const [row] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
      return row?.v ?? "";
    });
  });
  log.info("wait", "scratch server ready", {
    host: scratch.host,
    port: scratch.port,
    server_version: scratchVersion,
  });

  // Verify and restore in one pass: S3 → sha256 → zstd -d → psql.
  const expected = await readExpectedSha256(store, config.sha256Key ?? keys.sha256);
  log.info("verify", "reading backup", { key: found.key, expected_sha256: expected });
  if (manifest && manifest.compressed_bytes !== found.size) {
    // A backup of the same day may be between writing the data and its manifest: look again.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const [again, stat] = await Promise.all([
      readManifest(store, keys.manifest, log),
      store.stat(found.key),
    ]);
    if (!again || !stat || again.compressed_bytes !== stat.size) {
      log.error("verify", "backup truncated", {
        key: found.key,
        bytes: stat?.size ?? found.size,
        manifest_bytes: again?.compressed_bytes ?? manifest.compressed_bytes,
      });
      throw new ChecksumMismatchError(
        `backup truncated: ${found.key} has ${stat?.size ?? found.size} bytes, its manifest says ${
          again?.compressed_bytes ?? manifest.compressed_bytes
        }`,
        "the object was cut short or replaced after the backup; drill the previous one with --key, check the S3 server, and take a fresh backup now",
      );
    }
    manifest = again;
  }
  const restored = await timed(
    "restore",
    () =>
      verifyAndRestore(config, ctx, scratch, found.key, config.sha256Key ?? keys.sha256, expected),
  );

  // Smoke: SELECT 1 and the expected databases; then the deep check against the manifest.
  const names = await timed("smoke", () => smoke(scratch, config.expectedDatabases));
  log.info("smoke", "smoke OK", { databases: names, expected: config.expectedDatabases });
  let counted: DumpCounts | undefined;
  if (manifest && manifest.sha256 !== restored.sha256) {
    manifest = await readManifest(store, keys.manifest, log);
    if (manifest && manifest.sha256 !== restored.sha256) {
      throw new SmokeError(
        `smoke FAILED: ${keys.manifest} describes another backup (sha256 ${manifest.sha256}, restored ${restored.sha256})`,
        "a backup of the same day may have been written during the drill; run the drill again",
      );
    }
  }
  if (manifest) {
    counted = await timed("compare", () => compareWithManifest(scratch, manifest));
    log.info(
      "compare",
      "deep check OK: every table has the rows the backup holds",
      totals(counted),
    );
  } else {
    log.warn("compare", "backup has no manifest.json; only the basic smoke checks ran", {
      hint: "backups taken by backup-toolbox 0.1.0 or later have one",
    });
  }

  const sum = counted
    ? totals(counted)
    : { databases: names.length, tables: 0, rows: 0, large_objects: 0 };
  const verifySeconds = ((phases.compare ?? 0) + (phases.restore ?? 0)) / 1000;
  const report: DrillReport = {
    result: "OK",
    tool_version: VERSION,
    drilled_at: now().toISOString(),
    backup: {
      key: found.key,
      age_hours: ageHours,
      bytes: restored.bytes,
      sha256: restored.sha256,
      manifest: manifest !== undefined,
    },
    scratch: { host: scratch.host, port: scratch.port, server_version: scratchVersion },
    phases_ms: phases,
    restored: {
      ...sum,
      rows_per_second_verified: verifySeconds > 0 ? Math.round(sum.rows / verifySeconds) : 0,
    },
    deep_check: manifest !== undefined,
    database_names: names,
  };
  log.info("report", "drill report", { report });
  try {
    await store.putSmall(
      keys.drillReport,
      JSON.stringify(report, null, 2) + "\n",
      "application/json",
    );
  } catch (err) {
    log.warn("report", "could not store the drill report beside the backup", {
      key: keys.drillReport,
      error: reasonOf(err),
      hint: `grant the drill's S3 key s3:PutObject on arn:aws:s3:::${store.bucket}/${
        withSlash(config.s3Prefix)
      }*/*/*/drill-report.json (manifests/s3-policies/postgres-restore-drill.json); prune keeps backups that passed a drill`,
    });
  }
  return report;
}

interface FoundData {
  key: string;
  size: number;
  lastModified: Date;
  listRequests: number;
}

async function findBackup(config: DrillConfig, store: S3Store, now: Date): Promise<FoundData> {
  if (config.backupKey) {
    const stat = await store.stat(config.backupKey);
    if (!stat) {
      throw new StaleBackupError(
        `backup ${config.backupKey} not found in s3://${store.bucket}/`,
        `list the backups with mc ls --recursive backup/${store.bucket}/${config.s3Prefix}/ and pass an existing full.sql.zst key to --key`,
      );
    }
    return {
      key: config.backupKey,
      size: stat.size,
      lastModified: stat.lastModified,
      listRequests: 0,
    };
  }
  const found = await findNewestBackup(store, config.s3Prefix);
  if (!found) {
    throw new StaleBackupError(
      `backup stale: no backup under s3://${store.bucket}/${config.s3Prefix}/ (checked at ${now.toISOString()})`,
      "run the backup once: kubectl -n apps create job --from=cronjob/postgres-backup backup-manual-1, then check S3_BUCKET and S3_PREFIX",
    );
  }
  return {
    key: found.data.key,
    size: found.data.size,
    lastModified: found.data.lastModified,
    listRequests: found.listRequests,
  };
}

async function readManifest(store: S3Store, key: string, log: Log): Promise<Manifest | undefined> {
  const text = await store.getText(key);
  if (text === undefined) return undefined;
  try {
    return parseManifest(text);
  } catch (err) {
    log.warn("find", "manifest.json is unreadable; only the basic smoke checks will run", {
      key,
      error: reasonOf(err),
      hint: "the backup itself may be fine; take a fresh backup to get a valid manifest",
    });
    return undefined;
  }
}

async function readExpectedSha256(store: S3Store, key: string): Promise<string> {
  const text = await store.getText(key);
  const hex = text === undefined ? undefined : parseSha256Line(text);
  if (hex === undefined) {
    throw new ChecksumMismatchError(
      text === undefined
        ? `sha256 mismatch: ${key} does not exist`
        : `sha256 mismatch: ${key} does not hold a sha256sum line`,
      "the backup is incomplete or damaged; drill an older one with --key, and take a fresh backup now",
    );
  }
  return hex;
}

async function verifyAndRestore(
  config: DrillConfig,
  ctx: DrillContext,
  scratch: PgConnection,
  key: string,
  sha256Key: string,
  expected: string,
): Promise<{ bytes: number; sha256: string }> {
  const { store, log, signal } = ctx;
  const object = await store.getStream(key);
  const sum = new ChecksumStream();
  const roles = new RoleFilterStream(config.scratchUser);
  const zstd = spawnChild("zstd", zstdDecompressSpec(ctx.childEnv));
  const psql = spawnChild("psql", psqlRestoreSpec(scratch, ctx.childEnv));
  const children: RunningChild[] = [zstd, psql];
  const stopAll = () => Promise.all(children.map((c) => c.stop()));
  signal.addEventListener("abort", stopAll, { once: true });
  const t0 = performance.now();
  const progress = setInterval(() => {
    log.info("restore", "progress", { downloaded_bytes: sum.bytes, object_bytes: object.size });
  }, config.progressSeconds * 1000);

  // zstd's output goes to psql; a failure there must not stop us from hashing the whole object.
  const toPsql = zstd.stdout!.pipeThrough(roles).pipeTo(psql.stdin!).catch(() => {});
  let downstreamOpen = true;
  const writer = zstd.stdin!.getWriter();
  try {
    for await (const chunk of object.stream.pipeThrough(sum)) {
      signal.throwIfAborted();
      if (!downstreamOpen) continue;
      try {
        await writer.write(chunk);
      } catch {
        downstreamOpen = false;
      }
    }
    if (downstreamOpen) await writer.close().catch(() => {});
  } catch (err) {
    await stopAll();
    if (signal.aborted) throw signal.reason instanceof StoppedError ? signal.reason : err;
    if (err instanceof ToolboxError) throw err;
    // The download broke off (connection reset, server gone): nothing was verified.
    throw new StoreError(
      `download s3://${store.bucket}/${key} failed after ${sum.bytes} bytes: ${reasonOf(err)}`,
      "check the S3 server and the network path to it, then run the drill again",
      (err as { code?: string }).code ?? "DownloadFailed",
      { cause: err },
    );
  } finally {
    clearInterval(progress);
    writer.releaseLock();
    signal.removeEventListener("abort", stopAll);
  }
  await toPsql;
  const [zExit, pExit] = await Promise.all([zstd.exited, psql.exited]);
  signal.throwIfAborted();

  // Verify first: a corrupt download explains any restore error that follows.
  let actual = sum.hex();
  if (actual !== expected) {
    // A backup of the same day may be committing right now: the data object we read carries
    // its own sha256 (written with it by the backup), and the .sha256 follows within moments.
    // When they agree, re-read the .sha256 a few times before calling the backup corrupt.
    let reread = expected;
    if (object.metadata.sha256 === actual && !config.sha256Key) {
      for (let attempt = 0; attempt < SHA256_REREADS && reread !== actual; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        reread = await readExpectedSha256(store, sha256Key).catch(() => expected);
      }
    }
    if (reread !== actual) {
      log.error("verify", "sha256 mismatch", { key, expected, actual, bytes: sum.bytes });
      throw new ChecksumMismatchError(
        `sha256 mismatch: ${key} hashes to ${actual}, ${sha256Key} says ${expected}`,
        "the backup is damaged or was altered; drill the previous one with --key <prefix>/YYYY/MM/DD/full.sql.zst, check the S3 server's disks, and take a fresh backup now",
      );
    }
    log.warn(
      "verify",
      "the .sha256 changed while the drill read the backup; its new value matches",
      {
        key,
        hint: "a backup of the same day was being written; nothing to do",
      },
    );
    actual = reread;
  }
  log.info("verify", "sha256 OK", { key, sha256: actual, bytes: sum.bytes });

  // zstd killed by SIGPIPE only means psql stopped reading: psql's error is the cause then.
  const zstdBrokenPipe = zExit.signal === "SIGPIPE" || zExit.code === 141;
  const failed = zExit.code !== 0 && !zstdBrokenPipe
    ? { name: "zstd" }
    : pExit.code !== 0
    ? { name: "psql" }
    : zExit.code !== 0
    ? { name: "zstd" }
    : undefined;
  if (failed?.name === "zstd") {
    throw new RestoreError(
      `restore FAILED: zstd could not decompress ${key}: ${
        zstd.lastStderrLine() || `exit code ${zExit.code}`
      }`,
      "the object matches its sha256, so it was written corrupt; take a fresh backup and drill it, or drill an older one with --key",
    );
  }
  if (failed?.name === "psql") {
    const error = psql.stderrTail().filter((l) => /ERROR|FATAL|error:/.test(l)).at(-1) ??
      psql.lastStderrLine();
    throw new RestoreError(
      `restore FAILED: psql stopped at the first error: ${error || `exit code ${pExit.code}`}`,
      "the scratch server must run the same PostgreSQL major and extensions as production; read the error above, fix the scratch image or the source, then drill again",
    );
  }
  if (roles.dropped.length > 0) {
    log.info("restore", "kept the scratch superuser as it is", {
      role: config.scratchUser,
      skipped: roles.dropped,
    });
  }
  log.info("restore", "restore OK", {
    key,
    bytes: sum.bytes,
    duration_ms: Math.round(performance.now() - t0),
  });
  return { bytes: sum.bytes, sha256: actual };
}

async function smoke(
  scratch: PgConnection,
  expectedDatabases: readonly string[],
): Promise<string[]> {
  let names: string[];
  try {
    await withDatabase(scratch, "postgres", async (sql) => await sql`SELECT 1`);
    names = await listDatabases(scratch);
  } catch (err) {
    throw new SmokeError(
      `smoke FAILED: SELECT 1 on the scratch server failed: ${reasonOf(err)}`,
      SIDECAR_HINT,
    );
  }
  const missing = expectedDatabases.filter((db) => !names.includes(db));
  if (missing.length > 0) {
    throw new SmokeError(
      `smoke FAILED: missing databases: ${missing.join(", ")}`,
      "compare EXPECTED_DATABASES (ConfigMap postgres-restore-drill-config) with the databases on the source server; a missing one was not in the backup",
    );
  }
  return names.filter((n) => n !== "template1");
}

/**
 * Counts the restored scratch and compares it with the manifest: the same databases, tables
 * and row counts, each difference named.
 *
 * @returns the restored counts
 * @throws {SmokeError} naming every difference
 */
export async function compareWithManifest(
  scratch: PgConnection,
  manifest: Manifest,
): Promise<DumpCounts> {
  const present = new Set(await listDatabases(scratch));
  const restored: DumpCounts = {};
  for (const [db, counts] of Object.entries(manifest.databases)) {
    if (!present.has(db)) continue;
    restored[db] = await countDatabase(scratch, db, Object.keys(counts.tables));
  }
  const diffs = compareCounts(manifest.databases, restored);
  if (diffs.length > 0) {
    throw new SmokeError(
      `smoke FAILED: the restore differs from the backup's manifest: ${diffs.join("; ")}`,
      "the dump did not restore everything it holds; read the restore log for skipped objects, and drill again with a fresh backup",
    );
  }
  return restored;
}
