/**
 * Reading only what a recovery needs from a backup with a section index: the globals' section
 * and the chosen databases', by ranged GETs (see lib/restore/sections.ts).
 *
 * The first read checks each section's sha256 against manifest.json before anything reaches the
 * target, and learns the roles. Then the sections are read again, not spooled: a spool needs as
 * much writable disk as the chosen sections (the pod's root filesystem is read-only, its /tmp
 * small), and for what sections are for, a small database out of a large backup, a second read
 * of a few MiB costs less than the first ever did; a large chosen database is read twice, as
 * the whole object was before. The second read is hashed again and must match.
 *
 * The restore runs the globals' section first (the roles the databases need) in one psql, then
 * the chosen databases, up to RESTORE_JOBS at once, each in its own psql, each checked (row
 * counts, then values) as soon as it is restored. The first failure stops the others; the
 * recovery then drops everything it created.
 *
 * @module
 */
import { type ManifestSection, sectionsProblem } from "../bucket/manifest.ts";
import { RecoveryFilterStream } from "../dump/recover_filter.ts";
import type { DumpCounts } from "../dump/stream.ts";
import { checkManifestCounts, checkRestoredValues, renameDatabases } from "../restore/checks.ts";
import type { OpenedBackup } from "../restore/open.ts";
import { type PassResult, restorePass } from "../restore/pass.ts";
import { passOptions, psqlSink } from "../restore/read.ts";
import { checkSections, sectionsFor } from "../restore/sections.ts";
import type { ValueCheckResult } from "../restore/value_check.ts";
import { restoreFailure } from "../restore/wording.ts";
import {
  logRestored,
  logRestoring,
  type Recovery,
  type RecoveryReader,
  type Restored,
  restoreFilter,
  type Verified,
  verifiedRoles,
} from "./reader.ts";
import type { TargetState } from "./target.ts";

const DAMAGED = {
  what: "sha256 mismatch",
  hint:
    "that part of the backup is damaged; nothing was sent to the target. Recover from an older backup with --key <prefix>/YYYY/MM/DD/full.sql.zst, and take a fresh backup now",
};
const CHANGED = {
  what: "sha256 mismatch",
  hint:
    "the section changed between the check and the restore: a backup of the same day may have been written meanwhile; recover again, or pin the backup with --key",
};

/**
 * The sections a recovery can read instead of the whole object, or why it cannot: an encrypted
 * backup, no index, an index that does not describe this object. Logs which it reads and why.
 *
 * @returns the globals' and the chosen databases' sections, or undefined to read it whole
 */
export function sectionsToRead(
  recovery: Recovery,
  opened: OpenedBackup,
): ManifestSection[] | undefined {
  const { run, plan } = recovery;
  const manifest = opened.manifest;
  const whole = (reason: string) => {
    run.log.info("verify", "reading the whole backup", { key: opened.key, reason });
    return undefined;
  };
  if (manifest?.encryption || opened.key.endsWith(".age")) {
    return whole("it is encrypted: one age stream, without a section index");
  }
  if (!manifest?.sections) return whole("its manifest.json has no section index");
  if (manifest.sha256 !== opened.expected) {
    return whole("its manifest.json describes another object than its .sha256");
  }
  const problem = sectionsProblem(manifest.sections, opened.size);
  if (problem !== undefined) return whole(`its section index is unusable: ${problem}`);
  const sections = sectionsFor(manifest.sections, plan.keys());
  if (!sections) return whole("a chosen database has no section of its own");
  const bytes = sections.reduce((n, s) => n + s.length, 0);
  run.log.info("verify", "reading only the sections the recovery needs", {
    key: opened.key,
    sections: sections.map((s) => s.name),
    bytes,
    object_bytes: opened.size,
  });
  return sections;
}

/** The reader of a backup's sections. */
export function sectionReader(
  recovery: Recovery,
  opened: OpenedBackup,
  sections: readonly ManifestSection[],
): RecoveryReader {
  const { run, plan } = recovery;
  const { key } = opened;
  return {
    async verify(state) {
      run.log.info("verify", "reading backup to check it before the target changes", {
        key,
        sections: sections.map((s) => s.name),
      });
      const scan = new RecoveryFilterStream({ databases: plan });
      const pass = await restorePass({
        ...passOptions(run, opened, [scan], undefined),
        ranges: sections,
      });
      // Verify first: a damaged section explains any zstd error that follows.
      checkSections(key, sections, pass.sections, DAMAGED);
      run.log.info("verify", "sha256 OK", {
        key,
        sections: pass.sections,
        bytes: pass.bytes,
        resumes: pass.resumes,
      });
      if (pass.failure) throw restoreFailure(pass.failure.error, key);
      return verifiedRoles(recovery, opened, scan.filter, state, pass);
    },

    async restore(state, verified) {
      const t0 = performance.now();
      const [globals, ...databases] = sections;
      logRestoring(recovery, { jobs: Math.min(run.config.restoreJobs, databases.length) });
      const roles = await restoreSection(recovery, opened, state, verified, globals!, undefined);
      const stop = new AbortController();
      const each = await inTurn(databases, run.config.restoreJobs, stop, async (section) => {
        const one = new Map([[section.name, plan.get(section.name)!]]);
        const restored = await restoreSection(recovery, opened, state, verified, section, stop, {
          database: section.name,
        });
        const manifest = opened.manifest;
        const counted = await run.phase("compare", () => checkManifestCounts(run, manifest, one));
        const values = await run.phase(
          "values",
          () => checkRestoredValues(run, restored.filter.values(), manifest, one),
        );
        const dumpCounts = renameDatabases(restored.filter.counts(), one);
        return { restored, counted, values, dumpCounts };
      });
      const all = [roles, ...each.map((e) => e.restored)];
      const restored = {
        bytes: sum(all, (r) => r.read.bytes),
        decrypted: false,
        createdRoles: roles.filter.createdRoles,
        skippedMemberships: roles.filter.skippedMemberships,
        skipped: roles.filter.skipped,
        sqlBytes: sum(all, (r) => r.filter.bytes),
        sentBytes: sum(all, (r) => r.filter.sentBytes),
        read: "sections" as const,
      };
      logRestored(recovery, opened, verified, restored, Math.round(performance.now() - t0));
      return {
        ...restored,
        counted: mergeCounts(each.map((e) => e.counted)),
        dumpCounts: Object.assign({}, ...each.map((e) => e.dumpCounts)),
        values: mergeValues(each.map((e) => e.values)),
      } satisfies Restored;
    },
  };
}

/**
 * One section into the target: read again by its range, hashed again (it must match the
 * index), through the recovery filter into its own psql.
 */
async function restoreSection(
  recovery: Recovery,
  opened: OpenedBackup,
  state: TargetState,
  verified: Verified,
  section: ManifestSection,
  stop: AbortController | undefined,
  chosen?: { readonly database: string },
): Promise<{ read: PassResult; filter: RecoveryFilterStream["filter"] }> {
  const { run, plan } = recovery;
  const stream = restoreFilter(recovery, state, verified);
  const options = passOptions(run, opened, [stream], psqlSink(run));
  const read = await restorePass({
    ...options,
    ...(stop ? { signal: AbortSignal.any([options.signal, stop.signal]) } : {}),
    ranges: [section],
  });
  checkSections(opened.key, [section], read.sections, CHANGED);
  if (read.failure) throw restoreFailure(read.failure.error, opened.key);
  if (chosen) {
    run.log.info("restore", "database restored", {
      database: chosen.database,
      as: plan.get(chosen.database),
      bytes: read.bytes,
      sent_bytes: stream.filter.sentBytes,
      duration_ms: read.durationMs,
    });
  }
  return { read, filter: stream.filter };
}

/**
 * Runs `work` on every item, up to `jobs` at once, in order of the items. The first failure
 * aborts `stop` (the others' signal) and is the one thrown, once every started job has ended.
 */
async function inTurn<T, R>(
  items: readonly T[],
  jobs: number,
  stop: AbortController,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await work(items[i]!);
      } catch (error) {
        failure ??= { error };
        stop.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((n, item) => n + of(item), 0);
}

function mergeCounts(counts: readonly (DumpCounts | undefined)[]): DumpCounts | undefined {
  if (counts.some((c) => c === undefined)) return undefined;
  return Object.assign({}, ...counts);
}

function mergeValues(results: readonly ValueCheckResult[]): ValueCheckResult {
  return {
    byValue: results.flatMap((r) => r.byValue),
    byCountOnly: results.flatMap((r) => r.byCountOnly),
    rows: sum(results, (r) => r.rows),
    largeObjects: sum(results, (r) => r.largeObjects),
    diffs: results.flatMap((r) => r.diffs),
  };
}
