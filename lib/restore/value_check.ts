/**
 * The value check: for every table the dump holds data for, renders the restored rows the way
 * pg_dump rendered them (`COPY table (the dump's column list) TO STDOUT` in a session with the
 * recorded settings and the dump's client_encoding) and compares their {@linkcode CopyDigest}
 * with the one the parser computed from the dump. Large objects are compared by OID and
 * content. A table is compared by count only when its text cannot be rendered the same way
 * (a setting the scratch server cannot take, or one the manifest does not record), and the
 * result says which and why: nothing is skipped silently.
 *
 * @module
 */
import { CopyDigest, StreamHash } from "../dump/copy_digest.ts";
import { type DumpValues, largeObjectHash } from "../dump/parser.ts";
import {
  PG_DUMP_FIXED,
  type SessionSettings,
  settingStatements,
  SOURCE_SETTINGS,
} from "../pg/dump_settings.ts";
import { reasonOf } from "../errors.ts";
import { listDatabases, type Sql, withDatabase } from "../pg/client.ts";
import { quoteIdent, splitQualifiedName } from "../pg/ident.ts";
import type { PgConnection } from "../pg/tools.ts";

/** A table compared by count only, and why. */
export interface CountOnly {
  readonly database: string;
  readonly table: string;
  readonly reason: string;
}

/** What the value check compared, and every difference it found. */
export interface ValueCheckResult {
  /** `database: schema.table` of every table compared by value. */
  readonly byValue: string[];
  /** Tables compared by row count only (by the deep check), with the reason. */
  readonly byCountOnly: CountOnly[];
  /** Rows whose values were compared. */
  readonly rows: number;
  /** Large objects whose contents were compared. */
  readonly largeObjects: number;
  /** One sentence per difference, naming the database and the table; empty when none. */
  readonly diffs: string[];
}

/** Bytes read per `lo_get` call. */
const LO_PIECE = 1024 * 1024;

/**
 * Compares the restored server's values with the dump's digests.
 *
 * @param conn the restored (scratch) server; its user must be able to read every table
 *   (a superuser, as the drill's is, bypasses row-level security)
 * @param expected digests from {@linkcode DumpParser} over the restored dump
 * @param settings per database, what the dumping session saw (manifest `dump_settings`);
 *   undefined for a backup that did not record them
 * @param signal stops between tables
 */
export async function checkValues(
  conn: PgConnection,
  expected: DumpValues,
  settings: Readonly<Record<string, SessionSettings>> | undefined,
  signal?: AbortSignal,
): Promise<ValueCheckResult> {
  const result = {
    byValue: [] as string[],
    byCountOnly: [] as CountOnly[],
    rows: 0,
    largeObjects: 0,
    diffs: [] as string[],
  };
  const present = new Set(await listDatabases(conn));
  for (const [db, want] of Object.entries(expected)) {
    if (Object.keys(want.tables).length === 0 && want.largeObjects.count === 0) continue;
    signal?.throwIfAborted();
    if (!present.has(db)) {
      result.diffs.push(`database ${db} is missing`);
      continue;
    }
    await checkDatabase(conn, db, want, settings?.[db], result, signal);
  }
  return result;
}

type Mutable = {
  byValue: string[];
  byCountOnly: CountOnly[];
  rows: number;
  largeObjects: number;
  diffs: string[];
};

async function checkDatabase(
  conn: PgConnection,
  db: string,
  want: DumpValues[string],
  recorded: SessionSettings | undefined,
  result: Mutable,
  signal: AbortSignal | undefined,
): Promise<void> {
  // Large objects first, in a session with default settings (bytea comes back as bytes).
  if (want.largeObjects.count > 0) {
    if (want.largeObjects.notComparable) {
      result.byCountOnly.push({
        database: db,
        table: "large objects",
        reason: want.largeObjects.notComparable,
      });
    } else {
      const got = await withDatabase(conn, db, (sql) => largeObjectDigest(sql, signal));
      if (got.digest !== want.largeObjects.digest) {
        result.diffs.push(
          `${db}: large object contents differ from the backup (${got.count} restored, ${want.largeObjects.count} in the backup)`,
        );
      }
      result.largeObjects += got.count;
    }
  }
  const tables = Object.entries(want.tables);
  if (tables.length === 0) return;
  // What each column's text depends on, and whether the table is partitioned.
  const shapes = await withDatabase(conn, db, (sql) => tableShapes(sql, tables.map(([k]) => k)));
  // Outcomes by the table's place in the dump, so the result's order does not depend on timing.
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = () =>
    withDatabase(conn, db, async (sql) => {
      const unavailable = await renderLikeTheDump(sql, recorded, want.encoding);
      for (let i = next++; i < tables.length; i = next++) {
        signal?.throwIfAborted();
        const [key, table] = tables[i]!;
        outcomes[i] = await checkTable(sql, key, table, shapes.get(key), unavailable);
      }
    });
  // Two sessions: the server renders one table while this process hashes the other's rows.
  await Promise.all(
    Array.from({ length: Math.min(VALUE_CHECK_SESSIONS, tables.length) }, worker),
  );
  for (const [i, outcome] of outcomes.entries()) {
    const key = tables[i]![0];
    if (outcome.countOnly !== undefined) {
      result.byCountOnly.push({ database: db, table: key, reason: outcome.countOnly });
      continue;
    }
    if (outcome.diff !== undefined) result.diffs.push(`${db}: ${outcome.diff}`);
    if (outcome.rows !== undefined) {
      result.byValue.push(`${db}: ${key}`);
      result.rows += outcome.rows;
    }
  }
}

/** Sessions per database that render tables at once. */
const VALUE_CHECK_SESSIONS = 2;

/** One table's verdict: compared (rows), count only (why), and/or a difference. */
interface Outcome {
  rows?: number;
  countOnly?: string;
  diff?: string;
}

/**
 * Puts a session in the state pg_dump's was: the recorded settings (or pg_dump's fixed ones),
 * an empty search_path, row_security off, the dump's client_encoding.
 *
 * @returns the settings that could not be applied or were not recorded, each with the reason
 */
async function renderLikeTheDump(
  sql: Sql,
  recorded: SessionSettings | undefined,
  encoding: string,
): Promise<Map<string, string>> {
  const unavailable = new Map<string, string>();
  const session: SessionSettings = { ...PG_DUMP_FIXED, ...(recorded ?? {}) };
  for (const name of Object.keys(SOURCE_SETTINGS)) {
    if (recorded?.[name] === undefined) {
      unavailable.set(name, `the manifest does not record the source's ${name}`);
    }
  }
  for (const [name, statement] of settingStatements(session)) {
    try {
      await sql.unsafe(statement);
    } catch (err) {
      unavailable.set(
        name,
        `the scratch server cannot set ${name} to '${session[name]}' as the source had it: ${
          reasonOf(err)
        }`,
      );
    }
  }
  await sql.unsafe("SELECT pg_catalog.set_config('search_path', '', false)");
  await sql.unsafe("SET row_security = off");
  await sql.unsafe(`SET client_encoding = '${encoding.replaceAll("'", "''")}'`);
  return unavailable;
}

async function checkTable(
  sql: Sql,
  key: string,
  table: DumpValues[string]["tables"][string],
  shape: TableShape | undefined,
  unavailable: Map<string, string>,
): Promise<Outcome> {
  if (!shape) return { diff: `table ${key} is missing` };
  if (table.notComparable) return { countOnly: table.notComparable };
  const missing = table.columns.filter((c) => !shape.columns.has(c));
  if (missing.length > 0) {
    return { diff: `table ${key} has no column ${missing.map(quoteIdent).join(", ")}` };
  }
  const blocked = blockingSetting(table.columns, shape, unavailable);
  if (blocked) return { countOnly: blocked };
  const cols = table.columns.map(quoteIdent).join(", ");
  const [schema, rel] = splitQualifiedName(key)!;
  const target = `${quoteIdent(schema)}.${quoteIdent(rel)}`;
  // A partitioned table appears in a dump made with --load-via-partition-root: its rows are its
  // partitions' rows.
  const query = shape.partitioned
    ? `COPY (SELECT ${cols} FROM ${target}) TO STDOUT`
    : `COPY ${target} (${cols}) TO STDOUT`;
  const digest = await copyDigest(sql, query);
  if (digest.rows !== table.rows) {
    return {
      rows: digest.rows,
      diff: `table ${key} has ${digest.rows} rows, the backup has ${table.rows}`,
    };
  }
  if (digest.hex() !== table.digest) {
    return {
      rows: digest.rows,
      diff: `table ${key} has the backup's ${table.rows} rows but different values`,
    };
  }
  return { rows: digest.rows };
}

/** Runs a COPY ... TO STDOUT and digests its lines as they arrive. */
async function copyDigest(sql: Sql, query: string): Promise<CopyDigest> {
  const digest = new CopyDigest();
  const stream = await sql.unsafe(query).readable();
  try {
    // A plain listener: no promise per row (the server sends one message per row).
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (chunk: Uint8Array) => digest.update(chunk));
      stream.once("end", resolve);
      stream.once("error", reject);
    });
  } finally {
    // postgres.js 3.4.7 pauses its socket when a push fills the stream's buffer and resumes it
    // only from the stream's read(); when that push was the COPY's last, nothing reads again and
    // the next query would wait forever. Resume it the way read() does.
    (stream as unknown as { _read?: () => void })._read?.();
  }
  return digest;
}

interface TableShape {
  partitioned: boolean;
  /** Column name → the settings-shaped leaf types its text contains (timestamptz, bytea, money). */
  columns: Map<string, string[]>;
}

/**
 * For each table key, its columns and, per column, which settings-shaped types its text
 * contains (followed through domains, arrays, ranges, multiranges and composites).
 */
async function tableShapes(sql: Sql, keys: string[]): Promise<Map<string, TableShape>> {
  const pairs = keys.map((k) => splitQualifiedName(k)).filter((p) => p !== undefined);
  const rows = await sql<
    { schema: string; name: string; kind: string; column: string; leaves: string }[]
  >`
    WITH RECURSIVE wanted AS (
      SELECT * FROM json_to_recordset(${
    JSON.stringify(pairs.map(([schema, name]) => ({ schema, name })))
  }::text::json) AS w(schema text, name text)
    ), cols AS (
      SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
             a.attname AS column, a.atttypid AS root
      FROM wanted w
      JOIN pg_namespace n ON n.nspname = w.schema
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    ), walk(root, t, depth) AS (
      SELECT DISTINCT root, root, 0 FROM cols
      UNION
      SELECT w.root, x.next, w.depth + 1
      FROM walk w
      JOIN pg_type ty ON ty.oid = w.t
      CROSS JOIN LATERAL (
        SELECT ty.typbasetype WHERE ty.typtype = 'd'
        UNION ALL SELECT ty.typelem WHERE ty.typelem <> 0 AND ty.typsubscript <> 0
        UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = ty.oid
        UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngmultitypid = ty.oid
        UNION ALL SELECT a.atttypid FROM pg_attribute a
          WHERE ty.typrelid <> 0 AND a.attrelid = ty.typrelid AND a.attnum > 0
            AND NOT a.attisdropped
      ) AS x(next)
      WHERE w.depth < 32
    )
    SELECT c.schema, c.name, c.kind, c.column,
           coalesce(json_agg(DISTINCT w.t::regtype::text)
             FILTER (WHERE w.t IN ('timestamptz'::regtype, 'bytea'::regtype, 'money'::regtype)),
             '[]')::text AS leaves
    FROM cols c LEFT JOIN walk w ON w.root = c.root
    GROUP BY 1, 2, 3, 4`;
  const shapes = new Map<string, TableShape>();
  for (const r of rows) {
    const key = `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`;
    let shape = shapes.get(key);
    if (!shape) {
      shape = { partitioned: r.kind === "p", columns: new Map() };
      shapes.set(key, shape);
    }
    // JSON text, not an array: postgres.js parses arrays only when it has fetched their types.
    shape.columns.set(r.column, JSON.parse(r.leaves) as string[]);
  }
  return shapes;
}

const TYPE_NAMES: Record<string, string> = {
  "timestamp with time zone": "timestamptz",
  bytea: "bytea",
  money: "money",
};

/** The reason a table cannot be compared by value, or undefined when it can. */
function blockingSetting(
  columns: readonly string[],
  shape: TableShape,
  unavailable: Map<string, string>,
): string | undefined {
  for (const [setting, why] of unavailable) {
    const types = SOURCE_SETTINGS[setting] ?? [];
    const column = columns.find((c) =>
      (shape.columns.get(c) ?? []).some((t) => types.includes(TYPE_NAMES[t] ?? t))
    );
    if (column !== undefined) {
      return `column ${quoteIdent(column)} holds ${types.join(", ")}: ${why}`;
    }
  }
  return undefined;
}

/** The digest of every large object in the database (OID and content), as the parser sums it. */
async function largeObjectDigest(
  sql: Sql,
  signal: AbortSignal | undefined,
): Promise<{ count: number; digest: string }> {
  // The database may set bytea_output = escape; lo_get's bytes must arrive in hex to be read.
  await sql`SET bytea_output = 'hex'`;
  const oids = await sql<{ oid: string }[]>`
    SELECT oid::text AS oid FROM pg_largeobject_metadata ORDER BY oid`;
  let s1 = 0;
  let s2 = 0;
  const hash = new StreamHash();
  for (const { oid } of oids) {
    signal?.throwIfAborted();
    for (let offset = 0;; offset += LO_PIECE) {
      const [row] = await sql<{ d: Uint8Array }[]>`
        SELECT lo_get(${oid}::oid, ${offset}::bigint, ${LO_PIECE}::int) AS d`;
      const piece = row?.d ?? new Uint8Array(0);
      hash.update(piece);
      if (piece.length < LO_PIECE) break;
    }
    hash.finish();
    const [a, b] = largeObjectHash(oid, hash.h1, hash.h2);
    s1 = (s1 + a) >>> 0;
    s2 = (s2 + b) >>> 0;
  }
  return {
    count: oids.length,
    digest: s1.toString(16).padStart(8, "0") + s2.toString(16).padStart(8, "0"),
  };
}
