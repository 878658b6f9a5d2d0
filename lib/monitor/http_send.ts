/**
 * One HTTP request with a short timeout whose outcome is a value, never an exception: pushes
 * and check-in pings must never fail a run, so their callers log a `warn` line and go on.
 *
 * @module
 */

/** How long a push or a ping may take before it is given up. */
export const NOTIFY_TIMEOUT_MS = 5_000;

/** The outcome of a request: the HTTP status, or why there was none or it was not 2xx. */
export type SendResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Sends a request and reads the answer, within `timeoutMs` in all.
 *
 * @param url where to send it
 * @param init method, headers and body
 * @param timeoutMs the whole request's time limit
 * @returns ok with the status for a 2xx answer; otherwise the reason, without the URL (it may
 *   carry a token): `HTTP 400: <first line of the answer>`, `no answer within 5 s`, or the
 *   network error
 * @example
 * ```ts
 * const r = await send("http://127.0.0.1:9091/-/ready", { method: "GET" });
 * if (!r.ok) console.log(r.reason);
 * ```
 */
export async function send(
  url: string,
  init: RequestInit,
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<SendResult> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (res.ok) return { ok: true, status: res.status };
    const firstLine = text.trim().split("\n")[0]?.slice(0, 200) ?? "";
    return { ok: false, reason: `HTTP ${res.status}${firstLine ? `: ${firstLine}` : ""}` };
  } catch (err) {
    if (err instanceof DOMException && err.name === "TimeoutError") {
      return { ok: false, reason: `no answer within ${timeoutMs / 1000} s` };
    }
    return { ok: false, reason: networkReason(err) };
  }
}

/**
 * The most specific message of an error and its causes: Deno's fetch throws "fetch failed"
 * with the connection error as its cause. The request's URL is cut out of it.
 */
function networkReason(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let cause = (err as Error)?.cause; cause instanceof Error; cause = cause.cause) {
    message = cause.message;
  }
  return (message.split("\n")[0] ?? "").replace(/ for url \([^)]*\)/, "");
}
