/**
 * Opening a located backup before anything waits or downloads: its `manifest.json` (when it has
 * one), the age identity an encrypted one needs, what its `.sha256` says, and whether the data
 * object has the size the manifest records. A missing `.sha256`, a truncated object or an
 * identity that opens none of the recipients fails here, in seconds.
 *
 * @module
 */
import { decryptionFor } from "../age.ts";
import { BackupFiles } from "../bucket/files.ts";
import { type BackupKeys, fileNameOf, keysForDataKey } from "../bucket/keys.ts";
import type { Manifest } from "../bucket/manifest.ts";
import type { Located } from "./locate.ts";
import type { RestoreRun } from "./run.ts";

/** A backup ready to be read. */
export interface OpenedBackup extends Located {
  readonly keys: BackupKeys;
  /** Its `.sha256` and manifest, read again where a same-day backup may be committing. */
  readonly files: BackupFiles;
  /** The manifest as read now; undefined when the backup has none or it is unreadable. */
  readonly manifest: Manifest | undefined;
  /** The recipients the manifest records, when it is encrypted and the manifest describes it. */
  readonly recipients: readonly string[] | undefined;
  /** What the `.sha256` says. */
  readonly expected: string;
}

/**
 * Opens the backup.
 *
 * @throws {BackupUnreadableError} no `.sha256`, or no identity that opens an encrypted backup
 * @throws {ChecksumMismatchError} `backup truncated`: its size is not the manifest's
 * @throws {PreflightError} AGE_IDENTITY_FILE cannot be read as identities
 */
export async function openBackup(run: RestoreRun, located: Located): Promise<OpenedBackup> {
  const { config, ctx } = run;
  const keys = keysForDataKey(located.key);
  const files = new BackupFiles(ctx.store, keys, config.sha256Key, ctx.log);
  const manifest = await files.readManifest();
  // An encrypted backup needs its identity: say so now, before waiting or downloading.
  const recipients = manifest && fileNameOf(manifest.key) === fileNameOf(located.key)
    ? manifest.encryption?.recipients
    : undefined;
  await decryptionFor(located.key, config.ageIdentityFile, recipients, ctx.childEnv);
  const expected = await files.expectedSha256();
  await files.checkSize(located.size, async () => (await ctx.store.stat(located.key))?.size);
  return { ...located, keys, files, manifest: files.manifest, recipients, expected };
}
