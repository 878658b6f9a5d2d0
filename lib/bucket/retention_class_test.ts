import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { DATA_FILES } from "./keys.ts";
import {
  chooseRetentionClass,
  classFor,
  classTags,
  keepDays,
  type RetentionClass,
} from "./retention_class.ts";

/** Seeds a backup of `day` (YYYY-MM-DD) under `pg/`: complete unless told otherwise. */
function seed(store: MemoryStore, day: string, complete = true, encrypted = false): void {
  const dir = `pg/${day.replaceAll("-", "/")}/`;
  const files = DATA_FILES[encrypted ? 1 : 0]!;
  store.put(dir + files.data, "data");
  if (complete) store.put(dir + files.sha256, `${"0".repeat(64)}  ${files.data}\n`);
}

/** The class of each day's backup when a backup is taken every one of `days`, in order. */
function classesOf(days: readonly string[]): Record<string, RetentionClass> {
  const taken: string[] = [];
  const out: Record<string, RetentionClass> = {};
  for (const day of days) {
    out[day] = classFor(day, taken).class;
    taken.push(day);
  }
  return out;
}

Deno.test("classFor(): the first backup of a month is monthly, the first of an ISO week weekly, the rest daily", () => {
  assert.deepEqual(
    classesOf([
      "2026-11-27", // Friday
      "2026-11-28",
      "2026-11-29", // Sunday
      "2026-11-30", // Monday: a new ISO week, same month
      "2026-12-01", // Tuesday: a new month, same ISO week
      "2026-12-02",
      "2026-12-07", // Monday
    ]),
    {
      "2026-11-27": "monthly",
      "2026-11-28": "daily",
      "2026-11-29": "daily",
      "2026-11-30": "weekly",
      "2026-12-01": "monthly",
      "2026-12-02": "daily",
      "2026-12-07": "weekly",
    },
  );
});

Deno.test("classFor() across an ISO week that spans two years (2026-12-28 to 2027-01-03)", () => {
  assert.deepEqual(
    classesOf(["2026-12-27", "2026-12-28", "2026-12-31", "2027-01-01", "2027-01-03", "2027-01-04"]),
    {
      "2026-12-27": "monthly",
      "2026-12-28": "weekly", // Monday of 2026-W53
      "2026-12-31": "daily",
      "2027-01-01": "monthly", // a new month, still 2026-W53
      "2027-01-03": "daily", // January has 01-01, and it is in the same ISO week
      "2027-01-04": "weekly", // 2027-W01
    },
  );
  const choice = classFor("2027-01-03", ["2026-12-28", "2026-12-31", "2027-01-01"]);
  assert.deepEqual(choice, {
    class: "daily",
    day: "2027-01-03",
    isoWeek: "2026-W53",
    earlierInMonth: "2027-01-01",
    earlierInWeek: "2027-01-01",
  });
});

Deno.test("classFor() ignores the day itself and later days: a re-run of the day keeps its class", () => {
  assert.equal(classFor("2026-11-02", ["2026-11-02"]).class, "monthly");
  assert.equal(classFor("2026-11-02", ["2026-11-02", "2026-11-03", "2026-11-20"]).class, "monthly");
  assert.equal(classFor("2026-11-10", ["2026-11-02", "2026-11-10"]).class, "weekly");
  // Gaps: the first backup after a silent week is that week's weekly.
  assert.equal(classFor("2026-11-20", ["2026-11-02"]).class, "weekly");
});

Deno.test("keepDays(): each class is kept at least as long as the one below it", () => {
  assert.deepEqual(keepDays(14, 0, 0), { daily: 14, weekly: 14, monthly: 14 });
  assert.deepEqual(keepDays(14, 8, 6), { daily: 14, weekly: 56, monthly: 186 });
  assert.deepEqual(keepDays(14, 8, 0), { daily: 14, weekly: 56, monthly: 56 });
  assert.deepEqual(keepDays(14, 1, 1), { daily: 14, weekly: 14, monthly: 31 });
  assert.deepEqual(keepDays(1, 4, 12), { daily: 1, weekly: 28, monthly: 372 });
});

Deno.test("classTags() is the tag retention-class=<class>", () => {
  assert.deepEqual(classTags("weekly"), { "retention-class": "weekly" });
});

Deno.test("chooseRetentionClass() lists only the backup's month and counts only complete backups", async () => {
  const store = new MemoryStore();
  seed(store, "2026-10-31");
  seed(store, "2026-11-24"); // Tuesday of 2026-W48
  seed(store, "2026-11-25", false); // died before its .sha256: not a backup
  seed(store, "2026-11-26", true, true); // encrypted, complete
  const at = (iso: string) => new Date(iso);
  assert.equal(
    (await chooseRetentionClass(store, "pg", at("2026-11-26T05:00:00Z"), "UTC")).class,
    "daily",
  );
  assert.deepEqual(store.requests, [{ request: "list objects", key: "pg/2026/11/" }]);
  // Friday: 11-24 and 11-26 are earlier in its week.
  assert.equal(
    (await chooseRetentionClass(store, "pg", at("2026-11-27T05:00:00Z"), "UTC")).class,
    "daily",
  );
  // Monday of 2026-W49.
  assert.equal(
    (await chooseRetentionClass(store, "pg", at("2026-11-30T05:00:00Z"), "UTC")).class,
    "weekly",
  );
  assert.equal(
    (await chooseRetentionClass(store, "pg", at("2026-12-01T05:00:00Z"), "UTC")).class,
    "monthly",
  );
  // The first backup of a month whose only other folder is incomplete.
  const fresh = new MemoryStore();
  seed(fresh, "2026-11-02", false);
  assert.equal(
    (await chooseRetentionClass(fresh, "pg", at("2026-11-03T05:00:00Z"), "UTC")).class,
    "monthly",
  );
});

Deno.test("chooseRetentionClass() takes the day in TZ: 2026-12-01T01:00Z in America/Sao_Paulo is 2026-11-30", async () => {
  const store = new MemoryStore();
  seed(store, "2026-11-28"); // Saturday of 2026-W48
  const at = new Date("2026-12-01T01:00:00Z");
  const saoPaulo = await chooseRetentionClass(store, "pg", at, "America/Sao_Paulo");
  assert.deepEqual(
    { class: saoPaulo.class, day: saoPaulo.day, isoWeek: saoPaulo.isoWeek },
    { class: "weekly", day: "2026-11-30", isoWeek: "2026-W49" },
  );
  const utc = await chooseRetentionClass(store, "pg", at, "UTC");
  assert.deepEqual({ class: utc.class, day: utc.day }, { class: "monthly", day: "2026-12-01" });
  assert.deepEqual(store.requests.map((r) => r.key), ["pg/2026/11/", "pg/2026/12/"]);
  // Tokyo's new year starts nine hours early.
  const tokyo = await chooseRetentionClass(
    store,
    "pg",
    new Date("2026-12-31T16:00:00Z"),
    "Asia/Tokyo",
  );
  assert.deepEqual({ class: tokyo.class, day: tokyo.day }, { class: "monthly", day: "2027-01-01" });
});
