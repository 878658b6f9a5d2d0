/**
 * Seekable backups, against real servers: a PostgreSQL 18 cluster with a large database beside
 * small ones, backed up by pg_dumpall 18 to Ceph RGW; the stored object checked with the AWS CLI,
 * zstd and sha256 (never the program's own code); recoveries that read only the sections they
 * need, counted at a loopback relay; a damaged section; a manifest without an index; two
 * databases at once; and the drill finding a wrong index. Each step is named after what the
 * operator sees; RUNBOOK.md uses the same words.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ManifestSection } from "../lib/bucket/manifest.ts";
import type { RecoveryReport } from "../lib/recover/report.ts";
import { startFaultRelay } from "./harness/fault_relay.ts";
import { dayFolder, download, sh, snapshot, upload } from "./harness/fixtures.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import { runEntrypoint, type RunResult } from "./harness/run.ts";
import { rowCounts } from "./harness/sample_data.ts";
import { type Stack, startStack } from "./harness/stack.ts";
import { requireTool } from "./harness/tools.ts";

/** The recovery's settings for a target server. */
function recoverInto(stack: Stack, target: PgServer, extra: Record<string, string>) {
  return {
    ...stack.drillEnv,
    SCRATCH_PGPORT: String(target.port),
    SCRATCH_PGUSER: target.user,
    SCRATCH_PGPASSWORD: target.password,
    RECOVER: "true",
    ...extra,
  };
}

function reportOf(run: RunResult): RecoveryReport {
  return run.lines.find((l) => l.msg === "recovery report")?.report as RecoveryReport;
}

function msgs(run: RunResult): string[] {
  return run.lines.map((l) => String(l.msg));
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

Deno.test("seekable backups", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  // A large database beside the sample's: what sections are for is the small ones.
  await stack.source.psql("CREATE DATABASE big; CREATE DATABASE tiny");
  await stack.source.psql(
    `CREATE TABLE filler AS SELECT i, md5(i::text) || md5((i * 7)::text) AS pad
       FROM generate_series(1, 200000) AS i`,
    "big",
  );
  await stack.source.psql(
    "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 10) AS i",
    "tiny",
  );
  const backup = await runEntrypoint("backup.ts", stack.backupEnv);
  assert.equal(backup.code, 0, backup.stderr);
  const dir = `${stack.prefix}/${dayFolder()}`;
  const key = `${dir}/full.sql.zst`;
  const local = await Deno.makeTempDir();
  await download(stack, key, local);
  await download(stack, `${key}.sha256`, local);
  await download(stack, `${dir}/manifest.json`, local);
  const objectBytes = await Deno.readFile(`${local}/full.sql.zst`);
  const manifestText = await Deno.readTextFile(`${local}/manifest.json`);
  const sections = JSON.parse(manifestText).sections as ManifestSection[];
  const section = (name: string) => sections.find((s) => s.name === name)!;

  await t.step("a multi-frame object restores whole with plain zstd -dc | psql", async () => {
    // One frame per section at least, as zstd itself counts them.
    const frames = await sh(
      `zstd -lv full.sql.zst | sed -n 's/^# Zstandard Frames: //p'`,
      {},
      local,
    );
    assert.equal(frames.code, 0, frames.stderr);
    assert.ok(Number(frames.stdout.trim()) >= sections.length, `frames: ${frames.stdout}`);
    const check = await sh("sha256sum -c full.sql.zst.sha256", {}, local);
    assert.equal(check.code, 0, check.stderr);
    await using fresh = await startPostgres({
      version: 18,
      superuser: "drill_admin",
      name: "whole",
    });
    const psql = requireTool("psql-18");
    const restore = await sh(
      `zstd -dc full.sql.zst | ${psql} -X -q -v ON_ERROR_STOP=1 -d postgres -f -`,
      {
        PGHOST: fresh.host,
        PGPORT: String(fresh.port),
        PGUSER: fresh.user,
        PGPASSWORD: fresh.password,
      },
      local,
    );
    assert.equal(restore.code, 0, restore.stderr);
    assert.deepEqual(await rowCounts(fresh), await rowCounts(stack.source));
  });

  await t.step("the sections tile the object, and each one's sha256 matches", () => {
    assert.deepEqual(sections.map((s) => s.name), [
      "globals",
      "template1",
      "Weird-DB name",
      "analytics",
      "app",
      "big",
      "postgres",
      "tiny",
    ]);
    let offset = 0;
    for (const s of sections) {
      assert.equal(s.offset, offset, s.name);
      assert.equal(sha256(objectBytes.subarray(s.offset, s.offset + s.length)), s.sha256, s.name);
      assert.ok(s.dump_bytes > 0, s.name);
      offset += s.length;
    }
    assert.equal(offset, objectBytes.length);
    // Each section decompresses on its own: its frames start where the index says.
    assert.equal(objectBytes[section("tiny").offset], 0x28); // zstd's magic number, little-endian
  });

  await t.step(
    "recovering one small database out of a large backup reads a few percent of the object",
    async () => {
      await using relay = startFaultRelay(stack.s3.endpoint);
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      relay.countFromHere();
      const run = await runEntrypoint(
        "restore_drill.ts",
        recoverInto(stack, target, { S3_ENDPOINT: relay.endpoint, RESTORE_DATABASES: "tiny" }),
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "recovery OK");
      const read = relay.responseBytes;
      assert.ok(read < objectBytes.length * 0.03, `read ${read} of ${objectBytes.length} bytes`);
      const report = reportOf(run);
      assert.equal(report.read, "sections");
      // One read (the check) of the two sections, then another (the restore).
      assert.equal(report.backup.bytes, section("globals").length + section("tiny").length);
      const chose = run.lines.find((l) => l.msg === "reading only the sections the recovery needs");
      assert.deepEqual(chose?.sections, ["globals", "tiny"]);
      assert.equal(await target.psql("SELECT count(*) FROM notes", "tiny"), "10");
      assert.ok(msgs(run).indexOf("sha256 OK") < msgs(run).indexOf("restoring into the target"));
    },
  );

  await t.step(
    "a byte flipped inside a section fails that recovery naming the sha256, and leaves no database behind",
    async () => {
      const tiny = section("tiny");
      const damaged = objectBytes.slice();
      damaged[tiny.offset + Math.floor(tiny.length / 2)]! ^= 0x01;
      await upload(stack, key, damaged);
      try {
        await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
        const before = await snapshot(target);
        const run = await runEntrypoint(
          "restore_drill.ts",
          recoverInto(stack, target, { RESTORE_DATABASES: "tiny" }),
        );
        assert.equal(run.code, 1, run.stderr);
        assert.match(
          String(run.lastLine.msg),
          new RegExp(
            `^sha256 mismatch: section "tiny" of ${key} \\(bytes ${tiny.offset}-${
              tiny.offset + tiny.length - 1
            }\\): it hashes to [0-9a-f]{64}, manifest.json says ${tiny.sha256}$`,
          ),
        );
        assert.match(
          String(run.lastLine.hint),
          /^that part of the backup is damaged; nothing was sent to the target/,
        );
        assert.ok(!msgs(run).includes("restoring into the target"));
        assert.equal(await snapshot(target), before);
      } finally {
        await upload(stack, key, objectBytes);
      }
    },
  );

  await t.step("a manifest without sections still recovers: the backup is read whole", async () => {
    const manifest = JSON.parse(manifestText);
    delete manifest.sections;
    await upload(stack, `${dir}/manifest.json`, new TextEncoder().encode(JSON.stringify(manifest)));
    try {
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      const run = await runEntrypoint(
        "restore_drill.ts",
        recoverInto(stack, target, { RESTORE_DATABASES: "tiny" }),
      );
      assert.equal(run.code, 0, run.stderr);
      const whole = run.lines.find((l) => l.msg === "reading the whole backup");
      assert.equal(whole?.reason, "its manifest.json has no section index");
      assert.equal(reportOf(run).read, "whole");
      assert.equal(reportOf(run).backup.bytes, objectBytes.length);
      assert.equal(await target.psql("SELECT count(*) FROM notes", "tiny"), "10");
    } finally {
      await upload(stack, `${dir}/manifest.json`, new TextEncoder().encode(manifestText));
    }
  });

  await t.step(
    "RESTORE_JOBS=2 restores two databases at once, each checked as soon as it is restored",
    async () => {
      await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
      const run = await runEntrypoint(
        "restore_drill.ts",
        recoverInto(stack, target, { RESTORE_DATABASES: "tiny,app", RESTORE_JOBS: "2" }),
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "recovery OK");
      assert.equal(run.lines.find((l) => l.msg === "restoring into the target")?.jobs, 2);
      const restored = run.lines.filter((l) => l.msg === "database restored");
      assert.deepEqual(restored.map((l) => l.database).sort(), ["app", "tiny"]);
      const checked = run.lines.filter((l) =>
        l.msg === "value check OK: every table compared by value matches the backup"
      );
      assert.equal(checked.length, 2);
      const counts = await rowCounts(target);
      const source = await rowCounts(stack.source);
      assert.deepEqual(counts.app, source.app);
      assert.deepEqual(counts.tiny, source.tiny);
    },
  );

  await t.step(
    "the drill reads the whole object and checks every section: a wrong index fails it",
    async () => {
      await using good = await startPostgres({ version: 18, superuser: "drill_admin" });
      const ok = await runEntrypoint("restore_drill.ts", {
        ...stack.drillEnv,
        SCRATCH_PGPORT: String(good.port),
        SCRATCH_PGPASSWORD: good.password,
        EXPECTED_DATABASES: "tiny",
      });
      assert.equal(ok.code, 0, ok.stderr);
      const index = ok.lines.find((l) => l.msg === "section index OK");
      assert.equal(index?.sections, sections.length);

      const manifest = JSON.parse(manifestText);
      const wrong = manifest.sections.find((s: ManifestSection) => s.name === "tiny");
      wrong.sha256 = "0".repeat(64);
      await upload(
        stack,
        `${dir}/manifest.json`,
        new TextEncoder().encode(JSON.stringify(manifest)),
      );
      try {
        await using scratch = await startPostgres({ version: 18, superuser: "drill_admin" });
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          SCRATCH_PGPORT: String(scratch.port),
          SCRATCH_PGPASSWORD: scratch.password,
          EXPECTED_DATABASES: "tiny",
        });
        assert.equal(run.code, 1, run.stderr);
        assert.ok(msgs(run).includes("sha256 OK"), "the whole object's verdict comes first");
        assert.match(
          String(run.lastLine.msg),
          new RegExp(
            `^section index wrong: section "tiny" of ${key} \\(bytes \\d+-\\d+\\): it hashes to ${
              section("tiny").sha256
            }, manifest.json says 0{64}$`,
          ),
        );
      } finally {
        await upload(stack, `${dir}/manifest.json`, new TextEncoder().encode(manifestText));
      }
    },
  );

  await Deno.remove(local, { recursive: true });
});
