/**
 * The backup, step by step: preflight → clean up → stream → commit → (prune). Each step logs
 * one line; a failure leaves nothing under a final key and removes this run's staged objects.
 *
 * @module
 */
import { keysForDate, runTempDir } from "./backup_keys.ts";
import { ChecksumStream, sha256Line } from "./checksum.ts";
import type { BackupConfig } from "./config.ts";
import { DumpStatsStream } from "./dump_stream.ts";
import { PreflightError, StoppedError, StoreError } from "./errors.ts";
import type { Log } from "./log.ts";
import { type Manifest, MANIFEST_FORMAT, totals } from "./manifest.ts";
import { reasonOf, serverVersionNum } from "./pg_client.ts";
import { assertChildrenSucceeded, type RunningChild, spawnChild } from "./pipeline.ts";
import {
  CLIENT_HINT,
  dumpallSpec,
  type PgConnection,
  serverVersionText,
  type ToolVersion,
  toolVersion,
  zstdCompressSpec,
} from "./pg_tools.ts";
import { checkLifecycle, prune, removeStaleLeftovers } from "./retention.ts";
import type { S3Store } from "./s3_store.ts";
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
const MiB = 1024 * 1024;

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
    await store.checkBucket();
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
  const versions = await preflight(ctx, source);
  await Promise.all([
    checkLifecycle(store, config.s3Prefix, config.retentionDays, config.applyLifecycle, log),
    removeStaleLeftovers(store, config.s3Prefix, config.staleUploadHours, started, log),
  ]);
  ctx.signal.throwIfAborted();

  // Stream: pg_dumpall → (count rows) → zstd → (sha256) → staged multipart upload.
  const keys = keysForDate(config.s3Prefix, started, config.timeZone);
  const tempDir = runTempDir(config.s3Prefix, started);
  const staged: string[] = [];
  try {
    const streamed = await streamDump(config, ctx, source, `${tempDir}full.sql.zst`);
    staged.push(...streamed.segments.map((s) => s.key));

    // Commit: server-side copies to the final keys; manifest.json last marks it complete.
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
    };
    const small: [string, string, string][] = [
      [keys.sha256, sha256Line(streamed.sha256), "text/plain"],
      [keys.manifest, JSON.stringify(manifest, null, 2) + "\n", "application/json"],
    ];
    const temps = small.map(([finalKey]) => tempDir + finalKey.slice(keys.dir.length));
    staged.push(...temps);
    // Stage the small objects while the data is copied; then the .sha256, and manifest.json last.
    await Promise.all([
      store.compose(keys.data, streamed.segments, metadata, DATA_TYPE),
      ...small.map(([, body, type], i) => store.putSmall(temps[i]!, body, type)),
    ]);
    log.info("commit", "data object written", { key: keys.data, bytes: streamed.compressedBytes });
    for (const [i, [finalKey, , type]] of small.entries()) {
      await store.copy(temps[i]!, finalKey, {}, type);
    }
    log.info("commit", "sha256 and manifest written", {
      sha256_key: keys.sha256,
      manifest_key: keys.manifest,
    });
    await store.remove(staged);
    staged.length = 0;

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
      duration_ms: summary.durationMs,
    });
    return summary;
  } catch (err) {
    await cleanupRun(store, tempDir, staged, log);
    throw err;
  }
}

async function preflight(
  ctx: BackupContext,
  source: PgConnection,
): Promise<{ server: string; pgDumpall: string }> {
  // All checks at once; failures are reported in a fixed order: tools, bucket, source.
  const [dumpallR, zstdR, bucketR, serverR] = await Promise.allSettled([
    toolVersion("pg_dumpall", ctx.childEnv),
    toolVersion("zstd", ctx.childEnv),
    ctx.store.checkBucket(),
    serverVersionNum(source),
  ]);
  for (const r of [dumpallR, zstdR, bucketR]) if (r.status === "rejected") throw r.reason;
  const pgDumpall = (dumpallR as PromiseFulfilledResult<ToolVersion>).value;
  const zstd = (zstdR as PromiseFulfilledResult<ToolVersion>).value;
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
): Promise<Streamed> {
  const { log, store } = ctx;
  const stop = new AbortController();
  const onSignal = () => stop.abort(ctx.signal.reason);
  ctx.signal.addEventListener("abort", onSignal, { once: true });

  const dump = spawnChild("pg_dumpall", dumpallSpec(source, ctx.childEnv));
  const zstd = spawnChild(
    "zstd",
    zstdCompressSpec(config.zstdLevel, config.zstdThreads, ctx.childEnv),
  );
  const children: RunningChild[] = [dump, zstd];
  // A child that fails on its own stops the rest at once.
  for (const child of children) {
    child.exited.then((exit) => {
      if (exit.code !== 0 && !exit.stoppedByUs) stop.abort(new Error(`${child.name} failed`));
    });
  }
  const stats = new DumpStatsStream();
  const sum = new ChecksumStream();
  let uploaded = 0;
  const t0 = performance.now();
  log.info("stream", "stream started", { staging_key: stagingKey, zstd_level: config.zstdLevel });
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
  const feed = dump.stdout!.pipeThrough(stats).pipeTo(zstd.stdin!, { signal: stop.signal });
  const upload = store.uploadSegments(stagingKey, zstd.stdout!.pipeThrough(sum), {
    partBytes: config.partSizeMiB * MiB,
    segmentBytes: config.segmentSizeMiB * MiB,
    contentType: DATA_TYPE,
    signal: stop.signal,
    onProgress: (bytes) => (uploaded = bytes),
  });
  feed.catch(() => stop.abort(new Error("feeding zstd failed")));
  const [fed, stored] = await Promise.allSettled([feed, upload]);
  clearInterval(progress);
  ctx.signal.removeEventListener("abort", onSignal);
  if (stop.signal.aborted) await Promise.all(children.map((c) => c.stop()));
  await Promise.all(children.map((c) => c.exited));

  const result = stored.status === "fulfilled" ? stored.value : undefined;
  try {
    if (ctx.signal.aborted) {
      throw ctx.signal.reason instanceof StoppedError
        ? ctx.signal.reason
        : new StoppedError("SIGTERM");
    }
    await assertChildrenSucceeded(
      children,
      (child) =>
        child.name === "pg_dumpall"
          ? "check the source server's log (did it restart or run out of connections?) and PGHOST/PGPASSWORD, then run the job again"
          : "check the pod's memory and ephemeral-storage limits and ZSTD_LEVEL/ZSTD_THREADS, then run the job again",
    );
    if (stored.status === "rejected") throw stored.reason;
    if (fed.status === "rejected") throw fed.reason;
  } catch (err) {
    if (result) await store.remove(result.segments.map((s) => s.key)).catch(() => {});
    throw err;
  }
  if (!result || result.bytes !== sum.bytes) {
    await store.remove(result?.segments.map((s) => s.key) ?? []).catch(() => {});
    throw new StoreError(
      `upload stored ${result?.bytes ?? 0} bytes but zstd wrote ${sum.bytes}`,
      "check the S3 server's logs and free space, then run the job again",
      "SizeMismatch",
    );
  }
  const sha256 = sum.hex();
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

/** Removes this run's staged objects and aborts its open uploads; logs what it could not. */
async function cleanupRun(
  store: S3Store,
  tempDir: string,
  staged: readonly string[],
  log: Log,
): Promise<void> {
  try {
    for (const u of await store.listIncompleteUploads(tempDir)) {
      await store.abortUpload(u.key, u.uploadId);
    }
    const leftovers = (await store.listObjects(tempDir)).map((o) => o.key);
    await store.remove([...new Set([...staged, ...leftovers])]);
  } catch (err) {
    log.warn("cleanup", "could not remove this run's staged objects", {
      temp_dir: tempDir,
      error: err instanceof Error ? err.message : String(err),
      hint: "the next run removes them once they are older than STALE_UPLOAD_HOURS",
    });
  }
}
