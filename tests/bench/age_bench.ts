/**
 * What encryption at rest costs (issue 12): the same cluster backed up without and with
 * AGE_RECIPIENTS (`pg_dumpall | zstd | age`), alternated, then each backup's drill restore
 * phase without and with `age -d`, into a fresh PostgreSQL 18 scratch each time. It prints the
 * medians, the ratios encrypted / plain, the CPU the backup's children used (age's share shows
 * there), peak RSS, and the stored sizes. Figures only; nothing is asserted.
 *
 * Usage: `deno run --allow-all tests/bench/age_bench.ts [--size-mib 256] [--runs 3] [--no-drill]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startPostgres } from "../harness/postgres.ts";
import { runEntrypoint, spawnEntrypoint } from "../harness/run.ts";
import { requireTool } from "../harness/tools.ts";
import { BENCH_DATABASES, startSizedStack } from "./_bench_data.ts";
import { flushPageCache, RssSampler } from "./_bench_measure.ts";

const MiB = 1024 * 1024;
const RUN_TIMEOUT_MS = 3600_000;

function say(text: string): void {
  console.error(`[age bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function list(values: number[]): string {
  return values.map((v) => v.toFixed(2)).join(", ");
}

/** One backup run's figures. */
interface BackupRun {
  seconds: number;
  streamSeconds: number;
  childrenCpuSeconds: number;
  denoCpuSeconds: number;
  rssMiB: number;
  dumpMiB: number;
  storedMiB: number;
  prefix: string;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string", default: "256" },
      runs: { type: "string", default: "3" },
      "no-drill": { type: "boolean", default: false },
    },
  });
  const sizeMiB = Number(values["size-mib"]);
  const runs = Number(values.runs);
  const keygen = await new Deno.Command(requireTool("age-keygen"), {
    stdout: "piped",
    stderr: "null",
  }).output();
  const identity = new TextDecoder().decode(keygen.stdout);
  const recipient = /# public key: (age1\S+)/.exec(identity)![1]!;
  const keyDir = await Deno.makeTempDir({ prefix: "age-bench-" });
  const identityFile = `${keyDir}/identity.txt`;
  await Deno.writeTextFile(identityFile, identity, { mode: 0o600 });

  say("starting the stack (source PostgreSQL 18, RGW on bluestore)");
  await using stack = await startSizedStack(sizeMiB, say);

  const backup = async (encrypted: boolean, n: number): Promise<BackupRun> => {
    const prefix = `age-bench-${encrypted ? "encrypted" : "plain"}-${n}`;
    await flushPageCache();
    const run = spawnEntrypoint(
      "backup.ts",
      {
        ...stack.backupEnv,
        S3_PREFIX: prefix,
        ...(encrypted ? { AGE_RECIPIENTS: recipient } : {}),
      },
      [],
      { timeoutMs: RUN_TIMEOUT_MS },
    );
    const sampler = new RssSampler(run.pid);
    const result = await run.result;
    const peaks = sampler.stop();
    if (result.code !== 0) throw new Error(`backup failed: ${result.stderr.slice(-2000)}`);
    const ok = result.lines.find((l) => l.msg === "backup OK")!;
    const streamed = result.lines.find((l) => l.msg === "stream OK")!;
    return {
      seconds: result.durationMs / 1000,
      streamSeconds: Number(streamed.duration_ms) / 1000,
      childrenCpuSeconds: peaks.childrenCpuSeconds,
      denoCpuSeconds: peaks.cpuSeconds,
      rssMiB: peaks.hwmBytes / MiB,
      dumpMiB: Number(ok.dump_bytes) / MiB,
      storedMiB: Number(ok.bytes) / MiB,
      prefix,
    };
  };

  const drillRestore = async (prefix: string, encrypted: boolean): Promise<number> => {
    await using scratch = await startPostgres({
      version: 18,
      superuser: "drill_admin",
      name: "age-bench-scratch",
    });
    await flushPageCache();
    const run = await runEntrypoint(
      "restore_drill.ts",
      {
        ...stack.drillEnv,
        S3_PREFIX: prefix,
        SCRATCH_PGHOST: scratch.host,
        SCRATCH_PGPORT: String(scratch.port),
        SCRATCH_PGUSER: scratch.user,
        SCRATCH_PGPASSWORD: scratch.password,
        EXPECTED_DATABASES: BENCH_DATABASES.join(","),
        ...(encrypted ? { AGE_IDENTITY_FILE: identityFile } : {}),
      },
      [],
      { timeoutMs: RUN_TIMEOUT_MS },
    );
    if (run.code !== 0) throw new Error(`drill failed: ${run.stderr.slice(-2000)}`);
    const report = run.lines.find((l) => l.msg === "drill report")!.report as {
      phases_ms: Record<string, number>;
    };
    return (report.phases_ms.restore ?? NaN) / 1000;
  };

  try {
    const plain: BackupRun[] = [];
    const encrypted: BackupRun[] = [];
    const plainRestore: number[] = [];
    const encryptedRestore: number[] = [];
    for (let i = 0; i < runs; i++) {
      say(`run ${i + 1}/${runs}: backup without encryption`);
      plain.push(await backup(false, i));
      say(`run ${i + 1}/${runs}: backup with AGE_RECIPIENTS`);
      encrypted.push(await backup(true, i));
      if (!values["no-drill"]) {
        say(`run ${i + 1}/${runs}: drill restore of each`);
        plainRestore.push(await drillRestore(plain[i]!.prefix, false));
        encryptedRestore.push(await drillRestore(encrypted[i]!.prefix, true));
      }
    }
    const m = (runs: BackupRun[], f: (r: BackupRun) => number) => median(runs.map(f));
    const row = (label: string, a: string, b: string, ratio?: number) =>
      console.log(
        `${label.padEnd(34)} ${a.padStart(10)} ${b.padStart(10)} ${
          ratio === undefined ? "" : ratio.toFixed(3).padStart(9)
        }`,
      );
    console.log(
      `\nwhat encryption at rest costs (${runs} runs each, medians; ${navigator.hardwareConcurrency} cores)`,
    );
    console.log(`${"".padEnd(34)} ${"plain".padStart(10)} ${"age".padStart(10)} age/plain`);
    const ratioRow = (label: string, f: (r: BackupRun) => number) =>
      row(label, m(plain, f).toFixed(2), m(encrypted, f).toFixed(2), m(encrypted, f) / m(plain, f));
    row(
      "dump MiB",
      m(plain, (r) => r.dumpMiB).toFixed(1),
      m(encrypted, (r) => r.dumpMiB).toFixed(1),
    );
    ratioRow("stored MiB", (r) => r.storedMiB);
    ratioRow("backup s (whole run)", (r) => r.seconds);
    ratioRow("backup stream phase s", (r) => r.streamSeconds);
    ratioRow("backup children CPU s", (r) => r.childrenCpuSeconds);
    ratioRow("backup deno CPU s", (r) => r.denoCpuSeconds);
    ratioRow("backup peak RSS MiB (deno VmHWM)", (r) => r.rssMiB);
    if (plainRestore.length > 0) {
      row(
        "drill restore phase s",
        median(plainRestore).toFixed(2),
        median(encryptedRestore).toFixed(2),
        median(encryptedRestore) / median(plainRestore),
      );
    }
    console.log(
      `\nbackup s, each run: plain ${list(plain.map((r) => r.seconds))}; age ${
        list(encrypted.map((r) => r.seconds))
      }`,
    );
    if (plainRestore.length > 0) {
      console.log(
        `drill restore s, each run: plain ${list(plainRestore)}; age ${list(encryptedRestore)}`,
      );
    }
  } finally {
    await Deno.remove(keyDir, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
