/**
 * Reading a backup in one pass and giving the verdicts in the order that names the true cause:
 * the download's own failure first (the pass throws it), then the sha256 (a corrupt object
 * explains any restore error that follows), then age's, zstd's or psql's error.
 *
 * @module
 */
import { BackupUnreadableError } from "../errors.ts";
import { psqlRestoreSpec } from "../pg/tools.ts";
import { type PassOptions, type PassResult, restorePass, type Sink } from "./pass.ts";
import type { OpenedBackup } from "./open.ts";
import type { RestoreRun } from "./run.ts";
import type { ManifestSection } from "../bucket/manifest.ts";
import { checkSectionIndex } from "./sections.ts";
import { restoreFailure } from "./wording.ts";

/** psql restoring into the run's server, with the mode's hint. */
export function psqlSink(run: RestoreRun): Sink {
  return {
    name: "psql",
    spec: psqlRestoreSpec(run.server, run.ctx.childEnv),
    hint: run.wording.psqlHint,
  };
}

/** What a pass over the opened backup needs besides its transforms and sink. */
export function passOptions(
  run: RestoreRun,
  opened: OpenedBackup,
  transforms: PassOptions["transforms"],
  sink: Sink | undefined,
): PassOptions {
  const { ctx, config } = run;
  return {
    store: ctx.store,
    key: opened.key,
    log: ctx.log,
    signal: ctx.signal,
    childEnv: ctx.childEnv,
    transforms,
    sink,
    progressSeconds: config.progressSeconds,
    identityFile: config.ageIdentityFile,
    recipients: opened.recipients,
  };
}

/** How to read the whole backup. */
export interface ReadOptions {
  /** The line logged before the read (`reading backup`). */
  readonly intro: string;
  /** Streams between zstd -d and the sink, in order. */
  readonly transforms: PassOptions["transforms"];
  /** psql, or undefined to read the SQL and discard it. */
  readonly sink: Sink | undefined;
  /** Check the manifest's section index against the bytes too (the drill and the check). */
  readonly checkIndex: boolean;
}

/**
 * Reads the whole backup through the transforms into the sink (or nowhere), logs `sha256 OK`
 * (and, with `checkIndex`, `section index OK`), and throws the first failure in the order above.
 *
 * @returns the pass; its `sha256` matched the backup's `.sha256`
 * @throws {ChecksumMismatchError} `sha256 mismatch`, or `section index wrong`
 * @throws {RestoreError} `restore FAILED: …` for age, zstd or psql
 * @throws {StoreError} when the object could not be read to its end
 */
export async function readBackup(
  run: RestoreRun,
  opened: OpenedBackup,
  options: ReadOptions,
): Promise<PassResult> {
  const { key, expected, files } = opened;
  run.log.info("verify", options.intro, { key, expected_sha256: expected });
  const index = options.checkIndex ? indexOf(opened) : undefined;
  const pass = await restorePass({
    ...passOptions(run, opened, options.transforms, options.sink),
    ...(index ? { spans: index } : {}),
  });
  // Verify first: a corrupt download explains any restore error that follows.
  const sha256 = pass.complete
    ? await files.verdict(pass.sha256, expected, pass.carriedSha256, pass.bytes)
    : undefined;
  if (sha256 !== undefined) {
    run.log.info("verify", "sha256 OK", {
      key,
      sha256,
      bytes: pass.bytes,
      resumes: pass.resumes,
    });
  }
  if (pass.failure) throw restoreFailure(pass.failure.error, key);
  if (sha256 === undefined) {
    // Unreachable: an incomplete read without a downstream failure is thrown by the pass.
    throw new BackupUnreadableError(`cannot read ${key} to its end`, "run the drill again");
  }
  // The index is checked against the bytes it describes: a manifest of another backup (a
  // same-day one committed meanwhile) is the caller's to find.
  if (index && files.manifest?.sha256 === sha256) {
    checkSectionIndex(key, index, pass.bytes, pass.sections);
    run.log.info("verify", "section index OK", { key, sections: index.length });
  }
  return pass;
}

/** The section index of an opened plain backup whose manifest describes it, if it has one. */
function indexOf(opened: OpenedBackup): readonly ManifestSection[] | undefined {
  const { manifest } = opened;
  if (!manifest?.sections || manifest.encryption || manifest.key !== opened.key) return undefined;
  return manifest.sections;
}
