/**
 * Prune mode, for servers without lifecycle rules (`PRUNE=true`, `--prune-only`): delete the
 * backup folders past retention, never the newest complete backup nor the newest drilled one.
 *
 * @module
 */
import { withSlash } from "./keys.ts";
import { listBackupFolders } from "./folders.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { isDenied } from "../s3/failure.ts";
import { StoreError } from "../errors.ts";

/**
 * Deletes backup folders whose date is more than `days` days ago, never the newest complete
 * backup and never the newest one that passed a drill.
 *
 * @returns the folders deleted (or that would be, with `dryRun`)
 */
export async function prune(
  store: ObjectStore,
  prefix: string,
  days: number,
  now: Date,
  dryRun: boolean,
  log: Log,
): Promise<string[]> {
  const folders = await listBackupFolders(store, prefix);
  const newest = folders.filter((f) => f.complete).at(-1);
  const newestDrilled = folders.filter((f) => f.complete && f.drilled).at(-1);
  // A folder's age is its date: YYYY/MM/DD is the day the backup was taken (in TZ).
  const cutoff = new Date(now.getTime() - days * 86400_000).toISOString().slice(0, 10);
  const doomed = folders.filter((f) => f.day < cutoff && f !== newest && f !== newestDrilled);
  for (const folder of doomed) {
    if (!dryRun) {
      try {
        await store.remove(folder.keys);
      } catch (err) {
        if (isDenied(err)) {
          throw new StoreError(
            (err as StoreError).message,
            `PRUNE and --prune-only need s3:DeleteObject on arn:aws:s3:::${store.bucket}/${
              withSlash(prefix)
            }*: attach manifests/s3-policies/postgres-backup-prune.json to the backup's key, or leave PRUNE off and let a lifecycle rule expire old backups`,
            "AccessDenied",
            { cause: err },
          );
        }
        throw err instanceof StoreError ? err : new StoreError(
          `prune ${folder.dir} failed`,
          "check the S3 key's delete permission",
          "Unknown",
          { cause: err },
        );
      }
    }
    log.info("prune", dryRun ? "would delete backup" : "deleted backup", {
      dir: folder.dir,
      day: folder.day,
    });
  }
  log.info("prune", dryRun ? "prune dry run OK" : "prune OK", {
    deleted: dryRun ? 0 : doomed.length,
    would_delete: dryRun ? doomed.length : 0,
    kept: folders.length - doomed.length,
    retention_days: days,
    newest: newest?.dir ?? null,
    newest_drilled: newestDrilled?.dir ?? null,
  });
  return doomed.map((f) => f.dir);
}
