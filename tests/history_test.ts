/**
 * Keeping history and showing it, through the real programs on real servers: `restore-drill
 * --list` and `--json` over backups of several days, drills that re-read older backups in turn
 * (CHECK_OLDER), a failed drill's stored verdict, and a database the backup left out. The
 * earlier days' backups are copies of a real one made with the AWS CLI (the backup takes its
 * day from the clock). Each step leaves the bucket as it found it.
 */
import assert from "node:assert/strict";
import type { ListedBackup } from "../lib/drill/list.ts";
import { dayFolder, emptyBucket, upload } from "./harness/fixtures.ts";
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
});
