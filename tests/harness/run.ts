/**
 * Run the entrypoints the way operators do: `deno run` with exactly the `--allow-*` flags
 * of their deno.json task, a clean environment, and the JSON log lines collected.
 *
 * @module
 */

import { BASE_ENV, signalNumber } from "./process.ts";
import { clientBinDir } from "./tools.ts";

/** An entrypoint at the repo root. */
export type Entrypoint = "backup.ts" | "restore_drill.ts";

/** What one run produced. */
export interface RunResult {
  /** Exit code; 128 + n when killed by signal n. */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout then stderr. */
  output: string;
  /** Each stderr line that parses as a JSON object, in order. */
  lines: Record<string, unknown>[];
  /** The last of `lines`, or `{}`. */
  lastLine: Record<string, unknown>;
  durationMs: number;
}

/** Options for a run. */
export interface RunOptions {
  /** Aborting sends SIGTERM to the program. */
  signal?: AbortSignal;
  /** SIGKILL after this long. @default 300000 */
  timeoutMs?: number;
  /** Called with each output line as it arrives (to stream a run to a terminal). */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A program still running; see {@linkcode spawnEntrypoint}. */
export interface RunningEntrypoint {
  /** PID of the `deno` process running the script. */
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** JSON log lines seen so far (grows while it runs). */
  readonly lines: Record<string, unknown>[];
  /**
   * Resolve with the first JSON line (seen already or later) that matches.
   *
   * @throws {Error} When the program exits or `timeoutMs` passes first.
   */
  waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Send a signal to the program (not to its children). */
  kill(signal: Deno.Signal): void;
  /** Settles when the program has exited and its output is read. */
  readonly result: Promise<RunResult>;
}

/** The repo root: two levels above this file. */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

const TASK_OF: Record<Entrypoint, string> = { "backup.ts": "backup", "restore_drill.ts": "drill" };

/**
 * The `--allow-*` flags of the deno.json task that runs `script`.
 *
 * @throws {Error} When deno.json has no such task or the task grants nothing.
 */
export function taskPermissions(script: Entrypoint): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)) as {
    tasks?: Record<string, string>;
  };
  const task = TASK_OF[script];
  const command = config.tasks?.[task];
  if (command === undefined) throw new Error(`read task "${task}" failed: not in deno.json`);
  const flags = command.split(/\s+/).filter((token) => token.startsWith("--allow-"));
  if (flags.length === 0) throw new Error(`read task "${task}" failed: it has no --allow-* flags`);
  return flags;
}

/**
 * A PATH with one PostgreSQL client's bin dir first, then the harness's base PATH: what the
 * entrypoints find as `pg_dumpall` and `psql`.
 *
 * @param version 18 (production's client, the default) or 15 (Debian's, for the older-tooling
 *   cases).
 * @throws {Error} When that client's tools are missing, naming `make setup`.
 * @example
 * ```ts
 * // A backup made by older tooling: pg_dumpall 15.
 * await runEntrypoint("backup.ts", { ...stack.backupEnv, PATH: clientPath(15) });
 * ```
 */
export function clientPath(version: 15 | 18 = 18): string {
  return `${clientBinDir(version)}:${BASE_ENV.PATH ?? "/usr/bin:/bin"}`;
}

/**
 * The environment a program gets: PATH (the PostgreSQL 18 client first, see
 * {@linkcode clientPath}), HOME (and DENO_DIR when set, so Deno finds its cache), NO_COLOR=1,
 * then `env`, whose PATH wins. Nothing else is inherited.
 */
export function cleanEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {
    // Production's client first: pg_dumpall 18 and psql 18, no pg_wrapper guessing a version.
    PATH: env.PATH ?? clientPath(18),
    HOME: Deno.env.get("HOME") ?? "/root",
    // Deno colors its own errors even on a pipe; tests match plain text.
    NO_COLOR: "1",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir !== undefined) base.DENO_DIR = denoDir;
  return { ...base, ...env };
}

/**
 * Start an entrypoint and return at once, to watch its lines or signal it mid-run.
 *
 * @param script `backup.ts` or `restore_drill.ts`.
 * @param env Its whole environment on top of PATH and HOME (see {@linkcode cleanEnv}).
 * @param args Its arguments.
 * @example
 * ```ts
 * const run = spawnEntrypoint("backup.ts", stack.backupEnv);
 * await run.waitForLine((l) => l.msg === "dump started");
 * run.kill("SIGTERM");
 * const result = await run.result;
 * ```
 */
export function spawnEntrypoint(
  script: Entrypoint,
  env: Record<string, string>,
  args: string[] = [],
  opts: RunOptions = {},
): RunningEntrypoint {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskPermissions(script), script, ...args],
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let exited = false;
  const notify = () => listeners.forEach((listener) => listener());

  const stdout = _readAll(child.stdout, (line) => opts.onLine?.(line, "stdout"));
  const stderr = _readAll(child.stderr, (line) => {
    opts.onLine?.(line, "stderr");
    const parsed = _parseJsonObject(line);
    if (parsed !== undefined) {
      lines.push(parsed);
      notify();
    }
  });

  const kill = (signal: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  };
  const onAbort = () => kill("SIGTERM");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => kill("SIGKILL"), opts.timeoutMs ?? 300_000);

  const result = (async (): Promise<RunResult> => {
    const [status, out, err] = await Promise.all([child.status, stdout, stderr]);
    exited = true;
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    notify();
    return {
      code: status.signal === null ? status.code : 128 + signalNumber(status.signal),
      stdout: out,
      stderr: err,
      output: out + err,
      lines,
      lastLine: lines.at(-1) ?? {},
      durationMs: Math.round(performance.now() - started),
    };
  })();

  const waitForLine = (
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> => {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find(predicate);
        if (found !== undefined) return done(() => resolve(found));
        if (exited) {
          done(() =>
            reject(new Error(`wait for a log line failed: ${script} exited without printing it`))
          );
        }
      };
      const timeout = setTimeout(() => {
        done(() =>
          reject(new Error(`wait for a log line failed: none matched within ${timeoutMs} ms`))
        );
      }, timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timeout);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  };

  return { pid: child.pid, child, lines, waitForLine, kill, result };
}

/**
 * Run an entrypoint to its end.
 *
 * @param script `backup.ts` or `restore_drill.ts`.
 * @param env Its whole environment on top of PATH and HOME (see {@linkcode cleanEnv}).
 * @param args Its arguments.
 * @returns Exit code, output and JSON log lines; never throws for a non-zero exit.
 * @example
 * ```ts
 * const run = await runEntrypoint("backup.ts", stack.backupEnv);
 * assert.equal(run.code, 0);
 * ```
 */
export function runEntrypoint(
  script: Entrypoint,
  env: Record<string, string>,
  args: string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  return spawnEntrypoint(script, env, args, opts).result;
}

/**
 * PIDs of every descendant of `pid` (children, grandchildren, ...), read from /proc.
 *
 * @returns Ascending PIDs; empty when it has none or has exited.
 */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // Field 4 (ppid) follows the command name, which may contain spaces and parens.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry.name), ppid);
    } catch {
      // The process exited while we were reading.
    }
  }
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found.sort((a, b) => a - b);
}

/**
 * The command line of a process, arguments joined by spaces.
 *
 * @returns `""` when the process has exited (or is a zombie).
 */
export function cmdlineOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

async function _readAll(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let pending = "";
  for await (const chunk of stream) {
    const piece = decoder.decode(chunk, { stream: true });
    text += piece;
    pending += piece;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    parts.forEach(onLine);
  }
  const rest = pending + decoder.decode();
  if (rest !== "") onLine(rest);
  return text;
}

function _parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.trimStart().startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}
