/**
 * SQL over the wire (npm:postgres) for the checks the programs make: the source server's
 * version, waiting for the scratch server, and the connection the checks of a restore use.
 *
 * @module
 */
import postgres from "postgres";
import type { PgConnection } from "./tools.ts";

/** A tagged-template SQL client bound to one database. */
export type Sql = postgres.Sql;

/**
 * Runs `fn` with a one-connection client to `database`, and always closes it.
 *
 * @param conn the server
 * @param database the database to connect to
 * @param fn the work
 */
export async function withDatabase<T>(
  conn: PgConnection,
  database: string,
  fn: (sql: Sql) => Promise<T>,
  connectTimeoutSeconds = 10,
): Promise<T> {
  const sql = postgres({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    ...(conn.password !== undefined ? { password: conn.password } : {}),
    database,
    max: 1,
    connect_timeout: connectTimeoutSeconds,
    idle_timeout: 0,
    onnotice: () => {},
    connection: { application_name: "backup-toolbox" },
  });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The server's `server_version_num` (e.g. 180004). */
export async function serverVersionNum(conn: PgConnection): Promise<number> {
  return (await serverVersion(conn)).num;
}

/** A server's version as it reports it. */
export interface ServerVersion {
  /** `server_version`, e.g. `18.4` or `15.18 (Debian 15.18-0+deb12u1)`. */
  readonly text: string;
  /** `server_version_num`, e.g. 180004. */
  readonly num: number;
  /** The major version, e.g. 18. */
  readonly major: number;
}

/** The server's version. */
export async function serverVersion(conn: PgConnection): Promise<ServerVersion> {
  return await withDatabase(conn, "postgres", async (sql) => {
    const [row] = await sql<{ text: string; num: string }[]>`
      SELECT current_setting('server_version') AS text,
             current_setting('server_version_num') AS num`;
    const num = Number(row?.num);
    return { text: row?.text ?? "", num, major: Math.floor(num / 10000) };
  });
}

/**
 * Waits until the server answers `SELECT 1`, polling every half second.
 *
 * @param conn the server
 * @param seconds the most to wait
 * @param signal stops the wait
 * @returns the last error when the wait ran out, or undefined when the server answered
 */
export async function waitForServer(
  conn: PgConnection,
  seconds: number,
  signal: AbortSignal,
): Promise<unknown> {
  const deadline = performance.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    signal.throwIfAborted();
    try {
      await withDatabase(conn, "postgres", async (sql) => await sql`SELECT 1`, 5);
      return undefined;
    } catch (err) {
      last = err;
    }
    if (performance.now() >= deadline) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Databases that do not allow connections (`datallowconn` false), without template0: pg_dumpall
 * skips them silently, so a backup never holds them.
 */
export async function databasesNotAllowingConnections(conn: PgConnection): Promise<string[]> {
  return await withDatabase(conn, "postgres", async (sql) => {
    const rows = await sql<{ datname: string }[]>`
      SELECT datname FROM pg_database
      WHERE NOT datallowconn AND datname <> 'template0' ORDER BY datname`;
    return rows.map((r) => r.datname);
  });
}

/** Databases a client can connect to, without template0. */
export async function listDatabases(conn: PgConnection): Promise<string[]> {
  return await withDatabase(conn, "postgres", async (sql) => {
    const rows = await sql<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname`;
    return rows.map((r) => r.datname);
  });
}
