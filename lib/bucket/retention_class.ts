/**
 * Retention classes: each backup is `monthly` when no earlier complete backup exists in its
 * calendar month, otherwise `weekly` when none exists in its ISO week, otherwise `daily`. The
 * class is recorded in manifest.json (`retention_class`) and carried by every object of the
 * backup as the tag `retention-class=<class>`, so lifecycle rules filtered by that tag (and
 * prune) keep each class as long as its own setting says.
 *
 * @module
 */
import { dayIn, isoWeek, monthOf } from "./calendar.ts";
import { listBackupFolders } from "./folders.ts";
import { withSlash } from "./keys.ts";
import type { ObjectStore, ObjectTags } from "../s3/object_store.ts";

/** The classes, from the shortest kept to the longest. */
export const RETENTION_CLASSES = ["daily", "weekly", "monthly"] as const;

/** A retention class. */
export type RetentionClass = typeof RETENTION_CLASSES[number];

/** The tag name every object of a backup carries, with its class as the value. */
export const RETENTION_TAG = "retention-class";

/** Whether a value names a retention class. */
export function isRetentionClass(value: unknown): value is RetentionClass {
  return (RETENTION_CLASSES as readonly unknown[]).includes(value);
}

/** The tags of an object of a backup of class `c`: `{ "retention-class": c }`. */
export function classTags(c: RetentionClass): ObjectTags {
  return { [RETENTION_TAG]: c };
}

/** Days each class is kept. */
export type KeepDays = Readonly<Record<RetentionClass, number>>;

/**
 * How long each class is kept: dailies RETENTION_DAYS, weeklies KEEP_WEEKLY weeks, monthlies
 * KEEP_MONTHLY months of 31 days. A class is never kept shorter than the class below it (a
 * weekly backup is also its day's backup, a monthly one also its week's), so 0 keeps a class
 * as long as the one below: with both 0, every backup expires after RETENTION_DAYS, as before
 * retention classes.
 *
 * @example
 * ```ts
 * keepDays(14, 8, 6); // { daily: 14, weekly: 56, monthly: 186 }
 * keepDays(14, 0, 0); // { daily: 14, weekly: 14, monthly: 14 }
 * keepDays(14, 1, 0); // { daily: 14, weekly: 14, monthly: 14 }: 7 days would undercut the dailies
 * ```
 */
export function keepDays(retentionDays: number, keepWeekly: number, keepMonthly: number): KeepDays {
  const weekly = Math.max(keepWeekly * 7, retentionDays);
  return { daily: retentionDays, weekly, monthly: Math.max(keepMonthly * 31, weekly) };
}

/** The class of a backup and why. */
export interface ClassChoice {
  readonly class: RetentionClass;
  /** The backup's day, `YYYY-MM-DD` (its folder's date, in TZ). */
  readonly day: string;
  /** Its ISO week, `YYYY-Www`. */
  readonly isoWeek: string;
  /** The latest earlier complete backup of its month, if any. */
  readonly earlierInMonth: string | undefined;
  /** The latest earlier complete backup of its ISO week, if any. */
  readonly earlierInWeek: string | undefined;
}

/**
 * The class of the backup of `day`, given the days of the complete backups already there. Only
 * strictly earlier days count: a second run of the same day replaces that day's backup and keeps
 * its class.
 *
 * @param day the backup's day, `YYYY-MM-DD`
 * @param complete days of complete backups (any order; later days are ignored)
 * @example
 * ```ts
 * classFor("2026-12-01", ["2026-11-30"]).class; // "monthly": the first of December
 * classFor("2027-01-01", ["2026-12-29"]).class; // "monthly" (a new month), though not its week's first
 * classFor("2026-12-02", ["2026-12-01"]).class; // "daily": same month, same ISO week
 * ```
 */
export function classFor(day: string, complete: readonly string[]): ClassChoice {
  const earlier = complete.filter((d) => d < day).sort();
  const month = monthOf(day);
  const week = isoWeek(day);
  const earlierInMonth = earlier.findLast((d) => monthOf(d) === month);
  const earlierInWeek = earlier.findLast((d) => isoWeek(d) === week);
  const c: RetentionClass = earlierInMonth === undefined
    ? "monthly"
    : earlierInWeek === undefined
    ? "weekly"
    : "daily";
  return { class: c, day, isoWeek: week, earlierInMonth, earlierInWeek };
}

/**
 * The class of the backup taken at `at`, from the complete backups already in the bucket. One
 * listing of the backup's month decides it, never the whole prefix: when its ISO week began in
 * the month before, every earlier day of its month is in that week too, so a backup of the
 * previous month can only matter when the month has none, and then the backup is monthly
 * anyway.
 *
 * @param at when the backup started; its day is taken in `timeZone`, as its folder's is
 * @throws {StoreError} when a listing fails
 */
export async function chooseRetentionClass(
  store: ObjectStore,
  prefix: string,
  at: Date,
  timeZone: string,
): Promise<ClassChoice> {
  const day = dayIn(at, timeZone);
  const month = `${withSlash(prefix)}${monthOf(day).replace("-", "/")}/`;
  const folders = await listBackupFolders(store, prefix, month);
  return classFor(day, folders.filter((f) => f.complete).map((f) => f.day));
}
