/**
 * Recovering chosen databases for real, against real servers: a PostgreSQL 18 cluster with the
 * rich sample (and a database on a tablespace) backed up by pg_dumpall 18 to Ceph RGW, then
 * `restore-drill --recover` into that same live cluster, into an empty PostgreSQL 18 server and
 * into servers that fail mid-way. A PostgreSQL 15 backup is recovered into PostgreSQL 18 too.
 * Each step is named after what the operator sees; RUNBOOK.md "I must restore now" uses the same
 * words.
 */
import assert from "node:assert/strict";
import type { RecoveryReport } from "../lib/recover/report.ts";
import { snapshot } from "./harness/fixtures.ts";
import { lookupUser } from "./harness/process.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import {
  clientPath,
  cmdlineOf,
  descendants,
  runEntrypoint,
  type RunResult,
  spawnEntrypoint,
} from "./harness/run.ts";
import { loadSimpleSample, MARKER_NOTE, rowCounts } from "./harness/sample_data.ts";
import { type Stack, startStack } from "./harness/stack.ts";
import { requireTool } from "./harness/tools.ts";

/** The recovery's settings for a target server. */
function targetEnv(stack: Stack, target: PgServer, extra: Record<string, string>) {
  return {
    ...stack.drillEnv,
    SCRATCH_PGHOST: "127.0.0.1",
    SCRATCH_PGPORT: String(target.port),
    SCRATCH_PGUSER: target.user,
    SCRATCH_PGPASSWORD: target.password,
    RECOVER: "true",
    ...extra,
  };
}

function msgs(run: RunResult): string[] {
  return run.lines.map((l) => String(l.msg));
}

function reportOf(run: RunResult): RecoveryReport {
  return run.lines.find((l) => l.msg === "recovery report")?.report as RecoveryReport;
}

/** psql as another user, to prove a password works or not. */
async function loginWorks(pg: PgServer, user: string, password: string): Promise<boolean> {
  const child = await new Deno.Command(requireTool("psql-18"), {
    args: ["-X", "-At", "-d", "postgres", "-c", "SELECT 1"],
    env: {
      PATH: "/usr/bin:/bin",
      PGHOST: pg.host,
      PGPORT: String(pg.port),
      PGUSER: user,
      PGPASSWORD: password,
      PGCONNECT_TIMEOUT: "5",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return child.success;
}

/**
 * Runs a recovery and, once psql is in the middle of a statement in `database` on `target`,
 * freezes psql, calls `interrupt`, and lets psql go on into the broken connection.
 */
async function interruptedRecovery(
  env: Record<string, string>,
  target: PgServer,
  database: string,
  interrupt: () => Promise<void>,
): Promise<RunResult> {
  const running = spawnEntrypoint("restore_drill.ts", env, [], { timeoutMs: 120_000 });
  const deadline = Date.now() + 60_000;
  let interrupted = false;
  while (!interrupted && Date.now() < deadline) {
    const psql = descendants(running.pid).find((p) => cmdlineOf(p).startsWith("psql"));
    if (psql !== undefined) {
      try {
        Deno.kill(psql, "SIGSTOP");
      } catch {
        continue; // it just exited
      }
      // Mid-statement in the new database (a COPY waiting for its rows): psql has work left.
      const busy = await target.psql(
        `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backup-toolbox'
           AND datname = '${database}' AND state = 'active'`,
      );
      if (busy === "1") {
        await interrupt();
        interrupted = true;
      }
      Deno.kill(psql, "SIGCONT");
    }
    if (!interrupted) await new Promise((r) => setTimeout(r, 10));
  }
  const run = await running.result;
  assert.ok(interrupted, `psql never ran with ${database} created: ${run.stderr}`);
  return run;
}

Deno.test("recover for real", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  const source = stack.source;
  const outputs: string[] = [];
  const record = (run: RunResult) => {
    outputs.push(run.output);
    return run;
  };

  // A database on a tablespace: a target without that tablespace cannot take it.
  const tsDir = `${source.dir}/tablespace-fast`;
  await Deno.mkdir(tsDir);
  const pgUser = lookupUser("postgres");
  await Deno.chown(tsDir, pgUser.uid, pgUser.gid);
  await source.psql(`CREATE TABLESPACE fast LOCATION '${tsDir}'; CREATE DATABASE tsdb;`);
  await source.psql(
    `CREATE TABLE a_first (x int); INSERT INTO a_first SELECT generate_series(1, 100);
     CREATE TABLE zz_fast (x int) TABLESPACE fast; INSERT INTO zz_fast VALUES (1);`,
    "tsdb",
  );
  // Enough rows that psql can be caught in the middle of a COPY.
  await source.psql(
    "CREATE TABLE bulk AS SELECT i, md5(i::text) AS h FROM generate_series(1, 200000) AS i",
    "app",
  );
  const backup = record(await runEntrypoint("backup.ts", stack.backupEnv));
  assert.equal(backup.code, 0, backup.stderr);

  // After the backup: rows lost in app, and a password changed.
  await source.psql("DELETE FROM orders WHERE id <= 100", "app");
  await source.psql("ALTER ROLE reporter PASSWORD 'changed-after-backup'");

  await t.step(
    "recovery OK: one database under a new name into the live cluster, nothing else touched",
    async () => {
      const before = await snapshot(source);
      const countsBefore = await rowCounts(source);
      const run = record(
        await runEntrypoint(
          "restore_drill.ts",
          targetEnv(stack, source, {
            RESTORE_DATABASES: "app",
            RESTORE_RENAME: "app=app_restored",
          }),
        ),
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "recovery OK");
      assert.deepEqual(run.lastLine.databases, ["app_restored"]);
      const report = reportOf(run);
      assert.equal(run.lastLine.rows, report.restored.rows);
      assert.equal(run.lastLine.duration_ms, report.duration_ms);
      // sha256 checked before anything reached the target.
      const order = msgs(run);
      assert.ok(
        order.indexOf("sha256 OK") < order.indexOf("restoring into the target"),
        order.join(" | "),
      );
      for (
        const m of [
          "sha256 OK",
          "backup checked; nothing sent to the target yet",
          "restore OK",
          "deep check OK: every table has the rows the backup holds",
          "value check OK: every table compared by value matches the backup",
        ]
      ) assert.ok(order.includes(m), m);
      // Every role the database needs is there already: none created, none altered.
      assert.deepEqual(report.roles.created, []);
      assert.deepEqual(report.roles.kept, ["app_user", "postgres", "reporter"]);
      assert.equal(report.values.large_objects_by_value, 1);
      assert.deepEqual(report.values.compared_by_count_only, []);
      assert.equal(report.values.rows_by_value, report.restored.rows);
      assert.ok(report.skipped_cluster_wide["CREATE TABLESPACE"] === 1, JSON.stringify(report));
      assert.ok(report.sql_bytes.sent_to_psql < report.sql_bytes.dump);
      // The new database matches the backup; the damaged original stays as it was.
      assert.equal(await source.psql("SELECT count(*) FROM orders", "app_restored"), "5000");
      assert.equal(await source.psql("SELECT count(*) FROM orders", "app"), "4900");
      assert.equal(
        await source.psql("SELECT note FROM backup_marker WHERE id = 1", "app_restored"),
        MARKER_NOTE,
      );
      assert.equal(
        await source.psql(
          "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
          "app_restored",
        ),
        "citext,hstore,pgcrypto,plpgsql",
      );
      assert.equal(
        await source.psql("SELECT count(*) FROM pg_largeobject_metadata", "app_restored"),
        "1",
      );
      assert.equal(
        await source.psql(
          "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app_restored'",
        ),
        "app_user",
      );
      assert.equal(
        await source.psql(
          "SELECT has_table_privilege('reporter', 'public.orders', 'SELECT')",
          "app_restored",
        ),
        "t",
      );
      // No other database appeared; the others, the roles and the new password are untouched.
      const after = JSON.parse(await snapshot(source));
      const was = JSON.parse(before);
      assert.deepEqual(after.databases, [...was.databases, "app_restored"].sort());
      assert.deepEqual(after.roles, was.roles);
      assert.deepEqual(after.memberships, was.memberships);
      const { app_restored: restoredCounts, ...others } = await rowCounts(source);
      assert.deepEqual(others, countsBefore);
      assert.equal(restoredCounts?.["public.orders"], 5000);
      assert.ok(await loginWorks(source, "reporter", "changed-after-backup"));
      assert.ok(!(await loginWorks(source, "reporter", "reporter-secret")));
      // Back as it was, so the next steps start from the same cluster whatever happened here.
      await source.psql("DROP DATABASE app_restored WITH (FORCE)");
      assert.equal(await snapshot(source), before);
    },
  );

  await t.step(
    "refusing to recover: the new name exists on the target; nothing was changed",
    async () => {
      // A copy recovered earlier, still there.
      await source.psql("CREATE DATABASE app_restored");
      try {
        await source.psql("CREATE TABLE kept AS SELECT 1 AS x", "app_restored");
        const before = await snapshot(source);
        const run = record(
          await runEntrypoint(
            "restore_drill.ts",
            targetEnv(stack, source, {
              RESTORE_DATABASES: "app",
              RESTORE_RENAME: "app=app_restored",
            }),
          ),
        );
        assert.equal(run.code, 1);
        assert.equal(
          run.lastLine.msg,
          `refusing to recover: database "app_restored" already exists on the target 127.0.0.1:${source.port}; nothing was changed`,
        );
        assert.equal(
          run.lastLine.hint,
          "recover under a new name with --rename app=app_restored (RESTORE_RENAME), or drop the old copy first if it is a leftover you no longer need",
        );
        assert.ok(!msgs(run).includes("sha256 OK"), "refused before reading the backup");
        assert.equal(await snapshot(source), before);
        assert.equal(await source.psql("SELECT count(*) FROM kept", "app_restored"), "1");
      } finally {
        await source.psql("DROP DATABASE app_restored WITH (FORCE)");
      }
    },
  );

  await t.step("refusing to recover: a database that is not in the backup", async () => {
    const before = await snapshot(source);
    const run = record(
      await runEntrypoint(
        "restore_drill.ts",
        targetEnv(stack, source, { RESTORE_DATABASES: "App" }),
      ),
    );
    assert.equal(run.code, 1);
    assert.equal(
      run.lastLine.msg,
      `refusing to recover: database "App" is not in the backup (its manifest.json lists "Weird-DB name", "analytics", "app", "postgres", "tsdb"); nothing was changed`,
    );
    assert.equal(await snapshot(source), before);
  });

  await t.step(
    "two databases at once into an empty server, one renamed from and to names that need quoting",
    async () => {
      await using scratch = await startPostgres({ version: 18, superuser: "drill_admin" });
      const rename = 'Weird-DB name=Restored "Weird"\\, Copy';
      const run = record(
        await runEntrypoint(
          "restore_drill.ts",
          targetEnv(stack, scratch, {
            RESTORE_DATABASES: "app,Weird-DB name",
            RESTORE_RENAME: rename,
          }),
        ),
      );
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.lastLine.databases, ["app", 'Restored "Weird", Copy']);
      const report = reportOf(run);
      // The empty server lacked every role the two databases name: created, and logged.
      assert.deepEqual([...report.roles.created].sort(), ["app_user", "postgres", "reporter"]);
      assert.deepEqual(report.roles.kept, []);
      assert.deepEqual(
        JSON.parse(
          await scratch.psql("SELECT json_agg(datname ORDER BY datname) FROM pg_database"),
        ),
        ['Restored "Weird", Copy', "app", "postgres", "template0", "template1"],
      );
      assert.equal(
        await scratch.psql(
          `SELECT string_agg("Column With Space", '|' ORDER BY "Column With Space") FROM "weird table"`,
          'Restored "Weird", Copy',
        ),
        '"quoted"|a b',
      );
      assert.equal(await scratch.psql("SELECT count(*) FROM orders", "app"), "5000");
      // The created role has the backup's password (the live cluster's was changed later).
      assert.ok(await loginWorks(scratch, "reporter", "reporter-secret"));
    },
  );

  await t.step(
    "a failed recovery (psql stops at an error) drops what it created: the target is as it was",
    async () => {
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      const before = await snapshot(target);
      const run = record(
        await runEntrypoint(
          "restore_drill.ts",
          targetEnv(stack, target, { RESTORE_DATABASES: "tsdb" }),
        ),
      );
      assert.equal(run.code, 1);
      assert.match(
        String(run.lastLine.msg),
        /^restore FAILED: psql stopped at the first error: .*[Tt]ablespace "fast" does not exist/,
      );
      assert.match(
        String(run.lastLine.hint),
        /^the target is as it was \(the recovery dropped the databases and roles it had created\); /,
      );
      const undo = run.lines.find((l) => l.msg === "recovery failed; dropped what it had created");
      assert.deepEqual(undo?.databases, ["tsdb"]);
      assert.deepEqual(undo?.roles, ["postgres"]);
      assert.equal(await snapshot(target), before);
    },
  );

  await t.step(
    "a connection cut mid-way: the recovery drops what it created, the target is as it was",
    async () => {
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      const before = await snapshot(target);
      const run = record(
        await interruptedRecovery(
          targetEnv(stack, target, { RESTORE_DATABASES: "app", RESTORE_RENAME: "app=app_mid" }),
          target,
          "app_mid",
          async () => {
            await target.psql(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'backup-toolbox' AND datname = 'app_mid'`,
            );
          },
        ),
      );
      assert.equal(run.code, 1, run.stderr);
      assert.match(String(run.lastLine.msg), /^restore FAILED: psql stopped at the first error: /);
      assert.match(String(run.lastLine.hint), /^the target is as it was/);
      assert.equal(await snapshot(target), before);
    },
  );

  await t.step(
    "the target stopped mid-way: the last line says exactly what is left to clean up",
    async () => {
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      const run = record(
        await interruptedRecovery(
          targetEnv(stack, target, {
            RESTORE_DATABASES: "app",
            RESTORE_RENAME: "app=app_mid",
            SCRATCH_WAIT_SECONDS: "2",
          }),
          target,
          "app_mid",
          () => target.stop(),
        ),
      );
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^restore FAILED: psql stopped at the first error: .*; left on the target 127\\.0\\.0\\.1:${target.port}: database "app_mid" and roles "app_user", "postgres", "reporter"$`,
        ),
      );
      assert.match(
        String(run.lastLine.hint),
        /^when the server is back, run as drill_admin in database postgres: DROP DATABASE app_mid WITH \(FORCE\); DROP ROLE app_user; DROP ROLE postgres; DROP ROLE reporter; then /,
      );
      assert.ok(msgs(run).some((m) => m.startsWith("cleanup incomplete: left on the target: ")));
    },
  );

  await t.step("a PostgreSQL 15 backup recovered into a PostgreSQL 18 server", async () => {
    await using pg15 = await startPostgres({ version: 15, name: "source15" });
    await loadSimpleSample(pg15);
    const backup15 = record(
      await runEntrypoint("backup.ts", {
        ...stack.backupEnv,
        ...pg15.env,
        PATH: clientPath(15),
        S3_PREFIX: "postgresql-15",
      }),
    );
    assert.equal(backup15.code, 0, backup15.stderr);
    await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
    const run = record(
      await runEntrypoint(
        "restore_drill.ts",
        targetEnv(stack, target, {
          S3_PREFIX: "postgresql-15",
          RESTORE_DATABASES: "app",
          RESTORE_RENAME: "app=app_from_15",
        }),
      ),
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lastLine.msg, "recovery OK");
    assert.equal(await target.psql("SELECT count(*) FROM items", "app_from_15"), "100");
    assert.match(reportOf(run).target.server_version, /^18\./);
  });

  await t.step(
    "refusing to restore into an older server: a PostgreSQL 15 target, a backup by pg_dumpall 18",
    async () => {
      await using target = await startPostgres({ version: 15, name: "target15" });
      const before = await snapshot(target);
      const run = record(
        await runEntrypoint(
          "restore_drill.ts",
          targetEnv(stack, target, { RESTORE_DATABASES: "app" }),
        ),
      );
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^refusing to restore into PostgreSQL 15\\.\\d+ at 127\\.0\\.0\\.1:${target.port}: the backup was written by pg_dumpall 18\\.\\d+, and pg_dumpall output loads only into the same or a newer major version$`,
        ),
      );
      assert.equal(
        run.lastLine.hint,
        "recover into a PostgreSQL 18 or newer server (SCRATCH_PGHOST), or pick a backup made by an older pg_dumpall with --key",
      );
      // Refused before any download or change.
      assert.ok(!msgs(run).some((m) => m.startsWith("reading backup")), msgs(run).join(" | "));
      assert.equal(await snapshot(target), before);
    },
  );

  await t.step("no secret in any output", () => {
    const all = outputs.join("\n");
    for (
      const secret of [
        source.password,
        stack.scratch.password,
        stack.s3.secretKey,
        "app-user-secret",
        "reporter-secret",
        "changed-after-backup",
        "SCRAM-SHA-256$",
      ]
    ) assert.ok(!all.includes(secret), `output holds ${secret.slice(0, 12)}…`);
  });
});
