import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { DRILL_SETTINGS } from "../config.ts";
import { ConfigError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { ProgramContext } from "../program.ts";
import { parseSettings } from "../settings.ts";
import { formatAge, formatBytes, isListRun, type ListedBackup, runList } from "./list.ts";

const NOW = new Date("2026-11-05T12:00:00Z");
const ENV = {
  S3_ENDPOINT: "http://127.0.0.1:9000",
  S3_PREFIX: "pg",
  AWS_ACCESS_KEY_ID: "drill",
  AWS_SECRET_ACCESS_KEY: "drill-secret",
};

function drillConfig(args: string[]) {
  const parsed = parseSettings(DRILL_SETTINGS, args, ENV, () => "");
  assert.equal(parsed.kind, "run");
  return parsed.kind === "run" ? parsed.config : undefined!;
}

function context(store: MemoryStore) {
  const lines: Record<string, unknown>[] = [];
  const log = createLog("restore-drill", { write: (l) => lines.push(JSON.parse(l)) });
  const ctx: ProgramContext = {
    log,
    store,
    signal: new AbortController().signal,
    childEnv: {},
    now: () => NOW,
  };
  return { ctx, lines };
}

/** A manifest's text with the fields --list reads. */
function manifest(extra: Record<string, unknown>, databases: Record<string, number[]>): string {
  const dbs = Object.fromEntries(
    Object.entries(databases).map(([db, rows]) => [db, {
      tables: Object.fromEntries(rows.map((n, i) => [`public.t${i}`, n])),
      largeObjects: 0,
    }]),
  );
  return JSON.stringify({
    format: 1,
    tool: { name: "backup-toolbox", version: "0.1.0" },
    server_version: "18.1",
    pg_dumpall_version: "18.1",
    started_at: "2026-11-01T05:00:00Z",
    finished_at: "2026-11-01T05:00:00Z",
    key: "x",
    compressed_bytes: 1,
    dump_bytes: 1,
    sha256: "0".repeat(64),
    databases: dbs,
    ...extra,
  });
}

/** Five folders: four backups (one encrypted, one from before retention classes), one incomplete. */
function seed(store: MemoryStore): void {
  const at = (day: string) => ({ lastModified: new Date(`2026-11-${day}T05:00:00Z`) });
  const sha = (file: string) => `${"0".repeat(64)}  ${file}\n`;
  const plain = (day: string, bytes: number) => {
    store.put(`pg/2026/11/${day}/full.sql.zst`, new Uint8Array(bytes), at(day));
    store.put(`pg/2026/11/${day}/full.sql.zst.sha256`, sha("full.sql.zst"), at(day));
  };
  plain("01", 3 * 1024 * 1024);
  store.put(
    "pg/2026/11/01/manifest.json",
    manifest({
      retention_class: "monthly",
      skipped_databases: [{ name: "archive", reason: "does not allow connections" }],
    }, { app: [10, 20], postgres: [] }),
  );
  store.put(
    "pg/2026/11/01/drill-report.json",
    JSON.stringify({
      result: "OK",
      drilled_at: "2026-11-01T06:00:00.000Z",
      backup: { key: "pg/2026/11/01/full.sql.zst" },
    }),
  );
  store.put("pg/2026/11/02/full.sql.zst.age", new Uint8Array(2048), at("02"));
  store.put("pg/2026/11/02/full.sql.zst.age.sha256", sha("full.sql.zst.age"), at("02"));
  store.put(
    "pg/2026/11/02/manifest.json",
    manifest({ retention_class: "daily", skipped_databases: [] }, { app: [10, 21] }),
  );
  plain("03", 900);
  store.put("pg/2026/11/03/manifest.json", manifest({}, { app: [9] }));
  store.put(
    "pg/2026/11/03/drill-report.json",
    JSON.stringify({ result: "FAILED", drilled_at: "2026-11-03T06:00:00.000Z" }),
  );
  plain("04", 5000);
  store.put(
    "pg/2026/11/04/manifest.json",
    manifest({ retention_class: "daily", skipped_databases: [] }, { app: [10, 22] }),
  );
  store.put(
    "pg/2026/11/04/drill-report.json",
    JSON.stringify({
      result: "OK",
      drilled_at: "2026-11-04T06:00:00.000Z",
      backup: { key: "pg/2026/11/04/full.sql.zst" },
      older_backups: [
        { key: "pg/2026/11/02/full.sql.zst.age", sha256: "a".repeat(64), result: "OK" },
        { key: "pg/2026/11/01/full.sql.zst", sha256: "b".repeat(64), result: "FAILED" },
      ],
    }),
  );
  store.put("pg/2026/11/05/full.sql.zst", "died before its .sha256", at("05"));
  // The report of a backup a lifecycle rule already expired: no backup, and not incomplete.
  store.put("pg/2026/10/20/drill-report.json", JSON.stringify({ result: "OK" }));
}

Deno.test("runList() --json prints every backup newest first with the contract's fields", async () => {
  const store = new MemoryStore();
  seed(store);
  const { ctx, lines } = context(store);
  const out: string[] = [];
  const listed = await runList(drillConfig(["--list", "--json"]), ctx, (l) => out.push(l));
  assert.equal(out.length, 1);
  assert.deepEqual(JSON.parse(out[0]!), listed);
  const expected: ListedBackup[] = [
    {
      date: "2026-11-04",
      key: "pg/2026/11/04/full.sql.zst",
      class: "daily",
      compressed_bytes: 5000,
      databases: 1,
      tables: 2,
      rows: 32,
      encrypted: false,
      drill: "OK",
      skipped_databases: [],
      last_checked: "2026-11-04T06:00:00.000Z",
      age_hours: 31,
    },
    {
      date: "2026-11-03",
      key: "pg/2026/11/03/full.sql.zst",
      class: null,
      compressed_bytes: 900,
      databases: 1,
      tables: 1,
      rows: 9,
      encrypted: false,
      drill: "FAILED",
      skipped_databases: null,
      last_checked: null,
      age_hours: 55,
    },
    {
      date: "2026-11-02",
      key: "pg/2026/11/02/full.sql.zst.age",
      class: "daily",
      compressed_bytes: 2048,
      databases: 1,
      tables: 2,
      rows: 31,
      encrypted: true,
      // Never drilled itself; its sha256 was found right by the drill of 11-04.
      drill: null,
      skipped_databases: [],
      last_checked: "2026-11-04T06:00:00.000Z",
      age_hours: 79,
    },
    {
      date: "2026-11-01",
      key: "pg/2026/11/01/full.sql.zst",
      class: "monthly",
      compressed_bytes: 3 * 1024 * 1024,
      databases: 2,
      tables: 2,
      rows: 30,
      encrypted: false,
      // Drilled OK, then re-read by a later drill whose sha256 did not match: no longer OK.
      drill: "FAILED",
      skipped_databases: ["archive"],
      last_checked: "2026-11-01T06:00:00.000Z",
      age_hours: 103,
    },
  ];
  assert.deepEqual(listed, expected);
  // The JSON's keys are exactly the contract's, and a few more.
  assert.deepEqual(Object.keys(listed[0]!), [
    "date",
    "key",
    "class",
    "compressed_bytes",
    "databases",
    "tables",
    "rows",
    "encrypted",
    "drill",
    "skipped_databases",
    "last_checked",
    "age_hours",
  ]);
  assert.deepEqual(lines.map((l) => [l.msg, l.backups, l.incomplete, l.leftovers]), [
    ["list OK", 4, ["pg/2026/11/05/"], ["pg/2026/10/20/"]],
  ]);
  // One listing, then each backup's manifest and drill report; nothing written.
  assert.equal(store.requests.filter((r) => r.request === "list objects").length, 1);
  assert.ok(
    store.requests.every((r) => r.request === "list objects" || r.request === "get object"),
  );
});

Deno.test("runList() prints one aligned line per backup, newest first, and a summary line", async () => {
  const store = new MemoryStore();
  seed(store);
  const out: string[] = [];
  await runList(drillConfig(["--list"]), context(store).ctx, (l) => out.push(l));
  assert.deepEqual(out, [
    "DATE        CLASS       SIZE  DATABASES  TABLES  ROWS  ENCRYPTED  DRILL   CHECKED  AGE  SKIPPED",
    "2026-11-04  daily    4.9 KiB          1       2    32  plain      OK      30h ago  31h  —",
    "2026-11-03  —          900 B          1       1     9  plain      FAILED        —   2d  —",
    "2026-11-02  daily    2.0 KiB          1       2    31  encrypted  —       30h ago   3d  —",
    "2026-11-01  monthly  3.0 MiB          2       2    30  plain      FAILED   4d ago   4d  archive",
    "4 backups: newest 2026-11-04, oldest 2026-11-01, 3.0 MiB in all; 1 incomplete folder not listed (no data object with its .sha256): pg/2026/11/05/",
  ]);
});

Deno.test("runList() of an empty prefix says so, in text and as an empty JSON array", async () => {
  const store = new MemoryStore();
  const text: string[] = [];
  await runList(drillConfig(["--list"]), context(store).ctx, (l) => text.push(l));
  assert.deepEqual(text, ["no backups under s3://backups/pg/"]);
  const json: string[] = [];
  await runList(drillConfig(["--list", "--json"]), context(store).ctx, (l) => json.push(l));
  assert.deepEqual(json, ["[]"]);
});

Deno.test("isListRun() refuses --json without --list, and --list with another mode (exit code 2)", () => {
  assert.equal(isListRun(drillConfig([])), false);
  assert.equal(isListRun(drillConfig(["--list"])), true);
  assert.equal(isListRun(drillConfig(["--list", "--json"])), true);
  assert.throws(
    () => isListRun(drillConfig(["--json"])),
    new ConfigError(
      ["--json (LIST_JSON) applies only with --list (LIST=true)"],
      "add --list to print the backups as JSON, or leave --json out",
    ),
  );
  assert.throws(
    () => isListRun(drillConfig(["--list", "--verify-only", "--key", "pg/x/full.sql.zst"])),
    new ConfigError(
      ["--list (LIST=true) does not go with --verify-only, --key"],
      "run --list on its own: it lists every backup and restores nothing",
    ),
  );
  assert.equal(new ConfigError(["x"]).exitCode, 2);
});

Deno.test("formatBytes() and formatAge() read as people write sizes and ages", () => {
  assert.deepEqual(
    [0, 1023, 1024, 1536, 5 * 1024 ** 2, 1.25 * 1024 ** 3, 3 * 1024 ** 4].map(formatBytes),
    ["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "1.3 GiB", "3.0 TiB"],
  );
  assert.deepEqual([0, 0.5, 5.9, 47.9, 48, 240].map(formatAge), [
    "0h",
    "0h",
    "5h",
    "47h",
    "2d",
    "10d",
  ]);
});
