/**
 * The backup's first step: every tool answers, the bucket is reachable, the source server
 * takes our credentials and pg_dumpall is new enough to dump it. Nothing is uploaded before.
 * It also says what the backup will leave out: pg_dumpall silently skips every database that
 * does not allow connections, so each one is a warn line and a manifest entry.
 *
 * @module
 */
import { PreflightError, reasonOf } from "../errors.ts";
import type { SkippedDatabase } from "../bucket/manifest.ts";
import { databasesNotAllowingConnections, serverVersionNum } from "../pg/client.ts";
import { quoteIdent } from "../pg/ident.ts";
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

/** What preflight learned about the source. */
export interface SourceFacts {
  readonly versions: SourceVersions;
  /** The databases pg_dumpall will skip, by name. */
  readonly skipped: readonly SkippedDatabase[];
}

/** Why pg_dumpall skips a database, as manifest.json records it. */
export const NO_CONNECTIONS = "does not allow connections";

/**
 * Checks tools, bucket and source at once and reports failures in a fixed order: tools, bucket,
 * source. Logs `preflight OK`, then one `database not in the backup` warning per database that
 * does not allow connections.
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
): Promise<SourceFacts> {
  const [dumpallR, zstdR, ageR, bucketR, serverR, skippedR] = await Promise.allSettled([
    toolVersion("pg_dumpall", ctx.childEnv),
    toolVersion("zstd", ctx.childEnv),
    encrypted ? toolVersion("age", ctx.childEnv) : Promise.resolve(undefined),
    ctx.store.checkBucket(withSlash(prefix)),
    serverVersionNum(source),
    databasesNotAllowingConnections(source),
  ]);
  for (const r of [dumpallR, zstdR, ageR, bucketR]) if (r.status === "rejected") throw r.reason;
  const pgDumpall = (dumpallR as PromiseFulfilledResult<ToolVersion>).value;
  const zstd = (zstdR as PromiseFulfilledResult<ToolVersion>).value;
  const age = (ageR as PromiseFulfilledResult<ToolVersion | undefined>).value;
  // The same connection settings: a failure of either is the source's.
  const sourceFailure = serverR.status === "rejected"
    ? serverR.reason
    : skippedR.status === "rejected"
    ? skippedR.reason
    : undefined;
  if (serverR.status === "rejected" || skippedR.status === "rejected") {
    throw new PreflightError(
      `cannot connect to source PostgreSQL ${source.host}:${source.port} as ${source.user}: ${
        reasonOf(sourceFailure)
      }`,
      "check PGHOST, PGPORT, PGUSER and PGPASSWORD (secret postgresql-auth, key admin-password)",
      undefined,
      { cause: sourceFailure },
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
  const skipped = skippedR.value.map((name) => ({ name, reason: NO_CONNECTIONS }));
  for (const { name } of skipped) {
    ctx.log.warn("preflight", "database not in the backup", {
      database: name,
      why: "it does not allow connections (datallowconn is false), so pg_dumpall skips it",
      hint: `if it must be kept, run ALTER DATABASE ${
        quoteIdent(name)
      } ALLOW_CONNECTIONS true on the source before the next backup; if it is not needed, drop it`,
    });
  }
  return { versions: { server, pgDumpall: pgDumpall.version }, skipped };
}
