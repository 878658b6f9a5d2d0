/**
 * Sample clusters to back up, and a row count of every table to compare a restore with.
 *
 * @module
 */

import type { PgServer } from "./postgres.ts";

/** Databases {@linkcode loadRichSample} creates (besides `postgres`). */
export const RICH_DATABASES: readonly string[] = ["app", "analytics", "Weird-DB name"];

/** Databases {@linkcode loadSimpleSample} creates (besides `postgres`). */
export const SIMPLE_DATABASES: readonly string[] = ["app"];

/** Rows in `app.public.orders` of the rich sample. */
export const RICH_ORDER_ROWS = 5000;

/** The text of the marker row both samples write to `app.public.backup_marker`. */
export const MARKER_NOTE = "written before the backup";

/**
 * Load the "rich" cluster: what a restore must carry over without loss.
 *
 * - roles `app_user` and `reporter` (LOGIN, with passwords), grants to `reporter`
 * - databases `app` (owned by `app_user`), `analytics`, `Weird-DB name`
 * - in `app`: extensions `pgcrypto`, `citext`, `hstore`; `"MixedCase"."OrderItems"` with a
 *   `"Quantity"` column; text with tabs, newlines and backslashes; bytea; jsonb; a large
 *   object; a partitioned table `events` (2 partitions); an empty table; 5000 `orders`
 * - in `analytics`: 1000 `daily` rows; in `Weird-DB name`: `"weird table"`
 *
 * @param pg A fresh server; its superuser runs everything.
 * @returns The database names created, as {@linkcode RICH_DATABASES}.
 * @throws {Error} When any statement fails.
 */
export async function loadRichSample(pg: PgServer): Promise<string[]> {
  await pg.psql(`
    CREATE ROLE app_user LOGIN PASSWORD 'app-user-secret';
    CREATE ROLE reporter LOGIN PASSWORD 'reporter-secret';
    CREATE DATABASE app OWNER app_user;
    CREATE DATABASE analytics;
    CREATE DATABASE "Weird-DB name";
  `);
  await pg.psql(
    `
    CREATE EXTENSION pgcrypto;
    CREATE EXTENSION citext;
    CREATE EXTENSION hstore;
    CREATE TABLE backup_marker (id int PRIMARY KEY, note text NOT NULL);
    INSERT INTO backup_marker VALUES (1, '${MARKER_NOTE}');
    CREATE SCHEMA "MixedCase" AUTHORIZATION app_user;
    CREATE TABLE "MixedCase"."OrderItems" (
      "Id" serial PRIMARY KEY, "Sku" citext NOT NULL, "Quantity" int NOT NULL
    );
    INSERT INTO "MixedCase"."OrderItems" ("Sku", "Quantity")
      SELECT 'SKU-' || i, i % 7 + 1 FROM generate_series(1, 250) AS i;
    CREATE TABLE notes (id int PRIMARY KEY, body text, raw bytea, doc jsonb, attrs hstore);
    INSERT INTO notes VALUES
      (1, E'tab\\there\\nnew line\\\\backslash \\\\N not null', '\\x00ff10'::bytea,
       '{"a": [1, 2, {"b": "c\\\\d"}], "uni": "\\u00e9"}', 'k=>v'),
      (2, E'COPY-like line\\t\\\\.\\n\\\\.', decode('deadbeef', 'hex'), '[]', NULL),
      (3, NULL, NULL, NULL, NULL);
    CREATE TABLE orders (
      id bigint PRIMARY KEY, customer text NOT NULL, total numeric(12, 2) NOT NULL,
      secret bytea NOT NULL, placed_at timestamptz NOT NULL
    );
    INSERT INTO orders
      SELECT i, 'customer ' || (i % 97), (i * 1.25)::numeric(12, 2),
             digest(i::text, 'sha256'), '2025-01-01'::timestamptz + i * interval '1 minute'
      FROM generate_series(1, ${RICH_ORDER_ROWS}) AS i;
    CREATE TABLE events (id int, at date NOT NULL, kind text) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO events SELECT i, '2024-06-01'::date + i, 'kind ' || (i % 3)
      FROM generate_series(1, 400) AS i;
    CREATE TABLE empty_table (id int, payload text);
    SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));
    ALTER TABLE notes OWNER TO app_user;
    ALTER TABLE orders OWNER TO app_user;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporter;
  `,
    "app",
  );
  await pg.psql(
    `
    CREATE TABLE daily (day date PRIMARY KEY, visits int NOT NULL);
    INSERT INTO daily SELECT '2023-01-01'::date + i, i * 3 FROM generate_series(0, 999) AS i;
    GRANT SELECT ON daily TO reporter;
  `,
    "analytics",
  );
  await pg.psql(
    `
    CREATE TABLE "weird table" ("Column With Space" text, "ünïcode" text);
    INSERT INTO "weird table" VALUES ('a b', 'é'), ('"quoted"', E'line1\\nline2');
  `,
    "Weird-DB name",
  );
  return [...RICH_DATABASES];
}

/**
 * Load the small "simple" cluster for the demo and the local stack: database `app` with
 * `backup_marker` (1 row) and `items` (100 rows).
 *
 * @returns The database names created, as {@linkcode SIMPLE_DATABASES}.
 */
export async function loadSimpleSample(pg: PgServer): Promise<string[]> {
  await pg.psql("CREATE DATABASE app");
  await pg.psql(
    `
    CREATE TABLE backup_marker (id int PRIMARY KEY, note text NOT NULL);
    INSERT INTO backup_marker VALUES (1, '${MARKER_NOTE}');
    CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) AS i;
  `,
    "app",
  );
  return [...SIMPLE_DATABASES];
}

/**
 * Row counts per database, table and large objects.
 *
 * Shape: `{ [database]: { ["schema.table"]: rows, pg_largeobject: largeObjects } }`, for
 * every database that accepts connections and is not a template (`postgres` included).
 * Tables are the ordinary ones (relkind `r`, so partitions but not their parent) outside
 * `pg_catalog`, `information_schema` and `pg_toast`, minus extension members. Names are
 * unquoted: `"MixedCase"."OrderItems"` appears as `MixedCase.OrderItems`. The key
 * `pg_largeobject` holds the number of large objects (0 when none).
 *
 * @example
 * ```ts
 * const before = await rowCounts(stack.source);
 * assert.equal(before.app?.["public.orders"], 5000);
 * ```
 */
export async function rowCounts(
  pg: PgServer,
): Promise<Record<string, Record<string, number>>> {
  const databases = JSON.parse(
    await pg.psql(
      "SELECT json_agg(datname ORDER BY datname) FROM pg_database WHERE datallowconn AND NOT datistemplate",
    ),
  ) as string[];
  const counts: Record<string, Record<string, number>> = {};
  for (const db of databases) counts[db] = await _countTables(pg, db);
  return counts;
}

async function _countTables(pg: PgServer, db: string): Promise<Record<string, number>> {
  // One SELECT per table, built by the server so every name is quoted correctly.
  const selects = JSON.parse(
    await pg.psql(
      `SELECT coalesce(json_agg(format('SELECT %L AS name, count(*) AS n FROM %I.%I',
                 n.nspname || '.' || c.relname, n.nspname, c.relname)), '[]')
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r'
         AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
         AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.deptype = 'e')`,
      db,
    ),
  ) as string[];
  selects.push("SELECT 'pg_largeobject' AS name, count(*) AS n FROM pg_largeobject_metadata");
  const sql = `SELECT json_object_agg(name, n) FROM (${selects.join(" UNION ALL ")}) AS counts`;
  const counts = JSON.parse(await pg.psql(sql, db)) as Record<string, number>;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a < b ? -1 : 1));
}
