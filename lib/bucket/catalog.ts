/**
 * Every backup under a prefix with what its folder says about it: one listing of the prefix,
 * then each complete backup's manifest.json and drill-report.json, a few at a time. What
 * `--list` shows and what the drill's older check picks from. Also each backup's checks: its own
 * drill, and the drills that re-read it in full as an older backup.
 *
 * @module
 */
import { type DrillRecord, fetchDrillRecord, type Verdict } from "./drill_record.ts";
import { type BackupFolder, listBackupFolders } from "./folders.ts";
import { DATA_FILES, FILES } from "./keys.ts";
import { type Manifest, parseManifest } from "./manifest.ts";
import { mapLimited } from "../limit.ts";
import type { ObjectEntry, ObjectStore } from "../s3/object_store.ts";

/** Folders whose files are read at once (each: its manifest and its drill report). */
export const CATALOG_CONCURRENCY = 8;

/** A complete backup and what its folder says about it. */
export interface CatalogEntry {
  /** `<prefix>/YYYY/MM/DD/` */
  readonly dir: string;
  /** `YYYY-MM-DD` */
  readonly day: string;
  /** Its data object (the newer one when the folder holds a plain and an encrypted one). */
  readonly data: ObjectEntry;
  /** Its manifest; undefined when it has none or it cannot be read. */
  readonly manifest: Manifest | undefined;
  /** Its drill report; undefined when it has none. */
  readonly report: DrillRecord | undefined;
}

/** The backups under a prefix. */
export interface Catalog {
  /** The complete backups, oldest first. */
  readonly backups: readonly CatalogEntry[];
  /** Date folders with a data object but not its `.sha256`: a run that died in its commit. */
  readonly incomplete: readonly BackupFolder[];
  /**
   * Date folders without any data object: what outlived an expired backup (a drill report is
   * written days after its backup, so a lifecycle rule expires it days later).
   */
  readonly leftovers: readonly BackupFolder[];
}

/** What {@linkcode readCatalog} reads besides the listing. */
export interface CatalogOptions {
  /** Read each backup's manifest.json (not needed to pick older backups). @default true */
  readonly manifests?: boolean;
}

/**
 * Reads every backup under the prefix: one listing, then the manifest and the drill report of
 * each complete backup that has them, {@linkcode CATALOG_CONCURRENCY} folders at a time.
 *
 * @throws {StoreError} when the listing or a read fails
 */
export async function readCatalog(
  store: ObjectStore,
  prefix: string,
  options: CatalogOptions = {},
): Promise<Catalog> {
  const folders = await listBackupFolders(store, prefix);
  const complete = folders.filter((f) => f.data !== undefined);
  const manifests = options.manifests ?? true;
  const backups = await mapLimited(complete, CATALOG_CONCURRENCY, async (folder) => {
    const has = (name: string) => folder.keys.includes(folder.dir + name);
    const [manifest, report] = await Promise.all([
      manifests && has(FILES.manifest)
        ? readManifest(store, folder.dir + FILES.manifest)
        : undefined,
      has(FILES.drillReport) ? fetchDrillRecord(store, folder.dir + FILES.drillReport) : undefined,
    ]);
    return { dir: folder.dir, day: folder.day, data: folder.data!, manifest, report };
  });
  const partial = folders.filter((f) => f.data === undefined);
  const hasData = (f: BackupFolder) => DATA_FILES.some((d) => f.keys.includes(f.dir + d.data));
  return {
    backups,
    incomplete: partial.filter(hasData),
    leftovers: partial.filter((f) => !hasData(f)),
  };
}

async function readManifest(store: ObjectStore, key: string): Promise<Manifest | undefined> {
  const text = await store.getText(key);
  if (text === undefined) return undefined;
  try {
    return parseManifest(text);
  } catch {
    return undefined;
  }
}

/** One check of a backup: a drill of it, or a drill that re-read it as an older backup. */
export interface BackupCheck {
  readonly result: Verdict;
  /** When the drill ran; undefined for a report that does not say. */
  readonly at: Date | undefined;
  /** `drill`: the backup itself was drilled; `sha256`: it was read in full and its sha256 checked. */
  readonly how: "drill" | "sha256";
}

/**
 * Every check of every backup, by data key, oldest first (a check without a time first of all).
 *
 * @example
 * ```ts
 * checksOf(catalog.backups).get("pg/2026/11/20/full.sql.zst");
 * // [{ result: "OK", at: 2026-11-22T06:00Z, how: "drill" }, { result: "OK", at: …, how: "sha256" }]
 * ```
 */
export function checksOf(backups: readonly CatalogEntry[]): Map<string, BackupCheck[]> {
  const checks = new Map<string, BackupCheck[]>();
  const add = (key: string, check: BackupCheck) => {
    checks.set(key, [...(checks.get(key) ?? []), check]);
  };
  for (const { data, report } of backups) {
    if (report === undefined) continue;
    const at = report.drilledAt;
    if (report.result !== undefined) {
      add(report.key ?? data.key, { result: report.result, at, how: "drill" });
    }
    for (const older of report.olderBackups) {
      const checkedAt = older.checked_at === undefined ? at : new Date(older.checked_at);
      const when = checkedAt && !Number.isNaN(checkedAt.getTime()) ? checkedAt : at;
      add(older.key, { result: older.result, at: when, how: "sha256" });
    }
  }
  for (const list of checks.values()) {
    list.sort((a, b) => (a.at?.getTime() ?? -Infinity) - (b.at?.getTime() ?? -Infinity));
  }
  return checks;
}
