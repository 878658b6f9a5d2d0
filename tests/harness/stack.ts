/**
 * The whole test stack: a source PostgreSQL (18 like production, or 15 for the older-source
 * cases) with sample data, Ceph RGW with the backup bucket, and a scratch PostgreSQL 18 for
 * restore drills, started concurrently. The entrypoints run with one PostgreSQL client first on
 * PATH (18 by default: production's pair is pg_dumpall 18 and psql 18). Measured here: up in
 * about 1.5 s (rich sample included), stopped in about 0.5 s.
 *
 * @module
 */

import { type PgServer, startPostgres } from "./postgres.ts";
import { type RgwOptions, type RgwServer, type S3Key, startRgw } from "./rgw.ts";
import { loadRichSample, loadSimpleSample } from "./sample_data.ts";
import { clientPath } from "./run.ts";
import { requireTool } from "./tools.ts";

/** How to start the stack. */
export interface StackOptions {
  /** Which sample to load into the source. @default "rich" */
  sample?: "rich" | "simple" | "none";
  /** The source server's major version: 18 as in production, 15 for an older source. @default 18 */
  source?: 15 | 18;
  /**
   * Whose `pg_dumpall` and `psql` the entrypoints find first on PATH (`backupEnv.PATH`,
   * `drillEnv.PATH`): 18 as in production, 15 for a backup made by older tooling. @default 18
   */
  client?: 15 | 18;
  /** Passed to {@linkcode startRgw}, e.g. bluestore for multi-GiB benchmarks. */
  rgw?: RgwOptions;
}

/** A running stack; dispose it (`await using`) to stop exactly what it started. */
export interface Stack extends AsyncDisposable {
  /** PostgreSQL 18 (or as {@linkcode StackOptions.source} says), superuser `postgres`, sample loaded. */
  readonly source: PgServer;
  /** PostgreSQL 18, superuser `drill_admin`, empty. */
  readonly scratch: PgServer;
  readonly s3: RgwServer;
  /** `homelab-backup-postgres`, created empty. */
  readonly bucket: string;
  /** `postgresql-18` */
  readonly prefix: string;
  /** The sample's databases, e.g. `["app", "analytics", "Weird-DB name"]`. */
  readonly databases: string[];
  /** PATH (the stack's client first), PG*, S3_*, AWS_*, TZ=UTC for `backup.ts`. */
  readonly backupEnv: Record<string, string>;
  /** PATH, S3_*, AWS_*, SCRATCH_PG*, EXPECTED_DATABASES, TZ=UTC for `restore_drill.ts`. */
  readonly drillEnv: Record<string, string>;
  /** Objects in the bucket under `prefix`. @default prefix everything */
  listKeys(prefix?: string): Promise<S3Key[]>;
}

/** The bucket every stack creates. */
export const STACK_BUCKET = "homelab-backup-postgres";

/** The key prefix the stack's environments name. */
export const STACK_PREFIX = "postgresql-18";

/**
 * Start the stack. The three servers start concurrently; if any fails, the others are
 * stopped before the error is thrown.
 *
 * @example
 * ```ts
 * await using stack = await startStack({ sample: "simple" });
 * const run = await runEntrypoint("backup.ts", stack.backupEnv);
 * ```
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  // What the entrypoints run; a missing one should name `make setup`, not fail mid-backup.
  const path = clientPath(opts.client ?? 18);
  requireTool("zstd");
  const started = await Promise.allSettled(
    [
      startPostgres({ version: opts.source ?? 18, name: "source" }),
      startRgw(opts.rgw ?? {}),
      startPostgres({ version: 18, superuser: "drill_admin", name: "scratch" }),
    ] as const,
  );
  const [source, s3, scratch] = started;
  const cleanup = async () => {
    for (const server of started) {
      if (server.status === "fulfilled") await server.value[Symbol.asyncDispose]();
    }
  };
  if (source.status === "rejected" || s3.status === "rejected" || scratch.status === "rejected") {
    await cleanup();
    const failure = started.find((r) => r.status === "rejected") as PromiseRejectedResult;
    throw failure.reason;
  }
  try {
    const [databases] = await Promise.all([
      _loadSample(source.value, opts.sample ?? "rich"),
      s3.value.createBucket(STACK_BUCKET),
    ]);
    return new _Stack(source.value, scratch.value, s3.value, databases, path);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function _loadSample(pg: PgServer, sample: "rich" | "simple" | "none"): Promise<string[]> {
  if (sample === "rich") return loadRichSample(pg);
  if (sample === "simple") return loadSimpleSample(pg);
  return Promise.resolve([]);
}

class _Stack implements Stack {
  readonly bucket = STACK_BUCKET;
  readonly prefix = STACK_PREFIX;
  readonly backupEnv: Record<string, string>;
  readonly drillEnv: Record<string, string>;

  constructor(
    readonly source: PgServer,
    readonly scratch: PgServer,
    readonly s3: RgwServer,
    readonly databases: string[],
    path: string,
  ) {
    const s3Env = {
      PATH: path,
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: this.bucket,
      S3_PREFIX: this.prefix,
      S3_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.accessKey,
      AWS_SECRET_ACCESS_KEY: s3.secretKey,
      TZ: "UTC",
    };
    this.backupEnv = { ...source.env, ...s3Env };
    this.drillEnv = {
      ...s3Env,
      SCRATCH_PGHOST: scratch.host,
      SCRATCH_PGPORT: String(scratch.port),
      SCRATCH_PGUSER: scratch.user,
      SCRATCH_PGPASSWORD: scratch.password,
      EXPECTED_DATABASES: databases.join(","),
    };
  }

  listKeys(prefix = ""): Promise<S3Key[]> {
    return this.s3.listKeys(this.bucket, prefix);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Stop all three even when one of them fails to stop; report the first failure.
    const results = await Promise.allSettled([
      this.source[Symbol.asyncDispose](),
      this.s3[Symbol.asyncDispose](),
      this.scratch[Symbol.asyncDispose](),
    ]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }
}
