/**
 * What recovering chosen databases costs. The bench cluster (`shop`, `ledger`, grown to about
 * `--size-mib` MiB of SQL), a small `tiny` database, and two databases of equal size (`twin_a`,
 * `twin_b`, about `--twin-mib` MiB each) are backed up once. Then, each run counted at a loopback
 * relay in front of the S3 server:
 *
 * - the whole backup restored by the drill (the reference);
 * - `tiny` recovered alone, reading only its section and the globals' (after), and the same with
 *   the manifest's section index removed, so the whole object is read (before): bytes read from
 *   S3 and the RTO of each;
 * - `twin_a,twin_b` recovered with RESTORE_JOBS=1, then with RESTORE_JOBS=2.
 *
 * Figures only; nothing is asserted.
 *
 * Usage: `deno run --allow-all tests/bench/recover_bench.ts [--size-mib 1600] [--twin-mib 256]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { RecoveryReport } from "../../lib/recover/report.ts";
import { startFaultRelay } from "../harness/fault_relay.ts";
import { dayFolder, upload } from "../harness/fixtures.ts";
import { startPostgres } from "../harness/postgres.ts";
import { runEntrypoint, type RunResult } from "../harness/run.ts";
import type { Stack } from "../harness/stack.ts";
import { startSizedStack } from "./_bench_data.ts";

const MiB = 1024 * 1024;

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

/** One recovery into a fresh PostgreSQL 18, through `endpoint`. */
async function recover(
  stack: Stack,
  endpoint: string,
  extra: Record<string, string>,
): Promise<{ run: RunResult; report: RecoveryReport }> {
  await using target = await startPostgres({ version: 18, superuser: "drill_admin" });
  const run = ok(
    await runEntrypoint(
      "restore_drill.ts",
      {
        ...stack.drillEnv,
        S3_ENDPOINT: endpoint,
        SCRATCH_PGPORT: String(target.port),
        SCRATCH_PGUSER: target.user,
        SCRATCH_PGPASSWORD: target.password,
        RECOVER: "true",
        ...extra,
      },
      [],
      { timeoutMs: 3600_000 },
    ),
    `recovery of ${extra.RESTORE_DATABASES}`,
  );
  const report = run.lines.find((l) => l.msg === "recovery report")?.report as RecoveryReport;
  return { run, report };
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string", default: "1600" },
      "twin-mib": { type: "string", default: "256" },
    },
  });
  const sizeMiB = Number(values["size-mib"]);
  const twinRows = Math.round(Number(values["twin-mib"]) * MiB / 105);
  say(`starting a stack whose bench databases dump to about ${sizeMiB} MiB`);
  await using stack = await startSizedStack(sizeMiB, say);
  await stack.source.psql("CREATE DATABASE tiny");
  await stack.source.psql(
    `CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);
     INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 1000) AS i;`,
    "tiny",
  );
  say(`creating twin_a and twin_b, ${twinRows} rows each`);
  await stack.source.psql("CREATE DATABASE twin_a");
  await stack.source.psql(
    `CREATE TABLE readings (id bigint PRIMARY KEY, sensor text, at timestamptz, value numeric,
                            note text);
     INSERT INTO readings SELECT i, 'sensor-' || (i % 500), timestamptz '2026-01-01' + i * interval '1 s',
       round((random() * 1000)::numeric, 3), md5(i::text)
       FROM generate_series(1, ${twinRows}) AS i;
     CREATE INDEX ON readings (sensor, at);
     VACUUM ANALYZE readings;`,
    "twin_a",
  );
  await stack.source.psql("CREATE DATABASE twin_b TEMPLATE twin_a");
  say("backing up");
  const backup = ok(await runEntrypoint("backup.ts", stack.backupEnv), "backup");
  const objectBytes = Number(backup.lastLine.bytes);
  const stream = backup.lines.find((l) => l.msg === "stream OK");
  console.log(
    `backup: ${mib(objectBytes)} compressed (${stream?.sections} sections), ${
      mib(Number(backup.lastLine.dump_bytes))
    } of SQL, in ${seconds(backup.durationMs)}`,
  );

  await using relay = startFaultRelay(stack.s3.endpoint);
  say("restoring the whole backup with the drill");
  relay.countFromHere();
  const drillRun = ok(
    await runEntrypoint(
      "restore_drill.ts",
      {
        ...stack.drillEnv,
        S3_ENDPOINT: relay.endpoint,
        EXPECTED_DATABASES: "tiny",
      },
      [],
      { timeoutMs: 3600_000 },
    ),
    "drill",
  );
  const drillRestore = drillRun.lines.find((l) => l.msg === "restore OK");
  console.log(
    `whole backup restored (drill):     ${seconds(drillRun.durationMs)} (restore pass ${
      seconds(Number(drillRestore?.duration_ms ?? 0))
    }), ${mib(relay.responseBytes)} read from S3`,
  );

  say("recovering tiny alone, by section (after)");
  relay.countFromHere();
  const after = await recover(stack, relay.endpoint, { RESTORE_DATABASES: "tiny" });
  const afterRead = relay.responseBytes;

  say("recovering tiny alone, the index removed: the whole object (before)");
  const dir = `${stack.prefix}/${dayFolder()}`;
  const manifestKey = `${dir}/manifest.json`;
  const got = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${manifestKey}`, "-"]);
  const manifest = JSON.parse(got.stdout);
  const { sections: _index, ...withoutIndex } = manifest;
  await upload(stack, manifestKey, JSON.stringify(withoutIndex));
  relay.countFromHere();
  const before = await recover(stack, relay.endpoint, { RESTORE_DATABASES: "tiny" });
  const beforeRead = relay.responseBytes;
  await upload(stack, manifestKey, got.stdout);

  for (
    const [what, r, read] of [["before", before, beforeRead], ["after", after, afterRead]] as const
  ) {
    console.log(
      `tiny recovered, ${what.padEnd(6)} (${r.report.read.padEnd(8)}): RTO ${
        seconds(r.report.duration_ms)
      } (verify read ${seconds(r.report.phases_ms.verify ?? 0)}, restore and checks ${
        seconds(r.report.phases_ms.restore ?? 0)
      }), ${mib(read)} read from S3 (${(100 * read / objectBytes).toFixed(3)} % of the object)`,
    );
  }

  const jobs: Record<string, number> = {};
  for (const n of ["1", "2"]) {
    say(`recovering twin_a and twin_b with RESTORE_JOBS=${n}`);
    const r = await recover(stack, stack.s3.endpoint, {
      RESTORE_DATABASES: "twin_a,twin_b",
      RESTORE_JOBS: n,
    });
    jobs[n] = r.report.duration_ms;
    console.log(
      `twin_a + twin_b, RESTORE_JOBS=${n}:   RTO ${seconds(r.report.duration_ms)} (verify read ${
        seconds(r.report.phases_ms.verify ?? 0)
      }, restore and checks ${
        seconds(r.report.phases_ms.restore ?? 0)
      }), ${r.report.restored.rows} rows`,
    );
  }
  console.log(`RESTORE_JOBS=2 / RESTORE_JOBS=1: ${(jobs["2"]! / jobs["1"]!).toFixed(3)}`);
}

if (import.meta.main) await main(Deno.args);
