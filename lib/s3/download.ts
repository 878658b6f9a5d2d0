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
  const download = new ResumableDownload(store, key, log, range);
  await download.open();
  return download.download();
}

/** One object (or range) being read: the current response, and how to resume after it. */
class ResumableDownload {
  readonly #store: DownloadSource;
  readonly #key: string;
  readonly #log: Log;
  readonly #range: ByteRange | undefined;
  readonly #start: number;
  /** `s3://bucket/key` (and the range), for the failure lines. */
  readonly #where: string;
  // What the first response said.
  #etag = "";
  #metadata: Record<string, string> = {};
  #total = 0;
  #size = 0;
  // The current response's try and body.
  #attempt: Attempt | undefined;
  #iterator: AsyncIterator<unknown> | undefined;
  #read = 0;
  #resumes = 0;
  /** Failures without progress: bytes flowing again start a new run. */
  readonly #run = new FailureRun();
  /**
   * A try answered from the wrong byte; destroyed once the retry loop has classified its error
   * (destroying it sooner would make it look like a response cut short, which is retried).
   */
  #misplaced: Attempt | undefined;
  /** The tries' own abort listeners end with their try; this one lasts as long as the stream. */
  readonly #onAbort = () => this.#attempt?.destroy(this.#store.signal.reason);

  constructor(store: DownloadSource, key: string, log: Log, range: ByteRange | undefined) {
    this.#store = store;
    this.#key = key;
    this.#log = log;
    this.#range = range;
    this.#start = range?.start ?? 0;
    this.#where = `s3://${store.bucket}/${key}` +
      (range ? ` bytes ${range.start}-${range.end - 1}` : "");
  }

  /** The first GET, through the retry loop. */
  async open(): Promise<void> {
    const first = await this.#store.send("get object", this.#key, (a) => this.#get(a, this.#start))
      .finally(() => this.#dropMisplaced());
    const { etag, metadata, total } = first.response;
    const end = this.#range?.end;
    if (end !== undefined && total < end) {
      const err = new StoreError(
        `download ${this.#where} failed: the object has only ${total} bytes`,
        "ask only for bytes within the object: check the range against the backup's index, and whether a new object was written under this key",
        "InvalidRange",
      );
      first.attempt.destroy(err);
      throw err;
    }
    this.#etag = etag;
    this.#metadata = metadata;
    this.#total = total;
    this.#size = end === undefined ? first.response.length : end - this.#start;
    this.#use(first);
    this.#store.signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The opened download. */
  download(): Download {
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: (reason) => {
        this.#attempt?.destroy(reason);
        this.#finish();
      },
    }, { highWaterMark: 0 });
    return {
      stream,
      size: this.#size,
      etag: this.#etag,
      metadata: this.#metadata,
      resumes: () => this.#resumes,
    };
  }

  /** One try at the bytes from `from` (to the range's end), pinned to the ETag `pin` if given. */
  async #get(attempt: Attempt, from: number, pin?: string) {
    const response = await this.#store.adapter.get(attempt, this.#key, from, {
      end: this.#range?.end,
      etag: pin,
    });
    if (response.start !== from) {
      this.#misplaced = attempt;
      throw new Error(`the server answered from byte ${response.start}, not ${from}`);
    }
    // Keep the try's connection alive past the retry loop: its idle timer now belongs to the
    // reader.
    attempt.stopIdleTimer();
    return { response, attempt };
  }

  #use(opened: { response: GetResponse; attempt: Attempt }): void {
    this.#attempt = opened.attempt;
    this.#iterator = opened.response.body[Symbol.asyncIterator]();
  }

  #dropMisplaced(): void {
    this.#misplaced?.destroy(new Error("answered from the wrong byte"));
    this.#misplaced = undefined;
  }

  #finish(): void {
    this.#store.signal.removeEventListener("abort", this.#onAbort);
    this.#attempt?.close();
  }

  /** The next chunk for the reader: resumes through breaks, ends at the last byte asked for. */
  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      let chunk: Uint8Array | undefined;
      try {
        chunk = await this.#nextChunk();
      } catch (err) {
        await this.#afterBreak(err, classify(err, { fault: this.#attempt?.fault ?? "cut-short" }));
        continue;
      }
      if (chunk === undefined) {
        if (this.#read >= this.#size) {
          this.#finish();
          return controller.close();
        }
        const err = Object.assign(new Error("aborted"), { code: "ResponseCutShort" });
        await this.#afterBreak(err, classify(err, { fault: "cut-short" }));
        continue;
      }
      this.#read += chunk.byteLength;
      this.#run.reset();
      return controller.enqueue(chunk);
    }
  }

  /** The next chunk of the current response, or undefined at its end; watched for silence. */
  async #nextChunk(): Promise<Uint8Array | undefined> {
    const idleMs = this.#store.policy.idleMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (idleMs > 0) {
      timer = setTimeout(() => {
        this.#attempt!.fault = "timeout";
        this.#attempt!.destroy(timeoutError(idleMs));
      }, idleMs);
    }
    try {
      const { done, value } = await this.#iterator!.next();
      return done ? undefined : value as Uint8Array;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The current response broke off: a stop ends the stream, anything else resumes. */
  async #afterBreak(error: unknown, failure: Failure): Promise<void> {
    const { signal } = this.#store;
    try {
      if (signal.aborted) throw signal.reason;
      await this.#resume(failure, error);
    } catch (err) {
      this.#finish();
      throw err;
    }
  }

  /** Resumes from the next byte, pinned to the ETag, through the retry loop. */
  async #resume(failure: Failure, error: unknown): Promise<void> {
    this.#attempt?.destroy(new Error("replaced by a resumed request"));
    const from = this.#start + this.#read;
    const fields = { offset_bytes: from, object_bytes: this.#total };
    try {
      this.#use(
        await withRetries(
          { request: "get object", key: this.#key },
          this.#store.policy,
          this.#store.signal,
          this.#log,
          (next) => this.#get(next, from, this.#etag),
          {
            run: this.#run,
            failed: { failure, error },
            retryLine: { msg: "download broke off; resuming", fields },
            successLine: { msg: "download resumed", fields: { key: this.#key, ...fields } },
          },
        ),
      );
    } catch (err) {
      throw err instanceof RequestFailedError ? this.#failed(err) : err;
    } finally {
      this.#dropMisplaced();
    }
    this.#resumes++;
  }

  /** The operator's line for a download the retry loop gave up on. */
  #failed(err: RequestFailedError): StoreError {
    const { failure } = err;
    const progress = this.#range
      ? `${this.#read} of the range's ${this.#size} bytes`
      : `${this.#read} of ${this.#size} bytes`;
    if (failure.code === "PreconditionFailed" || failure.status === 412) {
      return new StoreError(
        `download ${this.#where} failed: the object was replaced while it was read (its ETag is no longer ${this.#etag}; ${progress} read)`,
        "a new object was written under this key during the drill; run the drill again",
        "ObjectChanged",
        { cause: err.cause },
      );
    }
    const elapsed = (err.elapsedMs / 1000).toFixed(1);
    return new StoreError(
      `download ${this.#where} failed after ${progress} and ${err.attempts} attempts over ${elapsed} s at ${this.#store.endpoint}: ${failure.cause}`,
      KEEPS_FAILING_HINT,
      failure.code,
      { cause: err.cause },
    );
  }
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
