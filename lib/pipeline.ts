/**
 * The streaming pipelines (pg_dumpall → zstd → S3, S3 → zstd -d → psql) and the one place
 * that decides which of their parts failed first. Each child runs in its own process group, so
 * stopping it also stops what it started (pg_dumpall runs pg_dump). Children get an explicit
 * environment: secrets travel in `env`, never in argv.
 *
 * Which failure is the cause: a part that failed on its own (a child exiting non-zero, a stage
 * throwing) is a cause; a part that only felt another's failure (killed by SIGPIPE, a write to a
 * closed pipe, a stage stopped because the pipeline stopped) is a consequence. The earliest cause
 * wins; a consequence is reported only when nothing else failed. So a reset upload is never
 * reported as "zstd was killed by SIGPIPE".
 *
 * @module
 */
import { PipelineError, PreflightError, StoppedError } from "./errors.ts";

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
  /**
   * Picks the stderr line that says why it failed (age ends with a line asking to report the
   * error, after the reason). Default: the last non-empty line.
   */
  readonly errorLine?: (lines: readonly string[]) => string;
}

/** How a child ended. */
export interface ChildExit {
  /** Exit code (128+n when a signal ended it). */
  readonly code: number;
  /** The signal that ended it, if any. */
  readonly signal: string | null;
  /** Whether our stop ended it (a signal we sent), not a failure of its own. */
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
  /** The last non-empty line it wrote to stderr (or the one its spec's `errorLine` picks). */
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
 * Runs a short command to its end (a `--version`, `age-keygen -y`): only `env`, no stdin, both
 * outputs captured.
 *
 * @param hint what to do when the command is not on PATH
 * @throws {PreflightError} `<command> not found on PATH`, with `hint`
 */
export async function commandOutput(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  hint: string,
): Promise<Deno.CommandOutput> {
  try {
    return await new Deno.Command(command, {
      args: [...args],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new PreflightError(`${command} not found on PATH`, hint, undefined, { cause: err });
    }
    throw err;
  }
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
  // The signals we sent. A child counts as stopped by us only when one of them ended it: one
  // that had already failed on its own (an exit code, someone else's SIGKILL) keeps its failure
  // even when the pipeline stops it afterwards, before its exit was seen.
  const sent = new Set<string>();
  const signal = (sig: Deno.Signal) => {
    sent.add(sig);
    killGroup(process.pid, sig);
  };
  const stderrDone = collectLines(process.stderr, lines);
  const exited = (async (): Promise<ChildExit> => {
    const status = await process.status;
    await stderrDone;
    return {
      code: status.code,
      signal: status.signal,
      stoppedByUs: status.signal !== null && sent.has(status.signal),
      at: performance.now(),
    };
  })();
  return {
    name,
    pid: process.pid,
    stdin: spec.stdin ? process.stdin : null,
    stdout: spec.stdout ? process.stdout : null,
    exited,
    lastStderrLine: () => spec.errorLine?.(lines) ?? lines.at(-1) ?? "",
    stderrTail: () => [...lines],
    async stop(graceMs = 5000) {
      signal("SIGTERM");
      const timer = setTimeout(() => signal("SIGKILL"), graceMs);
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
 * Pipes one child's stdout into the next child's stdin, and ends that stdin only once the first
 * child exited 0. When the first fails, the next is stopped instead of being handed a stream cut
 * short, which it could take for a whole one (age would seal a truncated zstd stream) or fail on
 * in its own words (zstd's "unexpected end of file" after age failed): the failure stays the
 * first child's. Track the returned promise as a stage.
 *
 * @param from the child whose stdout is read
 * @param to the child whose stdin is written
 * @param signal the pipeline's signal: aborting it stops the pipe
 */
export async function relay(
  from: RunningChild,
  to: RunningChild,
  signal: AbortSignal,
): Promise<void> {
  await from.stdout!.pipeTo(to.stdin!, { preventClose: true, signal });
  const exit = await from.exited;
  if (exit.code === 0) return await to.stdin!.close();
  // Stop first (it marks the exit as ours), then release its stdin.
  const stopped = to.stop();
  await to.stdin!.abort().catch(() => {});
  await stopped;
}

/** One part of a pipeline that failed. */
export interface PartFailure {
  /** The child's or stage's name (`zstd`, `upload`). */
  readonly name: string;
  /** What it failed with: a PipelineError for a child, the thrown error for a stage. */
  readonly error: unknown;
  /** Monotonic time of the failure. */
  readonly at: number;
  /** It only felt another part's failure (SIGPIPE, a closed pipe, the pipeline stopping). */
  readonly consequence: boolean;
}

/** How a pipeline reacts to a failure. */
export interface PipelineOptions {
  /**
   * Stop every part at the first failure (the backup). The drill keeps reading the object to
   * finish its hash when psql fails, so it passes false. @default true
   */
  readonly stopOnFailure?: boolean;
}

/**
 * Children and in-process stages that stream into each other, watched as one.
 *
 * @example
 * ```ts
 * const run = new Pipeline(signal);
 * const dump = run.spawn("pg_dumpall", spec, "check the source server");
 * run.track("upload", upload(dump.stdout!, { signal: run.signal }));
 * await run.settle();
 * run.throwIfFailed(); // the cause, never a SIGPIPE further down
 * ```
 */
export class Pipeline {
  readonly #outer: AbortSignal;
  readonly #stop = new AbortController();
  readonly #stopOnFailure: boolean;
  readonly #children: RunningChild[] = [];
  readonly #work: Promise<unknown>[] = [];
  readonly #failures: PartFailure[] = [];
  readonly #onOuterAbort = () => this.stop(this.#outer.reason);

  /**
   * @param signal SIGTERM/SIGINT: stops every part; the outcome is then a StoppedError
   * @param options what a failure does to the other parts
   */
  constructor(signal: AbortSignal, options: PipelineOptions = {}) {
    this.#outer = signal;
    this.#stopOnFailure = options.stopOnFailure ?? true;
    if (signal.aborted) this.#stop.abort(signal.reason);
    else signal.addEventListener("abort", this.#onOuterAbort, { once: true });
  }

  /** Aborted when the pipeline stops: a signal, or (with stopOnFailure) the first failure. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /**
   * Starts a child that belongs to the pipeline.
   *
   * @param name short name for messages (`pg_dumpall`)
   * @param spec what to run
   * @param hint what to tell the operator when it fails on its own
   */
  spawn(name: string, spec: ChildSpec, hint: string): RunningChild {
    const child = spawnChild(name, spec);
    this.#children.push(child);
    this.#work.push(child.exited.then((exit) => {
      if (exit.code === 0 || exit.stoppedByUs) return;
      const last = child.lastStderrLine();
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const brokenPipe = exit.signal === "SIGPIPE" || exit.code === 141 ||
        /broken pipe/i.test(last);
      this.#record({
        name,
        at: exit.at,
        consequence: brokenPipe,
        error: new PipelineError(
          name,
          exit.signal ? null : exit.code,
          last,
          `${name} ${how}${last ? `: ${last}` : ""}`,
          hint,
        ),
      });
    }));
    if (this.#stop.signal.aborted) void child.stop();
    return child;
  }

  /**
   * Watches an in-process stage (a pipe between children, an upload, a download).
   *
   * @param name short name for messages (`upload`)
   * @param work the stage; its rejection is recorded, not rethrown here
   * @param options `critical`: its failure stops every part even without stopOnFailure (the
   *   drill's download: without it there is nothing left to hash)
   * @returns `work` with its rejection handled (undefined on failure)
   */
  track<T>(
    name: string,
    work: Promise<T>,
    options: { critical?: boolean } = {},
  ): Promise<T | undefined> {
    const watched = work.then((value) => value, (error: unknown) => {
      const consequence = this.#isConsequence(error);
      this.#record({ name, error, at: performance.now(), consequence }, options.critical);
      return undefined;
    });
    this.#work.push(watched);
    return watched;
  }

  /** Stops every part: aborts the stages' signal and stops the children (SIGTERM, then KILL). */
  stop(reason?: unknown): void {
    if (!this.#stop.signal.aborted) this.#stop.abort(reason);
    for (const child of this.#children) void child.stop();
  }

  /** Waits until every child has exited and every stage has settled. */
  async settle(): Promise<void> {
    // Parts can be added while earlier ones settle (a resumed download's stage).
    for (let seen = 0; seen < this.#work.length;) {
      const batch = this.#work.slice(seen);
      seen = this.#work.length;
      await Promise.all(batch);
    }
    this.#outer.removeEventListener("abort", this.#onOuterAbort);
  }

  /** The cause: the earliest failure that was not a consequence, else the earliest one. */
  firstFailure(): PartFailure | undefined {
    const byTime = [...this.#failures].sort((a, b) => a.at - b.at);
    return byTime.find((f) => !f.consequence) ?? byTime[0];
  }

  /**
   * Throws the outcome after {@linkcode settle}: StoppedError when a signal stopped the run,
   * else the first failure's error.
   */
  throwIfFailed(): void {
    if (this.#outer.aborted) {
      throw this.#outer.reason instanceof StoppedError
        ? this.#outer.reason
        : new StoppedError("SIGTERM");
    }
    const first = this.firstFailure();
    if (first) throw first.error;
  }

  /** Every failure so far, in the order they were seen. */
  failures(): readonly PartFailure[] {
    return this.#failures;
  }

  #record(failure: PartFailure, critical = false): void {
    this.#failures.push(failure);
    if (this.#stopOnFailure || critical) this.stop(failure.error);
  }

  #isConsequence(error: unknown): boolean {
    if (this.#stop.signal.aborted && error === this.#stop.signal.reason) return true;
    if (error instanceof StoppedError) return true;
    if (error instanceof DOMException && error.name === "AbortError") return true;
    if (error instanceof Deno.errors.BrokenPipe) return true;
    const code = (error as { code?: unknown } | null)?.code;
    return code === "EPIPE" || /broken pipe/i.test(error instanceof Error ? error.message : "");
  }
}
