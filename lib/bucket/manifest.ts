/**
 * `manifest.json`: written last beside each backup, it marks the backup complete and records
 * what the dump holds (rows per table per database, counted from the stream itself), so a
 * drill can prove that every row came back.
 *
 * @module
 */
import type { DatabaseCounts, DumpCounts } from "../dump/parser.ts";
import type { SessionSettings } from "../pg/dump_settings.ts";
import { qualifiedName, splitQualifiedName } from "../pg/ident.ts";
import { isRetentionClass, type RetentionClass } from "./retention_class.ts";

/** The manifest's format version. */
export const MANIFEST_FORMAT = 1;

/** How a backup's data object is encrypted (absent for a plain backup). */
export interface ManifestEncryption {
  readonly method: "age";
  /** The age public keys it was encrypted to; the identity of any one of them opens it. */
  readonly recipients: readonly string[];
}

/**
 * One section of the stored object (a plain backup's): the globals, or one database. Its bytes
 * are whole zstd frames, so they decompress on their own after the globals'.
 */
export interface ManifestSection {
  /** `globals` (always the first), or the database's name. */
  readonly name: string;
  /** Where its compressed bytes start in the stored object. */
  readonly offset: number;
  /** How many compressed bytes it has. */
  readonly length: number;
  /** Its uncompressed size: bytes of the SQL script. */
  readonly dump_bytes: number;
  /** sha256 of exactly its compressed bytes. */
  readonly sha256: string;
}

/** A database of the source that the backup does not hold, and why. */
export interface SkippedDatabase {
  readonly name: string;
  /** e.g. `does not allow connections` */
  readonly reason: string;
}

/** What a manifest records. */
export interface Manifest {
  readonly format: number;
  readonly tool: { readonly name: string; readonly version: string };
  readonly server_version: string;
  readonly pg_dumpall_version: string;
  readonly started_at: string;
  readonly finished_at: string;
  /** The data object: `full.sql.zst`, or `full.sql.zst.age` when encrypted. */
  readonly key: string;
  /** Size of the data object as stored (age's output when encrypted). */
  readonly compressed_bytes: number;
  readonly dump_bytes: number;
  /** sha256 of the data object as stored. */
  readonly sha256: string;
  readonly databases: DumpCounts;
  /**
   * Per database, the settings its dumping session saw that shape values' text (see
   * dump_settings.ts). Absent in manifests written before backup-toolbox recorded them.
   */
  readonly dump_settings?: Readonly<Record<string, SessionSettings>>;
  /** Present when the data object is encrypted: with what, and to whom. */
  readonly encryption?: ManifestEncryption;
  /**
   * The object's sections in stream order, tiling it from byte 0 with no gap. Absent for an
   * encrypted backup (one age stream) and in manifests written before sections were indexed.
   */
  readonly sections?: readonly ManifestSection[];
  /**
   * The backup's retention class (see retention_class.ts); every object of the backup carries
   * it as the tag `retention-class`. Absent in manifests written before retention classes:
   * prune counts such a backup as daily.
   */
  readonly retention_class?: RetentionClass;
  /**
   * Databases of the source the backup does not hold (pg_dumpall skips those that do not allow
   * connections). Always present in manifests written since it was recorded, possibly empty.
   */
  readonly skipped_databases?: readonly SkippedDatabase[];
}

/** Totals over every database of a count set. */
export function totals(
  counts: DumpCounts,
): { databases: number; tables: number; rows: number; large_objects: number } {
  let tables = 0;
  let rows = 0;
  let largeObjects = 0;
  for (const db of Object.values(counts)) {
    for (const n of Object.values(db.tables)) {
      tables++;
      rows += n;
    }
    largeObjects += db.largeObjects;
  }
  return { databases: Object.keys(counts).length, tables, rows, large_objects: largeObjects };
}

/**
 * Reads a manifest from JSON text.
 *
 * @throws {SyntaxError} when the JSON is invalid
 * @throws {TypeError} when a field is missing or has the wrong type
 */
export function parseManifest(text: string): Manifest {
  const value: unknown = JSON.parse(text);
  const problems: string[] = [];
  const obj = (value ?? {}) as Record<string, unknown>;
  if (typeof value !== "object" || value === null) {
    throw new TypeError("Cannot read manifest: not an object");
  }
  if (obj.format !== MANIFEST_FORMAT) problems.push(`format ${JSON.stringify(obj.format)}`);
  for (const f of ["server_version", "started_at", "finished_at", "key", "sha256"]) {
    if (typeof obj[f] !== "string") problems.push(f);
  }
  for (const f of ["compressed_bytes", "dump_bytes"]) {
    if (typeof obj[f] !== "number") problems.push(f);
  }
  const dbs = obj.databases;
  if (typeof dbs !== "object" || dbs === null) problems.push("databases");
  else {
    for (const [name, db] of Object.entries(dbs as Record<string, unknown>)) {
      const d = db as Partial<DatabaseCounts> | null;
      if (
        typeof d !== "object" || d === null || typeof d.tables !== "object" || d.tables === null ||
        typeof d.largeObjects !== "number" ||
        !Object.values(d.tables ?? {}).every((n) => Number.isSafeInteger(n))
      ) problems.push(`databases.${name}`);
    }
  }
  const settings = obj.dump_settings;
  if (settings !== undefined) {
    const ok = typeof settings === "object" && settings !== null &&
      Object.values(settings).every((s) =>
        typeof s === "object" && s !== null && Object.values(s).every((v) => typeof v === "string")
      );
    if (!ok) problems.push("dump_settings");
  }
  const enc = obj.encryption as Partial<ManifestEncryption> | null | undefined;
  if (
    enc !== undefined && (
      typeof enc !== "object" || enc === null || enc.method !== "age" ||
      !Array.isArray(enc.recipients) || enc.recipients.length === 0 ||
      !enc.recipients.every((r) => typeof r === "string")
    )
  ) problems.push("encryption");
  if (obj.retention_class !== undefined && !isRetentionClass(obj.retention_class)) {
    problems.push("retention_class");
  }
  const skipped = obj.skipped_databases;
  if (
    skipped !== undefined &&
    (!Array.isArray(skipped) ||
      !skipped.every((d) =>
        typeof d === "object" && d !== null && typeof d.name === "string" &&
        typeof d.reason === "string"
      ))
  ) problems.push("skipped_databases");
  const sections = obj.sections;
  if (
    sections !== undefined && (!Array.isArray(sections) || !sections.every(isManifestSection))
  ) problems.push("sections");
  if (problems.length > 0) {
    throw new TypeError(`Cannot read manifest: invalid ${problems.join(", ")}`);
  }
  const manifest = value as Manifest;
  return { ...manifest, databases: canonicalKeys(manifest.databases) };
}

function isManifestSection(value: unknown): boolean {
  const s = value as Partial<ManifestSection> | null;
  return typeof s === "object" && s !== null && typeof s.name === "string" &&
    [s.offset, s.length, s.dump_bytes].every((n) => Number.isSafeInteger(n) && n! >= 0) &&
    typeof s.sha256 === "string" && /^[0-9a-f]{64}$/.test(s.sha256);
}

/**
 * What is wrong with a manifest's section index, if anything: the sections must start with the
 * globals, name each database once, and tile the object from byte 0 to its last byte.
 *
 * @param sections the manifest's `sections`
 * @param objectBytes the data object's size
 * @returns one phrase, or undefined when the index can be used
 * @example
 * ```ts
 * sectionsProblem([{ name: "globals", offset: 0, length: 10, dump_bytes: 40, sha256 }], 12);
 * // "the sections end at byte 10, the object has 12 bytes"
 * ```
 */
export function sectionsProblem(
  sections: readonly ManifestSection[],
  objectBytes: number,
): string | undefined {
  if (sections[0]?.name !== "globals") return "the first section is not the globals";
  const names = new Set<string>();
  let end = 0;
  for (const [i, section] of sections.entries()) {
    // The first is the globals' whatever its name; a database may be called "globals" too.
    if (i > 0 && names.has(section.name)) return `database "${section.name}" has two sections`;
    if (i > 0) names.add(section.name);
    if (section.offset !== end) {
      return `section "${section.name}" starts at byte ${section.offset}, not ${end}`;
    }
    end += section.length;
  }
  return end === objectBytes
    ? undefined
    : `the sections end at byte ${end}, the object has ${objectBytes} bytes`;
}

/**
 * Table keys as {@linkcode qualifiedName} writes them today. Manifests written before it knew
 * keywords have `public.user` where the restored server's key is `public."user"`.
 */
function canonicalKeys(databases: DumpCounts): DumpCounts {
  const out: DumpCounts = {};
  for (const [db, counts] of Object.entries(databases)) {
    const tables: Record<string, number> = {};
    for (const [key, rows] of Object.entries(counts.tables)) {
      const parts = splitQualifiedName(key);
      tables[parts ? qualifiedName(...parts) : key] = rows;
    }
    out[db] = { tables, largeObjects: counts.largeObjects };
  }
  return out;
}

/**
 * Names every difference between what the backup holds and what the restore brought back.
 * Databases the restore has beyond the backup (the scratch server's own) are not differences.
 *
 * @param expected counts from the manifest
 * @param restored counts from the scratch server, for the databases of `expected` it has
 * @returns one plain sentence per difference; empty when they match
 * @example
 * ```ts
 * compareCounts(
 *   { app: { tables: { "public.t": 3 }, largeObjects: 0 } },
 *   { app: { tables: { "public.t": 2 }, largeObjects: 0 } },
 * ); // ["app: table public.t has 2 rows, the backup has 3"]
 * ```
 */
export function compareCounts(expected: DumpCounts, restored: DumpCounts): string[] {
  const diffs: string[] = [];
  for (const [dbName, want] of Object.entries(expected)) {
    const got = restored[dbName];
    if (!got) {
      diffs.push(`database ${dbName} is missing`);
      continue;
    }
    for (const [table, rows] of Object.entries(want.tables)) {
      const have = got.tables[table];
      if (have === undefined) diffs.push(`${dbName}: table ${table} is missing`);
      else if (have !== rows) {
        diffs.push(`${dbName}: table ${table} has ${have} rows, the backup has ${rows}`);
      }
    }
    for (const table of Object.keys(got.tables)) {
      if (!(table in want.tables)) diffs.push(`${dbName}: table ${table} is not in the backup`);
    }
    if (got.largeObjects !== want.largeObjects) {
      diffs.push(
        `${dbName}: ${got.largeObjects} large objects, the backup has ${want.largeObjects}`,
      );
    }
  }
  return diffs;
}
