import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { DRILL_SETTINGS } from "../config.ts";
import { ChecksumMismatchError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { ProgramContext } from "../program.ts";
import { RestoreRun } from "../restore/run.ts";
import { parseSettings } from "../settings.ts";
import { checkOlderBackups } from "./older.ts";

const ENV = {
  S3_ENDPOINT: "http://127.0.0.1:9000",
  S3_PREFIX: "pg",
  AWS_ACCESS_KEY_ID: "drill",
  AWS_SECRET_ACCESS_KEY: "drill-secret",
};

/** A drill run on the store, at `now`, with CHECK_OLDER=`checkOlder`. */
function drillRun(store: MemoryStore, now: Date, checkOlder = 1) {
  const parsed = parseSettings(DRILL_SETTINGS, [], { ...ENV, CHECK_OLDER: String(checkOlder) });
  assert.equal(parsed.kind, "run");
  const lines: Record<string, unknown>[] = [];
  const ctx: ProgramContext = {
    log: createLog("restore-drill", { write: (l) => lines.push(JSON.parse(l)) }),
    store,
    signal: new AbortController().signal,
    childEnv: {},
    now: () => now,
  };
  return {
    run: new RestoreRun("drill", parsed.kind === "run" ? parsed.config : undefined!, ctx),
    lines,
  };
}

/** A complete backup of 2026-11-`day` whose `.sha256` matches its bytes. */
function seed(store: MemoryStore, day: string): string {
  const dir = `pg/2026/11/${day}/`;
  const data = `the dump of 2026-11-${day}`;
  store.put(dir + "full.sql.zst", data);
  const hex = createHash("sha256").update(data).digest("hex");
  store.put(dir + "full.sql.zst.sha256", `${hex}  full.sql.zst\n`);
  return dir + "full.sql.zst";
}

/** What a drill of `drilled` stores: result OK and the older checks it made. */
async function drill(store: MemoryStore, drilled: string, at: string, checkOlder = 1) {
  const { run, lines } = drillRun(store, new Date(at), checkOlder);
  const older = await checkOlderBackups(run, drilled);
  store.put(
    drilled.replace(/full\.sql\.zst$/, "drill-report.json"),
    JSON.stringify({
      result: "OK",
      drilled_at: at,
      backup: { key: drilled },
      older_backups: older.checks,
    }),
  );
  return { older, lines };
}

Deno.test("checkOlderBackups() takes the older backups in turn: never checked first, then the longest ago, ties oldest first", async () => {
  const store = new MemoryStore();
  const keys = ["01", "02", "03", "04"].map((d) => seed(store, d));
  const newest = keys[3]!;
  const checked: string[] = [];
  for (const day of ["05", "12", "19", "26"]) {
    const at = `2026-11-${day}T06:00:00.000Z`;
    // The same newest backup each time (no new backup came): its report is rewritten by each
    // drill, and keeps what the earlier ones found.
    const { older } = await drill(store, newest, at);
    assert.equal(older.failure, undefined);
    const now = older.checks.filter((c) => c.checked_at === at);
    assert.equal(now.length, 1, at);
    checked.push(...now.map((c) => `${c.key.slice(11, 13)} ${c.result}`));
  }
  // Three older backups, four weekly drills: every one, then the first again.
  assert.deepEqual(checked, ["01 OK", "02 OK", "03 OK", "01 OK"]);
  const report = JSON.parse(store.text("pg/2026/11/04/drill-report.json")!);
  assert.deepEqual(
    report.older_backups.map((c: { key: string; checked_at: string }) => [c.key, c.checked_at]),
    [
      [keys[0], "2026-11-26T06:00:00.000Z"],
      [keys[2], "2026-11-19T06:00:00.000Z"],
      [keys[1], "2026-11-12T06:00:00.000Z"],
    ],
  );
});

Deno.test("checkOlderBackups() rotates across the reports of successive newest backups too", async () => {
  const store = new MemoryStore();
  const keys = ["01", "02", "03"].map((d) => seed(store, d));
  const checked: string[] = [];
  // A new backup each week, drilled as the newest, with CHECK_OLDER=2.
  for (const [day, at] of [["04", "05"], ["11", "12"], ["18", "19"]]) {
    keys.push(seed(store, day!));
    const when = `2026-11-${at}T06:00:00.000Z`;
    const { older } = await drill(store, keys.at(-1)!, when, 2);
    checked.push(
      older.checks.filter((c) => c.checked_at === when).map((c) => c.key.slice(11, 13)).join(
        "+",
      ),
    );
  }
  // Never-checked first, then the least recently checked (a backup's own drill that passed
  // counts), ties oldest first: on the 19th, 02 and 04 were last found whole on the 5th.
  assert.deepEqual(checked, ["01+02", "03+01", "02+04"]);
});

Deno.test("checkOlderBackups() counts a backup's own passed drill as a check, and a FAILED one as none", async () => {
  const store = new MemoryStore();
  const [k1, k2, k3] = ["01", "02", "03"].map((d) => seed(store, d));
  // 01 passed its own drill; 02 failed its own; 03 is drilled now.
  store.put(
    "pg/2026/11/01/drill-report.json",
    JSON.stringify({
      result: "OK",
      drilled_at: "2026-11-02T06:00:00.000Z",
      backup: { key: k1 },
    }),
  );
  store.put(
    "pg/2026/11/02/drill-report.json",
    JSON.stringify({
      result: "FAILED",
      drilled_at: "2026-11-03T06:00:00.000Z",
      backup: { key: k2 },
    }),
  );
  const { older, lines } = await drill(store, k3!, "2026-11-04T06:00:00.000Z", 2);
  assert.deepEqual(older.checks.map((c) => [c.key, c.result, c.checked_at]), [
    [k2, "OK", "2026-11-04T06:00:00.000Z"],
    [k1, "OK", "2026-11-04T06:00:00.000Z"],
  ]);
  const sha = (key: string) =>
    createHash("sha256").update(`the dump of 2026-11-${key.slice(11, 13)}`).digest("hex");
  assert.deepEqual(
    lines.filter((l) => l.step === "older").map((l) => [
      l.msg,
      l.key,
      l.msg === "reading older backup" ? l.last_checked : l.sha256,
    ]),
    [
      ["reading older backup", k2, null],
      ["older backup sha256 OK", k2, sha(k2!)],
      ["reading older backup", k1, "2026-11-02T06:00:00.000Z"],
      ["older backup sha256 OK", k1, sha(k1!)],
    ],
  );
});

Deno.test("checkOlderBackups() of a damaged older backup records FAILED and returns the mismatch, naming its key and sha256", async () => {
  const store = new MemoryStore();
  const [k1, k2] = ["01", "02"].map((d) => seed(store, d));
  store.put(k1!, "the dump of 2026-11-01, one byte flipped");
  const { run, lines } = drillRun(store, new Date("2026-11-03T06:00:00Z"));
  const older = await checkOlderBackups(run, k2!);
  const actual = createHash("sha256").update("the dump of 2026-11-01, one byte flipped").digest(
    "hex",
  );
  const expected = createHash("sha256").update("the dump of 2026-11-01").digest("hex");
  assert.deepEqual(older.checks, [
    { key: k1, sha256: actual, result: "FAILED", checked_at: "2026-11-03T06:00:00.000Z" },
  ]);
  assert.ok(older.failure instanceof ChecksumMismatchError);
  assert.equal(
    older.failure.message,
    `sha256 mismatch: older backup ${k1} hashes to ${actual}, ${k1}.sha256 says ${expected}`,
  );
  assert.equal(
    older.failure.hint,
    `the older backup is damaged or was altered (the newest one passed its drill): drill it with --key ${k1} to see what it still holds, check the S3 server's disks, and take a fresh backup now`,
  );
  assert.deepEqual(lines.at(-1), {
    ts: lines.at(-1)!.ts,
    level: "error",
    program: "restore-drill",
    step: "older",
    msg: "older backup sha256 mismatch",
    key: k1,
    expected,
    actual,
    bytes: 40,
  });
});

Deno.test("checkOlderBackups() skips a backup that expired since the listing, and says when there is none to check", async () => {
  const store = new MemoryStore();
  const [k1, k2] = ["01", "02"].map((d) => seed(store, d));
  store.failNext("get object", `${k1}.sha256`, { code: "NoSuchKey" });
  const { run, lines } = drillRun(store, new Date("2026-11-03T06:00:00Z"));
  const older = await checkOlderBackups(run, k2!);
  assert.deepEqual(older, { checks: [], failure: undefined });
  assert.deepEqual(lines.map((l) => l.msg), [
    "reading older backup",
    "older backup gone before it was read; skipped",
  ]);
  const alone = new MemoryStore();
  const only = seed(alone, "01");
  const one = drillRun(alone, new Date("2026-11-03T06:00:00Z"));
  assert.deepEqual(await checkOlderBackups(one.run, only), { checks: [], failure: undefined });
  assert.deepEqual(one.lines.map((l) => [l.msg, l.retained]), [["no older backup to check", 1]]);
});
