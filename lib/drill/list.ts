/**
 * `restore-drill --list`: every backup under the prefix, newest first, one line each (its date
 * and retention class, size, databases, tables and rows, plain or encrypted, the last drill's
 * verdict, when its bytes were last found whole, its age, the databases it left out), then one
 * line that sums up. `--json` prints the same as a JSON array. It reads only the bucket: the
 * drill's read-only key is enough, and no scratch server is needed. The lines go to stdout; the
 * log stays on stderr.
 *
 * @module
 */
import { type Catalog, checksOf, readCatalog } from "../bucket/catalog.ts";
import type { Verdict } from "../bucket/drill_record.ts";
import { isEncryptedKey, withSlash } from "../bucket/keys.ts";
import { totals } from "../bucket/manifest.ts";
import type { RetentionClass } from "../bucket/retention_class.ts";
import type { DrillConfig } from "../config.ts";
import { ConfigError } from "../errors.ts";
import type { ProgramContext } from "../program.ts";

/** One backup as `--list --json` prints it. */
export interface ListedBackup {
  /** `YYYY-MM-DD`, its folder's date. */
  readonly date: string;
  /** Its data object. */
  readonly key: string;
  /** Its retention class; null for a backup written before retention classes. */
  readonly class: RetentionClass | null;
  /** Size of the data object as stored. */
  readonly compressed_bytes: number;
  /** How many databases it holds; null without a readable manifest (as tables and rows). */
  readonly databases: number | null;
  readonly tables: number | null;
  readonly rows: number | null;
  readonly encrypted: boolean;
  /**
   * The last drill's verdict: its drill-report.json, or FAILED when a later drill that re-read it
   * as an older backup found its sha256 wrong; null when it was never drilled.
   */
  readonly drill: Verdict | null;
  /** The databases it left out; null when its manifest does not say. */
  readonly skipped_databases: readonly string[] | null;
  /** When a drill last found it whole (drilled OK, or its sha256 re-checked OK); null if never. */
  readonly last_checked: string | null;
  /** Hours since its data object was written, one decimal. */
  readonly age_hours: number;
}

/**
 * Whether this run is `--list`, checking the settings that go with it.
 *
 * @returns true for `--list` (text or `--json`)
 * @throws {ConfigError} `--json` without `--list`, or `--list` with another mode (exit code 2)
 */
export function isListRun(config: DrillConfig): boolean {
  if (config.listJson && !config.list) {
    throw new ConfigError(
      ["--json (LIST_JSON) applies only with --list (LIST=true)"],
      "add --list to print the backups as JSON, or leave --json out",
    );
  }
  if (!config.list) return false;
  const others = [
    config.recover && "--recover",
    config.verifyOnly && "--verify-only",
    config.backupKey && "--key",
  ].filter(Boolean);
  if (others.length > 0) {
    throw new ConfigError(
      [`--list (LIST=true) does not go with ${others.join(", ")}`],
      "run --list on its own: it lists every backup and restores nothing",
    );
  }
  return true;
}

/**
 * Lists the backups: prints them to stdout (through `print`) and logs `list OK`.
 *
 * @param print writes one line to stdout
 * @returns the backups, newest first
 * @throws {StoreError} when the bucket cannot be listed or read
 */
export async function runList(
  config: DrillConfig,
  ctx: ProgramContext,
  print: (line: string) => void = (line) => console.log(line),
): Promise<ListedBackup[]> {
  const catalog = await readCatalog(ctx.store, config.s3Prefix);
  const now = ctx.now();
  const backups = listedBackups(catalog, now);
  if (config.listJson) print(JSON.stringify(backups, null, 2));
  else {
    const where = `s3://${ctx.store.bucket}/${withSlash(config.s3Prefix)}`;
    for (const line of listText(backups, catalog, now, where)) print(line);
  }
  ctx.log.info("list", "list OK", {
    backups: backups.length,
    bytes: backups.reduce((n, b) => n + b.compressed_bytes, 0),
    incomplete: catalog.incomplete.map((f) => f.dir),
    leftovers: catalog.leftovers.map((f) => f.dir),
  });
  return backups;
}

/** The catalog's backups as listed, newest first. */
export function listedBackups(catalog: Catalog, now: Date): ListedBackup[] {
  const checks = checksOf(catalog.backups);
  return [...catalog.backups].reverse().map(({ day, data, manifest }) => {
    const all = checks.get(data.key) ?? [];
    const drilled = all.findLast((c) => c.how === "drill");
    const afterDrill = all.filter((c) => drilled === undefined || after(c.at, drilled.at));
    const rotten = afterDrill.some((c) => c.how === "sha256" && c.result === "FAILED");
    const lastOk = all.findLast((c) => c.result === "OK");
    const sum = manifest ? totals(manifest.databases) : undefined;
    return {
      date: day,
      key: data.key,
      class: manifest?.retention_class ?? null,
      compressed_bytes: data.size,
      databases: sum?.databases ?? null,
      tables: sum?.tables ?? null,
      rows: sum?.rows ?? null,
      encrypted: isEncryptedKey(data.key),
      drill: rotten ? "FAILED" : drilled?.result ?? null,
      skipped_databases: manifest?.skipped_databases?.map((d) => d.name) ?? null,
      last_checked: lastOk?.at?.toISOString() ?? null,
      age_hours: Math.round((now.getTime() - data.lastModified.getTime()) / 360_000) / 10,
    };
  });
}

/** Whether `a` is later than `b` (a check without a time is earliest). */
function after(a: Date | undefined, b: Date | undefined): boolean {
  return (a?.getTime() ?? -Infinity) > (b?.getTime() ?? -Infinity);
}

const COLUMNS = [
  "DATE",
  "CLASS",
  "SIZE",
  "DATABASES",
  "TABLES",
  "ROWS",
  "ENCRYPTED",
  "DRILL",
  "CHECKED",
  "AGE",
  "SKIPPED",
] as const;

/** Columns aligned right (numbers). */
const RIGHT = new Set(["SIZE", "DATABASES", "TABLES", "ROWS", "CHECKED", "AGE"]);

const NONE = "—";

/**
 * The text of `--list`: a header, one aligned line per backup, and the summary line.
 *
 * @param where `s3://bucket/prefix/`, for the summary of an empty prefix
 */
export function listText(
  backups: readonly ListedBackup[],
  catalog: Catalog,
  now: Date,
  where: string,
): string[] {
  const rows: string[][] = backups.map((b) => [
    b.date,
    b.class ?? NONE,
    formatBytes(b.compressed_bytes),
    b.databases === null ? NONE : String(b.databases),
    b.tables === null ? NONE : String(b.tables),
    b.rows === null ? NONE : String(b.rows),
    b.encrypted ? "encrypted" : "plain",
    b.drill ?? NONE,
    b.last_checked === null
      ? NONE
      : `${formatAge((now.getTime() - Date.parse(b.last_checked)) / 3_600_000)} ago`,
    formatAge(b.age_hours),
    b.skipped_databases === null || b.skipped_databases.length === 0
      ? NONE
      : b.skipped_databases.join(","),
  ]);
  const table = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = backups.length === 0 ? [] : table.map((r) =>
    r.map((cell, i) => {
      const last = i === COLUMNS.length - 1;
      if (last) return cell;
      return RIGHT.has(COLUMNS[i]!) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
    }).join("  ").trimEnd()
  );
  return [...lines, summary(backups, catalog, where)];
}

/** `3 backups: newest 2026-11-29, oldest 2026-11-01, 3.6 MiB in all` */
function summary(backups: readonly ListedBackup[], catalog: Catalog, where: string): string {
  const incomplete = catalog.incomplete.length === 0
    ? ""
    : `; ${catalog.incomplete.length} incomplete folder${
      catalog.incomplete.length === 1 ? "" : "s"
    } not listed (no data object with its .sha256): ${
      catalog.incomplete.map((f) => f.dir).join(", ")
    }`;
  if (backups.length === 0) return `no backups under ${where}${incomplete}`;
  const bytes = backups.reduce((n, b) => n + b.compressed_bytes, 0);
  const count = backups.length === 1 ? "1 backup" : `${backups.length} backups`;
  return `${count}: newest ${backups[0]!.date}, oldest ${backups.at(-1)!.date}, ${
    formatBytes(bytes)
  } in all${incomplete}`;
}

/**
 * A size for people: bytes up to 1 KiB, then KiB, MiB, GiB, TiB with one decimal.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * An age for people: whole hours up to two days, then whole days.
 *
 * @example
 * ```ts
 * formatAge(30.5); // "30h"
 * formatAge(50); // "2d"
 * ```
 */
export function formatAge(hours: number): string {
  return hours < 48 ? `${Math.max(0, Math.floor(hours))}h` : `${Math.floor(hours / 24)}d`;
}
