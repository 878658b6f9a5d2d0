import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { DumpStatsStream } from "./stream.ts";

const utf8 = new TextEncoder();

/**
 * What pg_dumpall 18.6 wrote for a PostgreSQL 15.20 source (Debian 15.20-0+deb12u1), trimmed,
 * with the traps a line-based filter would fall into: the same statement inside COPY data, a
 * function body and a string, a quoted column named like the statement's tail, and a column
 * whose user option must stay.
 */
const SCRIPT = [
  "\\connect app",
  "",
  'CREATE TABLE public."weird table" (',
  '    "Column With Space" text,',
  '    "ünïcode" text',
  ");",
  'ALTER TABLE ONLY public."weird table" ALTER COLUMN "Column With Space" SET (pg_attver=36937808);',
  'ALTER TABLE ONLY public."weird table" ALTER COLUMN "ünïcode" SET (pg_attver=36937808);',
  "",
  "",
  'ALTER TABLE public."weird table" OWNER TO postgres;',
  "ALTER TABLE ONLY public.daily ALTER COLUMN day SET (n_distinct=-0.5, pg_attver=36799640);",
  "ALTER TABLE ONLY public.daily ALTER COLUMN visits SET (n_distinct=100);",
  'ALTER FOREIGN TABLE ONLY "MixedCase"."Remote" ALTER COLUMN "x SET (pg_attver=1);" SET (pg_attver=42);',
  "ALTER TABLE ONLY public.daily ALTER COLUMN visits SET STORAGE PLAIN;",
  "CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$",
  "ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=5);",
  "$$;",
  "SELECT 'ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=6);';",
  "COPY public.notes (body) FROM stdin;",
  "ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=7);",
  "\\.",
  "",
].join("\n");

const EXPECTED = [
  "\\connect app",
  "",
  'CREATE TABLE public."weird table" (',
  '    "Column With Space" text,',
  '    "ünïcode" text',
  ");",
  "",
  "",
  'ALTER TABLE public."weird table" OWNER TO postgres;',
  "ALTER TABLE ONLY public.daily ALTER COLUMN day SET (n_distinct=-0.5);",
  "ALTER TABLE ONLY public.daily ALTER COLUMN visits SET (n_distinct=100);",
  "ALTER TABLE ONLY public.daily ALTER COLUMN visits SET STORAGE PLAIN;",
  "CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$",
  "ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=5);",
  "$$;",
  "SELECT 'ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=6);';",
  "COPY public.notes (body) FROM stdin;",
  "ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=7);",
  "\\.",
  "",
].join("\n");

async function run(chunks: Uint8Array[], dropInternalOptions: boolean) {
  const stream = new DumpStatsStream({ dropInternalOptions });
  const parts: Uint8Array[] = [];
  await ReadableStream.from(chunks).pipeThrough(stream).pipeTo(
    new WritableStream({ write: (chunk) => void parts.push(chunk) }),
  );
  return { stream, text: new TextDecoder().decode(Buffer.concat(parts)) };
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
  return chunks;
}

Deno.test("the backup drops PostgreSQL 15.20's pg_attver column options, and only them", async () => {
  const { stream, text } = await run([utf8.encode(SCRIPT)], true);
  assert.equal(text, EXPECTED);
  assert.equal(stream.droppedOptions, 4);
  // Counted as the script came: the row in COPY data that looks like the statement is a row.
  assert.deepEqual(stream.counts(), { app: { tables: { "public.notes": 1 }, largeObjects: 0 } });
  assert.equal(stream.bytes, utf8.encode(SCRIPT).length);
});

Deno.test("dropping internal options gives the same script whatever the chunk boundaries", async () => {
  const bytes = utf8.encode(SCRIPT);
  for (const size of [1, 2, 3, 7, 16, 61, 64, 1000]) {
    const { stream, text } = await run(chunked(bytes, size), true);
    assert.equal(text, EXPECTED, `chunks of ${size} bytes`);
    assert.equal(stream.droppedOptions, 4, `chunks of ${size} bytes`);
  }
});

Deno.test("without dropInternalOptions (the drill) the script passes byte for byte", async () => {
  const { stream, text } = await run(chunked(utf8.encode(SCRIPT), 5), false);
  assert.equal(text, SCRIPT);
  assert.equal(stream.droppedOptions, 0);
});

Deno.test("a long unit that starts like a column-option statement passes whole", async () => {
  // COPY data of 100,000 rows, each the start of the statement: held only up to the limit.
  const row = "ALTER TABLE ONLY x\n";
  const script = `COPY public.t (a) FROM stdin;\n${row.repeat(100_000)}\\.\nSELECT 1;\n`;
  const { stream, text } = await run(chunked(utf8.encode(script), 65536), true);
  assert.equal(text, script);
  assert.equal(stream.droppedOptions, 0);
  assert.equal(stream.rows, 100_000);
});
