/**
 * How the restore side words its failures, in one table: what each mode calls the server it
 * restores into, and what it tells the person on call when a shared step fails. The steps are
 * the same for the drill, `--verify-only` and `--recover`; the words are not (a drill's scratch
 * is thrown away, a recovery's target may be live).
 *
 * @module
 */
import { PipelineError, RestoreError } from "../errors.ts";

/** The three restore-side modes of `restore-drill`. */
export type RestoreMode = "drill" | "verify-only" | "recover";

/** A message and what to do about it. */
export interface Words {
  readonly what: string;
  readonly hint: string;
}

/** One mode's words. */
export interface ModeWording {
  /** What messages call the server: `scratch` or `target`. */
  readonly server: "scratch" | "target";
  /** The refusal of a host that is not loopback, without --allow-remote-scratch. */
  refuseRemote(host: string): Words;
  /** What to check when the server does not accept connections. */
  readonly waitHint: string;
  /** What to do when the server is older than the backup's pg_dumpall. */
  olderHint(major: number): string;
  /** What to do when psql stops at an error. */
  readonly psqlHint: string;
  /** The count check's failure: `smoke FAILED: <what>: <differences>`. */
  readonly countsDiffer: Words;
  /** The value check's failure: `smoke FAILED: <what>: <differences>`. */
  readonly valuesDiffer: Words;
  /** The warning for a backup without manifest.json. */
  readonly noManifest: Words;
  /** The phase (and log step) of the value check. */
  readonly valuesPhase: "verify" | "values";
}

const SIDECAR_HINT =
  "check the scratch-postgres sidecar (kubectl -n apps logs <pod> -c scratch-postgres) and SCRATCH_PGHOST/SCRATCH_PGPORT/SCRATCH_PGPASSWORD";
const DRILL_REMOTE: ModeWording["refuseRemote"] = (host) => ({
  what: `refusing to restore into scratch host "${host}": it is not a loopback address`,
  hint:
    "a drill restores only into the scratch sidecar on localhost; set SCRATCH_PGHOST=127.0.0.1, or pass --allow-remote-scratch only for a real recovery into a server you mean to fill",
});
const DRILL_VALUES: Words = {
  what: "the restored values differ from the backup",
  hint:
    "the data changed between the dump and the scratch server; compare the named table on the source and on the scratch server (SELECT ... EXCEPT), and drill a fresh backup",
};

/** Every mode's words. */
export const WORDING: Readonly<Record<RestoreMode, ModeWording>> = {
  drill: {
    server: "scratch",
    refuseRemote: DRILL_REMOTE,
    waitHint: SIDECAR_HINT,
    olderHint: (major) =>
      `run the scratch-postgres sidecar on PostgreSQL ${major} or newer (its image in cronjob-restore-drill.yaml), or drill a backup made by an older pg_dumpall with --key`,
    psqlHint:
      "the scratch server must run the same PostgreSQL major and extensions as production; read the error above, fix the scratch image or the source, then drill again",
    countsDiffer: {
      what: "the restore differs from the backup's manifest",
      hint:
        "the dump did not restore everything it holds; read the restore log for skipped objects, and drill again with a fresh backup",
    },
    valuesDiffer: DRILL_VALUES,
    noManifest: {
      what: "backup has no manifest.json; only the basic smoke checks ran",
      hint: "backups taken by backup-toolbox 0.1.0 or later have one",
    },
    valuesPhase: "verify",
  },
  "verify-only": {
    server: "scratch",
    refuseRemote: DRILL_REMOTE,
    waitHint: SIDECAR_HINT,
    olderHint: (major) =>
      `compare a PostgreSQL ${major} or newer server, or a backup made by an older pg_dumpall (--key)`,
    psqlHint: "--verify-only runs no psql",
    countsDiffer: {
      what: "the server differs from the backup",
      hint:
        'the server does not hold what the backup holds: a database, table or rows are missing or extra; re-run the recovery (RUNBOOK.md "I must restore now"), or find what changed since',
    },
    valuesDiffer: DRILL_VALUES,
    noManifest: {
      what: "backup has no manifest.json; the counts come from the dump itself",
      hint: "backups taken by backup-toolbox 0.1.0 or later have one",
    },
    valuesPhase: "verify",
  },
  recover: {
    server: "target",
    refuseRemote: (host) => ({
      what: `refusing to recover into host "${host}": it is not a loopback address`,
      hint:
        "pass --allow-remote-scratch (SCRATCH_ALLOW_REMOTE=true) to recover into a server off this pod, after checking SCRATCH_PGHOST names the server you mean",
    }),
    waitHint:
      "check SCRATCH_PGHOST, SCRATCH_PGPORT, SCRATCH_PGUSER and SCRATCH_PGPASSWORD, and that the target lets this pod connect (NetworkPolicy, pg_hba.conf)",
    olderHint: (major) =>
      `recover into a PostgreSQL ${major} or newer server (SCRATCH_PGHOST), or pick a backup made by an older pg_dumpall with --key`,
    psqlHint:
      "read psql's error: the target needs the extensions and tablespaces the database uses, and the same PostgreSQL major or a newer one; fix that, then recover again",
    countsDiffer: {
      what: "the recovered databases differ from the backup's manifest",
      hint: "the dump did not restore everything it holds; read the log above, then recover again",
    },
    valuesDiffer: {
      what: "the recovered values differ from the backup",
      hint:
        "something wrote to the recovered database during the check, or the target renders values differently; recover again and compare the named table with SELECT ... EXCEPT",
    },
    noManifest: {
      what: "backup has no manifest.json; row counts were not compared",
      hint: "the value check below still compares every table with the dump",
    },
    valuesPhase: "values",
  },
};

/** The words of a child that failed while a backup was read, by the child's name. */
const CHILD_FAILED: Readonly<Record<string, (key: string) => string>> = {
  age: (key) => `restore FAILED: age could not decrypt ${key}`,
  zstd: (key) => `restore FAILED: zstd could not decompress ${key}`,
  psql: () => "restore FAILED: psql stopped at the first error",
};

/**
 * age's, zstd's or psql's failure, in the operator's words (`restore FAILED: …` and the child's
 * own last line); the hint is the one the child was started with. Anything else is returned as
 * it is.
 *
 * @param error the pass's first failure
 * @param key the data object read
 */
export function restoreFailure(error: unknown, key: string): unknown {
  if (!(error instanceof PipelineError)) return error;
  const words = CHILD_FAILED[error.program] ?? CHILD_FAILED.psql!;
  return new RestoreError(
    `${words(key)}: ${error.lastStderrLine || `exit code ${error.code}`}`,
    error.hint,
  );
}
