/**
 * Measuring helpers for the benchmark: timed shell pipelines, a peak-RSS sampler that reads
 * /proc, and a timed pass of pg_dumpall's output through a TransformStream in this process.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { descendants } from "../harness/run.ts";

/** What a timed shell pipeline did. */
export interface TimedShell {
  seconds: number;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run `script` with `bash -o pipefail -c` and time it from spawn to exit.
 *
 * @param script A pipeline; secrets belong in `env`, never in the script text.
 * @param env The whole environment of the pipeline.
 * @throws {Error} When the pipeline exits non-zero, with its stderr.
 */
export async function timeShell(
  what: string,
  script: string,
  env: Record<string, string>,
): Promise<TimedShell> {
  const t0 = performance.now();
  const out = await new Deno.Command("/bin/bash", {
    args: ["-o", "pipefail", "-c", script],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const decoder = new TextDecoder();
  const result = {
    seconds,
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
  if (out.code !== 0) {
    throw new Error(`${what} failed (exit ${out.code}): ${result.stderr.trim().slice(-2000)}`);
  }
  return result;
}

/** Peaks seen by a {@linkcode RssSampler}, in bytes. */
export interface RssPeaks {
  /** The process's own VmHWM (kernel-tracked peak RSS), last value read. */
  hwmBytes: number;
  /** The largest VmRSS seen by polling. */
  rssBytes: number;
  /** The largest sum of VmRSS over all descendants (pg_dumpall, pg_dump, zstd, ...). */
  childrenBytes: number;
  /** The largest VmRSS of each descendant command seen. */
  byCommand: Record<string, number>;
  /** User + system CPU seconds of the process itself, at the last poll. */
  cpuSeconds: number;
  /** User + system CPU seconds of its reaped children (cutime + cstime), at the last poll. */
  childrenCpuSeconds: number;
  samples: number;
}

/** Polls /proc/<pid>/status every `intervalMs`, and the process's descendants too. */
export class RssSampler {
  readonly #pid: number;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #peaks: RssPeaks = {
    hwmBytes: 0,
    rssBytes: 0,
    childrenBytes: 0,
    byCommand: {},
    cpuSeconds: 0,
    childrenCpuSeconds: 0,
    samples: 0,
  };
  #tick = 0;

  /**
   * @param pid The process to watch.
   * @param intervalMs Poll period. @default 100
   * @param childEvery Scan descendants every this many polls (a /proc scan). @default 2
   */
  constructor(pid: number, intervalMs = 100, childEvery = 2) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.#sample(childEvery), intervalMs);
    this.#sample(childEvery);
  }

  #sample(childEvery: number): void {
    const own = _statusKiB(this.#pid);
    if (own === undefined) return;
    this.#peaks.samples++;
    this.#peaks.hwmBytes = Math.max(this.#peaks.hwmBytes, (own.VmHWM ?? 0) * 1024);
    this.#peaks.rssBytes = Math.max(this.#peaks.rssBytes, (own.VmRSS ?? 0) * 1024);
    const cpu = _cpuSeconds(this.#pid);
    if (cpu !== undefined) {
      this.#peaks.cpuSeconds = cpu.own;
      this.#peaks.childrenCpuSeconds = cpu.children;
    }
    if (this.#tick++ % childEvery !== 0) return;
    let sum = 0;
    for (const child of descendants(this.#pid)) {
      const status = _statusKiB(child);
      if (status === undefined) continue;
      const rss = (status.VmRSS ?? 0) * 1024;
      sum += rss;
      const name = status.name;
      this.#peaks.byCommand[name] = Math.max(this.#peaks.byCommand[name] ?? 0, rss);
    }
    this.#peaks.childrenBytes = Math.max(this.#peaks.childrenBytes, sum);
  }

  /** Stop polling and return the peaks. */
  stop(): RssPeaks {
    clearInterval(this.#timer);
    return structuredClone(this.#peaks);
  }
}

/** utime + stime and cutime + cstime from /proc/<pid>/stat, in seconds (USER_HZ = 100). */
function _cpuSeconds(pid: number): { own: number; children: number } | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces): state is field 3, utime field 14.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  const at = (field: number) => f[field - 3] ?? 0;
  return { own: (at(14) + at(15)) / 100, children: (at(16) + at(17)) / 100 };
}

function _statusKiB(pid: number): (Record<string, number> & { name: string }) | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const fields: Record<string, number> & { name: string } = { name: "?" } as
    & Record<string, number>
    & { name: string };
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (m) fields[m[1]!] = Number(m[2]);
    else if (line.startsWith("Name:")) fields.name = line.slice(5).trim();
  }
  return fields;
}

/**
 * Flush dirty pages (`sync`), so writeback left by the previous step (data generation, a
 * restore) does not compete with the next timed one.
 */
export async function flushPageCache(): Promise<void> {
  await new Deno.Command("/bin/sync", { stdout: "null", stderr: "null" }).output();
}

/** What one pass of a dump through a transform cost this process. */
export interface StreamPass {
  seconds: number;
  /** User + system CPU seconds of this whole process during the pass. */
  cpuSeconds: number;
  bytes: number;
  /** How many chunks the transform saw (the pipe's read size decides it). */
  chunks: number;
}

/**
 * Spawn pg_dumpall, pipe its stdout through `transform` into a sink that drops the bytes, and
 * time it (wall clock and this process's CPU).
 *
 * @param pgDumpall Absolute path of pg_dumpall.
 * @param env libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD) and PATH.
 * @param keep When given, the chunks are kept here (for {@linkcode timeInMemory}).
 * @throws {Error} When pg_dumpall exits non-zero.
 */
export async function timeDumpThrough(
  pgDumpall: string,
  env: Record<string, string>,
  transform: TransformStream<Uint8Array, Uint8Array | object>,
  keep?: Uint8Array[],
): Promise<StreamPass> {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  const child = new Deno.Command(pgDumpall, {
    args: ["--no-password"],
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let bytes = 0;
  let chunks = 0;
  const stderr = new Response(child.stderr).text();
  await child.stdout.pipeThrough(transform).pipeTo(
    new WritableStream({
      write(chunk) {
        // A sectioned stream's marks carry no bytes.
        if (!(chunk instanceof Uint8Array)) return;
        bytes += chunk.byteLength;
        chunks++;
        keep?.push(chunk);
      },
    }),
  );
  const [status, err] = await Promise.all([child.status, stderr]);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuUsage(cpu0);
  if (status.code !== 0) {
    throw new Error(`pg_dumpall failed (exit ${status.code}): ${err.trim().slice(-2000)}`);
  }
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, bytes, chunks };
}

/**
 * Time `transform` alone over chunks already in memory (no pipe, no child): what it costs in
 * CPU, apart from reading the dump.
 */
export async function timeInMemory(
  chunks: readonly Uint8Array[],
  transform: TransformStream<Uint8Array, Uint8Array | object>,
): Promise<StreamPass> {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  let bytes = 0;
  await ReadableStream.from(chunks).pipeThrough(transform).pipeTo(
    new WritableStream({
      write(chunk) {
        if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
      },
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, bytes, chunks: chunks.length };
}
