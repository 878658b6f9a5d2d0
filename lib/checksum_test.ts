import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ChecksumStream, DATA_FILE_NAME, parseSha256Line, sha256Line } from "./checksum.ts";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

async function pass(stream: ChecksumStream, chunks: Uint8Array[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  await ReadableStream.from(chunks).pipeThrough(stream).pipeTo(
    new WritableStream({ write: (chunk) => void out.push(chunk) }),
  );
  return out;
}

Deno.test("ChecksumStream digest equals node:crypto of the whole, whatever the chunks", async () => {
  const data = new Uint8Array(100_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) % 251;
  const whole = createHash("sha256").update(data).digest("hex");
  for (const size of [1_000, 4_096, 65_536, data.length]) {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
    const sum = new ChecksumStream();
    await pass(sum, chunks);
    assert.equal(sum.hex(), whole, `chunks of ${size}`);
    assert.equal(sum.bytes, data.length);
  }
});

Deno.test("ChecksumStream passes chunks on unchanged and counts bytes", async () => {
  const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4, 5])];
  const sum = new ChecksumStream();
  const out = await pass(sum, chunks);
  assert.deepEqual(out, chunks);
  assert.equal(sum.bytes, 5);
});

Deno.test("ChecksumStream of nothing is the sha256 of the empty string", async () => {
  const sum = new ChecksumStream();
  await pass(sum, []);
  assert.equal(sum.bytes, 0);
  assert.equal(sum.hex(), EMPTY_SHA256);
  assert.equal(sum.hex(), EMPTY_SHA256, "hex() may be called again");
});

Deno.test("sha256Line() writes `<hex>  full.sql.zst` and a newline", () => {
  assert.equal(DATA_FILE_NAME, "full.sql.zst");
  assert.equal(sha256Line(EMPTY_SHA256), `${EMPTY_SHA256}  full.sql.zst\n`);
  assert.equal(sha256Line(EMPTY_SHA256, "x.zst"), `${EMPTY_SHA256}  x.zst\n`);
});

Deno.test("parseSha256Line() accepts sha256sum output and its own line", () => {
  const upper = EMPTY_SHA256.toUpperCase();
  for (
    const text of [
      sha256Line(EMPTY_SHA256),
      `${EMPTY_SHA256} *full.sql.zst\n`,
      `${EMPTY_SHA256}  -\n`,
      `${EMPTY_SHA256}\n`,
      `  ${upper}  full.sql.zst\r\n`,
      `${EMPTY_SHA256}  name with spaces.zst`,
    ]
  ) {
    assert.equal(parseSha256Line(text), EMPTY_SHA256, JSON.stringify(text));
  }
});

Deno.test("parseSha256Line() rejects garbage", () => {
  for (
    const text of [
      "",
      "not a checksum",
      EMPTY_SHA256.slice(1),
      EMPTY_SHA256 + "0",
      EMPTY_SHA256.replace("e", "g"),
      `sha256:${EMPTY_SHA256}`,
      `${EMPTY_SHA256}  a\n${EMPTY_SHA256}  b\n`,
      "<Error><Code>NoSuchKey</Code></Error>",
    ]
  ) {
    assert.equal(parseSha256Line(text), undefined, JSON.stringify(text));
  }
});
