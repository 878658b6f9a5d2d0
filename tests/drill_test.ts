/**
 * The weekly restore drill against real servers, on production's pair: a PostgreSQL 18 source
 * with the rich sample dumped by pg_dumpall 18, Ceph RGW, and a PostgreSQL 18 scratch (superuser
 * not `postgres`) restored by psql 18. The older-source cases restore a PostgreSQL 15 source
 * into the same 18 scratch. Each step is named after what the operator sees; RUNBOOK.md uses the
 * same words.
 */
import assert from "node:assert/strict";
import type { DrillReport } from "../lib/drill/report.ts";
import { compareCountsOn } from "../lib/restore/checks.ts";
import { WORDING } from "../lib/restore/wording.ts";
import { parseManifest } from "../lib/bucket/manifest.ts";
import { dayFolder, download, emptyBucket, sh, tagsOf, upload } from "./harness/fixtures.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import { freePort } from "./harness/ports.ts";
import { clientPath, runEntrypoint, type RunResult, spawnEntrypoint } from "./harness/run.ts";
import { MARKER_NOTE, rowCounts } from "./harness/sample_data.ts";
import { type Stack, startStack } from "./harness/stack.ts";

/** A fresh, empty PG 18 scratch server for one drill (superuser `drill_admin` unless named). */
function freshScratch(name: string, superuser = "drill_admin"): Promise<PgServer> {
  return startPostgres({ version: 18, superuser, name: `scratch-${name}` });
}

/** The drill's settings for a scratch server. */
function scratchEnv(scratch: PgServer): Record<string, string> {
  return {
    SCRATCH_PGHOST: "127.0.0.1",
    SCRATCH_PGPORT: String(scratch.port),
    SCRATCH_PGUSER: scratch.user,
    SCRATCH_PGPASSWORD: scratch.password,
  };
}

async function getObject(stack: Stack, key: string): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir();
  try {
    const r = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${key}`, `${dir}/o`]);
    if (r.code !== 0) throw new Error(`get ${key} failed: ${r.stderr}`);
    return await Deno.readFile(`${dir}/o`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function markers(run: RunResult): string[] {
  return run.lines.map((l) => String(l.msg)).filter((m) =>
    ["sha256 OK", "restore OK", "smoke OK", "drill OK"].includes(m)
  );
}

Deno.test("restore drill", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  const dir = `${stack.prefix}/${dayFolder()}`;
  const data = `${dir}/full.sql.zst`;
  const backup = await runEntrypoint("backup.ts", stack.backupEnv);
  assert.equal(backup.code, 0, backup.stderr);
  const original = await getObject(stack, data);
  const originalSha = await getObject(stack, `${dir}/full.sql.zst.sha256`);
  const restoreOriginal = async () => {
    await upload(stack, data, original);
    await upload(stack, `${dir}/full.sql.zst.sha256`, originalSha);
  };

  await t.step(
    "drill OK: sha256 OK, restore OK, smoke OK, every row back in a PG 18 scratch",
    async () => {
      const run = await runEntrypoint("restore_drill.ts", stack.drillEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
      assert.ok(
        run.lines.some((l) => l.msg === "deep check OK: every table has the rows the backup holds"),
      );
      const report = run.lines.find((l) => l.msg === "drill report")?.report as DrillReport;
      assert.equal(report.result, "OK");
      // Year, month, day folders, then the day's objects: not the whole bucket.
      assert.equal(run.lines.find((l) => l.msg === "backup found")?.list_requests, 4);
      assert.equal(report.backup.key, data);
      assert.equal(report.backup.sha256, new TextDecoder().decode(originalSha).slice(0, 64));
      assert.equal(report.backup.bytes, original.byteLength);
      assert.equal(report.deep_check, true);
      assert.equal(report.restored.rows, 6656);
      assert.match(report.scratch.server_version, /^18\./);
      // Production's pair: the dump came from pg_dumpall 18 and psql 18 restored it.
      const preflight = run.lines.find((l) => l.msg === "preflight OK");
      assert.match(String(preflight?.psql_version), /^18\.\d+$/);
      const manifest = parseManifest(
        new TextDecoder().decode(await getObject(stack, `${dir}/manifest.json`)),
      );
      assert.match(manifest.pg_dumpall_version, /^18\.\d+$/);
      assert.match(manifest.server_version, /^18\.\d+$/);
      for (const phase of ["find", "wait", "restore", "smoke", "compare", "verify"]) {
        assert.equal(typeof report.phases_ms[phase], "number", phase);
      }
      // Every table compared by value, none by count only: the backup recorded its settings.
      assert.ok(
        run.lines.some((l) =>
          l.msg === "value check OK: every table compared by value matches the backup"
        ),
      );
      assert.deepEqual(report.values.compared_by_count_only, []);
      assert.equal(report.values.tables_by_value, report.restored.tables);
      assert.equal(report.values.rows_by_value, 6656);
      assert.equal(report.values.large_objects_by_value, 1);
      assert.ok(report.values.compared_by_value.includes('app: "MixedCase"."OrderItems"'));
      assert.deepEqual(Object.keys(manifest.dump_settings ?? {}).sort(), [
        "Weird-DB name",
        "analytics",
        "app",
        "postgres",
        "template1",
      ]);
      // The marker row written before the backup is on the scratch server.
      assert.equal(
        await stack.scratch.psql("SELECT note FROM backup_marker WHERE id = 1", "app"),
        "written before the backup",
      );
      // The report is stored beside the backup, with the backup's retention class as its tag.
      const stored = JSON.parse(
        new TextDecoder().decode(await getObject(stack, `${dir}/drill-report.json`)),
      );
      assert.deepEqual(stored, report);
      assert.equal(report.retention_class, "monthly");
      assert.deepEqual(await tagsOf(stack, `${dir}/drill-report.json`), {
        "retention-class": "monthly",
      });
    },
  );

  await t.step(
    "a row deleted from the restored scratch is reported by its table name",
    async () => {
      await stack.scratch.psql(`DELETE FROM "MixedCase"."OrderItems" WHERE "Id" = 1`, "app");
      const manifest = parseManifest(
        new TextDecoder().decode(await getObject(stack, `${dir}/manifest.json`)),
      );
      const conn = {
        host: "127.0.0.1",
        port: stack.scratch.port,
        user: stack.scratch.user,
        password: stack.scratch.password,
      };
      const drillCounts = () =>
        compareCountsOn(conn, manifest.databases, WORDING.drill.countsDiffer);
      await assert.rejects(drillCounts, (err: Error) => {
        assert.equal(
          err.message,
          `smoke FAILED: the restore differs from the backup's manifest: app: table "MixedCase"."OrderItems" has 249 rows, the backup has 250`,
        );
        return true;
      });
    },
  );

  await t.step(
    "the scratch superuser may be named postgres like the source's: its role is kept as it is",
    async () => {
      await using scratch = await freshScratch("postgres", "postgres");
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        ...scratchEnv(scratch),
      });
      assert.equal(run.code, 0, run.stderr);
      const kept = run.lines.find((l) => l.msg === "kept the scratch superuser as it is");
      assert.equal(kept?.role, "postgres");
      assert.deepEqual((kept?.skipped as string[]).map((s) => s.split(" WITH ")[0]), [
        "CREATE ROLE postgres;",
        "ALTER ROLE postgres",
      ]);
      assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
    },
  );

  await t.step(
    "sha256 mismatch: a tampered .sha256 fails with both digests, exit 1, and drill-report.json says FAILED",
    async () => {
      await using scratch = await freshScratch("sha");
      const wrong = "0".repeat(64);
      await upload(stack, `${dir}/full.sql.zst.sha256`, `${wrong}  full.sql.zst\n`);
      try {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          ...scratchEnv(scratch),
        });
        assert.equal(run.code, 1);
        const actual = new TextDecoder().decode(originalSha).slice(0, 64);
        assert.equal(
          run.lastLine.msg,
          `sha256 mismatch: ${data} hashes to ${actual}, ${dir}/full.sql.zst.sha256 says ${wrong}`,
        );
        assert.equal(
          run.lastLine.hint,
          "the backup is damaged or was altered; drill the previous one with --key <prefix>/YYYY/MM/DD/full.sql.zst, check the S3 server's disks, and take a fresh backup now",
        );
        assert.ok(
          run.lines.some((l) =>
            l.msg === "sha256 mismatch" && l.expected === wrong && l.actual === actual
          ),
        );
        assert.ok(!run.lines.some((l) => l.msg === "restore OK" || l.msg === "sha256 OK"));
        // The verdict is stored beside the backup, with the failure line as the run ended.
        const stored = JSON.parse(
          new TextDecoder().decode(await getObject(stack, `${dir}/drill-report.json`)),
        );
        assert.deepEqual(
          {
            result: stored.result,
            key: stored.backup.key,
            retention_class: stored.retention_class,
            failure: stored.failure,
          },
          {
            result: "FAILED",
            key: data,
            retention_class: "monthly",
            failure: {
              error: "ChecksumMismatchError",
              msg: run.lastLine.msg,
              hint: run.lastLine.hint,
            },
          },
        );
        assert.deepEqual(await tagsOf(stack, `${dir}/drill-report.json`), {
          "retention-class": "monthly",
        });
      } finally {
        await restoreOriginal();
      }
    },
  );

  await t.step("a truncated object is reported as truncated, exit 1", async () => {
    await using scratch = await freshScratch("trunc");
    await upload(stack, data, original.subarray(0, Math.floor(original.byteLength / 2)));
    try {
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        ...scratchEnv(scratch),
      });
      assert.equal(run.code, 1);
      assert.equal(
        run.lastLine.msg,
        `backup truncated: ${data} has ${
          Math.floor(original.byteLength / 2)
        } bytes, its manifest says ${original.byteLength}`,
      );
      assert.equal(
        run.lastLine.hint,
        "the object was cut short or replaced after the backup; drill the previous one with --key <prefix>/YYYY/MM/DD/full.sql.zst, check the S3 server's disks, and take a fresh backup now",
      );
    } finally {
      await restoreOriginal();
    }
  });

  await t.step(
    "a missing .sha256 is not a sha256 mismatch: it cannot be read because it does not exist, exit 1",
    async () => {
      const rm = await stack.s3.aws([
        "s3",
        "rm",
        `s3://${stack.bucket}/${dir}/full.sql.zst.sha256`,
      ]);
      assert.equal(rm.code, 0, rm.stderr);
      try {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          BACKUP_KEY: data,
        });
        assert.equal(run.code, 1);
        assert.equal(run.lastLine.msg, `cannot read ${dir}/full.sql.zst.sha256: it does not exist`);
        assert.equal(run.lastLine.error, "BackupUnreadableError");
        assert.equal(
          run.lastLine.hint,
          "the backup is incomplete or damaged; drill an older one with --key, and take a fresh backup now",
        );
        assert.ok(!run.lines.some((l) => String(l.msg).startsWith("sha256 mismatch")));
      } finally {
        await restoreOriginal();
      }
    },
  );

  await t.step(
    "a corrupt zstd frame whose sha256 matches fails as restore FAILED naming zstd, exit 1",
    async () => {
      await using scratch = await freshScratch("zstd");
      const corrupt = original.slice();
      for (let i = 1000; i < 1400; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
      await upload(stack, data, corrupt);
      await upload(
        stack,
        `${dir}/full.sql.zst.sha256`,
        `${await sha256Hex(corrupt)}  full.sql.zst\n`,
      );
      try {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          ...scratchEnv(scratch),
        });
        assert.equal(run.code, 1);
        assert.ok(run.lines.some((l) => l.msg === "sha256 OK"));
        assert.match(
          String(run.lastLine.msg),
          new RegExp(`^restore FAILED: zstd could not decompress ${data}: `),
        );
        assert.equal(
          run.lastLine.hint,
          "the object matches its sha256, so it was written corrupt; take a fresh backup and drill it, or drill an older one with --key",
        );
      } finally {
        await restoreOriginal();
      }
    },
  );

  await t.step(
    "a PostgreSQL 15 scratch is refused before the download: the backup is pg_dumpall 18's",
    async () => {
      await using scratch = await startPostgres({ version: 15, name: "scratch-15" });
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        ...scratchEnv(scratch),
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^refusing to restore into PostgreSQL 15\\.\\d+ at 127\\.0\\.0\\.1:${scratch.port}: the backup was written by pg_dumpall 18\\.\\d+, and pg_dumpall output loads only into the same or a newer major version$`,
        ),
      );
      assert.equal(
        run.lastLine.hint,
        "run the scratch-postgres sidecar on PostgreSQL 18 or newer (its image in cronjob-restore-drill.yaml), or drill a backup made by an older pg_dumpall with --key",
      );
      const seen = run.lines.map((l) => String(l.msg));
      assert.ok(!seen.includes("reading backup"), seen.join(" | "));
      assert.equal(await scratch.psql("SELECT count(*) FROM pg_database"), "3");
    },
  );

  await t.step(
    "--verify-only refuses a PostgreSQL 15 server the same way, before reading the backup",
    async () => {
      await using scratch = await startPostgres({ version: 15, name: "verify-15" });
      const run = await runEntrypoint(
        "restore_drill.ts",
        { ...stack.drillEnv, ...scratchEnv(scratch) },
        ["--verify-only"],
      );
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        /^refusing to restore into PostgreSQL 15\.\d+ at 127\.0\.0\.1:\d+: the backup was written by pg_dumpall 18\.\d+/,
      );
      assert.equal(
        run.lastLine.hint,
        "compare a PostgreSQL 18 or newer server, or a backup made by an older pg_dumpall (--key)",
      );
      const seen = run.lines.map((l) => String(l.msg));
      assert.ok(!seen.includes("reading backup"), seen.join(" | "));
    },
  );

  await t.step("a missing expected database fails as smoke FAILED naming it, exit 1", async () => {
    await using scratch = await freshScratch("db");
    const run = await runEntrypoint("restore_drill.ts", {
      ...stack.drillEnv,
      ...scratchEnv(scratch),
      EXPECTED_DATABASES: "app,billing,analytics",
    });
    assert.equal(run.code, 1);
    assert.equal(run.lastLine.msg, "smoke FAILED: missing databases: billing");
    assert.equal(
      run.lastLine.hint,
      "compare EXPECTED_DATABASES (ConfigMap postgres-restore-drill-config) with the databases on the source server; a missing one was not in the backup",
    );
  });

  await t.step(
    "a restore SQL error fails as restore FAILED with psql's error, exit 1",
    async () => {
      await using scratch = await freshScratch("sql");
      await scratch.psql("CREATE ROLE app_user");
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        ...scratchEnv(scratch),
      });
      assert.equal(run.code, 1);
      assert.match(
        String(run.lastLine.msg),
        /^restore FAILED: psql stopped at the first error: psql:<stdin>:\d+: ERROR: {2}role "app_user" already exists$/,
      );
      assert.equal(
        run.lastLine.hint,
        "the scratch server must run the same PostgreSQL major and extensions as production; read the error above, fix the scratch image or the source, then drill again",
      );
      assert.ok(run.lines.some((l) => l.msg === "sha256 OK"));
    },
  );

  await t.step(
    "backup stale: the newest backup older than MAX_BACKUP_AGE_HOURS fails with its age",
    async () => {
      await new Promise((r) => setTimeout(r, 1500));
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        MAX_BACKUP_AGE_HOURS: "0.0002",
      });
      assert.equal(run.code, 1);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^backup stale: newest backup ${data} is \\d+\\.\\d h old \\(max 0\\.0002 h\\)$`,
        ),
      );
      assert.equal(
        run.lastLine.hint,
        "check the postgres-backup CronJob: kubectl -n apps get jobs, then the logs of its last Job",
      );
    },
  );

  await t.step("--key drills the backup it names, whatever its age", async () => {
    await using scratch = await freshScratch("key");
    const run = await runEntrypoint(
      "restore_drill.ts",
      { ...stack.drillEnv, ...scratchEnv(scratch), MAX_BACKUP_AGE_HOURS: "0.0002" },
      ["--key", data],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
  });

  await t.step(
    "a backup without manifest.json still drills, with the basic smoke checks only",
    async () => {
      await using scratch = await freshScratch("nomanifest");
      const manifest = await getObject(stack, `${dir}/manifest.json`);
      const rm = await stack.s3.aws(["s3", "rm", `s3://${stack.bucket}/${dir}/manifest.json`]);
      assert.equal(rm.code, 0, rm.stderr);
      try {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          ...scratchEnv(scratch),
        });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
        assert.ok(
          run.lines.some((l) =>
            l.msg === "backup has no manifest.json; only the basic smoke checks ran"
          ),
        );
        const report = run.lines.find((l) => l.msg === "drill report")?.report as DrillReport;
        assert.equal(report.deep_check, false);
        // Values are still compared, from the restored stream itself; without the recorded
        // settings, tables with timestamptz or bytea are compared by count only, and say why.
        assert.deepEqual(
          report.values.compared_by_count_only.map((c) => `${c.database}: ${c.table}: ${c.reason}`),
          [
            "app: public.notes: column raw holds bytea: the manifest does not record the source's bytea_output",
            "app: public.orders: column placed_at holds timestamptz: the manifest does not record the source's TimeZone",
          ],
        );
      } finally {
        await upload(stack, `${dir}/manifest.json`, manifest);
      }
    },
  );

  await t.step(
    "a drill while a same-day backup commits does not report a false sha256 mismatch",
    async () => {
      await using scratch = await freshScratch("race");
      const sha = new TextDecoder().decode(originalSha).slice(0, 64);
      // The backup has just copied the data object (which carries its own sha256) and is about to
      // copy the .sha256: the drill reads the old .sha256 first.
      const dirTmp = await Deno.makeTempDir();
      try {
        await Deno.writeFile(`${dirTmp}/data`, original);
        const put = await stack.s3.aws([
          "s3",
          "cp",
          `${dirTmp}/data`,
          `s3://${stack.bucket}/${data}`,
          "--metadata",
          `sha256=${sha}`,
        ]);
        assert.equal(put.code, 0, put.stderr);
      } finally {
        await Deno.remove(dirTmp, { recursive: true });
      }
      await upload(stack, `${dir}/full.sql.zst.sha256`, `${"e".repeat(64)}  full.sql.zst\n`);
      const run = spawnEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        ...scratchEnv(scratch),
      });
      await run.waitForLine((l) => l.msg === "reading backup");
      await upload(stack, `${dir}/full.sql.zst.sha256`, originalSha);
      const result = await run.result;
      try {
        assert.equal(result.code, 0, result.stderr);
        assert.ok(
          result.lines.some((l) =>
            l.msg === "the .sha256 changed while the drill read the backup; its new value matches"
          ),
        );
        assert.deepEqual(markers(result), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
      } finally {
        await restoreOriginal();
      }
    },
  );

  await t.step(
    "an unreachable scratch server fails after SCRATCH_WAIT_SECONDS, exit 1",
    async () => {
      const port = freePort();
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        SCRATCH_PGPORT: String(port),
        SCRATCH_WAIT_SECONDS: "1",
      });
      assert.equal(run.code, 1);
      assert.equal(
        run.lastLine.msg,
        `scratch PostgreSQL 127.0.0.1:${port} did not accept connections within 1 s: connect ECONNREFUSED 127.0.0.1:${port}`,
      );
      assert.equal(
        run.lastLine.hint,
        "check the scratch-postgres sidecar (kubectl -n apps logs <pod> -c scratch-postgres) and SCRATCH_PGHOST/SCRATCH_PGPORT/SCRATCH_PGPASSWORD",
      );
    },
  );

  await t.step(
    "a scratch host that is not loopback is refused before any connection, exit 1",
    async () => {
      const run = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        SCRATCH_PGHOST: "prod-db.example.invalid",
      });
      assert.equal(run.code, 1);
      assert.equal(
        run.lastLine.msg,
        `refusing to restore into scratch host "prod-db.example.invalid": it is not a loopback address`,
      );
      assert.equal(
        run.lastLine.hint,
        "a drill restores only into the scratch sidecar on localhost; set SCRATCH_PGHOST=127.0.0.1, or pass --allow-remote-scratch only for a real recovery into a server you mean to fill",
      );
      // Refused before anything else: no preflight, no S3, no wait.
      assert.deepEqual(run.lines.map((l) => l.step), ["start", "failed"]);
    },
  );

  await t.step("backup stale: no backup at all under the prefix, exit 1", async () => {
    await emptyBucket(stack);
    const run = await runEntrypoint("restore_drill.ts", stack.drillEnv);
    assert.equal(run.code, 1);
    assert.match(
      String(run.lastLine.msg),
      /^backup stale: no backup under s3:\/\/homelab-backup-postgres\/postgresql-18\//,
    );
    assert.equal(
      run.lastLine.hint,
      "run the backup once: kubectl -n apps create job --from=cronjob/postgres-backup backup-manual-1, then check S3_BUCKET and S3_PREFIX",
    );
  });

  await t.step("no secret appears in the drill's output", async () => {
    const run = await runEntrypoint("restore_drill.ts", stack.drillEnv);
    assert.ok(!run.output.includes(stack.scratch.password));
    assert.ok(!run.output.includes(stack.s3.secretKey));
    assert.ok(run.output.includes("<redacted>"));
  });
});

/** User columns carrying PostgreSQL 15.20's internal option (0 before 15.20). */
const STAMPED_COLUMNS = `SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
    AND array_to_string(a.attoptions, ',') LIKE '%pg_attver=%'`;

Deno.test("restore drill of an older source: PostgreSQL 15 restored into the PostgreSQL 18 scratch", async (t) => {
  await using stack = await startStack({ sample: "rich", source: 15 });
  const source = await rowCounts(stack.source);

  /** Back up the 15 source with pg_dumpall `client`, drill it with psql 18, compare every count. */
  const backupAndDrill = async (client: 15 | 18) => {
    await emptyBucket(stack);
    const backup = await runEntrypoint("backup.ts", {
      ...stack.backupEnv,
      PATH: clientPath(client),
    });
    assert.equal(backup.code, 0, backup.stderr);
    const preflight = backup.lines.find((l) => l.msg === "preflight OK");
    assert.match(String(preflight?.server_version), /^15\.\d+$/);
    assert.match(String(preflight?.pg_dumpall_version), new RegExp(`^${client}\\.\\d+$`));
    // PostgreSQL 15.20 stamps an internal pg_attver option on every column; pg_dumpall 18 writes
    // it back and the PG 18 scratch would reject it. Whichever 15 minor Debian installed, the
    // stored script holds none, and the backup says when it dropped some.
    const stamped = Number(await stack.source.psql(STAMPED_COLUMNS, "app"));
    const dropped = backup.lines.find((l) =>
      l.msg === "dropped internal column options from the dump"
    );
    if (client === 18 && stamped > 0) assert.ok(Number(dropped?.dropped) >= stamped, `${stamped}`);
    else assert.equal(dropped, undefined);
    const dir = await Deno.makeTempDir();
    try {
      const file = await download(stack, `${stack.prefix}/${dayFolder()}/full.sql.zst`, dir);
      const script = await sh(`zstd -dc ${file}`);
      assert.equal(script.code, 0, script.stderr);
      assert.ok(!script.stdout.includes("pg_attver="));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }

    await using scratch = await freshScratch(`older-${client}`);
    const run = await runEntrypoint("restore_drill.ts", {
      ...stack.drillEnv,
      ...scratchEnv(scratch),
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
    assert.ok(
      run.lines.some((l) => l.msg === "deep check OK: every table has the rows the backup holds"),
    );
    assert.match(
      String(run.lines.find((l) => l.msg === "preflight OK")?.psql_version),
      /^18\.\d+$/,
    );
    const report = run.lines.find((l) => l.msg === "drill report")?.report as DrillReport;
    assert.equal(report.deep_check, true);
    assert.equal(report.restored.rows, 6656);
    assert.match(report.scratch.server_version, /^18\./);
    assert.deepEqual(report.values.compared_by_count_only, []);
    assert.equal(report.values.rows_by_value, 6656);
    // Every table's count and the large objects, read back with count(*) from the scratch.
    const restored = await rowCounts(scratch);
    for (const db of [...stack.databases, "postgres"]) {
      assert.deepEqual(restored[db], source[db], db);
    }
    assert.equal(
      await scratch.psql("SELECT note FROM backup_marker WHERE id = 1", "app"),
      MARKER_NOTE,
    );
  };

  await t.step(
    "a PG 15 source dumped by pg_dumpall 18 (the toolbox image) drills OK: every row back in the PG 18 scratch",
    () => backupAndDrill(18),
  );
  await t.step(
    "a backup made by older tooling (pg_dumpall 15) drills OK: every row back in the PG 18 scratch",
    () => backupAndDrill(15),
  );
});
