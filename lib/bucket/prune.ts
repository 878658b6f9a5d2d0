/**
 * Prune mode, for servers without lifecycle rules (`PRUNE=true`, `--prune-only`): delete the
 * backup folders past the retention of their class, as the lifecycle rules would. A folder's
 * class is its manifest's `retention_class` (a backup without one counts as daily); its age is
 * its date, compared with today in TZ, the zone its folder was named in. Never the newest
 * complete backup, nor the newest one whose drill-report.json says OK.
 *
 * @module
 */
import { addDays, dayIn } from "./calendar.ts";
import { fetchDrillRecord } from "./drill_record.ts";
import { type BackupFolder, listBackupFolders } from "./folders.ts";
import { FILES, withSlash } from "./keys.ts";
import { parseManifest } from "./manifest.ts";
import { type KeepDays, RETENTION_CLASSES, type RetentionClass } from "./retention_class.ts";
import { mapLimited } from "../limit.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { isDenied } from "../s3/failure.ts";
import { StoreError } from "../errors.ts";

/** Manifests read at once. */
const READ_CONCURRENCY = 8;

/** What a prune needs besides the bucket. */
export interface PruneOptions {
  readonly prefix: string;
  /** Days each class is kept. */
  readonly keep: KeepDays;
  /** The run's clock. */
  readonly now: Date;
  /** TZ: the zone the folders' dates are in. */
  readonly timeZone: string;
  /** Log what would be deleted, delete nothing. */
  readonly dryRun: boolean;
}

/**
 * Deletes backup folders whose date is more than their class's days before today, never the
 * newest complete backup and never the newest one whose drill report says OK.
 *
 * @returns the folders deleted (or that would be, with `dryRun`)
 * @throws {StoreError} when a listing, a read or a delete fails (AccessDenied names the policy)
 */
export async function prune(
  store: ObjectStore,
  options: PruneOptions,
  log: Log,
): Promise<string[]> {
  const { prefix, keep, dryRun } = options;
  const folders = await listBackupFolders(store, prefix);
  const newest = folders.filter((f) => f.complete).at(-1);
  const newestDrilled = await newestDrilledOk(store, folders);
  // A folder's age is its date: YYYY/MM/DD is the day the backup was taken, in TZ.
  const today = dayIn(options.now, options.timeZone);
  const cutoff = (c: RetentionClass) => addDays(today, -keep[c]);
  // Only a folder past the dailies' days can go; its class matters when classes differ.
  const old = folders.filter((f) => f.day < cutoff("daily") && f !== newest && f !== newestDrilled);
  const classes = await mapLimited(old, READ_CONCURRENCY, (f) => classOf(store, f, keep));
  const doomed = old
    .map((folder, i) => ({ folder, retentionClass: classes[i]! }))
    .filter(({ folder, retentionClass }) => folder.day < cutoff(retentionClass));
  for (const { folder, retentionClass } of doomed) {
    if (!dryRun) await removeFolder(store, prefix, folder);
    log.info("prune", dryRun ? "would delete backup" : "deleted backup", {
      dir: folder.dir,
      day: folder.day,
      retention_class: retentionClass,
    });
  }
  log.info("prune", dryRun ? "prune dry run OK" : "prune OK", {
    deleted: dryRun ? 0 : doomed.length,
    would_delete: dryRun ? doomed.length : 0,
    kept: folders.length - doomed.length,
    retention_days: keep.daily,
    keep_days: Object.fromEntries(RETENTION_CLASSES.map((c) => [c, keep[c]])),
    newest: newest?.dir ?? null,
    newest_drilled: newestDrilled?.dir ?? null,
  });
  return doomed.map((d) => d.folder.dir);
}

/**
 * The newest complete backup whose drill-report.json says OK: reports are read from the newest
 * drilled folder down, until one passed. A failed drill protects nothing.
 */
async function newestDrilledOk(
  store: ObjectStore,
  folders: readonly BackupFolder[],
): Promise<BackupFolder | undefined> {
  for (const folder of folders.filter((f) => f.complete && f.drilled).reverse()) {
    const record = await fetchDrillRecord(store, folder.dir + FILES.drillReport);
    if (record?.result === "OK") return folder;
  }
  return undefined;
}

/**
 * A folder's class: its manifest's `retention_class`; daily without a manifest, with one that
 * cannot be read, or one written before retention classes. Read only when the classes are kept
 * for different days.
 */
async function classOf(
  store: ObjectStore,
  folder: BackupFolder,
  keep: KeepDays,
): Promise<RetentionClass> {
  const same = RETENTION_CLASSES.every((c) => keep[c] === keep.daily);
  if (same || !folder.keys.includes(folder.dir + FILES.manifest)) return "daily";
  const text = await store.getText(folder.dir + FILES.manifest);
  if (text === undefined) return "daily";
  try {
    return parseManifest(text).retention_class ?? "daily";
  } catch {
    return "daily";
  }
}

async function removeFolder(store: ObjectStore, prefix: string, folder: BackupFolder) {
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
