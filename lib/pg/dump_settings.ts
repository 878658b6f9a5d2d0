/**
 * The session settings that shape the text pg_dump writes for each value, recorded per database
 * at backup time (manifest.json `dump_settings`) and set again by the drill before it renders
 * the restored rows the same way.
 *
 * pg_dump (setup_connection in PostgreSQL 18's pg_dump.c) sets `DateStyle = ISO`,
 * `IntervalStyle = postgres`, `extra_float_digits = 3` and an empty `search_path` (so `reg*`
 * values come out schema-qualified); it does not set `TimeZone` (timestamptz), `bytea_output`
 * (bytea) or `lc_monetary` (money), which come from the server, the database and the role
 * (`ALTER DATABASE ... SET`, `ALTER ROLE ... SET`) and from libpq's PGTZ/PGOPTIONS (the backup
 * passes pg_dumpall neither). `client_encoding` is the one the dump script sets itself, read
 * from the script by the parser. Nothing else changes the text of built-in types' output:
 * `lc_numeric`/`lc_time` only affect `to_char`, `timezone_abbreviations` only non-ISO styles,
 * and `xmloption` only input.
 *
 * @module
 */
import { reasonOf } from "../errors.ts";
import { withDatabase } from "./client.ts";
import type { PgConnection } from "./tools.ts";

/** What one dumping session saw: setting name → value (`SHOW` form). */
export type SessionSettings = Readonly<Record<string, string>>;

/** pg_dump's own settings: the same in every dump it writes (pg_dump 12 and later). */
export const PG_DUMP_FIXED: SessionSettings = {
  DateStyle: "ISO",
  IntervalStyle: "postgres",
  extra_float_digits: "3",
};

/** The settings that come from the source and shape values' text: name → types they shape. */
export const SOURCE_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  TimeZone: ["timestamptz"],
  bytea_output: ["bytea"],
  lc_monetary: ["money"],
};

/** Every recorded name, in a fixed order. */
export const RECORDED_SETTINGS: readonly string[] = [
  ...Object.keys(PG_DUMP_FIXED),
  ...Object.keys(SOURCE_SETTINGS),
];

/**
 * What a pg_dump session in `database` sees: connects as the backup's user (so database- and
 * role-level settings apply), sets what pg_dump sets, and reads back every recorded setting.
 *
 * @returns setting name → value, e.g. `{ DateStyle: "ISO, MDY", TimeZone: "Europe/Berlin", ... }`
 * @throws the connection's error when the database cannot be reached
 */
export async function dumpSessionSettings(
  conn: PgConnection,
  database: string,
): Promise<SessionSettings> {
  return await withDatabase(conn, database, async (sql) => {
    for (const [name, value] of Object.entries(PG_DUMP_FIXED)) {
      await sql.unsafe(`SET ${name} = '${value}'`);
    }
    // The names are this module's constants, not input.
    const [row] = await sql.unsafe<Record<string, string>[]>(
      `SELECT ${RECORDED_SETTINGS.map((n) => `current_setting('${n}') AS "${n}"`).join(", ")}`,
    );
    return { ...row };
  });
}

/**
 * {@linkcode dumpSessionSettings} for each database; a database that cannot be read is left
 * out and named in `problems` (the drill then compares its setting-dependent columns by count).
 */
export async function recordDumpSettings(
  conn: PgConnection,
  databases: readonly string[],
): Promise<{ settings: Record<string, SessionSettings>; problems: string[] }> {
  const settings: Record<string, SessionSettings> = {};
  const problems: string[] = [];
  for (const db of databases) {
    try {
      settings[db] = await dumpSessionSettings(conn, db);
    } catch (err) {
      problems.push(`${db}: ${reasonOf(err)}`);
    }
  }
  return { settings, problems };
}

/**
 * SQL that puts a session in the recorded state, one `SET` per setting (quoted as literals).
 *
 * @example
 * ```ts
 * settingStatements({ TimeZone: "Europe/Berlin" });
 * // [["TimeZone", "SET TimeZone = 'Europe/Berlin'"]]
 * ```
 */
export function settingStatements(settings: SessionSettings): [string, string][] {
  return Object.entries(settings)
    .filter(([name]) => RECORDED_SETTINGS.includes(name))
    .map(([name, value]) => [name, `SET ${name} = '${value.replaceAll("'", "''")}'`]);
}
