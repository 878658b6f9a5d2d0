import assert from "node:assert/strict";
import { MemoryStore } from "../../tests/harness/memory_store.ts";
import { createLog } from "../log.ts";
import { checkLifecycle } from "./lifecycle.ts";

const NOW = new Date("2025-06-20T12:00:00Z");
const TS = "2025-06-20T12:00:00Z";

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
  assert.equal(await checkLifecycle(store, "pg", 14, false, log), "ok");
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
  assert.equal(await checkLifecycle(store, "pg", 14, false, log), "missing");
  assert.deepEqual(lines, [{
    ts: TS,
    level: "warn",
    program: "backup",
    step: "lifecycle",
    msg: "no lifecycle rule expires pg/ after 14 days",
    rules: [
      { id: "expire-pg", prefix: "pg/", expire_days: 14 },
      { id: "expire-other", prefix: "other/", expire_days: 14 },
    ],
    hint:
      "run once with --apply-lifecycle (S3_APPLY_LIFECYCLE=true), or mc ilm rule add --expire-days 14 --prefix pg/ backup/backups, or set PRUNE=true",
  }]);
  assert.deepEqual(store.rules, rules);
});

Deno.test("checkLifecycle() with apply sets the rule, keeping other rules, and it is then ok", async () => {
  const store = new MemoryStore();
  const other = { id: "expire-other", prefix: "other/", expireDays: 30, abortIncompleteDays: 1 };
  store.rules = [
    { id: "backup-toolbox-pg", prefix: "pg/", expireDays: 7, abortIncompleteDays: 1 },
    other,
  ];
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", 14, true, log), "applied");
  assert.deepEqual(store.rules, [
    other,
    { id: "backup-toolbox-pg", prefix: "pg/", expireDays: 14, abortIncompleteDays: 1 },
  ]);
  assert.deepEqual(lines.map((l) => l.msg), ["lifecycle rule set"]);
  assert.equal(await checkLifecycle(store, "pg", 14, false, log), "ok");
});

Deno.test("checkLifecycle() that may not read the rules returns unknown and names s3:GetLifecycleConfiguration", async () => {
  const store = new MemoryStore();
  store.failNext("get bucket lifecycle", () => true, { code: "AccessDenied" });
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", 14, true, log), "unknown");
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
  store.failNext("set bucket lifecycle", () => true, { code: "AccessDenied" });
  const { log, lines } = capture();
  assert.equal(await checkLifecycle(store, "pg", 14, true, log), "missing");
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.hint]), [[
    "warn",
    "cannot set the lifecycle rule",
    "--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::backups: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (mc ilm rule add --expire-days 14 --prefix pg/ backup/backups)",
  ]]);
  assert.deepEqual(store.rules, []);
});
