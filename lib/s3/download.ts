/**
 * A resumable download of an object, or of a range of its bytes. When the GET breaks off or goes
 * silent, it continues from the next byte with a `Range` request pinned to the same object by
 * `If-Match` on its ETag, through the retry loop of retry.ts, so the reader sees one unbroken
 * stream and the log says where it resumed. An object replaced in the meantime fails with one
 * clear line instead of mixing two versions.
 *
 * The idle timeout watches the server only while the reader is asking for bytes: a reader that
 * pauses (psql building an index) is not a silent server.
 *
 * @module
 */
import { StoreError } from "../errors.ts";
import type { Log } from "../log.ts";
import { type Attempt, timeoutError } from "./attempt.ts";
import { classify, type Failure } from "./failure.ts";
import type { GetResponse, MinioAdapter } from "./minio_adapter.ts";
import type { ByteRange, Download } from "./object_store.ts";
import { FailureRun, RequestFailedError, type RetryPolicy, withRetries } from "./retry.ts";

/** What a download sends its requests through: the store's retry layer and adapter. */
export interface DownloadSource {
  readonly bucket: string;
  readonly endpoint: string;
  readonly policy: RetryPolicy;
  readonly signal: AbortSignal;
  readonly adapter: Pick<MinioAdapter, "get">;
  /** One request through the retry layer (see S3Store.send). */
  send<T>(request: string, key: string, fn: (attempt: Attempt) => Promise<T>): Promise<T>;
}

/** What the hint of a download that kept failing says. */
const KEEPS_FAILING_HINT =
  "check the S3 server and the network path to it (NetworkPolicy, MinIO's logs), then run the drill again; raise S3_TIMEOUT_SECONDS or S3_RETRIES for a slow or flaky link";

/**
 * Opens an object, or a range of its bytes, for reading with resumes.
 *
 * @param store the bucket (its policy, signal and log apply)
 * @param key the object
 * @param log where resume lines go
 * @param range only these bytes: the first GET sends `Range: bytes=start-(end−1)` and expects
 *   206, resumes continue from `start` + the bytes read; an empty range sends no request
 * @returns the stream and what the first response said
 * @throws {RangeError} when `range` is not whole numbers with 0 ≤ start ≤ end
 * @throws {StoreError} when the object cannot be opened (code `NoSuchKey` when it does not
 *   exist, `InvalidRange` when the range ends past the object)
 * @example
 * ```ts
 * const section = await openDownload(store, key, log, { start: 1024, end: 4096 });
 * section.size; // 3072
 * for await (const chunk of section.stream) consume(chunk);
 * ```
 */
export async function openDownload(
  store: DownloadSource,
  key: string,
  log: Log,
  range?: ByteRange,
): Promise<Download> {
  if (range !== undefined) {
    checkRange(range);
    if (range.start === range.end) return emptyDownload();
  }
  const policy = store.policy;
  const signal = store.signal;
  const start = range?.start ?? 0;
  const end = range?.end;
  const where = `s3://${store.bucket}/${key}` +
    (range ? ` bytes ${range.start}-${range.end - 1}` : "");

  // A try answered from the wrong byte; destroyed once the retry loop has classified its error
  // (destroying it sooner would make it look like a response cut short, which is retried).
  let misplaced: Attempt | undefined;
  const dropMisplaced = () => {
    misplaced?.destroy(new Error("answered from the wrong byte"));
    misplaced = undefined;
  };

  /** One try at the bytes from `from` (to `end`), pinned to the ETag `pin` when given. */
  const open = async (next: Attempt, from: number, pin?: string) => {
    const opened = await store.adapter.get(next, key, from, { end, etag: pin });
    if (opened.start !== from) {
      misplaced = next;
      throw new Error(`the server answered from byte ${opened.start}, not ${from}`);
    }
    // Keep the try's connection alive past the retry loop: its idle timer now belongs to the
    // reader.
    next.stopIdleTimer();
    return { response: opened, attempt: next };
  };

  const first = await store.send("get object", key, (a) => open(a, start)).finally(dropMisplaced);
  const { etag, metadata, total } = first.response;
  if (end !== undefined && total < end) {
    const err = new StoreError(
      `download ${where} failed: the object has only ${total} bytes`,
      "ask only for bytes within the object: check the range against the backup's index, and whether a new object was written under this key",
      "InvalidRange",
    );
    first.attempt.destroy(err);
    throw err;
  }
  const size = end === undefined ? first.response.length : end - start;
  let response: GetResponse = first.response;
  let attempt: Attempt = first.attempt;
  let iterator = response.body[Symbol.asyncIterator]();
  let read = 0;
  let resumes = 0;
  // Failures without progress: bytes flowing again start a new run.
  const run = new FailureRun();
  // The tries' own abort listeners end with their try; this one lasts as long as the stream.
  const onAbort = () => attempt.destroy(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const finish = () => {
    signal.removeEventListener("abort", onAbort);
    attempt.close();
  };
  /** Bytes read of bytes asked for, in the failure lines. */
  const progress = () =>
    range ? `${read} of the range's ${size} bytes` : `${read} of ${size} bytes`;

  /** The operator's line for a download the retry loop gave up on. */
  const failed = (err: RequestFailedError): StoreError => {
    const { failure } = err;
    if (failure.code === "PreconditionFailed" || failure.status === 412) {
      return new StoreError(
        `download ${where} failed: the object was replaced while it was read (its ETag is no longer ${etag}; ${progress()} read)`,
        "a new object was written under this key during the drill; run the drill again",
        "ObjectChanged",
        { cause: err.cause },
      );
    }
    const elapsed = (err.elapsedMs / 1000).toFixed(1);
    return new StoreError(
      `download ${where} failed after ${progress()} and ${err.attempts} attempts over ${elapsed} s at ${store.endpoint}: ${failure.cause}`,
      KEEPS_FAILING_HINT,
      failure.code,
      { cause: err.cause },
    );
  };

  /** The next chunk of the current response, or undefined at its end; watched for silence. */
  const nextChunk = async (): Promise<Uint8Array | undefined> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (policy.idleMs > 0) {
      timer = setTimeout(() => {
        attempt.fault = "timeout";
        attempt.destroy(timeoutError(policy.idleMs));
      }, policy.idleMs);
    }
    try {
      const { done, value } = await iterator.next();
      return done ? undefined : value as Uint8Array;
    } finally {
      clearTimeout(timer);
    }
  };

  /** Resumes after the current response broke off, through the retry loop. */
  const resume = async (failure: Failure, error: unknown): Promise<void> => {
    attempt.destroy(new Error("replaced by a resumed request"));
    const from = start + read;
    const fields = { offset_bytes: from, object_bytes: total };
    try {
      ({ response, attempt } = await withRetries(
        { request: "get object", key },
        policy,
        signal,
        log,
        (next) => open(next, from, etag),
        {
          run,
          failed: { failure, error },
          retryLine: { msg: "download broke off; resuming", fields },
          successLine: { msg: "download resumed", fields: { key, ...fields } },
        },
      ));
    } catch (err) {
      throw err instanceof RequestFailedError ? failed(err) : err;
    } finally {
      dropMisplaced();
    }
    iterator = response.body[Symbol.asyncIterator]();
    resumes++;
  };

  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      for (;;) {
        let chunk: Uint8Array | undefined;
        try {
          chunk = await nextChunk();
        } catch (err) {
          if (signal.aborted) {
            finish();
            throw signal.reason;
          }
          try {
            await resume(classify(err, { fault: attempt.fault ?? "cut-short" }), err);
          } catch (e) {
            finish();
            throw e;
          }
          continue;
        }
        if (chunk === undefined) {
          if (read < size) {
            const err = Object.assign(new Error("aborted"), { code: "ResponseCutShort" });
            try {
              await resume(classify(err, { fault: "cut-short" }), err);
            } catch (e) {
              finish();
              throw e;
            }
            continue;
          }
          finish();
          controller.close();
          return;
        }
        read += chunk.byteLength;
        run.reset();
        controller.enqueue(chunk);
        return;
      }
    },
    cancel: (reason) => {
      attempt.destroy(reason);
      finish();
    },
  }, { highWaterMark: 0 });

  return { stream, size, etag, metadata, resumes: () => resumes };
}

/** Throws unless the range is whole numbers with 0 ≤ start ≤ end. */
function checkRange({ start, end }: ByteRange): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(
      `cannot read bytes ${start} to ${end}: expected whole numbers with 0 <= start <= end`,
    );
  }
}

/** The download of an empty range: no request, no bytes. */
function emptyDownload(): Download {
  return {
    stream: new ReadableStream<Uint8Array>({ start: (controller) => controller.close() }),
    size: 0,
    etag: "",
    metadata: {},
    resumes: () => 0,
  };
}
