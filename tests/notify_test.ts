/**
 * Metrics pushes and check-in pings against real servers on loopback: Debian's
 * prometheus-pushgateway, and an HTTP server that records what it gets. The programs' own runs
 * are in backup_test.ts and monitoring_test.ts; this is the reporting itself, fast.
 */
import assert from "node:assert/strict";
import { createLog } from "../lib/log.ts";
import { startReport } from "../lib/monitor/run_report.ts";
import { freePort } from "./harness/ports.ts";
import { startPushgateway } from "./harness/pushgateway.ts";
import { startRecordingServer } from "./harness/recording_server.ts";

function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createLog("backup", {
    write: (line) => {
      raw.push(line);
      lines.push(JSON.parse(line));
    },
  });
  return { log, lines, raw };
}

const ENDED = new Date("2025-06-01T05:30:00Z");
const LABELS = { prefix: "postgresql-18" };

Deno.test("a successful run pushes its outcome and figures into the Pushgateway group job/prefix", async () => {
  await using gateway = await startPushgateway();
  const { log, lines } = captureLog();
  const report = await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: gateway.url,
    healthcheckUrl: undefined,
    log,
    startedAt: performance.now() - 2500,
    now: () => ENDED,
  });
  await report.succeeded([{ name: "backup_toolbox_rows", value: 1234 }]);
  assert.deepEqual(lines, [], "a push that works logs nothing");
  const [group] = await gateway.groups();
  assert.deepEqual(group?.labels, { job: "postgres-backup", prefix: "postgresql-18" });
  assert.equal(
    await gateway.value("postgres-backup", "backup_toolbox_last_success_timestamp_seconds"),
    ENDED.getTime() / 1000,
  );
  assert.equal(await gateway.value("postgres-backup", "backup_toolbox_rows"), 1234);
  const duration = await gateway.value("postgres-backup", "backup_toolbox_duration_seconds");
  assert.ok(duration! >= 2.5 && duration! < 60, `duration ${duration}`);
  assert.equal(group?.families.backup_toolbox_rows?.type, "GAUGE");
});

Deno.test("a failed run pushes its failure time and keeps the last success's metrics", async () => {
  await using gateway = await startPushgateway();
  const { log } = captureLog();
  const options = {
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: gateway.url,
    healthcheckUrl: undefined,
    log,
    startedAt: performance.now(),
  };
  await (await startReport({ ...options, now: () => ENDED })).succeeded([
    { name: "backup_toolbox_rows", value: 1234 },
  ]);
  const failedAt = new Date(ENDED.getTime() + 86400_000);
  await (await startReport({ ...options, now: () => failedAt })).failed('{"msg":"x"}');
  const value = (name: Parameters<typeof gateway.value>[1]) =>
    gateway.value("postgres-backup", name);
  assert.equal(
    await value("backup_toolbox_last_failure_timestamp_seconds"),
    failedAt.getTime() / 1000,
  );
  assert.equal(
    await value("backup_toolbox_last_success_timestamp_seconds"),
    ENDED.getTime() / 1000,
  );
  assert.equal(await value("backup_toolbox_rows"), 1234);
});

Deno.test("a prefix with a slash and a NaN value reach the Pushgateway as they are", async () => {
  await using gateway = await startPushgateway();
  const { log, lines } = captureLog();
  const report = await startReport({
    job: "postgres-backup",
    labels: { prefix: "team/pg 18" },
    pushgatewayUrl: gateway.url + "/",
    healthcheckUrl: undefined,
    log,
    startedAt: performance.now(),
  });
  await report.succeeded([{ name: "backup_toolbox_tables_shrunk", value: NaN }]);
  assert.deepEqual(lines, []);
  const [group] = await gateway.groups();
  assert.equal(group?.labels.prefix, "team/pg 18");
  assert.ok(Number.isNaN(await gateway.value("postgres-backup", "backup_toolbox_tables_shrunk")));
});

Deno.test("a Pushgateway that is down is one warn line naming it, and the report returns", async () => {
  const port = freePort();
  const { log, lines } = captureLog();
  const report = await startReport({
    job: "postgres-restore-drill",
    labels: LABELS,
    pushgatewayUrl: `http://127.0.0.1:${port}`,
    healthcheckUrl: undefined,
    log,
    startedAt: performance.now(),
  });
  await report.succeeded([]);
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line.level, "warn");
  assert.equal(line.step, "notify");
  assert.equal(line.msg, "metrics push failed");
  assert.equal(line.pushgateway, `http://127.0.0.1:${port}`);
  assert.equal(line.job, "postgres-restore-drill");
  assert.match(String(line.error), /Connection refused/);
  assert.doesNotMatch(String(line.error), /127\.0\.0\.1/, "the reason leaves the URL out");
  assert.equal(
    line.hint,
    "check PUSHGATEWAY_URL (ConfigMap postgres-backup-monitoring), the Pushgateway, and the egress to it in networkpolicy.yaml; the run's outcome is not affected",
  );
});

Deno.test("a push the Pushgateway refuses names the HTTP status and its reason", async () => {
  await using gateway = await startPushgateway();
  // Another group already has backup_toolbox_rows as a counter: the Pushgateway refuses a gauge.
  const seeded = await fetch(`${gateway.url}/metrics/job/other`, {
    method: "POST",
    body: "# TYPE backup_toolbox_rows counter\nbackup_toolbox_rows 1\n",
  });
  assert.equal(seeded.status, 200, await seeded.text());
  const { log, lines } = captureLog();
  const report = await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: gateway.url,
    healthcheckUrl: undefined,
    log,
    startedAt: performance.now(),
  });
  await report.succeeded([{ name: "backup_toolbox_rows", value: 3 }]);
  assert.equal(lines[0]?.msg, "metrics push failed");
  assert.match(String(lines[0]?.error), /^HTTP 400: pushed metrics are invalid or inconsistent/);
});

Deno.test("check-in pings: /start, then the URL itself on success, never showing the URL", async () => {
  await using server = startRecordingServer();
  const url = `${server.url}/ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278`;
  const { log, raw } = captureLog();
  const report = await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: undefined,
    healthcheckUrl: url,
    log,
    startedAt: performance.now(),
  });
  assert.deepEqual(server.requests.map((r) => `${r.method} ${r.path}`), [
    "GET /ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278/start",
  ]);
  await report.succeeded([]);
  assert.deepEqual(server.requests.map((r) => `${r.method} ${r.path}`), [
    "GET /ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278/start",
    "GET /ping/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278",
  ]);
  log.info("done", `would leak ${url}/start and ${url}`);
  assert.ok(!raw.join("\n").includes("5bf66975"), raw.join("\n"));
});

Deno.test("check-in pings: a failed run posts the failure line to /fail", async () => {
  await using server = startRecordingServer();
  const { log } = captureLog();
  const report = await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: undefined,
    healthcheckUrl: `${server.url}/ping/abc123`,
    log,
    startedAt: performance.now(),
  });
  const line = '{"level":"error","msg":"pg_dumpall exited with code 1: …","hint":"check …"}';
  await report.failed(line);
  assert.deepEqual(server.requests.slice(1), [{
    method: "POST",
    path: "/ping/abc123/fail",
    body: line,
  }]);
});

Deno.test("check-in pings: an endpoint that never answers costs one timeout per ping and a warn line each", async () => {
  await using server = startRecordingServer("hang");
  const { log, lines, raw } = captureLog();
  const t0 = performance.now();
  const report = await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: undefined,
    healthcheckUrl: `${server.url}/ping/tok3n-secret`,
    log,
    startedAt: t0,
    timeoutMs: 300,
  });
  await report.failed("the failure line");
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.ping, l.error]), [
    ["warn", "check-in ping failed", "start", "no answer within 0.3 s"],
    ["warn", "check-in ping failed", "fail", "no answer within 0.3 s"],
  ]);
  assert.equal(
    lines[0]!.hint,
    "check HEALTHCHECK_URL (Secret postgres-backup-healthchecks) and the egress Component healthchecks/ or cilium/healthchecks/; the run's outcome is not affected",
  );
  assert.ok(!raw.join("\n").includes("tok3n-secret"));
});

Deno.test("check-in pings: a refused connection is a warn line without the URL", async () => {
  const port = freePort();
  const { log, lines, raw } = captureLog();
  await startReport({
    job: "postgres-backup",
    labels: LABELS,
    pushgatewayUrl: undefined,
    healthcheckUrl: `http://127.0.0.1:${port}/ping/tok3n-secret`,
    log,
    startedAt: performance.now(),
  });
  assert.equal(lines[0]?.msg, "check-in ping failed");
  assert.match(String(lines[0]?.error), /Connection refused/);
  assert.ok(!raw.join("\n").includes("tok3n-secret"), raw.join("\n"));
});
