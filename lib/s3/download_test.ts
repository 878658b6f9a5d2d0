import assert from "node:assert/strict";
import { createLog } from "../log.ts";
import { openDownload } from "./download.ts";
import { retryPolicy } from "./retry.ts";
import { S3Store } from "./store.ts";

/** A store whose endpoint refuses connections, without retries: any request fails at once. */
function storeNowhere(): S3Store {
  const log = createLog("test", { write: () => {} });
  return new S3Store({
    endpoint: "http://127.0.0.1:9",
    region: "us-east-1",
    bucket: "nowhere",
    accessKey: "k",
    secretKey: "s",
  }, { policy: retryPolicy(0, 1), signal: new AbortController().signal, log });
}

Deno.test("openDownload() refuses a range that is not 0 <= start <= end, before any request", async () => {
  const log = createLog("test", { write: () => {} });
  for (
    const range of [
      { start: 5, end: 3 },
      { start: -1, end: 3 },
      { start: 0, end: 1.5 },
      { start: 0, end: Infinity },
    ]
  ) {
    await assert.rejects(
      openDownload(storeNowhere(), "k", log, range),
      (err: unknown) =>
        err instanceof RangeError &&
        err.message ===
          `cannot read bytes ${range.start} to ${range.end}: expected whole numbers with 0 <= start <= end`,
    );
  }
});

Deno.test("openDownload() yields nothing for an empty range and sends no request", async () => {
  const log = createLog("test", { write: () => {} });
  const download = await openDownload(storeNowhere(), "k", log, { start: 7, end: 7 });
  assert.equal(download.size, 0);
  assert.deepEqual(await Array.fromAsync(download.stream), []);
  assert.equal(download.resumes(), 0);
});
