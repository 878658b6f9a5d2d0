/**
 * Telling someone about a run, around it: the `start` ping when it begins; when it ends, the
 * metrics push and the `success` or `fail` ping, side by side. Each is optional (no
 * PUSHGATEWAY_URL, no HEALTHCHECK_URL: nothing is sent), bounded by a short timeout, and never
 * fails the run: a request that does not go through is one `warn` line. Requests that work log
 * nothing, so a run's outcome line stays its last but for such warnings.
 *
 * @module
 */
import type { Log } from "../log.ts";
import { type PingKind, pingUrl, sendPing } from "./healthcheck.ts";
import { NOTIFY_TIMEOUT_MS } from "./http_send.ts";
import { outcomeSamples, type Sample } from "./metrics.ts";
import { pushMetrics, type PushTarget } from "./pushgateway.ts";

/** Where to report a run. */
export interface ReportOptions {
  /** The Pushgateway group's `job`: the program's CronJob name. */
  readonly job: string;
  /** More grouping labels, e.g. `{ prefix: "postgresql-18" }`. */
  readonly labels: Readonly<Record<string, string>>;
  /** PUSHGATEWAY_URL, when set. */
  readonly pushgatewayUrl: string | undefined;
  /** HEALTHCHECK_URL, when set; a secret. */
  readonly healthcheckUrl: string | undefined;
  readonly log: Log;
  /** `performance.now()` when the run started, for the duration. */
  readonly startedAt: number;
  /** The clock, for the outcome's timestamp. Default: now. */
  readonly now?: () => Date;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
}

/** Reports the end of a run that {@linkcode startReport} announced. */
export interface RunReport {
  /** The run succeeded: push the outcome and `samples`, ping success. Never throws. */
  succeeded(samples: readonly Sample[]): Promise<void>;
  /** The run failed: push the failure time, ping fail with `failureLine`. Never throws. */
  failed(failureLine: string): Promise<void>;
}

const PUSH_HINT =
  "check PUSHGATEWAY_URL (ConfigMap postgres-backup-monitoring), the Pushgateway, and the egress to it in networkpolicy.yaml; the run's outcome is not affected";
const PING_HINT =
  "check HEALTHCHECK_URL (Secret postgres-backup-healthchecks) and the egress Component healthchecks/ or cilium/healthchecks/; the run's outcome is not affected";

/**
 * Announces a run: registers the check-in URL as a secret with the log, then sends the `start`
 * ping (awaited, at most the timeout).
 *
 * @returns what reports the run's end
 * @example
 * ```ts
 * const report = await startReport({ job: "postgres-backup", labels: {}, pushgatewayUrl,
 *   healthcheckUrl, log, startedAt: performance.now() });
 * await report.succeeded([{ name: "backup_toolbox_rows", value: 3 }]);
 * ```
 */
export async function startReport(options: ReportOptions): Promise<RunReport> {
  const { log, healthcheckUrl, pushgatewayUrl } = options;
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const now = options.now ?? (() => new Date());
  if (healthcheckUrl !== undefined) {
    // The token may show in other spellings of the URL (an error naming the request's URL).
    const kinds: PingKind[] = ["start", "success", "fail"];
    log.addSecrets([healthcheckUrl, ...kinds.map((kind) => pingUrl(healthcheckUrl, kind))]);
  }
  const ping = async (kind: PingKind, body?: string) => {
    if (healthcheckUrl === undefined) return;
    const result = await sendPing(healthcheckUrl, kind, body, timeoutMs);
    if (!result.ok) {
      log.warn("notify", "check-in ping failed", {
        ping: kind,
        error: result.reason,
        hint: PING_HINT,
      });
    }
  };
  const push = async (samples: readonly Sample[]) => {
    if (pushgatewayUrl === undefined) return;
    const target: PushTarget = { url: pushgatewayUrl, job: options.job, labels: options.labels };
    const result = await pushMetrics(target, samples, timeoutMs);
    if (!result.ok) {
      log.warn("notify", "metrics push failed", {
        pushgateway: pushgatewayUrl,
        job: options.job,
        error: result.reason,
        hint: PUSH_HINT,
      });
    }
  };
  const seconds = () => (performance.now() - options.startedAt) / 1000;

  await ping("start");
  return {
    async succeeded(samples) {
      await Promise.all([
        push([...outcomeSamples("success", now(), seconds()), ...samples]),
        ping("success"),
      ]);
    },
    async failed(failureLine) {
      await Promise.all([
        push(outcomeSamples("failure", now(), seconds())),
        ping("fail", failureLine),
      ]);
    },
  };
}
