/**
 * Joining staged segments into a final key by server-side copy: the one decision of how a
 * backup object appears whole or not at all. {@linkcode S3Store} and the tests' in-memory store
 * both call {@linkcode composeSegments}; each supplies only its requests.
 *
 * @module
 */
import { StoreError } from "../errors.ts";
import type { ObjectStat, ObjectTags, Segment, UploadedPart } from "./object_store.ts";

/** The requests a join is made of, as a store sends them. */
export interface ComposeRequests {
  readonly bucket: string;
  copy(
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
    bytes: number,
  ): Promise<ObjectStat>;
  createMultipart(
    key: string,
    contentType: string,
    metadata: Record<string, string>,
    tags: ObjectTags,
  ): Promise<string>;
  /** UploadPartCopy of a whole object; returns the part's ETag. */
  copyPart(target: string, uploadId: string, part: number, source: string): Promise<string>;
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bytes: number,
    request: string,
  ): Promise<ObjectStat>;
  forCleanup(): { abortUpload(key: string, uploadId: string): Promise<void> };
}

/**
 * Writes `target` from staged segments: one CopyObject for a single segment, otherwise a
 * multipart upload (with `tags`) whose parts are UploadPartCopy of whole segments, aborted when
 * any step fails. The target is read back: its size must be the segments' sum and each of
 * `metadata` must be on it.
 *
 * @throws {StoreError} the failed request's error, or code `SizeMismatch` when the read-back
 *   metadata differs
 */
export async function composeSegments(
  store: ComposeRequests,
  target: string,
  segments: readonly Segment[],
  metadata: Record<string, string>,
  contentType: string,
  tags: ObjectTags,
): Promise<ObjectStat> {
  const bytes = segments.reduce((n, s) => n + s.bytes, 0);
  const stat = segments.length === 1
    ? await store.copy(segments[0]!.key, target, metadata, contentType, bytes)
    : await copyParts(store, target, segments, metadata, contentType, tags, bytes);
  for (const [name, value] of Object.entries(metadata)) {
    if (stat.metadata[name] !== value) {
      throw new StoreError(
        `copy to s3://${store.bucket}/${target} could not be confirmed: its ${name} metadata is ${
          stat.metadata[name] ?? "missing"
        }, expected ${value}`,
        "check the S3 server's logs, then run the job again",
        "SizeMismatch",
      );
    }
  }
  return stat;
}

async function copyParts(
  store: ComposeRequests,
  target: string,
  segments: readonly Segment[],
  metadata: Record<string, string>,
  contentType: string,
  tags: ObjectTags,
  bytes: number,
): Promise<ObjectStat> {
  const uploadId = await store.createMultipart(target, contentType, metadata, tags);
  try {
    const parts: UploadedPart[] = [];
    for (const [i, segment] of segments.entries()) {
      parts.push({
        part: i + 1,
        etag: await store.copyPart(target, uploadId, i + 1, segment.key),
      });
    }
    return await store.completeMultipart(
      target,
      uploadId,
      parts,
      bytes,
      "complete multipart copy",
    );
  } catch (err) {
    await store.forCleanup().abortUpload(target, uploadId).catch(() => {});
    throw err;
  }
}
