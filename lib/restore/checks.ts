/**
 * Proving the data came back, the same way for every mode: the count check (every database,
 * table and row count the backup holds, on the server) and the value check (every table's
 * values rendered as pg_dump rendered them, against the dump's digests). Both take the backup's
 * names and a rename map, so a recovery under new names is checked under those names.
 *
 * @module
 */
import { compareCounts, type Manifest, totals } from "../bucket/manifest.ts";
import type { DatabaseCounts, DumpCounts, DumpValues } from "../dump/stream.ts";
import { SmokeError } from "../errors.ts";
import { listDatabases, withDatabase } from "../pg/client.ts";
import { qualifiedName, quoteIdent } from "../pg/ident.ts";
import type { PgConnection } from "../pg/tools.ts";
import type { RestoreRun } from "./run.ts";
import { checkValues, type ValueCheckResult } from "./value_check.ts";

/** Backup name → name on the server (a recovery's --rename); absent: the same names. */
export type RenameMap = ReadonlyMap<string, string>;

/**
 * Re-keys per-database records by their names on the server. With a rename map, only the
 * databases it names are kept.
 *
 * @example
 * ```ts
 * renameDatabases({ app: 1, other: 2 }, new Map([["app", "app_restored"]])); // { app_restored: 1 }
 * ```
 */
export function renameDatabases<T>(
  byName: Readonly<Record<string, T>>,
  rename?: RenameMap,
): Record<string, T> {
  if (rename === undefined) return { ...byName };
  const out: Record<string, T> = {};
  for (const [from, to] of rename) {
    const value = byName[from];
    if (value !== undefined) out[to] = value;
  }
  return out;
}

/**
 * Counts a server's databases and compares them with what a backup holds.
 *
 * @param server the server
 * @param expected rows per table per database (and large objects), by names on the server
 * @param words the start of the failure's message, and what to do about a difference
 * @returns the server's counts
 * @throws {SmokeError} `smoke FAILED: <what>: …` naming every difference
 */
export async function compareCountsOn(
  server: PgConnection,
  expected: DumpCounts,
  words: { readonly what: string; readonly hint: string },
): Promise<DumpCounts> {
  const present = new Set(await listDatabases(server));
  const counted: DumpCounts = {};
  for (const [db, counts] of Object.entries(expected)) {
    if (!present.has(db)) continue;
    counted[db] = await countDatabase(server, db, Object.keys(counts.tables));
  }
  const diffs = compareCounts(expected, counted);
  if (diffs.length > 0) {
    throw new SmokeError(`smoke FAILED: ${words.what}: ${diffs.join("; ")}`, words.hint);
  }
  return counted;
}

/**
 * The count check: every database, table and row count of `expected` on the run's server.
 * Logs `deep check OK: every table has the rows the backup holds`.
 *
 * @param expected by backup names (from the manifest, or the dump itself)
 * @returns the server's counts, by names on the server
 * @throws {SmokeError} naming every difference, in the mode's words
 */
export async function checkCounts(
  run: RestoreRun,
  expected: DumpCounts,
  rename?: RenameMap,
): Promise<DumpCounts> {
  const counted = await compareCountsOn(
    run.server,
    renameDatabases(expected, rename),
    run.wording.countsDiffer,
  );
  run.log.info("compare", "deep check OK: every table has the rows the backup holds", {
    ...totals(counted),
  });
  return counted;
}

/**
 * The count check against the manifest; a backup without one is a warning (the value check
 * still compares every table with the dump).
 *
 * @returns the server's counts, or undefined without a manifest
 */
export async function checkManifestCounts(
  run: RestoreRun,
  manifest: Manifest | undefined,
  rename?: RenameMap,
): Promise<DumpCounts | undefined> {
  if (!manifest) {
    run.log.warn("compare", run.wording.noManifest.what, { hint: run.wording.noManifest.hint });
    return undefined;
  }
  return await checkCounts(run, manifest.databases, rename);
}

/**
 * The value check: every table the dump holds data for, rendered on the run's server as
 * pg_dump rendered it, against the digests the parser took from the very bytes restored. Logs
 * `value check OK: every table compared by value matches the backup`.
 *
 * @param values the dump's digests, by backup names
 * @param manifest for the dumping sessions' settings (`dump_settings`), when there is one
 * @throws {SmokeError} naming every table that differs, in the mode's words
 */
export async function checkRestoredValues(
  run: RestoreRun,
  values: DumpValues,
  manifest: Manifest | undefined,
  rename?: RenameMap,
): Promise<ValueCheckResult> {
  const settings = manifest?.dump_settings && renameDatabases(manifest.dump_settings, rename);
  const result = await checkValues(
    run.server,
    renameDatabases(values, rename),
    settings,
    run.ctx.signal,
  );
  const { what, hint } = run.wording.valuesDiffer;
  if (result.diffs.length > 0) {
    throw new SmokeError(`smoke FAILED: ${what}: ${result.diffs.join("; ")}`, hint);
  }
  run.log.info(
    run.wording.valuesPhase,
    "value check OK: every table compared by value matches the backup",
    {
      tables_by_value: result.byValue.length,
      rows_by_value: result.rows,
      large_objects_by_value: result.largeObjects,
      compared_by_count_only: result.byCountOnly,
    },
  );
  return result;
}

/**
 * Counts what one restored database holds: rows of the given tables (`FROM ONLY`, as COPY
 * loaded them), the other user tables it has, and its large objects.
 *
 * @param conn the server
 * @param database the database
 * @param tables `schema.table` names to count (from the manifest)
 * @returns counts; a table that does not exist is left out
 */
async function countDatabase(
  conn: PgConnection,
  database: string,
  tables: readonly string[],
): Promise<DatabaseCounts> {
  return await withDatabase(conn, database, async (sql) => {
    const rows = await sql<{ schema: string; name: string; member: boolean }[]>`
      SELECT n.nspname AS schema, c.relname AS name,
             EXISTS (SELECT 1 FROM pg_depend d
                     WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND d.deptype = 'e') AS member
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;
    const wanted = new Set(tables);
    const counts: DatabaseCounts = { tables: {}, largeObjects: 0 };
    for (const row of rows) {
      const name = qualifiedName(row.schema, row.name);
      if (!wanted.has(name) && row.member) continue;
      const [c] = await sql.unsafe<{ n: string }[]>(
        `SELECT count(*) AS n FROM ONLY ${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
      );
      counts.tables[name] = Number(c?.n ?? 0);
    }
    const [lo] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM pg_largeobject_metadata`;
    counts.largeObjects = Number(lo?.n ?? 0);
    return counts;
  });
}
