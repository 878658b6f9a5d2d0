/**
 * The bucket's lifecycle rule: the backup checks that one expires `<prefix>/` after
 * RETENTION_DAYS and aborts incomplete uploads, warns when not, and sets it with
 * `--apply-lifecycle`. A key that may not read or set the rule gets a warn line, never a failed
 * backup.
 *
 * @module
 */
import { withSlash } from "./keys.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import { isDenied } from "../s3/failure.ts";
import { ToolboxError } from "../errors.ts";

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
      await store.putRetentionRules([
        { id: ruleId(prefix), prefix: want, expireDays: days, abortIncompleteDays: 1 },
      ]);
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
