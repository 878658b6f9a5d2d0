/**
 * The backup, step by step: preflight → clean up → stream → commit → (prune). Each step logs
 * one line; a failure leaves nothing under a final key and removes this run's staged objects.
 *
 * @module
 */
import { ageEncryptSpec } from "./age.ts";
import { fileNameOf, keysForDate, runTempDir, withSlash } from "./bucket/keys.ts";
import { ChecksumStream, sha256Line } from "./checksum.ts";
import type { BackupConfig } from "./config.ts";
import { recordDumpSettings, type SessionSettings } from "./pg/dump_settings.ts";
import { DumpStatsStream } from "./dump/stream.ts";
import { INTERNAL_COLUMN_OPTIONS } from "./dump/internal_options.ts";
import { PreflightError, StoreError, ToolboxError } from "./errors.ts";
import type { Log } from "./log.ts";
import { type Manifest, MANIFEST_FORMAT, totals } from "./bucket/manifest.ts";
import { reasonOf, serverVersionNum } from "./pg/client.ts";
import { Pipeline, relay } from "./pipeline.ts";
import {
  CLIENT_HINT,
  dumpallSpec,
  type PgConnection,
  serverVersionText,
  type ToolVersion,
  toolVersion,
  zstdCompressSpec,
} from "./pg/tools.ts";
import { checkLifecycle, prune, removeStaleLeftovers } from "./bucket/retention.ts";
import { Staged } from "./s3/staged.ts";
import type { S3Store } from "./s3/store.ts";
import { uploadSegments } from "./s3/upload.ts";
import { graceAfter } from "./signals.ts";
import { VERSION } from "./version.ts";
import type { ProgramContext } from "./main.ts";
import { runTripwire } from "./monitor/tripwire.ts";

/** What a backup needs besides its settings; `now` can be fixed in tests. */
export type BackupContext = ProgramContext & { readonly now?: () => Date };

/** What a completed backup wrote. */
export interface BackupSummary {
  readonly key: string;
  readonly compressedBytes: number;
  readonly dumpBytes: number;
  readonly sha256: string;
  readonly rows: number;
  readonly tables: number;
  /** Tables the tripwire found shrunk since the previous backup; undefined if it could not run. */
  readonly tablesShrunk: number | undefined;
  readonly durationMs: number;
}

const DATA_TYPE = "application/zstd";
/** No media type is registered for age's format. */
const ENCRYPTED_DATA_TYPE = "application/octet-stream";
const MiB = 1024 * 1024;
/** A commit under way when SIGTERM arrives may go on this long (the Job's grace is 60 s). */
const COMMIT_GRACE_MS = 30_000;

const DUMP_HINT =
  "check the source server's log (did it restart or run out of connections?) and PGHOST/PGPASSWORD, then run the job again";
const ZSTD_HINT =
  "check the pod's memory limit (an OOM kill ends zstd) and ZSTD_LEVEL/ZSTD_THREADS, then run the job again";
const AGE_HINT =
  "check AGE_RECIPIENTS/AGE_RECIPIENTS_FILE and the pod's memory limit (an OOM kill ends age), then run the job again";

/** The age recipients of a backup: AGE_RECIPIENTS and the file's, without repeats. */
export function backupRecipients(config: BackupConfig): string[] {
  return [...new Set([...config.ageRecipients, ...config.ageRecipientsFile])];
}

/**
 * Runs the backup (or, with `pruneOnly`, only the prune).
 *
 * @throws {ToolboxError} for any failed step, after this run's staged objects are removed
 */
export async function runBackup(
  config: BackupConfig,
  ctx: BackupContext,
): Promise<BackupSummary | undefined> {
  const now = ctx.now ?? (() => new Date());
  const { store, log } = ctx;
  if (config.pruneOnly) {
    await store.checkBucket(withSlash(config.s3Prefix));
    await prune(store, config.s3Prefix, config.retentionDays, now(), config.dryRun, log);
    return undefined;
  }
  const started = now();
  const t0 = performance.now();
  const source: PgConnection = {
    host: config.pgHost,
    port: config.pgPort,
    user: config.pgUser,
    password: config.pgPassword,
  };

  // Preflight: tools, bucket, source server and versions, before anything is uploaded.
  const recipients = backupRecipients(config);
  const encrypted = recipients.length > 0;
  const versions = await preflight(ctx, source, config.s3Prefix, encrypted);
  await Promise.all([
    checkLifecycle(store, config.s3Prefix, config.retentionDays, config.applyLifecycle, log),
    removeStaleLeftovers(store, config.s3Prefix, config.staleUploadHours, started, log),
  ]);
  ctx.signal.throwIfAborted();

  // Stream: pg_dumpall → (count rows) → zstd → [age] → (sha256) → staged multipart upload.
  const keys = keysForDate(config.s3Prefix, started, config.timeZone, encrypted);
  const dataName = fileNameOf(keys.data);
  const tempDir = runTempDir(config.s3Prefix, started);
  const staged = new Staged();
  try {
    const streamed = await streamDump(
      config,
      ctx,
      source,
      `${tempDir}${dataName}`,
      staged,
      recipients,
    );
    const settings = await recordSettings(ctx, source, Object.keys(streamed.counts));

    // Commit: server-side copies to the final keys; manifest.json last marks it complete.
    // The data is uploaded: a SIGTERM now lets the commit finish, within the grace period.
    const commitStore = store.withSignal(graceAfter(ctx.signal, COMMIT_GRACE_MS));
    const finished = now();
    const metadata = { sha256: streamed.sha256, "dump-bytes": String(streamed.dumpBytes) };
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      tool: { name: "backup-toolbox", version: VERSION },
      server_version: versions.server,
      pg_dumpall_version: versions.pgDumpall,
      started_at: started.toISOString(),
      finished_at: finished.toISOString(),
      key: keys.data,
      compressed_bytes: streamed.compressedBytes,
      dump_bytes: streamed.dumpBytes,
      sha256: streamed.sha256,
      databases: streamed.counts,
      dump_settings: settings,
      ...(encrypted ? { encryption: { method: "age" as const, recipients } } : {}),
    };
    const small = [
      { key: keys.sha256, body: sha256Line(streamed.sha256, dataName), type: "text/plain" },
      {
        key: keys.manifest,
        body: JSON.stringify(manifest, null, 2) + "\n",
        type: "application/json",
      },
    ].map((o) => ({ ...o, temp: tempDir + o.key.slice(keys.dir.length) }));
    // Stage the small objects while the data is copied; then the .sha256, and manifest.json last.
    await Promise.all([
      commitStore.compose(
        keys.data,
        streamed.segments,
        metadata,
        encrypted ? ENCRYPTED_DATA_TYPE : DATA_TYPE,
      ),
      ...small.map(async (o) => {
        staged.objects.add(o.temp);
        await commitStore.putSmall(o.temp, o.body, o.type);
      }),
    ]);
    log.info("commit", "data object written", { key: keys.data, bytes: streamed.compressedBytes });
    for (const o of small) {
      await commitStore.copy(o.temp, o.key, {}, o.type, new TextEncoder().encode(o.body).length);
    }
    log.info("commit", "sha256 and manifest written", {
      sha256_key: keys.sha256,
      manifest_key: keys.manifest,
    });

    // The backup is committed: what cannot be tidied now is a warning, not a failure.
    await removeStaged(staged, store, tempDir, log, true);
    // Tripwire: tables that disappeared or shrank since the previous backup warn, never fail.
    const tablesShrunk = await runTripwire(store, {
      prefix: config.s3Prefix,
      dir: keys.dir,
      counts: streamed.counts,
      percent: config.shrinkWarnPercent,
    }, log);
    const sum = totals(streamed.counts);
    const summary: BackupSummary = {
      key: keys.data,
      compressedBytes: streamed.compressedBytes,
      dumpBytes: streamed.dumpBytes,
      sha256: streamed.sha256,
      rows: sum.rows,
      tables: sum.tables,
      tablesShrunk,
      durationMs: Math.round(performance.now() - t0),
    };
    if (config.prune) {
      await prune(store, config.s3Prefix, config.retentionDays, now(), config.dryRun, log);
    }
    log.info("done", "backup OK", {
      key: summary.key,
      bytes: summary.compressedBytes,
      dump_bytes: summary.dumpBytes,
      sha256: summary.sha256,
      databases: sum.databases,
      tables: sum.tables,
      rows: sum.rows,
      large_objects: sum.large_objects,
      encrypted,
      duration_ms: summary.durationMs,
    });
    return summary;
  } catch (err) {
    await removeStaged(staged, store, tempDir, log, false);
    throw err;
  }
}

/**
 * What each database's dumping session saw (TimeZone, bytea_output, ...), for the drill's value
 * check. A database that cannot be read is a warning: the drill then compares its
 * setting-shaped columns by count only.
 */
async function recordSettings(
  ctx: BackupContext,
  source: PgConnection,
  databases: readonly string[],
): Promise<Record<string, SessionSettings>> {
  const { settings, problems } = await recordDumpSettings(source, databases.filter((d) => d));
  if (problems.length > 0) {
    ctx.log.warn("stream", "could not record the dump's session settings of some databases", {
      problems,
      hint:
        "the drill compares their timestamptz, bytea and money columns by count only; check that PGUSER can connect to every database",
    });
  }
  return settings;
}

async function preflight(
  ctx: BackupContext,
  source: PgConnection,
  prefix: string,
  encrypted: boolean,
): Promise<{ server: string; pgDumpall: string }> {
  // All checks at once; failures are reported in a fixed order: tools, bucket, source.
  const [dumpallR, zstdR, ageR, bucketR, serverR] = await Promise.allSettled([
    toolVersion("pg_dumpall", ctx.childEnv),
    toolVersion("zstd", ctx.childEnv),
    encrypted ? toolVersion("age", ctx.childEnv) : Promise.resolve(undefined),
    ctx.store.checkBucket(withSlash(prefix)),
    serverVersionNum(source),
  ]);
  for (const r of [dumpallR, zstdR, ageR, bucketR]) if (r.status === "rejected") throw r.reason;
  const pgDumpall = (dumpallR as PromiseFulfilledResult<ToolVersion>).value;
  const zstd = (zstdR as PromiseFulfilledResult<ToolVersion>).value;
  const age = (ageR as PromiseFulfilledResult<ToolVersion | undefined>).value;
  if (serverR.status === "rejected") {
    throw new PreflightError(
      `cannot connect to source PostgreSQL ${source.host}:${source.port} as ${source.user}: ${
        reasonOf(serverR.reason)
      }`,
      "check PGHOST, PGPORT, PGUSER and PGPASSWORD (secret postgresql-auth, key admin-password)",
      undefined,
      { cause: serverR.reason },
    );
  }
  const serverNum = serverR.value;
  const server = serverVersionText(serverNum);
  const serverMajor = Math.floor(serverNum / 10000);
  if (serverMajor > pgDumpall.major) {
    throw new PreflightError(
      `pg_dumpall ${pgDumpall.version} cannot dump server ${server}: the client is older than the server`,
      `dumping PostgreSQL ${serverMajor} needs pg_dumpall ${serverMajor} or newer; ${CLIENT_HINT}`,
    );
  }
  ctx.log.info("preflight", "preflight OK", {
    server_version: server,
    pg_dumpall_version: pgDumpall.version,
    zstd_version: zstd.version,
    ...(age ? { age_version: age.version } : {}),
    bucket: ctx.store.bucket,
  });
  return { server, pgDumpall: pgDumpall.version };
}

interface Streamed {
  segments: readonly { key: string; bytes: number }[];
  compressedBytes: number;
  dumpBytes: number;
  sha256: string;
  counts: ReturnType<DumpStatsStream["counts"]>;
}

async function streamDump(
  config: BackupConfig,
  ctx: BackupContext,
  source: PgConnection,
  stagingKey: string,
  staged: Staged,
  recipients: readonly string[],
): Promise<Streamed> {
  const { log, store } = ctx;
  const run = new Pipeline(ctx.signal);
  const dump = run.spawn("pg_dumpall", dumpallSpec(source, ctx.childEnv), DUMP_HINT);
  const zstd = run.spawn(
    "zstd",
    zstdCompressSpec(config.zstdLevel, config.zstdThreads, ctx.childEnv),
    ZSTD_HINT,
  );
  // Encrypted: zstd → age, and age's output is what is hashed and stored.
  const age = recipients.length > 0
    ? run.spawn("age", ageEncryptSpec(recipients, ctx.childEnv), AGE_HINT)
    : undefined;
  // pg_dumpall 18 writes PostgreSQL 15.20's internal pg_attver column option back as an ordinary
  // one, which PostgreSQL 18 rejects: the stream drops it (lib/dump/internal_options.ts).
  const stats = new DumpStatsStream({ dropInternalOptions: true });
  const sum = new ChecksumStream();
  let uploaded = 0;
  const t0 = performance.now();
  log.info("stream", "stream started", {
    staging_key: stagingKey,
    zstd_level: config.zstdLevel,
    ...(age ? { age_recipients: recipients.length } : {}),
  });
  const progress = setInterval(() => {
    const seconds = (performance.now() - t0) / 1000;
    log.info("stream", "progress", {
      dump_bytes: stats.bytes,
      compressed_bytes: sum.bytes,
      uploaded_bytes: uploaded,
      rows: stats.rows,
      dump_mib_per_s: Number((stats.bytes / MiB / seconds).toFixed(1)),
    });
  }, config.progressSeconds * 1000);

  // pg_dumpall's output already arrives in 64 KiB blocks (see dumpallSpec).
  run.track(
    "pg_dumpall → zstd",
    dump.stdout!.pipeThrough(stats).pipeTo(zstd.stdin!, { signal: run.signal }),
  );
  if (age) run.track("zstd → age", relay(zstd, age, run.signal));
  const stored = (age ?? zstd).stdout!;
  const upload = run.track(
    "upload",
    uploadSegments(store, stagingKey, stored.pipeThrough(sum), staged, {
      partBytes: config.partSizeMiB * MiB,
      segmentBytes: config.segmentSizeMiB * MiB,
      contentType: age ? ENCRYPTED_DATA_TYPE : DATA_TYPE,
      signal: run.signal,
      onProgress: (bytes) => (uploaded = bytes),
    }),
  );
  await run.settle();
  clearInterval(progress);
  run.throwIfFailed();

  const result = (await upload)!;
  if (result.bytes !== sum.bytes) {
    throw new StoreError(
      `upload stored ${result.bytes} bytes but ${age ? "age" : "zstd"} wrote ${sum.bytes}`,
      "check the S3 server's logs and free space, then run the job again",
      "SizeMismatch",
    );
  }
  const sha256 = sum.hex();
  if (stats.droppedOptions > 0) {
    log.info("stream", "dropped internal column options from the dump", {
      options: INTERNAL_COLUMN_OPTIONS,
      dropped: stats.droppedOptions,
      why:
        "the source server stamps them on every column; pg_dumpall 18 writes them and PostgreSQL 18 rejects them",
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  log.info("stream", "stream OK", {
    dump_bytes: stats.bytes,
    compressed_bytes: sum.bytes,
    segments: result.segments.length,
    rows: stats.rows,
    sha256,
    dump_mib_per_s: Number((stats.bytes / MiB / seconds).toFixed(1)),
    duration_ms: Math.round(seconds * 1000),
  });
  return {
    segments: result.segments,
    compressedBytes: sum.bytes,
    dumpBytes: stats.bytes,
    sha256,
    counts: stats.counts(),
  };
}

/**
 * Removes this run's staged objects and open uploads (bounded in time, whatever S3 does); names
 * what is left for the next run's stale cleanup.
 */
async function removeStaged(
  staged: Staged,
  store: S3Store,
  tempDir: string,
  log: Log,
  committed: boolean,
): Promise<void> {
  const left = await staged.cleanUp(store, tempDir);
  if (left.objects.length === 0 && left.uploads.length === 0) return;
  const why = left.error instanceof ToolboxError ? `; ${left.error.hint}` : "";
  log.warn("cleanup", "could not remove this run's staged objects", {
    temp_dir: tempDir,
    objects: left.objects,
    uploads: left.uploads,
    error: left.error instanceof Error ? left.error.message : String(left.error),
    hint: `${
      committed ? "the backup is committed" : "nothing was committed"
    }; the next run removes these once they are older than STALE_UPLOAD_HOURS${why}`,
  });
}
