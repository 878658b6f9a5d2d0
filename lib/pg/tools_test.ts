import assert from "node:assert/strict";
import {
  dumpallSpec,
  libpqEnv,
  parseVersion,
  type PgConnection,
  psqlRestoreSpec,
  serverVersionText,
  zstdCompressSpec,
  zstdDecompressSpec,
} from "./tools.ts";

const CONN: PgConnection = {
  host: "postgresql-18-hl",
  port: 5432,
  user: "postgres",
  password: "pg-secret-canary",
};
const BASE = { PATH: "/usr/bin", HOME: "/home/toolbox" };

Deno.test("parseVersion() reads pg_dumpall, psql and zstd version lines", () => {
  assert.deepEqual(parseVersion("pg_dumpall (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"), {
    text: "pg_dumpall (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
    version: "15.18",
    major: 15,
  });
  assert.deepEqual(parseVersion("psql (PostgreSQL) 18.1"), {
    text: "psql (PostgreSQL) 18.1",
    version: "18.1",
    major: 18,
  });
  assert.deepEqual(parseVersion("*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***\n"), {
    text: "*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***",
    version: "1.5.4",
    major: 1,
  });
});

Deno.test("parseVersion() reads only the first line and returns undefined without a version", () => {
  assert.equal(parseVersion("psql (PostgreSQL) 9.6.24\nextra 18.1")?.version, "9.6.24");
  assert.equal(parseVersion("tool 2.3")?.version, "2.3");
  assert.equal(parseVersion(""), undefined);
  assert.equal(parseVersion("command not found"), undefined);
  assert.equal(parseVersion("\npsql (PostgreSQL) 18.1"), undefined);
});

Deno.test("serverVersionText() turns server_version_num into major.minor", () => {
  assert.equal(serverVersionText(180004), "18.4");
  assert.equal(serverVersionText(150018), "15.18");
  assert.equal(serverVersionText(100000), "10.0");
  assert.equal(serverVersionText(90624), "90624");
});

Deno.test("libpqEnv() carries the connection and the password in env", () => {
  assert.deepEqual(libpqEnv(CONN, BASE), {
    ...BASE,
    PGHOST: "postgresql-18-hl",
    PGPORT: "5432",
    PGUSER: "postgres",
    PGCONNECT_TIMEOUT: "15",
    PGAPPNAME: "backup-toolbox",
    PGPASSWORD: "pg-secret-canary",
  });
  assert.ok(!("PGPASSWORD" in libpqEnv({ ...CONN, password: undefined }, BASE)));
});

Deno.test("pg specs never put a password in args, only env PGPASSWORD", () => {
  for (const spec of [dumpallSpec(CONN, BASE), psqlRestoreSpec(CONN, BASE)]) {
    assert.ok(!spec.args.join(" ").includes("pg-secret-canary"), spec.command);
    assert.ok(!spec.args.some((a) => /password=|^-W$|^--password$/.test(a)), spec.command);
    assert.equal(spec.env.PGPASSWORD, "pg-secret-canary");
  }
  assert.deepEqual(dumpallSpec(CONN, BASE).args, [
    "-o",
    "pipefail",
    "-c",
    "pg_dumpall --no-password | dd bs=64k iflag=fullblock status=none",
  ]);
  assert.deepEqual(psqlRestoreSpec(CONN, BASE).args, [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    "postgres",
    "-f",
    "-",
  ]);
});

Deno.test("zstd specs pass level and threads and get no libpq env", () => {
  const compress = zstdCompressSpec(19, 0, BASE);
  assert.equal(compress.command, "zstd");
  assert.deepEqual(compress.args, ["-q", "-c", "-19", "-T0"]);
  assert.deepEqual(compress.env, BASE);
  assert.deepEqual(zstdDecompressSpec(BASE).args, ["-q", "-d", "-c"]);
  assert.deepEqual(zstdDecompressSpec(BASE).env, BASE);
});
