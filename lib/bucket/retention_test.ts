import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { createLog } from "../log.ts";
import { removeStaleLeftovers } from "./retention.ts";

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

Deno.test("removeStaleLeftovers() removes .tmp/ objects and incomplete uploads older than the hours given", async () => {
  let clock = new Date("2025-06-18T01:10:00Z");
  const store = new MemoryStore({ now: () => clock });
  const old = new Date("2025-06-18T01:05:00Z");
  const young = new Date("2025-06-20T11:30:00Z");
  store.put("pg/.tmp/20250618T010000Z-aaaaaaaa/full.sql.zst.seg-0001", "x", { lastModified: old });
  store.put("pg/.tmp/20250618T010000Z-aaaaaaaa/manifest.json", "x", { lastModified: old });
  store.put("pg/.tmp/20250620T110000Z-bbbbbbbb/full.sql.zst.seg-0001", "x", {
    lastModified: young,
  });
  store.put("pg/2025/06/01/full.sql.zst", "x", { lastModified: old });
  await store.createMultipart("pg/.tmp/20250618T010000Z-aaaaaaaa/full.sql.zst.seg-0002", "x");
  // A run killed while joining its segments leaves an upload on the final key.
  await store.createMultipart("pg/2025/06/18/full.sql.zst", "x");
  await store.createMultipart("other/2025/06/18/full.sql.zst", "x");
  clock = new Date("2025-06-20T11:45:00Z");
  await store.createMultipart("pg/.tmp/20250620T110000Z-bbbbbbbb/full.sql.zst.seg-0002", "x");

  const { log, lines } = capture();
  assert.deepEqual(await removeStaleLeftovers(store, "pg", 24, NOW, log), {
    objects: 2,
    uploads: 2,
  });
  assert.deepEqual(store.keys(), [
    "pg/.tmp/20250620T110000Z-bbbbbbbb/full.sql.zst.seg-0001",
    "pg/2025/06/01/full.sql.zst",
  ]);
  assert.deepEqual(store.openUploads().map((u) => u.key), [
    "other/2025/06/18/full.sql.zst",
    "pg/.tmp/20250620T110000Z-bbbbbbbb/full.sql.zst.seg-0002",
  ]);
  assert.deepEqual(lines, [{
    ts: TS,
    level: "info",
    program: "backup",
    step: "cleanup",
    msg: "removed leftovers of earlier runs",
    objects: [
      "pg/.tmp/20250618T010000Z-aaaaaaaa/full.sql.zst.seg-0001",
      "pg/.tmp/20250618T010000Z-aaaaaaaa/manifest.json",
    ],
    uploads: [
      "pg/.tmp/20250618T010000Z-aaaaaaaa/full.sql.zst.seg-0002",
      "pg/2025/06/18/full.sql.zst",
    ],
    older_than_hours: 24,
  }]);
});

Deno.test("removeStaleLeftovers() that cannot list warns and removes nothing", async () => {
  const store = new MemoryStore();
  store.put("pg/.tmp/20250618T010000Z-aaaaaaaa/manifest.json", "x", {
    lastModified: new Date("2025-06-18T01:05:00Z"),
  });
  store.failNext("list objects", "pg/.tmp/", { code: "AccessDenied" });
  const { log, lines } = capture();
  assert.deepEqual(await removeStaleLeftovers(store, "pg", 24, NOW, log), {
    objects: 0,
    uploads: 0,
  });
  assert.deepEqual(store.keys(), ["pg/.tmp/20250618T010000Z-aaaaaaaa/manifest.json"]);
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.error]), [[
    "warn",
    "could not remove leftovers of earlier runs",
    "list objects s3://backups/pg/.tmp/ failed: access denied (AccessDenied)",
  ]]);
});
