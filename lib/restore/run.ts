/**
 * What a drill, a check (`--verify-only`) and a recovery share: the server the SCRATCH_*
 * settings name, the tools and bucket they check first, step timings for the report's
 * `phases_ms`, and the row-count comparison of a server with what a backup holds.
 *
 * @module
 */
import { presentIdentityKeys } from "../age.ts";
import { withSlash } from "../bucket/keys.ts";
import { compareCounts } from "../bucket/manifest.ts";
import type { DrillConfig } from "../config.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { SmokeError } from "../errors.ts";
import { countDatabase, listDatabases } from "../pg/client.ts";
import { type PgConnection, toolVersion } from "../pg/tools.ts";
import type { ProgramContext } from "../main.ts";

/** The server SCRATCH_* names: the drill's scratch sidecar, or a recovery's target. */
export function serverOf(config: DrillConfig): PgConnection {
  return {
    host: config.scratchHost,
    port: config.scratchPort,
    user: config.scratchUser,
    password: config.scratchPassword,
  };
}

/**
 * The restore side's preflight: zstd and psql (and age with the identities of
 * AGE_IDENTITY_FILE, when it is set) answer, and the bucket is reachable.
 *
 * @returns the tools' versions and identities, for the `preflight OK` line
 * @throws {PreflightError} naming the missing tool or unreadable identity file
 */
export async function checkRestoreTools(
  config: DrillConfig,
  ctx: ProgramContext,
): Promise<Record<string, unknown>> {
  const identityFile = config.ageIdentityFile;
  const [zstd, psql, age, identities] = await Promise.all([
    toolVersion("zstd", ctx.childEnv),
    toolVersion("psql", ctx.childEnv),
    identityFile ? toolVersion("age", ctx.childEnv) : undefined,
    // A set identity file that is there must hold identities; a missing one matters only for
    // an encrypted backup (finding the backup says so).
    identityFile ? presentIdentityKeys(identityFile, ctx.childEnv) : undefined,
  ]);
  await ctx.store.checkBucket(withSlash(config.s3Prefix));
  return {
    zstd_version: zstd.version,
    psql_version: psql.version,
    ...(age ? { age_version: age.version, age_identities: identities ?? [] } : {}),
  };
}

/** A run made of named steps, each timed into `phases`. */
export class PhasedRun {
  /** Milliseconds per step, in the order they ran. */
  readonly phases: Record<string, number> = {};

  /** Runs a step and records its duration under `phases[name]`. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.phases[name] = Math.round(performance.now() - t);
    }
  }
}

/**
 * Counts a server's databases and compares them with what a backup holds.
 *
 * @param server the server
 * @param expected rows per table per database (and large objects), from a manifest or the dump
 * @param what the start of the failure's message
 * @param hint what to do about a difference
 * @returns the server's counts
 * @throws {SmokeError} `smoke FAILED: <what>: …` naming every difference
 */
export async function compareCountsOn(
  server: PgConnection,
  expected: DumpCounts,
  what: string,
  hint: string,
): Promise<DumpCounts> {
  const present = new Set(await listDatabases(server));
  const counted: DumpCounts = {};
  for (const [db, counts] of Object.entries(expected)) {
    if (!present.has(db)) continue;
    counted[db] = await countDatabase(server, db, Object.keys(counts.tables));
  }
  const diffs = compareCounts(expected, counted);
  if (diffs.length > 0) throw new SmokeError(`smoke FAILED: ${what}: ${diffs.join("; ")}`, hint);
  return counted;
}
