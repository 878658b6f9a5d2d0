import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { findNewestBackup } from "./find.ts";
import { DATA_FILES, FILES } from "./keys.ts";

const AT = new Date("2025-06-01T01:00:00Z");

/** Seeds a backup folder: data object, `.sha256` and, unless told otherwise, manifest.json. */
function seed(
  store: MemoryStore,
  dir: string,
  options: { encrypted?: boolean; sha256?: boolean; manifest?: boolean; at?: Date } = {},
): void {
  const files = DATA_FILES[options.encrypted ? 1 : 0]!;
  const lastModified = options.at ?? AT;
  store.put(dir + files.data, "data", { lastModified });
  if (options.sha256 ?? true) {
    store.put(dir + files.sha256, `${"0".repeat(64)}  ${files.data}\n`, { lastModified });
  }
  if (options.manifest ?? true) store.put(dir + FILES.manifest, "{}\n", { lastModified });
}

Deno.test("findNewestBackup() finds the newest day across years and months with four list requests", async () => {
  const store = new MemoryStore();
  for (const day of ["2023/12/31", "2024/06/15", "2025/01/31", "2025/02/03", "2025/02/10"]) {
    seed(store, `pg/${day}/`);
  }
  const found = await findNewestBackup(store, "pg");
  assert.deepEqual(found, {
    dir: "pg/2025/02/10/",
    data: { key: "pg/2025/02/10/full.sql.zst", size: 4, lastModified: AT },
    alsoThere: undefined,
    hasManifest: true,
    listRequests: 4,
  });
  assert.deepEqual(store.requests, [
    { request: "list objects", key: "pg/" },
    { request: "list objects", key: "pg/2025/" },
    { request: "list objects", key: "pg/2025/02/" },
    { request: "list objects", key: "pg/2025/02/10/" },
  ]);
});

Deno.test("findNewestBackup() skips a folder whose data object has no .sha256", async () => {
  const store = new MemoryStore();
  seed(store, "pg/2025/02/28/");
  // The newest run died after the data copy; another folder holds only a stray .sha256.
  seed(store, "pg/2025/03/01/", { sha256: false, manifest: false });
  store.put("pg/2025/03/02/full.sql.zst.sha256", `${"0".repeat(64)}  full.sql.zst\n`);
  const found = await findNewestBackup(store, "pg/");
  assert.equal(found?.dir, "pg/2025/02/28/");
  assert.equal(found?.listRequests, 7);
});

Deno.test("findNewestBackup() takes the newer of a plain and an encrypted backup in one folder and names the other", async () => {
  const earlier = new Date("2025-06-01T01:00:00Z");
  const later = new Date("2025-06-01T05:00:00Z");
  for (const encryptedLast of [true, false]) {
    const store = new MemoryStore();
    seed(store, "pg/2025/06/01/", { encrypted: !encryptedLast, at: earlier });
    seed(store, "pg/2025/06/01/", { encrypted: encryptedLast, at: later });
    const plain = "pg/2025/06/01/full.sql.zst";
    const encrypted = "pg/2025/06/01/full.sql.zst.age";
    const found = await findNewestBackup(store, "pg");
    assert.deepEqual(
      { data: found?.data, alsoThere: found?.alsoThere },
      {
        data: { key: encryptedLast ? encrypted : plain, size: 4, lastModified: later },
        alsoThere: { key: encryptedLast ? plain : encrypted, size: 4, lastModified: earlier },
      },
    );
  }
});

Deno.test("findNewestBackup() with before excludes that folder and every later one", async () => {
  const store = new MemoryStore();
  for (const day of ["2025/01/31", "2025/02/01", "2025/02/02", "2025/02/03"]) {
    seed(store, `pg/${day}/`);
  }
  assert.equal(
    (await findNewestBackup(store, "pg", { before: "pg/2025/02/02/" }))?.dir,
    "pg/2025/02/01/",
  );
  assert.equal(
    (await findNewestBackup(store, "pg", { before: "pg/2025/02/01/" }))?.dir,
    "pg/2025/01/31/",
  );
  assert.equal(await findNewestBackup(store, "pg", { before: "pg/2025/01/31/" }), undefined);
});

Deno.test("findNewestBackup() with needManifest skips folders without manifest.json", async () => {
  const store = new MemoryStore();
  seed(store, "pg/2025/06/01/");
  seed(store, "pg/2025/06/02/", { manifest: false });
  const any = await findNewestBackup(store, "pg");
  assert.deepEqual([any?.dir, any?.hasManifest], ["pg/2025/06/02/", false]);
  const whole = await findNewestBackup(store, "pg", { needManifest: true });
  assert.deepEqual([whole?.dir, whole?.hasManifest], ["pg/2025/06/01/", true]);
});

Deno.test("findNewestBackup() returns undefined when nothing is under the prefix", async () => {
  const store = new MemoryStore();
  seed(store, "other/2025/06/01/");
  assert.equal(await findNewestBackup(store, "pg"), undefined);
  assert.deepEqual(store.requests, [{ request: "list objects", key: "pg/" }]);
});

Deno.test("findNewestBackup() works at the bucket root with an empty prefix", async () => {
  const store = new MemoryStore();
  seed(store, "2025/06/01/");
  assert.equal((await findNewestBackup(store, ""))?.dir, "2025/06/01/");
});

Deno.test("findNewestBackup() ignores folders that are not dates", async () => {
  const store = new MemoryStore();
  seed(store, "pg/2025/06/01/");
  // Each of these sorts after the real backup and holds a complete-looking one.
  for (
    const dir of [
      "pg/latest/06/01/",
      "pg/20250/06/01/",
      "pg/2025/6/01/",
      "pg/2025/june/01/",
      "pg/2025/06/1/",
      "pg/2025/06/xx/",
    ]
  ) {
    seed(store, dir);
  }
  seed(store, "pg/.tmp/20250601T010000Z-0a1b2c3d/");
  const found = await findNewestBackup(store, "pg");
  assert.equal(found?.dir, "pg/2025/06/01/");
  assert.equal(found?.listRequests, 4);
});
