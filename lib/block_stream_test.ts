import assert from "node:assert/strict";
import { BlockStream } from "./block_stream.ts";

async function blocks(chunks: number[][], size: number): Promise<number[][]> {
  const out: number[][] = [];
  await ReadableStream.from(chunks.map((c) => new Uint8Array(c)))
    .pipeThrough(new BlockStream(size))
    .pipeTo(new WritableStream({ write: (b) => void out.push([...b]) }));
  return out;
}

Deno.test("BlockStream joins small chunks into blocks and flushes the rest", async () => {
  assert.deepEqual(await blocks([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 4), [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [9],
  ]);
});

Deno.test("BlockStream passes a large chunk through when nothing is pending", async () => {
  assert.deepEqual(await blocks([[1, 2, 3, 4, 5]], 4), [[1, 2, 3, 4, 5]]);
  assert.deepEqual(await blocks([[1], [2, 3, 4, 5, 6]], 4), [[1, 2, 3, 4], [5, 6]]);
});

Deno.test("BlockStream keeps every byte in order whatever the chunking", async () => {
  const data = Array.from({ length: 1000 }, (_, i) => i % 251);
  for (const piece of [1, 7, 64, 300, 1000]) {
    const chunks: number[][] = [];
    for (let i = 0; i < data.length; i += piece) chunks.push(data.slice(i, i + piece));
    for (const size of [1, 16, 333, 4096]) {
      assert.deepEqual((await blocks(chunks, size)).flat(), data, `piece ${piece}, block ${size}`);
    }
  }
});

Deno.test("BlockStream refuses a block size that is not a positive integer", () => {
  assert.throws(() => new BlockStream(0), RangeError);
});
