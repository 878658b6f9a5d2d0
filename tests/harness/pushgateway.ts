/**
 * A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on a free 127.0.0.1 port,
 * metrics in memory only, stopped by PID. Measured here: tests/notify_test.ts starts and stops
 * five of them, with its nine tests, in under 1 s.
 *
 * @module
 */
import { freePort } from "./ports.ts";
import { Daemon, waitUntil } from "./process.ts";
import { requireTool } from "./tools.ts";

/** One metric family of a group, as the Pushgateway's `/api/v1/metrics` shows it. */
export interface PushedFamily {
  readonly type: string;
  readonly help?: string;
  readonly metrics: readonly { labels: Record<string, string>; value: string }[];
}

/** One group (grouping key) of the Pushgateway, with its metric families by name. */
export interface PushedGroup {
  readonly labels: Record<string, string>;
  readonly families: Record<string, PushedFamily>;
}

/** A running Pushgateway; dispose it to stop it. */
export interface Pushgateway extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Every group it holds, read through its JSON API. */
  groups(): Promise<PushedGroup[]>;
  /**
   * The value of one metric in one group, as a number.
   *
   * @returns undefined when the group or the metric is absent
   */
  value(
    job: string,
    name: string,
    labels?: Record<string, string>,
  ): Promise<number | undefined>;
}

/**
 * Start a Pushgateway on a free loopback port.
 *
 * @throws {Error} When the binary is missing (naming `make setup`) or it does not get ready.
 */
export async function startPushgateway(): Promise<Pushgateway> {
  const binary = requireTool("prometheus-pushgateway");
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = new Daemon("prometheus-pushgateway", binary, [
    `--web.listen-address=127.0.0.1:${port}`,
    // Debian's build persists to /var/lib/prometheus/pushgateway.data by default, a file every
    // Pushgateway on the machine would share: keep each one's metrics in its own memory.
    "--persistence.file=",
    "--log.level=warn",
  ]);
  try {
    await waitUntil(
      "the pushgateway to be ready",
      async () => {
        try {
          const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
          await res.body?.cancel();
          return res.ok;
        } catch {
          return false;
        }
      },
      [daemon],
      10_000,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
  const groups = async (): Promise<PushedGroup[]> => {
    const res = await fetch(`${url}/api/v1/metrics`, { signal: AbortSignal.timeout(5000) });
    const body = await res.json() as { data: Record<string, unknown>[] };
    return body.data.map((entry) => {
      const { labels, last_push_successful: _ok, ...families } = entry;
      return {
        labels: labels as Record<string, string>,
        families: families as Record<string, PushedFamily>,
      };
    });
  };
  return {
    url,
    groups,
    async value(job, name, labels = {}) {
      const group = (await groups()).find((g) => g.labels.job === job);
      const sample = group?.families[name]?.metrics.find((m) =>
        Object.entries(labels).every(([k, v]) => m.labels[k] === v)
      );
      return sample === undefined ? undefined : Number(sample.value);
    },
    async [Symbol.asyncDispose]() {
      await daemon.stop();
    },
  };
}
