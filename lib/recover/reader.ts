/**
 * How a recovery reads its backup, in two passes: the first checks it before the target changes
 * (and learns which roles the chosen databases need), the second restores. A backup with a
 * section index is read by section ({@linkcode sectionReader} in sections.ts); one without (an
 * encrypted one, or one taken before sections were indexed) is read whole (whole.ts). Both give
 * the same results, which this module defines with what they share.
 *
 * @module
 */
import { type RecoveryFilter, RecoveryFilterStream } from "../dump/recover_filter.ts";
import type { DumpCounts } from "../dump/stream.ts";
import type { OpenedBackup } from "../restore/open.ts";
import type { RestoreRun } from "../restore/run.ts";
import type { ValueCheckResult } from "../restore/value_check.ts";
import type { RecoveryPlan } from "./plan.ts";
import type { TargetState } from "./target.ts";

/** A recovery: the shared restore run, and which databases go where. */
export interface Recovery {
  readonly run: RestoreRun;
  readonly plan: RecoveryPlan;
}

/** What the first read established; nothing was sent to the target. */
export interface Verified {
  /** The sha256 the backup's `.sha256` records (the whole read checked it; a read by section
   * checked each section against the index the manifest of that sha256 holds). */
  readonly sha256: string;
  /** Bytes of the object the first read read. */
  readonly bytes: number;
  readonly createRoles: ReadonlySet<string>;
  readonly keptRoles: readonly string[];
}

/** What the restore did, and what the checks found. */
export interface Restored {
  /** Bytes of the object the restore read. */
  readonly bytes: number;
  readonly decrypted: boolean;
  /** Roles whose CREATE ROLE was sent, in the dump's order. */
  readonly createdRoles: readonly string[];
  readonly skippedMemberships: readonly string[];
  /** Cluster-wide statements not sent, by their first words. */
  readonly skipped: Readonly<Record<string, number>>;
  /** Uncompressed SQL read, and of it what was sent to psql. */
  readonly sqlBytes: number;
  readonly sentBytes: number;
  /** The chosen databases' counts on the target (undefined without a manifest). */
  readonly counted: DumpCounts | undefined;
  /** What the dump holds of the chosen databases, under their names on the target. */
  readonly dumpCounts: DumpCounts;
  readonly values: ValueCheckResult;
  /** How the backup was read: whole, or only the globals and the chosen databases' sections. */
  readonly read: "whole" | "sections";
}

/** Reads a backup for a recovery. */
export interface RecoveryReader {
  /** The first read: checks the bytes, learns the roles; the target does not change. */
  verify(state: TargetState): Promise<Verified>;
  /** The second read: restores the chosen databases and checks them. */
  restore(state: TargetState, verified: Verified): Promise<Restored>;
}

/**
 * The roles the first read found the chosen databases need: those the target lacks are created,
 * the others kept as they are. Logs `backup checked; nothing sent to the target yet`.
 */
export function verifiedRoles(
  recovery: Recovery,
  opened: OpenedBackup,
  filter: RecoveryFilter,
  state: TargetState,
  read: { readonly bytes: number; readonly durationMs: number },
): Verified {
  const needed = [...filter.neededRoles].sort();
  const createRoles = new Set(needed.filter((r) => !state.roles.has(r)));
  const keptRoles = needed.filter((r) => state.roles.has(r));
  recovery.run.log.info("verify", "backup checked; nothing sent to the target yet", {
    databases_in_backup: filter.databases.length,
    roles_to_create: [...createRoles],
    roles_to_keep: keptRoles,
    duration_ms: read.durationMs,
  });
  return { sha256: opened.expected, bytes: read.bytes, createRoles, keptRoles };
}

/**
 * The filter a restoring read goes through: only the chosen databases (renamed), the roles to
 * create, value digests for the check.
 */
export function restoreFilter(
  { plan }: Recovery,
  state: TargetState,
  verified: Verified,
): RecoveryFilterStream {
  return new RecoveryFilterStream({
    databases: plan,
    createRoles: verified.createRoles,
    targetRoles: state.roles,
    digests: true,
  });
}

/** Logs `restoring into the target`, before the target changes. */
export function logRestoring({ run, plan }: Recovery, fields: Record<string, unknown> = {}): void {
  run.log.info("restore", "restoring into the target", {
    databases: Object.fromEntries(plan),
    target: `${run.server.host}:${run.server.port}`,
    ...fields,
  });
}

/** Logs the roles line and `restore OK` of a restore that went through. */
export function logRestored(
  recovery: Recovery,
  opened: OpenedBackup,
  verified: Verified,
  restored: Omit<Restored, "counted" | "values" | "dumpCounts">,
  durationMs: number,
): void {
  const { run, plan } = recovery;
  run.log.info("restore", "roles: created the missing ones the databases need, kept the rest", {
    created: restored.createdRoles,
    kept: verified.keptRoles,
    memberships_skipped: restored.skippedMemberships,
    skipped_cluster_wide: restored.skipped,
  });
  run.log.info("restore", "restore OK", {
    key: opened.key,
    databases: [...plan.values()],
    bytes: restored.bytes,
    sql_bytes: restored.sqlBytes,
    sent_bytes: restored.sentBytes,
    read: restored.read,
    duration_ms: durationMs,
  });
}
