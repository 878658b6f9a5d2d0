import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { findNewestBackup } from "../bucket/find.ts";
import { keysForDate } from "../bucket/keys.ts";
import { parseManifest } from "../bucket/manifest.ts";
import { StoreError } from "../errors.ts";
import { createLog } from "../log.ts";
import { Staged } from "../s3/staged.ts";
import { uploadSegments } from "../s3/upload.ts";
import { backupManifest, commitBackup, type Staging } from "./commit.ts";
import type { Streamed } from "./stream.ts";

const MiB = 1024 * 1024;
const STARTED = new Date("2025-06-01T01:00:00Z");
const FINISHED = new Date("2025-06-01T01:20:00Z");
const TEMP_DIR = "pg/.tmp/20250601T010000Z-0a1b2c3d/";
const RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/** Bytes that differ from offset to offset, so a misplaced part shows. */
function sampleData(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + (i >>> 11)) & 0xff;
  return bytes;
}

/** The bytes as a stream of 1 MiB chunks, as zstd would hand them over. */
function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + MiB));
      offset += MiB;
    },
  });
}

interface StagedRun {
  readonly staging: Staging;
  readonly streamed: Streamed;
  readonly recipients: readonly string[];
}

/** Stages `data` as the stream step does: uploadSegments() into the run's temp folder. */
async function stage(
  store: MemoryStore,
  data: Uint8Array,
  recipients: readonly string[] = [],
): Promise<StagedRun> {
  const keys = keysForDate("pg", STARTED, "UTC", recipients.length > 0);
  const staged = new Staged();
  const name = keys.data.slice(keys.dir.length);
  const result = await uploadSegments(store, TEMP_DIR + name, streamOf(data), staged, {
    partBytes: 5 * MiB,
    segmentBytes: 5 * MiB,
    tags: { "retention-class": "weekly" },
  });
  return {
    staging: { keys, tempDir: TEMP_DIR, staged },
    streamed: {
      segments: result.segments,
      compressedBytes: result.bytes,
      dumpBytes: 3 * data.length,
      sha256: createHash("sha256").update(data).digest("hex"),
      counts: { app: { tables: { "public.orders": 3 }, largeObjects: 0 } },
      sections: undefined,
    },
    recipients,
  };
}

function manifestOf({ staging, streamed, recipients }: StagedRun) {
  return backupManifest({
    keys: staging.keys,
    versions: { server: "18.1", pgDumpall: "18.1" },
    startedAt: STARTED,
    finishedAt: FINISHED,
    streamed,
    settings: {},
    recipients,
    retentionClass: "weekly",
    skipped: [{ name: "archive", reason: "does not allow connections" }],
  });
}

function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLog("backup", { write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

Deno.test("commitBackup() writes the data object as staged, with its sha256 and dump-bytes metadata", async () => {
  const store = new MemoryStore();
  const data = sampleData(5 * MiB + 1000);
  const run = await stage(store, data);
  assert.deepEqual(run.streamed.segments, [
    { key: `${TEMP_DIR}full.sql.zst.seg-0001`, bytes: 5 * MiB },
    { key: `${TEMP_DIR}full.sql.zst.seg-0002`, bytes: 1000 },
  ]);
  const manifest = manifestOf(run);
  const { log, lines } = capturedLog();
  await commitBackup(store, log, run.staging, run.streamed, manifest);

  const { keys } = run.staging;
  const sha256 = run.streamed.sha256;
  assert.deepEqual(store.keys("pg/2025/"), [keys.data, keys.sha256, keys.manifest]);
  const object = store.object(keys.data)!;
  assert.equal(object.bytes.length, data.length);
  assert.equal(createHash("sha256").update(object.bytes).digest("hex"), sha256);
  assert.deepEqual(object.metadata, { sha256, "dump-bytes": String(3 * data.length) });
  assert.equal(object.contentType, "application/zstd");
  assert.equal(store.text(keys.sha256), `${sha256}  full.sql.zst\n`);
  assert.deepEqual(parseManifest(store.text(keys.manifest)!), manifest);
  assert.deepEqual(lines.map((l) => l.msg), ["data object written", "sha256 and manifest written"]);
  assert.deepEqual(
    await findNewestBackup(store, "pg", { needManifest: true }).then((f) => f?.dir),
    keys.dir,
  );
});

Deno.test("commitBackup() writes nothing under the final keys before the data, and manifest.json last", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  store.requests.splice(0);
  await commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run));

  const { dir, data, sha256, manifest } = run.staging.keys;
  assert.deepEqual(store.requests.filter((r) => r.key.startsWith(dir)), [
    { request: "start multipart upload", key: data },
    { request: "copy part", key: data },
    { request: "copy part", key: data },
    { request: "complete multipart copy", key: data },
    { request: "stat object", key: data },
    { request: "copy object", key: sha256 },
    { request: "stat object", key: sha256 },
    { request: "copy object", key: manifest },
    { request: "stat object", key: manifest },
    // Then each final object gets its retention class, whatever the copies did with the tags.
    { request: "put object tagging", key: data },
    { request: "put object tagging", key: sha256 },
    { request: "put object tagging", key: manifest },
  ]);
  // Both small objects were staged before the first of them was copied to its final key.
  const writes = store.requests.filter((r) =>
    r.request === "put object" || r.request === "copy object"
  );
  assert.deepEqual(writes, [
    { request: "put object", key: `${TEMP_DIR}full.sql.zst.sha256` },
    { request: "put object", key: `${TEMP_DIR}manifest.json` },
    { request: "copy object", key: sha256 },
    { request: "copy object", key: manifest },
  ]);
});

Deno.test("commitBackup() whose manifest.json copy fails leaves no manifest.json and throws the copy's error", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(1000));
  const { keys } = run.staging;
  store.failNext("copy object", keys.manifest, { code: "InternalError" });
  await assert.rejects(
    commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run)),
    (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, "InternalError");
      assert.equal(
        err.message,
        "copy object s3://backups/pg/2025/06/01/manifest.json failed: the S3 server at memory://s3 kept failing: HTTP 500 InternalError",
      );
      return true;
    },
  );
  assert.deepEqual(store.keys(keys.dir), [keys.data, keys.sha256]);
  assert.equal(await findNewestBackup(store, "pg", { needManifest: true }), undefined);
});

Deno.test("commitBackup() whose staging of manifest.json fails touches no final key, and no copy runs on", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  const { keys } = run.staging;
  store.failNext("put object", `${TEMP_DIR}manifest.json`, { code: "AccessDenied" });
  await assert.rejects(
    commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run)),
    (err: unknown) => err instanceof StoreError && err.code === "AccessDenied",
  );
  // Settled: nothing is still copying into the final keys after the failure.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(store.keys(keys.dir), []);
  assert.ok(!store.requests.some((r) => r.key.startsWith(keys.dir)), "no request on a final key");
});

Deno.test("commitBackup() that fails after the data copy says the day's folder holds this run's data", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(1000));
  const { keys } = run.staging;
  store.failNext("copy object", keys.sha256, { code: "InternalError" });
  await assert.rejects(
    commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run)),
    (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.match(
        err.hint,
        /^pg\/2025\/06\/01\/full\.sql\.zst already holds this run's data, without its \.sha256 or manifest\.json; .*: until a backup of the day completes, a drill of pg\/2025\/06\/01\/ fails with sha256 mismatch or drills the day before$/,
      );
      return true;
    },
  );
  assert.deepEqual(store.keys(keys.dir), [keys.data]);
});

Deno.test("commitBackup() whose data copy fails writes no final key and aborts the multipart copy", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  const { keys } = run.staging;
  store.failNext("copy part", keys.data, { code: "SlowDown" });
  await assert.rejects(
    commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run)),
    (err: unknown) => err instanceof StoreError && err.code === "SlowDown",
  );
  assert.deepEqual(store.keys(keys.dir), []);
  assert.deepEqual(store.openUploads(), []);
});

Deno.test("commitBackup() of an encrypted backup writes full.sql.zst.age, its .sha256 and the manifest's encryption", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(1000), [RECIPIENT]);
  const manifest = manifestOf(run);
  await commitBackup(store, capturedLog().log, run.staging, run.streamed, manifest);

  const sha256 = run.streamed.sha256;
  assert.deepEqual(store.keys("pg/2025/"), [
    "pg/2025/06/01/full.sql.zst.age",
    "pg/2025/06/01/full.sql.zst.age.sha256",
    "pg/2025/06/01/manifest.json",
  ]);
  assert.equal(
    store.object("pg/2025/06/01/full.sql.zst.age")?.contentType,
    "application/octet-stream",
  );
  assert.equal(
    store.text("pg/2025/06/01/full.sql.zst.age.sha256"),
    `${sha256}  full.sql.zst.age\n`,
  );
  const written = parseManifest(store.text("pg/2025/06/01/manifest.json")!);
  assert.equal(written.key, "pg/2025/06/01/full.sql.zst.age");
  assert.deepEqual(written.encryption, { method: "age", recipients: [RECIPIENT] });
});

Deno.test("commitBackup() records what it staged, so Staged.cleanUp() leaves nothing under .tmp/", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  await commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run));
  const { staged, keys } = run.staging;
  assert.deepEqual([...staged.objects].sort(), [
    `${TEMP_DIR}full.sql.zst.seg-0001`,
    `${TEMP_DIR}full.sql.zst.seg-0002`,
    `${TEMP_DIR}full.sql.zst.sha256`,
    `${TEMP_DIR}manifest.json`,
  ]);

  // Listing finds nothing the record missed: only the record would have known of these.
  store.failNext("list objects", TEMP_DIR, { code: "AccessDenied" });
  store.failNext("list multipart uploads", TEMP_DIR, { code: "AccessDenied" });
  const left = await staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual({ objects: left.objects, uploads: left.uploads }, { objects: [], uploads: [] });
  // The failed listing is kept as the reason, should anything have been left.
  assert.equal((left.error as StoreError).code, "AccessDenied");
  assert.deepEqual(store.keys("pg/.tmp/"), []);
  assert.deepEqual(store.openUploads(), []);
  assert.deepEqual(store.keys(), [keys.data, keys.sha256, keys.manifest]);
});

Deno.test("commitBackup() that failed still leaves its staged objects to Staged.cleanUp()", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(1000));
  store.failNext("copy object", run.staging.keys.sha256, { code: "InternalError" });
  await assert.rejects(
    commitBackup(store, capturedLog().log, run.staging, run.streamed, manifestOf(run)),
  );
  store.failNext("list objects", TEMP_DIR, { code: "AccessDenied" });
  const left = await run.staging.staged.cleanUp(store, TEMP_DIR);
  assert.deepEqual({ objects: left.objects, uploads: left.uploads }, { objects: [], uploads: [] });
  assert.deepEqual(store.keys("pg/.tmp/"), []);
  assert.deepEqual(store.keys(), [run.staging.keys.data]);
});

Deno.test("commitBackup() tags every object, staged and final, with the manifest's retention class", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  const manifest = manifestOf(run);
  assert.equal(manifest.retention_class, "weekly");
  // A server that drops tags on a copy (RGW 16.2 with the metadata replaced): the staged
  // segments here carry none, so only the tagging after the copies can give the final ones theirs.
  for (const segment of run.streamed.segments) await store.setTags(segment.key, {});
  await commitBackup(store, capturedLog().log, run.staging, run.streamed, manifest);

  const weekly = { "retention-class": "weekly" };
  const { keys } = run.staging;
  for (const key of [keys.data, keys.sha256, keys.manifest]) {
    assert.deepEqual(store.tags(key), weekly, key);
  }
  for (const key of store.keys(TEMP_DIR).filter((k) => !k.includes(".seg-"))) {
    assert.deepEqual(store.tags(key), weekly, key);
  }
});

Deno.test("commitBackup() whose tagging is refused still completes the backup and warns, naming the permission", async () => {
  const store = new MemoryStore();
  const run = await stage(store, sampleData(5 * MiB + 1000));
  store.failNext("put object tagging", () => true, { code: "AccessDenied", times: Infinity });
  const { log, lines } = capturedLog();
  await commitBackup(store, log, run.staging, run.streamed, manifestOf(run));

  const { keys } = run.staging;
  assert.deepEqual(store.keys("pg/2025/"), [keys.data, keys.sha256, keys.manifest]);
  const warn = lines.find((l) => l.level === "warn")!;
  assert.deepEqual(
    { msg: warn.msg, retention_class: warn.retention_class, keys: warn.keys, error: warn.error },
    {
      msg: "could not tag the backup with its retention class",
      retention_class: "weekly",
      keys: [keys.data, keys.sha256, keys.manifest],
      error: `put object tagging s3://backups/${keys.data} failed: access denied (AccessDenied)`,
    },
  );
  assert.equal(
    warn.hint,
    `the backup is complete; until its objects carry retention-class=weekly, no lifecycle rule of backup-toolbox expires them (PRUNE still does): the key in AWS_ACCESS_KEY_ID (secret postgres-backup-s3-credentials) needs s3:PutObjectTagging on arn:aws:s3:::backups/${keys.data}: attach the matching policy from manifests/s3-policies/ (RUNBOOK.md "S3 keys and policies")`,
  );
});
