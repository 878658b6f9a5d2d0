import assert from "node:assert/strict";
import { mapLimited } from "./limit.ts";

Deno.test("mapLimited() keeps the order and never runs more than the limit at once", async () => {
  let running = 0;
  let most = 0;
  const out = await mapLimited([5, 1, 4, 2, 3, 0], 2, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, n));
    running--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
  assert.equal(most, 2);
  assert.deepEqual(await mapLimited([], 8, () => Promise.resolve(1)), []);
});

Deno.test("mapLimited() rejects with the first failure and starts nothing after it", async () => {
  const started: number[] = [];
  await assert.rejects(
    mapLimited([1, 2, 3, 4], 1, (n) => {
      started.push(n);
      return n === 2 ? Promise.reject(new Error("two")) : Promise.resolve(n);
    }),
    new Error("two"),
  );
  assert.deepEqual(started, [1, 2]);
});
