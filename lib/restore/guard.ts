/**
 * The restore side's first step, before anything is read: the server SCRATCH_* names must be on
 * this pod unless the operator allowed otherwise, and the tools and the bucket must answer.
 *
 * @module
 */
import { presentIdentityKeys } from "../age.ts";
import { withSlash } from "../bucket/keys.ts";
import { PreflightError } from "../errors.ts";
import { toolVersion } from "../pg/tools.ts";
import type { RestoreRun } from "./run.ts";

/**
 * Whether a host is a loopback address: `localhost`, 127.0.0.0/8 or ::1. Names are not
 * resolved, so the answer never needs the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((n) => Number(n) <= 255);
}

/**
 * Guards the run: refuses a server off this pod (without SCRATCH_ALLOW_REMOTE), then checks
 * zstd and psql (and age with the identities of AGE_IDENTITY_FILE, when it is set) and the
 * bucket.
 *
 * @returns the tools' versions and identities, for the `preflight OK` line
 * @throws {PreflightError} naming the host, the missing tool or the unreadable identity file
 * @throws {StoreError} when the bucket cannot be reached
 */
export async function guardTarget(run: RestoreRun): Promise<Record<string, unknown>> {
  const { config, ctx, server } = run;
  if (!isLoopbackHost(server.host) && !config.allowRemoteScratch) {
    const { what, hint } = run.wording.refuseRemote(server.host);
    throw new PreflightError(what, hint);
  }
  const identityFile = config.ageIdentityFile;
  const [zstd, psql, age, identities] = await Promise.all([
    toolVersion("zstd", ctx.childEnv),
    toolVersion("psql", ctx.childEnv),
    identityFile ? toolVersion("age", ctx.childEnv) : undefined,
    // A set identity file that is there must hold identities; a missing one matters only for
    // an encrypted backup (opening the backup says so).
    identityFile ? presentIdentityKeys(identityFile, ctx.childEnv) : undefined,
  ]);
  await ctx.store.checkBucket(withSlash(config.s3Prefix));
  return {
    zstd_version: zstd.version,
    psql_version: psql.version,
    ...(age ? { age_version: age.version, age_identities: identities ?? [] } : {}),
  };
}
