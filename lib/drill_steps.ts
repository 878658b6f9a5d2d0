/**
 * The restore drill, step by step: guard → find → wait → verify and restore (one pass) → smoke →
 * deep check → report. It reports `sha256 OK`, `restore OK` and `smoke OK`, or fails with the
 * first thing that went wrong. A same-day backup committing during the drill is handled in one
 * place, BackupFiles.
 *
 * @module
 */
import { decryptionFor } from "./age.ts";
import { BackupFiles } from "./bucket/files.ts";
import {
  type BackupKeys,
  fileNameOf,
  isEncryptedKey,
  keysForDataKey,
  withSlash,
} from "./bucket/keys.ts";
import type { DrillConfig } from "./config.ts";
import { type DumpCounts, DumpStatsStream, type DumpValues } from "./dump/stream.ts";
import {
  BackupUnreadableError,
  PipelineError,
  PreflightError,
  RestoreError,
  SmokeError,
  StaleBackupError,
} from "./errors.ts";
import { findNewestBackup } from "./bucket/find.ts";
import { type Manifest, totals } from "./bucket/manifest.ts";
import { listDatabases, reasonOf, waitForServer, withDatabase } from "./pg/client.ts";
import { type PgConnection, psqlRestoreSpec } from "./pg/tools.ts";
import { restorePass } from "./restore/pass.ts";
import { checkRestoreTools, compareCountsOn, PhasedRun, serverOf } from "./restore/run.ts";
import { RoleFilterStream } from "./dump/role_filter.ts";
import type { ObjectEntry, S3Store } from "./s3/store.ts";
import { checkValues, type CountOnly, type ValueCheckResult } from "./restore/value_check.ts";
import { VERSION } from "./version.ts";
import type { ProgramContext } from "./main.ts";

/** What a drill needs besides its settings; `now` can be fixed in tests. */
export type DrillContext = ProgramContext & { readonly now?: () => Date };

/** The drill report: logged as one line and stored beside the backup (a drill, not a check). */
export interface DrillReport {
  readonly result: "OK";
  /** `drill` restored the backup into the scratch server; `verify-only` compared a server with it. */
  readonly mode: "drill" | "verify-only";
  readonly tool_version: string;
  readonly drilled_at: string;
  readonly backup: {
    readonly key: string;
    readonly age_hours: number;
    readonly bytes: number;
    readonly sha256: string;
    readonly manifest: boolean;
    /** Whether it was an age-encrypted backup, decrypted on its way to zstd. */
    readonly encrypted: boolean;
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
  /** The value check (phase `verify`): which tables were compared by value, which by count only. */
  readonly values: {
    readonly tables_by_value: number;
    readonly rows_by_value: number;
    readonly rows_per_second_by_value: number;
    readonly large_objects_by_value: number;
    readonly compared_by_value: readonly string[];
    readonly compared_by_count_only: readonly CountOnly[];
  };
  readonly database_names: readonly string[];
}

const SIDECAR_HINT =
  "check the scratch-postgres sidecar (kubectl -n apps logs <pod> -c scratch-postgres) and SCRATCH_PGHOST/SCRATCH_PGPORT/SCRATCH_PGPASSWORD";
const PSQL_HINT =
  "the scratch server must run the same PostgreSQL major and extensions as production; read the error above, fix the scratch image or the source, then drill again";

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
  const drill = new Drill(config, ctx);
  await guard(drill);
  const found = await drill.phase("find", () => find(drill));
  if (config.verifyOnly) return await verifyOnly(drill, found);
  const scratchVersion = await drill.phase("wait", () => waitForScratch(drill, found.files, true));
  const restored = await drill.phase("restore", () => verifyAndRestore(drill, found, true));
  const names = await drill.phase("smoke", () => smoke(drill.scratch, config.expectedDatabases));
  ctx.log.info("smoke", "smoke OK", { databases: names, expected: config.expectedDatabases });
  const manifest = await found.files.manifestFor(restored.sha256);
  const counted = await drill.phase("compare", () => deepCheck(drill, manifest));
  const values = await drill.phase("verify", () => verifyValues(drill, restored.values, manifest));
  return await report(drill, found, restored, scratchVersion, names, manifest, counted, values);
}

/**
 * `--verify-only`: restore nothing. Read the backup (its sha256 checked as it streams), then
 * compare the server SCRATCH_* names with it: every database, table and row count the dump holds,
 * and every value. The check after a recovery made by hand. Its report is logged, never stored
 * beside the backup: only a real drill marks a backup as drilled.
 */
async function verifyOnly(drill: Drill, found: Found): Promise<DrillReport> {
  const { ctx } = drill;
  const version = await drill.phase("wait", () => waitForScratch(drill, found.files, false));
  const read = await drill.phase("read", () => verifyAndRestore(drill, found, false));
  const manifest = await found.files.manifestFor(read.sha256);
  // The expected counts come from the very bytes just verified, manifest or not.
  const counted = await drill.phase("compare", async () => {
    const restored = await compareCountsOn(
      drill.scratch,
      read.counts,
      "the server differs from the backup",
      'the server does not hold what the backup holds: a database, table or rows are missing or extra; re-run the recovery (RUNBOOK.md "Recover for real"), or find what changed since',
    );
    ctx.log.info(
      "compare",
      "deep check OK: every table has the rows the backup holds",
      totals(restored),
    );
    return restored;
  });
  const values = await drill.phase("verify", () => verifyValues(drill, read.values, manifest));
  const names = Object.keys(read.counts);
  return await report(drill, found, read, version, names, manifest, counted, values);
}

/** One drill's settings, context, scratch connection and phase timings. */
class Drill extends PhasedRun {
  readonly scratch: PgConnection;
  readonly now: () => Date;

  constructor(readonly config: DrillConfig, readonly ctx: DrillContext) {
    super();
    this.now = ctx.now ?? (() => new Date());
    this.scratch = serverOf(config);
  }
}

/** Guard: never restore into anything but a scratch server on this pod, unless told to. */
async function guard(drill: Drill): Promise<void> {
  const { config, ctx, scratch } = drill;
  if (!isLoopbackHost(scratch.host) && !config.allowRemoteScratch) {
    throw new PreflightError(
      `refusing to restore into scratch host "${scratch.host}": it is not a loopback address`,
      "a drill restores only into the scratch sidecar on localhost; set SCRATCH_PGHOST=127.0.0.1, or pass --allow-remote-scratch only for a real recovery into a server you mean to fill",
    );
  }
  ctx.log.info("preflight", "preflight OK", await checkRestoreTools(config, ctx));
}

/** A backup chosen for the drill. */
interface Found {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
  readonly ageHours: number;
  readonly keys: BackupKeys;
  readonly files: BackupFiles;
  /** The recipients its manifest records, when it is encrypted and the manifest describes it. */
  readonly recipients: readonly string[] | undefined;
  /** What its `.sha256` says, read before anything waits or downloads. */
  readonly expected: string;
}

/** Find: the backup asked for, or the newest complete one, young enough; and its manifest. */
async function find(drill: Drill): Promise<Found> {
  const { config, ctx } = drill;
  const data = await locate(config, ctx.store, drill.now());
  const ageExact = (drill.now().getTime() - data.lastModified.getTime()) / 3600_000;
  const ageHours = Number(ageExact.toFixed(2));
  ctx.log.info("find", "backup found", {
    key: data.key,
    bytes: data.size,
    age_hours: ageHours,
    last_modified: data.lastModified.toISOString(),
    list_requests: data.listRequests,
    encrypted: isEncryptedKey(data.key),
  });
  if (data.alsoThere) {
    ctx.log.info(
      "find",
      "the day folder holds a plain and an encrypted backup; drilling the newer",
      {
        key: data.key,
        older: data.alsoThere.key,
      },
    );
  }
  if (!config.backupKey && ageExact > config.maxBackupAgeHours) {
    throw new StaleBackupError(
      `backup stale: newest backup ${data.key} is ${
        ageHours.toFixed(1)
      } h old (max ${config.maxBackupAgeHours} h)`,
      "check the postgres-backup CronJob: kubectl -n apps get jobs, then the logs of its last Job",
    );
  }
  const keys = keysForDataKey(data.key);
  const files = new BackupFiles(ctx.store, keys, config.sha256Key, ctx.log);
  const manifest = await files.readManifest();
  // An encrypted backup needs its identity: say so now, before waiting or downloading.
  const recipients = manifest && fileNameOf(manifest.key) === fileNameOf(data.key)
    ? manifest.encryption?.recipients
    : undefined;
  await decryptionFor(data.key, config.ageIdentityFile, recipients, ctx.childEnv);
  // A missing or damaged .sha256 or a truncated object fails here, before any wait.
  const expected = await files.expectedSha256();
  await files.checkSize(data.size, async () => (await ctx.store.stat(data.key))?.size);
  return { ...data, ageHours, keys, files, recipients, expected };
}

/** Wait: the scratch server accepts connections and holds none of the backup's databases. */
async function waitForScratch(drill: Drill, files: BackupFiles, empty: boolean): Promise<string> {
  const { config, ctx, scratch } = drill;
  const last = await waitForServer(scratch, config.scratchWaitSeconds, ctx.signal);
  if (last !== undefined) {
    throw new PreflightError(
      `scratch PostgreSQL ${scratch.host}:${scratch.port} did not accept connections within ${config.scratchWaitSeconds} s: ${
        reasonOf(last)
      }`,
      SIDECAR_HINT,
    );
  }
  // A drill restores into an empty server; --verify-only compares one that holds the data.
  const existing = new Set(empty ? await listDatabases(scratch) : []);
  const clash = Object.keys(files.manifest?.databases ?? {}).filter((db) =>
    db !== "postgres" && db !== "template1" && existing.has(db)
  );
  if (clash.length > 0) {
    throw new RestoreError(
      `scratch server ${scratch.host}:${scratch.port} already holds databases ${clash.join(", ")}`,
      "a drill needs an empty scratch server; restart the sidecar (its data is an emptyDir) or point SCRATCH_PGPORT at a fresh one",
    );
  }
  const version = await withDatabase(scratch, "postgres", async (sql) => {
    const [row] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
    return row?.v ?? "";
  });
  ctx.log.info("wait", "scratch server ready", {
    host: scratch.host,
    port: scratch.port,
    server_version: version,
  });
  return version;
}

/**
 * Verify and restore in one pass: S3 → sha256 → zstd -d → parser → role filter → psql. The
 * parser records, from the very bytes psql restores, each table's rows and value digest. The verdicts come in this
 * order: the download (S3's error), the sha256 (a corrupt object explains any restore error),
 * then zstd's or psql's own error.
 */
async function verifyAndRestore(
  drill: Drill,
  found: Found,
  restore: boolean,
): Promise<
  { bytes: number; sha256: string; encrypted: boolean; counts: DumpCounts; values: DumpValues }
> {
  const { config, ctx, scratch } = drill;
  const { files, key, expected } = found;
  ctx.log.info("verify", "reading backup", { key, expected_sha256: expected });
  const parsed = new DumpStatsStream({ digests: true });
  const roles = new RoleFilterStream(config.scratchUser);
  const pass = await restorePass({
    store: ctx.store,
    key,
    log: ctx.log,
    signal: ctx.signal,
    childEnv: ctx.childEnv,
    transforms: restore ? [parsed, roles] : [parsed],
    sink: restore
      ? { name: "psql", spec: psqlRestoreSpec(scratch, ctx.childEnv), hint: PSQL_HINT }
      : undefined,
    progressSeconds: config.progressSeconds,
    identityFile: config.ageIdentityFile,
    recipients: found.recipients,
  });

  // Verify first: a corrupt download explains any restore error that follows.
  const sha256 = pass.complete
    ? await files.verdict(pass.sha256, expected, pass.carriedSha256, pass.bytes)
    : undefined;
  if (sha256 !== undefined) {
    ctx.log.info("verify", "sha256 OK", { key, sha256, bytes: pass.bytes, resumes: pass.resumes });
  }
  if (pass.failure) throw restoreFailure(pass.failure.error, key);
  if (sha256 === undefined) {
    // Unreachable: an incomplete read without a downstream failure is thrown by the pass.
    throw new BackupUnreadableError(`cannot read ${key} to its end`, "run the drill again");
  }
  if (roles.dropped.length > 0) {
    ctx.log.info("restore", "kept the scratch superuser as it is", {
      role: config.scratchUser,
      skipped: roles.dropped,
    });
  }
  if (restore) {
    ctx.log.info("restore", "restore OK", {
      key,
      bytes: pass.bytes,
      decrypted: pass.decrypted,
      duration_ms: pass.durationMs,
    });
  }
  return {
    bytes: pass.bytes,
    sha256,
    encrypted: pass.decrypted,
    counts: parsed.counts(),
    values: parsed.values(),
  };
}

/**
 * age's, zstd's or psql's failure, in the operator's words (`restore FAILED: …`); the hint is
 * the one the child was started with.
 */
export function restoreFailure(error: unknown, key: string): unknown {
  if (!(error instanceof PipelineError)) return error;
  if (error.program === "age") {
    return new RestoreError(
      `restore FAILED: age could not decrypt ${key}: ${
        error.lastStderrLine || `exit code ${error.code}`
      }`,
      error.hint,
    );
  }
  if (error.program === "zstd") {
    return new RestoreError(
      `restore FAILED: zstd could not decompress ${key}: ${
        error.lastStderrLine || `exit code ${error.code}`
      }`,
      error.hint,
    );
  }
  return new RestoreError(
    `restore FAILED: psql stopped at the first error: ${
      error.lastStderrLine || `exit code ${error.code}`
    }`,
    error.hint,
  );
}

/** Deep check: every database, table and row count of the manifest (when there is one). */
async function deepCheck(
  drill: Drill,
  manifest: Manifest | undefined,
): Promise<DumpCounts | undefined> {
  if (!manifest) {
    drill.ctx.log.warn("compare", "backup has no manifest.json; only the basic smoke checks ran", {
      hint: "backups taken by backup-toolbox 0.1.0 or later have one",
    });
    return undefined;
  }
  const counted = await compareWithManifest(drill.scratch, manifest);
  drill.ctx.log.info(
    "compare",
    "deep check OK: every table has the rows the backup holds",
    totals(counted),
  );
  return counted;
}

/**
 * Verify values: every table the dump holds data for, rendered on the scratch server as pg_dump
 * rendered it, against the digests the parser took from the restored stream.
 */
async function verifyValues(
  drill: Drill,
  expected: DumpValues,
  manifest: Manifest | undefined,
): Promise<ValueCheckResult> {
  const { ctx } = drill;
  const result = await checkValues(drill.scratch, expected, manifest?.dump_settings, ctx.signal);
  if (result.diffs.length > 0) {
    throw new SmokeError(
      `smoke FAILED: the restored values differ from the backup: ${result.diffs.join("; ")}`,
      "the data changed between the dump and the scratch server; compare the named table on the source and on the scratch server (SELECT ... EXCEPT), and drill a fresh backup",
    );
  }
  ctx.log.info("verify", "value check OK: every table compared by value matches the backup", {
    tables_by_value: result.byValue.length,
    rows_by_value: result.rows,
    large_objects_by_value: result.largeObjects,
    compared_by_count_only: result.byCountOnly,
  });
  return result;
}

/** Report: logged, and stored beside the backup (a warning when the key may not write it). */
async function report(
  drill: Drill,
  found: Found,
  restored: { bytes: number; sha256: string; encrypted: boolean },
  scratchVersion: string,
  names: string[],
  manifest: Manifest | undefined,
  counted: DumpCounts | undefined,
  values: ValueCheckResult,
): Promise<DrillReport> {
  const { ctx, phases, scratch } = drill;
  const sum = counted
    ? totals(counted)
    : { databases: names.length, tables: 0, rows: 0, large_objects: 0 };
  const verifySeconds = ((phases.compare ?? 0) + (phases.restore ?? phases.read ?? 0)) / 1000;
  const mode = drill.config.verifyOnly ? "verify-only" : "drill";
  const result: DrillReport = {
    result: "OK",
    mode,
    tool_version: VERSION,
    drilled_at: drill.now().toISOString(),
    backup: {
      key: found.key,
      age_hours: found.ageHours,
      bytes: restored.bytes,
      sha256: restored.sha256,
      manifest: manifest !== undefined,
      encrypted: restored.encrypted,
    },
    scratch: { host: scratch.host, port: scratch.port, server_version: scratchVersion },
    phases_ms: phases,
    restored: {
      ...sum,
      rows_per_second_verified: verifySeconds > 0 ? Math.round(sum.rows / verifySeconds) : 0,
    },
    deep_check: manifest !== undefined,
    values: {
      tables_by_value: values.byValue.length,
      rows_by_value: values.rows,
      rows_per_second_by_value: (phases.verify ?? 0) > 0
        ? Math.round(values.rows / (phases.verify! / 1000))
        : 0,
      large_objects_by_value: values.largeObjects,
      compared_by_value: values.byValue,
      compared_by_count_only: values.byCountOnly,
    },
    database_names: names,
  };
  ctx.log.info("report", "drill report", { report: result });
  if (mode === "verify-only") return result;
  try {
    await ctx.store.putSmall(
      found.keys.drillReport,
      JSON.stringify(result, null, 2) + "\n",
      "application/json",
    );
  } catch (err) {
    ctx.log.warn("report", "could not store the drill report beside the backup", {
      key: found.keys.drillReport,
      error: reasonOf(err),
      hint: `grant the drill's S3 key s3:PutObject on arn:aws:s3:::${ctx.store.bucket}/${
        withSlash(drill.config.s3Prefix)
      }*/*/*/drill-report.json (manifests/s3-policies/postgres-restore-drill.json); prune keeps backups that passed a drill`,
    });
  }
  return result;
}

/**
 * Where the data object is (`--key`, or the newest backup), and how many list requests finding
 * it took.
 *
 * @throws {BackupUnreadableError} when `--key` names no object
 * @throws {StaleBackupError} when there is no backup at all
 */
export async function locate(
  config: DrillConfig,
  store: S3Store,
  now: Date,
): Promise<
  {
    key: string;
    size: number;
    lastModified: Date;
    listRequests: number;
    alsoThere: ObjectEntry | undefined;
  }
> {
  if (config.backupKey) {
    const stat = await store.stat(config.backupKey);
    if (!stat) {
      throw new BackupUnreadableError(
        `cannot read ${config.backupKey}: it does not exist in s3://${store.bucket}/`,
        `list the backups with mc ls --recursive backup/${store.bucket}/${config.s3Prefix}/ and pass an existing full.sql.zst or full.sql.zst.age key to --key`,
      );
    }
    return {
      key: config.backupKey,
      size: stat.size,
      lastModified: stat.lastModified,
      listRequests: 0,
      alsoThere: undefined,
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
    alsoThere: found.alsoThere,
  };
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
export function compareWithManifest(
  scratch: PgConnection,
  manifest: Manifest,
): Promise<DumpCounts> {
  return compareCountsOn(
    scratch,
    manifest.databases,
    "the restore differs from the backup's manifest",
    "the dump did not restore everything it holds; read the restore log for skipped objects, and drill again with a fresh backup",
  );
}
