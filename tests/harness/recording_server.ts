/**
 * An HTTP server on 127.0.0.1 that records every request (method, path, body) and answers
 * 200 "OK", as healthchecks.io does for a ping. It can also be told to never answer, to show
 * that a hanging check-in endpoint does not hang a run.
 *
 * @module
 */

/** One request the server received. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query, e.g. `/ping/abc/start`. */
  readonly path: string;
  readonly body: string;
}

/** A running recording server; dispose it to stop it. */
export interface RecordingServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Requests in the order they arrived. */
  readonly requests: RecordedRequest[];
}

/**
 * Start the server on a free loopback port.
 *
 * @param mode `answer` replies 200 at once; `hang` records the request and never replies
 * @default mode "answer"
 */
export function startRecordingServer(mode: "answer" | "hang" = "answer"): RecordingServer {
  const requests: RecordedRequest[] = [];
  const hanging = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      requests.push({
        method: req.method,
        path: url.pathname + url.search,
        body: await req.text(),
      });
      if (mode === "hang") {
        // Held until the server stops; the client's timeout is what ends the request.
        await new Promise((resolve) => hanging.signal.addEventListener("abort", resolve));
        return new Response("stopped", { status: 503 });
      }
      return new Response("OK", { status: 200 });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    async [Symbol.asyncDispose]() {
      hanging.abort();
      await server.shutdown();
    },
  };
}
