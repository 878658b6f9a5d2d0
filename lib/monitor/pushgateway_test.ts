import assert from "node:assert/strict";
import { backupSamples, drillSamples, METRICS, outcomeSamples } from "./metrics.ts";
import { groupingPath, renderMetrics } from "./pushgateway.ts";

Deno.test("renderMetrics() writes each family once with HELP and TYPE gauge, samples together", () => {
  const text = renderMetrics([
    { name: "backup_toolbox_bytes", labels: { kind: "compressed" }, value: 10 },
    { name: "backup_toolbox_rows", value: 3 },
    { name: "backup_toolbox_bytes", labels: { kind: "dump" }, value: 40 },
  ]);
  assert.equal(
    text,
    [
      `# HELP backup_toolbox_bytes ${METRICS.backup_toolbox_bytes}`,
      "# TYPE backup_toolbox_bytes gauge",
      'backup_toolbox_bytes{kind="compressed"} 10',
      'backup_toolbox_bytes{kind="dump"} 40',
      `# HELP backup_toolbox_rows ${METRICS.backup_toolbox_rows}`,
      "# TYPE backup_toolbox_rows gauge",
      "backup_toolbox_rows 3",
      "",
    ].join("\n"),
  );
});

Deno.test("renderMetrics() escapes label values and writes NaN and large numbers as Prometheus reads them", () => {
  const text = renderMetrics([
    { name: "backup_toolbox_rows", labels: { note: 'a "b"\\c\nd' }, value: 5_000_000_000 },
    { name: "backup_toolbox_tables_shrunk", value: NaN },
    { name: "backup_toolbox_last_success_timestamp_seconds", value: 1764567890.125 },
  ]);
  assert.match(text, /^backup_toolbox_rows\{note="a \\"b\\"\\\\c\\nd"\} 5000000000$/m);
  assert.match(text, /^backup_toolbox_tables_shrunk NaN$/m);
  assert.match(text, /^backup_toolbox_last_success_timestamp_seconds 1764567890\.125$/m);
});

Deno.test("groupingPath() puts job first and base64url-encodes values a path cannot hold", () => {
  assert.equal(
    groupingPath("postgres-backup", { prefix: "postgresql-18" }),
    "/metrics/job/postgres-backup/prefix/postgresql-18",
  );
  assert.equal(
    groupingPath("postgres-restore-drill", { prefix: "team/a b" }),
    "/metrics/job/postgres-restore-drill/prefix@base64/dGVhbS9hIGI",
  );
  assert.equal(
    groupingPath("postgres-backup", { prefix: "" }),
    "/metrics/job/postgres-backup/prefix@base64/=",
  );
});

Deno.test("outcomeSamples() of a failure names only the failure time and the duration", () => {
  const endedAt = new Date("2025-06-01T05:30:00Z");
  assert.deepEqual(outcomeSamples("failure", endedAt, 12.5), [
    { name: "backup_toolbox_last_failure_timestamp_seconds", value: 1748755800 },
    { name: "backup_toolbox_duration_seconds", value: 12.5 },
  ]);
  assert.equal(
    outcomeSamples("success", endedAt, 1)[0]!.name,
    "backup_toolbox_last_success_timestamp_seconds",
  );
});

Deno.test("backupSamples() pushes NaN for tables_shrunk when the comparison could not run", () => {
  const samples = backupSamples({
    compressedBytes: 10,
    dumpBytes: 40,
    rows: 3,
    tables: 2,
    tablesShrunk: undefined,
    databasesSkipped: 1,
  });
  assert.ok(Number.isNaN(samples.find((s) => s.name === "backup_toolbox_tables_shrunk")!.value));
  assert.equal(samples.find((s) => s.name === "backup_toolbox_databases_skipped")!.value, 1);
  assert.deepEqual(
    drillSamples({ restoreSeconds: 1.5, backupAgeSeconds: 7200, verifiedRows: 9 }).map((s) =>
      s.name
    ),
    [
      "backup_toolbox_restore_seconds",
      "backup_toolbox_backup_age_seconds",
      "backup_toolbox_verified_rows",
    ],
  );
});
