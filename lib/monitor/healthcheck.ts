/**
 * Check-in pings in the healthchecks.io convention (Uptime Kuma and Cronitor accept it too):
 * `<url>/start` when a run starts, `<url>` when it succeeds, `<url>/fail` with the failure line
 * as the body when it fails. A check-in service that stops hearing from a job alerts on its own:
 * the dead-man's switch for a CronJob that stopped creating Jobs.
 *
 * The URL carries a token: it is a secret setting, and nothing here puts it in a log line.
 *
 * @module
 */
import { NOTIFY_TIMEOUT_MS, send, type SendResult } from "./http_send.ts";

/** The three pings of a run. */
export type PingKind = "start" | "success" | "fail";

/**
 * The URL of a ping: the suffix goes at the end of the path, before any query string.
 *
 * @example
 * ```ts
 * pingUrl("https://hc-ping.com/0f1e2d3c", "start"); // "https://hc-ping.com/0f1e2d3c/start"
 * pingUrl("https://hc-ping.com/0f1e2d3c", "success"); // "https://hc-ping.com/0f1e2d3c"
 * ```
 */
export function pingUrl(base: string, kind: PingKind): string {
  const url = new URL(base);
  const suffix = kind === "success" ? "" : `/${kind}`;
  url.pathname = url.pathname.replace(/\/+$/, "") + suffix;
  return url.href;
}

/**
 * Sends one ping within a short timeout: GET for start and success, POST with `body` for fail.
 *
 * @param base the check's URL (HEALTHCHECK_URL)
 * @param kind which ping
 * @param body the failure line, for `fail`
 * @returns the outcome; never throws
 */
export function sendPing(
  base: string,
  kind: PingKind,
  body = "",
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<SendResult> {
  const init: RequestInit = kind === "fail"
    ? { method: "POST", headers: { "content-type": "text/plain; charset=utf-8" }, body }
    : { method: "GET" };
  return send(pingUrl(base, kind), init, timeoutMs);
}
