import assert from "node:assert/strict";
import { RecoveryFilter } from "./recover_filter.ts";
import { connectLine, databaseNames, identifiers } from "./recover_statements.ts";

/** A pg_dumpall 18 script in the shape it writes (trimmed), with two databases. */
const DUMP = `--
-- PostgreSQL database cluster dump
--

\\restrict G1

SET default_transaction_read_only = off;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

CREATE ROLE app_user;
ALTER ROLE app_user WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:hash';
CREATE ROLE "Kept Role";
ALTER ROLE "Kept Role" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:other';
CREATE ROLE unused;
ALTER ROLE app_user SET statement_timeout TO '5s';
ALTER ROLE "Kept Role" SET work_mem TO '1MB';
GRANT "Kept Role" TO app_user WITH INHERIT TRUE GRANTED BY postgres;
GRANT app_user TO "Kept Role" WITH INHERIT TRUE GRANTED BY postgres;
CREATE TABLESPACE fast OWNER app_user LOCATION '/x';
GRANT SET ON PARAMETER work_mem TO app_user;

\\unrestrict G1

--
-- Database "my db" dump
--

\\restrict D1

SET client_encoding = 'UTF8';
CREATE DATABASE "my db" WITH TEMPLATE = template0 ENCODING = 'UTF8';
ALTER DATABASE "my db" OWNER TO app_user;

\\unrestrict D1
\\encoding SQL_ASCII
\\connect -reuse-previous=on "dbname='my db'"
\\restrict D1

COMMENT ON DATABASE "my db" IS 'the ''quoted'' db; CREATE DATABASE x;';
SECURITY LABEL FOR selinux ON DATABASE "my db" IS 'label';
ALTER DATABASE "my db" SET work_mem TO '8MB';
ALTER ROLE app_user IN DATABASE "my db" SET search_path TO 'a, b';
CREATE TABLE public.t (x integer);
ALTER TABLE public.t OWNER TO "Kept Role";
COPY public.t (x) FROM stdin;
1
2
\\.
CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$SELECT 'unused'$$;
REVOKE CONNECT,TEMPORARY ON DATABASE "my db" FROM PUBLIC;
GRANT CREATE,CONNECT ON DATABASE "my db" TO app_user;

\\unrestrict D1

--
-- Database "other" dump
--

\\restrict D2

CREATE DATABASE other WITH TEMPLATE = template0;
ALTER DATABASE other OWNER TO unused;

\\unrestrict D2
\\connect other
\\restrict D2

CREATE TABLE public.secret (x text);
COPY public.secret (x) FROM stdin;
never sent
\\.

\\unrestrict D2

--
-- Database "postgres" dump
--

\\connect postgres

\\restrict P1
CREATE TABLE public.p (x int);
\\unrestrict P1
`;

function run(
  databases: Map<string, string>,
  createRoles?: Set<string>,
  chunk = 5,
): { out: string; filter: RecoveryFilter } {
  const filter = new RecoveryFilter({
    databases,
    ...(createRoles ? { createRoles, targetRoles: new Set(["postgres", "Kept Role"]) } : {}),
  });
  const bytes = new TextEncoder().encode(DUMP);
  const decoder = new TextDecoder();
  let out = "";
  const emit = (b: Uint8Array) => out += decoder.decode(b, { stream: true });
  for (let i = 0; i < bytes.length; i += chunk) filter.push(bytes.subarray(i, i + chunk), emit);
  filter.end(emit);
  return { out: out + decoder.decode(), filter };
}

/** The script without comments and blank lines. */
function statements(out: string): string[] {
  return out.split("\n").filter((l) => l !== "" && !l.startsWith("--"));
}

Deno.test("RecoveryFilter first pass learns databases and the roles the chosen ones name", () => {
  const { out, filter } = run(new Map([["my db", "my db"]]));
  assert.equal(out, "");
  assert.deepEqual(filter.databases, ["my db", "other", "postgres"]);
  assert.deepEqual([...filter.backupRoles], ["app_user", "Kept Role", "unused"]);
  assert.deepEqual([...filter.neededRoles].sort(), ["Kept Role", "app_user"]);
});

Deno.test("RecoveryFilter renames every statement that names the chosen database", () => {
  const { out, filter } = run(new Map([["my db", 'New "DB"']]), new Set(["app_user"]), 7);
  assert.deepEqual(statements(out), [
    "\\restrict G1",
    "SET default_transaction_read_only = off;",
    "SET client_encoding = 'UTF8';",
    "SET standard_conforming_strings = on;",
    "CREATE ROLE app_user;",
    "ALTER ROLE app_user WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:hash';",
    "ALTER ROLE app_user SET statement_timeout TO '5s';",
    'GRANT "Kept Role" TO app_user WITH INHERIT TRUE GRANTED BY postgres;',
    "\\unrestrict G1",
    "\\restrict D1",
    "SET client_encoding = 'UTF8';",
    `CREATE DATABASE "New ""DB""" WITH TEMPLATE = template0 ENCODING = 'UTF8';`,
    'ALTER DATABASE "New ""DB""" OWNER TO app_user;',
    "\\unrestrict D1",
    "\\encoding SQL_ASCII",
    `\\connect -reuse-previous=on "dbname='New ""DB""'"`,
    "\\restrict D1",
    `COMMENT ON DATABASE "New ""DB""" IS 'the ''quoted'' db; CREATE DATABASE x;';`,
    `SECURITY LABEL FOR selinux ON DATABASE "New ""DB""" IS 'label';`,
    `ALTER DATABASE "New ""DB""" SET work_mem TO '8MB';`,
    `ALTER ROLE app_user IN DATABASE "New ""DB""" SET search_path TO 'a, b';`,
    "CREATE TABLE public.t (x integer);",
    'ALTER TABLE public.t OWNER TO "Kept Role";',
    "COPY public.t (x) FROM stdin;",
    "1",
    "2",
    "\\.",
    "CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$SELECT 'unused'$$;",
    `REVOKE CONNECT,TEMPORARY ON DATABASE "New ""DB""" FROM PUBLIC;`,
    `GRANT CREATE,CONNECT ON DATABASE "New ""DB""" TO app_user;`,
    "\\unrestrict D1",
  ]);
  assert.deepEqual(filter.createdRoles, ["app_user"]);
  // The existing role gains no membership; cluster-wide statements never pass.
  assert.deepEqual(filter.skippedMemberships, ["app_user → Kept Role"]);
  assert.deepEqual(filter.skipped, { "CREATE TABLESPACE": 1, "GRANT SET ON PARAMETER": 1 });
  assert.equal(filter.sentBytes, new TextEncoder().encode(out).length);
  // Value digests of the chosen database only, by its name in the dump (the check renames).
  assert.deepEqual(Object.keys(filter.values()), ["my db"]);
  assert.equal(filter.values()["my db"]?.tables["public.t"]?.rows, 2);
  assert.equal(filter.counts().other?.tables["public.secret"], 1);
});

Deno.test("RecoveryFilter creates the database postgres's copy needs and drops the rest", () => {
  const { out } = run(new Map([["postgres", "pg_copy"]]), new Set());
  assert.deepEqual(statements(out).slice(-6), [
    "\\unrestrict G1",
    "CREATE DATABASE pg_copy WITH TEMPLATE = template0;",
    "\\connect pg_copy",
    "\\restrict P1",
    "CREATE TABLE public.p (x int);",
    "\\unrestrict P1",
  ]);
  assert.ok(!out.includes("never sent"));
});

Deno.test("RecoveryFilter stops at a chosen section that names another database", () => {
  const hostile = new RecoveryFilter({ databases: new Map([["a", "a"]]) });
  const text = "\\connect a\nGRANT CONNECT ON DATABASE a, b TO x;\n";
  assert.throws(
    () => hostile.push(new TextEncoder().encode(text), () => {}),
    { message: /names database b in: GRANT CONNECT ON DATABASE/ },
  );
  const wide = new RecoveryFilter({ databases: new Map([["a", "a"]]) });
  assert.throws(
    () =>
      wide.push(new TextEncoder().encode("\\connect a\nALTER ROLE x PASSWORD 'p';\n"), () => {}),
    { message: /changes something cluster-wide: ALTER ROLE$/ },
  );
});

Deno.test("connectLine() writes pg_dump's two forms", () => {
  assert.equal(connectLine("App_1.x"), "\\connect App_1.x\n");
  assert.equal(
    connectLine(`it's "x"\\`),
    `\\encoding SQL_ASCII\n\\connect -reuse-previous=on "dbname='it\\'s ""x""\\\\'"\n`,
  );
});

Deno.test("databaseNames() finds the names of database statements only", () => {
  assert.deepEqual(databaseNames('ALTER DATABASE "a b" OWNER TO x;')?.names.map((n) => n.name), [
    "a b",
  ]);
  assert.deepEqual(databaseNames("GRANT ALL ON DATABASE a,b TO x;")?.names.map((n) => n.name), [
    "a",
    "b",
  ]);
  assert.equal(databaseNames("GRANT SELECT ON TABLE database TO x;"), undefined);
});

Deno.test("identifiers() skips strings, bodies, comments and quoted keywords", () => {
  assert.deepEqual(
    [...identifiers(`ALTER TABLE t OWNER TO "Kept" -- app\n; SELECT 'x' $b$y$b$ E'\\'z'`)],
    ["alter", "t", "owner", "Kept"],
  );
});
