/**
 * One try of one S3 request, and the HTTP transport npm:minio sends it through. The transport
 * abandons a connection that moves no byte for the timeout, remembers what it saw (the HTTP
 * status, a timeout, a response cut short), and destroys everything in flight when the try is
 * aborted (SIGTERM, or the pipeline stopping), so no request outlives its caller.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";

/** What npm:minio calls to send a request (its `transport` option): node's `request`. */
export type Transport = Pick<typeof http, "request">;

/** Why a try ended without an answer from the server, as seen by the transport. */
export type WireFault = "timeout" | "cut-short";

/**
 * Statuses npm:minio (8.0.7) turns into a bare "Retryable HTTP status" error without reading
 * the body when its own retries are off (ours are the only ones): the transport reads the S3
 * error code of these itself, so `SlowDown` is not reduced to "HTTP 503".
 */
const UNREAD_STATUSES = new Set([408, 429, 499, 500, 502, 503, 504, 520]);

/**
 * One try of a request: its own transport, its own idle timeout, its own abort.
 *
 * @example
 * ```ts
 * const attempt = new Attempt(60_000, AbortSignal.timeout(300_000));
 * try {
 *   await new Client({ ...options, transport: attempt.transport(false) }).statObject(b, k);
 * } finally {
 *   attempt.close();
 * }
 * ```
 */
export class Attempt {
  /** The last HTTP status a response of this try carried. */
  status: number | undefined;
  /** The S3 error code of a response npm:minio does not read (see UNREAD_STATUSES). */
  s3Code: string | undefined;
  /** Set when the transport gave up on a silent connection or saw a response cut short. */
  fault: WireFault | undefined;
  readonly #requests = new Set<http.ClientRequest>();
  #errorBody: Promise<void> | undefined;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  #idleMs: number;

  /**
   * @param idleMs how long a connection may move no byte before it is abandoned (0: never)
   * @param signal aborting it destroys the try's connections at once
   */
  constructor(idleMs: number, signal: AbortSignal) {
    this.#idleMs = idleMs;
    this.#signal = signal;
    this.#onAbort = () => {
      for (const req of this.#requests) req.destroy(abortError(signal.reason));
    };
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The idle timeout in milliseconds. */
  get idleMs(): number {
    return this.#idleMs;
  }

  /**
   * A transport for npm:minio whose requests belong to this try.
   *
   * @param secure https when true
   */
  transport(secure: boolean): Transport {
    const base = secure ? https : http;
    const request = (
      options: http.RequestOptions,
      callback?: (res: http.IncomingMessage) => void,
    ): http.ClientRequest => {
      const req = base.request(options, (res) => {
        this.status = res.statusCode;
        if (UNREAD_STATUSES.has(res.statusCode ?? 0)) this.#readErrorCode(res);
        res.once("aborted", () => (this.fault ??= "cut-short"));
        res.once("close", () => {
          if (!res.complete) this.fault ??= "cut-short";
        });
        callback?.(res);
      });
      this.#requests.add(req);
      req.once("close", () => this.#requests.delete(req));
      if (this.#idleMs > 0) {
        req.setTimeout(this.#idleMs, () => {
          this.fault = "timeout";
          req.destroy(timeoutError(this.#idleMs));
        });
      }
      if (this.#signal.aborted) req.destroy(abortError(this.#signal.reason));
      return req;
    };
    // npm:minio always passes an options object and a callback.
    return { request: request as typeof http.request };
  }

  #readErrorCode(res: http.IncomingMessage): void {
    this.#errorBody = new Promise<void>((resolve) => {
      let text = "";
      res.on("data", (chunk: Uint8Array) => {
        if (text.length < 4096) text += new TextDecoder().decode(chunk);
        this.s3Code ??= /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1];
      });
      res.once("end", resolve);
      res.once("close", resolve);
      res.once("error", resolve);
    });
  }

  /** Waits (briefly) until an unread error body has given its S3 code. */
  async errorDetails(): Promise<void> {
    if (!this.#errorBody) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#errorBody,
      new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(timer);
  }

  /**
   * Stops the idle timer of the requests in flight. A download whose reader pauses (psql busy
   * building an index) must not be taken for a silent server; its reader keeps its own watch.
   */
  stopIdleTimer(): void {
    this.#idleMs = 0;
    for (const req of this.#requests) req.setTimeout(0);
  }

  /** Destroys the try's connections (a download given up by its reader). */
  destroy(reason: unknown): void {
    for (const req of this.#requests) req.destroy(abortError(reason));
  }

  /** Stops listening to the abort signal; call when the try is over. */
  close(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
  }
}

/** The error a silent connection is destroyed with. */
export function timeoutError(idleMs: number): Error {
  return Object.assign(new Error(`no byte moved for ${idleMs / 1000} s`), { code: "Timeout" });
}

function abortError(reason: unknown): Error {
  return reason instanceof Error ? reason : new DOMException("aborted", "AbortError");
}
