/**
 * Ranged reads, for seekable backups: `openDownload` with a byte range against the real Ceph
 * RGW, straight and through the fault relay (tests/harness/fault_relay.ts). Every byte read is
 * compared with the bytes the test generated and uploaded with the AWS CLI. S3_TIMEOUT_SECONDS
 * is 2, so a black hole costs seconds.
 *
 * | scenario                                 | fault                                   | expected                                                     |
 * | ---------------------------------------- | --------------------------------------- | ------------------------------------------------------------ |
 * | ranges read straight from RGW            | none                                    | the object's bytes of each range; one GET each, `Range` sent |
 * | a reset / black hole inside the range    | the GET cut / silent after 512 KiB      | the range's bytes; one resume from the next byte, If-Match   |
 * | a range that keeps failing               | cut once, then every resume reset       | one error naming the range, the bytes read and the attempts  |
 * | the object replaced during a ranged read | GET silent, object overwritten meantime | `the object was replaced while it was read`, ObjectChanged   |
 * | a range past the object's end            | none                                    | InvalidRange naming the object's size                        |
 * | an empty range                           | none                                    | an empty stream, no request                                  |
 */
import assert from "node:assert/strict";
import { StoreError } from "../lib/errors.ts";
import { createLog } from "../lib/log.ts";
import { openDownload } from "../lib/s3/download.ts";
import type { ByteRange } from "../lib/s3/object_store.ts";
import { retryPolicy } from "../lib/s3/retry.ts";
import { S3Store } from "../lib/s3/store.ts";
import { type FaultRelay, type RequestHead, startFaultRelay } from "./harness/fault_relay.ts";
import { type RgwServer, startRgw } from "./harness/rgw.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = "range-test";
const KEY = "postgresql-18/2025/06/01/full.sql.zst";
/** A range inside the object, away from both ends. */
const MIDDLE: ByteRange = { start: MiB + 7, end: 3 * MiB + 11 };

/** Random bytes: no pattern that a wrong offset could reproduce. */
function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65_536)));
  }
  return bytes;
}

/** Whether two byte arrays are equal, without printing megabytes when they are not. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A log that keeps its lines, parsed. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLog("test", { write: (l) => lines.push(JSON.parse(l)) }) };
}

/** An S3Store as lib/main.ts makes one: S3_RETRIES `retries`, S3_TIMEOUT_SECONDS 2. */
function storeAt(
  s3: RgwServer,
  endpoint: string,
  log: ReturnType<typeof createLog>,
  retries = 5,
): S3Store {
  return new S3Store({
    endpoint,
    region: s3.region,
    bucket: BUCKET,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
  }, { policy: retryPolicy(retries, 2), signal: new AbortController().signal, log });
}

/** The GETs of the test object the relay saw since `from`. */
function getsSince(relay: FaultRelay, from: number): RequestHead[] {
  return relay.seen.slice(from).filter((r) => r.method === "GET" && r.path.endsWith(KEY));
}

Deno.test("openDownload() with a range yields exactly those bytes of the object", async (t) => {
  await using s3 = await startRgw();
  await s3.createBucket(BUCKET);
  const object = randomBytes(4 * MiB + 321);
  const put = await s3.aws(["s3", "cp", "-", `s3://${BUCKET}/${KEY}`], object);
  assert.equal(put.code, 0, put.stderr);
  await using relay = startFaultRelay(s3.endpoint);
  const get = (r: RequestHead) => r.method === "GET" && r.path.endsWith(KEY);

  await t.step("ranges read straight from RGW are the object's bytes, one GET each", async () => {
    const { lines, log } = recordingLog();
    const store = storeAt(s3, relay.endpoint, log);
    const ranges: ByteRange[] = [
      { start: 0, end: object.length },
      { start: 0, end: 1 },
      MIDDLE,
      { start: object.length - 5, end: object.length },
    ];
    for (const range of ranges) {
      const from = relay.seen.length;
      const download = await openDownload(store, KEY, log, range);
      assert.equal(download.size, range.end - range.start);
      const read = new Uint8Array(await new Response(download.stream).arrayBuffer());
      assert.ok(
        sameBytes(read, object.subarray(range.start, range.end)),
        `bytes ${range.start}-${range.end - 1}: read ${read.length}`,
      );
      assert.equal(download.resumes(), 0);
      assert.deepEqual(
        getsSince(relay, from).map((r) => [r.headers.range, r.headers["if-match"]]),
        [[`bytes=${range.start}-${range.end - 1}`, undefined]],
      );
    }
    assert.deepEqual(lines, []);
  });

  for (
    const [what, kind] of [["reset", "reset"], ["black hole", "blackhole"]] as const
  ) {
    await t.step(
      `a ${what} inside the range resumes from the next byte of the range, pinned to the ETag`,
      async () => {
        const { lines, log } = recordingLog();
        const store = storeAt(s3, relay.endpoint, log);
        relay.clear();
        relay.inject({
          name: "cut",
          match: get,
          fault: { kind, direction: "response", afterBytes: 512 * KiB },
        });
        const from = relay.seen.length;
        const download = await openDownload(store, KEY, log, MIDDLE);
        const read = new Uint8Array(await new Response(download.stream).arrayBuffer());
        assert.equal(relay.hits("cut"), 1);
        assert.equal(read.length, MIDDLE.end - MIDDLE.start);
        assert.ok(sameBytes(read, object.subarray(MIDDLE.start, MIDDLE.end)));
        assert.equal(download.resumes(), 1);

        const broke = lines.find((l) => l.msg === "download broke off; resuming");
        const resumed = lines.find((l) => l.msg === "download resumed");
        assert.ok(broke && resumed, JSON.stringify(lines));
        // Offsets within the object; the object's whole size.
        const at = Number(broke.offset_bytes);
        assert.ok(at > MIDDLE.start && at < MIDDLE.start + 512 * KiB, `resumed at ${at}`);
        assert.deepEqual(
          { ...broke, ts: 0, cause: "", delay_ms: 0 },
          {
            ts: 0,
            level: "warn",
            program: "test",
            step: "s3",
            msg: "download broke off; resuming",
            request: "get object",
            key: KEY,
            offset_bytes: at,
            object_bytes: object.length,
            attempt: "2/6",
            cause: "",
            delay_ms: 0,
          },
        );
        assert.deepEqual(
          { ...resumed, ts: 0 },
          {
            ts: 0,
            level: "info",
            program: "test",
            step: "s3",
            msg: "download resumed",
            key: KEY,
            offset_bytes: at,
            object_bytes: object.length,
          },
        );
        assert.deepEqual(
          getsSince(relay, from).map((r) => [r.headers.range, r.headers["if-match"]]),
          [
            [`bytes=${MIDDLE.start}-${MIDDLE.end - 1}`, undefined],
            [`bytes=${at}-${MIDDLE.end - 1}`, `"${download.etag}"`],
          ],
        );
      },
    );
  }

  await t.step(
    "a range that keeps failing is one error naming the range and the bytes read",
    async () => {
      const { log } = recordingLog();
      const store = storeAt(s3, relay.endpoint, log, 2);
      relay.clear();
      relay.inject({
        name: "first",
        match: get,
        fault: { kind: "reset", direction: "response", afterBytes: 300 * KiB },
      });
      relay.inject({
        name: "then",
        match: get,
        fault: { kind: "reset", direction: "response", afterBytes: 0 },
        times: 100,
      });
      const download = await openDownload(store, KEY, log, MIDDLE);
      const err = await new Response(download.stream).arrayBuffer().then(
        () => assert.fail("the download ended without an error"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreError, String(err));
      assert.match(
        err.message,
        new RegExp(
          `^download s3://${BUCKET}/${KEY} bytes ${MIDDLE.start}-${
            MIDDLE.end - 1
          } failed after \\d+ of the range's ${
            MIDDLE.end - MIDDLE.start
          } bytes and 3 attempts over \\d+\\.\\d s at ${relay.endpoint}: `,
        ),
      );
      const read = Number(/after (\d+) of/.exec(err.message)?.[1]);
      assert.ok(read > 0 && read < 300 * KiB, `read ${read}`);
      assert.equal(
        err.hint,
        "check the S3 server and the network path to it (NetworkPolicy, MinIO's logs), then run the drill again; raise S3_TIMEOUT_SECONDS or S3_RETRIES for a slow or flaky link",
      );
      assert.equal(relay.hits("then"), 2);
    },
  );

  await t.step("an object replaced during a ranged read fails with ObjectChanged", async () => {
    const { log } = recordingLog();
    const store = storeAt(s3, relay.endpoint, log);
    relay.clear();
    relay.inject({
      name: "stall",
      match: get,
      fault: { kind: "blackhole", direction: "response", afterBytes: 256 * KiB },
    });
    try {
      const download = await openDownload(store, KEY, log, MIDDLE);
      // Another ETag under the key while the read waits on the old object (straight to RGW).
      await storeAt(s3, s3.endpoint, log).putSmall(KEY, "not the backup you were reading", "x/y");
      const err = await new Response(download.stream).arrayBuffer().then(
        () => assert.fail("the download ended without an error"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreError, String(err));
      assert.equal(err.code, "ObjectChanged");
      assert.match(
        err.message,
        new RegExp(
          `^download s3://${BUCKET}/${KEY} bytes ${MIDDLE.start}-${
            MIDDLE.end - 1
          } failed: the object was replaced while it was read \\(its ETag is no longer ${download.etag}; \\d+ of the range's ${
            MIDDLE.end - MIDDLE.start
          } bytes read\\)$`,
        ),
      );
      assert.equal(
        err.hint,
        "a new object was written under this key during the drill; run the drill again",
      );
    } finally {
      const back = await s3.aws(["s3", "cp", "-", `s3://${BUCKET}/${KEY}`], object);
      assert.equal(back.code, 0, back.stderr);
    }
  });

  await t.step(
    "a range past the object's end fails with InvalidRange naming its size",
    async () => {
      const { log } = recordingLog();
      const store = storeAt(s3, relay.endpoint, log);
      relay.clear();
      const range = { start: object.length - 10, end: object.length + 10 };
      await assert.rejects(
        openDownload(store, KEY, log, range),
        (err: unknown) => {
          assert.ok(err instanceof StoreError, String(err));
          assert.equal(
            err.message,
            `download s3://${BUCKET}/${KEY} bytes ${range.start}-${
              range.end - 1
            } failed: the object has only ${object.length} bytes`,
          );
          assert.equal(err.code, "InvalidRange");
          return true;
        },
      );
    },
  );

  await t.step("an empty range yields nothing and sends no request", async () => {
    const { log } = recordingLog();
    const store = storeAt(s3, relay.endpoint, log);
    const from = relay.seen.length;
    const download = await openDownload(store, KEY, log, { start: MiB, end: MiB });
    assert.equal(download.size, 0);
    assert.deepEqual(await Array.fromAsync(download.stream), []);
    assert.deepEqual(relay.seen.slice(from), []);
  });
});
