import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type DumpCounts, DumpStatsStream } from "./stream.ts";
import { parseConnectLine, parseCopyStatement } from "./parser.ts";
import { qualifiedName } from "../pg/ident.ts";

/** The table key of a COPY statement, as the old line parser returned it. */
function parseCopyLine(line: string): string | undefined {
  const copy = parseCopyStatement(line);
  return copy?.schema === undefined ? undefined : qualifiedName(copy.schema, copy.table);
}

/** A small pg_dumpall script with every case the counter must get right. */
const SCRIPT = [
  "--",
  "-- PostgreSQL database cluster dump",
  "--",
  "",
  "SET default_transaction_read_only = off;",
  "CREATE ROLE app;",
  "ALTER ROLE app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc';",
  "\\connect template1",
  "",
  "SELECT pg_catalog.set_config('search_path', '', false);",
  "\\connect postgres",
  "COPY public.t (x) FROM stdin;",
  "1",
  "\\.",
  "",
  'CREATE DATABASE "Weird DB" WITH TEMPLATE = template0;',
  "\\connect -reuse-previous=on \"dbname='Weird DB'\"",
  'COPY "Weird Schema"."Mixed Table" ("Id", "Note") FROM stdin;',
  "1\tline one\\nline two",
  "2\ttab\\there and a backslash \\\\ end",
  "3\t\\N",
  "4\t\\.",
  "5\tCOPY public.fake (x) FROM stdin;",
  "\\.",
  "COPY public.empty (id) FROM stdin;",
  "\\.",
  "COPY public.t (x) FROM stdin;",
  "a",
  "",
  "\\N",
  "\\.",
  "",
  "SELECT pg_catalog.lo_create('16398');",
  "SELECT pg_catalog.lo_open('16398', 131072);",
  "SELECT pg_catalog.lowrite(0, '\\x6869');",
  "SELECT pg_catalog.lo_create('16399');",
  "\\connect app",
  "SET statement_timeout = 0;",
  "COPY app.events (id, payload) FROM stdin;",
  '1\t{"k": "COPY x.y (z) FROM stdin;"}',
  "2\tS",
  "3\tC",
  "\\.",
  "-- done",
  "",
].join("\n");

const EXPECTED: DumpCounts = {
  template1: { tables: {}, largeObjects: 0 },
  postgres: { tables: { "public.t": 1 }, largeObjects: 0 },
  "Weird DB": {
    tables: { '"Weird Schema"."Mixed Table"': 5, "public.empty": 0, "public.t": 3 },
    largeObjects: 2,
  },
  app: { tables: { "app.events": 3 }, largeObjects: 0 },
};

const encoder = new TextEncoder();

async function count(
  chunks: Uint8Array[],
): Promise<{ stream: DumpStatsStream; out: Uint8Array }> {
  const stream = new DumpStatsStream();
  const parts: Uint8Array[] = [];
  await ReadableStream.from(chunks).pipeThrough(stream).pipeTo(
    new WritableStream({ write: (chunk) => void parts.push(chunk) }),
  );
  return { stream, out: new Uint8Array(Buffer.concat(parts)) };
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
  return chunks;
}

Deno.test("DumpStatsStream counts COPY rows per table per database, listing every database it connects to", async () => {
  const { stream } = await count([encoder.encode(SCRIPT)]);
  assert.deepEqual(stream.counts(), EXPECTED);
  assert.equal(stream.rows, 12);
});

Deno.test("DumpStatsStream gives identical results whatever the chunk boundaries", async () => {
  const bytes = encoder.encode(SCRIPT);
  for (const size of [1, 2, 3, 7, 64, bytes.length]) {
    const { stream, out } = await count(chunked(bytes, size));
    assert.deepEqual(stream.counts(), EXPECTED, `chunks of ${size} bytes`);
    assert.equal(stream.rows, 12, `chunks of ${size} bytes`);
    assert.equal(stream.bytes, bytes.length, `chunks of ${size} bytes`);
    assert.deepEqual(out, bytes, `chunks of ${size} bytes`);
  }
});

Deno.test("DumpStatsStream passes chunks on unchanged, in order", async () => {
  const chunks = chunked(encoder.encode(SCRIPT), 100);
  const stream = new DumpStatsStream();
  const seen: Uint8Array[] = [];
  await ReadableStream.from(chunks).pipeThrough(stream).pipeTo(
    new WritableStream({ write: (chunk) => void seen.push(chunk) }),
  );
  assert.equal(seen.length, chunks.length);
  seen.forEach((chunk, i) => assert.equal(chunk, chunks[i], `chunk ${i} is the same object`));
});

Deno.test("DumpStatsStream counts multi-byte text split inside a character", async () => {
  const script = '\\connect "Ünïcode"\nCOPY "schéma"."tåble" (x) FROM stdin;\nà\n€\n\\.\n';
  const expected = { "Ünïcode": { tables: { '"schéma"."tåble"': 2 }, largeObjects: 0 } };
  const bytes = encoder.encode(script);
  for (const size of [1, 2, 3, bytes.length]) {
    const { stream } = await count(chunked(bytes, size));
    assert.deepEqual(stream.counts(), expected, `chunks of ${size} bytes`);
  }
});

Deno.test("DumpStatsStream keeps counting a table that appears twice", async () => {
  const script =
    "COPY public.t (x) FROM stdin;\n1\n\\.\nCOPY public.t (x) FROM stdin;\n2\n3\n\\.\n";
  const { stream } = await count([encoder.encode(script)]);
  assert.deepEqual(stream.counts(), { "": { tables: { "public.t": 3 }, largeObjects: 0 } });
});

Deno.test("DumpStatsStream of a script without a last newline still counts its last statement", async () => {
  const { stream } = await count([
    encoder.encode("\\connect app\nSELECT pg_catalog.lo_create('1');"),
  ]);
  assert.deepEqual(stream.counts(), { app: { tables: {}, largeObjects: 1 } });
});

Deno.test("DumpStatsStream of nothing has no counts", async () => {
  const { stream } = await count([]);
  assert.deepEqual(stream.counts(), {});
  assert.equal(stream.bytes, 0);
  assert.equal(stream.rows, 0);
});

Deno.test("DumpStatsStream.counts() returns a copy", async () => {
  const { stream } = await count([encoder.encode(SCRIPT)]);
  const first = stream.counts();
  first.app!.tables["app.events"] = 0;
  assert.equal(stream.counts().app!.tables["app.events"], 3);
});

Deno.test("parseConnectLine() reads plain, quoted and -reuse-previous names", () => {
  assert.equal(parseConnectLine("\\connect app"), "app");
  assert.equal(parseConnectLine("\\connect template1"), "template1");
  assert.equal(parseConnectLine('\\connect "MixedCase"'), "MixedCase");
  assert.equal(parseConnectLine('\\connect "select"'), "select");
  assert.equal(parseConnectLine('\\connect "a""b"'), 'a"b');
  assert.equal(parseConnectLine("\\connect -reuse-previous=on \"dbname='Weird DB'\""), "Weird DB");
  assert.equal(parseConnectLine("\\connect -reuse-previous=on \"dbname='my-db'\""), "my-db");
  assert.equal(
    parseConnectLine('\\connect -reuse-previous=on "dbname=\'it\\\'s \\\\ ""q""\'"'),
    'it\'s \\ "q"',
  );
  assert.equal(parseConnectLine("\\connect app  "), "app");
});

Deno.test("parseConnectLine() returns undefined for lines it does not understand", () => {
  assert.equal(parseConnectLine("\\connect "), undefined);
  assert.equal(parseConnectLine("\\connect app other"), undefined);
  assert.equal(parseConnectLine('\\connect "unterminated'), undefined);
  assert.equal(parseConnectLine("\\connect -reuse-previous=on \"host=x dbname='a'\""), undefined);
  assert.equal(parseConnectLine('\\connect -reuse-previous=on "dbname=plain"'), undefined);
});

Deno.test("parseCopyLine() reads plain, quoted and mixed-case identifiers", () => {
  assert.equal(parseCopyLine("COPY public.t (x) FROM stdin;"), "public.t");
  assert.equal(parseCopyLine("COPY public.t FROM stdin;"), "public.t");
  assert.equal(
    parseCopyLine('COPY "Weird Schema"."Mixed Table" ("Id") FROM stdin;'),
    '"Weird Schema"."Mixed Table"',
  );
  assert.equal(parseCopyLine('COPY "public"."lower" (x) FROM stdin;'), "public.lower");
  assert.equal(parseCopyLine('COPY public."a""b.c" (x) FROM stdin;'), 'public."a""b.c"');
  assert.equal(parseCopyLine('COPY public."has (paren" (x) FROM stdin;'), 'public."has (paren"');
  // quote_ident() quotes a name with `$` (the old counter left it bare).
  assert.equal(parseCopyLine("COPY s$1.t_2 (x) FROM stdin;"), '"s$1".t_2');
  assert.equal(parseCopyLine('COPY public."user" (x) FROM stdin;'), 'public."user"');
});

Deno.test("parseCopyLine() returns undefined for anything but COPY schema.table FROM stdin", () => {
  assert.equal(parseCopyLine("COPY t (x) FROM stdin;"), undefined);
  assert.equal(parseCopyLine("COPY a.b.c (x) FROM stdin;"), undefined);
  assert.equal(parseCopyLine("COPY public.t (x) TO stdout;"), undefined);
  assert.equal(parseCopyLine("COPY public.t (x) FROM '/tmp/f';"), undefined);
  assert.equal(parseCopyLine('COPY "unterminated.t (x) FROM stdin;'), undefined);
  assert.equal(parseCopyLine("COPY  FROM stdin;"), undefined);
});

Deno.test("qualifiedName() quotes only names that need it", () => {
  assert.equal(qualifiedName("public", "t_1"), "public.t_1");
  assert.equal(qualifiedName("public", "t_1$"), 'public."t_1$"');
  assert.equal(qualifiedName("Public", "my table"), '"Public"."my table"');
  assert.equal(qualifiedName("public", '1"x'), 'public."1""x"');
});

Deno.test("DumpStatsStream counts a table whose COPY line is longer than 16 KiB", async () => {
  // A wide table's COPY line must be kept whole, or its ` FROM stdin;` is cut off.
  const columns = Array.from({ length: 600 }, (_, i) => `a_fairly_long_descriptive_column_${i}`);
  const line = `COPY public.wide (${columns.join(", ")}) FROM stdin;`;
  assert.ok(line.length > 16 * 1024);
  const { stream } = await count([encoder.encode(`\\connect app\n${line}\n1\n2\n\\.\n`)]);
  assert.deepEqual(stream.counts(), { app: { tables: { "public.wide": 2 }, largeObjects: 0 } });
});
