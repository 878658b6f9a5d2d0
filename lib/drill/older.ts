/**
 * The drill's second look: besides the newest backup, each drill reads CHECK_OLDER older
 * retained backups in full and checks their bytes against their `.sha256`, so a backup that
 * rots in the bucket is found while newer ones still exist, not on the day it is needed. Which
 * ones: those checked longest ago, never-checked first, ties oldest first, as the drill reports
 * in the bucket record it (a drill of the backup that passed, or an `older_backups` entry that
 * said OK), so successive drills cover every retained backup without any state of their own.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type CatalogEntry, checksOf, readCatalog } from "../bucket/catalog.ts";
import type { OlderCheck } from "../bucket/drill_record.ts";
import { keysForDataKey } from "../bucket/keys.ts";
import { parseSha256Line } from "../checksum.ts";
import { ChecksumMismatchError, StoppedError, StoreError, ToolboxError } from "../errors.ts";
import { reportProgress } from "../progress.ts";
import type { RestoreRun } from "../restore/run.ts";
import { isNotFound } from "../s3/failure.ts";

/** An older backup chosen for a check, and when it was last found whole. */
export interface OlderPick {
  readonly entry: CatalogEntry;
  /** The last drill that found it whole; undefined when none did. */
  readonly lastChecked: Date | undefined;
}

/**
 * The older backups to check: every complete backup but the one drilled, never-checked first,
 * then least recently checked, ties oldest first.
 *
 * @param backups the catalog's complete backups
 * @param drilled the data key the drill restored (its whole folder is left out)
 * @param count CHECK_OLDER
 */
export function pickOlder(
  backups: readonly CatalogEntry[],
  drilled: string,
  count: number,
): OlderPick[] {
  const checks = checksOf(backups);
  const drilledDir = keysForDataKey(drilled).dir;
  const time = (d: Date | undefined) => d?.getTime() ?? -Infinity;
  return backups
    .filter((b) => b.dir !== drilledDir)
    .map((entry) => ({
      entry,
      lastChecked: (checks.get(entry.data.key) ?? []).findLast((c) => c.result === "OK")?.at,
    }))
    .sort((a, b) =>
      time(a.lastChecked) - time(b.lastChecked) || a.entry.day.localeCompare(b.entry.day)
    )
    .slice(0, count);
}

/** What the older check found. */
export interface OlderOutcome {
  /**
   * One entry per backup read to its end (the drill report's `older_backups`), then those an
   * earlier report of the same backup had for backups not read this time.
   */
  readonly checks: OlderCheck[];
  /** The first problem: a sha256 mismatch, or an S3 failure; thrown once the report is stored. */
  readonly failure: ToolboxError | undefined;
}

/**
 * Reads CHECK_OLDER older backups in full, one after another, hashing the bytes as stored (an
 * encrypted backup is not decrypted), and compares each with its `.sha256`. Logs
 * `older backup sha256 OK` (key, sha256, bytes) or `older backup sha256 mismatch`. A backup
 * that expired since the listing is skipped.
 *
 * @param drilled the data key the drill restored
 * @returns the checks for the report, and the failure to throw after it is stored
 */
export async function checkOlderBackups(run: RestoreRun, drilled: string): Promise<OlderOutcome> {
  const { config, ctx, log } = run;
  const checks: OlderCheck[] = [];
  const catalog = await readCatalog(ctx.store, config.s3Prefix, { manifests: false });
  const picks = pickOlder(catalog.backups, drilled, config.checkOlder);
  if (picks.length === 0) {
    log.info("older", "no older backup to check", { retained: catalog.backups.length });
    return { checks, failure: undefined };
  }
  let failure: ToolboxError | undefined;
  for (const pick of picks) {
    try {
      const check = await checkOne(run, pick);
      if (check === undefined) continue;
      checks.push(check.result);
      failure ??= check.mismatch;
    } catch (err) {
      // A stop is no verdict; anything else the drill does not know is a bug, thrown as it is.
      if (!(err instanceof ToolboxError) || err instanceof StoppedError) throw err;
      failure ??= err;
      break;
    }
  }
  return { checks: [...checks, ...carriedOver(catalog.backups, drilled, checks)], failure };
}

/**
 * The entries of an earlier report of the same backup (a drill run again on it) for backups not
 * read this time, with their own times: the rotation keeps what that drill found.
 */
function carriedOver(
  backups: readonly CatalogEntry[],
  drilled: string,
  now: readonly OlderCheck[],
): OlderCheck[] {
  const report = backups.find((b) => b.dir === keysForDataKey(drilled).dir)?.report;
  if (report === undefined) return [];
  const read = new Set(now.map((c) => c.key));
  const kept = new Set(backups.map((b) => b.data.key));
  return report.olderBackups
    .filter((c) => !read.has(c.key) && kept.has(c.key))
    .map((c) => ({
      ...c,
      ...(c.checked_at === undefined && report.drilledAt
        ? { checked_at: report.drilledAt.toISOString() }
        : {}),
    }));
}

/** Reads one older backup; undefined when it is gone (expired since the listing). */
async function checkOne(
  run: RestoreRun,
  pick: OlderPick,
): Promise<{ result: OlderCheck; mismatch: ChecksumMismatchError | undefined } | undefined> {
  const { ctx, log, config } = run;
  const key = pick.entry.data.key;
  const sha256Key = keysForDataKey(key).sha256;
  log.info("older", "reading older backup", {
    key,
    bytes: pick.entry.data.size,
    last_checked: pick.lastChecked?.toISOString() ?? null,
  });
  const text = await ctx.store.getText(sha256Key);
  const expected = text === undefined ? undefined : parseSha256Line(text);
  if (text === undefined) return gone(run, key);
  let actual: string;
  let bytes = 0;
  try {
    const download = await ctx.store.read(key);
    const hash = createHash("sha256");
    using _progress = reportProgress(log, "older", config.progressSeconds, () => ({
      key,
      downloaded_bytes: bytes,
    }));
    for await (const chunk of download.stream) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
    actual = hash.digest("hex");
  } catch (err) {
    if (err instanceof StoreError && isNotFound(err.code)) return gone(run, key);
    throw err;
  }
  const checkedAt = ctx.now().toISOString();
  if (actual === expected) {
    log.info("older", "older backup sha256 OK", { key, sha256: actual, bytes });
    return {
      result: { key, sha256: actual, result: "OK", checked_at: checkedAt },
      mismatch: undefined,
    };
  }
  const says = expected ?? "no sha256sum line";
  log.error("older", "older backup sha256 mismatch", { key, expected: says, actual, bytes });
  return {
    result: { key, sha256: actual, result: "FAILED", checked_at: checkedAt },
    mismatch: new ChecksumMismatchError(
      `sha256 mismatch: older backup ${key} hashes to ${actual}, ${sha256Key} says ${says}`,
      `the older backup is damaged or was altered (the newest one passed its drill): drill it with --key ${key} to see what it still holds, check the S3 server's disks, and take a fresh backup now`,
    ),
  };
}

function gone(run: RestoreRun, key: string): undefined {
  run.log.info("older", "older backup gone before it was read; skipped", {
    key,
    why: "it expired (lifecycle or prune) since the listing",
  });
  return undefined;
}
