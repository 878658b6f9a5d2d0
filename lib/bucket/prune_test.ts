import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { StoreError } from "../errors.ts";
import { createLog } from "../log.ts";
import { DATA_FILES, FILES } from "./keys.ts";
import { prune, type PruneOptions } from "./prune.ts";
import { keepDays } from "./retention_class.ts";

const NOW = new Date("2025-06-20T12:00:00Z");
const TS = "2025-06-20T12:00:00Z";

/** A log whose lines are kept, parsed, with the clock at NOW. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLog("backup", {
    write: (line) => lines.push(JSON.parse(line)),
    now: () => NOW.getTime(),
  });
  return { log, lines };
}

/** Seeds a backup folder `pg/<day>/`: complete unless told otherwise, drilled when told. */
function seed(
  store: MemoryStore,
  day: string,
  options: { complete?: boolean; drilled?: boolean; encrypted?: boolean } = {},
): string {
  const dir = `pg/${day}/`;
  const files = DATA_FILES[options.encrypted ? 1 : 0]!;
  store.put(dir + files.data, "data");
  if (options.complete ?? true) {
    store.put(dir + files.sha256, `${"0".repeat(64)}  ${files.data}\n`);
    store.put(dir + FILES.manifest, "{}\n");
  }
  if (options.drilled) store.put(dir + FILES.drillReport, '{"result":"OK"}\n');
  return dir;
}

/** RETENTION_DAYS=14 and no longer-kept classes, in UTC, at NOW. */
const DAILY: PruneOptions = {
  prefix: "pg",
  keep: keepDays(14, 0, 0),
  now: NOW,
  timeZone: "UTC",
  dryRun: false,
};

/** Five backups around the 14-day cutoff of NOW (2025-06-06), the newest drilled. */
function fiveBackups(store: MemoryStore): void {
  for (const day of ["2025/05/30", "2025/06/01", "2025/06/05", "2025/06/06"]) seed(store, day);
  seed(store, "2025/06/19", { drilled: true });
  // Not backup folders: never pruned, whatever their age.
  store.put("pg/.tmp/20250501T010000Z-0a1b2c3d/full.sql.zst.seg-0001", "x");
  store.put("pg/notes/README", "x");
}

Deno.test("prune() deletes the backup folders whose date is more than the retention days ago", async () => {
  const store = new MemoryStore();
  fiveBackups(store);
  const { log, lines } = capture();
  const deleted = await prune(store, DAILY, log);
  assert.deepEqual(deleted, ["pg/2025/05/30/", "pg/2025/06/01/", "pg/2025/06/05/"]);
  assert.deepEqual(store.keys(), [
    "pg/.tmp/20250501T010000Z-0a1b2c3d/full.sql.zst.seg-0001",
    "pg/2025/06/06/full.sql.zst",
    "pg/2025/06/06/full.sql.zst.sha256",
    "pg/2025/06/06/manifest.json",
    "pg/2025/06/19/drill-report.json",
    "pg/2025/06/19/full.sql.zst",
    "pg/2025/06/19/full.sql.zst.sha256",
    "pg/2025/06/19/manifest.json",
    "pg/notes/README",
  ]);
  const line = { ts: TS, level: "info", program: "backup", step: "prune" };
  const daily = { retention_class: "daily" };
  assert.deepEqual(lines, [
    { ...line, msg: "deleted backup", dir: "pg/2025/05/30/", day: "2025-05-30", ...daily },
    { ...line, msg: "deleted backup", dir: "pg/2025/06/01/", day: "2025-06-01", ...daily },
    { ...line, msg: "deleted backup", dir: "pg/2025/06/05/", day: "2025-06-05", ...daily },
    {
      ...line,
      msg: "prune OK",
      deleted: 3,
      would_delete: 0,
      kept: 2,
      retention_days: 14,
      keep_days: { daily: 14, weekly: 14, monthly: 14 },
      newest: "pg/2025/06/19/",
      newest_drilled: "pg/2025/06/19/",
    },
  ]);
});

Deno.test("prune() never deletes the newest complete backup nor the newest drilled one, however old", async () => {
  const store = new MemoryStore();
  seed(store, "2025/03/30", { drilled: true });
  seed(store, "2025/03/31", { drilled: true });
  seed(store, "2025/04/01", { drilled: true });
  seed(store, "2025/04/02", { encrypted: true });
  // A run that died after the data copy: newer, but not a backup to keep.
  seed(store, "2025/04/03", { complete: false });
  const { log, lines } = capture();
  const deleted = await prune(store, DAILY, log);
  assert.deepEqual(deleted, ["pg/2025/03/30/", "pg/2025/03/31/", "pg/2025/04/03/"]);
  assert.deepEqual(store.keys(), [
    "pg/2025/04/01/drill-report.json",
    "pg/2025/04/01/full.sql.zst",
    "pg/2025/04/01/full.sql.zst.sha256",
    "pg/2025/04/01/manifest.json",
    "pg/2025/04/02/full.sql.zst.age",
    "pg/2025/04/02/full.sql.zst.age.sha256",
    "pg/2025/04/02/manifest.json",
  ]);
  assert.deepEqual(lines.at(-1), {
    ts: TS,
    level: "info",
    program: "backup",
    step: "prune",
    msg: "prune OK",
    deleted: 3,
    would_delete: 0,
    kept: 2,
    retention_days: 14,
    keep_days: { daily: 14, weekly: 14, monthly: 14 },
    newest: "pg/2025/04/02/",
    newest_drilled: "pg/2025/04/01/",
  });
});

Deno.test("prune() with dryRun deletes nothing and returns what it would delete", async () => {
  const store = new MemoryStore();
  fiveBackups(store);
  const before = store.keys();
  const { log, lines } = capture();
  const wouldDelete = await prune(store, { ...DAILY, dryRun: true }, log);
  assert.deepEqual(wouldDelete, ["pg/2025/05/30/", "pg/2025/06/01/", "pg/2025/06/05/"]);
  assert.deepEqual(store.keys(), before);
  // A listing, and the newest drill report (it says OK): no delete.
  assert.deepEqual(store.requests, [
    { request: "list objects", key: "pg/" },
    { request: "get object", key: "pg/2025/06/19/drill-report.json" },
  ]);
  const line = { ts: TS, level: "info", program: "backup", step: "prune" };
  const daily = { retention_class: "daily" };
  assert.deepEqual(lines, [
    { ...line, msg: "would delete backup", dir: "pg/2025/05/30/", day: "2025-05-30", ...daily },
    { ...line, msg: "would delete backup", dir: "pg/2025/06/01/", day: "2025-06-01", ...daily },
    { ...line, msg: "would delete backup", dir: "pg/2025/06/05/", day: "2025-06-05", ...daily },
    {
      ...line,
      msg: "prune dry run OK",
      deleted: 0,
      would_delete: 3,
      kept: 2,
      retention_days: 14,
      keep_days: { daily: 14, weekly: 14, monthly: 14 },
      newest: "pg/2025/06/19/",
      newest_drilled: "pg/2025/06/19/",
    },
  ]);
});

Deno.test("prune() without s3:DeleteObject throws AccessDenied naming the prune policy", async () => {
  const store = new MemoryStore();
  fiveBackups(store);
  store.failNext("delete object", (key) => key.startsWith("pg/2025/05/30/"), {
    code: "AccessDenied",
    times: Infinity,
  });
  const { log } = capture();
  await assert.rejects(
    prune(store, DAILY, log),
    new StoreError(
      "delete object s3://backups/pg/2025/05/30/full.sql.zst failed: access denied (AccessDenied)",
      "PRUNE and --prune-only need s3:DeleteObject on arn:aws:s3:::backups/pg/*: attach manifests/s3-policies/postgres-backup-prune.json to the backup's key, or leave PRUNE off and let a lifecycle rule expire old backups",
      "AccessDenied",
    ),
  );
});

/** Seeds a complete backup `pg/<day>/` whose manifest records `retentionClass` (none: legacy). */
function seedClass(store: MemoryStore, day: string, retentionClass?: string): string {
  const dir = seed(store, day);
  const manifest = retentionClass === undefined ? {} : { retention_class: retentionClass };
  store.put(dir + FILES.manifest, JSON.stringify({ ...MANIFEST_BASE, ...manifest }));
  return dir;
}

/** The fields parseManifest() needs. */
const MANIFEST_BASE = {
  format: 1,
  tool: { name: "backup-toolbox", version: "0.1.0" },
  server_version: "18.1",
  pg_dumpall_version: "18.1",
  started_at: "2025-01-01T00:00:00Z",
  finished_at: "2025-01-01T00:00:00Z",
  key: "pg/x/full.sql.zst",
  compressed_bytes: 4,
  dump_bytes: 4,
  sha256: "0".repeat(64),
  databases: {},
};

Deno.test("prune() keeps each backup as long as its manifest's retention class says", async () => {
  const store = new MemoryStore();
  // KEEP_WEEKLY=8, KEEP_MONTHLY=6 at NOW (2025-06-20): dailies 14 days, weeklies 56, monthlies 186.
  seedClass(store, "2024/12/01", "monthly"); // 201 days: past 186
  seedClass(store, "2025/01/01", "monthly"); // 170 days
  seedClass(store, "2025/04/01", "weekly"); // 80 days: past 56
  seedClass(store, "2025/05/05", "weekly"); // 46 days
  seedClass(store, "2025/05/06"); // written before retention classes: a daily
  seed(store, "2025/05/07", { complete: false }); // no manifest, not complete: a daily
  store.put("pg/2025/05/08/manifest.json", "not json"); // unreadable: a daily
  seedClass(store, "2025/06/01", "daily"); // 19 days: past 14
  seedClass(store, "2025/06/10", "daily");
  const { log, lines } = capture();
  const deleted = await prune(store, { ...DAILY, keep: keepDays(14, 8, 6) }, log);
  assert.deepEqual(deleted, [
    "pg/2024/12/01/",
    "pg/2025/04/01/",
    "pg/2025/05/06/",
    "pg/2025/05/07/",
    "pg/2025/05/08/",
    "pg/2025/06/01/",
  ]);
  assert.deepEqual(
    lines.filter((l) => l.msg === "deleted backup").map((l) => [l.day, l.retention_class]),
    [
      ["2024-12-01", "monthly"],
      ["2025-04-01", "weekly"],
      ["2025-05-06", "daily"],
      ["2025-05-07", "daily"],
      ["2025-05-08", "daily"],
      ["2025-06-01", "daily"],
    ],
  );
  assert.deepEqual(lines.at(-1)?.keep_days, { daily: 14, weekly: 56, monthly: 186 });
  assert.deepEqual(
    [...new Set(store.keys("pg/").map((k) => k.slice(3, 13)))],
    ["2025/01/01", "2025/05/05", "2025/06/10"],
  );
});

Deno.test("prune() protects the newest backup whose drill report says OK, not one that FAILED", async () => {
  const store = new MemoryStore();
  seed(store, "2025/05/10", { drilled: true });
  seed(store, "2025/05/20", { drilled: true });
  seed(store, "2025/05/25");
  store.put("pg/2025/05/25/drill-report.json", '{"result":"FAILED"}\n');
  seed(store, "2025/06/19");
  store.put("pg/2025/06/19/drill-report.json", '{"result":"FAILED"}\n');
  const { log, lines } = capture();
  const deleted = await prune(store, DAILY, log);
  assert.deepEqual(deleted, ["pg/2025/05/10/", "pg/2025/05/25/"]);
  assert.deepEqual(
    { newest: lines.at(-1)?.newest, newest_drilled: lines.at(-1)?.newest_drilled },
    { newest: "pg/2025/06/19/", newest_drilled: "pg/2025/05/20/" },
  );
});

Deno.test("prune() takes today in TZ: at 2025-06-20T01:00Z in America/Sao_Paulo it is 2025-06-19", async () => {
  const cases: [string, string[]][] = [["UTC", ["pg/2025/06/05/"]], ["America/Sao_Paulo", []]];
  for (const [timeZone, deleted] of cases) {
    const store = new MemoryStore();
    seed(store, "2025/06/05");
    seed(store, "2025/06/19");
    const options = { ...DAILY, now: new Date("2025-06-20T01:00:00Z"), timeZone };
    assert.deepEqual(await prune(store, options, capture().log), deleted, timeZone);
  }
});
