/**
 * A loopback relay between the programs and the real S3 server (Ceph RGW) that breaks things
 * on purpose, the way a home LAN does: it can reset a connection after N bytes, black-hole one
 * (stop relaying but keep the socket open), answer `503 SlowDown` instead of the server, add
 * latency or limit bandwidth, and refuse all connections. It reads just enough HTTP/1.1 to know
 * which request a byte belongs to, so a fault can target "the third part upload" or "the GET of
 * the data object", and it counts what it did so tests can assert it.
 *
 * @module
 */

/** The head of one request, as the relay saw it. */
export interface RequestHead {
  readonly method: string;
  /** Path without the query, e.g. `/homelab-backup-postgres/postgresql-18/.tmp/x.seg-0001`. */
  readonly path: string;
  /** The query string without `?`, e.g. `uploadId=...&partNumber=2`. */
  readonly query: string;
  /** Lowercase header names. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What to do to a matched request. */
export type Fault =
  /** Pass `afterBytes` of the request body (or of the response), then close both sockets. */
  | {
    readonly kind: "reset";
    readonly direction: "request" | "response";
    readonly afterBytes: number;
  }
  /** Pass `afterBytes`, then stop relaying both ways but keep the sockets open. */
  | {
    readonly kind: "blackhole";
    readonly direction: "request" | "response";
    readonly afterBytes: number;
  }
  /** Answer with this status and S3 error code instead of the server, then close. */
  | { readonly kind: "status"; readonly status: number; readonly code: string };

/** A fault and the requests it applies to. */
export interface FaultRule {
  /** Name for {@linkcode FaultRelay.hits}. */
  readonly name: string;
  readonly match: (request: RequestHead) => boolean;
  readonly fault: Fault;
  /** How many matching requests it affects. @default 1 */
  readonly times?: number;
}

/** Matchers for the requests the programs send (path-style URLs). */
export const requests = {
  /** UploadPart with a body (not UploadPartCopy). */
  uploadPart: (r: RequestHead) =>
    r.method === "PUT" && /(^|&)partNumber=/.test(r.query) && !("x-amz-copy-source" in r.headers),
  /** CopyObject or UploadPartCopy. */
  copy: (r: RequestHead) => r.method === "PUT" && "x-amz-copy-source" in r.headers,
  /** CompleteMultipartUpload. */
  complete: (r: RequestHead) => r.method === "POST" && /(^|&)uploadId=/.test(r.query),
  /** PutObject of a whole small object (the staged .sha256 and manifest.json). */
  smallPut: (r: RequestHead) =>
    r.method === "PUT" && r.query === "" && !("x-amz-copy-source" in r.headers),
  /** GetObject of a key ending in `suffix`. */
  get: (suffix: string) => (r: RequestHead) => r.method === "GET" && r.path.endsWith(suffix),
  /** Any request. */
  any: () => true,
} as const;

interface Rule {
  readonly rule: FaultRule;
  left: number;
  hits: number;
}

interface Pair {
  readonly client: Deno.Conn;
  readonly server: Deno.Conn;
  /** A fault waiting for the response of the request just forwarded. */
  responseFault: Fault | undefined;
  /** Set once the pair must not relay anymore (black-holed). */
  frozen: boolean;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);

/**
 * A relay on a free 127.0.0.1 port in front of `target`.
 *
 * @example
 * ```ts
 * await using relay = await startFaultRelay(stack.s3.endpoint);
 * relay.inject({ name: "reset", match: requests.uploadPart, fault: { kind: "reset", direction: "request", afterBytes: 100_000 } });
 * await runEntrypoint("backup.ts", { ...stack.backupEnv, S3_ENDPOINT: relay.endpoint });
 * relay.hits("reset"); // 1
 * ```
 */
export function startFaultRelay(target: string): FaultRelay {
  return new FaultRelay(target);
}

/** See {@linkcode startFaultRelay}. */
export class FaultRelay implements AsyncDisposable {
  readonly endpoint: string;
  /** Every request head seen, in order. */
  readonly seen: RequestHead[] = [];
  readonly #target: { hostname: string; port: number };
  readonly #port: number;
  readonly #rules: Rule[] = [];
  readonly #pairs = new Set<Pair>();
  readonly #tasks = new Set<Promise<void>>();
  #listener: Deno.Listener | undefined;
  #latencyMs = 0;
  #bytesPerSecond = 0;
  #responseBytes = 0;

  constructor(target: string) {
    const url = new URL(target);
    this.#target = { hostname: url.hostname, port: Number(url.port) };
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#port = (this.#listener.addr as Deno.NetAddr).port;
    this.endpoint = `http://127.0.0.1:${this.#port}`;
    this.#track(this.#accept(this.#listener));
  }

  /** Adds a fault; the first matching rule with uses left applies to a request. */
  inject(rule: FaultRule): void {
    this.#rules.push({ rule, left: rule.times ?? 1, hits: 0 });
  }

  /** How many requests the named rule affected. */
  hits(name: string): number {
    return this.#rules.filter((r) => r.rule.name === name).reduce((n, r) => n + r.hits, 0);
  }

  /** Removes every rule. */
  clear(): void {
    this.#rules.length = 0;
  }

  /**
   * Bytes relayed from the server to the clients (heads and bodies of every response) since the
   * relay started or {@linkcode countFromHere}: what a program read from S3 through the relay.
   */
  get responseBytes(): number {
    return this.#responseBytes;
  }

  /** Starts {@linkcode responseBytes} again from 0. */
  countFromHere(): void {
    this.#responseBytes = 0;
  }

  /** Adds `latencyMs` before each chunk relayed, and caps each direction at `bytesPerSecond`. */
  throttle(options: { latencyMs?: number; bytesPerSecond?: number }): void {
    this.#latencyMs = options.latencyMs ?? 0;
    this.#bytesPerSecond = options.bytesPerSecond ?? 0;
  }

  /** Stops listening and resets every open connection: new connections are refused. */
  refuse(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const pair of this.#pairs) this.#close(pair);
  }

  /** Listens again on the same port. */
  accept(): void {
    if (this.#listener) return;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#port });
    this.#track(this.#accept(this.#listener));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.refuse();
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    for await (const client of listener) {
      let server: Deno.Conn;
      try {
        server = await Deno.connect(this.#target);
      } catch {
        // The server is down: the client sees its connection closed.
        client.close();
        continue;
      }
      const pair: Pair = { client, server, responseFault: undefined, frozen: false };
      this.#pairs.add(pair);
      this.#track(this.#requests(pair));
      this.#track(this.#responses(pair));
    }
  }

  #close(pair: Pair): void {
    for (const conn of [pair.client, pair.server]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#pairs.delete(pair);
  }

  /** Client → server: parse each request head, apply a fault if one matches, relay the rest. */
  async #requests(pair: Pair): Promise<void> {
    const reader = new ConnReader(pair.client);
    try {
      for (;;) {
        const headBytes = await reader.readUntil(CRLF2, 64 * 1024);
        if (headBytes === undefined) break;
        const head = parseHead(headBytes);
        this.seen.push(head);
        const length = Number(head.headers["content-length"] ?? 0);
        const chunked = /chunked/i.test(head.headers["transfer-encoding"] ?? "");
        const rule = this.#rules.find((r) => r.left > 0 && r.rule.match(head));
        if (rule) {
          rule.left--;
          rule.hits++;
        }
        const fault = rule?.rule.fault;
        if (fault?.kind === "status") {
          await reader.skip(length);
          await writeAll(pair.client, statusResponse(fault.status, fault.code));
          break;
        }
        // Armed before the head leaves: a request without a body is answered at once.
        if (fault && fault.direction === "response") pair.responseFault = fault;
        await this.#write(pair, pair.server, headBytes);
        if (chunked) {
          // Not sent by the programs; relay the rest of this connection as it is.
          await this.#relayRaw(reader, pair, pair.server, Infinity);
          break;
        }
        if (fault && fault.direction === "request") {
          await this.#relayRaw(reader, pair, pair.server, Math.min(fault.afterBytes, length));
          if (fault.kind === "blackhole") pair.frozen = true;
          break;
        }
        await this.#relayRaw(reader, pair, pair.server, length);
      }
    } catch {
      // Either side went away.
    }
    if (!pair.frozen) this.#close(pair);
  }

  /** Server → client: relay, applying a response fault to the response of its request. */
  async #responses(pair: Pair): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    let passed = 0;
    try {
      for (;;) {
        const n = await pair.server.read(buffer);
        if (n === null || pair.frozen) break;
        let chunk = buffer.subarray(0, n);
        const fault = pair.responseFault;
        if (fault && fault.kind !== "status") {
          const take = Math.max(0, Math.min(chunk.length, fault.afterBytes - passed));
          chunk = chunk.subarray(0, take);
          passed += take;
          if (take > 0) await this.#write(pair, pair.client, chunk);
          if (passed >= fault.afterBytes) {
            if (fault.kind === "blackhole") pair.frozen = true;
            break;
          }
          continue;
        }
        this.#responseBytes += chunk.length;
        await this.#write(pair, pair.client, chunk);
      }
    } catch {
      // Either side went away.
    }
    if (!pair.frozen) this.#close(pair);
  }

  async #relayRaw(reader: ConnReader, pair: Pair, to: Deno.Conn, bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0 && !pair.frozen) {
      const chunk = await reader.read(Math.min(left, 64 * 1024));
      if (chunk === undefined) return;
      await this.#write(pair, to, chunk);
      left -= chunk.length;
    }
  }

  async #write(pair: Pair, to: Deno.Conn, chunk: Uint8Array): Promise<void> {
    if (pair.frozen) return;
    if (this.#latencyMs > 0) await new Promise((r) => setTimeout(r, this.#latencyMs));
    if (this.#bytesPerSecond > 0) {
      await new Promise((r) => setTimeout(r, (chunk.length / this.#bytesPerSecond) * 1000));
    }
    await writeAll(to, chunk);
  }
}

/** A buffered reader over a connection. */
class ConnReader {
  #buffer = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  /** Bytes up to and including `delimiter`, or undefined at the end of the stream. */
  async readUntil(delimiter: Uint8Array, limit: number): Promise<Uint8Array | undefined> {
    for (;;) {
      const at = indexOf(this.#buffer, delimiter);
      if (at !== -1) {
        const out = this.#buffer.slice(0, at + delimiter.length);
        this.#buffer = this.#buffer.slice(at + delimiter.length);
        return out;
      }
      if (this.#buffer.length > limit) throw new Error("request head too long");
      if (!(await this.#fill())) return undefined;
    }
  }

  /** Up to `max` bytes, or undefined at the end of the stream. */
  async read(max: number): Promise<Uint8Array | undefined> {
    if (this.#buffer.length === 0 && !(await this.#fill())) return undefined;
    const out = this.#buffer.slice(0, max);
    this.#buffer = this.#buffer.slice(out.length);
    return out;
  }

  /** Reads and drops `bytes` bytes. */
  async skip(bytes: number): Promise<void> {
    for (let left = bytes; left > 0;) {
      const chunk = await this.read(left);
      if (chunk === undefined) return;
      left -= chunk.length;
    }
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function parseHead(bytes: Uint8Array): RequestHead {
  const lines = new TextDecoder().decode(bytes).split("\r\n");
  const [method = "", target = ""] = (lines[0] ?? "").split(" ");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  const q = target.indexOf("?");
  return {
    method,
    path: decodeURIComponent(q === -1 ? target : target.slice(0, q)),
    query: q === -1 ? "" : target.slice(q + 1),
    headers,
  };
}

function statusResponse(status: number, code: string): Uint8Array {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault relay</Message></Error>`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}
