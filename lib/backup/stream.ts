/**
 * The backup's stream: pg_dumpall → (count rows, cut sections) → zstd per section → [age] →
 * (sha256) → a staged multipart upload under the run's own `.tmp/` folder. Nothing reaches a
 * final key here. A plain backup's sections are indexed (compressed offset, length, sha256) so a
 * recovery can read one database without the rest; an encrypted one is a single age stream.
 *
 * @module
 */
import { ageEncryptSpec } from "../age.ts";
import { ChecksumStream } from "../checksum.ts";
import type { BackupConfig } from "../config.ts";
import { INTERNAL_COLUMN_OPTIONS } from "../dump/internal_options.ts";
import { type DumpCounts, SectionedDumpStream } from "../dump/stream.ts";
import type { ManifestSection } from "../bucket/manifest.ts";
import { StoreError } from "../errors.ts";
import { recordDumpSettings, type SessionSettings } from "../pg/dump_settings.ts";
import { dumpallSpec, type PgConnection, zstdCompressSpec } from "../pg/tools.ts";
import { Pipeline } from "../pipeline.ts";
import type { ProgramContext } from "../program.ts";
import { reportProgress } from "../progress.ts";
import type { ObjectTags, Segment } from "../s3/object_store.ts";
import type { Staged } from "../s3/staged.ts";
import { uploadSegments } from "../s3/upload.ts";
import { SectionCompressor } from "./compress.ts";

/** The data object's content type: zstd's, or none registered for age's format. */
export const DATA_TYPE = { plain: "application/zstd", encrypted: "application/octet-stream" };

const MiB = 1024 * 1024;

const DUMP_HINT =
  "check the source server's log (did it restart or run out of connections?) and PGHOST/PGPASSWORD, then run the job again";
const ZSTD_HINT =
  "check the pod's memory limit (an OOM kill ends zstd) and ZSTD_LEVEL/ZSTD_THREADS, then run the job again";
const AGE_HINT =
  "check AGE_RECIPIENTS/AGE_RECIPIENTS_FILE and the pod's memory limit (an OOM kill ends age), then run the job again";

/** What the stream staged. */
export interface Streamed {
  readonly segments: readonly Segment[];
  readonly compressedBytes: number;
  readonly dumpBytes: number;
  readonly sha256: string;
  readonly counts: DumpCounts;
  /** The section index of a plain backup; undefined for an encrypted one, or one not indexed. */
  readonly sections: readonly ManifestSection[] | undefined;
}

/**
 * Streams the dump into staged segments `<stagingKey>.seg-NNNN`, recorded in `staged` as they
 * are created so the run's one cleanup can remove them.
 *
 * @param recipients age recipients; none for a plain backup
 * @param tags the backup's tags (its retention class), given to each segment's upload
 * @throws {PipelineError} the first child that failed on its own (never a SIGPIPE further down)
 * @throws {StoreError} an upload that failed for good
 */
export async function streamDump(
  config: BackupConfig,
  ctx: ProgramContext,
  source: PgConnection,
  stagingKey: string,
  staged: Staged,
  recipients: readonly string[],
  tags: ObjectTags,
): Promise<Streamed> {
  const { log, store } = ctx;
  const run = new Pipeline(ctx.signal);
  const dump = run.spawn("pg_dumpall", dumpallSpec(source, ctx.childEnv), DUMP_HINT);
  const encrypted = recipients.length > 0;
  const zstdSpec = zstdCompressSpec(config.zstdLevel, config.zstdThreads, ctx.childEnv);
  const zstd = new SectionCompressor(
    () => run.spawn("zstd", zstdSpec, ZSTD_HINT),
    !encrypted,
    run.signal,
  );
  // Encrypted: zstd → age, and age's output is what is hashed and stored.
  const age = encrypted
    ? run.spawn("age", ageEncryptSpec(recipients, ctx.childEnv), AGE_HINT)
    : undefined;
  // pg_dumpall 18 writes PostgreSQL 15.20's internal pg_attver column option back as an ordinary
  // one, which PostgreSQL 18 rejects: the stream drops it (lib/dump/internal_options.ts).
  const stats = new SectionedDumpStream({ dropInternalOptions: true });
  const sum = new ChecksumStream();
  let uploaded = 0;
  log.info("stream", "stream started", {
    staging_key: stagingKey,
    zstd_level: config.zstdLevel,
    ...(age ? { age_recipients: recipients.length } : {}),
  });
  const t0 = performance.now();

  // pg_dumpall's output already arrives in 64 KiB blocks (see dumpallSpec).
  run.track(
    "pg_dumpall → zstd",
    dump.stdout!.pipeThrough(stats).pipeTo(zstd.writable, { signal: run.signal }),
  );
  if (age) run.track("zstd → age", zstd.readable.pipeTo(age.stdin!, { signal: run.signal }));
  const stored = age ? age.stdout! : zstd.readable;
  const upload = run.track(
    "upload",
    uploadSegments(store, stagingKey, stored.pipeThrough(sum), staged, {
      partBytes: config.partSizeMiB * MiB,
      segmentBytes: config.segmentSizeMiB * MiB,
      contentType: age ? DATA_TYPE.encrypted : DATA_TYPE.plain,
      tags,
      signal: run.signal,
      onProgress: (bytes) => (uploaded = bytes),
    }),
  );
  {
    using _progress = reportProgress(log, "stream", config.progressSeconds, (seconds) => ({
      dump_bytes: stats.bytes,
      compressed_bytes: sum.bytes,
      uploaded_bytes: uploaded,
      rows: stats.rows,
      dump_mib_per_s: Number((stats.bytes / MiB / seconds).toFixed(1)),
    }));
    await run.settle();
  }
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
  const sections = encrypted ? undefined : sectionIndex(ctx, stats, zstd);
  const seconds = (performance.now() - t0) / 1000;
  log.info("stream", "stream OK", {
    dump_bytes: stats.bytes,
    compressed_bytes: sum.bytes,
    segments: result.segments.length,
    sections: sections?.length ?? 0,
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
    sections,
  };
}

/**
 * The section index, when the script was cut as pg_dumpall cuts it and every section was
 * compressed as cut; otherwise a warning, and the backup is read whole by a recovery.
 */
function sectionIndex(
  ctx: ProgramContext,
  stats: SectionedDumpStream,
  zstd: SectionCompressor,
): readonly ManifestSection[] | undefined {
  const cut = stats.sections();
  const compressed = zstd.sections();
  const same = cut !== undefined && cut.length === compressed.length &&
    cut.every((s, i) =>
      s.name === compressed[i]!.name && s.dumpBytes === compressed[i]!.dump_bytes
    );
  if (same) return compressed;
  ctx.log.warn("stream", "the backup has no section index: a recovery will read it whole", {
    reason: stats.sectionProblem ?? "the compressed sections do not match the script's",
    hint:
      "the backup itself is complete and restores with psql; if pg_dumpall's output changed shape, report it",
  });
  return undefined;
}

/**
 * What each database's dumping session saw (TimeZone, bytea_output, ...), for the drill's value
 * check. A database that cannot be read is a warning: the drill then compares its
 * setting-shaped columns by count only.
 */
export async function recordSettings(
  ctx: ProgramContext,
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
