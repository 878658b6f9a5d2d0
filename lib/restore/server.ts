/**
 * Waiting for the server a restore-side run restores into (or compares), and refusing one that
 * cannot take the backup: pg_dumpall's output loads only into a server of the same major version
 * or a newer one, so an older server is refused before any download or change, in one line,
 * instead of psql stopping at the first statement it does not know.
 *
 * @module
 */
import type { Manifest } from "../bucket/manifest.ts";
import { PreflightError, reasonOf } from "../errors.ts";
import { type ServerVersion, serverVersion, waitForServer } from "../pg/client.ts";
import { parseVersion, serverVersionText } from "../pg/tools.ts";
import type { RestoreRun } from "./run.ts";

/**
 * Waits up to SCRATCH_WAIT_SECONDS for the server, reads its version and refuses it when it is
 * older than the backup's pg_dumpall (when the manifest records it).
 *
 * @returns the server's version
 * @throws {PreflightError} when it did not answer in time, or is too old for the backup
 */
export async function waitForTarget(
  run: RestoreRun,
  manifest: Manifest | undefined,
): Promise<ServerVersion> {
  const { config, ctx, server, wording } = run;
  const last = await waitForServer(server, config.scratchWaitSeconds, ctx.signal);
  if (last !== undefined) {
    throw new PreflightError(
      `${wording.server} PostgreSQL ${server.host}:${server.port} did not accept connections within ${config.scratchWaitSeconds} s: ${
        reasonOf(last)
      }`,
      wording.waitHint,
    );
  }
  const version = await serverVersion(server);
  refuseOlderServer(run, version, manifest);
  return version;
}

/**
 * Refuses a server whose major version is older than the pg_dumpall that wrote the backup.
 *
 * @throws {PreflightError} naming both versions
 */
export function refuseOlderServer(
  run: RestoreRun,
  version: ServerVersion,
  manifest: Manifest | undefined,
): void {
  const dumpall = manifest ? parseVersion(manifest.pg_dumpall_version) : undefined;
  if (dumpall === undefined || version.major >= dumpall.major) return;
  const { server } = run;
  throw new PreflightError(
    `refusing to restore into PostgreSQL ${
      serverVersionText(version.num)
    } at ${server.host}:${server.port}: the backup was written by pg_dumpall ${dumpall.version}, and pg_dumpall output loads only into the same or a newer major version`,
    run.wording.olderHint(dumpall.major),
  );
}
