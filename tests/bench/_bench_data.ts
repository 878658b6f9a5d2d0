/**
 * Benchmark data: a source cluster whose dump looks like a real application's (ints,
 * timestamps, hex digests, words from a small dictionary, money amounts, jsonb with varying
 * keys, text with tabs and newlines), generated server-side with generate_series so that
 * gigabytes take a minute, not an hour. Tables are ordinary (logged), so pg_dumpall dumps them
 * as production would; the harness's fsync=off keeps generation fast.
 *
 * @module
 */

import type { PgServer } from "../harness/postgres.ts";
import { BASE_ENV } from "../harness/process.ts";
import { type Stack, startStack } from "../harness/stack.ts";
import { PG18_CLIENT_BIN_DIR } from "../harness/tools.ts";
import { timeDumpThrough } from "./_bench_measure.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Databases the benchmark creates (besides `postgres`). */
export const BENCH_DATABASES: readonly string[] = ["shop", "ledger"];

/** Rows per table in one generation unit; bytes per unit are measured, not assumed. */
const UNIT_ROWS = {
  customers: 4_000,
  orders: 20_000,
  events: 12_000,
  entries: 20_000,
} as const;

const WORDS = [
  "alpha",
  "amber",
  "anchor",
  "apple",
  "atlas",
  "basil",
  "beacon",
  "birch",
  "blue",
  "bolt",
  "cedar",
  "cherry",
  "cloud",
  "cobalt",
  "coral",
  "delta",
  "dune",
  "ember",
  "falcon",
  "fern",
  "frost",
  "garnet",
  "ginger",
  "harbor",
  "hazel",
  "indigo",
  "iris",
  "jade",
  "juniper",
  "kestrel",
  "lemon",
  "lilac",
  "linen",
  "maple",
  "meadow",
  "mint",
  "nectar",
  "nova",
  "oak",
  "olive",
  "onyx",
  "orbit",
  "pearl",
  "pepper",
  "pine",
  "quartz",
  "raven",
  "ridge",
  "river",
  "rust",
  "sage",
  "slate",
  "sparrow",
  "spruce",
  "stone",
  "thistle",
  "tide",
  "umber",
  "velvet",
  "willow",
  "wren",
  "yarrow",
  "zephyr",
  "zinc",
];

/** `w(n)`: n random words from the dictionary, space separated (SQL expression). */
function _words(n: number): string {
  const pick = `(ARRAY[${
    WORDS.map((w) => `'${w}'`).join(",")
  }])[1 + floor(random() * ${WORDS.length})::int]`;
  return Array.from({ length: n }, () => pick).join(" || ' ' || ");
}

const SCHEMA: Record<string, string> = {
  shop: `
    CREATE TABLE customers (
      id bigint PRIMARY KEY,
      email text NOT NULL,
      full_name text NOT NULL,
      country char(2) NOT NULL,
      created_at timestamptz NOT NULL,
      balance numeric(12,2) NOT NULL,
      tags text[] NOT NULL,
      api_key_sha256 text NOT NULL
    );
    CREATE TABLE orders (
      id bigint PRIMARY KEY,
      customer_id bigint NOT NULL,
      placed_at timestamptz NOT NULL,
      status text NOT NULL,
      amount numeric(12,2) NOT NULL,
      currency char(3) NOT NULL,
      items int NOT NULL,
      tracking text,
      note text
    );
    CREATE TABLE events (
      id bigint PRIMARY KEY,
      at timestamptz NOT NULL,
      session_id uuid NOT NULL,
      kind text NOT NULL,
      payload jsonb NOT NULL
    );`,
  ledger: `
    CREATE TABLE entries (
      id bigint PRIMARY KEY,
      account int NOT NULL,
      booked_on date NOT NULL,
      amount numeric(14,4) NOT NULL,
      memo text NOT NULL,
      ref text NOT NULL
    );`,
};

/** One INSERT per table for ids in (lo, lo + n·rows]; each is a single server-side statement. */
function _inserts(firstUnit: number, units: number): { db: string; sql: string }[] {
  const range = (rows: number) =>
    `generate_series(${firstUnit * rows + 1}::bigint, ${(firstUnit + units) * rows}::bigint) AS i`;
  return [
    {
      db: "shop",
      sql: `INSERT INTO orders SELECT i,
        1 + floor(random() * ${UNIT_ROWS.customers * (firstUnit + units)})::bigint,
        timestamptz '2019-01-01' + random() * interval '1900 days',
        (ARRAY['new','paid','packed','shipped','delivered','returned','cancelled'])[1 + floor(random() * 7)::int],
        round((random() * 900 + random() * random() * 9000)::numeric, 2),
        (ARRAY['EUR','USD','GBP','CHF','SEK'])[1 + floor(random() * 5)::int],
        1 + floor(random() * 12)::int,
        CASE WHEN random() < 0.7 THEN upper(substr(md5(random()::text), 1, 18)) END,
        CASE WHEN random() < 0.3 THEN ${_words(4)} || E'\\t' || ${_words(2)} || E'\\n' || ${
        _words(6)
      } END
        FROM ${range(UNIT_ROWS.orders)}`,
    },
    {
      db: "shop",
      sql: `INSERT INTO events SELECT i,
        timestamptz '2023-01-01' + random() * interval '700 days',
        md5(random()::text || i)::uuid,
        (ARRAY['view','click','search','add_to_cart','checkout','login','logout'])[1 + floor(random() * 7)::int],
        jsonb_build_object('v', 1 + (i % 3), 'path', '/' || ${_words(1)} || '/' || ${
        _words(1)
      }, 'ms', floor(random() * 2000)::int)
          || CASE WHEN random() < 0.5 THEN jsonb_build_object('ref', substr(md5(random()::text), 1, 12), 'q', ${
        _words(2)
      }) ELSE '{}'::jsonb END
          || CASE WHEN random() < 0.3 THEN jsonb_build_object('cart', jsonb_build_array(floor(random() * 1e6)::int, floor(random() * 1e6)::int), 'total', round((random() * 500)::numeric, 2)) ELSE '{}'::jsonb END
          || CASE WHEN random() < 0.2 THEN jsonb_build_object('ua_' || (i % 11), ${
        _words(3)
      }, 'ok', random() < 0.9) ELSE '{}'::jsonb END
        FROM ${range(UNIT_ROWS.events)}`,
    },
    {
      db: "shop",
      sql: `INSERT INTO customers SELECT i,
        ${_words(1)} || '.' || ${_words(1)} || (i % 1000) || '@' || ${_words(1)} || '.example',
        initcap(${_words(1)}) || ' ' || initcap(${_words(1)}),
        (ARRAY['DE','FR','NL','US','GB','SE','CH','PL','ES','IT'])[1 + floor(random() * 10)::int],
        timestamptz '2015-01-01' + random() * interval '3650 days',
        round((random() * random() * 20000 - 500)::numeric, 2),
        ARRAY[${_words(1)}, ${_words(1)}],
        encode(sha256((random()::text || i)::bytea), 'hex')
        FROM ${range(UNIT_ROWS.customers)}`,
    },
    {
      db: "ledger",
      sql: `INSERT INTO entries SELECT i,
        1000 + floor(random() * 5000)::int,
        date '2018-01-01' + floor(random() * 2500)::int,
        round(((random() - 0.5) * 20000)::numeric, 4),
        ${_words(3)} || CASE WHEN random() < 0.1 THEN E'\\t(' || ${_words(1)} || ')' ELSE '' END,
        'INV-' || lpad((i % 999983)::text, 6, '0') || '-' || substr(md5(i::text || random()), 1, 10)
        FROM ${range(UNIT_ROWS.entries)}`,
    },
  ];
}

/** Create the databases and empty tables, turn autovacuum off so it never runs mid-timing. */
export async function createBenchSchema(pg: PgServer): Promise<void> {
  await pg.psql(
    "ALTER SYSTEM SET autovacuum = off; ALTER SYSTEM SET max_wal_size = '8GB'; SELECT pg_reload_conf();",
  );
  for (const db of BENCH_DATABASES) {
    await pg.psql(`CREATE DATABASE ${db}`);
    await pg.psql(SCHEMA[db]!, db);
  }
}

/**
 * Add `units` generation units, starting after `firstUnit` units already loaded. Statements run
 * two at a time (the machine has two cores).
 */
export async function addUnits(pg: PgServer, firstUnit: number, units: number): Promise<void> {
  if (units <= 0) return;
  const queue = _inserts(firstUnit, units);
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      await pg.psql(next.sql, next.db);
    }
  };
  await Promise.all([worker(), worker()]);
}

/**
 * A stack (PostgreSQL 18 source, RGW on bluestore) whose source dumps to about `sizeMiB` MiB with
 * pg_dumpall 18: one generation unit is loaded and measured, then as many more as the size needs.
 * Dispose the stack when done.
 */
export async function startSizedStack(sizeMiB: number, say: (msg: string) => void): Promise<Stack> {
  const stack = await startStack({
    sample: "none",
    rgw: { objectstore: "bluestore", storeBytes: 16 * GiB },
  });
  try {
    await createBenchSchema(stack.source);
    const dumpEnv = {
      PATH: BASE_ENV.PATH ?? "/usr/bin:/bin",
      LC_ALL: "C.UTF-8",
      ...stack.source.env,
    };
    const dump = () =>
      timeDumpThrough(`${PG18_CLIENT_BIN_DIR}/pg_dumpall`, dumpEnv, new TransformStream());
    const empty = (await dump()).bytes;
    await addUnits(stack.source, 0, 1);
    const perUnit = (await dump()).bytes - empty;
    const units = Math.max(1, Math.ceil((sizeMiB * MiB - empty) / perUnit));
    say(`one unit dumps to ${(perUnit / MiB).toFixed(1)} MiB; loading ${units} units`);
    await addUnits(stack.source, 1, units - 1);
    await settle(stack.source);
    return stack;
  } catch (err) {
    await stack[Symbol.asyncDispose]();
    throw err;
  }
}

/** VACUUM ANALYZE every bench database, so the first timed dump does not set hint bits. */
export async function settle(pg: PgServer): Promise<void> {
  await Promise.all(BENCH_DATABASES.map((db) => pg.psql("VACUUM ANALYZE", db)));
  await pg.psql("CHECKPOINT");
}
