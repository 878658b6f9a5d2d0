/**
 * The report sections every restore-side mode shares: which backup was read and what it hashed
 * to, the server it went into, and what the value check compared. The drill's and the
 * recovery's reports are built from these, plus what only they have.
 *
 * @module
 */
import type { Manifest } from "../bucket/manifest.ts";
import type { ServerVersion } from "../pg/client.ts";
import type { OpenedBackup } from "./open.ts";
import type { PassResult } from "./pass.ts";
import type { RestoreRun } from "./run.ts";
import { VERSION } from "../version.ts";
import type { CountOnly, ValueCheckResult } from "./value_check.ts";

/** The backup a run read. */
export interface BackupSection {
  readonly key: string;
  readonly age_hours: number;
  /** Bytes read: the object as stored. */
  readonly bytes: number;
  /** sha256 of those bytes, equal to the backup's `.sha256`. */
  readonly sha256: string;
  /** Whether the backup had a manifest.json describing it. */
  readonly manifest: boolean;
  /** Whether it was an age-encrypted backup, decrypted on its way to zstd. */
  readonly encrypted: boolean;
}

/** What a run brought back, in all. */
export interface RestoredTotals {
  readonly databases: number;
  readonly tables: number;
  readonly rows: number;
  readonly large_objects: number;
}

/** The server a run restored into (or compared). */
export interface ServerSection {
  readonly host: string;
  readonly port: number;
  readonly server_version: string;
}

/** What the value check compared. */
export interface ValuesSection {
  readonly tables_by_value: number;
  readonly rows_by_value: number;
  readonly rows_per_second_by_value: number;
  readonly large_objects_by_value: number;
  readonly compared_by_value: readonly string[];
  readonly compared_by_count_only: readonly CountOnly[];
}

/** The backup section: the opened backup and the pass that read it. */
export function backupSection(
  opened: OpenedBackup,
  read: Pick<PassResult, "bytes" | "sha256" | "decrypted">,
  manifest: Manifest | undefined,
): BackupSection {
  return {
    key: opened.key,
    age_hours: opened.ageHours,
    bytes: read.bytes,
    sha256: read.sha256,
    manifest: manifest !== undefined,
    encrypted: read.decrypted,
  };
}

/** The server section. */
export function serverSection(run: RestoreRun, version: ServerVersion): ServerSection {
  return { host: run.server.host, port: run.server.port, server_version: version.text };
}

/**
 * The values section.
 *
 * @param ms how long the value check took, for its rows per second
 */
export function valuesSection(values: ValueCheckResult, ms: number): ValuesSection {
  return {
    tables_by_value: values.byValue.length,
    rows_by_value: values.rows,
    rows_per_second_by_value: ms > 0 ? Math.round(values.rows / (ms / 1000)) : 0,
    large_objects_by_value: values.largeObjects,
    compared_by_value: values.byValue,
    compared_by_count_only: values.byCountOnly,
  };
}

/** What a run found, as far as the shared sections need it. */
export interface SectionsInput {
  readonly opened: OpenedBackup;
  /** The pass that read (or restored) the backup. */
  readonly read: Pick<PassResult, "bytes" | "sha256" | "decrypted">;
  readonly manifest: Manifest | undefined;
  readonly version: ServerVersion;
  readonly values: ValueCheckResult;
}

/** The fields every restore-side report fills the same way. */
export interface ReportCore {
  readonly result: "OK";
  readonly tool_version: string;
  readonly backup: BackupSection;
  readonly phases_ms: Record<string, number>;
  /** Whether the row counts were compared with the manifest (or the dump). */
  readonly deep_check: boolean;
  /** The value check: which tables were compared by value, which by count only. */
  readonly values: ValuesSection;
}

/** A server section under the name `K` (`scratch` for a drill, `target` for a recovery). */
export type ServerUnder<K extends string> = { readonly [P in K]: ServerSection };

/** What every restore-side report holds, its server section under the name `K`. */
export type RestoreReport<K extends string> =
  & ReportCore
  & ServerUnder<K>
  & { readonly restored: RestoredTotals };

/**
 * The shared part of a report that passed (its `restored` totals are the caller's).
 *
 * @param serverKey the name of the server section
 * @param deepCheck whether the row counts were compared
 */
export function reportBase<K extends string>(
  run: RestoreRun,
  input: SectionsInput,
  serverKey: K,
  deepCheck: boolean,
): ReportCore & ServerUnder<K> {
  const server = { [serverKey]: serverSection(run, input.version) } as ServerUnder<K>;
  return {
    result: "OK",
    tool_version: VERSION,
    backup: backupSection(input.opened, input.read, input.manifest),
    phases_ms: run.phases,
    deep_check: deepCheck,
    values: valuesSection(input.values, run.phases[run.wording.valuesPhase] ?? 0),
    ...server,
  };
}
