/**
 * The backup's first step: every tool answers, the bucket is reachable, the source server
 * takes our credentials and pg_dumpall is new enough to dump it. Nothing is uploaded before.
 *
 * @module
 */
import { PreflightError, reasonOf } from "../errors.ts";
import { serverVersionNum } from "../pg/client.ts";
import {
  CLIENT_HINT,
  type PgConnection,
  serverVersionText,
  type ToolVersion,
  toolVersion,
} from "../pg/tools.ts";
import { withSlash } from "../bucket/keys.ts";
import type { ProgramContext } from "../program.ts";

/** The versions the manifest records. */
export interface SourceVersions {
  /** The source server's, e.g. `18.4`. */
  readonly server: string;
  /** pg_dumpall's, e.g. `18.6`. */
  readonly pgDumpall: string;
}

/**
 * Checks tools, bucket and source at once and reports failures in a fixed order: tools, bucket,
 * source. Logs `preflight OK`.
 *
 * @param encrypted whether age must answer too
 * @throws {PreflightError} naming the tool, the source's reason, or the version mismatch
 * @throws {StoreError} when the bucket cannot be reached
 */
export async function preflight(
  ctx: ProgramContext,
  source: PgConnection,
  prefix: string,
  encrypted: boolean,
): Promise<SourceVersions> {
  const [dumpallR, zstdR, ageR, bucketR, serverR] = await Promise.allSettled([
    toolVersion("pg_dumpall", ctx.childEnv),
    toolVersion("zstd", ctx.childEnv),
    encrypted ? toolVersion("age", ctx.childEnv) : Promise.resolve(undefined),
    ctx.store.checkBucket(withSlash(prefix)),
    serverVersionNum(source),
  ]);
  for (const r of [dumpallR, zstdR, ageR, bucketR]) if (r.status === "rejected") throw r.reason;
  const pgDumpall = (dumpallR as PromiseFulfilledResult<ToolVersion>).value;
  const zstd = (zstdR as PromiseFulfilledResult<ToolVersion>).value;
  const age = (ageR as PromiseFulfilledResult<ToolVersion | undefined>).value;
  if (serverR.status === "rejected") {
    throw new PreflightError(
      `cannot connect to source PostgreSQL ${source.host}:${source.port} as ${source.user}: ${
        reasonOf(serverR.reason)
      }`,
      "check PGHOST, PGPORT, PGUSER and PGPASSWORD (secret postgresql-auth, key admin-password)",
      undefined,
      { cause: serverR.reason },
    );
  }
  const serverNum = serverR.value;
  const server = serverVersionText(serverNum);
  const serverMajor = Math.floor(serverNum / 10000);
  if (serverMajor > pgDumpall.major) {
    throw new PreflightError(
      `pg_dumpall ${pgDumpall.version} cannot dump server ${server}: the client is older than the server`,
      `dumping PostgreSQL ${serverMajor} needs pg_dumpall ${serverMajor} or newer; ${CLIENT_HINT}`,
    );
  }
  ctx.log.info("preflight", "preflight OK", {
    server_version: server,
    pg_dumpall_version: pgDumpall.version,
    zstd_version: zstd.version,
    ...(age ? { age_version: age.version } : {}),
    bucket: ctx.store.bucket,
  });
  return { server, pgDumpall: pgDumpall.version };
}
