import assert from "node:assert/strict";
import { SectionedDumpStream } from "./stream.ts";

/** pg_dumpall's opening block of a database's section. */
const block = (name: string) => `--\n-- Database "${name}" dump\n--\n\n`;

/** A small cluster script in pg_dumpall's shape, with fake blocks where they are only text. */
const SCRIPT = [
  "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict G1\n\n",
  "SET standard_conforming_strings = on;\n\n--\n-- Roles\n--\n\nCREATE ROLE app_user;\n\n",
  "\\unrestrict G1\n\n--\n-- Databases\n--\n\n",
  block("app"),
  "\\restrict A1\n\nCREATE DATABASE app WITH TEMPLATE = template0;\n\n\\unrestrict A1\n",
  "\\connect app\n\\restrict A1\n\n",
  // Only text: a function body, a string, COPY data.
  `CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$SELECT '\n${block("fake1")}'$$;\n\n`,
  `COMMENT ON FUNCTION public.f() IS '\n${block("fake2")}';\n\n`,
  "COPY public.t (x) FROM stdin;\n",
  block("fake3").split("\n").filter((l) => l !== "").join("\n") + "\n\\.\n\n",
  "\\unrestrict A1\n\n",
  block('we"ird'),
  '\\restrict W1\n\nCREATE DATABASE "we""ird" WITH TEMPLATE = template0;\n\n\\unrestrict W1\n',
  '\\encoding SQL_ASCII\n\\connect -reuse-previous=on "dbname=\'we""ird\'"\n\\restrict W1\n\n',
  "CREATE TABLE u (y int);\n\n\\unrestrict W1\n\n",
  "--\n-- PostgreSQL database cluster dump complete\n--\n\n",
].join("");

async function cut(script: string, chunk: number) {
  const bytes = new TextEncoder().encode(script);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const stream = new SectionedDumpStream({ dropInternalOptions: true });
  const parts: { name: string; text: string }[] = [{ name: "globals", text: "" }];
  const decoder = new TextDecoder();
  for await (const piece of ReadableStream.from(chunks).pipeThrough(stream)) {
    if (piece instanceof Uint8Array) parts.at(-1)!.text += decoder.decode(piece);
    else parts.push({ name: piece.name, text: "" });
  }
  return { parts, stream };
}

Deno.test("SectionedDumpStream cuts at pg_dumpall's blocks only, whatever the chunk size", async () => {
  for (const chunk of [1, 2, 3, 5, 7, 13, 64, 1000, SCRIPT.length]) {
    const { parts, stream } = await cut(SCRIPT, chunk);
    assert.deepEqual(parts.map((p) => p.name), ["globals", "app", 'we"ird'], `chunk ${chunk}`);
    assert.equal(parts.map((p) => p.text).join(""), SCRIPT, `chunk ${chunk}`);
    // Each database's section starts with its whole opening block.
    assert.ok(parts[1]!.text.startsWith(block("app")), `chunk ${chunk}`);
    assert.ok(parts[2]!.text.startsWith(block('we"ird')), `chunk ${chunk}`);
    // The "-- Databases" header stays with the globals.
    assert.ok(parts[0]!.text.endsWith("--\n-- Databases\n--\n\n"), `chunk ${chunk}`);
    assert.deepEqual(
      stream.sections(),
      parts.map((p) => ({ name: p.name, dumpBytes: new TextEncoder().encode(p.text).length })),
    );
    assert.equal(stream.sectionProblem, undefined);
  }
});

Deno.test("SectionedDumpStream keeps no index for a script not cut as pg_dumpall cuts it", async () => {
  // A \connect in the globals, as a hand-made script would have.
  const noBlocks = "\\connect app\nCREATE TABLE t (x int);\n";
  const { stream } = await cut(noBlocks, 7);
  assert.equal(stream.sections(), undefined);
  assert.equal(
    stream.sectionProblem,
    'the script connects to database "app" before any section begins',
  );
  // A section that connects elsewhere.
  const crossed = block("app") + "\\connect other\n";
  const second = await cut(crossed, 3);
  assert.equal(second.stream.sectionProblem, 'the section of database "app" connects to "other"');
  // A database twice.
  const twice = block("app") + "\\connect app\n" + block("app") + "\\connect app\n";
  assert.equal((await cut(twice, 5)).stream.sectionProblem, 'database "app" has two sections');
});

Deno.test("SectionedDumpStream cuts after a dropped internal column option without shifting", async () => {
  const drop = "ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=22096736);\n\n";
  const script = block("a") + "\\connect a\n" + drop + block("b") + "\\connect b\n";
  for (const chunk of [1, 4, 9, script.length]) {
    const { parts } = await cut(script, chunk);
    assert.deepEqual(parts.map((p) => p.name), ["globals", "a", "b"]);
    // The statement is gone, the blank lines after it stay, and b's block starts b's section.
    assert.equal(parts[1]!.text, block("a") + "\\connect a\n\n\n");
    assert.equal(parts[2]!.text, block("b") + "\\connect b\n");
  }
});
