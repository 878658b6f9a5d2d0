/**
 * The backup's commit: the staged data reaches its final key by server-side copy, then the
 * `.sha256`, then `manifest.json` last, whose presence marks the backup complete. A final key
 * only ever holds a whole object; a SIGTERM once the data is uploaded lets the commit finish
 * within the Job's grace period.
 *
 * @module
 */
import { type BackupKeys, fileNameOf } from "../bucket/keys.ts";
import { type Manifest, MANIFEST_FORMAT, type SkippedDatabase } from "../bucket/manifest.ts";
import { classTags, type RetentionClass } from "../bucket/retention_class.ts";
import { sha256Line } from "../checksum.ts";
import { reasonOf, StoreError, ToolboxError } from "../errors.ts";
import type { ObjectStore } from "../s3/object_store.ts";
import type { Staged } from "../s3/staged.ts";
import type { Log } from "../log.ts";
import type { SessionSettings } from "../pg/dump_settings.ts";
import { VERSION } from "../version.ts";
import { DATA_TYPE, type Streamed } from "./stream.ts";
import type { SourceVersions } from "./preflight.ts";

/** What the manifest records besides the stream's own figures. */
export interface ManifestInput {
  readonly keys: BackupKeys;
  readonly versions: SourceVersions;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly streamed: Streamed;
  readonly settings: Record<string, SessionSettings>;
  /** age recipients; empty for a plain backup. */
  readonly recipients: readonly string[];
  readonly retentionClass: RetentionClass;
  /** The source's databases pg_dumpall skipped. */
  readonly skipped: readonly SkippedDatabase[];
}

/** The manifest of a streamed backup. */
export function backupManifest(input: ManifestInput): Manifest {
  const { streamed, recipients } = input;
  return {
    format: MANIFEST_FORMAT,
    tool: { name: "backup-toolbox", version: VERSION },
    server_version: input.versions.server,
    pg_dumpall_version: input.versions.pgDumpall,
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    key: input.keys.data,
    compressed_bytes: streamed.compressedBytes,
    dump_bytes: streamed.dumpBytes,
    sha256: streamed.sha256,
    databases: streamed.counts,
    dump_settings: input.settings,
    ...(recipients.length > 0
      ? { encryption: { method: "age" as const, recipients: [...recipients] } }
      : {}),
    ...(streamed.sections ? { sections: streamed.sections } : {}),
    retention_class: input.retentionClass,
    skipped_databases: [...input.skipped],
  };
}

/** Where a run writes: its final keys, and its own staging folder with what it staged there. */
export interface Staging {
  readonly keys: BackupKeys;
  /** `<prefix>/.tmp/<run>/` */
  readonly tempDir: string;
  readonly staged: Staged;
}

/**
 * Writes the backup's final keys: the data object (joined from the staged segments), its
 * `.sha256` and then `manifest.json`. The small objects are staged beside the data first, so
 * each final key is written by a copy that either happens whole or not at all, and a failure
 * before the data copy touches no final key. Every object, staged and final, carries the tag
 * of the manifest's retention class: the staged ones from their upload, the final ones set
 * after the copies (a copy keeps its source's tags on some servers and drops them on RGW 16.2).
 * A final object that cannot be tagged is a warning: the backup is complete either way.
 *
 * @param store the bucket; its signal should outlive a SIGTERM by the commit's grace
 * @param staging the final keys, and the staging folder (what is staged is recorded there)
 * @throws {StoreError} when a copy cannot be confirmed; nothing then marks the backup complete
 */
export async function commitBackup(
  store: ObjectStore,
  log: Log,
  staging: Staging,
  streamed: Streamed,
  manifest: Manifest,
): Promise<void> {
  const { keys, tempDir, staged } = staging;
  const encrypted = manifest.encryption !== undefined;
  const tags = manifest.retention_class ? classTags(manifest.retention_class) : {};
  const small = [
    {
      key: keys.sha256,
      body: sha256Line(streamed.sha256, fileNameOf(keys.data)),
      type: "text/plain",
    },
    {
      key: keys.manifest,
      body: JSON.stringify(manifest, null, 2) + "\n",
      type: "application/json",
    },
  ].map((o) => ({ ...o, temp: tempDir + o.key.slice(keys.dir.length) }));
  // Stage the small objects first: a failure here has touched no final key.
  for (const o of small) {
    staged.objects.add(o.temp);
    await store.putSmall(o.temp, o.body, o.type, tags);
  }
  await store.compose(
    keys.data,
    streamed.segments,
    { sha256: streamed.sha256, "dump-bytes": String(streamed.dumpBytes) },
    encrypted ? DATA_TYPE.encrypted : DATA_TYPE.plain,
    tags,
  );
  log.info("commit", "data object written", { key: keys.data, bytes: streamed.compressedBytes });
  // Then the .sha256, and manifest.json last.
  try {
    for (const o of small) {
      await store.copy(o.temp, o.key, {}, o.type, new TextEncoder().encode(o.body).length);
    }
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    throw new StoreError(
      err.message,
      `${keys.data} already holds this run's data, without its .sha256 or manifest.json; ${err.hint}: until a backup of the day completes, a drill of ${keys.dir} fails with sha256 mismatch or drills the day before`,
      err.code,
      { cause: err },
    );
  }
  log.info("commit", "sha256 and manifest written", {
    sha256_key: keys.sha256,
    manifest_key: keys.manifest,
  });
  if (manifest.retention_class) {
    await tagFinalObjects(
      store,
      log,
      [keys.data, keys.sha256, keys.manifest],
      manifest.retention_class,
    );
  }
}

/**
 * Tags the backup's final objects with its retention class; what cannot be tagged is one warn
 * line (the lifecycle rules, filtered by that tag, would never expire those objects).
 */
async function tagFinalObjects(
  store: ObjectStore,
  log: Log,
  keys: readonly string[],
  retentionClass: RetentionClass,
): Promise<void> {
  const tags = classTags(retentionClass);
  const results = await Promise.allSettled(keys.map((key) => store.setTags(key, tags)));
  const failed = keys.filter((_, i) => results[i]!.status === "rejected");
  if (failed.length === 0) return;
  const error = (results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
  log.warn("commit", "could not tag the backup with its retention class", {
    retention_class: retentionClass,
    keys: failed,
    error: reasonOf(error),
    hint:
      `the backup is complete; until its objects carry retention-class=${retentionClass}, no lifecycle rule of backup-toolbox expires them (PRUNE still does): ${
        error instanceof ToolboxError ? error.hint : "run the backup again"
      }`,
  });
}
