/**
 * One pass over a backup: S3 → sha256 → [age -d] → zstd -d → the caller's transforms → psql (or
 * nowhere, to only read). Whether age decrypts is decided here, from the data key (`….age`),
 * so every consumer of the pass reads encrypted backups alike. The object is hashed to its last byte even when psql stops early, so the
 * caller can give the sha256 verdict first; the download resumes where it broke off. The pass
 * itself throws only for what makes a verdict impossible: a stop signal, or a download that
 * failed for good.
 *
 * @module
 */
import { ageDecryptSpec, decryptionFor, identityMismatch, isIdentityMismatch } from "../age.ts";
import { ChecksumStream } from "../checksum.ts";
import { PipelineError } from "../errors.ts";
import type { Log } from "../log.ts";
import { type ChildSpec, type PartFailure, Pipeline, relay } from "../pipeline.ts";
import { zstdDecompressSpec } from "../pg/tools.ts";
import { reportProgress } from "../progress.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import type { ManifestSection } from "../bucket/manifest.ts";
import { openSections, type SectionHash, SectionHashStream, type Span } from "./sections.ts";

/** Where the SQL goes. */
export interface Sink {
  /** The child's name in messages (`psql`). */
  readonly name: string;
  readonly spec: ChildSpec;
  /** What to tell the operator when it fails on its own. */
  readonly hint: string;
}

/** What a pass needs. */
export interface PassOptions {
  readonly store: ObjectStore;
  /** The data object. */
  readonly key: string;
  readonly log: Log;
  /** SIGTERM/SIGINT. */
  readonly signal: AbortSignal;
  /** The environment children start from. */
  readonly childEnv: Record<string, string>;
  /** Streams between zstd -d and the sink, in order (they see the SQL text). */
  readonly transforms: readonly TransformStream<Uint8Array, Uint8Array>[];
  /** psql, or undefined to read the SQL and discard it. */
  readonly sink: Sink | undefined;
  /** Seconds between progress lines. */
  readonly progressSeconds: number;
  /** AGE_IDENTITY_FILE: what opens a `.age` data object; unused for a plain one. */
  readonly identityFile: string | undefined;
  /** The recipients the backup's manifest records (when it describes this key), for messages. */
  readonly recipients: readonly string[] | undefined;
  /**
   * Read only these sections of the object, one ranged GET after another, each hashed on its
   * own (a recovery of chosen databases). Without them the whole object is read.
   */
  readonly ranges?: readonly ManifestSection[];
  /** Reading the whole object: hash these consecutive spans of it too (the drill's index). */
  readonly spans?: readonly Span[];
}

/** What a pass read, and the first thing that failed downstream of S3. */
export interface PassResult {
  /** Bytes of the object read. */
  readonly bytes: number;
  /** The object's size, from its GET. */
  readonly size: number;
  /** sha256 of the bytes read. */
  readonly sha256: string;
  /** The sha256 the object carries in its own metadata, if any. */
  readonly carriedSha256: string | undefined;
  /** Whether every byte of the object was read (so `sha256` is the object's). */
  readonly complete: boolean;
  /** How many times the download resumed. */
  readonly resumes: number;
  /** Whether age decrypted the object on its way to zstd. */
  readonly decrypted: boolean;
  /** What each section (of `ranges`, or of `spans`) hashed to, in order. */
  readonly sections: readonly SectionHash[];
  /**
   * The first failure of age, zstd, a transform or the sink, if any; words are the caller's,
   * except for an identity that opens none of the recipients (a BackupUnreadableError).
   */
  readonly failure: PartFailure | undefined;
  readonly durationMs: number;
}

const ZSTD_HINT =
  "the object matches its sha256, so it was written corrupt; take a fresh backup and drill it, or drill an older one with --key";
const AGE_HINT = ZSTD_HINT;

/**
 * Runs one pass.
 *
 * @returns what was read and the first downstream failure
 * @throws {BackupUnreadableError} before any download, when an encrypted backup has no usable
 *   identity (see decryptionFor)
 * @throws {StoppedError} when a signal stopped it
 * @throws {StoreError} when the object could not be opened or read to its end
 */
export async function restorePass(options: PassOptions): Promise<PassResult> {
  const { store, key, log } = options;
  const t0 = performance.now();
  const decryption = await decryptionFor(
    key,
    options.identityFile,
    options.recipients,
    options.childEnv,
  );
  const download = options.ranges
    ? await openSections(store, key, options.ranges)
    : await store.read(key);
  const spans = options.ranges ?? options.spans ?? [];
  const sections = spans.length > 0 ? new SectionHashStream(spans) : undefined;
  const run = new Pipeline(options.signal, { stopOnFailure: false });
  const sum = new ChecksumStream();
  const age = decryption
    ? run.spawn("age", ageDecryptSpec(decryption.identityFile, options.childEnv), AGE_HINT)
    : undefined;
  const zstd = run.spawn("zstd", zstdDecompressSpec(options.childEnv), ZSTD_HINT);
  const sink = options.sink
    ? run.spawn(options.sink.name, options.sink.spec, options.sink.hint)
    : undefined;
  let sql = zstd.stdout!;
  for (const transform of options.transforms) sql = sql.pipeThrough(transform);
  run.track(
    `zstd → ${options.sink?.name ?? "discard"}`,
    sql.pipeTo(sink?.stdin ?? new WritableStream()),
  );
  if (age) run.track("age → zstd", relay(age, zstd, run.signal));
  const fed = run.track(
    "download",
    feed(
      sections
        ? download.stream.pipeThrough(sum).pipeThrough(sections)
        : download.stream.pipeThrough(sum),
      (age ?? zstd).stdin!,
      run.signal,
    ),
    { critical: true },
  );
  {
    using _progress = reportProgress(log, "restore", options.progressSeconds, () => ({
      downloaded_bytes: sum.bytes,
      object_bytes: download.size,
    }));
    await run.settle();
  }
  // Only a stop or a download that failed first ends the pass here; the rest is the caller's.
  if (options.signal.aborted) run.throwIfFailed();
  const downloadFailure = run.failures().find((f) => f.name === "download" && !f.consequence);
  const first = run.firstFailure();
  if (downloadFailure && (first === downloadFailure || first === undefined)) {
    throw downloadFailure.error;
  }
  const complete = (await fed) !== undefined && downloadFailure === undefined;
  const failure = first?.error instanceof PipelineError && first.name === "age" &&
      isIdentityMismatch(first.error.lastStderrLine)
    ? { ...first, error: identityMismatch(key, options.recipients) }
    : first;
  return {
    bytes: sum.bytes,
    size: download.size,
    sha256: sum.hex(),
    carriedSha256: download.metadata.sha256,
    complete,
    resumes: download.resumes(),
    decrypted: age !== undefined,
    sections: sections?.hashes() ?? [],
    failure,
    durationMs: Math.round(performance.now() - t0),
  };
}

/**
 * Writes the object into age's or zstd's stdin. When one of them or psql stops early, the rest is still read,
 * so the hash covers the whole object; a stop signal ends it at once.
 */
async function feed(
  source: ReadableStream<Uint8Array>,
  sink: WritableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<true> {
  const writer = sink.getWriter();
  let open = true;
  try {
    for await (const chunk of source) {
      signal.throwIfAborted();
      if (!open) continue;
      try {
        await writer.write(chunk);
      } catch {
        open = false; // zstd or psql is gone; their exit says why
      }
    }
    if (open) await writer.close().catch(() => {});
    return true;
  } catch (err) {
    await writer.abort(err).catch(() => {});
    throw err;
  } finally {
    writer.releaseLock();
  }
}
