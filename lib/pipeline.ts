/**
 * Child processes for the streaming pipelines (pg_dumpall → zstd, zstd -d → psql). Each child
 * runs in its own process group, so stopping it also stops what it started (pg_dumpall runs
 * pg_dump). Children get an explicit environment: secrets travel in `env`, never in argv.
 *
 * @module
 */
import { PipelineError } from "./errors.ts";

/** What to run. */
export interface ChildSpec {
  /** Program name or path, looked up on PATH. */
  readonly command: string;
  /** Arguments; never a secret. */
  readonly args: readonly string[];
  /** The child's whole environment (it does not inherit ours). */
  readonly env: Readonly<Record<string, string>>;
  /** Whether we write its stdin (otherwise it reads /dev/null). */
  readonly stdin: boolean;
  /** Whether we read its stdout (otherwise it goes to /dev/null). */
  readonly stdout: boolean;
}

/** How a child ended. */
export interface ChildExit {
  /** Exit code (128+n when a signal ended it). */
  readonly code: number;
  /** The signal that ended it, if any. */
  readonly signal: string | null;
  /** Whether we stopped it on purpose. */
  readonly stoppedByUs: boolean;
  /** Monotonic time of exit, to find which child failed first. */
  readonly at: number;
}

/** A running child with its pipes. */
export interface RunningChild {
  /** Short name for messages (`pg_dumpall`). */
  readonly name: string;
  /** Process id (also its process group id). */
  readonly pid: number;
  /** Its stdin, when piped. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /** Its stdout, when piped. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** Resolves when it has exited and its stderr is read. */
  readonly exited: Promise<ChildExit>;
  /** The last non-empty line it wrote to stderr. */
  lastStderrLine(): string;
  /** Every stderr line kept (bounded). */
  stderrTail(): string[];
  /** Stops it and its process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<ChildExit>;
}

const STDERR_LINES_KEPT = 40;

/** The minimal environment every child needs besides its own settings. */
export function baseEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const base: Record<string, string> = {
    PATH: env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    LC_ALL: "C.UTF-8",
  };
  if (env.HOME) base.HOME = env.HOME;
  return base;
}

/**
 * Starts a child in a new session (`setsid`), so its whole group can be stopped.
 *
 * @param name short name used in messages
 * @param spec what to run
 * @returns the running child
 */
export function spawnChild(name: string, spec: ChildSpec): RunningChild {
  const process = new Deno.Command("setsid", {
    args: [spec.command, ...spec.args],
    env: spec.env,
    clearEnv: true,
    stdin: spec.stdin ? "piped" : "null",
    stdout: spec.stdout ? "piped" : "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let stopped = false;
  const stderrDone = collectLines(process.stderr, lines);
  const exited = (async (): Promise<ChildExit> => {
    const status = await process.status;
    await stderrDone;
    return {
      code: status.code,
      signal: status.signal,
      stoppedByUs: stopped,
      at: performance.now(),
    };
  })();
  return {
    name,
    pid: process.pid,
    stdin: spec.stdin ? process.stdin : null,
    stdout: spec.stdout ? process.stdout : null,
    exited,
    lastStderrLine: () => lines.at(-1) ?? "",
    stderrTail: () => [...lines],
    async stop(graceMs = 5000) {
      stopped = true;
      killGroup(process.pid, "SIGTERM");
      const timer = setTimeout(() => killGroup(process.pid, "SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        // A grandchild may outlive its parent; make sure the whole group is gone.
        killGroup(process.pid, "SIGKILL");
      }
    },
  };
}

function killGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

async function collectLines(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    const text = partial + decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    partial = (parts.pop() ?? "").slice(-4096);
    for (const line of parts) keepLine(lines, line);
  }
  keepLine(lines, partial + decoder.decode());
}

function keepLine(lines: string[], line: string): void {
  const trimmed = line.trim();
  if (trimmed === "") return;
  lines.push(trimmed.length > 2000 ? trimmed.slice(0, 2000) + "…" : trimmed);
  if (lines.length > STDERR_LINES_KEPT) lines.shift();
}

/**
 * Waits for every child and throws for the one that failed first on its own (a child that we
 * stopped, or that died of a broken pipe after another failed, is not the cause).
 *
 * @param children the pipeline's children
 * @param hintFor what to tell the operator for a given child's failure
 * @throws {PipelineError} naming the child, its exit code and its last stderr line
 */
export async function assertChildrenSucceeded(
  children: readonly RunningChild[],
  hintFor: (child: RunningChild) => string,
): Promise<void> {
  const exits = await Promise.all(children.map((c) => c.exited));
  const failures = children
    .map((child, i) => ({ child, exit: exits[i]! }))
    .filter(({ exit }) => exit.code !== 0 && !exit.stoppedByUs)
    .sort((a, b) => a.exit.at - b.exit.at);
  const first = failures[0];
  if (!first) return;
  const { child, exit } = first;
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const last = child.lastStderrLine();
  throw new PipelineError(
    child.name,
    exit.signal ? null : exit.code,
    last,
    `${child.name} ${how}${last ? `: ${last}` : ""}`,
    hintFor(child),
  );
}
