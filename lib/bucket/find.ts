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
import { DATA_FILES, FILES, withSlash } from "./keys.ts";
import type { ObjectEntry, ObjectStore } from "../s3/object_store.ts";

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

/** Which backups {@linkcode findNewestBackup} may return. */
export interface FindOptions {
  /** Only folders that sort before this one, e.g. `<prefix>/2025/06/01/`: the previous backup. */
  readonly before?: string;
  /** Only backups that have manifest.json (it is written last: the backup is complete). */
  readonly needManifest?: boolean;
}

/**
 * Finds the newest complete backup under a prefix.
 *
 * @returns the backup, or undefined when there is none
 */
export async function findNewestBackup(
  store: ObjectStore,
  prefix: string,
  options: FindOptions = {},
): Promise<FoundBackup | undefined> {
  let requests = 0;
  // Folder keys are zero-padded dates, so one string comparison holds at every level:
  // "p/2025/" < "p/2025/06/01/" lets the year through, "p/2025/06/01/" itself is excluded.
  const { before } = options;
  const folders = async (at: string, pattern: RegExp) => {
    requests++;
    return (await store.listFolders(at))
      .filter((f) => pattern.test(f.slice(at.length)) && (before === undefined || f < before))
      .reverse();
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
        if (data && (!options.needManifest || byName.has(FILES.manifest))) {
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
