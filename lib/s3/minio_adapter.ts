/**
 * The only module that imports npm:minio. Each method sends exactly one S3 request through the
 * transport of the given try, and answers in backup-toolbox's own types, so retrying, checking
 * and wording live elsewhere (store.ts, retry.ts, failure.ts).
 *
 * @module
 */
import { Client, CopyDestinationOptions, CopySourceOptions } from "minio";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Attempt } from "./attempt.ts";
import type {
  IncompleteUpload,
  ObjectEntry,
  ObjectStat,
  ObjectTags,
  RetentionRule,
  UploadedPart,
} from "./object_store.ts";

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

/** An open GET: the body and what its headers say. */
export interface GetResponse {
  /** The body; destroying the try's connections ends it with an error. */
  readonly body: http.IncomingMessage;
  /** Bytes in this response (from the requested offset to the object's end or the range's). */
  readonly length: number;
  /** The object's size: from Content-Range (`/total`) for a 206, Content-Length for a 200. */
  readonly total: number;
  /** The object's ETag (without quotes). */
  readonly etag: string;
  /** User metadata of the object. */
  readonly metadata: Record<string, string>;
  /** Where this response starts in the object (from Content-Range; 0 for a whole object). */
  readonly start: number;
}

/** What a GET asks for besides its offset. */
export interface GetOptions {
  /** Read up to this offset (exclusive) instead of to the object's end. */
  readonly end?: number | undefined;
  /** Read only this version of the object (If-Match on its ETag, without quotes). */
  readonly etag?: string | undefined;
}

/** One page of a listing. */
export interface ListPage {
  readonly objects: ObjectEntry[];
  readonly folders: string[];
  /** Token for the next page; undefined on the last. */
  readonly next: string | undefined;
}

/** One page of incomplete uploads. */
export interface UploadsPage {
  readonly uploads: IncompleteUpload[];
  readonly next: { keyMarker: string; uploadIdMarker: string } | undefined;
}

/** npm:minio, one request per call, each through the transport of a try. */
export class MinioAdapter {
  readonly bucket: string;
  readonly endpoint: string;
  /** The Secret holding the keys, for hints. */
  readonly credentialsSecret: string;
  readonly #options: StoreOptions;
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #agent: http.Agent;

  /** @param options endpoint, region, bucket and credentials */
  constructor(options: StoreOptions) {
    const url = new URL(options.endpoint);
    this.#secure = url.protocol === "https:";
    this.#host = url.hostname.replace(/^\[|\]$/g, "");
    this.#port = url.port ? Number(url.port) : this.#secure ? 443 : 80;
    // A fresh connection per request: a kept-alive one that the server closed is retried by
    // the HTTP client itself, out of sight of the retry layer and its log.
    this.#agent = this.#secure
      ? new https.Agent({ keepAlive: false })
      : new http.Agent({ keepAlive: false });
    this.#options = options;
    this.bucket = options.bucket;
    this.endpoint = options.endpoint;
    this.credentialsSecret = options.credentialsSecret ?? "postgres-backup-s3-credentials";
  }

  /** A client bound to one try; cheap to make (configuration only). */
  #client(attempt: Attempt): Client {
    return new Client({
      endPoint: this.#host,
      port: this.#port,
      useSSL: this.#secure,
      region: this.#options.region,
      accessKey: this.#options.accessKey,
      secretKey: this.#options.secretKey,
      pathStyle: true,
      // Ours is the only retry layer.
      retryOptions: { disableRetry: true },
      transport: attempt.transport(this.#secure),
      transportAgent: this.#agent,
    });
  }

  /** ListObjectsV2, one page. */
  async listPage(
    attempt: Attempt,
    prefix: string,
    delimiter: string,
    token: string,
    maxKeys = 1000,
  ): Promise<ListPage> {
    const page = await this.#client(attempt).listObjectsV2Query(
      this.bucket,
      prefix,
      token,
      delimiter,
      maxKeys,
      "",
    );
    const objects: ObjectEntry[] = [];
    const folders: string[] = [];
    for (const item of page.objects) {
      if (item.prefix) folders.push(item.prefix);
      else if (item.name) {
        objects.push({ key: item.name, size: item.size, lastModified: item.lastModified });
      }
    }
    const next = page.isTruncated && page.nextContinuationToken
      ? page.nextContinuationToken
      : undefined;
    return { objects, folders, next };
  }

  /** HeadObject. */
  async stat(attempt: Attempt, key: string): Promise<ObjectStat> {
    const s = await this.#client(attempt).statObject(this.bucket, key);
    // npm:minio has already stripped `x-amz-meta-` from the names.
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(s.metaData ?? {})) {
      metadata[name.toLowerCase()] = String(value);
    }
    return { size: s.size, etag: s.etag, lastModified: s.lastModified, metadata };
  }

  /**
   * GetObject from `offset` (to `end`, exclusive, when given), pinned to `etag` when given
   * (If-Match), so a resumed download never mixes two versions of an object. A request with a
   * `Range` expects 206 Partial Content; one without, 200.
   */
  async get(
    attempt: Attempt,
    key: string,
    offset: number,
    options: GetOptions = {},
  ): Promise<GetResponse> {
    const { end, etag } = options;
    const headers: Record<string, string> = {};
    if (end !== undefined) headers.range = `bytes=${offset}-${end - 1}`;
    else if (offset > 0) headers.range = `bytes=${offset}-`;
    if (etag) headers["if-match"] = `"${etag}"`;
    const expected = headers.range === undefined ? [200] : [206];
    const body = await this.#client(attempt).makeRequestAsync(
      { method: "GET", bucketName: this.bucket, objectName: key, headers },
      "",
      expected,
    );
    const h = body.headers;
    const length = Number(h["content-length"] ?? NaN);
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(h["content-range"] ?? ""));
    return {
      body,
      length,
      etag: String(h.etag ?? "").replace(/^"|"$/g, ""),
      metadata: userMetadata(h),
      start: range ? Number(range[1]) : 0,
      // `*` (a size the server does not know) gives NaN.
      total: range ? Number(range[2]) : length,
    };
  }

  /**
   * PutObject of a small body in one request, with its tags in `x-amz-tagging` when given
   * (npm:minio's putObject would send that header as user metadata).
   */
  async put(
    attempt: Attempt,
    key: string,
    body: Uint8Array,
    contentType: string,
    tags: ObjectTags = {},
  ): Promise<void> {
    const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const headers: Record<string, string> = {
      "Content-Type": contentType,
      "Content-MD5": createHash("md5").update(buffer).digest("base64"),
      ...taggingHeader(tags),
    };
    await this.#client(attempt).makeRequestAsyncOmit(
      { method: "PUT", bucketName: this.bucket, objectName: key, headers },
      buffer,
      [200],
    );
  }

  /** PutObjectTagging: the object's tags become exactly `tags`. */
  async setTags(attempt: Attempt, key: string, tags: ObjectTags): Promise<void> {
    await this.#client(attempt).setObjectTagging(this.bucket, key, { ...tags });
  }

  /** CreateMultipartUpload, with its tags in `x-amz-tagging` when given; returns the upload id. */
  async createMultipart(
    attempt: Attempt,
    key: string,
    contentType: string,
    metadata: Record<string, string> = {},
    tags: ObjectTags = {},
  ): Promise<string> {
    const headers: Record<string, string> = { "Content-Type": contentType, ...taggingHeader(tags) };
    for (const [name, value] of Object.entries(metadata)) headers[`x-amz-meta-${name}`] = value;
    return await this.#client(attempt).initiateNewMultipartUpload(this.bucket, key, headers);
  }

  /** UploadPart; returns the part's ETag. */
  async uploadPart(
    attempt: Attempt,
    key: string,
    uploadId: string,
    part: number,
    body: Uint8Array,
  ): Promise<string> {
    const result = await this.#client(attempt).uploadPart(
      {
        bucketName: this.bucket,
        objectName: key,
        uploadID: uploadId,
        partNumber: part,
        headers: {},
      },
      Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    );
    return result.etag;
  }

  /** UploadPartCopy of a whole object; returns the part's ETag. */
  async uploadPartCopy(
    attempt: Attempt,
    key: string,
    uploadId: string,
    part: number,
    sourceKey: string,
  ): Promise<string> {
    const result = await this.#client(attempt).uploadPart({
      bucketName: this.bucket,
      objectName: key,
      uploadID: uploadId,
      partNumber: part,
      headers: { "x-amz-copy-source": encodeURI(`${this.bucket}/${sourceKey}`) },
    });
    return result.etag;
  }

  /** CompleteMultipartUpload. Its answer's ETag is not trusted (RGW sends none): stat after. */
  async completeMultipart(
    attempt: Attempt,
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<void> {
    await this.#client(attempt).completeMultipartUpload(this.bucket, key, uploadId, [...parts]);
  }

  /** AbortMultipartUpload. */
  async abortMultipart(attempt: Attempt, key: string, uploadId: string): Promise<void> {
    await this.#client(attempt).abortMultipartUpload(this.bucket, key, uploadId);
  }

  /** CopyObject (up to 5 GiB), replacing the target's metadata. */
  async copy(
    attempt: Attempt,
    source: string,
    target: string,
    metadata: Record<string, string>,
    contentType: string,
  ): Promise<void> {
    await this.#client(attempt).copyObject(
      new CopySourceOptions({ Bucket: this.bucket, Object: source }),
      new CopyDestinationOptions({
        Bucket: this.bucket,
        Object: target,
        MetadataDirective: "REPLACE",
        UserMetadata: metadata,
        Headers: { "Content-Type": contentType },
      }),
    );
  }

  /**
   * DeleteObject of one key. Not the multi-object DeleteObjects: RGW checks that one against
   * the bucket, so a policy that allows deletes only under a staging prefix refuses it.
   */
  async delete(attempt: Attempt, key: string): Promise<void> {
    await this.#client(attempt).removeObject(this.bucket, key);
  }

  /** ListMultipartUploads, one page. */
  async listUploadsPage(
    attempt: Attempt,
    prefix: string,
    keyMarker: string,
    uploadIdMarker: string,
  ): Promise<UploadsPage> {
    const page = await this.#client(attempt).listIncompleteUploadsQuery(
      this.bucket,
      prefix,
      keyMarker,
      uploadIdMarker,
      "",
    );
    return {
      uploads: page.uploads.map((u) => ({
        key: u.key,
        uploadId: u.uploadId,
        initiated: new Date(u.initiated),
      })),
      next: page.isTruncated
        ? { keyMarker: page.nextKeyMarker, uploadIdMarker: page.nextUploadIdMarker }
        : undefined,
    };
  }

  /** GetBucketLifecycleConfiguration, raw (undefined when the bucket has none). */
  async getLifecycleRaw(attempt: Attempt): Promise<unknown[]> {
    const config = await this.#client(attempt).getBucketLifecycle(this.bucket) as
      | { Rule?: unknown }
      | null;
    const raw = config?.Rule ?? [];
    return Array.isArray(raw) ? raw : [raw];
  }

  /** PutBucketLifecycleConfiguration with these raw rules. */
  async putLifecycleRaw(attempt: Attempt, rules: readonly unknown[]): Promise<void> {
    // deno-lint-ignore no-explicit-any
    await this.#client(attempt).setBucketLifecycle(this.bucket, { Rule: [...rules] } as any);
  }
}

/** `x-amz-tagging: name=value&…`, URL-encoded; nothing when there are no tags. */
export function taggingHeader(tags: ObjectTags): Record<string, string> {
  const entries = Object.entries(tags);
  if (entries.length === 0) return {};
  return {
    "x-amz-tagging": entries
      .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
      .join("&"),
  };
}

/** A lifecycle rule's tag, as the XML has it: `<Tag><Key/><Value/></Tag>`. */
interface RawTag {
  Key?: unknown;
  Value?: unknown;
}

/** What a lifecycle rule's filter may hold, as npm:minio parses the XML. */
interface RawFilter {
  Prefix?: unknown;
  Tag?: RawTag | RawTag[];
  And?: { Prefix?: unknown; Tag?: RawTag | RawTag[] };
}

/** Reads a raw lifecycle rule into the fields backup-toolbox checks. */
export function readRetentionRule(raw: unknown): RetentionRule & { enabled: boolean } {
  const r = raw as {
    ID?: unknown;
    Status?: string;
    Filter?: RawFilter;
    Prefix?: unknown;
    Expiration?: { Days?: unknown };
    AbortIncompleteMultipartUpload?: { DaysAfterInitiation?: unknown };
  };
  const filter = r.Filter ?? {};
  const tags: Record<string, string> = {};
  for (const tag of [filter.Tag ?? [], filter.And?.Tag ?? []].flat()) {
    if (tag.Key !== undefined) tags[String(tag.Key)] = String(tag.Value ?? "");
  }
  const prefix = filter.And?.Prefix ?? filter.Prefix ?? r.Prefix ?? "";
  return {
    id: String(r.ID ?? ""),
    enabled: r.Status !== "Disabled",
    prefix: String(prefix),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
    expireDays: numberOrUndefined(r.Expiration?.Days),
    abortIncompleteDays: numberOrUndefined(r.AbortIncompleteMultipartUpload?.DaysAfterInitiation),
  };
}

/**
 * A lifecycle rule as npm:minio writes it: a prefix filter, or a prefix and its tags under
 * `And`; the expiration and the abort of incomplete uploads when set.
 */
export function rawRetentionRule(rule: RetentionRule): Record<string, unknown> {
  const tags = Object.entries(rule.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
  return {
    ID: rule.id,
    Status: "Enabled",
    Filter: tags.length > 0 ? { And: { Prefix: rule.prefix, Tag: tags } } : { Prefix: rule.prefix },
    ...(rule.expireDays !== undefined ? { Expiration: { Days: rule.expireDays } } : {}),
    ...(rule.abortIncompleteDays !== undefined
      ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: rule.abortIncompleteDays } }
      : {}),
  };
}

function numberOrUndefined(value: unknown): number | undefined {
  const n = Number(value);
  return value === undefined || value === null || Number.isNaN(n) ? undefined : n;
}

function userMetadata(headers: Record<string, unknown>): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith("x-amz-meta-")) {
      metadata[lower.slice("x-amz-meta-".length)] = String(value);
    }
  }
  return metadata;
}
