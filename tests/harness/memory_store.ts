/**
 * An in-memory bucket that implements {@linkcode ObjectStore}, so the flows that decide (which
 * backup is newest, whether a commit is whole, what to prune, what a failed run leaves) are
 * unit-tested in milliseconds without a server. It keeps S3Store's contract: the same request
 * names and error codes, a missing object is `undefined` where the interface says so, a
 * completed upload or a copy is read back and its size checked, and `copy` replaces metadata.
 * Tags follow S3's own rules: a PutObject or an upload stores the tags it was given, a copy keeps
 * its source's (RGW 16.2 drops them when the metadata is replaced: tag copies with `setTags`).
 *
 * It has no retry layer: a fault a test injects with {@linkcode MemoryStore.failNext} is the
 * request's final failure, worded as S3Store words it (without the "after N attempts" part).
 * Every request is recorded in {@linkcode MemoryStore.requests}, so a test can assert order.
 *
 * Integration tests still run on RGW (tests/harness/rgw.ts); this store only stands in for the
 * bucket in unit tests of lib/.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * store.put("pg/2025/06/01/full.sql.zst", "data");
 * store.failNext("copy object", "pg/2025/06/01/manifest.json", { code: "InternalError" });
 * await store.listFolders("pg/"); // ["pg/2025/"]
 * store.requests; // [{ request: "list objects", key: "pg/" }]
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { StoreError } from "../../lib/errors.ts";
import { classify, explain, isNotFound } from "../../lib/s3/failure.ts";
import { composeSegments } from "../../lib/s3/compose.ts";
import type {
  ByteRange,
  Download,
  IncompleteUpload,
  ObjectEntry,
  ObjectStat,
  ObjectStore,
  ObjectTags,
  RetentionRule,
  Segment,
  UploadedPart,
} from "../../lib/s3/object_store.ts";
import { multipartEtag } from "../../lib/s3/store.ts";
import { S3_LIMITS } from "../../lib/s3/upload.ts";

/** One request made to the store, in the order they were made (failed ones included). */
export interface StoreRequest {
  /** S3Store's name for it: `copy object`, `delete object`, `upload part`, ... */
  readonly request: string;
  /** The key it named; the bucket's name for bucket requests (`check bucket`, lifecycle). */
  readonly key: string;
}

/** Which keys a fault applies to: exactly this key, or those the predicate accepts. */
export type KeyMatch = string | ((key: string) => boolean);

/** How an injected fault fails its requests. */
export interface FaultOptions {
  /**
   * The S3 error code: `InternalError` (500, transient), `AccessDenied` (403), `SlowDown` (503),
   * or a network code such as `ECONNRESET`.
   * @default "InternalError"
   */
  readonly code?: string;
  /** How many matching requests fail; `Infinity` for all of them. @default 1 */
  readonly times?: number;
  /**
   * The request takes effect and only its answer is lost (the caller still gets the error),
   * as when a connection breaks after the server acted.
   * @default false
   */
  readonly afterEffect?: boolean;
}

/** An object as the store keeps it. */
export interface StoredObject {
  readonly bytes: Uint8Array;
  readonly contentType: string;
  /** User metadata, lowercase names. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Hex MD5 of the bytes, or the multipart ETag (`<md5 of md5s>-<parts>`). */
  readonly etag: string;
  readonly lastModified: Date;
  /** Its tags. */
  readonly tags: ObjectTags;
}

/** How to build a {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** The bucket's name, in messages. @default "backups" */
  readonly bucket?: string;
  /** The endpoint, in messages. @default "memory://s3" */
  readonly endpoint?: string;
  /** The clock for lastModified and upload initiation. @default () => new Date() */
  readonly now?: () => Date;
  /** The run's signal: every request rejects with its reason once it aborts. */
  readonly signal?: AbortSignal;
  /** The Kubernetes Secret named in hints. @default "postgres-backup-s3-credentials" */
  readonly credentialsSecret?: string;
}

/** How {@linkcode MemoryStore.put} seeds an object. */
export interface SeedOptions {
  /** @default the store's clock */
  readonly lastModified?: Date;
  /** User metadata; names are lowercased. @default {} */
  readonly metadata?: Record<string, string>;
  /** @default "application/octet-stream" */
  readonly contentType?: string;
  /** @default {} */
  readonly tags?: ObjectTags;
}

interface OpenUpload {
  readonly key: string;
  readonly uploadId: string;
  readonly contentType: string;
  readonly metadata: Record<string, string>;
  readonly tags: ObjectTags;
  readonly initiated: Date;
  readonly parts: Map<number, { readonly bytes: Uint8Array; readonly etag: string }>;
}

interface Fault {
  readonly request: string;
  readonly match: (key: string) => boolean;
  readonly code: string;
  readonly afterEffect: boolean;
  remaining: number;
}

/** What every view of one bucket shares. */
class _Bucket {
  readonly objects = new Map<string, StoredObject>();
  /** Open multipart uploads by id. */
  readonly uploads = new Map<string, OpenUpload>();
  rules: RetentionRule[] = [];
  readonly requests: StoreRequest[] = [];
  readonly faults: Fault[] = [];
  uploadCount = 0;
}

/** The HTTP status a server sends with each code, for the wording of the error. */
const STATUS: Record<string, number> = {
  AccessDenied: 403,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchBucket: 404,
  NoSuchLifecycleConfiguration: 404,
  InvalidArgument: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  EntityTooSmall: 400,
  MalformedXML: 400,
  InvalidRange: 416,
  InternalError: 500,
  SlowDown: 503,
  ServiceUnavailable: 503,
};

/** Bytes per chunk of a download's stream. */
const CHUNK_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/** An in-memory bucket for unit tests: the {@linkcode ObjectStore} without a server. */
export class MemoryStore implements ObjectStore {
  readonly bucket: string;
  readonly endpoint: string;
  readonly signal: AbortSignal;
  readonly #now: () => Date;
  readonly #secret: string;
  #state = new _Bucket();

  /** @param options bucket name, endpoint, clock and signal */
  constructor(options: MemoryStoreOptions = {}) {
    this.bucket = options.bucket ?? "backups";
    this.endpoint = options.endpoint ?? "memory://s3";
    this.signal = options.signal ?? new AbortController().signal;
    this.#now = options.now ?? (() => new Date());
    this.#secret = options.credentialsSecret ?? "postgres-backup-s3-credentials";
  }

  /** Every request made through this store and its views, oldest first (tests may clear it). */
  get requests(): StoreRequest[] {
    return this.#state.requests;
  }

  /** The bucket's lifecycle rules (tests may seed them); shared with every view. */
  get rules(): RetentionRule[] {
    return this.#state.rules;
  }

  set rules(rules: RetentionRule[]) {
    this.#state.rules = rules;
  }

  /**
   * Makes the next matching request(s) fail with a StoreError, as S3Store would after giving
   * up: `failNext("copy object", "p/2025/06/01/manifest.json")`.
   *
   * @param request S3Store's request name (`copy object`, `delete object`, `upload part`,
   *   `get bucket lifecycle`, ...)
   * @param match the key, or a predicate on it; any key when omitted
   * @param options the code, how many requests, and whether the request still takes effect
   */
  failNext(request: string, match: KeyMatch = () => true, options: FaultOptions = {}): void {
    this.#state.faults.push({
      request,
      match: typeof match === "string" ? (key) => key === match : match,
      code: options.code ?? "InternalError",
      afterEffect: options.afterEffect ?? false,
      remaining: options.times ?? 1,
    });
  }

  /** Seeds an object without a request (etag: hex MD5 of the bytes). */
  put(key: string, body: string | Uint8Array, options: SeedOptions = {}): void {
    const bytes = typeof body === "string" ? encoder.encode(body) : body.slice();
    this.#state.objects.set(key, {
      bytes,
      contentType: options.contentType ?? "application/octet-stream",
      metadata: lowercaseNames(options.metadata ?? {}),
      etag: md5(bytes),
      lastModified: options.lastModified ?? this.#now(),
      tags: { ...options.tags },
    });
  }

  /** Every object key under a prefix, sorted, without a request. */
  keys(prefix = ""): string[] {
    return [...this.#state.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** A copy of an object's bytes, without a request; undefined when missing. */
  bytes(key: string): Uint8Array | undefined {
    return this.#state.objects.get(key)?.bytes.slice();
  }

  /** An object's bytes as text, without a request; undefined when missing. */
  text(key: string): string | undefined {
    const object = this.#state.objects.get(key);
    return object && new TextDecoder().decode(object.bytes);
  }

  /** An object as stored (bytes copied), without a request; undefined when missing. */
  object(key: string): StoredObject | undefined {
    const object = this.#state.objects.get(key);
    return object && {
      ...object,
      bytes: object.bytes.slice(),
      metadata: { ...object.metadata },
      tags: { ...object.tags },
    };
  }

  /** An object's tags, without a request; undefined when the object is missing. */
  tags(key: string): Record<string, string> | undefined {
    const object = this.#state.objects.get(key);
    return object && { ...object.tags };
  }

  /** The open multipart uploads under a prefix, sorted by key, without a request. */
  openUploads(prefix = ""): IncompleteUpload[] {
    return this.#incomplete(prefix);
  }

  /** The same bucket, whose requests also stop when `signal` aborts. */
  withSignal(signal: AbortSignal): MemoryStore {
    return this.#view(AbortSignal.any([this.signal, signal]));
  }

  /** The same bucket, ignoring the run's signal (which may have fired already). */
  forCleanup(): MemoryStore {
    return this.#view(new AbortController().signal);
  }

  #view(signal: AbortSignal): MemoryStore {
    const view = new MemoryStore({
      bucket: this.bucket,
      endpoint: this.endpoint,
      now: this.#now,
      signal,
      credentialsSecret: this.#secret,
    });
    view.#state = this.#state;
    return view;
  }

  /** Answers `check bucket` (the bucket always exists; inject a fault for NoSuchBucket). */
  async checkBucket(_prefix: string): Promise<void> {
    await this.#send("check bucket", this.bucket, () => undefined);
  }

  /** An object's metadata; undefined when it does not exist. */
  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      return await this.#send("stat object", key, () => statOf(this.#get("stat object", key)));
    } catch (err) {
      if (err instanceof StoreError && isNotFound(err.code)) return undefined;
      throw err;
    }
  }

  /** A small object as text; undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    try {
      return await this.#send(
        "get object",
        key,
        () => new TextDecoder().decode(this.#get("get object", key).bytes),
      );
    } catch (err) {
      if (err instanceof StoreError && isNotFound(err.code)) return undefined;
      throw err;
    }
  }

  /**
   * Opens an object, or a range of it, as download.ts does: an empty range sends no request,
   * a range starting past the end is `InvalidRange` from the server, one ending past it is
   * download.ts's own `InvalidRange`. It never resumes.
   *
   * @throws {RangeError} when `range` is not whole numbers with 0 ≤ start ≤ end
   * @throws {StoreError} code `NoSuchKey` when the object does not exist
   */
  async read(key: string, range?: ByteRange): Promise<Download> {
    if (range !== undefined) {
      const { start, end } = range;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
        throw new RangeError(
          `cannot read bytes ${start} to ${end}: expected whole numbers with 0 <= start <= end`,
        );
      }
      if (start === end) {
        return { stream: chunks(new Uint8Array(), this.signal), ...EMPTY_DOWNLOAD };
      }
    }
    const object = await this.#send("get object", key, () => {
      const found = this.#get("get object", key);
      if (range && range.start >= found.bytes.length) {
        throw this.#error("get object", key, "InvalidRange");
      }
      return found;
    });
    if (range && range.end > object.bytes.length) {
      throw new StoreError(
        `download s3://${this.bucket}/${key} bytes ${range.start}-${
          range.end - 1
        } failed: the object has only ${object.bytes.length} bytes`,
        "ask only for bytes within the object: check the range against the backup's index, and whether a new object was written under this key",
        "InvalidRange",
      );
    }
    const bytes = range ? object.bytes.slice(range.start, range.end) : object.bytes.slice();
    return {
      stream: chunks(bytes, this.signal),
      size: bytes.length,
      etag: object.etag,
      metadata: { ...object.metadata },
      resumes: () => 0,
    };
  }

  /** Writes a small object in one request (etag: hex MD5, no user metadata), with its tags. */
  async putSmall(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    tags: ObjectTags = {},
  ): Promise<void> {
    const bytes = typeof body === "string" ? encoder.encode(body) : body.slice();
    await this.#send("put object", key, () => this.#write(key, bytes, contentType, {}, tags));
  }

  /**
   * Replaces an object's tags.
   *
   * @throws {StoreError} code `NoSuchKey` when the object does not exist
   */
  async setTags(key: string, tags: ObjectTags): Promise<void> {
    await this.#send("put object tagging", key, () => {
      const object = this.#get("put object tagging", key);
      this.#state.objects.set(key, { ...object, tags: { ...tags } });
    });
  }

  /** Starts a multipart upload (initiated by the store's clock), with its tags; returns its id. */
  createMultipart(
    key: string,
    contentType: string,
    metadata: Record<string, string> = {},
    tags: ObjectTags = {},
  ): Promise<string> {
    return this.#send("start multipart upload", key, () => {
      const uploadId = `upload-${++this.#state.uploadCount}`;
      this.#state.uploads.set(uploadId, {
        key,
        uploadId,
        contentType,
        metadata: lowercaseNames(metadata),
        tags: { ...tags },
        initiated: this.#now(),
        parts: new Map(),
      });
      return uploadId;
    });
  }

  /** Stores a copy of one part (callers reuse their buffers); returns its hex MD5. */
  uploadPart(key: string, uploadId: string, part: number, body: Uint8Array): Promise<string> {
    return this.#send("upload part", key, () => {
      const upload = this.#upload("upload part", key, uploadId);
      if (!Number.isInteger(part) || part < 1 || part > S3_LIMITS.maxParts) {
        throw this.#error("upload part", key, "InvalidArgument");
      }
      const bytes = body.slice();
      const etag = md5(bytes);
      upload.parts.set(part, { bytes, etag });
      return etag;
    });
  }

  /**
   * Completes a multipart upload from the listed parts (sorted by number), then reads it back:
   * it must have `bytes` bytes and the multipart ETag. A NoSuchUpload counts as done when the
   * object checks out, as in S3Store.
   *
   * @throws {StoreError} `InvalidPart` for a part not uploaded or with another ETag,
   *   `EntityTooSmall` for a part but the last under 5 MiB, `SizeMismatch` when the read-back
   *   differs
   */
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bytes: number,
    request = "complete multipart upload",
  ): Promise<ObjectStat> {
    return this.#complete(key, uploadId, parts, bytes, request);
  }

  async #complete(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bytes: number,
    request: string,
  ): Promise<ObjectStat> {
    const sorted = [...parts].sort((a, b) => a.part - b.part);
    try {
      await this.#send(request, key, () => {
        const upload = this.#upload(request, key, uploadId);
        if (sorted.length === 0) throw this.#error(request, key, "MalformedXML");
        if (sorted.some((p, i) => i > 0 && p.part === sorted[i - 1]!.part)) {
          throw this.#error(request, key, "InvalidPartOrder");
        }
        const chosen = sorted.map((p) => {
          const stored = upload.parts.get(p.part);
          if (!stored || stored.etag !== p.etag) throw this.#error(request, key, "InvalidPart");
          return stored;
        });
        if (chosen.slice(0, -1).some((p) => p.bytes.length < S3_LIMITS.minPartBytes)) {
          throw this.#error(request, key, "EntityTooSmall");
        }
        this.#state.uploads.delete(uploadId);
        this.#state.objects.set(key, {
          bytes: concat(chosen.map((p) => p.bytes)),
          contentType: upload.contentType,
          metadata: upload.metadata,
          etag: multipartEtag(chosen.map((p) => p.etag))!,
          lastModified: this.#now(),
          tags: upload.tags,
        });
      });
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "NoSuchUpload")) throw err;
    }
    return await this.#verify(key, bytes, multipartEtag(sorted.map((p) => p.etag)), request);
  }

  /** Aborts a multipart upload (one already gone is fine). */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#send("abort multipart upload", key, () => {
        this.#upload("abort multipart upload", key, uploadId);
        this.#state.uploads.delete(uploadId);
      });
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "NoSuchUpload")) throw err;
    }
  }

  /**
   * Copies one object, replacing its metadata and keeping its tags, then checks the target has
   * `bytes` bytes.
   */
  async copy(
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
    bytes: number,
  ): Promise<ObjectStat> {
    await this.#send("copy object", target, () => {
      const from = this.#get("copy object", target, source);
      this.#write(target, from.bytes, contentType, metadata, from.tags);
    });
    return await this.#verify(target, bytes, undefined, "copy object");
  }

  /**
   * Writes `target` from segments by the same code as S3Store (lib/s3/compose.ts): one copy for
   * one segment (keeping its tags), otherwise a multipart upload of `copy part`s with `tags`.
   */
  compose(
    target: string,
    segments: readonly Segment[],
    metadata: Record<string, string>,
    contentType: string,
    tags: ObjectTags = {},
  ): Promise<ObjectStat> {
    return composeSegments(this, target, segments, metadata, contentType, tags);
  }

  /** Copies a whole object into part `part` of an upload; returns its hex MD5. */
  copyPart(target: string, uploadId: string, part: number, source: string): Promise<string> {
    return this.#send("copy part", target, () => {
      const upload = this.#upload("copy part", target, uploadId);
      const from = this.#get("copy part", target, source);
      const etag = md5(from.bytes);
      upload.parts.set(part, { bytes: from.bytes, etag });
      return etag;
    });
  }

  /** The common prefixes directly under `prefix` (delimiter `/`), sorted. */
  listFolders(prefix: string): Promise<string[]> {
    return this.#send("list objects", prefix, () => {
      const folders = new Set<string>();
      for (const key of this.#state.objects.keys()) {
        if (!key.startsWith(prefix)) continue;
        const slash = key.indexOf("/", prefix.length);
        if (slash !== -1) folders.add(key.slice(0, slash + 1));
      }
      return [...folders].sort();
    });
  }

  /** Every object under a prefix, sorted by key as S3Store sorts them. */
  listObjects(prefix: string): Promise<ObjectEntry[]> {
    return this.#send("list objects", prefix, () =>
      [...this.#state.objects]
        .filter(([key]) => key.startsWith(prefix))
        .map(([key, o]) => ({ key, size: o.bytes.length, lastModified: o.lastModified }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }

  /** The open multipart uploads under a prefix, sorted by key, then by initiation. */
  listIncompleteUploads(prefix: string): Promise<IncompleteUpload[]> {
    return this.#send("list multipart uploads", prefix, () => this.#incomplete(prefix));
  }

  /**
   * Deletes objects, one `delete object` each (missing ones are fine).
   *
   * @throws {StoreError} the first delete that failed, after the others were tried
   */
  async remove(keys: readonly string[]): Promise<void> {
    let failure: unknown;
    for (const key of new Set(keys)) {
      try {
        await this.#send("delete object", key, () => void this.#state.objects.delete(key));
      } catch (err) {
        if (!(err instanceof StoreError && isNotFound(err.code))) failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** The bucket's lifecycle rules (empty when none are set). */
  async getRetentionRules(): Promise<RetentionRule[]> {
    try {
      return await this.#send("get bucket lifecycle", this.bucket, () => this.#rules());
    } catch (err) {
      if (err instanceof StoreError && err.code === "NoSuchLifecycleConfiguration") return [];
      throw err;
    }
  }

  /**
   * Sets rules as S3Store does (a get, then a set): each rule replaces the one of the same id or
   * is added after the others, those `remove` names go, every other rule is kept.
   */
  async putRetentionRules(
    rules: readonly RetentionRule[],
    remove: readonly string[] = [],
  ): Promise<void> {
    const existing = await this.getRetentionRules();
    const replaced = new Set([...remove, ...rules.map((r) => r.id)]);
    await this.#send("set bucket lifecycle", this.bucket, () => {
      this.#state.rules = [
        ...existing.filter((r) => !replaced.has(r.id)),
        ...rules.map(copyRule),
      ];
    });
  }

  /**
   * Sends one request: rejects with the signal's reason once it aborted, records the request,
   * then applies an injected fault, before or after `act` takes effect.
   */
  async #send<T>(request: string, key: string, act: () => T): Promise<T> {
    // Answer asynchronously, as a server would: callers' concurrency interleaves.
    await Promise.resolve();
    this.signal.throwIfAborted();
    this.#state.requests.push({ request, key });
    const fault = this.#state.faults.find((f) =>
      f.remaining > 0 && f.request === request && f.match(key)
    );
    if (fault) fault.remaining--;
    if (fault && !fault.afterEffect) throw this.#error(request, key, fault.code);
    const result = act();
    if (fault) throw this.#error(request, key, fault.code);
    return result;
  }

  /** The StoreError S3Store throws for a request that failed with `code`. */
  #error(request: string, key: string, code: string): StoreError {
    const failure = classify(Object.assign(new Error(code), { code }), {
      status: STATUS[code] ?? 500,
    });
    const [reason, hint] = explain(failure, {
      bucket: this.bucket,
      endpoint: this.endpoint,
      secret: this.#secret,
      request,
      key,
    });
    const where = `s3://${this.bucket}/${key === this.bucket ? "" : key}`;
    return new StoreError(`${request} ${where} failed: ${reason}`, hint, failure.code);
  }

  /** The object at `source` (default `key`), or NoSuchKey for the request on `key`. */
  #get(request: string, key: string, source = key): StoredObject {
    const object = this.#state.objects.get(source);
    if (!object) throw this.#error(request, key, "NoSuchKey");
    return object;
  }

  /** The open upload with this id on this key, or NoSuchUpload. */
  #upload(request: string, key: string, uploadId: string): OpenUpload {
    const upload = this.#state.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw this.#error(request, key, "NoSuchUpload");
    return upload;
  }

  #write(
    key: string,
    bytes: Uint8Array,
    contentType: string,
    metadata: Record<string, string>,
    tags: ObjectTags,
  ): void {
    this.#state.objects.set(key, {
      bytes,
      contentType,
      metadata: lowercaseNames(metadata),
      etag: md5(bytes),
      lastModified: this.#now(),
      tags: { ...tags },
    });
  }

  /** Reads an object back: missing, or another size or ETag, is `SizeMismatch`. */
  async #verify(
    key: string,
    bytes: number,
    etag: string | undefined,
    request: string,
  ): Promise<ObjectStat> {
    const stat = await this.stat(key);
    const problem = !stat
      ? "is missing"
      : stat.size !== bytes
      ? `has ${stat.size} bytes, expected ${bytes}`
      : etag !== undefined && stat.etag !== etag
      ? `has ETag ${stat.etag}, expected ${etag}`
      : undefined;
    if (!stat || problem) {
      throw new StoreError(
        `${request} s3://${this.bucket}/${key} could not be confirmed: the object ${problem}`,
        "check the S3 server's logs and free space, then run the job again",
        "SizeMismatch",
      );
    }
    return stat;
  }

  #incomplete(prefix: string): IncompleteUpload[] {
    return [...this.#state.uploads.values()]
      .filter((u) => u.key.startsWith(prefix))
      .map(({ key, uploadId, initiated }) => ({ key, uploadId, initiated }))
      .sort((a, b) =>
        a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()
      );
  }

  #rules(): RetentionRule[] {
    return this.#state.rules.map(copyRule);
  }
}

/** What a download of an empty range says besides its stream. */
const EMPTY_DOWNLOAD = { size: 0, etag: "", metadata: {}, resumes: () => 0 } as const;

/** A rule with its own copy of its tags. */
function copyRule(rule: RetentionRule): RetentionRule {
  return rule.tags === undefined ? { ...rule } : { ...rule, tags: { ...rule.tags } };
}

function statOf(object: StoredObject): ObjectStat {
  return {
    size: object.bytes.length,
    etag: object.etag,
    lastModified: object.lastModified,
    metadata: { ...object.metadata },
  };
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function lowercaseNames(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
}

function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

/** The bytes as a stream of chunks, pulled one at a time; it errors once `signal` aborts. */
function chunks(bytes: Uint8Array, signal: AbortSignal): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (signal.aborted) return controller.error(signal.reason);
      if (offset >= bytes.length) return controller.close();
      const end = Math.min(offset + CHUNK_BYTES, bytes.length);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  }, { highWaterMark: 0 });
}
