import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { createLog } from "../log.ts";
import { checkLifecycle } from "./lifecycle.ts";
import { keepDays } from "./retention_class.ts";

const NOW = new Date("2025-06-20T12:00:00Z");
const TS = "2025-06-20T12:00:00Z";
/** RETENTION_DAYS=14, KEEP_WEEKLY=0, KEEP_MONTHLY=0: today's behaviour. */
const DEFAULTS = keepDays(14, 0, 0);
/** RETENTION_DAYS=14, KEEP_WEEKLY=8, KEEP_MONTHLY=6: 14, 56 and 186 days. */
const CLASSES = keepDays(14, 8, 6);
const APPLY = "run once with --apply-lifecycle (S3_APPLY_LIFECYCLE=true)";

/** A log whose lines are kept, parsed, with the clock at NOW. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLog("backup", {
    write: (line) => lines.push(JSON.parse(line)),
    now: () => NOW.getTime(),
  });
  return { log, lines };
}

Deno.test("checkLifecycle() returns ok for a rule that expires the prefix and aborts uploads", async () => {
  const store = new MemoryStore();
  store.rules = [{ id: "expire-pg", prefix: "pg/", expireDays: 14, abortIncompleteDays: 1 }];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, false, log), "ok");
  assert.deepEqual(lines, [{
    ts: TS,
    level: "info",
    program: "backup",
    step: "lifecycle",
    msg: "lifecycle rule OK",
    rule: "expire-pg",
    expire_days: 14,
  }]);
});

Deno.test("checkLifecycle() returns missing and warns for a rule that does not abort uploads", async () => {
  const store = new MemoryStore();
  const rules = [
    { id: "expire-pg", prefix: "pg/", expireDays: 14, abortIncompleteDays: undefined },
    { id: "expire-other", prefix: "other/", expireDays: 14, abortIncompleteDays: 1 },
  ];
  store.rules = [...rules];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, false, log), "missing");
  assert.deepEqual(lines, [{
    ts: TS,
    level: "warn",
    program: "backup",
    step: "lifecycle",
    msg: "no lifecycle rule aborts incomplete uploads under pg/",
    rule: "backup-toolbox-pg-staging",
    rules: [
      { id: "expire-pg", prefix: "pg/", expire_days: 14 },
      { id: "expire-other", prefix: "other/", expire_days: 14 },
    ],
    hint: `${APPLY}; meanwhile each backup removes uploads older than STALE_UPLOAD_HOURS under pg/`,
  }]);
  assert.deepEqual(store.rules, rules);
});

Deno.test("checkLifecycle() without any rule under the prefix warns once, as before retention classes", async () => {
  const store = new MemoryStore();
  const other = { id: "expire-other", prefix: "other/", expireDays: 14, abortIncompleteDays: 1 };
  store.rules = [other];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, false, log), "missing");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.rules, l.hint]), [
    [
      "warn",
      "no lifecycle rule expires pg/ after 14 days",
      [{ id: "expire-other", prefix: "other/", expire_days: 14 }],
      `${APPLY}, or mc ilm rule add --expire-days 14 --prefix pg/ backup/backups, or set PRUNE=true`,
    ],
  ]);
});

Deno.test("checkLifecycle() with apply replaces its old rule by one per class and the staging rule, keeping other rules, and it is then ok", async () => {
  const store = new MemoryStore();
  const other = { id: "expire-other", prefix: "other/", expireDays: 30, abortIncompleteDays: 1 };
  store.rules = [
    { id: "backup-toolbox-pg", prefix: "pg/", expireDays: 7, abortIncompleteDays: 1 },
    other,
  ];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", CLASSES, true, log), "applied");
  const tagged = (c: string, days: number) => ({
    id: `backup-toolbox-pg-${c}`,
    prefix: "pg/",
    tags: { "retention-class": c },
    expireDays: days,
    abortIncompleteDays: undefined,
  });
  assert.deepEqual(store.rules, [
    other,
    tagged("daily", 14),
    tagged("weekly", 56),
    tagged("monthly", 186),
    {
      id: "backup-toolbox-pg-staging",
      prefix: "pg/",
      expireDays: undefined,
      abortIncompleteDays: 1,
    },
  ]);
  assert.deepEqual(lines, [{
    ts: TS,
    level: "info",
    program: "backup",
    step: "lifecycle",
    msg: "lifecycle rule set",
    rules: [
      {
        id: "backup-toolbox-pg-daily",
        prefix: "pg/",
        tag: "retention-class=daily",
        expire_days: 14,
      },
      {
        id: "backup-toolbox-pg-weekly",
        prefix: "pg/",
        tag: "retention-class=weekly",
        expire_days: 56,
      },
      {
        id: "backup-toolbox-pg-monthly",
        prefix: "pg/",
        tag: "retention-class=monthly",
        expire_days: 186,
      },
      { id: "backup-toolbox-pg-staging", prefix: "pg/", abort_incomplete_days: 1 },
    ],
    removed: "backup-toolbox-pg",
    note:
      "objects written before retention classes carry no retention-class tag, so no rule expires them now: run --prune-only (PRUNE counts them as daily) once they are older than 14 days",
  }]);
  lines.splice(0);
  assert.equal(await checkLifecycle(store, "pg", CLASSES, false, log), "ok");
  assert.deepEqual(lines.map((l) => [l.msg, l.rules]), [[
    "lifecycle rule OK",
    {
      daily: { rule: "backup-toolbox-pg-daily", expire_days: 14 },
      weekly: { rule: "backup-toolbox-pg-weekly", expire_days: 56 },
      monthly: { rule: "backup-toolbox-pg-monthly", expire_days: 186 },
    },
  ]]);
  // The defaults are kept by the same four rules, at 14 days each.
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, true, log), "applied");
  assert.deepEqual(store.rules.map((r) => r.expireDays), [30, 14, 14, 14, undefined]);
});

Deno.test("checkLifecycle(): a plain 14-day prefix rule conflicts once KEEP_WEEKLY and KEEP_MONTHLY are set", async () => {
  const store = new MemoryStore();
  store.rules = [{
    id: "backup-toolbox-pg",
    prefix: "pg/",
    expireDays: 14,
    abortIncompleteDays: 1,
  }];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", CLASSES, false, log), "conflict");
  assert.deepEqual(lines, [{
    ts: TS,
    level: "warn",
    program: "backup",
    step: "lifecycle",
    msg:
      "lifecycle rule backup-toolbox-pg expires pg/ after 14 days: too early for the weekly (56 days) and monthly (186 days) backups",
    rule: "backup-toolbox-pg",
    expire_days: 14,
    keep_days: { weekly: 56, monthly: 186 },
    hint: `${APPLY}: it replaces backup-toolbox's rules with one per retention class`,
  }]);
  // Someone else's rule is named as such, and --apply-lifecycle leaves it alone.
  store.rules = [{ id: "admin-14d", prefix: "", expireDays: 14, abortIncompleteDays: 1 }];
  lines.splice(0);
  assert.equal(await checkLifecycle(store, "pg", keepDays(14, 0, 3), true, log), "conflict");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.hint]), [
    ["info", "lifecycle rule set", undefined],
    [
      "warn",
      "lifecycle rule admin-14d expires pg/ after 14 days: too early for the monthly (93 days) backups",
      `rule admin-14d is not backup-toolbox's: remove it or narrow it to other objects as the MinIO admin (mc ilm rule rm --id admin-14d backup/backups), then ${APPLY}`,
    ],
  ]);
  assert.equal(store.rules[0]!.id, "admin-14d");
  assert.equal(store.rules.length, 5);
});

Deno.test("checkLifecycle(): a bucket-wide 7-day rule beside the 14-day one is a conflict, not OK", async () => {
  const store = new MemoryStore();
  store.rules = [
    { id: "expire-pg", prefix: "pg/", expireDays: 14, abortIncompleteDays: 1 },
    { id: "wipe-weekly", prefix: "", expireDays: 7, abortIncompleteDays: undefined },
  ];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, false, log), "conflict");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.keep_days]), [[
    "warn",
    "lifecycle rule wipe-weekly expires pg/ after 7 days: too early for the daily (14 days), weekly (14 days) and monthly (14 days) backups",
    { daily: 14, weekly: 14, monthly: 14 },
  ]]);
});

Deno.test("checkLifecycle(): tag filters decide which class a rule expires; a class left out is missing", async () => {
  const store = new MemoryStore();
  const rule = (id: string, tags: Record<string, string> | undefined, days: number) => ({
    id,
    prefix: "pg/",
    ...(tags ? { tags } : {}),
    expireDays: days,
    abortIncompleteDays: undefined,
  });
  store.rules = [
    rule("daily", { "retention-class": "daily" }, 14),
    // Longer than wanted: the weekly backups would be kept too long, so it is not theirs.
    rule("weekly-long", { "retention-class": "weekly" }, 90),
    // Another tag: backup-toolbox's objects never carry it.
    rule("scratch", { kind: "scratch" }, 1),
    rule("monthly", { "retention-class": "monthly" }, 186),
    { id: "uploads", prefix: "", expireDays: undefined, abortIncompleteDays: 2 },
  ];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", CLASSES, false, log), "missing");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.rule, l.hint]), [[
    "warn",
    "no lifecycle rule expires retention-class=weekly backups under pg/ after 56 days",
    "backup-toolbox-pg-weekly",
    `${APPLY}, or mc ilm rule add --expire-days 56 --prefix pg/ --tags "retention-class=weekly" backup/backups, or set PRUNE=true`,
  ]]);
  store.rules = store.rules.map((r) => r.id === "weekly-long" ? { ...r, expireDays: 56 } : r);
  lines.splice(0);
  assert.equal(await checkLifecycle(store, "pg", CLASSES, false, log), "ok");
  assert.deepEqual(lines.map((l) => l.msg), ["lifecycle rule OK"]);
});

Deno.test("checkLifecycle() that may not read the rules returns unknown and names s3:GetLifecycleConfiguration", async () => {
  const store = new MemoryStore();
  store.failNext("get bucket lifecycle", () => true, { code: "AccessDenied" });
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, true, log), "unknown");
  assert.deepEqual(lines, [{
    ts: TS,
    level: "warn",
    program: "backup",
    step: "lifecycle",
    msg: "cannot read the bucket's lifecycle rules",
    error: "get bucket lifecycle s3://backups/ failed: access denied (AccessDenied)",
    hint:
      "grant s3:GetLifecycleConfiguration on arn:aws:s3:::backups (manifests/s3-policies/postgres-backup.json), or run with PRUNE=true to delete old backups",
  }]);
  assert.deepEqual(store.rules, []);
});

Deno.test("checkLifecycle() with apply that may not set the rule returns missing and names s3:PutLifecycleConfiguration", async () => {
  const store = new MemoryStore();
  store.failNext("set bucket lifecycle", () => true, { code: "AccessDenied", times: 2 });
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", DEFAULTS, true, log), "missing");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.hint]), [[
    "warn",
    "cannot set the lifecycle rule",
    "--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::backups: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (mc ilm rule add --expire-days 14 --prefix pg/ backup/backups)",
  ]]);
  assert.deepEqual(store.rules, []);
  // With classes kept apart, the admin needs one rule per class.
  lines.splice(0);
  assert.equal(await checkLifecycle(store, "pg", CLASSES, true, log), "missing");
  assert.equal(
    lines[0]!.hint,
    '--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::backups: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (mc ilm rule add --expire-days 14 --prefix pg/ --tags "retention-class=daily" backup/backups; mc ilm rule add --expire-days 56 --prefix pg/ --tags "retention-class=weekly" backup/backups; mc ilm rule add --expire-days 186 --prefix pg/ --tags "retention-class=monthly" backup/backups)',
  );
});
