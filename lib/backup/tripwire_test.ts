import assert from "node:assert/strict";
import type { DumpCounts } from "../dump/stream.ts";
import { shrunkTables } from "./tripwire.ts";

const counts = (tables: Record<string, number>, db = "app"): DumpCounts => ({
  [db]: { tables, largeObjects: 0 },
});

Deno.test("shrunkTables() names a table that lost more than the limit, with both counts", () => {
  assert.deepEqual(
    shrunkTables(counts({ "public.orders": 1000 }), counts({ "public.orders": 499 }), 50),
    [
      {
        database: "app",
        table: "public.orders",
        rowsBefore: 1000,
        rowsAfter: 499,
        disappeared: false,
      },
    ],
  );
});

Deno.test("shrunkTables() keeps quiet at exactly the limit and below it", () => {
  assert.deepEqual(shrunkTables(counts({ t: 1000 }), counts({ t: 500 }), 50), []);
  assert.deepEqual(shrunkTables(counts({ t: 1000 }), counts({ t: 999 }), 50), []);
  assert.deepEqual(shrunkTables(counts({ t: 3 }), counts({ t: 2 }), 50), []);
});

Deno.test("shrunkTables() names a table that disappeared, even an empty one", () => {
  assert.deepEqual(
    shrunkTables(counts({ "public.gone": 0, "public.kept": 5 }), counts({ "public.kept": 5 }), 50),
    [
      { database: "app", table: "public.gone", rowsBefore: 0, rowsAfter: 0, disappeared: true },
    ],
  );
});

Deno.test("shrunkTables() names every table of a database that disappeared", () => {
  const before: DumpCounts = {
    ...counts({ "public.a": 1, "public.b": 2 }, "shop"),
    ...counts({ "public.t": 7 }),
  };
  assert.deepEqual(shrunkTables(before, counts({ "public.t": 7 }), 50), [
    { database: "shop", table: "public.a", rowsBefore: 1, rowsAfter: 0, disappeared: true },
    { database: "shop", table: "public.b", rowsBefore: 2, rowsAfter: 0, disappeared: true },
  ]);
});

Deno.test("shrunkTables() ignores growth, new tables and new databases", () => {
  const after: DumpCounts = { ...counts({ t: 5000, "public.new": 1 }), ...counts({ x: 1 }, "new") };
  assert.deepEqual(shrunkTables(counts({ t: 10 }), after, 50), []);
});

Deno.test("shrunkTables() with 0 warns on any loss; with 100 only on tables that disappeared", () => {
  assert.equal(shrunkTables(counts({ t: 1000 }), counts({ t: 999 }), 0).length, 1);
  assert.equal(shrunkTables(counts({ t: 1000 }), counts({ t: 0 }), 100).length, 0);
  assert.equal(shrunkTables(counts({ t: 1000 }), counts({}), 100).length, 1);
});

Deno.test("shrunkTables() keeps the order of the previous backup and exact counts past 2^31", () => {
  const big = 5_000_000_000;
  const shrunk = shrunkTables(counts({ b: big, a: big }), counts({ b: 1, a: big - 1 }), 50);
  assert.deepEqual(shrunk.map((s) => [s.table, s.rowsBefore, s.rowsAfter]), [["b", big, 1]]);
});
