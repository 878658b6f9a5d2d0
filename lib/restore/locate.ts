/**
 * Locating the backup a restore-side run reads: the one `--key` names, or the newest complete
 * one under the prefix. A drill refuses a newest backup older than MAX_BACKUP_AGE_HOURS (that is
 * the RPO alarm); a recovery restores it with a warning, since it may be all there is.
 *
 * @module
 */
import { findNewestBackup } from "../bucket/find.ts";
import { isEncryptedKey } from "../bucket/keys.ts";
import { BackupUnreadableError, StaleBackupError } from "../errors.ts";
import type { ObjectEntry } from "../s3/object_store.ts";
import type { RestoreRun } from "./run.ts";

/** Where the backup's data object is, and how old it is. */
export interface Located {
  /** The data object: `…/full.sql.zst` or `…/full.sql.zst.age`. */
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
  /** Hours since it was written, two decimals. */
  readonly ageHours: number;
  /** List requests the search took (0 for `--key`). */
  readonly listRequests: number;
  /** The day folder's other complete data object, when it holds a plain and an encrypted one. */
  readonly alsoThere: ObjectEntry | undefined;
}

/**
 * Finds the backup and logs `backup found`.
 *
 * @throws {BackupUnreadableError} when `--key` names no object
 * @throws {StaleBackupError} when there is no backup at all, or (not for a recovery) the newest
 *   is older than MAX_BACKUP_AGE_HOURS
 */
export async function locateBackup(run: RestoreRun): Promise<Located> {
  const { config, ctx } = run;
  const now = ctx.now();
  const found = await dataObject(run, now);
  const ageExact = (now.getTime() - found.lastModified.getTime()) / 3600_000;
  const located: Located = { ...found, ageHours: Number(ageExact.toFixed(2)) };
  ctx.log.info("find", "backup found", {
    key: located.key,
    bytes: located.size,
    age_hours: located.ageHours,
    last_modified: located.lastModified.toISOString(),
    list_requests: located.listRequests,
    encrypted: isEncryptedKey(located.key),
  });
  if (located.alsoThere) {
    ctx.log.info(
      "find",
      "the day folder holds a plain and an encrypted backup; drilling the newer",
      { key: located.key, older: located.alsoThere.key },
    );
  }
  if (!config.backupKey && ageExact > config.maxBackupAgeHours) {
    if (run.mode === "recover") {
      ctx.log.warn("find", `the newest backup is ${located.ageHours.toFixed(1)} h old`, {
        key: located.key,
        hint: "it is restored anyway; check the postgres-backup CronJob once the recovery is done",
      });
    } else {
      throw new StaleBackupError(
        `backup stale: newest backup ${located.key} is ${
          located.ageHours.toFixed(1)
        } h old (max ${config.maxBackupAgeHours} h)`,
        "check the postgres-backup CronJob: kubectl -n apps get jobs, then the logs of its last Job",
      );
    }
  }
  return located;
}

async function dataObject(run: RestoreRun, now: Date): Promise<Omit<Located, "ageHours">> {
  const { config, ctx: { store } } = run;
  if (config.backupKey) {
    const stat = await store.stat(config.backupKey);
    if (!stat) {
      throw new BackupUnreadableError(
        `cannot read ${config.backupKey}: it does not exist in s3://${store.bucket}/`,
        `list the backups with mc ls --recursive backup/${store.bucket}/${config.s3Prefix}/ and pass an existing full.sql.zst or full.sql.zst.age key to --key`,
      );
    }
    return {
      key: config.backupKey,
      size: stat.size,
      lastModified: stat.lastModified,
      listRequests: 0,
      alsoThere: undefined,
    };
  }
  const found = await findNewestBackup(store, config.s3Prefix);
  if (!found) {
    throw new StaleBackupError(
      `backup stale: no backup under s3://${store.bucket}/${config.s3Prefix}/ (checked at ${now.toISOString()})`,
      "run the backup once: kubectl -n apps create job --from=cronjob/postgres-backup backup-manual-1, then check S3_BUCKET and S3_PREFIX",
    );
  }
  return {
    key: found.data.key,
    size: found.data.size,
    lastModified: found.data.lastModified,
    listRequests: found.listRequests,
    alsoThere: found.alsoThere,
  };
}
