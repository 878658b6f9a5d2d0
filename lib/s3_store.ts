/**
 * The only module that talks to S3 (through npm:minio). It names S3's limits once, streams
 * uploads with bounded memory, joins staged segments by server-side copy, and turns every S3
 * or network failure into a StoreError with a hint.
 *
 * @module
 */
import { Client, CopyDestinationOptions, CopySourceOptions } from "minio";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { StoreError } from "./errors.ts";

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

/** DeleteObject requests in flight at once when removing several keys. */
const DELETE_CONCURRENCY = 4;

/** How to reach the bucket. */
export interface StoreOptions {
  /** `http(s)://host:port` */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** The Kubernetes Secret that holds the keys, named in hints. @default "postgres-backup-s3-credentials" */
  readonly credentialsSecret?: string;
}

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

/** Knobs of a streamed upload. */
export interface UploadOptions {
  /** Bytes per part; memory is about `partBytes × (concurrency + 1)`. */
  readonly partBytes: number;
  /** Bytes per staged segment; each segment is one multipart upload of at most 5 GiB. */
  readonly segmentBytes: number;
  /** Parts uploaded at once. */
  readonly concurrency?: number;
  /** Content type of the staged objects. */
  readonly contentType?: string;
  /** Stops the upload; the in-flight upload is aborted. */
  readonly signal?: AbortSignal;
  /** Called after each part is stored, with the total bytes stored. */
  readonly onProgress?: (uploadedBytes: number) => void;
}

/** What a streamed upload stored. */
export interface UploadResult {
  /** The staged segment keys, in order. */
  readonly segments: readonly { key: string; bytes: number }[];
  /** Total bytes stored. */
  readonly bytes: number;
}

/** One lifecycle rule, as far as backup-toolbox cares. */
export interface RetentionRule {
  readonly id: string;
  readonly prefix: string;
  readonly expireDays: number | undefined;
  readonly abortIncompleteDays: number | undefined;
}

/** A bucket on an S3 server. */
export class S3Store {
  readonly bucket: string;
  readonly endpoint: string;
  readonly #secret: string;
  #client: Client;

  /** @param options endpoint, region, bucket and credentials */
  constructor(options: StoreOptions) {
    const url = new URL(options.endpoint);
    const useSSL = url.protocol === "https:";
    const port = url.port ? Number(url.port) : useSSL ? 443 : 80;
    this.#client = new Client({
      endPoint: url.hostname.replace(/^\[|\]$/g, ""),
      port,
      useSSL,
      region: options.region,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      pathStyle: true,
    });
    this.bucket = options.bucket;
    this.endpoint = options.endpoint;
    this.#secret = options.credentialsSecret ?? "postgres-backup-s3-credentials";
  }

  /**
   * Proves the credentials work and the bucket exists, with a one-key listing (a GET, whose
   * error body names the cause; a HEAD's 403 could not tell a wrong secret from a wrong key id).
   * It lists under `prefix`, so a key allowed to list only that prefix passes.
   *
   * @param prefix the programs' key prefix with its trailing slash, e.g. `postgresql-18/`
   * @throws {StoreError} NoSuchBucket, bad credentials, no permission, or unreachable endpoint
   */
  async checkBucket(prefix: string): Promise<void> {
    await this.#call(
      "check bucket",
      this.bucket,
      () => this.#client.listObjectsV2Query(this.bucket, prefix, "", "/", 1, ""),
    );
  }

  /**
   * Streams bytes into staged segment objects `<keyBase>.seg-NNNN` with multipart uploads of
   * fixed-size parts. A segment is completed when it reaches `segmentBytes`, so any stream up
   * to 5 TiB fits in bounded memory. On failure or abort, the open upload is aborted and the
   * completed segments are removed.
   *
   * @param keyBase staging key prefix, e.g. `<prefix>/.tmp/<run>/full.sql.zst`
   * @param source the bytes
   * @param options part and segment sizes, abort signal, progress callback
   */
  async uploadSegments(
    keyBase: string,
    source: ReadableStream<Uint8Array>,
    options: UploadOptions,
  ): Promise<UploadResult> {
    const { partBytes, segmentBytes } = options;
    if (partBytes < S3_LIMITS.minPartBytes || segmentBytes > S3_LIMITS.maxPartBytes) {
      throw new RangeError(`Cannot upload with part ${partBytes} B and segment ${segmentBytes} B`);
    }
    const concurrency = options.concurrency ?? 3;
    const headers = { "Content-Type": options.contentType ?? "application/octet-stream" };
    const segments: { key: string; bytes: number }[] = [];
    let open:
      | { key: string; uploadId: string; next: number; parts: { part: number; etag: string }[] }
      | undefined;
    let openBytes = 0;
    let uploaded = 0;
    const inflight = new Set<Promise<void>>();
    let failure: unknown;

    const startSegment = async () => {
      const key = `${keyBase}.seg-${String(segments.length + 1).padStart(4, "0")}`;
      const uploadId = await this.#call(
        "start multipart upload",
        key,
        () => this.#client.initiateNewMultipartUpload(this.bucket, key, headers),
      );
      open = { key, uploadId, next: 1, parts: [] };
      openBytes = 0;
    };
    const finishSegment = async () => {
      if (!open) return;
      await drain();
      const { key, uploadId, parts } = open;
      parts.sort((a, b) => a.part - b.part);
      await this.#call(
        "complete multipart upload",
        key,
        () => this.#client.completeMultipartUpload(this.bucket, key, uploadId, parts),
      );
      segments.push({ key, bytes: openBytes });
      open = undefined;
    };
    const drain = async () => {
      while (inflight.size > 0) await Promise.race(inflight);
      if (failure !== undefined) throw failure;
    };
    const sendPart = async (payload: Uint8Array) => {
      if (!open) await startSegment();
      const segment = open!;
      const partNumber = segment.next++;
      openBytes += payload.byteLength;
      const task = this.#call("upload part", segment.key, () =>
        this.#client.uploadPart({
          bucketName: this.bucket,
          objectName: segment.key,
          uploadID: segment.uploadId,
          partNumber,
          headers: {},
        }, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)))
        .then((result) => {
          segment.parts.push({ part: partNumber, etag: result.etag });
          uploaded += payload.byteLength;
          options.onProgress?.(uploaded);
        }, (err) => {
          failure ??= err;
        })
        .finally(() => {
          // The part is sent: its buffer can take the next one.
          if (payload.byteLength === partBytes) spare.push(payload);
        });
      const tracked = task.finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= concurrency) await Promise.race(inflight);
      if (failure !== undefined) throw failure;
      if (openBytes >= segmentBytes) await finishSegment();
    };

    // At most concurrency + 1 part buffers exist; finished ones are reused, not reallocated.
    const spare: Uint8Array[] = [];
    let buffer: Uint8Array = new Uint8Array(partBytes);
    let fill = 0;
    const reader = source.getReader();
    const onAbort = () => reader.cancel(options.signal?.reason).catch(() => {});
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        options.signal?.throwIfAborted();
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
      options.signal?.throwIfAborted();
      if (fill > 0 || (segments.length === 0 && !open)) await sendPart(buffer.subarray(0, fill));
      await finishSegment();
      return { segments, bytes: segments.reduce((n, s) => n + s.bytes, 0) };
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      await Promise.allSettled(inflight);
      const cleanup: Promise<unknown>[] = [];
      if (open) cleanup.push(this.abortUpload(open.key, open.uploadId).catch(() => {}));
      cleanup.push(this.remove(segments.map((s) => s.key)).catch(() => {}));
      await Promise.all(cleanup);
      throw options.signal?.aborted ? options.signal.reason : err;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Writes `target` from staged segments by server-side copy: one CopyObject for a single
   * segment, otherwise a multipart upload whose parts are UploadPartCopy of whole segments.
   * The target appears only when the copy completes; its size is checked afterwards.
   *
   * @param target final key
   * @param segments staged segments in order (each at most 5 GiB; all but the last at least 5 MiB)
   * @param metadata user metadata for the target (e.g. its sha256)
   * @param contentType the target's content type
   * @returns the target's stat
   */
  async compose(
    target: string,
    segments: readonly { key: string; bytes: number }[],
    metadata: Record<string, string>,
    contentType: string,
  ): Promise<ObjectStat> {
    const expected = segments.reduce((n, s) => n + s.bytes, 0);
    if (segments.length === 1) {
      await this.copy(segments[0]!.key, target, metadata, contentType);
    } else {
      const headers: Record<string, string> = { "Content-Type": contentType };
      for (const [name, value] of Object.entries(metadata)) headers[`x-amz-meta-${name}`] = value;
      const uploadId = await this.#call(
        "start multipart copy",
        target,
        () => this.#client.initiateNewMultipartUpload(this.bucket, target, headers),
      );
      try {
        const parts: { part: number; etag: string }[] = [];
        for (const [i, segment] of segments.entries()) {
          const result = await this.#call("copy part", target, () =>
            this.#client.uploadPart({
              bucketName: this.bucket,
              objectName: target,
              uploadID: uploadId,
              partNumber: i + 1,
              headers: { "x-amz-copy-source": encodeURI(`${this.bucket}/${segment.key}`) },
            }));
          parts.push({ part: i + 1, etag: result.etag });
        }
        await this.#call(
          "complete multipart copy",
          target,
          () => this.#client.completeMultipartUpload(this.bucket, target, uploadId, parts),
        );
      } catch (err) {
        await this.abortUpload(target, uploadId).catch(() => {});
        throw err;
      }
    }
    const stat = await this.stat(target);
    if (!stat || stat.size !== expected) {
      throw new StoreError(
        `copy to ${target} stored ${stat?.size ?? 0} bytes, expected ${expected}`,
        "check the S3 server's logs and free space, then run the backup again",
        "SizeMismatch",
      );
    }
    return stat;
  }

  /** Server-side copy of one object (up to 5 GiB), replacing its metadata. */
  async copy(
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
  ): Promise<void> {
    await this.#call("copy object", target, () =>
      this.#client.copyObject(
        new CopySourceOptions({ Bucket: this.bucket, Object: source }),
        new CopyDestinationOptions({
          Bucket: this.bucket,
          Object: target,
          MetadataDirective: "REPLACE",
          UserMetadata: metadata,
          Headers: { "Content-Type": contentType },
        }),
      ));
  }

  /** Writes a small object in one request (atomic on S3). */
  async putSmall(key: string, body: string | Uint8Array, contentType: string): Promise<void> {
    const buffer = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
    await this.#call(
      "put object",
      key,
      () =>
        this.#client.putObject(this.bucket, key, buffer, buffer.length, {
          "Content-Type": contentType,
        }),
    );
  }

  /** Stats an object; undefined when it does not exist. */
  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      const s = await this.#call(
        "stat object",
        key,
        () => this.#client.statObject(this.bucket, key),
      );
      const metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(s.metaData ?? {})) {
        metadata[name.toLowerCase().replace(/^x-amz-meta-/, "")] = String(value);
      }
      return { size: s.size, etag: s.etag, lastModified: s.lastModified, metadata };
    } catch (err) {
      if (err instanceof StoreError && await this.#missing(key, err)) return undefined;
      throw err;
    }
  }

  /** Reads a small object as text; undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    try {
      const stream = await this.#call(
        "get object",
        key,
        () => this.#client.getObject(this.bucket, key),
      );
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    } catch (err) {
      if (err instanceof StoreError && await this.#missing(key, err)) return undefined;
      throw err;
    }
  }

  /**
   * Whether a failed read means the key does not exist. For a missing key, RGW answers 403, not
   * 404, to a key whose s3:ListBucket is limited to a prefix (it checks that grant without the
   * prefix); a listing of exactly that key, which the grant allows, tells the two apart.
   */
  async #missing(key: string, err: StoreError): Promise<boolean> {
    if (isNotFound(err.code)) return true;
    if (err.code !== "AccessDenied") return false;
    try {
      const page = await this.#client.listObjectsV2Query(this.bucket, key, "", "", 1, "");
      return !page.objects.some((o) => o.name === key);
    } catch {
      return false;
    }
  }

  /**
   * Opens an object for streaming. Size and metadata come from the GET response itself, so
   * they describe exactly the bytes being read even if the key is overwritten meanwhile.
   *
   * @returns the bytes, their count and the object's user metadata
   */
  async getStream(
    key: string,
  ): Promise<
    { stream: ReadableStream<Uint8Array>; size: number; metadata: Record<string, string> }
  > {
    const body = await this.#call(
      "get object",
      key,
      () => this.#client.getObject(this.bucket, key, {}),
    );
    const headers = (body as unknown as { headers?: Record<string, string | string[]> }).headers ??
      {};
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase().startsWith("x-amz-meta-")) {
        metadata[name.toLowerCase().slice("x-amz-meta-".length)] = String(value);
      }
    }
    const web = Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>;
    return { stream: web, size: Number(headers["content-length"] ?? NaN), metadata };
  }

  /** Lists the "folders" directly under a prefix (delimiter `/`). */
  async listFolders(prefix: string): Promise<string[]> {
    const folders: string[] = [];
    await this.#call("list objects", prefix, async () => {
      for await (const item of this.#client.listObjectsV2(this.bucket, prefix, false)) {
        if ("prefix" in item && item.prefix) folders.push(item.prefix);
      }
    });
    return folders.sort();
  }

  /** Lists every object under a prefix. */
  async listObjects(prefix: string): Promise<ObjectEntry[]> {
    const objects: ObjectEntry[] = [];
    await this.#call("list objects", prefix, async () => {
      for await (const item of this.#client.listObjectsV2(this.bucket, prefix, true)) {
        if ("name" in item && item.name) {
          objects.push({ key: item.name, size: item.size, lastModified: item.lastModified });
        }
      }
    });
    return objects.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Lists incomplete multipart uploads under a prefix. */
  async listIncompleteUploads(prefix: string): Promise<IncompleteUpload[]> {
    const uploads: IncompleteUpload[] = [];
    let keyMarker = "";
    let uploadIdMarker = "";
    for (;;) {
      const page = await this.#call(
        "list multipart uploads",
        prefix,
        () =>
          this.#client.listIncompleteUploadsQuery(
            this.bucket,
            prefix,
            keyMarker,
            uploadIdMarker,
            "",
          ),
      );
      for (const u of page.uploads) {
        uploads.push({ key: u.key, uploadId: u.uploadId, initiated: new Date(u.initiated) });
      }
      if (!page.isTruncated) break;
      keyMarker = page.nextKeyMarker;
      uploadIdMarker = page.nextUploadIdMarker;
    }
    return uploads;
  }

  /** Aborts a multipart upload. */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.#call("abort multipart upload", key, async () => {
      try {
        await this.#client.abortMultipartUpload(this.bucket, key, uploadId);
      } catch (err) {
        if (codeOf(err) !== "NoSuchUpload") throw err;
      }
    });
  }

  /**
   * Deletes objects (missing ones are fine) with one DeleteObject request per key, a few at a
   * time. Not the multi-object DeleteObjects: RGW authorizes that one against the bucket, so a
   * key allowed to delete only under `<prefix>/.tmp/` is refused, while a single DeleteObject is
   * authorized per key on RGW and MinIO alike. Every key is tried even when one fails.
   *
   * @throws {StoreError} for the first key that could not be deleted
   */
  async remove(keys: readonly string[]): Promise<void> {
    const queue = [...new Set(keys)];
    let failure: StoreError | undefined;
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        const target = key;
        try {
          await this.#call(
            "delete object",
            target,
            () => this.#client.removeObject(this.bucket, target),
          );
        } catch (err) {
          if (err instanceof StoreError && isNotFound(err.code)) continue;
          failure ??= err instanceof StoreError ? err : this.#error("delete object", target, err);
        }
      }
    };
    const workers = Math.min(DELETE_CONCURRENCY, queue.length);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure) throw failure;
  }

  /** The bucket's lifecycle rules (empty when none are set). */
  async getRetentionRules(): Promise<RetentionRule[]> {
    let config;
    try {
      config = await this.#call(
        "get bucket lifecycle",
        this.bucket,
        () => this.#client.getBucketLifecycle(this.bucket),
      );
    } catch (err) {
      if (err instanceof StoreError && err.code === "NoSuchLifecycleConfiguration") return [];
      throw err;
    }
    const rules = config?.Rule ?? [];
    return (Array.isArray(rules) ? rules : [rules]).filter((r) => r.Status !== "Disabled").map((
      r,
    ) => ({
      id: r.ID,
      prefix: r.Filter?.Prefix ?? r.Prefix ?? "",
      expireDays: numberOrUndefined(r.Expiration?.Days),
      abortIncompleteDays: numberOrUndefined(
        r.AbortIncompleteMultipartUpload?.DaysAfterInitiation,
      ),
    }));
  }

  /**
   * Sets one lifecycle rule for the prefix (expire after N days, abort incomplete uploads after 1
   * day), keeping the bucket's rules for other prefixes.
   */
  async putRetentionRule(id: string, prefix: string, days: number): Promise<void> {
    let existing: { Rule?: unknown } | null = null;
    try {
      existing = await this.#client.getBucketLifecycle(this.bucket) as { Rule?: unknown } | null;
    } catch (err) {
      if (codeOf(err) !== "NoSuchLifecycleConfiguration") {
        throw this.#error("get bucket lifecycle", this.bucket, err);
      }
    }
    const raw = existing?.Rule ?? [];
    const others = (Array.isArray(raw) ? raw : [raw]).filter((r: { ID?: string }) => r.ID !== id);
    const rule = {
      ID: id,
      Status: "Enabled",
      Filter: { Prefix: prefix },
      Expiration: { Days: days },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    };
    await this.#call("set bucket lifecycle", this.bucket, () =>
      // deno-lint-ignore no-explicit-any
      this.#client.setBucketLifecycle(this.bucket, { Rule: [...others, rule] } as any));
  }

  async #call<T>(action: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.#error(action, key, err);
    }
  }

  #error(action: string, key: string, err: unknown): StoreError {
    const code = codeOf(err) ?? "Unknown";
    const where = `s3://${this.bucket}/${key === this.bucket ? "" : key}`;
    const [reason, hint] = explain(code, this.bucket, this.endpoint, this.#secret);
    const needs = code === "AccessDenied" ? permissionFor(action, this.bucket, key) : undefined;
    return new StoreError(
      `${action} ${where} failed: ${reason}`,
      needs
        ? `the key in AWS_ACCESS_KEY_ID (secret ${this.#secret}) needs ${needs}: attach the matching policy from manifests/s3-policies/ (RUNBOOK.md "S3 keys and policies")`
        : hint,
      code,
      err instanceof Error ? { cause: err } : undefined,
    );
  }
}

function numberOrUndefined(value: unknown): number | undefined {
  const n = Number(value);
  return value === undefined || value === null || Number.isNaN(n) ? undefined : n;
}

function isNotFound(code: string): boolean {
  return code === "NoSuchKey" || code === "NotFound" || code === "NoSuchObject";
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; cause?: unknown; name?: unknown };
  if (typeof e.code === "string" && e.code !== "") return e.code;
  if (e.cause) return codeOf(e.cause);
  if (e.name === "TimeoutError") return "Timeout";
  return undefined;
}

/**
 * The IAM permission a request needs, as `mc admin policy create` spells it, with its resource:
 * what an AccessDenied hint names.
 */
function permissionFor(action: string, bucket: string, key: string): string {
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `${bucketArn}/${key}`;
  switch (action) {
    case "check bucket":
      return `s3:ListBucket on ${bucketArn}`;
    case "list objects":
      return `s3:ListBucket on ${bucketArn} for prefix ${key}`;
    case "list multipart uploads":
      return `s3:ListBucketMultipartUploads on ${bucketArn}`;
    case "get bucket lifecycle":
      return `s3:GetLifecycleConfiguration on ${bucketArn}`;
    case "set bucket lifecycle":
      return `s3:PutLifecycleConfiguration on ${bucketArn}`;
    case "stat object":
    case "get object":
      return `s3:GetObject on ${objectArn}`;
    case "copy object":
    case "copy part":
      return `s3:GetObject on the source and s3:PutObject on ${objectArn}`;
    case "abort multipart upload":
      return `s3:AbortMultipartUpload on ${objectArn}`;
    case "delete object":
      return `s3:DeleteObject on ${objectArn}`;
    default:
      // put object; start, upload part of and complete a multipart upload or copy
      return `s3:PutObject on ${objectArn}`;
  }
}

/** Reason and hint for an S3 or network error code. RGW leaves `Message` empty, so we explain. */
function explain(code: string, bucket: string, endpoint: string, secret: string): [string, string] {
  const creds = `check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (secret ${secret})`;
  switch (code) {
    case "NoSuchBucket":
      return [
        `bucket ${bucket} does not exist (NoSuchBucket)`,
        `create it (mc mb backup/${bucket}) or fix S3_BUCKET`,
      ];
    case "InvalidAccessKeyId":
      return ["the access key is not known to the server (InvalidAccessKeyId)", creds];
    case "SignatureDoesNotMatch":
      return ["the secret key is wrong (SignatureDoesNotMatch)", creds];
    case "AccessDenied":
      return ["access denied (AccessDenied)", creds];
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "ETIMEDOUT":
    case "Timeout":
      return [
        `cannot reach ${endpoint} (${code})`,
        "check S3_ENDPOINT, that the server is up, and that a NetworkPolicy allows egress to it",
      ];
    default:
      return [
        `S3 error ${code}`,
        `check the S3 server at ${endpoint} and its logs, then run the job again`,
      ];
  }
}
