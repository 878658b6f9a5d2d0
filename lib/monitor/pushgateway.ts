/**
 * Pushing gauges to a Prometheus Pushgateway: the text exposition format, the grouping key in
 * the URL, and the push itself.
 *
 * A push is a POST, which replaces only the metrics it names within the group: a failed run
 * pushes `backup_toolbox_last_failure_timestamp_seconds` and the duration, and the last
 * success's timestamp and figures stay. (A PUT would replace the whole group and erase them.)
 *
 * @module
 */
import { NOTIFY_TIMEOUT_MS, send, type SendResult } from "./http_send.ts";
import { METRICS, type Sample } from "./metrics.ts";

/** Where to push: the Pushgateway and the group's key. */
export interface PushTarget {
  /** The Pushgateway's base URL, e.g. `http://pushgateway.monitoring:9091`. */
  readonly url: string;
  /** The group's `job` label. */
  readonly job: string;
  /** More grouping labels, e.g. `{ prefix: "postgresql-18" }`. */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * The samples in Prometheus' text format (version 0.0.4): each family once, with HELP and
 * `TYPE gauge`, its samples together, in the order first seen.
 *
 * @example
 * ```ts
 * renderMetrics([{ name: "backup_toolbox_rows", value: 3 }]);
 * // "# HELP backup_toolbox_rows Rows in ...\n# TYPE backup_toolbox_rows gauge\nbackup_toolbox_rows 3\n"
 * ```
 */
export function renderMetrics(samples: readonly Sample[]): string {
  const families = new Map<string, Sample[]>();
  for (const sample of samples) {
    const family = families.get(sample.name) ?? [];
    family.push(sample);
    families.set(sample.name, family);
  }
  const lines: string[] = [];
  for (const [name, family] of families) {
    const help = METRICS[name as keyof typeof METRICS].replaceAll("\\", "\\\\")
      .replaceAll("\n", "\\n");
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const sample of family) {
      const labels = Object.entries(sample.labels ?? {})
        .map(([key, value]) => `${key}="${escapeLabelValue(value)}"`);
      const selector = labels.length > 0 ? `{${labels.join(",")}}` : "";
      lines.push(`${name}${selector} ${formatValue(sample.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * The group's path below the Pushgateway: `/metrics/job/<job>/<label>/<value>...`. A value
 * that is empty or holds anything but letters, digits and `-._~` goes base64url-encoded
 * (`<label>@base64/<value>`), as the Pushgateway expects for a prefix such as `a/b`.
 *
 * @example
 * ```ts
 * groupingPath("postgres-backup", { prefix: "postgresql-18" });
 * // "/metrics/job/postgres-backup/prefix/postgresql-18"
 * ```
 */
export function groupingPath(job: string, labels: Readonly<Record<string, string>>): string {
  const parts = [["job", job], ...Object.entries(labels)].map(([name, value]) => {
    if (/^[A-Za-z0-9._~-]+$/.test(value!)) return `${name}/${value}`;
    return `${name}@base64/${value === "" ? "=" : base64url(value!)}`;
  });
  return `/metrics/${parts.join("/")}`;
}

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Pushes samples into the target's group with POST, within a short timeout.
 *
 * @returns the outcome; never throws
 */
export function pushMetrics(
  target: PushTarget,
  samples: readonly Sample[],
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<SendResult> {
  return send(target.url.replace(/\/+$/, "") + groupingPath(target.job, target.labels), {
    method: "POST",
    headers: { "content-type": "text/plain; version=0.0.4" },
    body: renderMetrics(samples),
  }, timeoutMs);
}
