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

/** The database {@linkcode loadAllTypesSample} creates. */
export const ALL_TYPES_DATABASE = "alltypes";

/** The source time zone {@linkcode loadAllTypesSample} sets (not UTC, not a whole hour). */
export const ALL_TYPES_TIME_ZONE = "Asia/Kathmandu";

/** Tables of {@linkcode loadAllTypesSample} that hold data, as manifest keys. */
export const ALL_TYPES_TABLES: readonly string[] = [
  "public.all_types",
  "public.measurements_2024",
  "public.measurements_2025",
  "public.measurements_other",
  "public.secrets",
  'public."user"',
  'public."Odd $name"',
  "public.fake",
  "public.hostile_stats",
];

/**
 * Load the all-types database: a value of every common type, with the edge cases a restore
 * must carry over byte for byte when rendered as pg_dump renders it.
 *
 * - server `TimeZone` {@linkcode ALL_TYPES_TIME_ZONE} (ALTER SYSTEM), and `bytea_output = escape`
 *   for this database, so a scratch server with other defaults must still render the same text
 * - `all_types`: int2/4/8, numeric (NaN, ±Infinity, scale 900), float4/8 (NaN, ±Infinity, -0,
 *   subnormals), text (tabs, newlines, backslashes, `\.`, unicode), bytea (every byte), bool,
 *   date/timestamp(tz) (±infinity, BC), time, timetz, interval, uuid, json (whitespace kept),
 *   jsonb, xml, inet, cidr, macaddr(8), money, bit, varbit, tsvector, tsquery, every geometric
 *   type, ranges and multiranges, arrays with NULLs and quotes, an enum (a label with quotes),
 *   a composite, a domain, `regclass`, a keyword column, identity columns (ALWAYS and BY
 *   DEFAULT), a stored generated column and a dropped column
 * - `measurements`: partitioned by range, two partitions and a default one
 * - `secrets`: row-level security enabled and forced, with a policy that hides every row
 * - `"user"` (a keyword table with a keyword column), `"Odd $name"`, and `fake` next to a
 *   function whose body holds `COPY public.fake (a) FROM stdin;`, rows and `\.`
 * - two large objects (binary and empty)
 * - `hostile_stats`, whose most common values (after ANALYZE, so in pg_dumpall 18's statistics
 *   section) are a COPY line, `\.`, and a fake data header
 *
 * @param pg a fresh server (15 or 18); its superuser runs everything
 */
export async function loadAllTypesSample(pg: PgServer): Promise<void> {
  await pg.psql(`
    ALTER SYSTEM SET TimeZone = '${ALL_TYPES_TIME_ZONE}';
    SELECT pg_reload_conf();
    CREATE DATABASE ${ALL_TYPES_DATABASE};
    ALTER DATABASE ${ALL_TYPES_DATABASE} SET bytea_output = 'escape';
  `);
  await pg.psql(
    String.raw`
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "quoted"');
    CREATE TYPE pair AS (a int, b text);
    CREATE DOMAIN posint AS int CHECK (VALUE > 0);
    CREATE DOMAIN when_tz AS timestamptz;
    CREATE TABLE all_types (
      id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      seq int GENERATED BY DEFAULT AS IDENTITY,
      i2 int2, i4 int4, i8 int8,
      num numeric, num_scale numeric(1000, 900), f4 float4, f8 float8,
      dropme text,
      t text, bt bytea, b bool,
      d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
      u uuid, j json, jb jsonb, x xml,
      ip inet, net cidr, mac macaddr, mac8 macaddr8, m money,
      bits bit(8), vbits varbit, tsv tsvector, tsq tsquery,
      pt point, ln line, ls lseg, bx box, pth path, plg polygon, crc circle,
      r int4range, nr numrange, dr daterange, tr tstzrange, mr int4multirange,
      tmr tstzmultirange,
      ia int[], ta text[], tza timestamptz[], ia2 int[][],
      e mood, ea mood[], c pair, ca pair[], dm posint, dtz when_tz,
      ch char(5), vc varchar(10), nm name, o oid, rc regclass,
      "select" text,
      gen bigint GENERATED ALWAYS AS (i4::bigint * 2) STORED
    );
    ALTER TABLE all_types DROP COLUMN dropme;
    INSERT INTO all_types (i2, i4, i8, num, num_scale, f4, f8, t, bt, b, d, tm, ttz, ts, tstz, iv,
      u, j, jb, x, ip, net, mac, mac8, m, bits, vbits, tsv, tsq, pt, ln, ls, bx, pth, plg, crc,
      r, nr, dr, tr, mr, tmr, ia, ta, tza, ia2, e, ea, c, ca, dm, dtz, ch, vc, nm, o, rc, "select")
    VALUES
      (32767, -2147483648, 9223372036854775807, 'NaN', 1e-900, 'NaN', '-Infinity',
       E'tab\there\nnew line\\backslash \\. \\N é 😀 \u0001', '\x00010203fffe7f80'::bytea, true,
       'infinity', '24:00:00', '23:59:59.999999+14', '294276-12-31 23:59:59.999999',
       '2024-03-31 02:30:00 Europe/Berlin', '178000000 years 11 mons 30 days 23:59:59.999999',
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,   "a" : [1,2 ,3],
         "s": "x\ty"}', '{"b": 1.50, "a": [true, null], "big": 1e30}',
       '<a x="1">t&amp;<b/></a>', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
       '08:00:2b:01:02:03:04:05', '1234.56', B'10101010', B'1', 'a fat:1A,2B cat''s sat',
       'fat & (rat | !cat)', '(1.5,-0)', '{1,-1,0}', '[(0,0),(1e-320,1)]', '(1,1),(0,0)',
       '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),0.1>', '[1,10)', '(,1.5]',
       '[2024-01-01,2024-02-01)', '[2024-01-01 00:00:00+00,infinity)', '{[1,3),[5,7)}',
       '{[2024-01-01 10:00+05:45,2024-01-02 00:00+00)}', ARRAY[1, NULL, 3],
       ARRAY['a"b', NULL, 'NULL', '', 'back\slash', 'with,comma', '{}', ' sp '],
       ARRAY['2024-06-01 12:00:00+00'::timestamptz, NULL], '{{1,2},{3,4}}', 'it''s "quoted"',
       ARRAY['sad', 'it''s "quoted"']::mood[], ROW(1, 'a"b,c)'), ARRAY[ROW(2, NULL)::pair],
       42, '2000-02-29 12:34:56.789012+01', 'ab', 'ünïcode', 'name', 4294967295,
       'all_types', 'keyword column');
    INSERT INTO all_types (i2, i4, i8, num, num_scale, f4, f8, t, bt, d, tm, ttz, ts, tstz, iv, j,
      jb, m, pt)
    VALUES (1, 2, 3, '-Infinity', 0, 1.4e-45, 4.9e-324, 'COPY public.fake (a) FROM stdin;',
      '\x5c2e0a'::bytea, '4713-01-01 BC', '12:34:56.789', '12:00+05:45', '2000-01-01 00:00:00',
      '1969-12-31 23:59:59.999999+00', '0', '"just a string"', '"é\u00e9x"',
      '92233720368547758.07', '(3.4028234663852886e38,-1.1754943508222875e-38)');
    INSERT INTO all_types DEFAULT VALUES;
    INSERT INTO all_types (f8, f4, t)
      SELECT i * 1.1e-310, i / 3.0, repeat(chr(32 + i % 90), i % 50)
      FROM generate_series(1, 500) AS i;

    CREATE TABLE measurements (id int, at date NOT NULL, reading float8, note text)
      PARTITION BY RANGE (at);
    CREATE TABLE measurements_2024 PARTITION OF measurements
      FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE measurements_2025 PARTITION OF measurements
      FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE measurements_other PARTITION OF measurements DEFAULT;
    INSERT INTO measurements
      SELECT i, '2023-12-01'::date + i, i / 7.0, 'n' || i FROM generate_series(1, 800) AS i;

    CREATE ROLE secrets_owner;
    CREATE TABLE secrets (id int PRIMARY KEY, secret text NOT NULL);
    INSERT INTO secrets SELECT i, md5(i::text) FROM generate_series(1, 50) AS i;
    ALTER TABLE secrets OWNER TO secrets_owner;
    ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
    ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
    CREATE POLICY nobody ON secrets USING (false);

    CREATE TABLE "user" ("select" text, "from" int);
    INSERT INTO "user" VALUES ('a', 1), ('b', 2);
    CREATE TABLE "Odd $name" ("Col ""quoted""" text);
    INSERT INTO "Odd $name" VALUES ('x'), (NULL);

    CREATE TABLE fake (a int);
    INSERT INTO fake SELECT generate_series(1, 5);
    CREATE FUNCTION looks_like_data() RETURNS text LANGUAGE plpgsql AS $body$
    BEGIN
      RETURN '
COPY public.fake (a) FROM stdin;
1
2
\.
';
    END $body$;
    COMMENT ON TABLE fake IS E'\n-- Data for Name: fake; Type: TABLE DATA; Schema: public; Owner: x\nCOPY public.fake (a) FROM stdin;\n9\n\\.\n';
    SELECT lo_from_bytea(0, decode(repeat('00ff5c2e0a', 40000), 'hex'));
    SELECT lo_from_bytea(0, '');
    CREATE TABLE hostile_stats (v text);
    INSERT INTO hostile_stats
      SELECT (ARRAY['COPY public.fake (a) FROM stdin;', E'\\.', E'x\n\\.\nCOPY public.fake (a) FROM stdin;\n1',
                    E'-- Data for Name: fake; Type: TABLE DATA; Schema: public; Owner: x'])[1 + i % 4]
      FROM generate_series(1, 200) AS i;
    ANALYZE;
  `,
    ALL_TYPES_DATABASE,
  );
}
