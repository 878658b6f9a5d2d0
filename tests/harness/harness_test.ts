import assert from "node:assert/strict";
import { startStack } from "./stack.ts";
import { cmdlineOf, descendants, taskPermissions } from "./run.ts";
import { requireExecutable, requireTool } from "./tools.ts";
import { RICH_ORDER_ROWS, rowCounts } from "./sample_data.ts";

function _alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

Deno.test("requireExecutable() names `make setup` when a binary is missing", () => {
  assert.throws(
    () => requireExecutable("pg_dumpall-99", "/nonexistent/pg_dumpall", "Debian package x"),
    {
      message:
        "missing pg_dumpall-99: run `make setup` (installs Debian package x at /nonexistent/pg_dumpall)",
    },
  );
  assert.equal(requireTool("aws"), "/usr/bin/aws");
});

Deno.test("taskPermissions() reads the --allow-* flags of the deno.json task", () => {
  for (const script of ["backup.ts", "restore_drill.ts"] as const) {
    const flags = taskPermissions(script);
    assert.ok(flags.length > 0);
    assert.ok(flags.every((flag) => flag.startsWith("--allow-")));
    assert.ok(!flags.includes("--allow-all"));
  }
});

Deno.test("descendants() and cmdlineOf() see a running grandchild", async () => {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", "sleep 30 & wait"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let found: number[] = [];
    for (let i = 0; i < 100 && found.length === 0; i++) {
      found = descendants(child.pid);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(found.length, 1);
    assert.equal(cmdlineOf(found[0] ?? 0), "sleep 30");
    assert.deepEqual(descendants(Deno.pid).sort(), [child.pid, ...found].sort());
    for (const pid of found) Deno.kill(pid, "SIGTERM");
  } finally {
    await child.status;
  }
});

Deno.test("startStack() serves both PostgreSQL versions and S3, and stops every process", async () => {
  let pids: number[] = [];
  {
    await using stack = await startStack();
    pids = [stack.source.pid, stack.scratch.pid, ...stack.s3.pids];
    assert.equal(pids.length, 5);
    assert.ok(pids.every(_alive));

    assert.match(await stack.source.psql("SELECT version()"), /^PostgreSQL 15\./);
    assert.match(await stack.scratch.psql("SELECT version()"), /^PostgreSQL 18\./);
    assert.equal(await stack.scratch.psql("SELECT current_user"), "drill_admin");
    assert.equal(stack.source.host, "127.0.0.1");
    assert.match(stack.s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);

    const counts = await rowCounts(stack.source);
    assert.equal(counts.app?.["public.orders"], RICH_ORDER_ROWS);
    assert.equal(counts.app?.["MixedCase.OrderItems"], 250);
    assert.equal(counts.app?.pg_largeobject, 1);
    assert.equal(counts["Weird-DB name"]?.["public.weird table"], 2);
    assert.equal(stack.drillEnv.EXPECTED_DATABASES, "app,analytics,Weird-DB name");

    assert.deepEqual(await stack.listKeys(), []);
    const put = await stack.s3.aws(
      ["s3", "cp", "-", `s3://${stack.bucket}/${stack.prefix}/hello.txt`],
      "hello",
    );
    assert.equal(put.code, 0, put.stderr);
    const keys = await stack.listKeys(stack.prefix);
    assert.deepEqual(keys.map((k) => [k.key, k.size]), [[`${stack.prefix}/hello.txt`, 5]]);
    assert.deepEqual(await stack.s3.listMultipartUploads(stack.bucket), []);
  }
  assert.deepEqual(pids.filter(_alive), []);
  assert.deepEqual(descendants(Deno.pid), []);
});
