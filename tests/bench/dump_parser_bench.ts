/**
 * `deno task bench:parser`: the dump parser's throughput, in memory, no servers. It builds a
 * pg_dumpall-like script of about `--mib` MiB (default 512): COPY blocks of rows shaped like the
 * whole-pipeline benchmark's (ints, timestamps, amounts, words, jsonb, text with escapes), with
 * DDL between them that holds function bodies, comments and statistics calls, cut in 64 KiB
 * chunks as pg_dumpall's reads arrive. Then, three passes each, fastest counts:
 *
 * - DumpParser counting only
 * - DumpParser with value digests (what the drill runs)
 * - CopyDigest alone over the same bytes (the hashing's own cost)
 * - DumpStatsStream, as a TransformStream, passing chunks on unchanged, and with
 *   `dropInternalOptions` (what the backup runs: the DDL holds PostgreSQL 15.20's `pg_attver`
 *   column options for it to drop)
 *
 * Figures are printed; nothing is asserted.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CopyDigest } from "../../lib/dump/copy_digest.ts";
import { DumpParser } from "../../lib/dump/parser.ts";
import { DumpStatsStream, SectionedDumpStream } from "../../lib/dump/stream.ts";

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const WORDS = ["alpha", "amber", "basil", "cedar", "delta", "ember", "frost", "garnet", "iris"];

function script(targetMiB: number): Uint8Array[] {
  let seed = 42;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const word = () => WORDS[Math.floor(rnd() * WORDS.length)]!;
  const rows: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    rows.push(
      [
        i,
        Math.floor(rnd() * 1e6),
        `2024-0${1 + Math.floor(rnd() * 9)}-1${Math.floor(rnd() * 9)} 10:11:12.${
          Math.floor(rnd() * 1e6)
        }+01`,
        (rnd() * 10_000).toFixed(2),
        `${word()} ${word()}\\t${word()}`,
        rnd() < 0.1 ? "\\N" : `{"v": ${i % 3}, "path": "/${word()}/${word()}", "ms": ${i % 2000}}`,
      ].join("\t"),
    );
  }
  const ddl = [
    "--\n-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres\n--\n",
    "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\n  RETURN 'COPY public.fake (a) FROM stdin;\n\\.\n';\nEND $$;\n",
    "COMMENT ON TABLE public.t IS 'a comment with ''quotes'' and -- dashes';\n",
    "CREATE TABLE public.t (\n    id integer,\n    note text\n);\n" +
    "ALTER TABLE ONLY public.t ALTER COLUMN id SET (pg_attver=36937808);\n" +
    "ALTER TABLE ONLY public.t ALTER COLUMN note SET (n_distinct=-0.5, pg_attver=36937808);\n",
    "SELECT * FROM pg_catalog.pg_restore_attribute_stats(\n\t'version', '180004'::integer,\n\t'most_common_vals', '{alpha,amber,basil}'::text\n);\n",
  ].join("\n");
  const block = new TextEncoder().encode(
    `${ddl}\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n` +
      `COPY public.t (id, n, at, amount, note, doc) FROM stdin;\n${rows.join("\n")}\n\\.\n\n`,
  );
  const reps = Math.max(1, Math.round((targetMiB * MiB) / block.length));
  const all = new Uint8Array(block.length * reps);
  for (let r = 0; r < reps; r++) all.set(block, r * block.length);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return chunks;
}

async function fastest(
  label: string,
  chunks: Uint8Array[],
  run: () => number | Promise<number>,
): Promise<void> {
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  let best = Infinity;
  let rows = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t = performance.now();
    rows = await run();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  console.log(
    `${label.padEnd(40)} ${(bytes / MiB / best).toFixed(0).padStart(6)} MiB/s  ` +
      `${Math.round(rows / best).toLocaleString("en").padStart(12)} rows/s  (${
        best.toFixed(3)
      } s for ${(bytes / MiB).toFixed(0)} MiB, ${rows} rows)`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { mib: { type: "string" } } });
  const chunks = script(Number(values.mib ?? 512));
  const parse = (digests: boolean) => () => {
    const p = new DumpParser({ digests });
    for (const c of chunks) p.push(c);
    p.end();
    return p.rows;
  };
  const stream = (dropInternalOptions: boolean) => async () => {
    const s = new DumpStatsStream({ dropInternalOptions });
    await ReadableStream.from(chunks).pipeThrough(s).pipeTo(new WritableStream());
    return s.rows;
  };
  await fastest("DumpParser, counts only", chunks, parse(false));
  await fastest("DumpParser, value digests (drill)", chunks, parse(true));
  await fastest("CopyDigest alone", chunks, () => {
    const d = new CopyDigest();
    for (const c of chunks) d.update(c);
    return d.rows;
  });
  await fastest("DumpStatsStream, pass-through", chunks, stream(false));
  await fastest("DumpStatsStream, drop options", chunks, stream(true));
  await fastest("SectionedDumpStream, drop options (backup)", chunks, async () => {
    const s = new SectionedDumpStream({ dropInternalOptions: true });
    await ReadableStream.from(chunks).pipeThrough(s).pipeTo(new WritableStream());
    return s.rows;
  });
}
