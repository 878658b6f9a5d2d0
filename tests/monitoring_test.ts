/**
 * Telling someone, through the real programs: metrics pushed to Debian's
 * prometheus-pushgateway, check-in pings to a loopback server that records them, and the
 * data-loss tripwire across two backups of different days. Real PostgreSQL and Ceph RGW as in
 * backup_test.ts; everything on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { emptyBucket } from "./harness/fixtures.ts";
import { freePort } from "./harness/ports.ts";
import { startPushgateway } from "./harness/pushgateway.ts";
import { startRecordingServer } from "./harness/recording_server.ts";
import { runEntrypoint } from "./harness/run.ts";
import { startStack } from "./harness/stack.ts";

const TOKEN = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278";

/** The last line the program wrote to stderr, as written. */
function lastStderrLine(stderr: string): string {
  return stderr.trimEnd().split("\n").at(-1) ?? "";
}

/** `<prefix>/YYYY/MM/DD/` of a key, and the folder `days` earlier. */
function dayDir(key: string, daysEarlier = 0): string {
  const m = /^(.*\/)(\d{4})\/(\d{2})\/(\d{2})\//.exec(key);
  assert.ok(m, `not a dated key: ${key}`);
  const date = new Date(Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]) - daysEarlier));
  return `${m[1]}${date.toISOString().slice(0, 10).replaceAll("-", "/")}/`;
}

Deno.test("monitoring", async (t) => {
  await using stack = await startStack({ sample: "simple" });
  await using gateway = await startPushgateway();
  await using pings = startRecordingServer();
  const healthcheck = `${pings.url}/ping/${TOKEN}`;
  const backupEnv = {
    ...stack.backupEnv,
    PUSHGATEWAY_URL: gateway.url,
    HEALTHCHECK_URL: healthcheck,
  };
  const drillEnv = {
    ...stack.drillEnv,
    PUSHGATEWAY_URL: gateway.url,
    HEALTHCHECK_URL: healthcheck,
  };
  const backupValue = (
    name: Parameters<typeof gateway.value>[1],
    labels?: Record<string, string>,
  ) => gateway.value("postgres-backup", name, labels);
  let successAt = 0;

  await t.step(
    "backup OK pushes its figures under job=postgres-backup and pings start, then success",
    async () => {
      await emptyBucket(stack);
      const before = Date.now() / 1000;
      const run = await runEntrypoint("backup.ts", backupEnv);
      assert.equal(run.code, 0, run.stderr);
      const done = run.lines.find((l) => l.msg === "backup OK")!;
      assert.equal(run.lastLine, done, "nothing after the outcome when pushes and pings work");
      assert.ok(
        run.lines.some((l) => l.msg === "tripwire skipped: no earlier backup with manifest.json"),
      );

      const [group] = await gateway.groups();
      assert.deepEqual(group?.labels, { job: "postgres-backup", prefix: "postgresql-18" });
      successAt = (await backupValue("backup_toolbox_last_success_timestamp_seconds"))!;
      assert.ok(successAt >= before && successAt <= Date.now() / 1000, `${successAt}`);
      assert.ok((await backupValue("backup_toolbox_duration_seconds"))! > 0);
      assert.equal(await backupValue("backup_toolbox_bytes", { kind: "compressed" }), done.bytes);
      assert.equal(await backupValue("backup_toolbox_bytes", { kind: "dump" }), done.dump_bytes);
      assert.equal(await backupValue("backup_toolbox_rows"), done.rows);
      assert.equal(await backupValue("backup_toolbox_tables"), done.tables);
      assert.equal(await backupValue("backup_toolbox_tables_shrunk"), 0);
      assert.equal(await backupValue("backup_toolbox_databases_skipped"), 0);
      assert.equal(await backupValue("backup_toolbox_last_failure_timestamp_seconds"), undefined);

      assert.deepEqual(pings.requests.map((r) => `${r.method} ${r.path}`), [
        `GET /ping/${TOKEN}/start`,
        `GET /ping/${TOKEN}`,
      ]);
      assert.equal(run.lines[0]?.msg, "backup started");
      assert.equal(
        (run.lines[0]?.settings as Record<string, unknown>).HEALTHCHECK_URL,
        "<redacted>",
      );
      assert.ok(!run.output.includes(TOKEN), "the check's token is a secret");
    },
  );

  await t.step(
    "a failed backup pushes its failure time, keeps the last success, and posts its last line to /fail",
    async () => {
      pings.requests.length = 0;
      const rowsBefore = await backupValue("backup_toolbox_rows");
      const run = await runEntrypoint("backup.ts", { ...backupEnv, PGPASSWORD: "canary-wrong-pw" });
      assert.equal(run.code, 1);
      assert.equal(run.lastLine.level, "error");
      assert.match(String(run.lastLine.msg), /^cannot connect to source PostgreSQL/);

      const failedAt = (await backupValue("backup_toolbox_last_failure_timestamp_seconds"))!;
      assert.ok(failedAt > successAt);
      assert.equal(await backupValue("backup_toolbox_last_success_timestamp_seconds"), successAt);
      assert.equal(await backupValue("backup_toolbox_rows"), rowsBefore);

      assert.deepEqual(pings.requests.map((r) => `${r.method} ${r.path}`), [
        `GET /ping/${TOKEN}/start`,
        `POST /ping/${TOKEN}/fail`,
      ]);
      assert.equal(
        pings.requests[1]!.body,
        lastStderrLine(run.stderr),
        "the body is the failure line",
      );
      assert.ok(!pings.requests[1]!.body.includes("canary-wrong-pw"));
    },
  );

  await t.step(
    "with the Pushgateway and the check-in service down the backup still exits 0, with warn lines after backup OK",
    async () => {
      const down = `http://127.0.0.1:${freePort()}`;
      const run = await runEntrypoint("backup.ts", {
        ...backupEnv,
        PUSHGATEWAY_URL: down,
        HEALTHCHECK_URL: `${down}/ping/${TOKEN}`,
      });
      assert.equal(run.code, 0, run.stderr);
      const done = run.lines.findIndex((l) => l.msg === "backup OK");
      assert.ok(done > 0);
      const warnings = (from: number, to = run.lines.length) =>
        run.lines.slice(from, to).filter((l) => l.step === "notify").map((
          l,
        ) => [l.level, l.msg, l.ping ?? null]);
      assert.deepEqual(warnings(0, done), [["warn", "check-in ping failed", "start"]]);
      assert.deepEqual(warnings(done + 1).sort(), [
        ["warn", "check-in ping failed", "success"],
        ["warn", "metrics push failed", null],
      ]);
      assert.ok(run.lines.slice(done + 1).every((l) => l.level === "warn"));
      assert.match(
        String(run.lines.find((l) => l.msg === "metrics push failed")?.error),
        /Connection refused/,
      );
      assert.ok(!run.output.includes(TOKEN));
    },
  );

  await t.step(
    "a failed backup with both down still ends with its error line, the warnings before it",
    async () => {
      const down = `http://127.0.0.1:${freePort()}`;
      const run = await runEntrypoint("backup.ts", {
        ...backupEnv,
        PGPASSWORD: "canary-wrong-pw",
        PUSHGATEWAY_URL: down,
        HEALTHCHECK_URL: `${down}/ping/${TOKEN}`,
      });
      assert.equal(run.code, 1);
      assert.equal(run.lastLine.level, "error");
      assert.match(String(run.lastLine.msg), /^cannot connect to source PostgreSQL/);
      assert.deepEqual(
        run.lines.filter((l) => l.step === "notify").map((l) => [l.msg, l.ping ?? null]).sort(),
        [["check-in ping failed", "fail"], ["check-in ping failed", "start"], [
          "metrics push failed",
          null,
        ]],
      );
    },
  );

  await t.step(
    "a database that does not allow connections pushes backup_toolbox_databases_skipped 1",
    async () => {
      await stack.source.psql("CREATE DATABASE locked_archive");
      await stack.source.psql("ALTER DATABASE locked_archive ALLOW_CONNECTIONS false");
      try {
        const run = await runEntrypoint("backup.ts", backupEnv);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(
          run.lines.filter((l) => l.msg === "database not in the backup").map((l) => l.database),
          ["locked_archive"],
        );
        assert.equal(await backupValue("backup_toolbox_databases_skipped"), 1);
      } finally {
        await stack.source.psql("DROP DATABASE locked_archive");
      }
      const again = await runEntrypoint("backup.ts", backupEnv);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await backupValue("backup_toolbox_databases_skipped"), 0);
    },
  );

  await t.step("--prune-only and bad settings report nothing: no push, no ping", async () => {
    pings.requests.length = 0;
    const groupsBefore = JSON.stringify(await gateway.groups());
    const prune = await runEntrypoint("backup.ts", backupEnv, ["--prune-only", "--dry-run"]);
    assert.equal(prune.code, 0, prune.stderr);
    const noHost: Record<string, string> = { ...backupEnv };
    delete noHost.PGHOST;
    const bad = await runEntrypoint("backup.ts", noHost);
    assert.equal(bad.code, 2);
    assert.deepEqual(pings.requests, []);
    // The Pushgateway's own push_time_seconds would move with any push.
    assert.equal(JSON.stringify(await gateway.groups()), groupsBefore);
  });

  await t.step(
    "drill OK pushes the restore time, the backup's age and the verified rows under job=postgres-restore-drill",
    async () => {
      pings.requests.length = 0;
      const run = await runEntrypoint("restore_drill.ts", drillEnv);
      assert.equal(run.code, 0, run.stderr);
      const report = run.lines.find((l) => l.msg === "drill report")?.report as {
        phases_ms: Record<string, number>;
        backup: { age_hours: number };
        restored: { rows: number };
      };
      const value = (name: Parameters<typeof gateway.value>[1]) =>
        gateway.value("postgres-restore-drill", name);
      const group = (await gateway.groups()).find((g) => g.labels.job === "postgres-restore-drill");
      assert.deepEqual(group?.labels, { job: "postgres-restore-drill", prefix: "postgresql-18" });
      assert.equal(await value("backup_toolbox_restore_seconds"), report.phases_ms.restore! / 1000);
      assert.equal(
        await value("backup_toolbox_backup_age_seconds"),
        Math.round(report.backup.age_hours * 3600),
      );
      assert.equal(await value("backup_toolbox_verified_rows"), report.restored.rows);
      assert.ok(report.restored.rows > 100);
      assert.ok((await value("backup_toolbox_last_success_timestamp_seconds"))! > successAt);
      assert.deepEqual(pings.requests.map((r) => `${r.method} ${r.path}`), [
        `GET /ping/${TOKEN}/start`,
        `GET /ping/${TOKEN}`,
      ]);
    },
  );

  await t.step(
    "tripwire: against the previous complete backup, a table that lost 60% and one that disappeared warn 'table shrank'",
    async () => {
      await emptyBucket(stack);
      const pg = stack.source;
      await pg.psql("CREATE DATABASE shop");
      await pg.psql(
        `CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g;
       CREATE TABLE audit AS SELECT g AS id FROM generate_series(1, 100) g;
       CREATE TABLE steady AS SELECT g AS id FROM generate_series(1, 10) g;`,
        "shop",
      );
      // Day D: a real backup. The backup takes its day from the clock, so the earlier backups are
      // copies of it made with the AWS CLI: D-2 complete, D-1 without manifest.json (incomplete,
      // so the tripwire must look past it). Then D's own folder is removed.
      const first = await runEntrypoint("backup.ts", stack.backupEnv);
      assert.equal(first.code, 0, first.stderr);
      const today = dayDir(String(first.lastLine.key));
      const [incomplete, complete] = [dayDir(today + "x", 1), dayDir(today + "x", 2)];
      const copy = async (file: string, toDir: string) => {
        const r = await stack.s3.aws([
          "s3",
          "cp",
          `s3://${stack.bucket}/${today}${file}`,
          `s3://${stack.bucket}/${toDir}${file}`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      };
      for (const file of ["full.sql.zst", "full.sql.zst.sha256", "manifest.json"]) {
        await copy(file, complete);
      }
      for (const file of ["full.sql.zst", "full.sql.zst.sha256"]) await copy(file, incomplete);
      const rm = await stack.s3.aws(["s3", "rm", "--recursive", `s3://${stack.bucket}/${today}`]);
      assert.equal(rm.code, 0, rm.stderr);

      // Then, on the source: orders loses 600 of 1000 rows, audit is dropped, steady loses 40%.
      await pg.psql(
        "DELETE FROM orders WHERE id > 400; DROP TABLE audit; DELETE FROM steady WHERE id > 6",
        "shop",
      );
      const run = await runEntrypoint("backup.ts", backupEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "backup OK", "the tripwire never fails the backup");
      const shrank = run.lines.filter((l) => l.msg === "table shrank");
      const hint =
        'if nobody meant this, copy the older backups aside before retention expires them (RUNBOOK.md, section "PostgresBackupTablesShrunk")';
      const expected = (
        table: string,
        rowsBefore: number,
        rowsAfter: number,
        disappeared: boolean,
      ) => ({
        level: "warn",
        step: "tripwire",
        msg: "table shrank",
        database: "shop",
        table,
        rows_before: rowsBefore,
        rows_after: rowsAfter,
        disappeared,
        previous: `${complete}manifest.json`,
        shrink_warn_percent: 50,
        hint,
      });
      assert.deepEqual(
        shrank.map(({ ts: _ts, program: _p, ...rest }) => rest),
        // In the previous manifest's order, which is the dump's: alphabetical.
        [expected("public.audit", 100, 0, true), expected("public.orders", 1000, 400, false)],
      );
      assert.equal(await backupValue("backup_toolbox_tables_shrunk"), 2);

      // A lower limit also names the table that lost 40%; it compares with the same backup.
      const strict = await runEntrypoint("backup.ts", { ...backupEnv, SHRINK_WARN_PERCENT: "30" });
      assert.equal(strict.code, 0, strict.stderr);
      assert.deepEqual(
        strict.lines.filter((l) => l.msg === "table shrank").map((
          l,
        ) => [l.table, l.rows_before, l.rows_after]),
        [["public.audit", 100, 0], ["public.orders", 1000, 400], ["public.steady", 10, 6]],
      );
      assert.equal(await backupValue("backup_toolbox_tables_shrunk"), 3);
    },
  );

  await t.step(
    "tripwire: the backup key with only the shipped postgres-backup policy reads the previous manifest",
    async () => {
      const uid = "postgres-backup";
      const keys = await stack.s3.createUser(uid);
      const policy = await Deno.readTextFile(
        new URL("../manifests/s3-policies/postgres-backup.json", import.meta.url),
      );
      await stack.s3.putUserPolicy(uid, "postgres-backup", policy);
      const run = await runEntrypoint("backup.ts", {
        ...stack.backupEnv,
        AWS_ACCESS_KEY_ID: keys.accessKey,
        AWS_SECRET_ACCESS_KEY: keys.secretKey,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!run.lines.some((l) => String(l.msg).startsWith("tripwire skipped")), run.stderr);
      assert.deepEqual(
        run.lines.filter((l) => l.msg === "table shrank").map((l) => l.table),
        ["public.audit", "public.orders"],
      );
    },
  );
});
