/**
 * `make stack`: run the local stack in the foreground until Ctrl-C. Prints the settings
 * for `deno task backup` and `deno task drill`, and writes them to `.stack/env`.
 *
 * The stack is production's pair: a PostgreSQL 18 source and scratch. `.stack/env` holds no
 * PATH (deno's `--env-file` never overrides a variable already set); the two tasks themselves put
 * the PostgreSQL 18 client (`/opt/backup-toolbox/pg18-client/bin`) first on PATH, so they run
 * pg_dumpall 18 and psql 18.
 *
 * Usage: deno run --allow-all scripts/stack.ts [--rich]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startStack } from "../tests/harness/stack.ts";
import { REPO_ROOT } from "../tests/harness/run.ts";

/** `KEY='value'` lines a shell can source; single quotes keep every value literal. */
function _envLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([key, value]) => `${key}='${value.replaceAll("'", "'\\''")}'`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: Deno.args, options: { rich: { type: "boolean" } } });
  const started = performance.now();
  await using stack = await startStack({ sample: values.rich ? "rich" : "simple" });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);

  const envFile = `${REPO_ROOT}/.stack/env`;
  const { PATH: _path, ...settings } = { ...stack.backupEnv, ...stack.drillEnv };
  const lines = _envLines(settings);
  await Deno.mkdir(`${REPO_ROOT}/.stack`, { recursive: true });
  await Deno.writeTextFile(envFile, lines.join("\n") + "\n", { mode: 0o600 });

  console.log(
    `stack up in ${seconds} s (source PG ${stack.source.version}, Ceph RGW, scratch PG ${stack.scratch.version}), all on 127.0.0.1`,
  );
  console.log(`\n# settings (also in .stack/env):\n${lines.join("\n")}`);
  console.log(`
# in another shell, from ${REPO_ROOT} (the tasks read .stack/env; variables you set win;
# they put the PostgreSQL 18 client first on PATH: pg_dumpall 18, psql 18):
deno task backup
deno task drill
# to list the bucket with the AWS CLI:
set -a; . .stack/env; set +a
/usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive "s3://$S3_BUCKET/"

Ctrl-C stops the stack.`);

  // Wait for Ctrl-C (or SIGTERM), then stop what was started.
  const stop = Promise.withResolvers<Deno.Signal>();
  const onInt = () => stop.resolve("SIGINT");
  const onTerm = () => stop.resolve("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const signal = await stop.promise;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  console.log(`\n${signal}: stopping the stack`);
  await Deno.remove(envFile).catch(() => {});
  return 0;
}

if (import.meta.main) Deno.exit(await main());
