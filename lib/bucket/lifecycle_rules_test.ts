import assert from "node:assert/strict";
import { appliesTo, isOwnRule, judgeRules, ruleId, wantedRules } from "./lifecycle_rules.ts";
import { keepDays } from "./retention_class.ts";

Deno.test("ruleId() and isOwnRule() know backup-toolbox's old single rule and its four new ones", () => {
  assert.equal(ruleId("postgresql-18"), "backup-toolbox-postgresql-18");
  assert.equal(ruleId("/a/b.c/"), "backup-toolbox-a-b-c");
  assert.equal(ruleId(""), "backup-toolbox-all");
  for (const suffix of ["", "-daily", "-weekly", "-monthly", "-staging"]) {
    assert.ok(isOwnRule("pg", `backup-toolbox-pg${suffix}`), suffix);
  }
  assert.ok(!isOwnRule("pg", "backup-toolbox-pg-yearly"));
  assert.ok(!isOwnRule("pg", "backup-toolbox-pg2"));
});

Deno.test("wantedRules() are one rule per class under the prefix and its tag, and the staging rule", () => {
  assert.deepEqual(wantedRules("pg", keepDays(14, 8, 6)).map((r) => [r.id, r.tags, r.expireDays]), [
    ["backup-toolbox-pg-daily", { "retention-class": "daily" }, 14],
    ["backup-toolbox-pg-weekly", { "retention-class": "weekly" }, 56],
    ["backup-toolbox-pg-monthly", { "retention-class": "monthly" }, 186],
    ["backup-toolbox-pg-staging", undefined, undefined],
  ]);
  assert.equal(wantedRules("pg", keepDays(14, 0, 0))[3]!.abortIncompleteDays, 1);
});

Deno.test("appliesTo(): a rule applies to a class when its prefix covers <prefix>/ and it filters on no tag or that class's", () => {
  const rule = (prefix: string, tags?: Record<string, string>) => ({
    id: "r",
    prefix,
    ...(tags ? { tags } : {}),
    expireDays: 1,
    abortIncompleteDays: undefined,
  });
  assert.ok(appliesTo(rule(""), "pg", "daily"));
  assert.ok(appliesTo(rule("p"), "pg", "daily"), "a shorter prefix covers pg/");
  assert.ok(!appliesTo(rule("pg/2026/"), "pg", "daily"), "a longer one covers only part");
  assert.ok(!appliesTo(rule("other/"), "pg", "daily"));
  assert.ok(appliesTo(rule("pg/", { "retention-class": "weekly" }), "pg", "weekly"));
  assert.ok(!appliesTo(rule("pg/", { "retention-class": "weekly" }), "pg", "daily"));
  assert.ok(!appliesTo(rule("pg/", { "retention-class": "daily", team: "x" }), "pg", "daily"));
});

Deno.test("judgeRules(): the earliest expiration that applies decides each class", () => {
  const judged = judgeRules(
    [
      { id: "a", prefix: "pg/", expireDays: 30, abortIncompleteDays: 1 },
      {
        id: "b",
        prefix: "pg/",
        tags: { "retention-class": "daily" },
        expireDays: 14,
        abortIncompleteDays: undefined,
      },
    ],
    "pg",
    keepDays(14, 8, 6),
  );
  assert.deepEqual(
    judged.classes.map((v) => [v.class, v.status, v.expireDays, v.decidedBy.map((r) => r.id)]),
    [
      ["daily", "ok", 14, ["b"]],
      ["weekly", "conflict", 30, ["a"]],
      ["monthly", "conflict", 30, ["a"]],
    ],
  );
  assert.equal(judged.aborts?.id, "a");
});
