/**
 * `deno task bench`: the whole-pipeline benchmark of issues 3 and 4. It builds a PostgreSQL 15
 * source whose dump is at least each requested size, then, per size and in the same run, times
 *
 * - (a) `pg_dumpall | zstd -T0 -3 > /dev/null`
 * - (b) `pg_dumpall | zstd -T0 -3 | aws s3 cp - s3://…`
 * - (c) the backup program (`backup.ts` as its task runs it), sampling its peak RSS
 * - (d) pg_dumpall through a pass-through TransformStream vs through SectionedDumpStream as
 *   the backup runs it (counting rows, dropping internal column options, cutting sections), in
 *   this process, to price the manifest's row counting and section index
 * - (d') the same chunks through DumpStatsStream with value digests (the drill's parser)
 * - (e) the drill's restore phase vs a raw `aws s3 cp - | zstd -dc | psql`, each into a fresh
 *   PostgreSQL 18 scratch
 *
 * Figures are printed and written to /tmp/bench_results.json; nothing is asserted.
 *
 * Usage: `deno task bench [--sizes 512,2048] [--part-size-mib N]` (MiB of dump; the default's
 * second size is 4×; `--part-size-mib` sets the backup's S3_PART_SIZE_MIB, default its own).
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DumpStatsStream, SectionedDumpStream } from "../../lib/dump/stream.ts";
import { startPostgres } from "../harness/postgres.ts";
import { BASE_ENV } from "../harness/process.ts";
import { runEntrypoint, spawnEntrypoint } from "../harness/run.ts";
import { type Stack, startStack } from "../harness/stack.ts";
import { PG15_BIN_DIR } from "../harness/tools.ts";
import { addUnits, BENCH_DATABASES, createBenchSchema, settle } from "./_bench_data.ts";
import {
  flushPageCache,
  RssSampler,
  type StreamPass,
  timeDumpThrough,
  timeInMemory,
  timeShell,
} from "./_bench_measure.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RESULTS_PATH = "/tmp/bench_results.json";
const PG_DUMPALL = `${PG15_BIN_DIR}/pg_dumpall`;
const PSQL = `${PG15_BIN_DIR}/psql`;
const AWS = "/usr/bin/aws";
const ZSTD = "/usr/bin/zstd";
const RUN_TIMEOUT_MS = 3600_000;

/** Every figure of one size. Seconds are wall clock unless named otherwise. */
interface SizeResult {
  target_mib: number;
  dump_mib: number;
  compressed_mib: number;
  /** The same dump as one zstd stream ((b)'s object), to price the sections' frames. */
  pipeline_compressed_mib: number;
  sections: number;
  dump_rows: number;
  generate_s: number;
  pipeline_zstd_devnull_s: number;
  pipeline_zstd_aws_s: number;
  backup_s: number;
  backup_stream_s: number;
  backup_ratio_to_zstd_devnull: number;
  backup_ratio_to_zstd_aws: number;
  backup_stream_ratio_to_zstd_aws: number;
  backup_dump_mib_per_s: number;
  backup_peak_rss_mib: number;
  backup_peak_rss_polled_mib: number;
  backup_children_peak_rss_mib: number;
  backup_children_peak_rss_by_command_mib: Record<string, number>;
  backup_deno_cpu_s: number;
  backup_children_cpu_s: number;
  backup_part_size_mib: string;
  count_passthrough_s: number;
  count_dumpstats_s: number;
  count_passthrough_cpu_s: number;
  count_dumpstats_cpu_s: number;
  count_overhead_wall_pct_of_backup: number;
  count_overhead_cpu_pct_of_backup: number;
  count_chunks: number;
  count_in_memory_passthrough_s: number;
  count_in_memory_dumpstats_s: number;
  count_in_memory_dumpstats_mib_per_s: number;
  count_in_memory_overhead_pct_of_backup: number;
  digest_in_memory_mib_per_s: number;
  value_check_s: number;
  value_check_pct_of_restore: number;
  rows_per_second_by_value: number;
  copy_out_floor_s: number;
  drill_restore_s: number;
  raw_restore_s: number;
  restore_ratio: number;
  drill_rows_per_second_verified: number;
  drill_phases_ms: Record<string, number>;
  drill_rows: number;
}

function say(text: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function parseSizes(text: string): number[] {
  const sizes = text.split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`Cannot parse --sizes "${text}": expected MiB such as 512,2048`);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** libpq variables and PATH for the shell pipelines against `pg`. */
function pgShellEnv(pg: { env: Record<string, string> }): Record<string, string> {
  return {
    PATH: `${PG15_BIN_DIR}:${BASE_ENV.PATH}`,
    LC_ALL: "C.UTF-8",
    ...pg.env,
  };
}

/** Credentials for Debian's AWS CLI, through the environment only. */
function awsEnv(stack: Stack): Record<string, string> {
  return {
    HOME: stack.s3.dir,
    AWS_ACCESS_KEY_ID: stack.s3.accessKey,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretKey,
    AWS_DEFAULT_REGION: stack.s3.region,
    AWS_PAGER: "",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  };
}

function lineWith(lines: Record<string, unknown>[], msg: string): Record<string, unknown> {
  const found = lines.find((l) => l.msg === msg);
  if (found === undefined) throw new Error(`find log line failed: no "${msg}" line`);
  return found;
}

/** The faster of two passes (by wall clock), to keep one noisy pass from deciding a figure. */
function fastest(a: StreamPass, b: StreamPass): StreamPass {
  return a.seconds <= b.seconds ? a : b;
}

async function measureSize(
  stack: Stack,
  targetMiB: number,
  generateSeconds: number,
  backupExtraEnv: Record<string, string>,
): Promise<SizeResult> {
  const sourceEnv = pgShellEnv(stack.source);
  const aws = `${AWS} --endpoint-url ${stack.s3.endpoint} --no-cli-pager`;
  const prefix = `bench-backup-${targetMiB}`;

  // (d) Row counting, priced in this process: the same dump through a bare pass-through and
  // through DumpStatsStream, alternated twice; the faster pass of each counts. The first pass
  // also warms the source's page cache for (a) and (b).
  say(`${targetMiB} MiB: (d) pg_dumpall through pass-through, DumpStatsStream, twice each`);
  await flushPageCache();
  const passes: StreamPass[] = [];
  const countedPasses: StreamPass[] = [];
  let stats = new SectionedDumpStream({ dropInternalOptions: true });
  for (let round = 0; round < 2; round++) {
    passes.push(await timeDumpThrough(PG_DUMPALL, sourceEnv, new TransformStream()));
    stats = new SectionedDumpStream({ dropInternalOptions: true });
    countedPasses.push(await timeDumpThrough(PG_DUMPALL, sourceEnv, stats));
  }
  const pass = fastest(passes[0]!, passes[1]!);
  const counted = fastest(countedPasses[0]!, countedPasses[1]!);
  // The same, isolated: the dump's own chunks from memory, so only the scan itself is timed.
  say(`${targetMiB} MiB: (d) the same chunks from memory, pass-through vs DumpStatsStream`);
  let memPass: StreamPass;
  let memStats: StreamPass;
  let memDigest: StreamPass;
  {
    const chunks: Uint8Array[] = [];
    await timeDumpThrough(PG_DUMPALL, sourceEnv, new TransformStream(), chunks);
    const memPasses: StreamPass[] = [];
    const memCounted: StreamPass[] = [];
    const memDigested: StreamPass[] = [];
    for (let round = 0; round < 2; round++) {
      memPasses.push(await timeInMemory(chunks, new TransformStream()));
      memCounted.push(
        await timeInMemory(chunks, new SectionedDumpStream({ dropInternalOptions: true })),
      );
      memDigested.push(await timeInMemory(chunks, new DumpStatsStream({ digests: true })));
    }
    memPass = fastest(memPasses[0]!, memPasses[1]!);
    memStats = fastest(memCounted[0]!, memCounted[1]!);
    memDigest = fastest(memDigested[0]!, memDigested[1]!);
    chunks.length = 0;
  }

  // (a) and (b): the reference pipelines.
  say(`${targetMiB} MiB: (a) pg_dumpall | zstd -T0 -3 > /dev/null`);
  await flushPageCache();
  const a = await timeShell(
    "pipeline (a)",
    `${PG_DUMPALL} --no-password | ${ZSTD} -q -T0 -3 -c > /dev/null`,
    sourceEnv,
  );
  say(`${targetMiB} MiB: (b) pg_dumpall | zstd -T0 -3 | aws s3 cp -`);
  await flushPageCache();
  const b = await timeShell(
    "pipeline (b)",
    `${PG_DUMPALL} --no-password | ${ZSTD} -q -T0 -3 -c | ${aws} s3 cp - s3://${stack.bucket}/bench/pipeline-${targetMiB}.sql.zst`,
    { ...sourceEnv, ...awsEnv(stack) },
  );

  const pipelineKey = `bench/pipeline-${targetMiB}.sql.zst`;
  const pipelineBytes = (await stack.listKeys("bench/")).find((k) => k.key === pipelineKey)?.size ??
    NaN;

  // (c) The backup program, as its deno.json task runs it, with its RSS polled from /proc.
  say(`${targetMiB} MiB: (c) backup.ts`);
  await flushPageCache();
  const backupEnv = { ...stack.backupEnv, S3_PREFIX: prefix, ...backupExtraEnv };
  const run = spawnEntrypoint("backup.ts", backupEnv, [], { timeoutMs: RUN_TIMEOUT_MS });
  const sampler = new RssSampler(run.pid);
  const backup = await run.result;
  const peaks = sampler.stop();
  if (backup.code !== 0) {
    throw new Error(`backup.ts failed (exit ${backup.code}): ${backup.stderr.slice(-2000)}`);
  }
  const ok = lineWith(backup.lines, "backup OK");
  const streamed = lineWith(backup.lines, "stream OK");
  const key = String(ok.key);
  const backupSeconds = backup.durationMs / 1000;

  // (e) The drill's restore vs the raw pipe, each into a fresh PostgreSQL 18 scratch.
  say(`${targetMiB} MiB: (e) restore_drill.ts into a fresh PostgreSQL 18`);
  let copyFloor: { seconds: number } = { seconds: NaN };
  let report: {
    phases_ms: Record<string, number>;
    restored: { rows: number; rows_per_second_verified: number };
    values: { rows_by_value: number; rows_per_second_by_value: number };
  };
  {
    await using scratch = await startPostgres({
      version: 18,
      superuser: "drill_admin",
      name: "bench-drill",
    });
    await flushPageCache();
    const drill = await runEntrypoint(
      "restore_drill.ts",
      {
        ...stack.drillEnv,
        S3_PREFIX: prefix,
        SCRATCH_PGHOST: scratch.host,
        SCRATCH_PGPORT: String(scratch.port),
        SCRATCH_PGUSER: scratch.user,
        SCRATCH_PGPASSWORD: scratch.password,
        EXPECTED_DATABASES: BENCH_DATABASES.join(","),
      },
      [],
      { timeoutMs: RUN_TIMEOUT_MS },
    );
    if (drill.code !== 0) {
      throw new Error(`restore_drill.ts failed (exit ${drill.code}): ${drill.stderr.slice(-2000)}`);
    }
    report = lineWith(drill.lines, "drill report").report as typeof report;
    // The value check's floor: the server rendering every table with COPY TO, into /dev/null.
    say(`${targetMiB} MiB: (e) psql COPY ... TO STDOUT > /dev/null of every table (floor)`);
    copyFloor = await timeShell(
      "copy floor",
      `for db in ${BENCH_DATABASES.join(" ")}; do
         for t in $(${PSQL} -X -Atd "$db" -c "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public'"); do
           ${PSQL} -X -q -d "$db" -c "COPY $t TO STDOUT" > /dev/null
         done
       done`,
      pgShellEnv(scratch),
    );
  }
  say(`${targetMiB} MiB: (e) raw aws s3 cp - | zstd -dc | psql into a fresh PostgreSQL 18`);
  let raw: { seconds: number };
  {
    await using scratch = await startPostgres({
      version: 18,
      superuser: "drill_admin",
      name: "bench-raw",
    });
    await flushPageCache();
    raw = await timeShell(
      "raw restore",
      `${aws} s3 cp s3://${stack.bucket}/${key} - | ${ZSTD} -q -dc | ${PSQL} -X -q -v ON_ERROR_STOP=1 -d postgres > /dev/null`,
      { ...pgShellEnv(scratch), ...awsEnv(stack) },
    );
  }

  const dumpMiB = counted.bytes / MiB;
  const drillRestore = (report.phases_ms.restore ?? NaN) / 1000;
  const countWall = counted.seconds - pass.seconds;
  const countCpu = counted.cpuSeconds - pass.cpuSeconds;
  const byCommand: Record<string, number> = {};
  for (const [name, bytes] of Object.entries(peaks.byCommand)) {
    byCommand[name] = round(bytes / MiB, 1);
  }
  return {
    target_mib: targetMiB,
    dump_mib: round(dumpMiB, 1),
    compressed_mib: round(Number(ok.bytes) / MiB, 1),
    pipeline_compressed_mib: round(pipelineBytes / MiB, 1),
    sections: Number(streamed.sections ?? 0),
    dump_rows: stats.rows,
    generate_s: round(generateSeconds, 1),
    pipeline_zstd_devnull_s: round(a.seconds),
    pipeline_zstd_aws_s: round(b.seconds),
    backup_s: round(backupSeconds),
    backup_stream_s: round(Number(streamed.duration_ms) / 1000),
    backup_ratio_to_zstd_devnull: round(backupSeconds / a.seconds, 3),
    backup_ratio_to_zstd_aws: round(backupSeconds / b.seconds, 3),
    backup_stream_ratio_to_zstd_aws: round(Number(streamed.duration_ms) / 1000 / b.seconds, 3),
    backup_dump_mib_per_s: round(Number(ok.dump_bytes) / MiB / backupSeconds, 1),
    backup_peak_rss_mib: round(peaks.hwmBytes / MiB, 1),
    backup_peak_rss_polled_mib: round(peaks.rssBytes / MiB, 1),
    backup_children_peak_rss_mib: round(peaks.childrenBytes / MiB, 1),
    backup_children_peak_rss_by_command_mib: byCommand,
    backup_deno_cpu_s: round(peaks.cpuSeconds),
    backup_children_cpu_s: round(peaks.childrenCpuSeconds),
    backup_part_size_mib: backupExtraEnv.S3_PART_SIZE_MIB ?? "default",
    count_passthrough_s: round(pass.seconds),
    count_dumpstats_s: round(counted.seconds),
    count_passthrough_cpu_s: round(pass.cpuSeconds),
    count_dumpstats_cpu_s: round(counted.cpuSeconds),
    count_overhead_wall_pct_of_backup: round((countWall / backupSeconds) * 100, 1),
    count_overhead_cpu_pct_of_backup: round((countCpu / backupSeconds) * 100, 1),
    count_chunks: counted.chunks,
    count_in_memory_passthrough_s: round(memPass.seconds, 3),
    count_in_memory_dumpstats_s: round(memStats.seconds, 3),
    count_in_memory_dumpstats_mib_per_s: round(memStats.bytes / MiB / memStats.seconds, 0),
    count_in_memory_overhead_pct_of_backup: round(
      ((memStats.seconds - memPass.seconds) / backupSeconds) * 100,
      1,
    ),
    drill_restore_s: round(drillRestore),
    raw_restore_s: round(raw.seconds),
    restore_ratio: round(drillRestore / raw.seconds, 3),
    drill_rows_per_second_verified: report.restored.rows_per_second_verified,
    drill_phases_ms: report.phases_ms,
    drill_rows: report.restored.rows,
    digest_in_memory_mib_per_s: round(memDigest.bytes / MiB / memDigest.seconds, 0),
    value_check_s: round((report.phases_ms.verify ?? NaN) / 1000),
    value_check_pct_of_restore: round(
      ((report.phases_ms.verify ?? NaN) / (report.phases_ms.restore ?? NaN)) * 100,
      1,
    ),
    rows_per_second_by_value: report.values.rows_per_second_by_value,
    copy_out_floor_s: round(copyFloor.seconds),
  };
}

/** The printed table: one row per figure, one column per size. */
function table(results: SizeResult[]): string {
  const rows: [string, (r: SizeResult) => string][] = [
    ["dump MiB (measured)", (r) => r.dump_mib.toFixed(1)],
    ["compressed MiB (zstd -3)", (r) => r.compressed_mib.toFixed(1)],
    [
      "  as one stream ((b)'s object), sections",
      (r) => `${r.pipeline_compressed_mib.toFixed(1)}, ${r.sections}`,
    ],
    ["rows in dump", (r) => String(r.dump_rows)],
    ["(a) dumpall|zstd >/dev/null s", (r) => r.pipeline_zstd_devnull_s.toFixed(2)],
    ["(b) dumpall|zstd|aws s3 cp s", (r) => r.pipeline_zstd_aws_s.toFixed(2)],
    ["(c) backup.ts s (whole run)", (r) => r.backup_s.toFixed(2)],
    ["    of which stream phase s", (r) => r.backup_stream_s.toFixed(2)],
    ["backup / (a)", (r) => r.backup_ratio_to_zstd_devnull.toFixed(3)],
    ["backup / (b)", (r) => r.backup_ratio_to_zstd_aws.toFixed(3)],
    ["backup stream phase / (b)", (r) => r.backup_stream_ratio_to_zstd_aws.toFixed(3)],
    ["backup MiB/s of dump", (r) => r.backup_dump_mib_per_s.toFixed(1)],
    ["backup peak RSS MiB (deno VmHWM)", (r) => r.backup_peak_rss_mib.toFixed(1)],
    ["children peak RSS MiB (sum)", (r) => r.backup_children_peak_rss_mib.toFixed(1)],
    [
      "backup deno CPU s / children CPU s",
      (r) => `${r.backup_deno_cpu_s.toFixed(1)} / ${r.backup_children_cpu_s.toFixed(1)}`,
    ],
    [
      "(d) dumpall→pass-through s / CPU s",
      (r) => `${r.count_passthrough_s.toFixed(2)} / ${r.count_passthrough_cpu_s.toFixed(2)}`,
    ],
    [
      "(d) dumpall→DumpStatsStream s / CPU s",
      (r) => `${r.count_dumpstats_s.toFixed(2)} / ${r.count_dumpstats_cpu_s.toFixed(2)}`,
    ],
    ["counting overhead % of backup (wall)", (r) => r.count_overhead_wall_pct_of_backup.toFixed(1)],
    ["counting overhead % of backup (CPU)", (r) => r.count_overhead_cpu_pct_of_backup.toFixed(1)],
    [
      "(d) in memory: DumpStatsStream s, MiB/s",
      (r) =>
        `${r.count_in_memory_dumpstats_s.toFixed(2)}, ${r.count_in_memory_dumpstats_mib_per_s}`,
    ],
    [
      "counting cost % of backup (in memory)",
      (r) => r.count_in_memory_overhead_pct_of_backup.toFixed(1),
    ],
    ["(e) drill restore phase s", (r) => r.drill_restore_s.toFixed(2)],
    ["(e) raw aws|zstd -dc|psql s", (r) => r.raw_restore_s.toFixed(2)],
    ["drill restore / raw", (r) => r.restore_ratio.toFixed(3)],
    ["rows/s verified (drill report)", (r) => String(r.drill_rows_per_second_verified)],
    [
      "(d') in memory: parser with value digests MiB/s",
      (r) => String(r.digest_in_memory_mib_per_s),
    ],
    ["(e) value check (verify phase) s", (r) => r.value_check_s.toFixed(2)],
    [
      "value check % of drill restore (target ≤ 30)",
      (r) => r.value_check_pct_of_restore.toFixed(1),
    ],
    ["rows/s verified by value", (r) => String(r.rows_per_second_by_value)],
    ["(e) floor: psql COPY TO /dev/null, every table s", (r) => r.copy_out_floor_s.toFixed(2)],
  ];
  const heads = ["", ...results.map((r) => `${r.target_mib} MiB target`)];
  const body = rows.map(([label, cell]) => [label, ...results.map(cell)]);
  const widths = heads.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ");
  const rule = widths.map((w) => "-".repeat(w)).join("-|-");
  return [fmt(heads), rule, ...body.map(fmt)].join("\n");
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: "string", default: "512,2048" },
      "part-size-mib": { type: "string" },
    },
  });
  const sizes = parseSizes(values.sizes);
  const backupExtraEnv: Record<string, string> = {};
  if (values["part-size-mib"] !== undefined) {
    backupExtraEnv.S3_PART_SIZE_MIB = values["part-size-mib"];
  }
  const t0 = performance.now();

  // Load the entrypoints' modules once, so the first timed run does not pay for it.
  await runEntrypoint("backup.ts", {}, ["--version"]);
  await runEntrypoint("restore_drill.ts", {}, ["--version"]);

  // Bluestore on a sparse file: memstore would keep every uploaded byte in RAM.
  say("starting the stack (source PostgreSQL 15, RGW on bluestore)");
  await using stack = await startStack({
    // The figures in README were measured with PostgreSQL 15 and its client: keep them comparable.
    source: 15,
    client: 15,
    sample: "none",
    rgw: { objectstore: "bluestore", storeBytes: 32 * GiB },
  });
  const sourceEnv = pgShellEnv(stack.source);
  await createBenchSchema(stack.source);

  // Calibrate: the dump's bytes per generation unit, measured with one unit.
  const empty = await timeDumpThrough(PG_DUMPALL, sourceEnv, new TransformStream());
  await addUnits(stack.source, 0, 1);
  let loaded = 1;
  const perUnit = (await timeDumpThrough(PG_DUMPALL, sourceEnv, new TransformStream())).bytes -
    empty.bytes;
  say(`one generation unit dumps to ${(perUnit / MiB).toFixed(2)} MiB`);

  const results: SizeResult[] = [];
  for (const size of sizes) {
    // Grow the same cluster to the next size; 2% headroom so the dump is at least the size.
    const units = Math.ceil(((size * MiB - empty.bytes) / perUnit) * 1.02);
    say(`${size} MiB: generating ${units - loaded} more units (${units} in all)`);
    const g0 = performance.now();
    await addUnits(stack.source, loaded, units - loaded);
    loaded = Math.max(loaded, units);
    await settle(stack.source);
    const generated = (performance.now() - g0) / 1000;
    say(`${size} MiB: generated in ${generated.toFixed(1)} s`);
    const result = await measureSize(stack, size, generated, backupExtraEnv);
    results.push(result);
    console.log(`\n${table([result])}\n`);
  }

  const totalSeconds = (performance.now() - t0) / 1000;
  writeFileSync(
    RESULTS_PATH,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        total_s: round(totalSeconds, 1),
        cores: navigator.hardwareConcurrency,
        backup_env: backupExtraEnv,
        results,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`backup-toolbox benchmark (${round(totalSeconds, 0)} s in all)\n`);
  console.log(table(results));
  console.log(`\nfigures as JSON: ${RESULTS_PATH}`);
}

if (import.meta.main) await main(Deno.args);
