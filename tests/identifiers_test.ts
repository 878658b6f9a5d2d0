/**
 * Identifier quoting against a real PostgreSQL 18 server: the keyword list is the server's, and
 * quoteIdent() prints every name exactly as quote_ident() does.
 */
import assert from "node:assert/strict";
import { quoteIdent } from "../lib/pg/ident.ts";
import { QUOTED_KEYWORDS } from "../lib/pg/keywords.ts";
import { startPostgres } from "./harness/postgres.ts";

Deno.test("quoteIdent() quotes exactly what quote_ident() of PostgreSQL 18 quotes", async () => {
  await using pg = await startPostgres({ version: 18, name: "ident" });
  const serverKeywords = (await pg.psql(
    "SELECT word FROM pg_get_keywords() WHERE catcode <> 'U' ORDER BY word",
  )).split("\n");
  assert.deepEqual([...QUOTED_KEYWORDS].sort(), serverKeywords);
  const all = (await pg.psql("SELECT word FROM pg_get_keywords() ORDER BY word")).split("\n");
  const names = [
    ...all,
    "orders",
    "Orders",
    "_x1",
    "1x",
    "a$b",
    "my table",
    'q"q',
    "ünïcode",
    "x-y",
    "UPPER",
  ];
  const sql = `SELECT json_agg(quote_ident(n) ORDER BY o) FROM json_array_elements_text('${
    JSON.stringify(names).replaceAll("'", "''")
  }') WITH ORDINALITY AS t(n, o)`;
  const quoted = JSON.parse(await pg.psql(sql)) as string[];
  assert.deepEqual(names.map(quoteIdent), quoted);
});
