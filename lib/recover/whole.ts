/**
 * Reading the whole backup for a recovery (one without a section index: an encrypted backup, or
 * one taken before sections were indexed): the first read hashes the whole object and learns the
 * roles, the second, hashed again, goes through {@linkcode RecoveryFilterStream} into one psql,
 * then the chosen databases are checked.
 *
 * @module
 */
import { RecoveryFilterStream } from "../dump/recover_filter.ts";
import { ChecksumMismatchError } from "../errors.ts";
import { checkManifestCounts, checkRestoredValues, renameDatabases } from "../restore/checks.ts";
import type { OpenedBackup } from "../restore/open.ts";
import { restorePass } from "../restore/pass.ts";
import { passOptions, psqlSink, readBackup } from "../restore/read.ts";
import { restoreFailure } from "../restore/wording.ts";
import {
  logRestored,
  logRestoring,
  type Recovery,
  type RecoveryReader,
  restoreFilter,
  verifiedRoles,
} from "./reader.ts";
import { refuseMissing } from "./refuse.ts";

/** The reader of a whole backup. */
export function wholeReader(recovery: Recovery, opened: OpenedBackup): RecoveryReader {
  const { run, plan } = recovery;
  return {
    async verify(state) {
      const scan = new RecoveryFilterStream({ databases: plan });
      const pass = await readBackup(run, opened, {
        intro: "reading backup to check it before the target changes",
        transforms: [scan],
        sink: undefined,
        checkIndex: false,
      });
      refuseMissing(plan, scan.filter.databases, "the dump");
      return verifiedRoles(recovery, opened, scan.filter, state, pass);
    },

    async restore(state, verified) {
      const stream = restoreFilter(recovery, state, verified);
      logRestoring(recovery);
      const read = await restorePass(passOptions(run, opened, [stream], psqlSink(run)));
      // The second read must be the bytes the first one checked.
      if (read.complete && read.sha256 !== verified.sha256) {
        throw new ChecksumMismatchError(
          `sha256 mismatch: ${opened.key} changed between the check and the restore (${verified.sha256}, then ${read.sha256})`,
          "a backup of the same day may have been written meanwhile; recover again, or pin the backup with --key",
        );
      }
      if (read.failure) throw restoreFailure(read.failure.error, opened.key);
      const { filter } = stream;
      const restored = {
        bytes: read.bytes,
        decrypted: read.decrypted,
        createdRoles: filter.createdRoles,
        skippedMemberships: filter.skippedMemberships,
        skipped: filter.skipped,
        sqlBytes: filter.bytes,
        sentBytes: filter.sentBytes,
        read: "whole" as const,
      };
      logRestored(recovery, opened, verified, restored, read.durationMs);
      const manifest = await opened.files.manifestFor(verified.sha256);
      const counted = await run.phase("compare", () => checkManifestCounts(run, manifest, plan));
      const values = await run.phase(
        "values",
        () => checkRestoredValues(run, filter.values(), manifest, plan),
      );
      return { ...restored, counted, values, dumpCounts: renameDatabases(filter.counts(), plan) };
    },
  };
}
