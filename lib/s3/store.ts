/**
 * The bucket as the programs see it. Every request goes through the retry layer (retry.ts) and
 * every failure becomes a StoreError that names the request, the key, the endpoint and what to
 * do. Requests whose outcome could be unknown (a completed multipart upload, a copy) are checked
 * by reading the result back before anyone relies on them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { StoreError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { Attempt } from "./attempt.ts";
import { explain, isNotFound } from "./failure.ts";
import { composeSegments } from "./compose.ts";
import { openDownload } from "./download.ts";
import {
  MinioAdapter,
  rawRetentionRule,
  readRetentionRule,
  type StoreOptions,
} from "./minio_adapter.ts";
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
} from "./object_store.ts";
import { RequestFailedError, type RequestName, type RetryPolicy, withRetries } from "./retry.ts";

export type { StoreOptions };

/** What every request of a store shares: how hard to try, when to stop, where to log. */
export interface StoreContext {
  readonly policy: RetryPolicy;
  /** Aborts every request and backoff (SIGTERM, or a pipeline that stopped). */
  readonly signal: AbortSignal;
  readonly log: Log;
}

/** Cleanup after a failure or a stop must end well inside the Job's 60 s grace period. */
export const CLEANUP_BOUNDS = {
  /** The whole cleanup gives up after this long. */
  deadlineMs: 20_000,
  /** Each request's idle timeout (or the run's, if shorter). */
  idleMs: 5_000,
  /** One quick retry, for a blip. */
  retries: 1,
  delayMs: 250,
} as const;

/** Deletes sent at once. */
const DELETE_CONCURRENCY = 4;

/** A bucket on an S3 server, reached through the retry layer: the {@linkcode ObjectStore}. */
export class S3Store implements ObjectStore {
  readonly bucket: string;
  readonly endpoint: string;
  readonly #adapter: MinioAdapter;
  readonly #ctx: StoreContext;

  /**
   * @param options endpoint, region, bucket and credentials (or an adapter to share)
   * @param ctx retry policy, abort signal, log
   */
  constructor(options: StoreOptions | MinioAdapter, ctx: StoreContext) {
    this.#adapter = options instanceof MinioAdapter ? options : new MinioAdapter(options);
    this.#ctx = ctx;
    this.bucket = this.#adapter.bucket;
    this.endpoint = this.#adapter.endpoint;
  }

  /** The retry policy in force. */
  get policy(): RetryPolicy {
    return this.#ctx.policy;
  }

  /** The store's abort signal. */
  get signal(): AbortSignal {
    return this.#ctx.signal;
  }

  /** The same bucket, whose requests also stop when `signal` aborts. */
  withSignal(signal: AbortSignal): S3Store {
    return new S3Store(this.#adapter, {
      ...this.#ctx,
      signal: AbortSignal.any([this.#ctx.signal, signal]),
    });
  }

  /**
   * The same bucket for cleaning up after a failure or a stop: it ignores the run's signal
   * (which may have fired already), uses short timeouts and one quick retry, and gives up
   * after {@linkcode CLEANUP_BOUNDS}.deadlineMs.
   */
  forCleanup(): S3Store {
    const idleMs = Math.min(CLEANUP_BOUNDS.idleMs, this.#ctx.policy.idleMs || Infinity);
    return new S3Store(this.#adapter, {
      log: this.#ctx.log,
      signal: AbortSignal.timeout(CLEANUP_BOUNDS.deadlineMs),
      policy: {
        retries: CLEANUP_BOUNDS.retries,
        idleMs,
        baseDelayMs: CLEANUP_BOUNDS.delayMs,
        maxDelayMs: CLEANUP_BOUNDS.delayMs,
        giveUpAfterMs: CLEANUP_BOUNDS.deadlineMs,
      },
    });
  }

  /**
   * Sends one request through the retry layer.
   *
   * @throws {StoreError} naming the request, the key and the cause; `code` is S3's or ours
   */
  async send<T>(request: string, key: string, fn: (attempt: Attempt) => Promise<T>): Promise<T> {
    const name: RequestName = { request, key };
    try {
      return await withRetries(name, this.#ctx.policy, this.#ctx.signal, this.#ctx.log, fn);
    } catch (err) {
      if (!(err instanceof RequestFailedError)) throw err;
      throw this.#error(name, err);
    }
  }

  #error(name: RequestName, err: RequestFailedError): StoreError {
    const where = `s3://${this.bucket}/${name.key === this.bucket ? "" : name.key}`;
    const [reason, hint] = explain(err.failure, {
      bucket: this.bucket,
      endpoint: this.endpoint,
      secret: this.#adapter.credentialsSecret,
      request: name.request,
      key: name.key,
    });
    const tries = err.attempts > 1
      ? ` after ${err.attempts} attempts over ${(err.elapsedMs / 1000).toFixed(1)} s`
      : "";
    return new StoreError(
      `${name.request} ${where} failed${tries}: ${reason}`,
      hint,
      err.failure.code,
      {
        cause: err.cause,
      },
    );
  }

  /** The adapter, for the upload and download engines of this folder. */
  get adapter(): MinioAdapter {
    return this.#adapter;
  }

  /**
   * Proves the credentials work and the bucket exists, with a one-key listing (a GET, whose
   * error body names the cause; a HEAD's 403 could not tell a wrong secret from a wrong key id).
   * It lists under `prefix`, so a key allowed to list only that prefix passes.
   *
   * @param prefix the programs' key prefix with its trailing slash, e.g. `postgresql-18/`
   * @throws {StoreError} NoSuchBucket, bad credentials, no permission, or an unreachable endpoint
   */
  async checkBucket(prefix: string): Promise<void> {
    await this.send(
      "check bucket",
      this.bucket,
      (a) => this.#adapter.listPage(a, prefix, "/", "", 1),
    );
  }

  /** Stats an object; undefined when it does not exist. */
  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      return await this.send("stat object", key, (a) => this.#adapter.stat(a, key));
    } catch (err) {
      if (await this.#missing(key, err)) return undefined;
      throw err;
    }
  }

  /**
   * Whether a failed read means the key does not exist. For a missing key, RGW answers 403, not
   * 404, to a key whose s3:ListBucket is limited to a prefix (it checks that grant without the
   * prefix); a listing of exactly that key, which the grant allows, tells the two apart.
   */
  async #missing(key: string, err: unknown): Promise<boolean> {
    if (!(err instanceof StoreError)) return false;
    if (isNotFound(err.code)) return true;
    if (err.code !== "AccessDenied") return false;
    try {
      const page = await this.send(
        "list objects",
        key,
        (a) => this.#adapter.listPage(a, key, "", "", 1),
      );
      return !page.objects.some((o) => o.key === key);
    } catch {
      return false;
    }
  }

  /** Reads a small object as text; undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    try {
      return await this.send("get object", key, async (a) => {
        const response = await this.#adapter.get(a, key, 0);
        const chunks: Buffer[] = [];
        for await (const chunk of response.body) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        if (Number.isFinite(response.length) && body.length !== response.length) {
          throw Object.assign(new Error("aborted"), { code: "ResponseCutShort" });
        }
        return body.toString("utf8");
      });
    } catch (err) {
      if (await this.#missing(key, err)) return undefined;
      throw err;
    }
  }

  /**
   * Opens an object (or a range of it) for reading: a download that resumes where a broken or
   * silent GET stopped, pinned to the object's ETag (see download.ts).
   */
  read(key: string, range?: ByteRange): Promise<Download> {
    return openDownload(this, key, this.#ctx.log, range);
  }

  /**
   * Writes a small object in one request (atomic on S3; a retry rewrites the same bytes), with
   * these tags when given.
   */
  async putSmall(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    tags: ObjectTags = {},
  ): Promise<void> {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    await this.send("put object", key, (a) => this.#adapter.put(a, key, bytes, contentType, tags));
  }

  /** Replaces an object's tags (a retry sets the same ones again). */
  async setTags(key: string, tags: ObjectTags): Promise<void> {
    await this.send("put object tagging", key, (a) => this.#adapter.setTags(a, key, tags));
  }

  /** Starts a multipart upload, with these tags when given; returns its id. */
  createMultipart(
    key: string,
    contentType: string,
    metadata: Record<string, string> = {},
    tags: ObjectTags = {},
  ): Promise<string> {
    return this.send(
      "start multipart upload",
      key,
      (a) => this.#adapter.createMultipart(a, key, contentType, metadata, tags),
    );
  }

  /** Uploads one part from its buffer (a retry sends the same buffer again); returns its ETag. */
  uploadPart(key: string, uploadId: string, part: number, body: Uint8Array): Promise<string> {
    return this.send(
      "upload part",
      key,
      (a) => this.#adapter.uploadPart(a, key, uploadId, part, body),
    );
  }

  /**
   * Completes a multipart upload, then reads the object back: its size must be `bytes` and,
   * when every part's ETag is an MD5, its ETag the multipart ETag those parts make. A complete
   * whose answer was lost is retried; the retry's NoSuchUpload then means "done" only if the
   * object checks out.
   *
   * @throws {StoreError} when the object is missing or differs (code `SizeMismatch`)
   */
  async completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
    bytes: number,
    request = "complete multipart upload",
  ): Promise<ObjectStat> {
    const sorted = [...parts].sort((a, b) => a.part - b.part);
    try {
      await this.send(
        request,
        key,
        (a) => this.#adapter.completeMultipart(a, key, uploadId, sorted),
      );
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "NoSuchUpload")) throw err;
    }
    return await this.verifyObject(key, bytes, multipartEtag(sorted.map((p) => p.etag)), request);
  }

  /**
   * Reads an object back and checks its size (and ETag when known).
   *
   * @throws {StoreError} code `SizeMismatch` when it is missing or differs
   */
  async verifyObject(
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
      : etag !== undefined && stat.etag !== "" && stat.etag !== etag
      ? `has ETag ${stat.etag}, expected ${etag}`
      : undefined;
    if (problem) {
      throw new StoreError(
        `${request} s3://${this.bucket}/${key} could not be confirmed: the object ${problem}`,
        "check the S3 server's logs and free space, then run the job again",
        "SizeMismatch",
      );
    }
    return stat!;
  }

  /** Aborts a multipart upload (one already gone is fine). */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.send(
        "abort multipart upload",
        key,
        (a) => this.#adapter.abortMultipart(a, key, uploadId),
      );
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "NoSuchUpload")) throw err;
    }
  }

  /**
   * Server-side copy of one object (up to 5 GiB), replacing its metadata, then checks that the
   * target has the source's size (a copy whose answer was lost is simply done again).
   */
  async copy(
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
    bytes: number,
  ): Promise<ObjectStat> {
    await this.send(
      "copy object",
      target,
      (a) => this.#adapter.copy(a, source, target, metadata, contentType),
    );
    return await this.verifyObject(target, bytes, undefined, "copy object");
  }

  /**
   * Writes `target` from staged segments by server-side copy (see compose.ts). The target
   * appears only when the copy completes; it is read back before this returns.
   *
   * @param target final key
   * @param segments staged segments in order (each at most 5 GiB; all but the last at least 5 MiB)
   * @param metadata user metadata for the target (e.g. its sha256)
   * @param contentType the target's content type
   * @param tags tags for the upload of a multi-segment join (see ObjectStore.compose)
   * @returns the target's stat
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

  /** UploadPartCopy of a whole object into part `part` of an upload; returns the part's ETag. */
  copyPart(target: string, uploadId: string, part: number, source: string): Promise<string> {
    return this.send(
      "copy part",
      target,
      (a) => this.#adapter.uploadPartCopy(a, target, uploadId, part, source),
    );
  }

  /** Lists the "folders" directly under a prefix (delimiter `/`). */
  async listFolders(prefix: string): Promise<string[]> {
    const folders: string[] = [];
    for (let token = "";;) {
      const page = await this.send(
        "list objects",
        prefix,
        (a) => this.#adapter.listPage(a, prefix, "/", token),
      );
      folders.push(...page.folders);
      if (page.next === undefined) break;
      token = page.next;
    }
    return folders.sort();
  }

  /** Lists every object under a prefix. */
  async listObjects(prefix: string): Promise<ObjectEntry[]> {
    const objects: ObjectEntry[] = [];
    for (let token = "";;) {
      const page = await this.send(
        "list objects",
        prefix,
        (a) => this.#adapter.listPage(a, prefix, "", token),
      );
      objects.push(...page.objects);
      if (page.next === undefined) break;
      token = page.next;
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Lists incomplete multipart uploads under a prefix. */
  async listIncompleteUploads(prefix: string): Promise<IncompleteUpload[]> {
    const uploads: IncompleteUpload[] = [];
    let marker = { keyMarker: "", uploadIdMarker: "" };
    for (;;) {
      const page = await this.send(
        "list multipart uploads",
        prefix,
        (a) => this.#adapter.listUploadsPage(a, prefix, marker.keyMarker, marker.uploadIdMarker),
      );
      uploads.push(...page.uploads);
      if (page.next === undefined) break;
      marker = page.next;
    }
    return uploads;
  }

  /**
   * Deletes objects one DeleteObject each, a few at a time (missing ones are fine). Single
   * deletes work under a policy that allows deletes only under the staging prefix, on RGW and
   * MinIO alike; the multi-object DeleteObjects does not on RGW.
   *
   * @throws {StoreError} for the first delete that failed, after the others were tried
   */
  async remove(keys: readonly string[]): Promise<void> {
    const queue = [...new Set(keys)];
    let failure: unknown;
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        try {
          await this.send("delete object", key, (a) => this.#adapter.delete(a, key));
        } catch (err) {
          if (!(err instanceof StoreError && isNotFound(err.code))) failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
    if (failure !== undefined) throw failure;
  }

  /** The bucket's enabled lifecycle rules (empty when none are set). */
  async getRetentionRules(): Promise<RetentionRule[]> {
    try {
      const raw = await this.send(
        "get bucket lifecycle",
        this.bucket,
        (a) => this.#adapter.getLifecycleRaw(a),
      );
      return raw.map(readRetentionRule).filter((r) => r.enabled).map(({ enabled: _, ...r }) => r);
    } catch (err) {
      if (err instanceof StoreError && err.code === "NoSuchLifecycleConfiguration") return [];
      throw err;
    }
  }

  /**
   * Sets lifecycle rules (a get, then a set of the whole configuration): each of `rules`
   * replaces the rule of the same id or is added, those `remove` names go, and every other rule
   * of the bucket is sent back as it was read.
   */
  async putRetentionRules(
    rules: readonly RetentionRule[],
    remove: readonly string[] = [],
  ): Promise<void> {
    let existing: unknown[] = [];
    try {
      existing = await this.send(
        "get bucket lifecycle",
        this.bucket,
        (a) => this.#adapter.getLifecycleRaw(a),
      );
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "NoSuchLifecycleConfiguration")) throw err;
    }
    const replaced = new Set([...remove, ...rules.map((r) => r.id)]);
    const others = existing.filter((r) => !replaced.has(readRetentionRule(r).id));
    await this.send(
      "set bucket lifecycle",
      this.bucket,
      (a) => this.#adapter.putLifecycleRaw(a, [...others, ...rules.map(rawRetentionRule)]),
    );
  }
}

/**
 * The ETag S3 gives an object made of these parts: the MD5 of the parts' binary MD5s, then
 * `-<count>`; undefined when a part's ETag is not an MD5 (then only the size is checked).
 */
export function multipartEtag(partEtags: readonly string[]): string | undefined {
  if (partEtags.length === 0 || !partEtags.every((e) => /^[0-9a-f]{32}$/i.test(e))) {
    return undefined;
  }
  const md5 = createHash("md5");
  for (const etag of partEtags) md5.update(Buffer.from(etag, "hex"));
  return `${md5.digest("hex")}-${partEtags.length}`;
}
