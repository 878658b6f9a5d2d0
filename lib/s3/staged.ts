/**
 * What one run wrote under its staging folder (`<prefix>/.tmp/<run>/`): objects and open
 * multipart uploads. The run's one cleanup removes exactly those, plus anything else it finds
 * in that folder (an upload whose start was answered but the answer lost), with the bounded
 * cleanup store, and names what it could not remove.
 *
 * @module
 */
import type { S3Store } from "./store.ts";

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
   * @returns what could not be removed (keys, and `upload <key>` for open uploads); empty when clean
   */
  async cleanUp(store: S3Store, tempDir: string): Promise<string[]> {
    const cleanup = store.forCleanup();
    const uploads = new Map(this.uploads);
    const objects = new Set(this.objects);
    // Anything else in the folder is this run's too (a lost answer, a killed request).
    await Promise.all([
      cleanup.listIncompleteUploads(tempDir).then(
        (found) => found.forEach((u) => uploads.set(`${u.key}\n${u.uploadId}`, u.uploadId)),
        () => {},
      ),
      cleanup.listObjects(tempDir).then(
        (found) => found.forEach((o) => objects.add(o.key)),
        () => {},
      ),
    ]);
    const left: string[] = [];
    await Promise.all([...uploads].map(async ([entry, uploadId]) => {
      const key = entry.split("\n")[0]!;
      try {
        await cleanup.abortUpload(key, uploadId);
        this.uploads.delete(key);
      } catch {
        left.push(`upload ${key}`);
      }
    }));
    await Promise.all([...objects].map(async (key) => {
      try {
        await cleanup.remove([key]);
        this.objects.delete(key);
      } catch {
        left.push(key);
      }
    }));
    return [...new Set(left)];
  }
}
