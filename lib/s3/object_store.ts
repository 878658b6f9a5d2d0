/**
 * The storage seam: the bucket operations the programs use, and nothing of how they are sent.
 * {@linkcode S3Store} implements it on npm:minio through the one retry layer; the tests' in-memory
 * store implements it too, so the flows that decide (which backup is newest, whether a commit is
 * whole, what to prune, what a failed run leaves) are unit-tested without a server.
 *
 * Every method throws a StoreError naming the request, the key and what to do when the request
 * fails for good; a missing object is `undefined`, not an error, where the method says so.
 *
 * @module
 */
/** An object in a listing. */
export interface ObjectEntry {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** An object's metadata. */
export interface ObjectStat {
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
  /** User metadata (`x-amz-meta-*`), lowercase names without the prefix. */
  readonly metadata: Record<string, string>;
}

/** A multipart upload that was started and never completed or aborted. */
export interface IncompleteUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date;
}

/** One part of a multipart upload, as CompleteMultipartUpload wants it. */
export interface UploadedPart {
  readonly part: number;
  readonly etag: string;
}

/** Object tags: names and values, at most 10 pairs (S3's limit). */
export type ObjectTags = Readonly<Record<string, string>>;

/** One lifecycle rule, as far as backup-toolbox cares. */
export interface RetentionRule {
  readonly id: string;
  /** The key prefix it filters on (empty: the whole bucket). */
  readonly prefix: string;
  /**
   * Its tag filter: it applies only to objects carrying every one of these tags. Absent or
   * empty: no tag filter.
   */
  readonly tags?: ObjectTags;
  readonly expireDays: number | undefined;
  readonly abortIncompleteDays: number | undefined;
}

/** Bytes of an object by offset: from `start` up to, not including, `end`. */
export interface ByteRange {
  /** The offset of the first byte. */
  readonly start: number;
  /** The offset after the last byte. */
  readonly end: number;
}

/** An object (or a range of it) being read. */
export interface Download {
  /** The bytes asked for, from the first to the last, whatever broke on the way. */
  readonly stream: ReadableStream<Uint8Array>;
  /** How many bytes the stream yields: the object's size, or `end − start` for a range. */
  readonly size: number;
  /** The object's ETag; every resumed request is pinned to it. Empty for an empty range. */
  readonly etag: string;
  /** The object's user metadata, from the first response. Empty for an empty range. */
  readonly metadata: Record<string, string>;
  /** How many times the download resumed. */
  resumes(): number;
}

/** A staged piece of a data object, joined into the final key by server-side copy. */
export interface Segment {
  readonly key: string;
  readonly bytes: number;
}

/** A bucket, as the programs use it. */
export interface ObjectStore {
  /** The bucket's name, for messages. */
  readonly bucket: string;
  /** The server's URL, for messages. */
  readonly endpoint: string;
  /** Aborts every request and wait of this store (SIGTERM, or a stopped pipeline). */
  readonly signal: AbortSignal;

  /** The same bucket, whose requests also stop when `signal` aborts. */
  withSignal(signal: AbortSignal): ObjectStore;
  /**
   * The same bucket for cleaning up after a failure or a stop: it ignores the run's signal, and
   * gives up after a short deadline of its own whatever the server does.
   */
  forCleanup(): ObjectStore;

  /** Proves the credentials work and the bucket exists, listing only under `prefix`. */
  checkBucket(prefix: string): Promise<void>;
  /** An object's metadata; undefined when it does not exist. */
  stat(key: string): Promise<ObjectStat | undefined>;
  /** A small object as text; undefined when it does not exist. */
  getText(key: string): Promise<string | undefined>;
  /**
   * Opens an object, or a range of its bytes, for reading; the stream resumes where a broken or
   * silent read stopped, pinned to the object it began with.
   */
  read(key: string, range?: ByteRange): Promise<Download>;
  /** Writes a small object in one request, with these tags when given (`x-amz-tagging`). */
  putSmall(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    tags?: ObjectTags,
  ): Promise<void>;
  /**
   * Replaces an object's tags (PutObjectTagging). What a copy does with its source's tags
   * differs between servers (RGW 16.2 drops them when the metadata is replaced), so a copy that
   * must carry tags is tagged with this afterwards.
   */
  setTags(key: string, tags: ObjectTags): Promise<void>;

  /**
   * Starts a multipart upload, with these tags when given (`x-amz-tagging`; RGW 16.2 accepts
   * the header but does not store the tags); returns its id.
   */
  createMultipart(
    key: string,
    contentType: string,
    metadata?: Record<string, string>,
    tags?: ObjectTags,
  ): Promise<string>;
  /** Uploads one part; returns its ETag. */
  uploadPart(key: string, uploadId: string, part: number, body: Uint8Array): Promise<string>;
  /** Completes a multipart upload and reads the object back: it must have `bytes` bytes. */
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bytes: number,
  ): Promise<ObjectStat>;
  /** Aborts a multipart upload (one already gone is fine). */
  abortUpload(key: string, uploadId: string): Promise<void>;

  /** Server-side copy of one object, replacing its metadata; the target is read back. */
  copy(
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
    bytes: number,
  ): Promise<ObjectStat>;
  /**
   * Writes `target` from staged segments by server-side copy; it appears only when whole, and
   * is read back (size and metadata) before this returns. With `tags`, a multi-segment join
   * starts its upload with them; a single segment is one CopyObject, which keeps (or, on RGW
   * 16.2, drops) the segment's own: tag the target with {@linkcode setTags} to be sure.
   */
  compose(
    target: string,
    segments: readonly Segment[],
    metadata: Record<string, string>,
    contentType: string,
    tags?: ObjectTags,
  ): Promise<ObjectStat>;

  /** The "folders" directly under a prefix (delimiter `/`), sorted. */
  listFolders(prefix: string): Promise<string[]>;
  /** Every object under a prefix, sorted by key. */
  listObjects(prefix: string): Promise<ObjectEntry[]>;
  /** The incomplete multipart uploads under a prefix. */
  listIncompleteUploads(prefix: string): Promise<IncompleteUpload[]>;
  /** Deletes objects (missing ones are fine); throws the first failure after trying them all. */
  remove(keys: readonly string[]): Promise<void>;

  /** The bucket's enabled lifecycle rules (empty when none are set). */
  getRetentionRules(): Promise<RetentionRule[]>;
  /**
   * Sets lifecycle rules: each of `rules` replaces the bucket's rule of the same id (or is
   * added), the rules whose ids `remove` names go, and every other rule stays as it is.
   */
  putRetentionRules(rules: readonly RetentionRule[], remove?: readonly string[]): Promise<void>;
}
