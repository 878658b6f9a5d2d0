/**
 * Where things live in the bucket. A backup of day D is
 * `<prefix>/YYYY/MM/DD/full.sql.zst` with `full.sql.zst.sha256`, `manifest.json` (written last)
 * and, after a drill, `drill-report.json`. Encrypted with age, its data object is
 * `full.sql.zst.age` with `full.sql.zst.age.sha256`, so the names never lie about the content.
 * A run stages its data under `<prefix>/.tmp/<run id>/` and only server-side copies reach the
 * final keys.
 *
 * @module
 */

/** The keys of one backup. */
export interface BackupKeys {
  /** `<prefix>/YYYY/MM/DD/` */
  readonly dir: string;
  /** The compressed dump (`full.sql.zst`, or `full.sql.zst.age` when encrypted). */
  readonly data: string;
  /** `<hex>  full.sql.zst` (or `full.sql.zst.age`): the data object's name with `.sha256`. */
  readonly sha256: string;
  /** Row counts and metadata; its presence marks the backup complete. */
  readonly manifest: string;
  /** The last drill's report for this backup. */
  readonly drillReport: string;
}

/** The file names inside a backup's folder. */
export const FILES = {
  data: "full.sql.zst",
  sha256: "full.sql.zst.sha256",
  encryptedData: "full.sql.zst.age",
  encryptedSha256: "full.sql.zst.age.sha256",
  manifest: "manifest.json",
  drillReport: "drill-report.json",
} as const;

/**
 * The data objects a backup folder may hold, each with its `.sha256`: plain, then encrypted. A
 * backup is complete when one of these pairs is there.
 */
export const DATA_FILES: readonly { readonly data: string; readonly sha256: string }[] = [
  { data: FILES.data, sha256: FILES.sha256 },
  { data: FILES.encryptedData, sha256: FILES.encryptedSha256 },
];

/** Whether a data key names an age-encrypted backup (`….age`). */
export function isEncryptedKey(key: string): boolean {
  return key.endsWith(".age");
}

/** The last part of a key: `p/2026/11/24/full.sql.zst` → `full.sql.zst`. */
export function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}

/** Strips leading and trailing slashes: `/a/b/` → `a/b`. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

/**
 * The `YYYY/MM/DD` of an instant in a time zone.
 *
 * @param date the instant
 * @param timeZone IANA zone; the date folder follows the operator's calendar
 */
export function datePath(date: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}/${get("month")}/${get("day")}`;
}

/**
 * The keys of the backup taken at `date`.
 *
 * @param encrypted whether the data object is age-encrypted (`full.sql.zst.age`)
 * @example
 * ```ts
 * keysForDate("postgresql-18", new Date("2026-11-25T01:00:00Z"), "America/Sao_Paulo").data;
 * // "postgresql-18/2026/11/24/full.sql.zst"
 * ```
 */
export function keysForDate(
  prefix: string,
  date: Date,
  timeZone: string,
  encrypted = false,
): BackupKeys {
  return keysInDir(`${withSlash(prefix)}${datePath(date, timeZone)}/`, encrypted);
}

/**
 * The keys of the backup whose data object is `dataKey`: encrypted when it ends with `.age`, so
 * the `.sha256` follows the data key.
 */
export function keysForDataKey(dataKey: string): BackupKeys {
  const slash = dataKey.lastIndexOf("/");
  return keysInDir(slash === -1 ? "" : dataKey.slice(0, slash + 1), isEncryptedKey(dataKey));
}

function keysInDir(dir: string, encrypted: boolean): BackupKeys {
  const files = DATA_FILES[encrypted ? 1 : 0]!;
  return {
    dir,
    data: dir + files.data,
    sha256: dir + files.sha256,
    manifest: dir + FILES.manifest,
    drillReport: dir + FILES.drillReport,
  };
}

/** `<prefix>/` (or empty for an empty prefix). */
export function withSlash(prefix: string): string {
  const p = normalizePrefix(prefix);
  return p === "" ? "" : `${p}/`;
}

/** Folder that holds every run's staged objects: `<prefix>/.tmp/`. */
export function tempRoot(prefix: string): string {
  return `${withSlash(prefix)}.tmp/`;
}

/**
 * A run's own staging folder, unique per run: `<prefix>/.tmp/<UTC time>-<random>/`.
 *
 * @param prefix the backup prefix
 * @param now the run's start
 */
export function runTempDir(prefix: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const random = crypto.randomUUID().slice(0, 8);
  return `${tempRoot(prefix)}${stamp}-${random}/`;
}

/**
 * The day of a backup folder key, `<prefix>/YYYY/MM/DD/...` → `YYYY-MM-DD`.
 *
 * @returns the day, or undefined when the key is not inside a date folder of the prefix
 */
export function dayOfKey(prefix: string, key: string): string | undefined {
  const head = withSlash(prefix);
  if (!key.startsWith(head)) return undefined;
  const m = /^(\d{4})\/(\d{2})\/(\d{2})\//.exec(key.slice(head.length));
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}
