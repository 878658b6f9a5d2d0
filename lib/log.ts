/**
 * One JSON line per event on stderr: `ts`, `level`, `program`, `step`, `msg`, then fields.
 * `msg` holds the words operators and tests grep for (`backup OK`, `sha256 mismatch`).
 * Every line is scrubbed of the run's secret values before it is written, and of anything shaped
 * like an age private key (`AGE-SECRET-KEY-1…`), whoever printed it.
 *
 * @module
 */

/** Severity of a log line. */
export type Level = "info" | "warn" | "error";

/** Structured logger bound to one program. */
export interface Log {
  /** Logs a normal event. */
  info(step: string, msg: string, fields?: Record<string, unknown>): void;
  /** Logs something the operator should look at, without failing the run. */
  warn(step: string, msg: string, fields?: Record<string, unknown>): void;
  /** Logs a failure. */
  error(step: string, msg: string, fields?: Record<string, unknown>): void;
  /** Adds values that must never be written (passwords, keys). */
  addSecrets(values: readonly string[]): void;
}

/** Where log lines go and how time is read; tests may replace both. */
export interface LogOptions {
  /** Writes one finished line (without newline). Default: stderr. */
  readonly write?: (line: string) => void;
  /** The clock. Default: `Date.now`. */
  readonly now?: () => number;
}

const encoder = new TextEncoder();

/** Text shaped like a secret whatever its value: an age identity (a private key). */
const SECRET_SHAPES = [/AGE-SECRET-KEY-1[0-9A-Z]+/gi];

/** Writes one finished line and a newline to stderr, whole. */
export function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/**
 * Creates a logger for a program.
 *
 * @param program `backup` or `restore-drill`
 * @param options output and clock
 * @returns the logger
 * @example
 * ```ts
 * const log = createLog("backup", { write: (line) => console.log(line) });
 * log.info("stream", "progress", { dump_bytes: 1024 });
 * ```
 */
export function createLog(program: string, options: LogOptions = {}): Log {
  const write = options.write ?? writeStderr;
  const now = options.now ?? Date.now;
  const secrets: string[] = [];
  const emit = (level: Level, step: string, msg: string, fields: Record<string, unknown> = {}) => {
    const ts = new Date(now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    const event: Record<string, unknown> = { ts, level, program, step, msg };
    // Fixed fields come first and cannot be overwritten by a field of the same name.
    for (const [key, value] of Object.entries(fields)) if (!(key in event)) event[key] = value;
    let line = JSON.stringify(event, jsonSafe);
    for (const secret of secrets) {
      line = line.replaceAll(JSON.stringify(secret).slice(1, -1), "<redacted>");
    }
    for (const shape of SECRET_SHAPES) line = line.replace(shape, "<redacted>");
    write(line);
  };
  return {
    info: (step, msg, fields) => emit("info", step, msg, fields),
    warn: (step, msg, fields) => emit("warn", step, msg, fields),
    error: (step, msg, fields) => emit("error", step, msg, fields),
    addSecrets(values) {
      // Longest first, so a secret that contains another is scrubbed whole.
      for (const value of values) {
        if (value.length >= 3 && !secrets.includes(value)) secrets.push(value);
      }
      secrets.sort((a, b) => b.length - a.length);
    },
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Error) return value.message;
  return value;
}
