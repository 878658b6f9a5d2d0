import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { StoreError } from "../../lib/errors.ts";
import { multipartEtag } from "../../lib/s3/store.ts";
import { MemoryStore } from "./memory_store.ts";

const MiB = 1024 * 1024;

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Bytes 0, 1, …, 255, 0, 1, … */
function counting(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = i % 256;
  return bytes;
}

Deno.test("MemoryStore.read() yields only the range's bytes, with the object's etag and metadata", async () => {
  const store = new MemoryStore();
  const data = counting(200_000);
  store.put("p/k", data, { metadata: { SHA256: "abc" } });

  const whole = await store.read("p/k");
  assert.equal(whole.size, 200_000);
  assert.deepEqual(await readAll(whole.stream), data);

  const section = await store.read("p/k", { start: 70_000, end: 140_001 });
  assert.equal(section.size, 70_001);
  assert.equal(whole.etag, createHash("md5").update(data).digest("hex"));
  assert.equal(section.etag, whole.etag);
  assert.deepEqual(section.metadata, { sha256: "abc" });
  assert.equal(section.resumes(), 0);
  assert.deepEqual(await readAll(section.stream), data.slice(70_000, 140_001));

  const empty = await store.read("p/k", { start: 5, end: 5 });
  assert.deepEqual({ ...empty, stream: await readAll(empty.stream), resumes: empty.resumes() }, {
    stream: new Uint8Array(),
    size: 0,
    etag: "",
    metadata: {},
    resumes: 0,
  });
  assert.deepEqual(store.requests, [
    { request: "get object", key: "p/k" },
    { request: "get object", key: "p/k" },
  ]);
});

Deno.test("MemoryStore.read() of a missing key, or past the object's end, throws a StoreError", async () => {
  const store = new MemoryStore();
  store.put("p/k", "0123456789");
  await assert.rejects(store.read("p/missing"), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, "NoSuchKey");
    assert.equal(
      err.message,
      "get object s3://backups/p/missing failed: S3 error HTTP 404 NoSuchKey",
    );
    return true;
  });
  await assert.rejects(store.read("p/k", { start: 8, end: 12 }), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, "InvalidRange");
    assert.equal(
      err.message,
      "download s3://backups/p/k bytes 8-11 failed: the object has only 10 bytes",
    );
    return true;
  });
  await assert.rejects(
    store.read("p/k", { start: 3, end: 1 }),
    new RangeError("cannot read bytes 3 to 1: expected whole numbers with 0 <= start <= end"),
  );
  assert.equal(await store.getText("p/missing"), undefined);
  assert.equal(await store.stat("p/missing"), undefined);
});

Deno.test("MemoryStore.listFolders() gives the common prefixes under a prefix (delimiter /), sorted", async () => {
  const store = new MemoryStore();
  for (const key of ["p/b/c/d", "p/a/2", "p/a/1", "p/ab/x", "p/file", "q/x", "top"]) {
    store.put(key, "x");
  }
  assert.deepEqual(await store.listFolders("p/"), ["p/a/", "p/ab/", "p/b/"]);
  assert.deepEqual(await store.listFolders("p/a"), ["p/a/", "p/ab/"]);
  assert.deepEqual(await store.listFolders(""), ["p/", "q/"]);
  assert.deepEqual(await store.listFolders("p/b/c/"), []);
  assert.deepEqual((await store.listObjects("p/a/")).map((o) => o.key), ["p/a/1", "p/a/2"]);
});

Deno.test("MemoryStore.completeMultipart() checks the size and gives the multipart ETag", async () => {
  const store = new MemoryStore();
  const first = counting(5 * MiB);
  const last = counting(10);
  const id = await store.createMultipart("p/big", "application/zstd", { "Dump-Bytes": "7" });
  // Parts may come back in any order; completing sorts them.
  const e2 = await store.uploadPart("p/big", id, 2, last);
  const e1 = await store.uploadPart("p/big", id, 1, first);
  const stat = await store.completeMultipart("p/big", id, [
    { part: 2, etag: e2 },
    { part: 1, etag: e1 },
  ], 5 * MiB + 10);
  assert.equal(stat.etag, multipartEtag([e1, e2]));
  assert.deepEqual(stat.metadata, { "dump-bytes": "7" });
  assert.deepEqual(store.bytes("p/big")?.subarray(5 * MiB), last);
  assert.deepEqual(store.openUploads(), []);

  const other = await store.createMultipart("p/short", "application/zstd");
  const etag = await store.uploadPart("p/short", other, 1, counting(100));
  await assert.rejects(
    store.completeMultipart("p/short", other, [{ part: 1, etag }], 101),
    new StoreError(
      "complete multipart upload s3://backups/p/short could not be confirmed: the object has 100 bytes, expected 101",
      "check the S3 server's logs and free space, then run the job again",
      "SizeMismatch",
    ),
  );

  const small = await store.createMultipart("p/small", "application/zstd");
  const s1 = await store.uploadPart("p/small", small, 1, counting(100));
  const s2 = await store.uploadPart("p/small", small, 2, counting(100));
  await assert.rejects(
    store.completeMultipart("p/small", small, [{ part: 1, etag: s1 }, { part: 2, etag: s2 }], 200),
    (err: unknown) => err instanceof StoreError && err.code === "EntityTooSmall",
  );
});

Deno.test("MemoryStore.uploadPart() keeps a copy of the part, so the caller may reuse its buffer", async () => {
  const store = new MemoryStore();
  const buffer = new TextEncoder().encode("first");
  const id = await store.createMultipart("p/k", "text/plain");
  const etag = await store.uploadPart("p/k", id, 1, buffer);
  buffer.set(new TextEncoder().encode("XXXXX"));
  await store.completeMultipart("p/k", id, [{ part: 1, etag }], 5);
  assert.equal(store.text("p/k"), "first");
});

Deno.test("MemoryStore.failNext() fails the next matching request once, and requests records it", async () => {
  const store = new MemoryStore();
  store.put("p/a", "a");
  store.failNext("delete object", "p/b", { code: "AccessDenied" });
  await assert.rejects(store.remove(["p/a", "p/b", "p/c"]), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, "AccessDenied");
    assert.equal(
      err.message,
      "delete object s3://backups/p/b failed: access denied (AccessDenied)",
    );
    assert.match(err.hint, /needs s3:DeleteObject on arn:aws:s3:::backups\/p\/b/);
    return true;
  });
  assert.deepEqual(store.keys(), []);
  await store.remove(["p/b"]);
  assert.deepEqual(store.requests, [
    { request: "delete object", key: "p/a" },
    { request: "delete object", key: "p/b" },
    { request: "delete object", key: "p/c" },
    { request: "delete object", key: "p/b" },
  ]);
});

Deno.test("MemoryStore.forCleanup() works on the same data after the run's signal aborted", async () => {
  const stop = new AbortController();
  const store = new MemoryStore().withSignal(stop.signal);
  store.put("p/a", "a");
  stop.abort(new Error("stopped by SIGTERM"));
  await assert.rejects(store.stat("p/a"), new Error("stopped by SIGTERM"));
  await store.forCleanup().remove(["p/a"]);
  assert.deepEqual(store.keys(), []);
  assert.deepEqual(store.requests, [{ request: "delete object", key: "p/a" }]);
});

Deno.test("MemoryStore.copy() replaces the metadata and checks the size", async () => {
  const store = new MemoryStore();
  store.put("p/src", "hello", { metadata: { old: "1" } });
  const stat = await store.copy("p/src", "p/dst", { New: "2" }, "text/plain", 5);
  assert.deepEqual(stat.metadata, { new: "2" });
  assert.equal(store.object("p/dst")?.contentType, "text/plain");
  await assert.rejects(
    store.copy("p/src", "p/dst2", {}, "text/plain", 6),
    (err: unknown) => err instanceof StoreError && err.code === "SizeMismatch",
  );
  await assert.rejects(
    store.copy("p/missing", "p/dst3", {}, "text/plain", 1),
    (err: unknown) =>
      err instanceof StoreError && err.code === "NoSuchKey" &&
      err.message === "copy object s3://backups/p/dst3 failed: S3 error HTTP 404 NoSuchKey",
  );
});

Deno.test("MemoryStore keeps tags as S3 does: a put or an upload stores them, a copy keeps its source's, setTags replaces them", async () => {
  const store = new MemoryStore();
  const daily = { "retention-class": "daily" };
  await store.putSmall("p/small", "x", "text/plain", daily);
  assert.deepEqual(store.tags("p/small"), daily);
  await store.copy("p/small", "p/copy", { sha256: "abc" }, "text/plain", 1);
  assert.deepEqual(store.tags("p/copy"), daily, "a copy keeps its source's tags");
  await store.setTags("p/copy", { "retention-class": "monthly" });
  assert.deepEqual(store.tags("p/copy"), { "retention-class": "monthly" });
  assert.deepEqual(store.tags("p/small"), daily);

  const segment = new Uint8Array(5 * MiB).fill(1);
  for (const key of ["p/seg-1", "p/seg-2"]) {
    const id = await store.createMultipart(key, "application/zstd", {}, daily);
    const etag = await store.uploadPart(key, id, 1, segment);
    await store.completeMultipart(key, id, [{ part: 1, etag }], segment.length);
    assert.deepEqual(store.tags(key), daily);
  }
  const weekly = { "retention-class": "weekly" };
  await store.compose(
    "p/joined",
    [{ key: "p/seg-1", bytes: segment.length }, { key: "p/seg-2", bytes: segment.length }],
    {},
    "application/zstd",
    weekly,
  );
  assert.deepEqual(store.tags("p/joined"), weekly, "a multi-segment join takes the tags given");
  await store.compose("p/one", [{ key: "p/seg-1", bytes: segment.length }], {}, "x", weekly);
  assert.deepEqual(store.tags("p/one"), daily, "a single segment is a copy: its source's tags");
  assert.equal(store.tags("p/missing"), undefined);
  await assert.rejects(store.setTags("p/missing", daily), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, "NoSuchKey");
    return true;
  });
});

Deno.test("MemoryStore.putRetentionRules() replaces rules by id, removes those named, keeps the others", async () => {
  const store = new MemoryStore();
  const other = { id: "other", prefix: "x/", expireDays: 3, abortIncompleteDays: undefined };
  store.rules = [
    other,
    { id: "old", prefix: "p/", expireDays: 14, abortIncompleteDays: 1 },
    { id: "p-daily", prefix: "p/", expireDays: 9, abortIncompleteDays: undefined },
  ];
  const daily = {
    id: "p-daily",
    prefix: "p/",
    tags: { "retention-class": "daily" },
    expireDays: 14,
    abortIncompleteDays: undefined,
  };
  await store.putRetentionRules([daily], ["old"]);
  assert.deepEqual(store.rules, [other, daily]);
  assert.deepEqual(store.requests.map((r) => r.request), [
    "get bucket lifecycle",
    "set bucket lifecycle",
  ]);
});
