/**
 * Keeping the bucket tidy: the lifecycle rule check (14 days by default), prune mode for
 * servers without lifecycle rules, and removal of what killed runs left in `<prefix>/.tmp/`.
 *
 * @module
 */
import { DATA_FILES, dayOfKey, FILES, tempRoot, withSlash } from "./keys.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { StoreError, ToolboxError } from "../errors.ts";

/** The lifecycle rule id backup-toolbox sets. */
export function ruleId(prefix: string): string {
  return `backup-toolbox-${
    withSlash(prefix).replace(/\/$/, "").replace(/[^A-Za-z0-9-]/g, "-") || "all"
  }`;
}

/**
 * Checks that a lifecycle rule expires `<prefix>/` after `days` and aborts incomplete uploads;
 * warns when not, and sets it when `apply` is true. A key that may not read or set the rule gets
 * a warn line naming the permission, never a failed backup.
 *
 * @returns `ok`, `applied`, `missing` (also when setting it was refused) or `unknown` (the
 *   server refused to say)
 */
export async function checkLifecycle(
  store: ObjectStore,
  prefix: string,
  days: number,
  apply: boolean,
  log: Log,
): Promise<"ok" | "applied" | "missing" | "unknown"> {
  const want = withSlash(prefix);
  let rules;
  try {
    rules = await store.getRetentionRules();
  } catch (err) {
    log.warn("lifecycle", "cannot read the bucket's lifecycle rules", {
      error: err instanceof Error ? err.message : String(err),
      hint: isDenied(err)
        ? `grant s3:GetLifecycleConfiguration on arn:aws:s3:::${store.bucket} (manifests/s3-policies/postgres-backup.json), or run with PRUNE=true to delete old backups`
        : "check the S3 server's support for lifecycle rules, or run with PRUNE=true to delete old backups",
    });
    return "unknown";
  }
  const covering = rules.filter((r) => want.startsWith(r.prefix));
  const expires = covering.find((r) => r.expireDays === days);
  const aborts = covering.some((r) => r.abortIncompleteDays !== undefined);
  if (expires && aborts) {
    log.info("lifecycle", "lifecycle rule OK", { rule: expires.id, expire_days: days });
    return "ok";
  }
  if (apply) {
    try {
      await store.putRetentionRule(ruleId(prefix), want, days);
    } catch (err) {
      log.warn("lifecycle", "cannot set the lifecycle rule", {
        rule: ruleId(prefix),
        prefix: want,
        expire_days: days,
        error: err instanceof Error ? err.message : String(err),
        hint: isDenied(err)
          ? `--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::${store.bucket}: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (mc ilm rule add --expire-days ${days} --prefix ${want} backup/${store.bucket})`
          : err instanceof ToolboxError
          ? err.hint
          : "run the backup again",
      });
      return "missing";
    }
    log.info("lifecycle", "lifecycle rule set", {
      rule: ruleId(prefix),
      prefix: want,
      expire_days: days,
    });
    return "applied";
  }
  log.warn("lifecycle", `no lifecycle rule expires ${want} after ${days} days`, {
    rules: rules.map((r) => ({ id: r.id, prefix: r.prefix, expire_days: r.expireDays })),
    hint:
      `run once with --apply-lifecycle (S3_APPLY_LIFECYCLE=true), or mc ilm rule add --expire-days ${days} --prefix ${want} backup/${store.bucket}, or set PRUNE=true`,
  });
  return "missing";
}

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

function isDenied(err: unknown): boolean {
  return err instanceof StoreError && err.code === "AccessDenied";
}
