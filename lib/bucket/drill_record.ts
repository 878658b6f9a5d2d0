/**
 * What a stored `drill-report.json` says, as far as the bucket's keepers care: its verdict
 * (`OK`, or `FAILED` for a drill that failed after it found its backup), when the drill ran,
 * the backup it drilled, and the older backups it re-read in full. Prune keeps the newest
 * backup whose report says OK; `--list` shows each backup's last verdict; the drill picks the
 * older backups checked longest ago. Reports written by any version are read: an unknown shape
 * has no verdict, never an error.
 *
 * @module
 */
import type { ObjectStore } from "../s3/object_store.ts";

/** A drill's verdict on one backup. */
export type Verdict = "OK" | "FAILED";

/** An older backup a drill read in full and checked against its `.sha256`. */
export interface OlderCheck {
  /** Its data object. */
  readonly key: string;
  /** The sha256 of the bytes read. */
  readonly sha256: string;
  readonly result: Verdict;
  /**
   * When it was read (ISO 8601). A drill that runs again on the same backup keeps the earlier
   * drill's entries for backups it did not read, with their own time. Absent: the report's
   * `drilled_at`.
   */
  readonly checked_at?: string;
}

/** A stored drill report, as far as retention, `--list` and the older check read it. */
export interface DrillRecord {
  /** The verdict; undefined when the report does not say (unreadable, or another shape). */
  readonly result: Verdict | undefined;
  /** When the drill ran; undefined when the report does not say. */
  readonly drilledAt: Date | undefined;
  /** The data object drilled (`backup.key`). */
  readonly key: string | undefined;
  /** Older backups the drill re-read (empty for reports written before it did). */
  readonly olderBackups: readonly OlderCheck[];
}

/**
 * Reads a drill report's text; never throws.
 *
 * @example
 * ```ts
 * readDrillRecord('{"result":"OK","drilled_at":"2026-11-29T06:00:00.000Z"}').result; // "OK"
 * readDrillRecord("x").result; // undefined
 * ```
 */
export function readDrillRecord(text: string): DrillRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const obj = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const result = obj.result === "OK" || obj.result === "FAILED" ? obj.result : undefined;
  const at = typeof obj.drilled_at === "string" ? new Date(obj.drilled_at) : undefined;
  const backup = obj.backup as { key?: unknown } | undefined;
  const older = Array.isArray(obj.older_backups) ? obj.older_backups : [];
  return {
    result,
    drilledAt: at && !Number.isNaN(at.getTime()) ? at : undefined,
    key: typeof backup?.key === "string" ? backup.key : undefined,
    olderBackups: older.filter(isOlderCheck),
  };
}

function isOlderCheck(value: unknown): value is OlderCheck {
  const v = value as Partial<OlderCheck> | null;
  return typeof v === "object" && v !== null && typeof v.key === "string" &&
    typeof v.sha256 === "string" && (v.result === "OK" || v.result === "FAILED") &&
    (v.checked_at === undefined || typeof v.checked_at === "string");
}

/**
 * Reads the drill report at `key`.
 *
 * @returns the record, or undefined when there is no such object
 * @throws {StoreError} when it cannot be read
 */
export async function fetchDrillRecord(
  store: ObjectStore,
  key: string,
): Promise<DrillRecord | undefined> {
  const text = await store.getText(key);
  return text === undefined ? undefined : readDrillRecord(text);
}
