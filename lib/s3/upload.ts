/**
 * The segmented upload: a stream of unknown length cut into fixed-size parts of multipart
 * uploads of at most 5 GiB each ("segments"), so any stream up to 5 TiB fits in bounded memory
 * (`concurrency + 1` part buffers, reused). A part that fails transiently is sent again from
 * its buffer by the retry layer; a completed segment is read back before it counts.
 *
 * @module
 */
import type { Staged } from "./staged.ts";
import type { ObjectStore, ObjectTags, Segment, UploadedPart } from "./object_store.ts";

/** S3's limits, named once. */
export const S3_LIMITS = {
  /** Smallest part except the last. */
  minPartBytes: 5 * 1024 * 1024,
  /** Largest part, and largest single CopyObject. */
  maxPartBytes: 5 * 1024 * 1024 * 1024,
  /** Most parts in one multipart upload. */
  maxParts: 10_000,
  /** Largest object. */
  maxObjectBytes: 5 * 1024 * 1024 * 1024 * 1024,
} as const;

/** Knobs of a streamed upload. */
export interface UploadOptions {
  /** Bytes per part; memory is about `partBytes × (concurrency + 1)`. */
  readonly partBytes: number;
  /** Bytes per staged segment; each segment is one multipart upload of at most 5 GiB. */
  readonly segmentBytes: number;
  /** Parts uploaded at once. @default 3 */
  readonly concurrency?: number;
  /** Content type of the staged objects. */
  readonly contentType?: string;
  /** Tags each segment's upload starts with. @default {} */
  readonly tags?: ObjectTags;
  /** Stops the upload: in-flight parts are abandoned at once. */
  readonly signal?: AbortSignal;
  /** Called after each part is stored, with the total bytes stored. */
  readonly onProgress?: (uploadedBytes: number) => void;
}

/** What a streamed upload stored. */
export interface UploadResult {
  /** The staged segment keys, in order. */
  readonly segments: readonly Segment[];
  /** Total bytes stored. */
  readonly bytes: number;
}

interface OpenSegment {
  readonly key: string;
  readonly uploadId: string;
  next: number;
  bytes: number;
  readonly parts: UploadedPart[];
}

/**
 * Streams bytes into staged segment objects `<keyBase>.seg-NNNN`. Everything it creates is
 * recorded in `staged` as it goes (open uploads, completed segments), so the caller's one
 * cleanup can remove it whatever happened; this function does not clean up itself.
 *
 * @param store the bucket
 * @param keyBase staging key prefix, e.g. `<prefix>/.tmp/<run>/full.sql.zst`
 * @param source the bytes
 * @param staged where created objects and uploads are recorded
 * @param options part and segment sizes, abort signal, progress callback
 * @throws {StoreError} when a request fails for good; the signal's reason when stopped
 */
export async function uploadSegments(
  store: ObjectStore,
  keyBase: string,
  source: ReadableStream<Uint8Array>,
  staged: Staged,
  options: UploadOptions,
): Promise<UploadResult> {
  const { partBytes, segmentBytes } = options;
  if (partBytes < S3_LIMITS.minPartBytes || segmentBytes > S3_LIMITS.maxPartBytes) {
    throw new RangeError(`Cannot upload with part ${partBytes} B and segment ${segmentBytes} B`);
  }
  // A part that fails for good stops the others at once.
  const stop = new AbortController();
  const bucket = options.signal
    ? store.withSignal(AbortSignal.any([options.signal, stop.signal]))
    : store.withSignal(stop.signal);
  const concurrency = options.concurrency ?? 3;
  const contentType = options.contentType ?? "application/octet-stream";
  const segments: Segment[] = [];
  const inflight = new Set<Promise<void>>();
  let open: OpenSegment | undefined;
  let uploaded = 0;
  let failure: unknown;

  const startSegment = async (): Promise<OpenSegment> => {
    const key = `${keyBase}.seg-${String(segments.length + 1).padStart(4, "0")}`;
    const uploadId = await bucket.createMultipart(key, contentType, {}, options.tags ?? {});
    staged.uploads.set(key, uploadId);
    return (open = { key, uploadId, next: 1, bytes: 0, parts: [] });
  };
  const drain = async () => {
    while (inflight.size > 0) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
  };
  const finishSegment = async () => {
    if (!open) return;
    await drain();
    const { key, uploadId, parts, bytes } = open;
    await bucket.completeMultipart(key, uploadId, parts, bytes);
    staged.uploads.delete(key);
    staged.objects.add(key);
    segments.push({ key, bytes });
    open = undefined;
  };
  const sendPart = async (payload: Uint8Array) => {
    const segment = open ?? await startSegment();
    const part = segment.next++;
    segment.bytes += payload.byteLength;
    const task = bucket.uploadPart(segment.key, segment.uploadId, part, payload).then(
      (etag) => {
        segment.parts.push({ part, etag });
        uploaded += payload.byteLength;
        options.onProgress?.(uploaded);
      },
      (err) => {
        failure ??= err;
        stop.abort(err);
      },
    ).finally(() => {
      // The part is stored (or given up): its buffer can take the next one.
      if (payload.byteLength === partBytes) spare.push(payload);
    });
    const tracked = task.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    if (inflight.size >= concurrency) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
    if (segment.bytes >= segmentBytes) await finishSegment();
  };

  // At most concurrency + 1 part buffers exist; finished ones are reused, not reallocated.
  const spare: Uint8Array[] = [];
  let buffer: Uint8Array = new Uint8Array(partBytes);
  let fill = 0;
  const reader = source.getReader();
  const signal = AbortSignal.any([stop.signal, ...(options.signal ? [options.signal] : [])]);
  const onAbort = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      let offset = 0;
      while (offset < value.byteLength) {
        const take = Math.min(partBytes - fill, value.byteLength - offset);
        buffer.set(value.subarray(offset, offset + take), fill);
        fill += take;
        offset += take;
        if (fill === partBytes) {
          const full = buffer;
          buffer = spare.pop() ?? new Uint8Array(partBytes);
          fill = 0;
          await sendPart(full);
        }
      }
    }
    signal.throwIfAborted();
    if (fill > 0 || (segments.length === 0 && !open)) await sendPart(buffer.subarray(0, fill));
    await finishSegment();
    return { segments, bytes: segments.reduce((n, s) => n + s.bytes, 0) };
  } catch (err) {
    stop.abort(err);
    await reader.cancel(err).catch(() => {});
    await Promise.allSettled(inflight);
    // A part's failure is the cause; the reader's cancellation or our own stop are not.
    throw failure ?? (options.signal?.aborted ? options.signal.reason : err);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
