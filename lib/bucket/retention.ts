/**
 * Keeping the bucket tidy between runs: removal of what killed runs left in `<prefix>/.tmp/`
 * and incomplete uploads under `<prefix>/`. The lifecycle rule check is in lifecycle.ts, prune
 * mode in prune.ts.
 *
 * @module
 */
import { tempRoot, withSlash } from "./keys.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { ToolboxError } from "../errors.ts";

/**
 * Removes what killed runs left behind: staged objects under `<prefix>/.tmp/` and incomplete
 * multipart uploads under `<prefix>/`, older than `maxAgeHours`. A run that is still going
 * (younger) is left alone. A failure is a warn line, never a failed backup.
 *
 * @returns how many objects and uploads were removed
 */
export async function removeStaleLeftovers(
  store: ObjectStore,
  prefix: string,
  maxAgeHours: number,
  now: Date,
  log: Log,
): Promise<{ objects: number; uploads: number }> {
  try {
    return await removeStale(store, prefix, maxAgeHours, now, log);
  } catch (err) {
    log.warn("cleanup", "could not remove leftovers of earlier runs", {
      error: err instanceof Error ? err.message : String(err),
      hint: err instanceof ToolboxError ? err.hint : "the next run tries again",
    });
    return { objects: 0, uploads: 0 };
  }
}

async function removeStale(
  store: ObjectStore,
  prefix: string,
  maxAgeHours: number,
  now: Date,
  log: Log,
): Promise<{ objects: number; uploads: number }> {
  const root = tempRoot(prefix);
  const cutoff = now.getTime() - maxAgeHours * 3600_000;
  const objects = (await store.listObjects(root)).filter((o) => o.lastModified.getTime() <= cutoff);
  // Uploads anywhere under the prefix: a run killed while joining segments leaves one on a
  // final key (invisible as an object, but it holds storage).
  const uploads = (await store.listIncompleteUploads(withSlash(prefix))).filter((u) =>
    u.initiated.getTime() <= cutoff
  );
  for (const u of uploads) await store.abortUpload(u.key, u.uploadId);
  await store.remove(objects.map((o) => o.key));
  if (objects.length > 0 || uploads.length > 0) {
    log.info("cleanup", "removed leftovers of earlier runs", {
      objects: objects.map((o) => o.key),
      uploads: uploads.map((u) => u.key),
      older_than_hours: maxAgeHours,
    });
  }
  return { objects: objects.length, uploads: uploads.length };
}
