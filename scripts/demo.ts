/**
 * `make demo`: start the local stack, back it up, run the restore drill, list the bucket
 * and print the drill report, all on production's pair (a PostgreSQL 18 source dumped by
 * pg_dumpall 18, restored by psql 18 into a PostgreSQL 18 scratch). Exits non-zero when the
 * backup or the drill fails.
 *
 * Usage: deno run --allow-all scripts/demo.ts [--raw]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Entrypoint, runEntrypoint, type RunResult } from "../tests/harness/run.ts";
import { startStack } from "../tests/harness/stack.ts";

const FIXED_FIELDS = new Set(["ts", "level", "program", "step", "msg"]);

/** One log line for people: `level program step: msg key=value ...`, or as it came. */
function _pretty(line: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line);
  } catch {
    return `  ${line}`;
  }
  if (typeof event !== "object" || event === null) return `  ${line}`;
  const head = [event.level, event.program, event.step].filter((v) => v !== undefined).join(" ");
  const rest = Object.entries(event)
    .filter(([key]) => !FIXED_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  return `  ${head}: ${event.msg ?? ""}${rest.length > 0 ? "  " + rest.join(" ") : ""}`;
}

async function _run(
  title: string,
  script: Entrypoint,
  env: Record<string, string>,
  raw: boolean,
): Promise<RunResult> {
  console.log(`\n== ${title}`);
  const result = await runEntrypoint(script, env, [], {
    onLine: (line) => console.log(raw ? line : _pretty(line)),
  });
  console.log(
    `== ${script} exited ${result.code} after ${(result.durationMs / 1000).toFixed(1)} s`,
  );
  return result;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: Deno.args, options: { raw: { type: "boolean" } } });
  const raw = values.raw ?? false;

  console.log(
    "== starting the stack: source PG 18, Ceph RGW, scratch PG 18 (127.0.0.1); pg_dumpall 18, psql 18",
  );
  const started = performance.now();
  await using stack = await startStack({ sample: "simple", source: 18, client: 18 });
  console.log(`   up in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const backup = await _run("backup (deno task backup)", "backup.ts", stack.backupEnv, raw);
  if (backup.code !== 0) {
    console.error("demo failed: the backup exited non-zero; the drill was not run");
    return 1;
  }

  console.log(`\n== bucket s3://${stack.bucket}/ (AWS CLI)`);
  const listing = await stack.s3.aws(["s3", "ls", "--recursive", `s3://${stack.bucket}/`]);
  console.log(listing.stdout.trimEnd() || listing.stderr.trimEnd());

  const drill = await _run(
    "restore drill (deno task drill)",
    "restore_drill.ts",
    stack.drillEnv,
    raw,
  );
  const report = drill.lines.findLast((l) => String(l.msg ?? "").includes("report")) ??
    drill.lastLine;
  console.log("\n== drill report");
  console.log(JSON.stringify(report.report ?? report, null, 2));

  if (drill.code !== 0) {
    console.error("demo failed: the drill exited non-zero");
    return 1;
  }
  console.log("\ndemo OK: backup written, restored into PostgreSQL 18 and verified");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
