import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { StoreError } from "../errors.ts";
import { createLog } from "../log.ts";
import { DATA_FILES, FILES } from "./keys.ts";
import { prune } from "./prune.ts";

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
  if (options.drilled) store.put(dir + FILES.drillReport, "{}\n");
  return dir;
}

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
  const deleted = await prune(store, "pg", 14, NOW, false, log);
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
  assert.deepEqual(lines, [
    { ...line, msg: "deleted backup", dir: "pg/2025/05/30/", day: "2025-05-30" },
    { ...line, msg: "deleted backup", dir: "pg/2025/06/01/", day: "2025-06-01" },
    { ...line, msg: "deleted backup", dir: "pg/2025/06/05/", day: "2025-06-05" },
    {
      ...line,
      msg: "prune OK",
      deleted: 3,
      would_delete: 0,
      kept: 2,
      retention_days: 14,
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
  const deleted = await prune(store, "pg", 14, NOW, false, log);
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
    newest: "pg/2025/04/02/",
    newest_drilled: "pg/2025/04/01/",
  });
});

Deno.test("prune() with dryRun deletes nothing and returns what it would delete", async () => {
  const store = new MemoryStore();
  fiveBackups(store);
  const before = store.keys();
  const { log, lines } = capture();
  const wouldDelete = await prune(store, "pg", 14, NOW, true, log);
  assert.deepEqual(wouldDelete, ["pg/2025/05/30/", "pg/2025/06/01/", "pg/2025/06/05/"]);
  assert.deepEqual(store.keys(), before);
  assert.deepEqual(store.requests, [{ request: "list objects", key: "pg/" }]);
  const line = { ts: TS, level: "info", program: "backup", step: "prune" };
  assert.deepEqual(lines, [
    { ...line, msg: "would delete backup", dir: "pg/2025/05/30/", day: "2025-05-30" },
    { ...line, msg: "would delete backup", dir: "pg/2025/06/01/", day: "2025-06-01" },
    { ...line, msg: "would delete backup", dir: "pg/2025/06/05/", day: "2025-06-05" },
    {
      ...line,
      msg: "prune dry run OK",
      deleted: 0,
      would_delete: 3,
      kept: 2,
      retention_days: 14,
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
    prune(store, "pg", 14, NOW, false, log),
    new StoreError(
      "delete object s3://backups/pg/2025/05/30/full.sql.zst failed: access denied (AccessDenied)",
      "PRUNE and --prune-only need s3:DeleteObject on arn:aws:s3:::backups/pg/*: attach manifests/s3-policies/postgres-backup-prune.json to the backup's key, or leave PRUNE off and let a lifecycle rule expire old backups",
      "AccessDenied",
    ),
  );
});
