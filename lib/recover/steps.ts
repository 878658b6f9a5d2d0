/**
 * A recovery, step by step: chosen databases of a backup into a target server that may be live,
 * under new names if asked, verified, and undone when it fails.
 *
 * guard → find → wait (refuse a name the target has) → verify (a first read: the sha256, the
 * backup's databases and roles, the roles the chosen databases name; nothing reaches the target)
 * → restore (a second read through {@linkcode RecoveryFilterStream} into psql) → compare (row
 * counts) → values (the value check) → report. Any failure after the target was changed drops
 * the databases and roles the recovery created, or says exactly what is left.
 *
 * Why the sha256 is checked before the restore, at the cost of reading the backup twice: on a
 * live cluster a corrupt backup must never start a restore, and the first read is also where the
 * recovery learns which roles to create (they come first in the dump) and, for a backup without a
 * manifest, which databases it holds, so every refusal happens before the target changes. The
 * second read is hashed too and must match the first.
 *
 * @module
 */
import { checkRestoreTools, compareCountsOn, PhasedRun, serverOf } from "../restore/run.ts";
import { decryptionFor } from "../age.ts";
import { BackupFiles } from "../bucket/files.ts";
import { fileNameOf, keysForDataKey } from "../bucket/keys.ts";
import type { DrillConfig } from "../config.ts";
import type { SessionSettings } from "../pg/dump_settings.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { isLoopbackHost, locate, restoreFailure } from "../drill_steps.ts";
import {
  ChecksumMismatchError,
  PreflightError,
  RestoreError,
  SmokeError,
  StoppedError,
  ToolboxError,
} from "../errors.ts";
import type { ProgramContext } from "../main.ts";
import { type Manifest, totals } from "../bucket/manifest.ts";
import { reasonOf, waitForServer } from "../pg/client.ts";
import { type PgConnection, psqlRestoreSpec } from "../pg/tools.ts";
import { RecoveryFilterStream } from "../dump/recover_filter.ts";
import { type RecoveryPlan, recoveryPlan } from "./plan.ts";
import {
  cleanupSql,
  inspectTarget,
  type Leftovers,
  type TargetState,
  undoRecovery,
} from "./target.ts";
import { type PassResult, restorePass } from "../restore/pass.ts";
import { checkValues, type CountOnly } from "../restore/value_check.ts";
import { VERSION } from "../version.ts";

/** The recovery report: logged as one line. */
export interface RecoveryReport {
  readonly result: "OK";
  readonly tool_version: string;
  readonly recovered_at: string;
  readonly backup: {
    readonly key: string;
    readonly age_hours: number;
    readonly bytes: number;
    readonly sha256: string;
    readonly manifest: boolean;
  };
  readonly target: {
    readonly host: string;
    readonly port: number;
    readonly server_version: string;
  };
  /** Backup name → name on the target. */
  readonly databases: Readonly<Record<string, string>>;
  readonly roles: {
    readonly created: readonly string[];
    readonly kept: readonly string[];
    readonly memberships_skipped: readonly string[];
  };
  /** Cluster-wide statements of the dump that were not sent, by their first words. */
  readonly skipped_cluster_wide: Readonly<Record<string, number>>;
  readonly phases_ms: Record<string, number>;
  readonly restored: {
    readonly databases: number;
    readonly tables: number;
    readonly rows: number;
    readonly large_objects: number;
  };
  readonly deep_check: boolean;
  readonly values: {
    readonly tables_by_value: number;
    readonly rows_by_value: number;
    readonly large_objects_by_value: number;
    readonly compared_by_count_only: readonly CountOnly[];
  };
  /** Uncompressed dump bytes read, and of them the bytes sent to psql. */
  readonly sql_bytes: { readonly dump: number; readonly sent_to_psql: number };
  /** From the start of the recovery to the end of its checks: the RTO. */
  readonly duration_ms: number;
}

const TARGET_HINT =
  "check SCRATCH_PGHOST, SCRATCH_PGPORT, SCRATCH_PGUSER and SCRATCH_PGPASSWORD, and that the target lets this pod connect (NetworkPolicy, pg_hba.conf)";
const PSQL_HINT =
  "read psql's error: the target needs the extensions and tablespaces the database uses, and the same PostgreSQL major or a newer one; fix that, then recover again";

/**
 * Runs a recovery.
 *
 * @returns the report
 * @throws {ConfigError} for recovery settings that do not fit together (exit code 2)
 * @throws {ToolboxError} for the first failed step, after undoing what it created
 */
export async function runRecovery(
  config: DrillConfig,
  ctx: ProgramContext,
): Promise<RecoveryReport> {
  const plan = recoveryPlan(
    true,
    config.restoreDatabases,
    config.restoreRename,
    config.verifyOnly,
  )!;
  const run = new Recovery(config, ctx, plan);
  await guard(run);
  const found = await run.phase("find", () => find(run));
  const state = await run.phase("wait", () => waitForTarget(run, found.files.manifest));
  const verified = await run.phase("verify", () => verify(run, found, state));
  // The target may have changed while the backup was read.
  refuseExisting(run, await inspectTarget(run.target));
  const created: Leftovers = {
    databases: [...plan.values()],
    roles: [...verified.createRoles],
  };
  try {
    const restored = await run.phase("restore", () => restore(run, found, state, verified));
    const manifest = await found.files.manifestFor(verified.sha256);
    const counted = await run.phase("compare", () => deepCheck(run, manifest));
    const values = await run.phase("values", () => checkRestoredValues(run, restored, manifest));
    return report(run, found, state, verified, restored, manifest, counted, values);
  } catch (err) {
    throw await undo(run, created, err);
  }
}

/** One recovery's settings, context, target connection, plan and phase timings. */
class Recovery extends PhasedRun {
  readonly target: PgConnection;
  readonly startedAt = performance.now();

  constructor(
    readonly config: DrillConfig,
    readonly ctx: ProgramContext,
    readonly plan: RecoveryPlan,
  ) {
    super();
    this.target = serverOf(config);
  }
}

/** Guard: a target off this pod only when told; the tools; the bucket. */
async function guard(run: Recovery): Promise<void> {
  const { config, ctx, target } = run;
  if (!isLoopbackHost(target.host) && !config.allowRemoteScratch) {
    throw new PreflightError(
      `refusing to recover into host "${target.host}": it is not a loopback address`,
      "pass --allow-remote-scratch (SCRATCH_ALLOW_REMOTE=true) to recover into a server off this pod, after checking SCRATCH_PGHOST names the server you mean",
    );
  }
  ctx.log.info("preflight", "preflight OK", {
    ...await checkRestoreTools(config, ctx),
    databases: Object.fromEntries(run.plan),
    target: `${target.host}:${target.port}`,
  });
}

interface Found {
  readonly key: string;
  readonly size: number;
  readonly ageHours: number;
  readonly files: BackupFiles;
  /** The recipients its manifest records, when it is encrypted and the manifest describes it. */
  readonly recipients: readonly string[] | undefined;
}

/** Find: `--key`, or the newest backup (an old one only warns: it may be all there is). */
async function find(run: Recovery): Promise<Found> {
  const { config, ctx } = run;
  const now = new Date();
  const data = await locate(config, ctx.store, now);
  const ageHours = Number(((now.getTime() - data.lastModified.getTime()) / 3600_000).toFixed(2));
  ctx.log.info("find", "backup found", {
    key: data.key,
    bytes: data.size,
    age_hours: ageHours,
    last_modified: data.lastModified.toISOString(),
  });
  if (!config.backupKey && ageHours > config.maxBackupAgeHours) {
    ctx.log.warn("find", `the newest backup is ${ageHours.toFixed(1)} h old`, {
      key: data.key,
      hint: "it is restored anyway; check the postgres-backup CronJob once the recovery is done",
    });
  }
  const files = new BackupFiles(ctx.store, keysForDataKey(data.key), config.sha256Key, ctx.log);
  const manifest = await files.readManifest();
  // An encrypted backup needs its identity: say so now, before anything else.
  const recipients = manifest && fileNameOf(manifest.key) === fileNameOf(data.key)
    ? manifest.encryption?.recipients
    : undefined;
  await decryptionFor(data.key, config.ageIdentityFile, recipients, ctx.childEnv);
  return { key: data.key, size: data.size, ageHours, files, recipients };
}

/** Wait: the target answers; refuse a name it already has, or a database the backup lacks. */
async function waitForTarget(
  run: Recovery,
  manifest: Manifest | undefined,
): Promise<TargetState> {
  const { config, ctx, target } = run;
  const last = await waitForServer(target, config.scratchWaitSeconds, ctx.signal);
  if (last !== undefined) {
    throw new PreflightError(
      `target PostgreSQL ${target.host}:${target.port} did not accept connections within ${config.scratchWaitSeconds} s: ${
        reasonOf(last)
      }`,
      TARGET_HINT,
    );
  }
  const state = await inspectTarget(target);
  refuseExisting(run, state);
  if (manifest) refuseMissing(run, Object.keys(manifest.databases), "its manifest.json");
  ctx.log.info("wait", "target server ready", {
    host: target.host,
    port: target.port,
    server_version: state.serverVersion,
    databases: state.databases.size,
    roles: state.roles.size,
  });
  return state;
}

function refuseExisting(run: Recovery, state: TargetState): void {
  const clash = [...run.plan.values()].filter((name) => state.databases.has(name));
  if (clash.length === 0) return;
  const first = clash[0]!;
  const from = [...run.plan].find(([, to]) => to === first)![0];
  throw new PreflightError(
    `refusing to recover: database ${clash.map((n) => JSON.stringify(n)).join(", ")} already ${
      clash.length === 1 ? "exists" : "exist"
    } on the target ${run.target.host}:${run.target.port}; nothing was changed`,
    `recover under a new name with --rename ${from}=${from}_restored (RESTORE_RENAME), or drop the old copy first if it is a leftover you no longer need`,
  );
}

function refuseMissing(run: Recovery, inBackup: readonly string[], source: string): void {
  const have = new Set(inBackup);
  const missing = [...run.plan.keys()].filter((name) => !have.has(name));
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
  readonly bytes: number;
  readonly dumpDatabases: readonly string[];
  readonly createRoles: ReadonlySet<string>;
  readonly keptRoles: readonly string[];
}

/**
 * Verify: the whole object read once, nothing sent anywhere. Gives the sha256 verdict, the
 * backup's databases and the roles the chosen databases name.
 */
async function verify(run: Recovery, found: Found, state: TargetState): Promise<Verified> {
  const { ctx } = run;
  const { files, key } = found;
  const expected = await files.expectedSha256();
  await files.checkSize(found.size, async () => (await ctx.store.stat(key))?.size);
  ctx.log.info("verify", "reading backup to check it before the target changes", {
    key,
    expected_sha256: expected,
  });
  const scan = new RecoveryFilterStream({ databases: run.plan });
  const pass = await restorePass({
    ...passOptions(run, found),
    transforms: [scan],
    sink: undefined,
  });
  const sha256 = await files.verdict(pass.sha256, expected, pass.carriedSha256, pass.bytes);
  ctx.log.info("verify", "sha256 OK", { key, sha256, bytes: pass.bytes, resumes: pass.resumes });
  if (pass.failure) throw restoreFailure(pass.failure.error, key);
  const filter = scan.filter;
  refuseMissing(run, filter.databases, "the dump");
  const needed = [...filter.neededRoles].sort();
  const createRoles = new Set(needed.filter((r) => !state.roles.has(r)));
  const keptRoles = needed.filter((r) => state.roles.has(r));
  ctx.log.info("verify", "backup checked; nothing sent to the target yet", {
    databases_in_backup: filter.databases.length,
    roles_to_create: [...createRoles],
    roles_to_keep: keptRoles,
    duration_ms: pass.durationMs,
  });
  return { sha256, bytes: pass.bytes, dumpDatabases: filter.databases, createRoles, keptRoles };
}

interface Restored {
  readonly pass: PassResult;
  readonly filter: RecoveryFilterStream["filter"];
}

/** Restore: the second read, filtered and renamed, into psql; it must hash as the first did. */
async function restore(
  run: Recovery,
  found: Found,
  state: TargetState,
  verified: Verified,
): Promise<Restored> {
  const { ctx, target } = run;
  const stream = new RecoveryFilterStream({
    databases: run.plan,
    createRoles: verified.createRoles,
    targetRoles: state.roles,
    digests: true,
  });
  ctx.log.info("restore", "restoring into the target", {
    databases: Object.fromEntries(run.plan),
    target: `${target.host}:${target.port}`,
  });
  const pass = await restorePass({
    ...passOptions(run, found),
    transforms: [stream],
    sink: {
      name: "psql",
      spec: psqlRestoreSpec(target, ctx.childEnv),
      hint: PSQL_HINT,
    },
  });
  if (pass.complete && pass.sha256 !== verified.sha256) {
    throw new ChecksumMismatchError(
      `sha256 mismatch: ${found.key} changed between the check and the restore (${verified.sha256}, then ${pass.sha256})`,
      "a backup of the same day may have been written meanwhile; recover again, or pin the backup with --key",
    );
  }
  if (pass.failure) throw restoreFailure(pass.failure.error, found.key);
  const filter = stream.filter;
  ctx.log.info("restore", "roles: created the missing ones the databases need, kept the rest", {
    created: filter.createdRoles,
    kept: verified.keptRoles,
    memberships_skipped: filter.skippedMemberships,
    skipped_cluster_wide: filter.skipped,
  });
  ctx.log.info("restore", "restore OK", {
    key: found.key,
    databases: [...run.plan.values()],
    bytes: pass.bytes,
    sql_bytes: filter.bytes,
    sent_bytes: filter.sentBytes,
    duration_ms: pass.durationMs,
  });
  return { pass, filter };
}

function passOptions(run: Recovery, found: Found) {
  const { ctx, config } = run;
  return {
    store: ctx.store,
    key: found.key,
    identityFile: config.ageIdentityFile,
    recipients: found.recipients,
    log: ctx.log,
    signal: ctx.signal,
    childEnv: ctx.childEnv,
    progressSeconds: config.progressSeconds,
  };
}

/** The manifest's counts of the chosen databases, under their names on the target. */
function expectedCounts(run: Recovery, manifest: Manifest): DumpCounts {
  const out: DumpCounts = {};
  for (const [from, to] of run.plan) {
    const counts = manifest.databases[from];
    if (counts) out[to] = counts;
  }
  return out;
}

/** Compare: every table and row count of the chosen databases, as the manifest has them. */
async function deepCheck(
  run: Recovery,
  manifest: Manifest | undefined,
): Promise<DumpCounts | undefined> {
  if (!manifest) {
    run.ctx.log.warn("compare", "backup has no manifest.json; row counts were not compared", {
      hint: "the value check below still compares every table with the dump",
    });
    return undefined;
  }
  const expected = expectedCounts(run, manifest);
  const restored = await compareCountsOn(
    run.target,
    expected,
    "the recovered databases differ from the backup's manifest",
    "the dump did not restore everything it holds; read the log above, then recover again",
  );
  run.ctx.log.info(
    "compare",
    "deep check OK: every table has the rows the backup holds",
    totals(restored),
  );
  return restored;
}

/** Values: every table of the chosen databases against the dump's digests. */
async function checkRestoredValues(
  run: Recovery,
  restored: Restored,
  manifest: Manifest | undefined,
) {
  let settings: Record<string, SessionSettings> | undefined;
  if (manifest?.dump_settings) {
    settings = {};
    for (const [from, to] of run.plan) {
      const s = manifest.dump_settings[from];
      if (s) settings[to] = s;
    }
  }
  const result = await checkValues(
    run.target,
    restored.filter.values(),
    settings,
    run.ctx.signal,
  );
  if (result.diffs.length > 0) {
    throw new SmokeError(
      `smoke FAILED: the recovered values differ from the backup: ${result.diffs.join("; ")}`,
      "something wrote to the recovered database during the check, or the target renders values differently; recover again and compare the named table with SELECT ... EXCEPT",
    );
  }
  run.ctx.log.info("values", "value check OK: every table compared by value matches the backup", {
    tables_by_value: result.byValue.length,
    rows_by_value: result.rows,
    large_objects_by_value: result.largeObjects,
    compared_by_count_only: result.byCountOnly,
  });
  return result;
}

function report(
  run: Recovery,
  found: Found,
  state: TargetState,
  verified: Verified,
  restored: Restored,
  manifest: Manifest | undefined,
  counted: DumpCounts | undefined,
  values: Awaited<ReturnType<typeof checkRestoredValues>>,
): RecoveryReport {
  const { ctx, target, plan } = run;
  const dumpCounts = restored.filter.counts();
  const byTarget: DumpCounts = {};
  for (const [from, to] of plan) {
    const c = dumpCounts[from];
    if (c) byTarget[to] = c;
  }
  const sum = totals(counted ?? byTarget);
  const result: RecoveryReport = {
    result: "OK",
    tool_version: VERSION,
    recovered_at: new Date().toISOString(),
    backup: {
      key: found.key,
      age_hours: found.ageHours,
      bytes: verified.bytes,
      sha256: verified.sha256,
      manifest: manifest !== undefined,
    },
    target: { host: target.host, port: target.port, server_version: state.serverVersion },
    databases: Object.fromEntries(plan),
    roles: {
      created: restored.filter.createdRoles,
      kept: verified.keptRoles,
      memberships_skipped: restored.filter.skippedMemberships,
    },
    skipped_cluster_wide: restored.filter.skipped,
    phases_ms: run.phases,
    restored: { ...sum, databases: plan.size },
    deep_check: counted !== undefined,
    values: {
      tables_by_value: values.byValue.length,
      rows_by_value: values.rows,
      large_objects_by_value: values.largeObjects,
      compared_by_count_only: values.byCountOnly,
    },
    sql_bytes: { dump: restored.filter.bytes, sent_to_psql: restored.filter.sentBytes },
    duration_ms: Math.round(performance.now() - run.startedAt),
  };
  ctx.log.info("report", "recovery report", { report: result });
  return result;
}

/**
 * After a failure once the target may have changed: drop what the recovery created, and turn
 * the failure into the error to report (its hint says the target is as it was, or exactly what
 * is left).
 */
async function undo(run: Recovery, created: Leftovers, err: unknown): Promise<unknown> {
  const { ctx, target, config } = run;
  // Names that psql found already there were not ours to drop.
  const taken = err instanceof ToolboxError
    ? [...err.message.matchAll(/(database|role) "((?:[^"]|"")+)" already exists/g)]
    : [];
  const notOurs = new Set(taken.map((m) => m[2]!.replaceAll('""', '"')));
  const mine: Leftovers = {
    databases: created.databases.filter((d) => !notOurs.has(d)),
    roles: created.roles.filter((r) => !notOurs.has(r)),
  };
  const outcome = await undoRecovery(target, mine, config.scratchWaitSeconds);
  const what = err instanceof ToolboxError ? err : undefined;
  const message = what?.message ?? `unexpected error: ${reasonOf(err)}`;
  const hint = what?.hint ?? "this is a bug in backup-toolbox; keep this log and report it";
  if (outcome.left.databases.length + outcome.left.roles.length === 0) {
    ctx.log.info("undo", "recovery failed; dropped what it had created", {
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
  ctx.log.error("undo", `cleanup incomplete: left on the target: ${left}`, {
    dropped: outcome.dropped,
    error: outcome.reason,
    hint: `connect to ${target.host}:${target.port} as ${target.user} and run: ${
      cleanupSql(outcome.left)
    }`,
  });
  return new RestoreError(
    `${message}; left on the target ${target.host}:${target.port}: ${left}`,
    `when the server is back, run as ${target.user} in database postgres: ${
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
