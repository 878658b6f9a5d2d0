/**
 * A backup's `.sha256` and `manifest.json`, read the way a drill must: a backup of the same day
 * may be committing while the drill runs (data object first, then the `.sha256`, then the
 * manifest), so a disagreement between them is first looked at again for a few seconds before it
 * is called damage. This is the one place that handles that race.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BackupKeys } from "./keys.ts";
import { parseSha256Line } from "../checksum.ts";
import { BackupUnreadableError, ChecksumMismatchError, reasonOf, SmokeError } from "../errors.ts";
import type { Log } from "../log.ts";
import { type Manifest, parseManifest } from "./manifest.ts";
import type { ObjectStore } from "../s3/object_store.ts";

/** How many times, a second apart, files a same-day backup may be rewriting are read again. */
export const REREADS = 5;

const OLDER_HINT =
  "drill the previous one with --key <prefix>/YYYY/MM/DD/full.sql.zst, check the S3 server's disks, and take a fresh backup now";

/** The files beside one backup's data object. */
export class BackupFiles {
  readonly #store: ObjectStore;
  readonly #keys: BackupKeys;
  readonly #sha256Key: string;
  readonly #pinned: boolean;
  readonly #log: Log;
  #manifest: Manifest | undefined;

  /**
   * @param store the bucket
   * @param keys the backup's keys
   * @param sha256Key a `.sha256` the operator named (BACKUP_SHA256_KEY); it is never re-read
   * @param log where warnings go
   */
  constructor(store: ObjectStore, keys: BackupKeys, sha256Key: string | undefined, log: Log) {
    this.#store = store;
    this.#keys = keys;
    this.#sha256Key = sha256Key ?? keys.sha256;
    this.#pinned = sha256Key !== undefined;
    this.#log = log;
  }

  /** The `.sha256` key in use. */
  get sha256Key(): string {
    return this.#sha256Key;
  }

  /** The manifest as last read (undefined when the backup has none, or it is unreadable). */
  get manifest(): Manifest | undefined {
    return this.#manifest;
  }

  /**
   * The sha256 the `.sha256` file records.
   *
   * @throws {BackupUnreadableError} when it does not exist or holds no sha256sum line
   */
  async expectedSha256(): Promise<string> {
    const key = this.#sha256Key;
    const text = await this.#store.getText(key);
    const hex = text === undefined ? undefined : parseSha256Line(text);
    if (hex === undefined) {
      throw new BackupUnreadableError(
        text === undefined
          ? `cannot read ${key}: it does not exist`
          : `cannot read ${key}: it does not hold a sha256sum line`,
        "the backup is incomplete or damaged; drill an older one with --key, and take a fresh backup now",
      );
    }
    return hex;
  }

  /** Reads `manifest.json` (a warning, not a failure, when it is unreadable). */
  async readManifest(): Promise<Manifest | undefined> {
    const key = this.#keys.manifest;
    const text = await this.#store.getText(key);
    this.#manifest = undefined;
    if (text === undefined) return undefined;
    try {
      this.#manifest = parseManifest(text);
    } catch (err) {
      this.#log.warn("find", "manifest.json is unreadable; only the basic smoke checks will run", {
        key,
        error: reasonOf(err),
        hint: "the backup itself may be fine; take a fresh backup to get a valid manifest",
      });
    }
    return this.#manifest;
  }

  /**
   * Before the restore: the data object's size must be the manifest's. When they disagree, a
   * same-day backup may be between writing its data and its manifest: look again.
   *
   * @param size the data object's size
   * @param statSize reads the data object's size again
   * @throws {ChecksumMismatchError} `backup truncated` when they still disagree
   */
  async checkSize(size: number, statSize: () => Promise<number | undefined>): Promise<void> {
    let manifest = this.#manifest;
    let actual: number | undefined = size;
    for (let i = 0; manifest && manifest.compressed_bytes !== actual && i < REREADS; i++) {
      await sleep(1000, undefined, { signal: this.#store.signal });
      [manifest, actual] = await Promise.all([this.readManifest(), statSize()]);
    }
    if (manifest && manifest.compressed_bytes !== actual) {
      const key = this.#keys.data;
      this.#log.error("verify", "backup truncated", {
        key,
        bytes: actual ?? 0,
        manifest_bytes: manifest.compressed_bytes,
      });
      throw new ChecksumMismatchError(
        `backup truncated: ${key} has ${
          actual ?? 0
        } bytes, its manifest says ${manifest.compressed_bytes}`,
        `the object was cut short or replaced after the backup; ${OLDER_HINT}`,
      );
    }
  }

  /**
   * After the whole object was read: the verdict on its bytes. When they do not match the
   * `.sha256` but match the sha256 the data object carries in its own metadata, a same-day
   * backup is committing: the `.sha256` is read again until it agrees.
   *
   * @param actual the sha256 of the bytes read
   * @param expected what the `.sha256` said before the read
   * @param carried the `sha256` metadata of the object read
   * @param bytes how many bytes were read
   * @returns the sha256 that matched
   * @throws {ChecksumMismatchError} `sha256 mismatch` naming both digests
   */
  async verdict(
    actual: string,
    expected: string,
    carried: string | undefined,
    bytes: number,
  ): Promise<string> {
    if (actual === expected) return actual;
    let reread = expected;
    if (carried === actual && !this.#pinned) {
      for (let i = 0; i < REREADS && reread !== actual; i++) {
        await sleep(1000, undefined, { signal: this.#store.signal });
        reread = await this.expectedSha256().catch(() => expected);
      }
    }
    const key = this.#keys.data;
    if (reread !== actual) {
      this.#log.error("verify", "sha256 mismatch", { key, expected, actual, bytes });
      throw new ChecksumMismatchError(
        `sha256 mismatch: ${key} hashes to ${actual}, ${this.#sha256Key} says ${expected}`,
        `the backup is damaged or was altered; ${OLDER_HINT}`,
      );
    }
    this.#log.warn(
      "verify",
      "the .sha256 changed while the drill read the backup; its new value matches",
      {
        key,
        hint: "a backup of the same day was being written; nothing to do",
      },
    );
    return actual;
  }

  /**
   * After the verdict: the manifest must describe the bytes that were restored. A same-day
   * backup may have replaced it during the drill: read it again before calling it wrong.
   *
   * @param sha256 the sha256 of the restored bytes
   * @returns the manifest that describes them, or undefined when the backup has none
   * @throws {SmokeError} when the manifest describes another backup
   */
  async manifestFor(sha256: string): Promise<Manifest | undefined> {
    for (let i = 0; this.#manifest && this.#manifest.sha256 !== sha256 && i < REREADS; i++) {
      if (i > 0) await sleep(1000, undefined, { signal: this.#store.signal });
      await this.readManifest();
    }
    const manifest = this.#manifest;
    if (manifest && manifest.sha256 !== sha256) {
      throw new SmokeError(
        `smoke FAILED: ${this.#keys.manifest} describes another backup (sha256 ${manifest.sha256}, restored ${sha256})`,
        "a backup of the same day may have been written during the drill; run the drill again",
      );
    }
    return manifest;
  }
}
