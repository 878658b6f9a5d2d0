/**
 * The data-loss tripwire: after a backup, compare its row counts with the previous complete
 * backup's manifest.json and name every table that disappeared or lost more than
 * SHRINK_WARN_PERCENT of its rows. It warns and never fails the backup: the backup it just
 * wrote is correct, and the point is to notice before retention expires the older, good copies.
 *
 * @module
 */
import { FILES } from "../bucket/keys.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { findNewestBackup } from "../bucket/find.ts";
import type { Log } from "../log.ts";
import { parseManifest } from "../bucket/manifest.ts";
import type { ObjectStore } from "../s3/object_store.ts";

/** What the tripwire compares: the new backup's folder and counts, under a prefix. */
export interface TripwireInput {
  readonly prefix: string;
  /** The new backup's folder, `<prefix>/YYYY/MM/DD/`: the previous one sorts before it. */
  readonly dir: string;
  readonly counts: DumpCounts;
  /** SHRINK_WARN_PERCENT */
  readonly percent: number;
}

const SHRANK_HINT =
  'if nobody meant this, copy the older backups aside before retention expires them (RUNBOOK.md, section "PostgresBackupTablesShrunk")';

/**
 * Compares the new backup with the previous complete one (the newest earlier folder with a
 * manifest.json) and logs one `table shrank` warning per table that disappeared or shrank past
 * the limit. Never throws: a comparison that cannot run is a warning.
 *
 * @returns how many tables shrank (0 when there is no earlier backup), or undefined when the
 *   comparison could not run
 */
export async function runTripwire(
  store: ObjectStore,
  input: TripwireInput,
  log: Log,
): Promise<number | undefined> {
  let previousKey: string | undefined;
  let before: DumpCounts;
  try {
    const previous = await findNewestBackup(store, input.prefix, {
      before: input.dir,
      needManifest: true,
    });
    if (previous === undefined) {
      log.info("tripwire", "tripwire skipped: no earlier backup with manifest.json", {
        prefix: input.prefix,
      });
      return 0;
    }
    previousKey = previous.dir + FILES.manifest;
    const text = await store.getText(previousKey);
    if (text === undefined) throw new Error(`${previousKey} is gone`);
    before = parseManifest(text).databases;
  } catch (err) {
    log.warn("tripwire", "tripwire skipped: could not read the previous manifest", {
      key: previousKey,
      error: err instanceof Error ? err.message.split("\n")[0] : String(err),
      hint: "the new backup is complete; if this repeats, check that key (and S3 access to it)",
    });
    return undefined;
  }
  const shrunk = shrunkTables(before, input.counts, input.percent);
  for (const table of shrunk) {
    log.warn("tripwire", "table shrank", {
      database: table.database,
      table: table.table,
      rows_before: table.rowsBefore,
      rows_after: table.rowsAfter,
      disappeared: table.disappeared,
      previous: previousKey,
      shrink_warn_percent: input.percent,
      hint: SHRANK_HINT,
    });
  }
  if (shrunk.length === 0) {
    log.info("tripwire", "tripwire OK", {
      previous: previousKey,
      shrink_warn_percent: input.percent,
    });
  }
  return shrunk.length;
}

/** A table of the previous backup that disappeared or shrank past the limit. */
export interface ShrunkTable {
  readonly database: string;
  readonly table: string;
  readonly rowsBefore: number;
  /** 0 when the table (or its database) is gone. */
  readonly rowsAfter: number;
  /** The table, or its whole database, is not in the new backup. */
  readonly disappeared: boolean;
}

/**
 * The tables of `before` that are gone from `after`, or lost more than `percent` of their rows.
 * A table that was empty can only disappear; new tables and growth are not looked at.
 *
 * @param before counts of the previous backup's manifest
 * @param after counts of the new backup
 * @param percent the loss that warns, from 0 (any loss) to 100 (only tables that disappeared)
 * @returns in the order of `before`
 * @example
 * ```ts
 * shrunkTables(
 *   { app: { tables: { "public.orders": 1000, "public.t": 10 }, largeObjects: 0 } },
 *   { app: { tables: { "public.orders": 400 }, largeObjects: 0 } },
 *   50,
 * );
 * // [{ database: "app", table: "public.orders", rowsBefore: 1000, rowsAfter: 400, disappeared: false },
 * //  { database: "app", table: "public.t", rowsBefore: 10, rowsAfter: 0, disappeared: true }]
 * ```
 */
export function shrunkTables(
  before: DumpCounts,
  after: DumpCounts,
  percent: number,
): ShrunkTable[] {
  const shrunk: ShrunkTable[] = [];
  for (const [database, previous] of Object.entries(before)) {
    const now = after[database]?.tables;
    for (const [table, rowsBefore] of Object.entries(previous.tables)) {
      const rowsAfter = now?.[table];
      if (rowsAfter === undefined) {
        shrunk.push({ database, table, rowsBefore, rowsAfter: 0, disappeared: true });
      } else if ((rowsBefore - rowsAfter) * 100 > percent * rowsBefore) {
        // Whole numbers only: "lost more than percent%" without rounding.
        shrunk.push({ database, table, rowsBefore, rowsAfter, disappeared: false });
      }
    }
  }
  return shrunk;
}
