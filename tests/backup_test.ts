/**
 * The daily backup against real servers, on production's pair: a PostgreSQL 18 source dumped by
 * pg_dumpall 18, the dump restored by psql 18; Ceph RGW, the AWS CLI as an independent client.
 * pg_dumpall 15 appears once, refused by an 18 server. Each step is named after what the operator
 * sees; RUNBOOK.md uses the same words.
 */
import assert from "node:assert/strict";
import {
  alive,
  bucketContents,
  childCommandLines,
  dayFolder,
  download,
  emptyBucket,
  holdLock,
  sh,
  tagsOf,
  upload,
} from "./harness/fixtures.ts";
import { startPostgres } from "./harness/postgres.ts";
import { freePort } from "./harness/ports.ts";
import { clientPath, runEntrypoint, spawnEntrypoint } from "./harness/run.ts";
import { rowCounts } from "./harness/sample_data.ts";
import { startStack } from "./harness/stack.ts";
import { requireTool } from "./harness/tools.ts";

/** `"MixedCase"."OrderItems"` → `MixedCase.OrderItems`, as the harness names tables. */
function plainName(name: string): string {
  return name.replace(/"((?:[^"]|"")*)"/g, (_m, inner: string) => inner.replaceAll('""', '"'));
}

Deno.test("backup", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  const env = { ...stack.backupEnv, LOG_PROGRESS_SECONDS: "1" };
  const prefix = `${stack.prefix}/${dayFolder()}`;

  await t.step("backup OK writes full.sql.zst and .sha256 that sha256sum -c accepts", async () => {
    await emptyBucket(stack);
    const run = await runEntrypoint("backup.ts", env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lastLine.msg, "backup OK");
    assert.equal(run.lastLine.key, `${prefix}/full.sql.zst`);
    const keys = await stack.listKeys();
    const byKey = new Map(keys.map((k) => [k.key, k.size]));
    assert.deepEqual([...byKey.keys()].sort(), [
      `${prefix}/full.sql.zst`,
      `${prefix}/full.sql.zst.sha256`,
      `${prefix}/manifest.json`,
    ]);
    for (const size of byKey.values()) assert.ok(size > 0);
    assert.equal(run.lastLine.bytes, byKey.get(`${prefix}/full.sql.zst`));
    assert.deepEqual((await bucketContents(stack)).uploads, []);
    // The first backup in an empty bucket is its month's first: monthly, on every object.
    assert.equal(run.lastLine.retention_class, "monthly");
    assert.equal(run.lastLine.databases_skipped, 0);
    for (const key of byKey.keys()) {
      assert.deepEqual(await tagsOf(stack, key), { "retention-class": "monthly" }, key);
    }
    // Production's pair: an 18 server dumped by pg_dumpall 18.
    const preflight = run.lines.find((l) => l.msg === "preflight OK");
    assert.match(String(preflight?.server_version), /^18\.\d+$/);
    assert.match(String(preflight?.pg_dumpall_version), /^18\.\d+$/);

    const dir = await Deno.makeTempDir();
    try {
      await download(stack, `${prefix}/full.sql.zst`, dir);
      await download(stack, `${prefix}/full.sql.zst.sha256`, dir);
      const check = await sh("sha256sum -c full.sql.zst.sha256", {}, dir);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(check.stdout.trim(), "full.sql.zst: OK");
      assert.match(
        await Deno.readTextFile(`${dir}/full.sql.zst.sha256`),
        /^[0-9a-f]{64} {2}full\.sql\.zst\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step(
    "the dump (\\restrict lines, no statistics) restores with psql 18 -v ON_ERROR_STOP=1 into a fresh PG 18 cluster and the data matches",
    async () => {
      const dir = await Deno.makeTempDir();
      await using fresh = await startPostgres({
        version: 18,
        superuser: "restorer",
        name: "fresh",
      });
      try {
        await download(stack, `${prefix}/full.sql.zst`, dir);
        const restore = await sh(
          `zstd -dc ${dir}/full.sql.zst | ${
            requireTool("psql-18")
          } -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null`,
          { ...fresh.env, PATH: "/usr/bin:/bin" },
        );
        assert.equal(restore.code, 0, restore.stderr);
        // pg_dumpall 18's shape: \restrict/\unrestrict around every section (one per database
        // plus the globals), no statistics unless --statistics is passed.
        const text = (await sh(`zstd -dc ${dir}/full.sql.zst`)).stdout;
        const restricts = text.match(/^\\restrict \S+$/gm) ?? [];
        assert.equal(restricts.length, (text.match(/^\\unrestrict \S+$/gm) ?? []).length);
        assert.ok(
          restricts.length > stack.databases.length,
          `${restricts.length} \\restrict lines`,
        );
        assert.ok(!/pg_restore_(relation|attribute)_stats/.test(text), "statistics in the dump");
        const source = await rowCounts(stack.source);
        const restored = await rowCounts(fresh);
        for (const db of stack.databases) assert.deepEqual(restored[db], source[db], db);
        assert.equal(
          await fresh.psql("SELECT note FROM backup_marker WHERE id = 1", "app"),
          "written before the backup",
        );
        assert.equal(
          await fresh.psql(
            "SELECT encode(raw, 'hex') || '|' || body FROM notes WHERE id = 1",
            "app",
          ),
          await stack.source.psql(
            "SELECT encode(raw, 'hex') || '|' || body FROM notes WHERE id = 1",
            "app",
          ),
        );
        assert.equal(await fresh.psql("SELECT count(*) FROM pg_largeobject_metadata", "app"), "1");
        assert.equal(
          await fresh.psql(
            "SELECT rolname FROM pg_roles WHERE rolname = 'app_user' AND rolcanlogin",
          ),
          "app_user",
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  await t.step(
    "manifest.json row counts, counted from the dump stream, equal count(*) on the source",
    async () => {
      const text =
        (await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${prefix}/manifest.json`, "-"]))
          .stdout;
      const manifest = JSON.parse(text) as {
        retention_class: string;
        skipped_databases: unknown[];
        sha256: string;
        compressed_bytes: number;
        server_version: string;
        pg_dumpall_version: string;
        tool: { version: string };
        databases: Record<string, { tables: Record<string, number>; largeObjects: number }>;
      };
      const source = await rowCounts(stack.source);
      for (const db of [...stack.databases, "postgres"]) {
        const fromDump = manifest.databases[db];
        assert.ok(fromDump, `manifest has ${db}`);
        const plain = Object.fromEntries(
          Object.entries(fromDump.tables).map(([k, v]) => [plainName(k), v]),
        );
        const { pg_largeobject: lo, ...tables } = source[db]!;
        assert.deepEqual(plain, tables, db);
        assert.equal(fromDump.largeObjects, lo, `${db} large objects`);
      }
      assert.match(manifest.server_version, /^18\.\d+$/);
      assert.match(manifest.pg_dumpall_version, /^18\.\d+$/);
      assert.equal(manifest.tool.version, "0.1.0");
      assert.equal(manifest.retention_class, "monthly");
      assert.deepEqual(manifest.skipped_databases, []);
      const sha = (await stack.s3.aws([
        "s3",
        "cp",
        `s3://${stack.bucket}/${prefix}/full.sql.zst.sha256`,
        "-",
      ])).stdout;
      assert.equal(sha.slice(0, 64), manifest.sha256);
    },
  );

  await t.step(
    "pg_dumpall failing mid-stream (server stopped) exits 1 and leaves the bucket empty",
    async () => {
      await emptyBucket(stack);
      await using source = await startPostgres({ version: 18, name: "doomed" });
      await source.psql(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1000) g",
      );
      const run = spawnEntrypoint("backup.ts", { ...env, ...source.env, PGHOST: "127.0.0.1" });
      {
        await using _lock = await holdLock(source, "postgres", "big");
        await run.waitForLine((l) => l.msg === "stream started");
        await new Promise((r) => setTimeout(r, 500));
        await source.stop();
      }
      const result = await run.result;
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.lastLine.level, "error");
      assert.match(String(result.lastLine.msg), /^pg_dumpall exited with code 1: /);
      assert.match(String(result.lastLine.hint), /check the source server's log/);
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step(
    "a wrong PGPASSWORD exits 1, says why, leaves the bucket empty, never prints the password",
    async () => {
      await emptyBucket(stack);
      const run = await runEntrypoint("backup.ts", { ...env, PGPASSWORD: "canary-7f3e-wrong" });
      assert.equal(run.code, 1);
      assert.equal(
        run.lastLine.msg,
        `cannot connect to source PostgreSQL 127.0.0.1:${stack.source.port} as postgres: password authentication failed for user "postgres"`,
      );
      assert.equal(
        run.lastLine.hint,
        "check PGHOST, PGPORT, PGUSER and PGPASSWORD (secret postgresql-auth, key admin-password)",
      );
      assert.ok(!run.output.includes("canary-7f3e-wrong"));
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step(
    "a server newer than pg_dumpall (PG 18 against pg_dumpall 15) is refused by preflight with both versions, nothing uploaded",
    async () => {
      await emptyBucket(stack);
      const dumpall15 = await sh(`${requireTool("pg_dumpall-15")} --version`);
      const client = /\(PostgreSQL\) (15\.\d+)/.exec(dumpall15.stdout)?.[1];
      const num = Number(await stack.source.psql("SHOW server_version_num"));
      const server = `${Math.floor(num / 10000)}.${num % 10000}`;
      const run = await runEntrypoint("backup.ts", { ...env, PATH: clientPath(15) });
      assert.equal(run.code, 1);
      assert.equal(run.lastLine.step, "failed");
      assert.equal(
        run.lastLine.msg,
        `pg_dumpall ${client} cannot dump server ${server}: the client is older than the server`,
      );
      assert.equal(
        run.lastLine.hint,
        "dumping PostgreSQL 18 needs pg_dumpall 18 or newer; run the backup-toolbox image, which ships the PostgreSQL 18 client, zstd, age and mc",
      );
      assert.ok(!run.lines.some((l) => l.msg === "stream started"));
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step(
    "S3 problems each exit 1 with their own message: unreachable (after its retries), wrong credentials and missing bucket (at once)",
    async () => {
      await emptyBucket(stack);
      const port = freePort();
      const cases: [Record<string, string>, RegExp, RegExp][] = [
        [
          { S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_RETRIES: "1" },
          new RegExp(
            `^check bucket s3://homelab-backup-postgres/ failed after 2 attempts over \\d+\\.\\d s: cannot reach http://127.0.0.1:${port}: connection refused \\(ECONNREFUSED\\)$`,
          ),
          /^check S3_ENDPOINT, that the S3 server is up/,
        ],
        [
          { AWS_SECRET_ACCESS_KEY: "canary-secret-9d1c" },
          /failed: the secret key is wrong \(SignatureDoesNotMatch\)$/,
          /^check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
        ],
        [
          { AWS_ACCESS_KEY_ID: "NOSUCHKEY0000000" },
          /failed: the access key is not known to the server \(InvalidAccessKeyId\)$/,
          /^check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
        ],
        [
          { S3_BUCKET: "no-such-bucket" },
          /^check bucket s3:\/\/no-such-bucket\/ failed: bucket no-such-bucket does not exist \(NoSuchBucket\)$/,
          /^create it \(mc mb backup\/no-such-bucket\) or fix S3_BUCKET$/,
        ],
      ];
      for (const [override, msg, hint] of cases) {
        const run = await runEntrypoint("backup.ts", { ...env, ...override });
        assert.equal(run.code, 1, JSON.stringify(override));
        assert.match(String(run.lastLine.msg), msg);
        assert.match(String(run.lastLine.hint), hint);
        const retries = run.lines.filter((l) => l.msg === "S3 request failed; retrying").length;
        assert.equal(
          retries,
          override.S3_RETRIES ? 1 : 0,
          "a wrong key or bucket is never retried",
        );
        assert.ok(!run.output.includes("canary-secret-9d1c"));
      }
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step(
    "SIGTERM during the stream exits 143, its children are gone, the bucket is empty, no secret in any argv",
    async () => {
      await emptyBucket(stack);
      const run = spawnEntrypoint("backup.ts", env);
      let children: { pid: number; cmdline: string }[];
      {
        await using _lock = await holdLock(stack.source, "app", "public.orders");
        await run.waitForLine((l) => l.msg === "stream started");
        // A progress line every LOG_PROGRESS_SECONDS, even while the dump waits.
        const progress = await run.waitForLine((l) => l.msg === "progress", 5000);
        for (
          const f of ["dump_bytes", "compressed_bytes", "uploaded_bytes", "rows", "dump_mib_per_s"]
        ) {
          assert.equal(typeof progress[f], "number", f);
        }
        children = childCommandLines(run.pid);
        assert.ok(children.some((c) => /(^|\/)pg_dump /.test(c.cmdline)), JSON.stringify(children));
        assert.ok(children.some((c) => c.cmdline.startsWith("zstd ")), JSON.stringify(children));
        for (const c of [{ pid: run.pid, cmdline: "" }, ...children]) {
          const cmdline = c.cmdline || Deno.readTextFileSync(`/proc/${c.pid}/cmdline`);
          assert.ok(!cmdline.includes(stack.source.password), `PGPASSWORD in argv of ${cmdline}`);
          assert.ok(!cmdline.includes(stack.s3.secretKey), `AWS secret in argv of ${cmdline}`);
        }
        // Secrets reach pg_dumpall through its environment only.
        const dumpall = children.find((c) => c.cmdline.startsWith("pg_dumpall"))!;
        assert.match(Deno.readTextFileSync(`/proc/${dumpall.pid}/environ`), /PGPASSWORD=/);
        run.kill("SIGTERM");
        const result = await run.result;
        assert.equal(result.code, 143, result.stderr);
        assert.equal(result.lastLine.msg, "stopped by SIGTERM");
        assert.ok(!result.output.includes(stack.source.password));
        assert.ok(!result.output.includes(stack.s3.secretKey));
      }
      for (const c of children) assert.ok(!alive(c.pid), `child ${c.cmdline} still running`);
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step(
    "a database that does not allow connections is logged as not in the backup and listed in manifest.json",
    async () => {
      await emptyBucket(stack);
      await stack.source.psql(`CREATE DATABASE "Archive 2019"`);
      await stack.source.psql(`ALTER DATABASE "Archive 2019" ALLOW_CONNECTIONS false`);
      try {
        const run = await runEntrypoint("backup.ts", env);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "backup OK");
        assert.equal(run.lastLine.databases_skipped, 1);
        const skipped = run.lines.filter((l) => l.msg === "database not in the backup");
        assert.deepEqual(skipped.map(({ ts: _ts, ...rest }) => rest), [{
          level: "warn",
          program: "backup",
          step: "preflight",
          msg: "database not in the backup",
          database: "Archive 2019",
          why: "it does not allow connections (datallowconn is false), so pg_dumpall skips it",
          hint:
            'if it must be kept, run ALTER DATABASE "Archive 2019" ALLOW_CONNECTIONS true on the source before the next backup; if it is not needed, drop it',
        }]);
        // Said before the dump starts.
        const at = (msg: string) => run.lines.findIndex((l) => l.msg === msg);
        assert.ok(at("database not in the backup") < at("stream started"));
        const manifest = JSON.parse(
          (await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${prefix}/manifest.json`, "-"]))
            .stdout,
        );
        assert.deepEqual(manifest.skipped_databases, [
          { name: "Archive 2019", reason: "does not allow connections" },
        ]);
        assert.ok(!("Archive 2019" in manifest.databases));
      } finally {
        await stack.source.psql(`DROP DATABASE "Archive 2019"`);
      }
    },
  );

  await t.step("missing settings are all listed in one line, exit 2", async () => {
    const run = await runEntrypoint("backup.ts", {});
    assert.equal(run.code, 2);
    assert.equal(
      run.lastLine.msg,
      "missing settings: PGHOST, S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
    );
    assert.equal(run.lastLine.hint, "set them in the environment or as flags; see --help");
  });

  await t.step(
    "--help lists every setting and the exit codes; --version prints the version",
    async () => {
      const help = await runEntrypoint("backup.ts", {}, ["--help"]);
      assert.equal(help.code, 0);
      for (
        const name of [
          "PGHOST",
          "S3_ENDPOINT",
          "AWS_SECRET_ACCESS_KEY",
          "ZSTD_LEVEL",
          "RETENTION_DAYS",
          "KEEP_WEEKLY",
          "KEEP_MONTHLY",
          "EXIT STATUS",
        ]
      ) {
        assert.ok(help.stdout.includes(name), name);
      }
      const version = await runEntrypoint("backup.ts", {}, ["--version"]);
      assert.equal(version.stdout.trim(), "backup (backup-toolbox) 0.1.0");
    },
  );

  await t.step(
    "leftovers of a killed run (staged objects, incomplete uploads) are removed by the next run",
    async () => {
      await emptyBucket(stack);
      const stale = `${stack.prefix}/.tmp/20260101T000000Z-deadbeef/full.sql.zst`;
      await upload(stack, `${stale}.seg-0001`, "partial");
      const created = await stack.s3.aws([
        "s3api",
        "create-multipart-upload",
        "--bucket",
        stack.bucket,
        "--key",
        `${stale}.seg-0002`,
      ]);
      assert.equal(created.code, 0, created.stderr);
      const run = await runEntrypoint("backup.ts", { ...env, STALE_UPLOAD_HOURS: "0" });
      assert.equal(run.code, 0, run.stderr);
      const cleanup = run.lines.find((l) => l.msg === "removed leftovers of earlier runs");
      assert.deepEqual(cleanup?.objects, [`${stale}.seg-0001`]);
      assert.deepEqual(cleanup?.uploads, [`${stale}.seg-0002`]);
      const { keys, uploads } = await bucketContents(stack);
      assert.deepEqual(uploads, []);
      assert.ok(keys.every((k) => !k.includes("/.tmp/")), keys.join());
    },
  );

  await t.step(
    "a dump larger than one segment is staged in parts and joined by server-side copy",
    async () => {
      await emptyBucket(stack);
      await using source = await startPostgres({ version: 18, name: "segments" });
      await source.psql(`CREATE TABLE noise AS SELECT g AS id,
      md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text) AS v
      FROM generate_series(1, 150000) g`);
      const run = await runEntrypoint("backup.ts", {
        ...env,
        ...source.env,
        PGHOST: "127.0.0.1",
        ZSTD_LEVEL: "1",
        S3_PART_SIZE_MIB: "5",
        S3_SEGMENT_SIZE_MIB: "5",
      });
      assert.equal(run.code, 0, run.stderr);
      const streamed = run.lines.find((l) => l.msg === "stream OK")!;
      assert.ok(Number(streamed.segments) >= 2, `segments: ${streamed.segments}`);
      const dir = await Deno.makeTempDir();
      try {
        await download(stack, `${prefix}/full.sql.zst`, dir);
        await download(stack, `${prefix}/full.sql.zst.sha256`, dir);
        const check = await sh(
          "sha256sum -c full.sql.zst.sha256 && zstd -dc full.sql.zst | grep -c '^[0-9]*\t[0-9a-f]\\{128\\}$'",
          {},
          dir,
        );
        assert.equal(check.code, 0, check.stderr);
        assert.match(check.stdout, /full\.sql\.zst: OK\n150000\n/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const head = await stack.s3.aws([
        "s3api",
        "head-object",
        "--bucket",
        stack.bucket,
        "--key",
        `${prefix}/full.sql.zst`,
      ]);
      assert.equal(JSON.parse(head.stdout).Metadata.sha256, run.lastLine.sha256);
      assert.deepEqual((await bucketContents(stack)).uploads, []);
    },
  );

  await t.step(
    "the lifecycle rules are reported missing, set with --apply-lifecycle (one per retention class), then reported OK",
    async () => {
      await emptyBucket(stack);
      const first = await runEntrypoint("backup.ts", env);
      assert.equal(first.code, 0, first.stderr);
      const warning = first.lines.find((l) => l.step === "lifecycle")!;
      assert.equal(warning.level, "warn");
      assert.equal(warning.msg, "no lifecycle rule expires postgresql-18/ after 14 days");
      const applied = await runEntrypoint("backup.ts", env, ["--apply-lifecycle"]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.ok(applied.lines.some((l) => l.msg === "lifecycle rule set"));
      const rules = await stack.s3.aws([
        "s3api",
        "get-bucket-lifecycle-configuration",
        "--bucket",
        stack.bucket,
      ]);
      assert.equal(rules.code, 0, rules.stderr);
      // One rule per retention class (14 days each with the defaults), filtered by the prefix
      // and the class tag, and one that aborts incomplete uploads under the prefix. RGW 16.2
      // answers a prefix-and-tag filter without its And.
      type Rule = {
        ID: string;
        Filter: { Prefix?: string; Tag?: { Key: string; Value: string } };
        Expiration?: { Days: number };
        AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
      };
      const byId = new Map(
        (JSON.parse(rules.stdout).Rules as Rule[]).map((r) => [r.ID, r]),
      );
      assert.deepEqual([...byId.keys()].sort(), [
        "backup-toolbox-postgresql-18-daily",
        "backup-toolbox-postgresql-18-monthly",
        "backup-toolbox-postgresql-18-staging",
        "backup-toolbox-postgresql-18-weekly",
      ]);
      for (const c of ["daily", "weekly", "monthly"]) {
        const rule = byId.get(`backup-toolbox-postgresql-18-${c}`)!;
        assert.equal(rule.Expiration?.Days, 14, c);
        assert.equal(rule.Filter.Prefix, "postgresql-18/", c);
        assert.deepEqual(rule.Filter.Tag, { Key: "retention-class", Value: c });
      }
      const staging = byId.get("backup-toolbox-postgresql-18-staging")!;
      assert.equal(staging.Filter.Prefix, "postgresql-18/");
      assert.equal(staging.AbortIncompleteMultipartUpload?.DaysAfterInitiation, 1);
      const again = await runEntrypoint("backup.ts", env);
      assert.ok(again.lines.some((l) => l.msg === "lifecycle rule OK"));
      // A plain 14-day rule would expire the monthlies: once they are kept longer, the check says
      // which rule expires which class too early. Then the rules are removed, as they were.
      const longer = await runEntrypoint("backup.ts", { ...env, KEEP_MONTHLY: "3" });
      assert.equal(longer.code, 0, longer.stderr);
      const conflict = longer.lines.find((l) => l.step === "lifecycle")!;
      assert.deepEqual([conflict.level, conflict.msg], [
        "warn",
        "lifecycle rule backup-toolbox-postgresql-18-monthly expires postgresql-18/ after 14 days: too early for the monthly (93 days) backups",
      ]);
      const removed = await stack.s3.aws([
        "s3api",
        "delete-bucket-lifecycle",
        "--bucket",
        stack.bucket,
      ]);
      assert.equal(removed.code, 0, removed.stderr);
    },
  );

  await t.step(
    "prune deletes backups older than RETENTION_DAYS but never the newest, nor the newest drilled OK",
    async () => {
      await emptyBucket(stack);
      const day = (n: number) =>
        new Date(Date.now() - n * 86400_000).toISOString().slice(0, 10).replaceAll("-", "/");
      // A drill report counts only when it says OK: day 40 passed its drill, day 30 failed it.
      const bodies: Record<string, string> = {
        "drill-report.json": '{"result":"OK"}\n',
        "failed/drill-report.json": '{"result":"FAILED"}\n',
      };
      const put = async (n: number, files: string[]) => {
        for (const f of files) {
          const key = `${stack.prefix}/${day(n)}/${f.replace(/^failed\//, "")}`;
          await upload(stack, key, bodies[f] ?? "x");
        }
      };
      await put(40, ["full.sql.zst", "full.sql.zst.sha256", "drill-report.json"]);
      await put(30, ["full.sql.zst", "full.sql.zst.sha256", "failed/drill-report.json"]);
      await put(20, ["full.sql.zst"]);
      await put(3, ["full.sql.zst", "full.sql.zst.sha256"]);
      const dry = await runEntrypoint("backup.ts", env, ["--prune-only", "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(dry.lines.filter((l) => l.msg === "would delete backup").map((l) => l.day), [
        day(30).replaceAll("/", "-"),
        day(20).replaceAll("/", "-"),
      ]);
      assert.equal((await stack.listKeys()).length, 9);
      const real = await runEntrypoint("backup.ts", env, ["--prune-only"]);
      assert.equal(real.code, 0, real.stderr);
      assert.equal(real.lastLine.msg, "prune OK");
      const left = (await stack.listKeys()).map((k) =>
        k.key.slice(stack.prefix.length + 1, stack.prefix.length + 11)
      );
      assert.deepEqual([...new Set(left)], [day(40), day(3)]);
      // With every backup old, the newest one stays.
      await emptyBucket(stack);
      await put(30, ["full.sql.zst", "full.sql.zst.sha256"]);
      await put(20, ["full.sql.zst", "full.sql.zst.sha256"]);
      const allOld = await runEntrypoint("backup.ts", { ...env, RETENTION_DAYS: "14" }, [
        "--prune-only",
      ]);
      assert.equal(allOld.code, 0, allOld.stderr);
      assert.deepEqual(allOld.lines.filter((l) => l.msg === "deleted backup").map((l) => l.day), [
        day(30).replaceAll("/", "-"),
      ]);
      await emptyBucket(stack);
    },
  );
});
