/**
 * `restore-drill --verify-only`: RUNBOOK's "check it worked" after a recovery made by hand. A
 * backup of the rich sample (PostgreSQL 18, pg_dumpall 18) is restored by hand with the AWS CLI,
 * zstd and psql 18 into a fresh PostgreSQL 18 server; --verify-only then reads the backup and
 * compares that server with it, and catches a changed value, a deleted row and a missing
 * database, each named.
 */
import assert from "node:assert/strict";
import { dayFolder, download, sh } from "./harness/fixtures.ts";
import { startPostgres } from "./harness/postgres.ts";
import { runEntrypoint } from "./harness/run.ts";
import { startStack } from "./harness/stack.ts";
import { requireTool } from "./harness/tools.ts";

Deno.test("restore-drill --verify-only", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  const backup = await runEntrypoint("backup.ts", stack.backupEnv);
  assert.equal(backup.code, 0, backup.stderr);
  const dir = `${stack.prefix}/${dayFolder()}`;

  // The recovery made by hand (RUNBOOK.md "The whole cluster into a new server").
  await using target = await startPostgres({ version: 18, superuser: "restorer", name: "target" });
  const tmp = await Deno.makeTempDir();
  try {
    await download(stack, `${dir}/full.sql.zst`, tmp);
    const restore = await sh(
      `zstd -dc ${tmp}/full.sql.zst | ${
        requireTool("psql-18")
      } -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null`,
      { ...target.env, PATH: "/usr/bin:/bin" },
    );
    assert.equal(restore.code, 0, restore.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const env = {
    ...stack.drillEnv,
    SCRATCH_PGHOST: target.host,
    SCRATCH_PGPORT: String(target.port),
    SCRATCH_PGUSER: target.user,
    SCRATCH_PGPASSWORD: target.password,
  };
  const verify = () => runEntrypoint("restore_drill.ts", env, ["--verify-only"]);

  await t.step(
    "a faithful recovery: verify OK, nothing restored, no drill report stored",
    async () => {
      const before = await target.psql("SELECT count(*) FROM pg_database");
      const run = await verify();
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "verify OK");
      const msgs = run.lines.map((l) => l.msg);
      for (
        const marker of ["sha256 OK", "deep check OK: every table has the rows the backup holds"]
      ) {
        assert.ok(msgs.includes(marker), marker);
      }
      assert.ok(msgs.includes("value check OK: every table compared by value matches the backup"));
      assert.ok(!msgs.includes("restore OK"), "nothing was restored");
      const report = run.lines.find((l) => l.msg === "drill report")!.report as Record<
        string,
        unknown
      >;
      assert.equal(report.mode, "verify-only");
      assert.ok(Number((report.values as Record<string, number>).rows_by_value) > 5000);
      assert.equal(await target.psql("SELECT count(*) FROM pg_database"), before);
      const keys = (await stack.listKeys(`${dir}/`)).map((k) => k.key);
      assert.ok(
        !keys.includes(`${dir}/drill-report.json`),
        "only a real drill marks a backup drilled",
      );
    },
  );

  await t.step(
    "a changed value (same row count) fails as smoke FAILED naming the table",
    async () => {
      await target.psql("UPDATE orders SET customer = customer || '!' WHERE id = 17", "app");
      const run = await verify();
      assert.equal(run.code, 1, run.stderr);
      assert.equal(
        run.lastLine.msg,
        "smoke FAILED: the restored values differ from the backup: app: table public.orders has the backup's 5000 rows but different values",
      );
      await target.psql("UPDATE orders SET customer = rtrim(customer, '!') WHERE id = 17", "app");
    },
  );

  await t.step("a deleted row fails as smoke FAILED naming the table and both counts", async () => {
    await target.psql("DELETE FROM backup_marker WHERE id = 1", "app");
    const run = await verify();
    assert.equal(run.code, 1, run.stderr);
    assert.equal(
      run.lastLine.msg,
      "smoke FAILED: the server differs from the backup: app: table public.backup_marker has 0 rows, the backup has 1",
    );
    assert.match(String(run.lastLine.hint), /^the server does not hold what the backup holds/);
  });

  await t.step("a missing database fails as smoke FAILED naming it", async () => {
    await target.psql('DROP DATABASE "Weird-DB name"');
    const run = await verify();
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      String(run.lastLine.msg),
      /^smoke FAILED: the server differs from the backup: .*database Weird-DB name is missing/,
    );
  });

  await t.step("a server that is not on loopback is refused before any connection", async () => {
    const run = await runEntrypoint("restore_drill.ts", {
      ...env,
      SCRATCH_PGHOST: "db.example.invalid",
    }, ["--verify-only"]);
    assert.equal(run.code, 1);
    assert.equal(
      run.lastLine.msg,
      'refusing to restore into scratch host "db.example.invalid": it is not a loopback address',
    );
  });
});
