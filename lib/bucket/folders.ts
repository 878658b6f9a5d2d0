/**
 * The backup folders under a prefix, from one listing: `<prefix>/YYYY/MM/DD/` and what each holds.
 *
 * @module
 */
import { DATA_FILES, dayOfKey, FILES, withSlash } from "./keys.ts";
import type { ObjectStore } from "../s3/object_store.ts";

/** A backup folder as found in the bucket. */
export interface BackupFolder {
  readonly dir: string;
  readonly day: string;
  readonly keys: readonly string[];
  readonly complete: boolean;
  readonly drilled: boolean;
  readonly lastModified: Date;
}

/** Lists every backup folder under the prefix, oldest first. */
export async function listBackupFolders(
  store: ObjectStore,
  prefix: string,
): Promise<BackupFolder[]> {
  const byDir = new Map<
    string,
    { keys: string[]; names: Set<string>; last: number; day: string }
  >();
  for (const object of await store.listObjects(withSlash(prefix))) {
    const day = dayOfKey(prefix, object.key);
    if (!day) continue;
    const dir = object.key.slice(0, object.key.lastIndexOf("/") + 1);
    const entry = byDir.get(dir) ?? { keys: [], names: new Set(), last: 0, day };
    entry.keys.push(object.key);
    entry.names.add(object.key.slice(dir.length));
    entry.last = Math.max(entry.last, object.lastModified.getTime());
    byDir.set(dir, entry);
  }
  return [...byDir.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([dir, e]) => ({
    dir,
    day: e.day,
    keys: e.keys,
    // Plain or encrypted: a data object with its .sha256.
    complete: DATA_FILES.some((f) => e.names.has(f.data) && e.names.has(f.sha256)),
    drilled: e.names.has(FILES.drillReport),
    lastModified: new Date(e.last),
  }));
}
