/**
 * Child processes for the harness: one-shot commands whose output is captured, and
 * long-running servers tracked by PID whose output is drained into a bounded tail.
 *
 * @module
 */

/** The outcome of a command that ran to its end. */
export interface ExecResult {
  /** Exit code; 128 + n when killed by signal n. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and as whom a child runs. */
export interface SpawnOptions {
  /** The whole environment of the child; nothing is inherited. */
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this user instead of root (uid and gid from /etc/passwd). */
  user?: string;
  /** Bytes written to the child's stdin, which is then closed. */
  stdin?: string | Uint8Array;
}

/** The environment every harness child starts from. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  TZ: "UTC",
};

/**
 * The uid and gid of a local user, read from /etc/passwd.
 *
 * @param name A user name, such as `"postgres"`.
 * @throws {Error} When the user does not exist, naming `make setup`.
 */
export function lookupUser(name: string): { uid: number; gid: number; home: string } {
  for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields.length >= 6) {
      return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? "/" };
    }
  }
  throw new Error(
    `missing user ${name}: run \`make setup\` (Debian package postgresql creates it)`,
  );
}

function _commandOptions(opts: SpawnOptions): Deno.CommandOptions {
  const options: Deno.CommandOptions = {
    env: opts.env ?? { ...BASE_ENV },
    clearEnv: true,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  };
  if (opts.cwd !== undefined) options.cwd = opts.cwd;
  if (opts.user !== undefined) {
    const { uid, gid } = lookupUser(opts.user);
    options.uid = uid;
    options.gid = gid;
  }
  return options;
}

async function _writeStdin(child: Deno.ChildProcess, input: string | Uint8Array): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await writer.close();
  } catch {
    // The child exited before reading all of it; its exit code tells the story.
    await writer.abort().catch(() => {});
  }
}

/**
 * Run a command to its end and capture its output.
 *
 * @param cmd Absolute path of the program.
 * @param args Arguments (never secrets: anyone can read argv with `ps`).
 * @returns Exit code and decoded output; never throws for a non-zero exit.
 */
export async function exec(
  cmd: string,
  args: string[],
  opts: SpawnOptions = {},
): Promise<ExecResult> {
  const child = new Deno.Command(cmd, { ...(_commandOptions(opts)), args }).spawn();
  const writing = opts.stdin === undefined ? Promise.resolve() : _writeStdin(child, opts.stdin);
  const [out] = await Promise.all([child.output(), writing]);
  const decoder = new TextDecoder();
  return {
    code: out.signal === null ? out.code : 128 + signalNumber(out.signal),
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/**
 * Like {@linkcode exec}, but throws when the command exits non-zero.
 *
 * @throws {Error} `<what> failed (exit N): <stderr>`.
 */
export async function execOk(
  what: string,
  cmd: string,
  args: string[],
  opts: SpawnOptions = {},
): Promise<ExecResult> {
  const result = await exec(cmd, args, opts);
  if (result.code !== 0) {
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(-2000);
    throw new Error(`${what} failed (exit ${result.code}): ${detail}`);
  }
  return result;
}

/**
 * The number of a signal on Linux x86-64, for `128 + n` exit codes.
 *
 * @returns The number, or 0 for a signal not in the table.
 */
export function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGUSR1: 10,
    SIGUSR2: 12,
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGALRM: 14,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}

/** A long-running child (a server) tracked by its PID. */
export class Daemon {
  readonly #child: Deno.ChildProcess;
  readonly #draining: Promise<void>;
  #tail = "";
  #exit: Deno.CommandStatus | undefined;
  readonly #status: Promise<Deno.CommandStatus>;

  /**
   * Start a server in the foreground; its stdout and stderr are read continuously.
   *
   * @param name Used in error messages, such as `"postgres 15"`.
   * @param cmd Absolute path of the program.
   * @param args Arguments (never secrets).
   */
  constructor(readonly name: string, cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.#child = new Deno.Command(cmd, { ...(_commandOptions(opts)), args, stdin: "null" })
      .spawn();
    this.#status = this.#child.status.then((status) => (this.#exit = status));
    this.#draining = Promise.all([
      this.#drain(this.#child.stdout),
      this.#drain(this.#child.stderr),
    ]).then(() => {});
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.#tail = (this.#tail + decoder.decode(chunk, { stream: true })).slice(-16_384);
    }
  }

  /** The server's PID (not a wrapper's). */
  get pid(): number {
    return this.#child.pid;
  }

  /** The exit status once it has exited, else `undefined`. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /** The last 16 KiB of the server's stdout and stderr, interleaved. */
  get outputTail(): string {
    return this.#tail;
  }

  /** Send a signal; does nothing when it has already exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exit !== undefined) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the signal.
    }
  }

  /**
   * Stop it: send `signal`, wait up to `graceMs`, then SIGKILL. Waits for its output
   * streams to close, so no resource is left open.
   *
   * @returns The exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 10_000): Promise<Deno.CommandStatus> {
    this.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const first = await Promise.race([this.#status, timedOut]);
    clearTimeout(timer);
    if (first === "timeout") this.kill("SIGKILL");
    const status = await this.#status;
    await this.#draining;
    return status;
  }

  /** Resolves when it exits. */
  wait(): Promise<Deno.CommandStatus> {
    return this.#status;
  }
}

/**
 * Poll `probe` until it returns true, failing early when `daemon` exits.
 *
 * @param what Used in the error message, such as `"postgres 15 accepting connections"`.
 * @param timeoutMs How long to wait in total.
 * @default timeoutMs 30000
 * @throws {Error} On timeout or when the daemon exits first, with its output tail.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  daemons: Daemon[],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    for (const daemon of daemons) {
      if (daemon.exited !== undefined) {
        throw new Error(
          `wait for ${what} failed: ${daemon.name} exited with code ${daemon.exited.code}: ${daemon.outputTail}`,
        );
      }
    }
    if (await probe()) return;
    if (Date.now() > deadline) {
      const tails = daemons.map((d) => `${d.name}: ${d.outputTail.slice(-2000)}`).join("\n");
      throw new Error(`wait for ${what} failed: timed out after ${timeoutMs} ms\n${tails}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
