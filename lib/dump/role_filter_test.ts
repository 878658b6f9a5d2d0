import assert from "node:assert/strict";
import { RoleFilterStream } from "./role_filter.ts";

const SCRIPT = [
  "--",
  "-- Roles",
  "--",
  "",
  "CREATE ROLE app;",
  "ALTER ROLE app WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:app';",
  "CREATE ROLE postgres;",
  "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION " +
  "BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:src$secret';",
  "CREATE ROLE postgres_ro;",
  "ALTER ROLE postgres_ro WITH LOGIN;",
  "COMMENT ON ROLE postgres IS 'kept';",
  "GRANT app TO postgres;",
  "\\connect template1",
  "CREATE ROLE postgres;",
  "ALTER ROLE postgres WITH SUPERUSER;",
  "",
].join("\n");

const KEPT = [
  "--",
  "-- Roles",
  "--",
  "",
  "CREATE ROLE app;",
  "ALTER ROLE app WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:app';",
  "CREATE ROLE postgres_ro;",
  "ALTER ROLE postgres_ro WITH LOGIN;",
  "COMMENT ON ROLE postgres IS 'kept';",
  "GRANT app TO postgres;",
  "\\connect template1",
  "CREATE ROLE postgres;",
  "ALTER ROLE postgres WITH SUPERUSER;",
  "",
].join("\n");

const encoder = new TextEncoder();

async function filter(role: string, chunks: Uint8Array[]) {
  const stream = new RoleFilterStream(role);
  let text = "";
  const streaming = new TextDecoder();
  await ReadableStream.from(chunks).pipeThrough(stream).pipeTo(
    new WritableStream({
      write: (chunk) => void (text += streaming.decode(chunk, { stream: true })),
    }),
  );
  return { text: text + streaming.decode(), dropped: stream.dropped };
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
  return chunks;
}

Deno.test("RoleFilterStream drops exactly CREATE ROLE and ALTER ROLE ... WITH of the scratch role", async () => {
  const { text, dropped } = await filter("postgres", [encoder.encode(SCRIPT)]);
  assert.equal(text, KEPT);
  assert.deepEqual(dropped, [
    "CREATE ROLE postgres;",
    "ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION " +
    "BYPASSRLS PASSWORD '<redacted>';",
  ]);
});

Deno.test("RoleFilterStream works across chunk boundaries", async () => {
  const bytes = encoder.encode(SCRIPT);
  for (const size of [1, 2, 3, 7, 64, bytes.length]) {
    const { text, dropped } = await filter("postgres", chunked(bytes, size));
    assert.equal(text, KEPT, `chunks of ${size} bytes`);
    assert.equal(dropped.length, 2, `chunks of ${size} bytes`);
  }
});

Deno.test("RoleFilterStream keeps everything after the first \\connect untouched", async () => {
  const after = "CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\nno newline at end";
  const chunks = [
    encoder.encode("\\connect app\n" + after.slice(0, 10)),
    encoder.encode(after.slice(10)),
  ];
  const { text, dropped } = await filter("postgres", chunks);
  assert.equal(text, "\\connect app\n" + after);
  assert.deepEqual(dropped, []);
});

Deno.test("RoleFilterStream passes a script without the role unchanged", async () => {
  const script = "CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\nlast line without newline";
  const { text, dropped } = await filter("postgres", chunked(encoder.encode(script), 5));
  assert.equal(text, script);
  assert.deepEqual(dropped, []);
});

Deno.test("RoleFilterStream matches a role that needs quoting", async () => {
  const script = 'CREATE ROLE "Scratch Admin";\nALTER ROLE "Scratch Admin" WITH LOGIN;\n' +
    "CREATE ROLE scratch_admin;\n";
  const { text, dropped } = await filter("Scratch Admin", [encoder.encode(script)]);
  assert.equal(text, "CREATE ROLE scratch_admin;\n");
  assert.deepEqual(dropped, [
    'CREATE ROLE "Scratch Admin";',
    'ALTER ROLE "Scratch Admin" WITH LOGIN;',
  ]);
});

Deno.test("RoleFilterStream.dropped never shows the password", async () => {
  const script = "ALTER ROLE postgres WITH LOGIN PASSWORD 'md5deadbeefcafe';\n";
  const { text, dropped } = await filter("postgres", [encoder.encode(script)]);
  assert.equal(text, "");
  assert.deepEqual(dropped, ["ALTER ROLE postgres WITH LOGIN PASSWORD '<redacted>';"]);
  assert.ok(!dropped.join("\n").includes("deadbeef"));
});

Deno.test("RoleFilterStream keeps a scratch superuser named user, which pg_dumpall quotes as a keyword", async () => {
  const script = 'CREATE ROLE "user";\nALTER ROLE "user" WITH SUPERUSER LOGIN PASSWORD \'x\';\n' +
    'CREATE ROLE "User";\nCREATE ROLE username;\nALTER ROLE "user" SET search_path TO app;\n';
  const { text, dropped } = await filter("user", chunked(encoder.encode(script), 3));
  assert.equal(
    text,
    'CREATE ROLE "User";\nCREATE ROLE username;\nALTER ROLE "user" SET search_path TO app;\n',
  );
  assert.deepEqual(dropped, [
    'CREATE ROLE "user";',
    "ALTER ROLE \"user\" WITH SUPERUSER LOGIN PASSWORD '<redacted>';",
  ]);
});
