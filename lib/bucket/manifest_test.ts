import assert from "node:assert/strict";
import type { DumpCounts } from "../dump/stream.ts";
import {
  compareCounts,
  type Manifest,
  MANIFEST_FORMAT,
  parseManifest,
  totals,
} from "./manifest.ts";

const MANIFEST: Manifest = {
  format: MANIFEST_FORMAT,
  tool: { name: "backup-toolbox", version: "0.1.0" },
  server_version: "18.1",
  pg_dumpall_version: "18.1",
  started_at: "2026-11-25T05:00:00Z",
  finished_at: "2026-11-25T05:29:51Z",
  key: "postgresql-18/2026/11/25/full.sql.zst",
  compressed_bytes: 1234,
  dump_bytes: 98765,
  sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  databases: {
    app: { tables: { "public.t": 3, '"S"."T"': 0 }, largeObjects: 2 },
    postgres: { tables: {}, largeObjects: 0 },
  },
};

function without(field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...structuredClone(MANIFEST) };
  delete copy[field];
  return copy;
}

Deno.test("parseManifest() reads a manifest it wrote", () => {
  assert.deepEqual(parseManifest(JSON.stringify(MANIFEST)), MANIFEST);
});

Deno.test("parseManifest() names each missing field in one TypeError", () => {
  for (
    const field of [
      "server_version",
      "started_at",
      "finished_at",
      "key",
      "sha256",
      "compressed_bytes",
      "dump_bytes",
      "databases",
    ]
  ) {
    assert.throws(() => parseManifest(JSON.stringify(without(field))), {
      name: "TypeError",
      message: `Cannot read manifest: invalid ${field}`,
    });
  }
  assert.throws(() => parseManifest("{}"), {
    name: "TypeError",
    message: "Cannot read manifest: invalid format undefined, server_version, started_at, " +
      "finished_at, key, sha256, compressed_bytes, dump_bytes, databases",
  });
});

Deno.test("parseManifest() reads an encrypted backup's method and recipients", () => {
  const encrypted: Manifest = {
    ...MANIFEST,
    key: "postgresql-18/2026/11/25/full.sql.zst.age",
    encryption: { method: "age", recipients: ["age1" + "q".repeat(58)] },
  };
  assert.deepEqual(parseManifest(JSON.stringify(encrypted)), encrypted);
  for (
    const encryption of [
      null,
      "age",
      { method: "gpg", recipients: ["x"] },
      { method: "age", recipients: [] },
      { method: "age", recipients: [1] },
    ]
  ) {
    assert.throws(() => parseManifest(JSON.stringify({ ...MANIFEST, encryption })), {
      name: "TypeError",
      message: "Cannot read manifest: invalid encryption",
    });
  }
});

Deno.test("parseManifest() rejects another format and wrong types", () => {
  assert.throws(() => parseManifest(JSON.stringify({ ...MANIFEST, format: 2 })), {
    name: "TypeError",
    message: "Cannot read manifest: invalid format 2",
  });
  assert.throws(() => parseManifest(JSON.stringify({ ...MANIFEST, dump_bytes: "98765" })), {
    name: "TypeError",
    message: "Cannot read manifest: invalid dump_bytes",
  });
});

Deno.test("parseManifest() names a database whose counts are malformed", () => {
  const bad = (db: unknown) =>
    JSON.stringify({ ...MANIFEST, databases: { ...MANIFEST.databases, app: db } });
  for (
    const db of [
      null,
      "x",
      { tables: {} },
      { largeObjects: 0 },
      { tables: { "public.t": 1.5 }, largeObjects: 0 },
      { tables: { "public.t": "3" }, largeObjects: 0 },
      { tables: null, largeObjects: 0 },
    ]
  ) {
    assert.throws(() => parseManifest(bad(db)), {
      name: "TypeError",
      message: "Cannot read manifest: invalid databases.app",
    }, JSON.stringify(db));
  }
});

Deno.test("parseManifest() rejects JSON that is not an object", () => {
  for (const text of ["null", "3", '"manifest"']) {
    assert.throws(() => parseManifest(text), {
      name: "TypeError",
      message: "Cannot read manifest: not an object",
    });
  }
  assert.throws(() => parseManifest("{not json"), SyntaxError);
});

Deno.test("totals() sums databases, tables, rows and large objects", () => {
  assert.deepEqual(totals(MANIFEST.databases), {
    databases: 2,
    tables: 2,
    rows: 3,
    large_objects: 2,
  });
  assert.deepEqual(totals({}), { databases: 0, tables: 0, rows: 0, large_objects: 0 });
});

Deno.test("compareCounts() returns nothing when the restore matches", () => {
  const restored: DumpCounts = {
    ...structuredClone(MANIFEST.databases),
    scratch_own: { tables: { "public.x": 1 }, largeObjects: 0 },
  };
  assert.deepEqual(compareCounts(MANIFEST.databases, restored), []);
});

Deno.test("compareCounts() names each difference", () => {
  const expected: DumpCounts = {
    app: { tables: { "public.t": 3, "public.gone": 1, '"S"."T"': 0 }, largeObjects: 2 },
    billing: { tables: { "public.invoice": 10 }, largeObjects: 0 },
  };
  const restored: DumpCounts = {
    app: { tables: { "public.t": 2, '"S"."T"': 0, "public.extra": 0 }, largeObjects: 1 },
  };
  assert.deepEqual(compareCounts(expected, restored), [
    "app: table public.t has 2 rows, the backup has 3",
    "app: table public.gone is missing",
    "app: table public.extra is not in the backup",
    "app: 1 large objects, the backup has 2",
    "database billing is missing",
  ]);
});

Deno.test("parseManifest() reads dump_settings, and a manifest without them (older backups)", () => {
  const withSettings = {
    ...MANIFEST,
    dump_settings: { app: { TimeZone: "Europe/Berlin", bytea_output: "hex" } },
  };
  assert.deepEqual(parseManifest(JSON.stringify(withSettings)), withSettings);
  assert.equal(parseManifest(JSON.stringify(MANIFEST)).dump_settings, undefined);
  assert.throws(
    () => parseManifest(JSON.stringify({ ...MANIFEST, dump_settings: { app: { TimeZone: 1 } } })),
    { name: "TypeError", message: "Cannot read manifest: invalid dump_settings" },
  );
});

Deno.test("parseManifest() re-quotes table keys an older version wrote without knowing keywords", () => {
  const old = {
    ...MANIFEST,
    databases: { app: { tables: { "public.user": 2, "s$1.t": 1, '"S"."T"': 0 }, largeObjects: 0 } },
  };
  assert.deepEqual(parseManifest(JSON.stringify(old)).databases, {
    app: { tables: { 'public."user"': 2, '"s$1".t': 1, '"S"."T"': 0 }, largeObjects: 0 },
  });
});

Deno.test("parseManifest() reads retention_class, absent in older manifests, and refuses an unknown class", () => {
  const weekly = { ...MANIFEST, retention_class: "weekly" as const };
  assert.equal(parseManifest(JSON.stringify(weekly)).retention_class, "weekly");
  assert.equal(parseManifest(JSON.stringify(MANIFEST)).retention_class, undefined);
  assert.throws(
    () => parseManifest(JSON.stringify({ ...MANIFEST, retention_class: "yearly" })),
    new TypeError("Cannot read manifest: invalid retention_class"),
  );
});

Deno.test("parseManifest() reads skipped_databases and refuses a malformed entry", () => {
  const skipped = [{ name: "archive", reason: "does not allow connections" }];
  assert.deepEqual(
    parseManifest(JSON.stringify({ ...MANIFEST, skipped_databases: skipped })).skipped_databases,
    skipped,
  );
  assert.throws(
    () => parseManifest(JSON.stringify({ ...MANIFEST, skipped_databases: ["archive"] })),
    new TypeError("Cannot read manifest: invalid skipped_databases"),
  );
});
