/**
 * DumpParser against generated scripts: random databases, tables and rows, with hostile text
 * (COPY lines, `\.` lines, fake data headers, `\connect`, quotes and dollar signs) inside function
 * bodies, comments, strings, quoted identifiers, BEGIN ATOMIC bodies and statistics calls. The
 * generator knows what each script holds; the parser must find exactly that, whatever the chunk
 * boundaries. Seeds are fixed, so a failure reproduces.
 */
import assert from "node:assert/strict";
import { CopyDigest, StreamHash } from "./copy_digest.ts";
import {
  type DumpCounts,
  DumpParser,
  type DumpValues,
  largeObjectHash,
  parseCopyStatement,
} from "./parser.ts";
import { qualifiedName, quoteIdent } from "../pg/ident.ts";

const encoder = new TextEncoder();

/** mulberry32: a small deterministic generator. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lines that must never be taken for structure when they sit inside text. */
const HOSTILE = [
  "COPY public.fake (a) FROM stdin;",
  "copy public.fake from stdin;",
  "\\.",
  "--",
  "-- Data for Name: fake; Type: TABLE DATA; Schema: public; Owner: postgres",
  "\\connect evil",
  "\\restrict abc",
  "\\unrestrict abc",
  "SELECT pg_catalog.lo_create('424242');",
  "'",
  "''",
  '"',
  "$$",
  "$body$",
  "$1",
  "/*",
  "*/",
  ";",
  "BEGIN",
  "END;",
  "E'\\'",
  "\\",
  "5085",
];

class Gen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** Text made of hostile lines and noise. */
  hostile(exclude: (line: string) => boolean = () => false): string {
    const lines: string[] = [];
    const n = 1 + this.int(6);
    for (let i = 0; i < n; i++) {
      const line = this.rnd() < 0.7 ? this.pick(HOSTILE) : this.noise();
      if (!exclude(line)) lines.push(line);
    }
    return lines.join("\n");
  }
  noise(): string {
    const alphabet = Array.from("aZ _;$'\"\\()é😀\t-/*.");
    let s = "";
    for (let i = this.int(12); i > 0; i--) s += this.pick(alphabet);
    return s;
  }
  name(): string {
    return this.pick([
      "t",
      "orders",
      "user",
      "select",
      "Mixed Case",
      'quo"te',
      "ünï",
      "a$b",
      "copy",
      "x" + this.int(1000),
    ]);
  }
  /** One field of COPY text: \N or escaped text. */
  field(): string {
    if (this.rnd() < 0.1) return "\\N";
    const raw =
      this.pick(["", "plain", "tab\there", "new\nline", "back\\slash", ".", "\\.", "é😀"]) +
      this.noise();
    return raw.replaceAll("\\", "\\\\").replaceAll("\t", "\\t").replaceAll("\n", "\\n")
      .replaceAll("\r", "\\r");
  }
}

/** A statement that holds hostile text but no data, in one of the forms psql must lex. */
function hostileStatement(g: Gen): string {
  switch (g.int(9)) {
    case 0: {
      // A dollar-quoted function body; the tag never occurs in the body.
      const tag = g.pick(["", "body", "x1", "_"]);
      const body = g.hostile((l) => l.includes(`$${tag}$`) || l.includes("$$") && tag === "");
      if (body.includes(`$${tag}$`)) return "SELECT 1;";
      return `CREATE FUNCTION public.f${
        g.int(99)
      }() RETURNS text\n    LANGUAGE plpgsql\n    AS $${tag}$\n${body}\n$${tag}$;`;
    }
    case 1:
      return `COMMENT ON TABLE public.t IS '${g.hostile().replaceAll("'", "''")}';`;
    case 2:
      return `SELECT E'${g.hostile().replaceAll("\\", "\\\\").replaceAll("'", "\\'")}';`;
    case 3:
      return `CREATE TABLE public.${
        quoteIdent("\n" + g.hostile().replaceAll("\0", ""))
      } (a integer);`;
    case 4:
      return `/* ${g.hostile((l) => l.includes("/*") || l.includes("*/"))} /* nested\n${
        g.hostile((l) => l.includes("/*") || l.includes("*/"))
      } */ */\nSELECT 1;`;
    case 5:
      return `-- ${g.hostile().replaceAll("\n", " ")}\nSELECT 2;`;
    case 6:
      // psql keeps ; inside BEGIN ATOMIC ... END (and CASE ... END) in one statement.
      return `CREATE FUNCTION public.g() RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT CASE WHEN true THEN 1 ELSE 2 END;\n COPY public.fake (a) FROM stdin;\n SELECT 'x;';\nEND;`;
    case 7:
      // A statistics call as pg_dump 18 writes with --statistics.
      return `SELECT * FROM pg_catalog.pg_restore_attribute_stats(\n\t'version', '180004'::integer,\n\t'schemaname', 'public',\n\t'relname', 'fake',\n\t'most_common_vals', '{${
        g.hostile().replaceAll("'", "''")
      }}'::text,\n\t'null_frac', '0'::real\n);`;
    default:
      return `CREATE RULE r AS ON INSERT TO public.t DO INSTEAD (SELECT 1; SELECT '${
        g.hostile().replaceAll("'", "''")
      }');`;
  }
}

interface Model {
  script: string;
  counts: DumpCounts;
  values: DumpValues;
}

/** A random pg_dumpall-like script and what it holds. */
function generate(seed: number): Model {
  const g = new Gen(random(seed));
  const parts: string[] = [
    "--\n-- PostgreSQL database cluster dump\n--\n",
    "\\restrict AbC123",
    "SET default_transaction_read_only = off;",
    "SET client_encoding = 'UTF8';",
    "SET standard_conforming_strings = on;",
    'CREATE ROLE "user";',
    "\\unrestrict AbC123",
  ];
  const counts: DumpCounts = {};
  const values: DumpValues = {};
  const dbNames = ["app", "Weird DB", "it's", "select"].slice(0, 1 + g.int(4));
  for (const db of dbNames) {
    const connect = /^[a-z]+$/.test(db)
      ? `\\connect ${db}`
      : `\\connect -reuse-previous=on "dbname='${db.replaceAll("'", "\\'")}'"`;
    parts.push(`\\restrict K${g.int(99)}`, connect, "SET client_encoding = 'UTF8';");
    const tables: Record<string, number> = {};
    const tableValues: Record<string, DumpValues[string]["tables"][string]> = {};
    let loCount = 0;
    let loS1 = 0;
    let loS2 = 0;
    let loCreated = 0;
    const rowText = new Map<string, string>();
    for (let t = g.int(5); t >= 0; t--) {
      for (let h = g.int(3); h > 0; h--) parts.push(hostileStatement(g));
      const schema = g.pick(["public", "MixedCase", "order"]);
      const table = g.name() + t;
      const key = qualifiedName(schema, table);
      const columns = Array.from({ length: 1 + g.int(4) }, (_, i) => `${g.name()}_${i}`);
      const rows: string[] = [];
      for (let r = g.int(30); r > 0; r--) {
        rows.push(columns.map(() => g.field()).join("\t"));
      }
      const prior = tableValues[key];
      const cols = prior ? prior.columns : columns;
      parts.push(
        `--\n-- Data for Name: ${table}; Type: TABLE DATA; Schema: ${schema}; Owner: postgres\n--\n`,
        `COPY ${key} (${cols.map(quoteIdent).join(", ")}) FROM stdin;\n${
          rows.map((r) => r + "\n").join("")
        }\\.\n`,
      );
      const allRows = (rowText.get(key) ?? "") + rows.map((r) => r + "\n").join("");
      rowText.set(key, allRows);
      const all = new CopyDigest();
      all.update(encoder.encode(allRows));
      tables[key] = (tables[key] ?? 0) + rows.length;
      tableValues[key] = { columns: cols, rows: tables[key]!, digest: all.hex() };
      if (g.rnd() < 0.3) {
        const oid = String(16384 + g.int(100000));
        const content = encoder.encode(g.noise() + g.hostile());
        const hex = Array.from(content, (b) => b.toString(16).padStart(2, "0")).join("");
        parts.push(
          `SELECT pg_catalog.lo_create('${oid}');`,
          `--\n-- Data for Name: ${oid}; Type: BLOBS; Schema: -; Owner: postgres\n--\n`,
          "BEGIN;",
          `SELECT pg_catalog.lo_open('${oid}', 131072);`,
          `SELECT pg_catalog.lowrite(0, '\\x${hex.slice(0, 10)}');`,
          `SELECT pg_catalog.lowrite(0, '\\x${hex.slice(10)}');`,
          "SELECT pg_catalog.lo_close(0);",
          "COMMIT;",
        );
        const s = new StreamHash();
        s.update(content);
        s.finish();
        const [a, b] = largeObjectHash(oid, s.h1, s.h2);
        loS1 = (loS1 + a) >>> 0;
        loS2 = (loS2 + b) >>> 0;
        loCount++;
        loCreated++;
      }
    }
    parts.push(hostileStatement(g), `\\unrestrict K${g.int(99)}`);
    counts[db] = { tables, largeObjects: loCreated };
    values[db] = {
      encoding: "UTF8",
      tables: tableValues,
      largeObjects: {
        count: loCount,
        digest: loS1.toString(16).padStart(8, "0") + loS2.toString(16).padStart(8, "0"),
      },
    };
  }
  parts.push("--\n-- PostgreSQL database cluster dump complete\n--\n");
  return { script: parts.join("\n") + "\n", counts, values };
}

function parse(bytes: Uint8Array, sizes: () => number): DumpParser {
  const parser = new DumpParser({ digests: true });
  for (let i = 0; i < bytes.length;) {
    const n = Math.max(1, sizes());
    parser.push(bytes.subarray(i, i + n));
    i += n;
  }
  parser.end();
  return parser;
}

function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

Deno.test("DumpParser finds exactly the generated tables, rows and digests among hostile text", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const model = generate(seed);
    const bytes = encoder.encode(model.script);
    const rnd = random(seed * 31);
    const max = [1, 2, 7, 64, 4096, bytes.length][seed % 6]!;
    const parser = parse(bytes, () => 1 + Math.floor(rnd() * max));
    const why = `seed ${seed}, chunks up to ${max} bytes`;
    assert.deepEqual(parser.counts(), model.counts, why);
    assert.deepEqual(plain(parser.values()), plain(model.values), why);
    assert.equal(parser.unheadedBlocks, 0, why);
    assert.equal(parser.bytes, bytes.length, why);
  }
});

Deno.test("DumpParser ignores the function body that broke the old counter", () => {
  const script = [
    "\\connect app",
    "CREATE FUNCTION public.f() RETURNS text",
    "    LANGUAGE plpgsql",
    "    AS $$",
    "BEGIN",
    "  RETURN '",
    "COPY public.fake (a) FROM stdin;",
    ...Array.from({ length: 5085 }, (_, i) => String(i)),
    "\\.",
    "';",
    "END $$;",
    "--",
    "-- Data for Name: fake; Type: TABLE DATA; Schema: public; Owner: postgres",
    "--",
    "",
    "COPY public.fake (a) FROM stdin;",
    "1",
    "\\.",
    "",
  ].join("\n");
  const parser = parse(encoder.encode(script), () => 1000);
  assert.deepEqual(parser.counts(), { app: { tables: { "public.fake": 1 }, largeObjects: 0 } });
});

Deno.test("DumpParser counts a block without a TABLE DATA header, as psql loads it", () => {
  const parser = parse(encoder.encode("COPY public.t (a) FROM stdin;\n1\n\\.\n"), () => 5);
  assert.deepEqual(parser.counts(), { "": { tables: { "public.t": 1 }, largeObjects: 0 } });
  assert.equal(parser.unheadedBlocks, 1);
});

Deno.test("DumpParser lexes E'' strings with backslash escapes, and '' strings without", () => {
  const script = [
    "\\connect app",
    "SELECT E'it\\'s \\\\';", // E'it\'s \\' is one string
    "SELECT 'a\\';", // standard string: the backslash is a character
    "COPY public.t (a) FROM stdin;",
    "x",
    "\\.",
    "SET standard_conforming_strings = off;",
    "SELECT 'b\\'c';", // now backslash escapes the quote
    "COPY public.u (a) FROM stdin;",
    "y",
    "\\.",
    "",
  ].join("\n");
  const parser = parse(encoder.encode(script), () => 3);
  assert.deepEqual(parser.counts(), {
    app: { tables: { "public.t": 1, "public.u": 1 }, largeObjects: 0 },
  });
});

Deno.test("DumpParser records client_encoding per database and treats COPY options as not comparable", () => {
  const script = [
    "\\connect app",
    "SET client_encoding = 'LATIN1';",
    "COPY public.t (a) FROM stdin WITH (FORMAT text);",
    "x",
    "\\.",
    "\\connect other",
    "COPY public.u FROM stdin;",
    "\\.",
    "",
  ].join("\n");
  const parser = parse(encoder.encode(script), () => 100);
  const values = parser.values();
  assert.equal(values.app?.encoding, "LATIN1");
  assert.match(values.app?.tables["public.t"]?.notComparable ?? "", /has options/);
  assert.equal(
    values.other?.tables["public.u"]?.notComparable,
    "its COPY statement lists no columns",
  );
});

Deno.test("parseCopyStatement() reads names, quoted columns and options", () => {
  assert.deepEqual(parseCopyStatement('COPY public."user" (id, "Name", "a,b") FROM stdin;'), {
    schema: "public",
    table: "user",
    columns: ["id", "Name", "a,b"],
    options: "",
  });
  assert.deepEqual(parseCopyStatement("COPY t FROM STDIN (FORMAT csv);"), {
    schema: undefined,
    table: "t",
    columns: undefined,
    options: "(FORMAT csv)",
  });
  assert.equal(parseCopyStatement("COPY public.t (a) TO stdout;"), undefined);
  assert.equal(parseCopyStatement("COPY public.t (a FROM stdin;"), undefined);
  assert.equal(parseCopyStatement("COPY a.b.c FROM stdin;"), undefined);
});

Deno.test("DumpParser at the end of a script inside COPY data counts a last line without newline, and no more", () => {
  for (const digests of [false, true]) {
    for (
      const [script, rows] of [["COPY public.t (a) FROM stdin;\n1\n2", 2], [
        "COPY public.t (a) FROM stdin;\n1\n2\n",
        2,
      ]] as const
    ) {
      const parser = new DumpParser({ digests });
      parser.push(encoder.encode(script));
      parser.end();
      assert.equal(parser.counts()[""]?.tables["public.t"], rows, `${JSON.stringify(script)}`);
      if (digests) {
        const d = new CopyDigest();
        d.update(encoder.encode("1\n2\n"));
        assert.equal(parser.values()[""]?.tables["public.t"]?.digest, d.hex());
      }
    }
  }
});
