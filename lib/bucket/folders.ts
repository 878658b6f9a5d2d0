/**
 * The backup folders under a prefix, from one listing: `<prefix>/YYYY/MM/DD/` and what each holds.
 *
 * @module
 */
import { DATA_FILES, dayOfKey, FILES, withSlash } from "./keys.ts";
import type { ObjectEntry, ObjectStore } from "../s3/object_store.ts";

/** A backup folder as found in the bucket. */
export interface BackupFolder {
  /** `<prefix>/YYYY/MM/DD/` */
  readonly dir: string;
  /** `YYYY-MM-DD` */
  readonly day: string;
  readonly keys: readonly string[];
  /** A data object with its `.sha256` is there (plain or encrypted). */
  readonly complete: boolean;
  /**
   * The complete data object: the newer one when the folder holds a plain and an encrypted
   * backup (as findNewestBackup picks it); undefined when the folder is not complete.
   */
  readonly data: ObjectEntry | undefined;
  /** `drill-report.json` is there (whatever it says). */
  readonly drilled: boolean;
  readonly lastModified: Date;
}

/**
 * Lists the backup folders under the prefix, oldest first.
 *
 * @param under list only below this folder of the prefix, e.g. `<prefix>/2026/11/` (one month)
 *   @default the whole prefix
 */
export async function listBackupFolders(
  store: ObjectStore,
  prefix: string,
  under: string = withSlash(prefix),
): Promise<BackupFolder[]> {
  interface Entry {
    keys: string[];
    objects: Map<string, ObjectEntry>;
    last: number;
    day: string;
  }
  const byDir = new Map<string, Entry>();
  for (const object of await store.listObjects(under)) {
    const day = dayOfKey(prefix, object.key);
    if (!day) continue;
    const dir = object.key.slice(0, object.key.lastIndexOf("/") + 1);
    const entry: Entry = byDir.get(dir) ?? { keys: [], objects: new Map(), last: 0, day };
    entry.keys.push(object.key);
    entry.objects.set(object.key.slice(dir.length), object);
    entry.last = Math.max(entry.last, object.lastModified.getTime());
    byDir.set(dir, entry);
  }
  return [...byDir.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([dir, e]) => {
    // Plain or encrypted: a data object with its .sha256; the newer when both are there.
    const data = DATA_FILES.filter((f) => e.objects.has(f.sha256))
      .map((f) => e.objects.get(f.data))
      .filter((o) => o !== undefined)
      .sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime())[0];
    return {
      dir,
      day: e.day,
      keys: e.keys,
      complete: data !== undefined,
      data,
      drilled: e.objects.has(FILES.drillReport),
      lastModified: new Date(e.last),
    };
  });
}
