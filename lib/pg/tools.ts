/**
 * How backup-toolbox runs PostgreSQL's and zstd's command-line tools: their argv (never a
 * secret) and environment (libpq's PG* names carry the password), and their versions.
 *
 * @module
 */
import { type ChildSpec, commandOutput } from "../pipeline.ts";
import { PreflightError } from "../errors.ts";

/** A PostgreSQL server to connect to. */
export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
}

/** A tool's version as it reports it. */
export interface ToolVersion {
  /** The whole first line of `--version`. */
  readonly text: string;
  /** `15.18`, `1.5.4` */
  readonly version: string;
  /** Major version (PostgreSQL: 15, 18). */
  readonly major: number;
}

/** The toolbox image's hint for a missing or too old client. */
export const CLIENT_HINT =
  "run the backup-toolbox image, which ships the PostgreSQL 18 client, zstd, age and mc";

/**
 * libpq environment for a connection: the password travels here, never in argv.
 *
 * @param conn the server
 * @param base the child's other variables (PATH, HOME)
 */
export function libpqEnv(conn: PgConnection, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {
    ...base,
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGCONNECT_TIMEOUT: "15",
    PGAPPNAME: "backup-toolbox",
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return env;
}

/**
 * `pg_dumpall` writing the whole cluster as SQL to stdout; never prompts for a password.
 *
 * pg_dump writes 8 KiB at a time, and reading a pipe in such pieces costs the program about
 * three times the CPU of reading 64 KiB pieces (measured: 0.67 s against 0.22 s per 400 MiB), so
 * `dd` regroups the output into 64 KiB writes (what a pipe holds). `pipefail` keeps
 * pg_dumpall's exit code.
 */
export function dumpallSpec(conn: PgConnection, base: Record<string, string>): ChildSpec {
  return {
    command: "bash",
    args: [
      "-o",
      "pipefail",
      "-c",
      "pg_dumpall --no-password | dd bs=64k iflag=fullblock status=none",
    ],
    env: libpqEnv(conn, base),
    stdin: false,
    stdout: true,
  };
}

/**
 * `zstd` compressing stdin to stdout.
 *
 * @param level 1..19
 * @param threads worker threads, 0 for every core
 */
export function zstdCompressSpec(
  level: number,
  threads: number,
  base: Record<string, string>,
): ChildSpec {
  return {
    command: "zstd",
    args: ["-q", "-c", `-${level}`, `-T${threads}`],
    env: base,
    stdin: true,
    stdout: true,
  };
}

/** `zstd` decompressing stdin to stdout. */
export function zstdDecompressSpec(base: Record<string, string>): ChildSpec {
  return { command: "zstd", args: ["-q", "-d", "-c"], env: base, stdin: true, stdout: true };
}

/**
 * `psql` running a pg_dumpall script from stdin, stopping at the first error.
 *
 * @param conn the server to restore into
 */
export function psqlRestoreSpec(conn: PgConnection, base: Record<string, string>): ChildSpec {
  return {
    command: "psql",
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"],
    env: libpqEnv(conn, base),
    stdin: true,
    stdout: false,
  };
}

/**
 * Reads a version from a tool's `--version` line.
 *
 * @example
 * ```ts
 * parseVersion("pg_dumpall (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"); // major 15
 * parseVersion("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***"); // major 1
 * ```
 */
export function parseVersion(text: string): ToolVersion | undefined {
  const line = text.split("\n")[0]?.trim() ?? "";
  const m = /(?:\(PostgreSQL\)\s+|\bv)(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(line) ??
    /\b(\d+)\.(\d+)(?:\.(\d+))?\b/.exec(line);
  if (!m) return undefined;
  const version = [m[1], m[2], m[3]].filter((p) => p !== undefined).join(".");
  return { text: line, version, major: Number(m[1]) };
}

/**
 * Runs `<tool> --version`.
 *
 * @throws {PreflightError} when the tool is missing or prints no version
 */
export async function toolVersion(
  command: string,
  env: Record<string, string>,
): Promise<ToolVersion> {
  const output = await commandOutput(command, ["--version"], env, CLIENT_HINT);
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  const version = output.success ? parseVersion(text) : undefined;
  if (!version) {
    throw new PreflightError(`${command} --version did not report a version`, CLIENT_HINT);
  }
  return version;
}

/**
 * A server version number (`server_version_num`, e.g. 180004) as `18.4`.
 *
 * @param num server_version_num
 */
export function serverVersionText(num: number): string {
  return num >= 100000 ? `${Math.floor(num / 10000)}.${num % 10000}` : String(num);
}
