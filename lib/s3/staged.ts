/**
 * What one run wrote under its staging folder (`<prefix>/.tmp/<run>/`): objects and open
 * multipart uploads. The run's one cleanup removes exactly those, plus anything else it finds
 * in that folder (an upload whose start was answered but the answer lost), with the bounded
 * cleanup store, and names what it could not remove.
 *
 * @module
 */
import type { ObjectStore } from "./object_store.ts";

/** A run's staged objects and open uploads. */
export class Staged {
  /** Staged object keys. */
  readonly objects = new Set<string>();
  /** Open multipart uploads: key → upload id. */
  readonly uploads = new Map<string, string>();

  /**
   * Aborts the open uploads and deletes the staged objects, then looks in `tempDir` for more.
   * Uses `store.forCleanup()`: short timeouts, one quick retry, a deadline of its own, so it
   * ends in bounded time even when S3 is down or the run was stopped.
   *
   * @param store the run's store
   * @param tempDir the run's staging folder
   * @returns what could not be removed (object keys, keys of open uploads) and the first error
   */
  async cleanUp(store: ObjectStore, tempDir: string): Promise<Leftovers> {
    const cleanup = store.forCleanup();
    const left: Leftovers = { objects: [], uploads: [], error: undefined };
    // Upload id → key: each upload once, whether recorded, found, or both.
    const uploads = new Map([...this.uploads].map(([key, id]) => [id, key]));
    const objects = new Set(this.objects);
    // Anything else in the folder is this run's too (a lost answer, a killed request). A listing
    // that fails is the reason given when nothing else is (the next run's stale cleanup
    // retries); a removal that fails explains what is left better, so it comes first.
    let listingError: unknown;
    await Promise.all([
      cleanup.listIncompleteUploads(tempDir).then(
        (found) => found.forEach((u) => uploads.set(u.uploadId, u.key)),
        (err) => (listingError ??= err),
      ),
      cleanup.listObjects(tempDir).then(
        (found) => found.forEach((o) => objects.add(o.key)),
        (err) => (listingError ??= err),
      ),
    ]);
    await Promise.all([...uploads].map(async ([uploadId, key]) => {
      try {
        await cleanup.abortUpload(key, uploadId);
        this.uploads.delete(key);
      } catch (err) {
        left.error ??= err;
        if (!left.uploads.includes(key)) left.uploads.push(key);
      }
    }));
    await Promise.all([...objects].map(async (key) => {
      try {
        await cleanup.remove([key]);
        this.objects.delete(key);
      } catch (err) {
        left.error ??= err;
        left.objects.push(key);
      }
    }));
    left.error ??= listingError;
    left.objects.sort();
    left.uploads.sort();
    return left;
  }
}

/** What a cleanup could not remove. */
export interface Leftovers {
  /** Staged object keys still there. */
  objects: string[];
  /** Keys of multipart uploads still open. */
  uploads: string[];
  /** The first thing that went wrong, for the hint. */
  error: unknown;
}
