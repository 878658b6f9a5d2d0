/**
 * The data-loss tripwire: after a backup, compare its row counts with the previous complete
 * backup's manifest.json and name every table that disappeared or lost more than
 * SHRINK_WARN_PERCENT of its rows. It warns and never fails the backup: the backup it just
 * wrote is correct, and the point is to notice before retention expires the older, good copies.
 *
 * @module
 */
import type { DumpCounts } from "../dump_stream.ts";

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
