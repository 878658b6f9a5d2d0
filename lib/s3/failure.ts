/**
 * What went wrong with an S3 request, in two answers: can trying again help (transient), and
 * what do we tell the person on call (the reason and the hint). The retry policy asks the first;
 * the StoreError carries the second. RGW leaves `Message` empty in its error XML, so the wording
 * comes from the code, never from the server's text.
 *
 * @module
 */
import { StoreError } from "../errors.ts";
import type { WireFault } from "./attempt.ts";

/** A failed request, classified. */
export interface Failure {
  /** S3 error code (`NoSuchBucket`, `SlowDown`), network code (`ECONNRESET`), or ours. */
  readonly code: string;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** Whether trying again may succeed. */
  readonly transient: boolean;
  /** Plain words for the cause, e.g. `connection reset (ECONNRESET)`. */
  readonly cause: string;
}

/** S3 error codes that mean "try again later". */
const TRANSIENT_CODES = new Set([
  "SlowDown",
  "RequestTimeout",
  "InternalError",
  "ServiceUnavailable",
  "ServiceFailure",
  "Throttling",
  "ThrottlingException",
  "RequestThrottled",
  "XMinioServerNotInitialized",
  "XMinioReadQuorum",
  "XMinioWriteQuorum",
]);

/** Network codes, with their words and whether a retry can help. */
const NETWORK: Record<string, { words: string; transient: boolean }> = {
  ECONNREFUSED: { words: "connection refused", transient: true },
  ECONNRESET: { words: "connection reset", transient: true },
  ECONNABORTED: { words: "connection aborted", transient: true },
  EPIPE: { words: "connection closed while sending", transient: true },
  ETIMEDOUT: { words: "connection timed out", transient: true },
  EHOSTUNREACH: { words: "host unreachable", transient: true },
  ENETUNREACH: { words: "network unreachable", transient: true },
  ENETDOWN: { words: "network down", transient: true },
  EAI_AGAIN: { words: "name lookup failed for now", transient: true },
  ENOTFOUND: { words: "host name not found", transient: false },
  Timeout: { words: "no answer", transient: true },
  ResponseCutShort: { words: "response cut short", transient: true },
};

/** Deno's wording of some network errors, when they carry no code. */
const MESSAGE_CODES: [RegExp, string][] = [
  [/connection refused|os error 111/i, "ECONNREFUSED"],
  [/connection reset|os error 104|socket hang up/i, "ECONNRESET"],
  [/broken pipe|os error 32/i, "EPIPE"],
  [/timed out|os error 110/i, "ETIMEDOUT"],
  [/^aborted$/i, "ResponseCutShort"],
];

/**
 * Classifies a request's error.
 *
 * @param err what npm:minio (or the network) threw
 * @param seen what the transport saw during the try (HTTP status, timeout, a cut response)
 * @returns the code, status, whether a retry may help, and the cause in plain words
 * @example
 * ```ts
 * classify(Object.assign(new Error("x"), { code: "SlowDown" }), { status: 503 }).transient; // true
 * classify(Object.assign(new Error("x"), { code: "AccessDenied" }), { status: 403 }).transient; // false
 * ```
 */
export function classify(
  err: unknown,
  seen: {
    status?: number | undefined;
    fault?: WireFault | undefined;
    s3Code?: string | undefined;
  } = {},
): Failure {
  // What the transport saw wins: a destroyed socket surfaces as ECONNRESET "aborted".
  if (seen.fault === "timeout") return network("Timeout", err);
  const raw = seen.s3Code ?? codeOf(err);
  const status = seen.status !== undefined && seen.status >= 300 ? seen.status : statusOf(err);
  if (raw !== undefined && raw in NETWORK && seen.fault !== "cut-short") return network(raw, err);
  if (seen.fault === "cut-short" && (raw === undefined || raw in NETWORK || status === undefined)) {
    return network("ResponseCutShort", err);
  }
  if (raw === undefined && status === undefined) {
    return { code: "Unknown", status, transient: false, cause: message(err) };
  }
  const code = raw ?? `HTTP${status}`;
  const transient = TRANSIENT_CODES.has(code) ||
    (status !== undefined && (status >= 500 || status === 429 || status === 408));
  const cause = status === undefined
    ? code
    : raw === undefined
    ? `HTTP ${status}`
    : `HTTP ${status} ${raw}`;
  return { code, status, transient, cause };
}

function network(code: string, err: unknown): Failure {
  const { words, transient } = NETWORK[code]!;
  const detail = code === "Timeout" ? `${words}: ${message(err)}` : `${words} (${code})`;
  return { code, status: undefined, transient, cause: detail };
}

/** The error's code, looking through `cause`; Deno's network errors are matched by message. */
export function codeOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const { code, cause } = e as { code?: unknown; cause?: unknown };
    if (typeof code === "string" && code !== "") return code;
    const text = e instanceof Error ? e.message : "";
    for (const [pattern, mapped] of MESSAGE_CODES) if (pattern.test(text)) return mapped;
    e = cause;
  }
  return undefined;
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown; status?: unknown } | null)?.statusCode ??
    (err as { status?: unknown } | null)?.status;
  return typeof s === "number" ? s : undefined;
}

function message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] || "unknown error";
}

/** Codes that mean the object or upload is not there. */
export function isNotFound(code: string): boolean {
  return code === "NoSuchKey" || code === "NotFound" || code === "NoSuchObject";
}

/** Where a failed request went, for the operator's words. */
export interface RequestSite {
  readonly bucket: string;
  readonly endpoint: string;
  /** The Kubernetes Secret holding the program's keys. */
  readonly secret: string;
  /** `upload part`, `check bucket`, ... */
  readonly request: string;
  readonly key: string;
}

/**
 * The operator's words for a failure: the reason and what to do.
 *
 * @param failure the classified failure
 * @param where the request, bucket, endpoint and Secret, for the hint
 * @returns `[reason, hint]`
 */
export function explain(failure: Failure, where: RequestSite): [string, string] {
  const creds = `check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (secret ${where.secret})`;
  switch (failure.code) {
    case "NoSuchBucket":
      return [
        `bucket ${where.bucket} does not exist (NoSuchBucket)`,
        `create it (mc mb backup/${where.bucket}) or fix S3_BUCKET`,
      ];
    case "InvalidAccessKeyId":
      return ["the access key is not known to the server (InvalidAccessKeyId)", creds];
    case "SignatureDoesNotMatch":
      return ["the secret key is wrong (SignatureDoesNotMatch)", creds];
    case "AccessDenied":
      return [
        "access denied (AccessDenied)",
        `the key in AWS_ACCESS_KEY_ID (secret ${where.secret}) needs ${
          permissionFor(where.request, where.bucket, where.key)
        }: attach the matching policy from manifests/s3-policies/ (RUNBOOK.md "S3 keys and policies")`,
      ];
    case "ENOTFOUND":
      return [
        `cannot resolve the host of ${where.endpoint} (ENOTFOUND)`,
        "check S3_ENDPOINT and the cluster's DNS",
      ];
  }
  if (failure.code in NETWORK) {
    return [
      `cannot reach ${where.endpoint}: ${failure.cause}`,
      "check S3_ENDPOINT, that the S3 server is up (MinIO's logs), and that a NetworkPolicy allows egress to it; raise S3_TIMEOUT_SECONDS or S3_RETRIES for a slow or flaky link",
    ];
  }
  if (failure.transient) {
    return [
      `the S3 server at ${where.endpoint} kept failing: ${failure.cause}`,
      `check the S3 server at ${where.endpoint} (its logs, disks and load), then run the job again`,
    ];
  }
  return [
    `S3 error ${failure.cause}`,
    `check the S3 server at ${where.endpoint} and its logs, then run the job again`,
  ];
}

/**
 * The IAM permission a request needs, as `mc admin policy create` spells it, with its resource:
 * what an AccessDenied hint names.
 */
export function permissionFor(request: string, bucket: string, key: string): string {
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const objectArn = `${bucketArn}/${key}`;
  switch (request) {
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
    case "put object tagging":
      return `s3:PutObjectTagging on ${objectArn}`;
    default:
      // put object; start, upload part of and complete a multipart upload or copy
      return `s3:PutObject on ${objectArn}`;
  }
}

/** Whether an error is a StoreError the server refused for lack of permission. */
export function isDenied(err: unknown): boolean {
  return err instanceof StoreError && err.code === "AccessDenied";
}
