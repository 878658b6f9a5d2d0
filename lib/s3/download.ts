/**
 * A resumable download. When the GET of an object breaks off or goes silent, it continues from
 * the next byte with a `Range` request pinned to the same object by `If-Match` on its ETag, so
 * the reader sees one unbroken stream and the log says where it resumed. An object replaced in
 * the meantime fails with one clear line instead of mixing two versions.
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
import type { GetResponse } from "./minio_adapter.ts";
import { FailureRun, RequestFailedError, withRetries } from "./retry.ts";
import type { S3Store } from "./store.ts";

/** An object being read. */
export interface Download {
  /** The object's bytes, from the first to the last, whatever broke on the way. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The object's size. */
  readonly size: number;
  /** The object's ETag; every resumed request is pinned to it. */
  readonly etag: string;
  /** The object's user metadata, from the first response. */
  readonly metadata: Record<string, string>;
  /** How many times the download resumed. */
  resumes(): number;
}

/** What the hint of a download that kept failing says. */
const KEEPS_FAILING_HINT =
  "check the S3 server and the network path to it (NetworkPolicy, MinIO's logs), then run the drill again; raise S3_TIMEOUT_SECONDS or S3_RETRIES for a slow or flaky link";

/**
 * Opens an object for reading with resumes.
 *
 * @param store the bucket (its policy, signal and log apply)
 * @param key the object
 * @param log where resume lines go
 * @returns the stream and what the first response said
 * @throws {StoreError} when the object cannot be opened (code `NoSuchKey` when it does not exist)
 */
export async function openDownload(store: S3Store, key: string, log: Log): Promise<Download> {
  const policy = store.policy;
  const signal = store.signal;
  const first = await store.send("get object", key, async (attempt) => {
    const response = await store.adapter.get(attempt, key, 0);
    // Keep the try's connection alive past send(): its idle timer now belongs to the reader.
    attempt.stopIdleTimer();
    return { response, attempt };
  });
  const { etag, metadata } = first.response;
  const size = first.response.length;
  let response: GetResponse = first.response;
  let attempt: Attempt = first.attempt;
  let iterator = response.body[Symbol.asyncIterator]();
  let offset = 0;
  let resumes = 0;
  // Failures without progress: bytes flowing again start a new run.
  const run = new FailureRun();
  const where = `s3://${store.bucket}/${key}`;
  // The tries' own abort listeners end with their try; this one lasts as long as the stream.
  const onAbort = () => attempt.destroy(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const finish = () => {
    signal.removeEventListener("abort", onAbort);
    attempt.close();
  };

  /** The operator's line for a download the retry loop gave up on. */
  const failed = (err: RequestFailedError): StoreError => {
    const { failure } = err;
    if (failure.code === "PreconditionFailed" || failure.status === 412) {
      return new StoreError(
        `download ${where} failed: the object was replaced while it was read (its ETag is no longer ${etag}; ${offset} of ${size} bytes read)`,
        "a new object was written under this key during the drill; run the drill again",
        "ObjectChanged",
        { cause: err.cause },
      );
    }
    const elapsed = (err.elapsedMs / 1000).toFixed(1);
    return new StoreError(
      `download ${where} failed after ${offset} of ${size} bytes and ${err.attempts} attempts over ${elapsed} s at ${store.endpoint}: ${failure.cause}`,
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

  // A try answered from the wrong byte; destroyed once the retry loop has classified its error
  // (destroying it sooner would make it look like a response cut short, which is retried).
  let misplaced: Attempt | undefined;

  /** One try at the rest of the object from `offset`, pinned to the ETag. */
  const openRest = async (next: Attempt): Promise<GetResponse> => {
    const rest = await store.adapter.get(next, key, offset, etag);
    if (rest.start !== offset) {
      misplaced = next;
      throw new Error(`the server answered from byte ${rest.start}, not ${offset}`);
    }
    next.stopIdleTimer();
    return rest;
  };

  /** Resumes after the current response broke off, through the retry loop. */
  const resume = async (failure: Failure, error: unknown): Promise<void> => {
    attempt.destroy(new Error("replaced by a resumed request"));
    const fields = { offset_bytes: offset, object_bytes: size };
    try {
      ({ response, attempt } = await withRetries(
        { request: "get object", key },
        policy,
        signal,
        log,
        async (next) => ({ response: await openRest(next), attempt: next }),
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
      misplaced?.destroy(new Error("answered from the wrong byte"));
      misplaced = undefined;
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
          if (offset < size) {
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
        offset += chunk.byteLength;
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
