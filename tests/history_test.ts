/**
 * Keeping history and showing it, through the real programs on real servers: `restore-drill
 * --list` and `--json` over backups of several days, drills that re-read older backups in turn
 * (CHECK_OLDER), a failed drill's stored verdict, and a database the backup left out. The
 * earlier days' backups are copies of a real one made with the AWS CLI (the backup takes its
 * day from the clock). Each step leaves the bucket as it found it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ListedBackup } from "../lib/drill/list.ts";
import { isoWeek, monthOf } from "../lib/bucket/calendar.ts";
import { dayFolder, download, emptyBucket, tagsOf, upload } from "./harness/fixtures.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import { runEntrypoint, type RunResult } from "./harness/run.ts";
import { type Stack, startStack } from "./harness/stack.ts";

const FILES = ["full.sql.zst", "full.sql.zst.sha256", "manifest.json"];

/** `YYYY-MM-DD` of `dayFolder(n)`. */
function date(daysAgo: number): string {
  return dayFolder(daysAgo).replaceAll("/", "-");
}

async function getText(stack: Stack, key: string): Promise<string> {
  const r = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${key}`, "-"]);
  assert.equal(r.code, 0, `get ${key}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Copies today's backup to the day `daysAgo` days back, its manifest saying `retentionClass`:
 * a backup of that day, as far as the programs can tell.
 */
async function backupOf(stack: Stack, daysAgo: number, retentionClass: string): Promise<void> {
  const today = `${stack.prefix}/${dayFolder()}`;
  const dir = `${stack.prefix}/${dayFolder(daysAgo)}`;
  for (const file of FILES.slice(0, 2)) {
    const cp = await stack.s3.aws([
      "s3",
      "cp",
      `s3://${stack.bucket}/${today}/${file}`,
      `s3://${stack.bucket}/${dir}/${file}`,
    ]);
    assert.equal(cp.code, 0, cp.stderr);
  }
  const manifest = JSON.parse(await getText(stack, `${today}/manifest.json`));
  await upload(
    stack,
    `${dir}/manifest.json`,
    JSON.stringify({ ...manifest, retention_class: retentionClass }),
  );
}

/** The drill's environment without any SCRATCH_* setting: --list needs none. */
function listEnv(stack: Stack): Record<string, string> {
  return Object.fromEntries(
    Object.entries(stack.drillEnv).filter(([name]) => !name.startsWith("SCRATCH_")),
  );
}

/** A fresh, empty PG 18 scratch server for one drill. */
function freshScratch(name: string): Promise<PgServer> {
  return startPostgres({ version: 18, superuser: "drill_admin", name: `scratch-${name}` });
}

/** The stack's drill settings, restoring into `scratch`. */
function drillInto(stack: Stack, scratch: PgServer): Record<string, string> {
  return {
    ...stack.drillEnv,
    SCRATCH_PGPORT: String(scratch.port),
    SCRATCH_PGPASSWORD: scratch.password,
  };
}

function listed(run: RunResult): ListedBackup[] {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

Deno.test("history: retention classes, --list, and drills that re-read older backups", async (t) => {
  await using stack = await startStack({ sample: "simple" });
  const today = `${stack.prefix}/${dayFolder()}`;

  await t.step(
    "restore-drill --list prints every backup newest first and a summary line, with no SCRATCH_* setting",
    async () => {
      await emptyBucket(stack);
      const backup = await runEntrypoint("backup.ts", stack.backupEnv);
      assert.equal(backup.code, 0, backup.stderr);
      await backupOf(stack, 1, "daily");
      await backupOf(stack, 9, "weekly");
      // An incomplete folder: a run that died after its data copy.
      await upload(stack, `${stack.prefix}/${dayFolder(2)}/full.sql.zst`, "cut short");
      const drill = await runEntrypoint("restore_drill.ts", stack.drillEnv);
      assert.equal(drill.code, 0, drill.stderr);

      const run = await runEntrypoint("restore_drill.ts", {
        ...listEnv(stack),
        // A scratch host a drill would refuse: --list never looks at it.
        SCRATCH_PGHOST: "prod-db.example.invalid",
      }, ["--list"]);
      assert.equal(run.code, 0, run.stderr);
      const out = run.stdout.trimEnd().split("\n");
      assert.equal(out.length, 5, run.stdout);
      assert.match(
        out[0]!,
        /^DATE +CLASS +SIZE +DATABASES +TABLES +ROWS +ENCRYPTED +DRILL +CHECKED +AGE +SKIPPED$/,
      );
      const rows = out.slice(1, 4).map((l) => l.split(/\s{2,}/));
      assert.deepEqual(rows.map((r) => [r[0], r[1], r[7]]), [
        [date(0), backup.lastLine.retention_class, "OK"],
        [date(1), "daily", "—"],
        [date(9), "weekly", "—"],
      ]);
      assert.match(
        out[4]!,
        new RegExp(
          `^3 backups: newest ${date(0)}, oldest ${
            date(9)
          }, \\d+\\.\\d KiB in all; 1 incomplete folder not listed \\(no data object with its \\.sha256\\): ${stack.prefix}/${
            dayFolder(2)
          }/$`,
        ),
      );
      // Logs on stderr only; no scratch server was looked for, nothing was pushed or pinged.
      assert.deepEqual(run.lines.map((l) => l.msg), ["restore-drill started", "list OK"]);
      assert.ok(!run.stdout.includes('"level"'));
    },
  );

  await t.step(
    "--list --json prints a JSON array with the contract's fields; --json without --list exits 2",
    async () => {
      const run = await runEntrypoint("restore_drill.ts", listEnv(stack), ["--list", "--json"]);
      const backups = listed(run);
      const manifest = JSON.parse(await getText(stack, `${today}/manifest.json`));
      const tables = Object.values(manifest.databases as Record<string, { tables: object }>)
        .reduce((n, db) => n + Object.keys(db.tables).length, 0);
      const newest = backups[0]!;
      assert.deepEqual(
        {
          date: newest.date,
          key: newest.key,
          class: newest.class,
          compressed_bytes: newest.compressed_bytes,
          databases: newest.databases,
          tables: newest.tables,
          encrypted: newest.encrypted,
          drill: newest.drill,
          skipped_databases: newest.skipped_databases,
        },
        {
          date: date(0),
          key: `${today}/full.sql.zst`,
          class: manifest.retention_class,
          compressed_bytes: manifest.compressed_bytes,
          databases: Object.keys(manifest.databases).length,
          tables,
          encrypted: false,
          drill: "OK",
          skipped_databases: [],
        },
      );
      assert.equal(typeof newest.rows, "number");
      assert.deepEqual(backups.map((b) => [b.date, b.class, b.drill]), [
        [date(0), manifest.retention_class, "OK"],
        [date(1), "daily", null],
        [date(9), "weekly", null],
      ]);
      for (
        const field of [
          "date",
          "key",
          "class",
          "compressed_bytes",
          "databases",
          "tables",
          "rows",
          "encrypted",
          "drill",
        ]
      ) {
        assert.ok(field in newest, field);
      }

      const json = await runEntrypoint("restore_drill.ts", listEnv(stack), ["--json"]);
      assert.equal(json.code, 2, json.stderr);
      assert.equal(json.lastLine.msg, "--json (LIST_JSON) applies only with --list (LIST=true)");
      assert.equal(json.stdout, "");
    },
  );

  await t.step(
    "a backup's class comes from the earlier complete backups of its month and ISO week, and tags every object",
    async () => {
      // Today's folder is left out: only yesterday's and the one of 9 days ago count (the
      // incomplete folder of 2 days ago does not).
      const earlier = [date(1), date(9)];
      const expected = !earlier.some((d) => monthOf(d) === monthOf(date(0)))
        ? "monthly"
        : !earlier.some((d) => isoWeek(d) === isoWeek(date(0)))
        ? "weekly"
        : "daily";
      const run = await runEntrypoint("backup.ts", stack.backupEnv);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.retention_class, expected);
      const chosen = run.lines.find((l) => l.msg === "retention class chosen")!;
      assert.equal(chosen.day, date(0));
      assert.equal(chosen.iso_week, isoWeek(date(0)));
      for (const file of FILES) {
        assert.deepEqual(await tagsOf(stack, `${today}/${file}`), { "retention-class": expected });
      }
      const manifest = JSON.parse(await getText(stack, `${today}/manifest.json`));
      assert.equal(manifest.retention_class, expected);
    },
  );

  await t.step(
    "--prune-only keeps each backup as long as its class: a weekly one past RETENTION_DAYS stays for KEEP_WEEKLY",
    async () => {
      const wouldDelete = async (keepWeekly: string) => {
        const run = await runEntrypoint("backup.ts", {
          ...stack.backupEnv,
          RETENTION_DAYS: "5",
          KEEP_WEEKLY: keepWeekly,
        }, ["--prune-only", "--dry-run"]);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "prune dry run OK");
        return run.lines.filter((l) => l.msg === "would delete backup").map((l) =>
          `${l.day} ${l.retention_class}`
        );
      };
      // The weekly of 9 days ago: kept 2 weeks, but with KEEP_WEEKLY=1 only 7 days.
      assert.deepEqual(await wouldDelete("2"), []);
      assert.deepEqual(await wouldDelete("1"), [`${date(9)} weekly`]);
    },
  );

  await t.step(
    "each drill also reads one older backup in full (older backup sha256 OK), the one checked longest ago",
    async () => {
      const seen: string[] = [];
      for (const name of ["older-1", "older-2"]) {
        await using scratch = await freshScratch(name);
        const run = await runEntrypoint("restore_drill.ts", drillInto(stack, scratch));
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "drill OK");
        const ok = run.lines.filter((l) => l.msg === "older backup sha256 OK");
        assert.equal(ok.length, 1, run.stderr);
        const sha256 = await getText(stack, `${ok[0]!.key}.sha256`);
        assert.equal(ok[0]!.sha256, sha256.slice(0, 64));
        assert.equal(typeof ok[0]!.bytes, "number");
        // After the newest backup's own verdict.
        const at = (msg: string) => run.lines.findIndex((l) => l.msg === msg);
        assert.ok(at("sha256 OK") < at("older backup sha256 OK"));
        seen.push(String(ok[0]!.key));
      }
      // The first step's drill read the oldest, the weekly of 9 days ago. Never-checked first:
      // yesterday's; then the one checked longest ago: the weekly again.
      assert.deepEqual(seen, [
        `${stack.prefix}/${dayFolder(1)}/full.sql.zst`,
        `${stack.prefix}/${dayFolder(9)}/full.sql.zst`,
      ]);
      const report = JSON.parse(await getText(stack, `${today}/drill-report.json`));
      assert.deepEqual(
        report.older_backups.map((c: { key: string; result: string }) => [c.key, c.result]),
        [[seen[1], "OK"], [seen[0], "OK"]],
      );
      const backups = listed(
        await runEntrypoint("restore_drill.ts", listEnv(stack), ["--list", "--json"]),
      );
      assert.ok(backups.every((b) => b.last_checked !== null), JSON.stringify(backups));
    },
  );

  await t.step(
    "a damaged older backup fails the drill naming its key and sha256; the newest backup's sha256 OK is still logged",
    async () => {
      const key = `${stack.prefix}/${dayFolder(1)}/full.sql.zst`;
      const saved = await Deno.makeTempDir();
      const original = await Deno.readFile(await download(stack, key, saved));
      await Deno.remove(saved, { recursive: true });
      const expected = (await getText(stack, `${key}.sha256`)).slice(0, 64);
      assert.equal(createHash("sha256").update(original).digest("hex"), expected);
      await upload(stack, key, "a backup that rotted in the bucket");
      try {
        await using scratch = await freshScratch("older-bad");
        const run = await runEntrypoint("restore_drill.ts", {
          ...drillInto(stack, scratch),
          CHECK_OLDER: "2",
        });
        assert.equal(run.code, 1, run.stderr);
        const bad = run.lines.find((l) => l.msg === "older backup sha256 mismatch")!;
        assert.equal(bad.key, key);
        assert.equal(
          run.lastLine.msg,
          `sha256 mismatch: older backup ${key} hashes to ${bad.actual}, ${key}.sha256 says ${expected}`,
        );
        assert.equal(run.lastLine.error, "ChecksumMismatchError");
        assert.equal(
          run.lastLine.hint,
          `the older backup is damaged or was altered (the newest one passed its drill): drill it with --key ${key} to see what it still holds, check the S3 server's disks, and take a fresh backup now`,
        );
        const markers = run.lines.map((l) => String(l.msg)).filter((m) =>
          ["sha256 OK", "restore OK", "smoke OK", "older backup sha256 OK", "drill OK"].includes(m)
        );
        assert.deepEqual(markers, [
          "sha256 OK",
          "restore OK",
          "smoke OK",
          "older backup sha256 OK",
        ]);
        // The newest backup passed; the damaged one shows FAILED in --list.
        const report = JSON.parse(await getText(stack, `${today}/drill-report.json`));
        assert.equal(report.result, "OK");
        const backups = listed(
          await runEntrypoint("restore_drill.ts", listEnv(stack), ["--list", "--json"]),
        );
        assert.deepEqual(backups.map((b) => [b.date, b.drill]), [
          [date(0), "OK"],
          [date(1), "FAILED"],
          [date(9), null],
        ]);
      } finally {
        await upload(stack, key, original);
      }
    },
  );

  await t.step(
    "a database the backup left out shows in --list and the drill report; EXPECTED_DATABASES naming it fails saying so",
    async () => {
      await stack.source.psql("CREATE DATABASE closed_books");
      await stack.source.psql("ALTER DATABASE closed_books ALLOW_CONNECTIONS false");
      try {
        const backup = await runEntrypoint("backup.ts", stack.backupEnv);
        assert.equal(backup.code, 0, backup.stderr);
        const [newest] = listed(
          await runEntrypoint("restore_drill.ts", listEnv(stack), ["--list", "--json"]),
        );
        assert.deepEqual(newest!.skipped_databases, ["closed_books"]);
        const text = await runEntrypoint("restore_drill.ts", listEnv(stack), ["--list"]);
        assert.match(text.stdout.split("\n")[1]!, / {2}closed_books$/);

        await using scratch = await freshScratch("skipped");
        const run = await runEntrypoint("restore_drill.ts", {
          ...drillInto(stack, scratch),
          EXPECTED_DATABASES: `${stack.drillEnv.EXPECTED_DATABASES},closed_books`,
          CHECK_OLDER: "0",
        });
        assert.equal(run.code, 1, run.stderr);
        assert.equal(
          run.lastLine.msg,
          "smoke FAILED: missing databases: closed_books (closed_books is not in the backup: it does not allow connections on the source, so pg_dumpall skipped it)",
        );
        assert.equal(
          run.lastLine.hint,
          "run ALTER DATABASE closed_books ALLOW_CONNECTIONS true on the source and take a fresh backup, or take it out of EXPECTED_DATABASES (ConfigMap postgres-restore-drill-config)",
        );
        assert.ok(!run.lines.some((l) => String(l.msg).startsWith("older backup")));
        const report = JSON.parse(await getText(stack, `${today}/drill-report.json`));
        assert.equal(report.result, "FAILED");
        assert.equal(report.failure.msg, run.lastLine.msg);
      } finally {
        await stack.source.psql("DROP DATABASE closed_books");
      }
      // And the drill report of a drill that passes carries the list too (here empty again).
      const again = await runEntrypoint("backup.ts", stack.backupEnv);
      assert.equal(again.code, 0, again.stderr);
      await using scratch = await freshScratch("skipped-after");
      const drill = await runEntrypoint("restore_drill.ts", {
        ...drillInto(stack, scratch),
        CHECK_OLDER: "0",
      });
      assert.equal(drill.code, 0, drill.stderr);
      const report = drill.lines.find((l) => l.msg === "drill report")!.report as {
        skipped_databases: unknown[];
        older_backups?: unknown;
      };
      assert.deepEqual(report.skipped_databases, []);
      assert.equal(report.older_backups, undefined, "CHECK_OLDER=0 reads no older backup");
    },
  );
});
