/**
 * What recovering one small database costs when the backup's other databases are large (issue
 * 10): the bench cluster (`shop`, `ledger`, grown to about `--size-mib` MiB of SQL) plus a small
 * `tiny` database, backed up once; then `restore-drill --recover --databases tiny` into an empty
 * PostgreSQL 18 server, against the whole backup restored by the drill into another. It prints
 * each run's time (the recovery's split into its first read, which checks the sha256 before the
 * target changes, and its restore), and the bytes sent to psql against the whole dump. Figures
 * only; nothing is asserted.
 *
 * Usage: `deno run --allow-all tests/bench/recover_bench.ts [--size-mib 1600]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { RecoveryReport } from "../../lib/recover/report.ts";
import { startPostgres } from "../harness/postgres.ts";
import { runEntrypoint, type RunResult } from "../harness/run.ts";
import { startStack } from "../harness/stack.ts";
import { addUnits, createBenchSchema, settle } from "./_bench_data.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function say(text: string): void {
  console.error(`[recover bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function ok(run: RunResult, what: string): RunResult {
  if (run.code !== 0) {
    throw new Error(`${what} failed (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  }
  return run;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { "size-mib": { type: "string", default: "1600" } },
  });
  const sizeMiB = Number(values["size-mib"]);
  say("starting the stack (source PostgreSQL 18, RGW on bluestore)");
  await using stack = await startStack({
    sample: "none",
    rgw: { objectstore: "bluestore", storeBytes: 8 * GiB },
  });
  await createBenchSchema(stack.source);
  // About 6 MiB of SQL per generation unit (measured: 275 units gave 1,658 MiB).
  const units = Math.max(1, Math.round(sizeMiB / 6));
  say(`loading ${units} units into shop and ledger`);
  await addUnits(stack.source, 0, units);
  await stack.source.psql("CREATE DATABASE tiny");
  await stack.source.psql(
    `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
     INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 1000) AS i;`,
    "tiny",
  );
  await settle(stack.source);
  say("backing up");
  ok(await runEntrypoint("backup.ts", stack.backupEnv), "backup");

  say("restoring the whole backup with the drill");
  const drillRun = ok(
    await runEntrypoint("restore_drill.ts", { ...stack.drillEnv, EXPECTED_DATABASES: "tiny" }),
    "drill",
  );
  const drillRestore = drillRun.lines.find((l) => l.msg === "restore OK");

  say("recovering tiny alone into an empty server");
  await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
  const recoverRun = ok(
    await runEntrypoint("restore_drill.ts", {
      ...stack.drillEnv,
      SCRATCH_PGPORT: String(target.port),
      SCRATCH_PGUSER: target.user,
      SCRATCH_PGPASSWORD: target.password,
      RECOVER: "true",
      RESTORE_DATABASES: "tiny",
    }),
    "recovery",
  );
  const report = recoverRun.lines.find((l) => l.msg === "recovery report")
    ?.report as RecoveryReport;

  const compressed = report.backup.bytes;
  const dump = report.sql_bytes.dump;
  const sent = report.sql_bytes.sent_to_psql;
  console.log(`backup: ${mib(compressed)} compressed, ${mib(dump)} of SQL`);
  console.log(
    `whole backup restored (drill run):          ${seconds(drillRun.durationMs)} (restore pass ${
      seconds(Number(drillRestore?.duration_ms ?? 0))
    })`,
  );
  console.log(
    `tiny recovered alone (--recover):           ${seconds(recoverRun.durationMs)} (RTO ${
      seconds(report.duration_ms)
    }: verify read ${seconds(report.phases_ms.verify ?? 0)}, restore ${
      seconds(report.phases_ms.restore ?? 0)
    }, checks ${seconds((report.phases_ms.compare ?? 0) + (report.phases_ms.values ?? 0))})`,
  );
  console.log(
    `sent to psql: ${(sent / 1024).toFixed(1)} KiB of ${mib(dump)} (${
      (100 * sent / dump).toFixed(4)
    } %)`,
  );
}

if (import.meta.main) await main(Deno.args);
