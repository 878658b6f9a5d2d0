import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { recoveryPlan } from "./plan.ts";

Deno.test("recoveryPlan() keeps chosen names and applies renames", () => {
  assert.deepEqual(
    [...recoveryPlan(true, "app, analytics", "app=app_restored")!],
    [["app", "app_restored"], ["analytics", "analytics"]],
  );
});

Deno.test("recoveryPlan() reads \\, and \\= inside names", () => {
  assert.deepEqual(
    [...recoveryPlan(true, "a\\,b,My DB", 'My DB=Copy \\= "x"\\, y')!],
    [["a,b", "a,b"], ["My DB", 'Copy = "x", y']],
  );
});

Deno.test("recoveryPlan() is undefined for a drill", () => {
  assert.equal(recoveryPlan(false, undefined, undefined), undefined);
});

Deno.test("recoveryPlan() lists every problem at once, exit code 2", () => {
  assert.throws(
    () => recoveryPlan(true, "app,app,template1", "x=y,app=,app=b,app=c"),
    (err: ConfigError) => {
      assert.equal(err.exitCode, 2);
      assert.deepEqual(err.problems, [
        'RESTORE_DATABASES names "app" twice',
        "RESTORE_DATABASES names template1: a template database cannot be recovered",
        'RESTORE_RENAME renames "x", which RESTORE_DATABASES does not choose',
        'invalid RESTORE_RENAME "app=": expected old=new, such as app=app_restored',
        'RESTORE_RENAME renames "app" twice',
      ]);
      return true;
    },
  );
});

Deno.test("recoveryPlan() requires RESTORE_DATABASES with --recover, and --recover with it", () => {
  assert.throws(() => recoveryPlan(true, "", undefined), {
    message: "missing settings: RESTORE_DATABASES (required with --recover)",
  });
  assert.throws(() => recoveryPlan(false, "app", "app=b"), {
    message: "RESTORE_DATABASES and RESTORE_RENAME apply only with --recover (RECOVER=true)",
  });
  assert.throws(() => recoveryPlan(true, "app", undefined, true), {
    message: "--recover and --verify-only exclude each other",
  });
});

Deno.test("recoveryPlan() refuses two databases under one name and names PostgreSQL would cut", () => {
  assert.throws(() => recoveryPlan(true, "a,b", "a=b"), {
    message: 'RESTORE_DATABASES and RESTORE_RENAME give "a" and "b" the same name "b"',
  });
  assert.throws(() => recoveryPlan(true, "a", `a=${"é".repeat(32)}`), /at most 63 bytes/);
});
