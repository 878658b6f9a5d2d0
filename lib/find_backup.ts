/**
 * Finding the newest complete backup (a data object with its `.sha256`) without listing the
 * whole bucket: keys are partitioned by date, so it walks year → month → day folders from the
 * newest and stops at the first complete one.
 *
 * A day folder holds a plain backup (`full.sql.zst`) or an encrypted one (`full.sql.zst.age`).
 * It holds both when a run of that day was repeated after encryption was turned on or off; the
 * newer data object wins then (its run also wrote the folder's `manifest.json` last), and the
 * other is left for retention, which removes the folder as a whole.
 *
 * @module
 */
import { DATA_FILES, FILES, withSlash } from "./backup_keys.ts";
import type { ObjectEntry, S3Store } from "./s3/store.ts";

/** A complete backup found in the bucket. */
export interface FoundBackup {
  /** The backup's folder, `<prefix>/YYYY/MM/DD/`. */
  readonly dir: string;
  /** The data object. */
  readonly data: ObjectEntry;
  /** The folder's other complete data object, when it holds both a plain and an encrypted one. */
  readonly alsoThere: ObjectEntry | undefined;
  /** Whether `manifest.json` is there. */
  readonly hasManifest: boolean;
  /** How many list requests the search took. */
  readonly listRequests: number;
}

/**
 * Finds the newest complete backup under a prefix.
 *
 * @returns the backup, or undefined when there is none
 */
export async function findNewestBackup(
  store: S3Store,
  prefix: string,
): Promise<FoundBackup | undefined> {
  let requests = 0;
  const folders = async (at: string, pattern: RegExp) => {
    requests++;
    return (await store.listFolders(at)).filter((f) => pattern.test(f.slice(at.length))).reverse();
  };
  for (const year of await folders(withSlash(prefix), /^\d{4}\/$/)) {
    for (const month of await folders(year, /^\d{2}\/$/)) {
      for (const day of await folders(month, /^\d{2}\/$/)) {
        requests++;
        const objects = await store.listObjects(day);
        const byName = new Map(objects.map((o) => [o.key.slice(day.length), o]));
        const complete = DATA_FILES.filter((f) => byName.has(f.sha256))
          .map((f) => byName.get(f.data))
          .filter((o) => o !== undefined)
          .sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime());
        const [data, alsoThere] = complete;
        if (data) {
          return {
            dir: day,
            data,
            alsoThere,
            hasManifest: byName.has(FILES.manifest),
            listRequests: requests,
          };
        }
      }
    }
  }
  return undefined;
}
