import assert from "node:assert/strict";
import { startStack } from "./stack.ts";
import { cleanEnv, clientPath, cmdlineOf, descendants, REPO_ROOT, taskPermissions } from "./run.ts";
import { PG15_BIN_DIR, PG18_CLIENT_BIN_DIR, requireExecutable, requireTool } from "./tools.ts";
import { exec } from "./process.ts";
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

Deno.test("the entrypoints find the PostgreSQL 18 client first on PATH unless a test picks 15", async () => {
  assert.equal(cleanEnv({}).PATH, clientPath(18));
  assert.ok(clientPath(18).startsWith(`${PG18_CLIENT_BIN_DIR}:`));
  assert.ok(clientPath(15).startsWith(`${PG15_BIN_DIR}:`));
  assert.equal(cleanEnv({ PATH: clientPath(15) }).PATH, clientPath(15));
  for (const [version, path] of [[18, clientPath(18)], [15, clientPath(15)]] as const) {
    for (const tool of ["pg_dumpall", "pg_dump", "psql"]) {
      const run = await exec("bash", ["-c", `${tool} --version`], { env: { PATH: path } });
      assert.match(run.stdout, new RegExp(`^${tool} \\(PostgreSQL\\) ${version}\\.\\d+`), tool);
    }
  }
});

Deno.test("deno task backup and deno task drill put the PostgreSQL 18 client first on PATH", () => {
  // They run against `make stack`; .stack/env cannot set PATH (deno's --env-file never
  // overrides a variable already set), so the task itself puts the 18 client first.
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks as Record<
    string,
    string
  >;
  for (const task of ["backup", "drill"]) {
    assert.ok(
      tasks[task]?.startsWith(`PATH=${PG18_CLIENT_BIN_DIR}:$PATH deno run `),
      `task ${task}: ${tasks[task]}`,
    );
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

Deno.test("startStack() serves a PostgreSQL 18 source and scratch and S3, and stops every process", async () => {
  let pids: number[] = [];
  {
    await using stack = await startStack();
    pids = [stack.source.pid, stack.scratch.pid, ...stack.s3.pids];
    assert.equal(pids.length, 5);
    assert.ok(pids.every(_alive));

    assert.match(await stack.source.psql("SELECT version()"), /^PostgreSQL 18\./);
    assert.match(await stack.scratch.psql("SELECT version()"), /^PostgreSQL 18\./);
    assert.equal(await stack.scratch.psql("SELECT current_user"), "drill_admin");
    assert.equal(stack.source.host, "127.0.0.1");
    assert.match(stack.s3.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(stack.backupEnv.PATH, clientPath(18));
    assert.equal(stack.drillEnv.PATH, clientPath(18));

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

Deno.test("startStack({ source: 15, client: 15 }) serves the older source with the same rich sample", async () => {
  await using stack = await startStack({ source: 15, client: 15 });
  assert.match(await stack.source.psql("SELECT version()"), /^PostgreSQL 15\./);
  assert.match(await stack.scratch.psql("SELECT version()"), /^PostgreSQL 18\./);
  assert.equal(stack.backupEnv.PATH, clientPath(15));
  const counts = await rowCounts(stack.source);
  assert.equal(counts.app?.["public.orders"], RICH_ORDER_ROWS);
  assert.equal(counts.app?.["MixedCase.OrderItems"], 250);
  assert.equal(counts.app?.pg_largeobject, 1);
  assert.equal(counts["Weird-DB name"]?.["public.weird table"], 2);
});
