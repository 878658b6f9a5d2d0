import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { StoreError } from "../errors.ts";
import { Staged } from "./staged.ts";
import { uploadSegments } from "./upload.ts";

const MiB = 1024 * 1024;
const TEMP_DIR = "pg/.tmp/20250601T010000Z-0a1b2c3d/";

function streamOf(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

const UPLOAD = { partBytes: 5 * MiB, segmentBytes: 5 * MiB } as const;

/** A staged object and an open upload, both recorded, as the stream step leaves them. */
async function stagedRun(store: MemoryStore): Promise<Staged> {
  const staged = new Staged();
  store.put(`${TEMP_DIR}full.sql.zst.seg-0001`, "segment one");
  staged.objects.add(`${TEMP_DIR}full.sql.zst.seg-0001`);
  const uploadId = await store.createMultipart(
    `${TEMP_DIR}full.sql.zst.seg-0002`,
    "application/zstd",
  );
  await store.uploadPart(`${TEMP_DIR}full.sql.zst.seg-0002`, uploadId, 1, new Uint8Array(10));
  staged.uploads.set(`${TEMP_DIR}full.sql.zst.seg-0002`, uploadId);
  store.put(`${TEMP_DIR}manifest.json`, "{}\n");
  staged.objects.add(`${TEMP_DIR}manifest.json`);
  return staged;
}

Deno.test("Staged.cleanUp() aborts the recorded uploads and deletes the recorded objects", async () => {
  const store = new MemoryStore();
  const staged = await stagedRun(store);
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left, { objects: [], uploads: [], error: undefined });
  assert.deepEqual(store.keys(), []);
  assert.deepEqual(store.openUploads(), []);
  assert.deepEqual([staged.objects.size, staged.uploads.size], [0, 0]);
});

Deno.test("Staged.cleanUp() still cleans up after the run was stopped by a signal", async () => {
  const stop = new AbortController();
  const store = new MemoryStore().withSignal(stop.signal);
  const staged = await stagedRun(store);
  stop.abort(new Error("stopped by SIGTERM"));
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left, { objects: [], uploads: [], error: undefined });
  assert.deepEqual(store.keys(), []);
  assert.deepEqual(store.openUploads(), []);
});

Deno.test("Staged.cleanUp() removes what a lost answer kept out of the record", async () => {
  const store = new MemoryStore();
  const staged = new Staged();
  // The segment was completed but the answer was lost: recorded as an open upload, not an object.
  store.failNext("complete multipart upload", () => true, { afterEffect: true });
  await assert.rejects(
    uploadSegments(store, `${TEMP_DIR}full.sql.zst`, streamOf("dump"), staged, UPLOAD),
  );
  // An upload was started but the answer was lost: never recorded at all.
  store.failNext("start multipart upload", () => true, { afterEffect: true });
  await assert.rejects(
    uploadSegments(store, `${TEMP_DIR}globals.sql.zst`, streamOf("dump"), staged, UPLOAD),
  );
  assert.deepEqual([...staged.objects], []);
  assert.deepEqual([...staged.uploads.keys()], [`${TEMP_DIR}full.sql.zst.seg-0001`]);
  assert.deepEqual(store.keys(), [`${TEMP_DIR}full.sql.zst.seg-0001`]);
  assert.deepEqual(store.openUploads().map((u) => u.key), [`${TEMP_DIR}globals.sql.zst.seg-0001`]);

  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left, { objects: [], uploads: [], error: undefined });
  assert.deepEqual(store.keys(), []);
  assert.deepEqual(store.openUploads(), []);
});

Deno.test("Staged.cleanUp() names a delete that failed in Leftovers and still removes the rest", async () => {
  const store = new MemoryStore();
  const staged = await stagedRun(store);
  store.failNext("delete object", `${TEMP_DIR}full.sql.zst.seg-0001`, { code: "AccessDenied" });
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual({ objects: left.objects, uploads: left.uploads }, {
    objects: [`${TEMP_DIR}full.sql.zst.seg-0001`],
    uploads: [],
  });
  assert.ok(left.error instanceof StoreError);
  assert.equal(
    left.error.message,
    `delete object s3://backups/${TEMP_DIR}full.sql.zst.seg-0001 failed: access denied (AccessDenied)`,
  );
  assert.deepEqual(store.keys(), [`${TEMP_DIR}full.sql.zst.seg-0001`]);
  assert.deepEqual(store.openUploads(), []);
  assert.deepEqual([...staged.objects], [`${TEMP_DIR}full.sql.zst.seg-0001`]);
});

Deno.test("Staged.cleanUp() gives the delete that failed as the reason, not a listing that failed too", async () => {
  const store = new MemoryStore();
  const staged = await stagedRun(store);
  store.failNext("list multipart uploads", TEMP_DIR, { code: "AccessDenied" });
  store.failNext("delete object", `${TEMP_DIR}full.sql.zst.seg-0001`, { code: "AccessDenied" });
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left.objects, [`${TEMP_DIR}full.sql.zst.seg-0001`]);
  assert.equal(
    (left.error as StoreError).message,
    `delete object s3://backups/${TEMP_DIR}full.sql.zst.seg-0001 failed: access denied (AccessDenied)`,
  );
  // With nothing else failing, the listing is the reason.
  store.failNext("list objects", TEMP_DIR, { code: "AccessDenied" });
  const again = await new Staged().cleanUp(store, TEMP_DIR);
  assert.equal(
    (again.error as StoreError).message,
    `list objects s3://backups/${TEMP_DIR} failed: access denied (AccessDenied)`,
  );
});

Deno.test("Staged.cleanUp() names an upload it could not abort in Leftovers", async () => {
  const store = new MemoryStore();
  const staged = await stagedRun(store);
  const key = `${TEMP_DIR}full.sql.zst.seg-0002`;
  store.failNext("abort multipart upload", key, { code: "AccessDenied", times: Infinity });
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual({ objects: left.objects, uploads: left.uploads }, {
    objects: [],
    uploads: [key],
  });
  assert.equal(
    (left.error as StoreError).message,
    `abort multipart upload s3://backups/${key} failed: access denied (AccessDenied)`,
  );
  assert.deepEqual(store.keys(), []);
  assert.deepEqual(store.openUploads().map((u) => u.key), [key]);
});

Deno.test("Staged.cleanUp() aborts an upload it recorded and also found once, and names nothing left", async () => {
  const store = new MemoryStore();
  const staged = new Staged();
  const key = `${TEMP_DIR}full.sql.zst.seg-0001`;
  staged.uploads.set(key, await store.createMultipart(key, "application/zstd"));
  store.requests.splice(0);
  // One abort fails; the upload is the same one the listing finds, so it is tried once.
  store.failNext("abort multipart upload", key, { code: "InternalError" });
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left.uploads, [key]);
  assert.equal(store.requests.filter((r) => r.request === "abort multipart upload").length, 1);
  // And when it works, nothing is named.
  const again = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual({ objects: again.objects, uploads: again.uploads }, {
    objects: [],
    uploads: [],
  });
  assert.deepEqual(store.openUploads(), []);
});

Deno.test("Staged.cleanUp() leaves other runs' folders and the backups alone", async () => {
  const store = new MemoryStore();
  const others = [
    "pg/.tmp/20250531T010000Z-ffffffff/full.sql.zst.seg-0001",
    "pg/.tmp/20250601T010000Z-0a1b2c3d-old/full.sql.zst.seg-0001",
    "pg/2025/05/31/full.sql.zst",
    "pg/2025/05/31/full.sql.zst.sha256",
    "pg/2025/05/31/manifest.json",
  ];
  for (const key of others) store.put(key, "other");
  const otherUpload = await store.createMultipart(
    "pg/.tmp/20250531T010000Z-ffffffff/full.sql.zst.seg-0002",
    "application/zstd",
  );
  const staged = await stagedRun(store);
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual(left, { objects: [], uploads: [], error: undefined });
  assert.deepEqual(store.keys(), [...others].sort());
  assert.deepEqual(store.openUploads().map((u) => u.uploadId), [otherUpload]);
});
