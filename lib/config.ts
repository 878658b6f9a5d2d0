/**
 * One table of settings per program (see settings.ts for how they are read): the environment
 * name, the flag, the default, whether it is required or secret, and one line of help. The
 * manifests, `--help` and docs/settings.md all come from here.
 *
 * @module
 */
import type { SettingsOf, SettingsTable } from "./settings.ts";

/** The source cluster, with libpq's own names. */
const SOURCE_PG = {
  pgHost: {
    env: "PGHOST",
    flag: "pghost",
    kind: "string",
    required: true,
    help: "source PostgreSQL host (in the manifests: postgresql-18-hl)",
  },
  pgPort: {
    env: "PGPORT",
    flag: "pgport",
    kind: "int",
    default: "5432",
    min: 1,
    max: 65535,
    help: "source PostgreSQL port",
  },
  pgUser: {
    env: "PGUSER",
    flag: "pguser",
    kind: "string",
    default: "postgres",
    help: "source superuser that can read every database",
  },
  pgPassword: {
    env: "PGPASSWORD",
    flag: "pgpassword-file",
    kind: "string",
    secret: true,
    help: "source password (the flag names a file holding it)",
  },
} as const satisfies SettingsTable;

/** The S3 / MinIO bucket, shared by both programs. */
const S3 = {
  s3Endpoint: {
    env: "S3_ENDPOINT",
    flag: "s3-endpoint",
    kind: "url",
    required: true,
    help: "S3 or MinIO endpoint URL, http or https (in the manifests: http://10.10.10.209:9000)",
  },
  s3Bucket: {
    env: "S3_BUCKET",
    flag: "s3-bucket",
    kind: "string",
    default: "homelab-backup-postgres",
    help: "bucket that holds the backups",
  },
  s3Prefix: {
    env: "S3_PREFIX",
    flag: "s3-prefix",
    kind: "string",
    default: "postgresql-18",
    help: "key prefix; backups go to <prefix>/YYYY/MM/DD/full.sql.zst",
  },
  s3Region: {
    env: "S3_REGION",
    flag: "s3-region",
    kind: "string",
    default: "us-east-1",
    help: "region used to sign requests",
  },
  accessKeyId: {
    env: "AWS_ACCESS_KEY_ID",
    flag: "aws-access-key-id-file",
    kind: "string",
    required: true,
    secret: true,
    help: "S3 access key id (the flag names a file holding it)",
  },
  secretAccessKey: {
    env: "AWS_SECRET_ACCESS_KEY",
    flag: "aws-secret-access-key-file",
    kind: "string",
    required: true,
    secret: true,
    help: "S3 secret access key (the flag names a file holding it)",
  },
  s3TimeoutSeconds: {
    env: "S3_TIMEOUT_SECONDS",
    flag: "s3-timeout-seconds",
    kind: "int",
    default: "60",
    min: 1,
    max: 3600,
    help: "an S3 request that moves no byte for this long is abandoned and tried again",
  },
  s3Retries: {
    env: "S3_RETRIES",
    flag: "s3-retries",
    kind: "int",
    default: "5",
    min: 0,
    max: 100,
    help:
      "how many more times a request that failed transiently is tried (backoff 1 s doubling to 30 s, full jitter); no retry starts that could end more than 2 minutes (or two timeouts) after the first failure",
  },
} as const satisfies SettingsTable;

const COMMON = {
  timeZone: {
    env: "TZ",
    flag: "tz",
    kind: "timezone",
    default: "UTC",
    help: "IANA time zone that decides the YYYY/MM/DD of a backup's key",
  },
  progressSeconds: {
    env: "LOG_PROGRESS_SECONDS",
    flag: "log-progress-seconds",
    kind: "int",
    default: "30",
    min: 1,
    max: 3600,
    help: "seconds between progress lines while data streams",
  },
} as const satisfies SettingsTable;

/** Telling someone about each run: metrics and check-in pings, both optional. */
const NOTIFY = {
  pushgatewayUrl: {
    env: "PUSHGATEWAY_URL",
    flag: "pushgateway-url",
    kind: "url",
    help:
      "after each run, push metrics to this Prometheus Pushgateway (group job=<CronJob name>, prefix=S3_PREFIX)",
  },
  healthcheckUrl: {
    env: "HEALTHCHECK_URL",
    flag: "healthcheck-url-file",
    kind: "url",
    secret: true,
    help:
      "check-in pings: <url>/start, then <url> or <url>/fail (healthchecks.io convention; the flag names a file holding it)",
  },
} as const satisfies SettingsTable;

/** Settings of `backup` (the daily job). */
export const BACKUP_SETTINGS = {
  ...SOURCE_PG,
  ...S3,
  ...COMMON,
  ...NOTIFY,
  zstdLevel: {
    env: "ZSTD_LEVEL",
    flag: "zstd-level",
    kind: "int",
    default: "3",
    min: 1,
    max: 19,
    help: "zstd compression level",
  },
  zstdThreads: {
    env: "ZSTD_THREADS",
    flag: "zstd-threads",
    kind: "int",
    default: "0",
    min: 0,
    max: 256,
    help: "zstd worker threads; 0 uses every core",
  },
  retentionDays: {
    env: "RETENTION_DAYS",
    flag: "retention-days",
    kind: "int",
    default: "14",
    min: 1,
    max: 3650,
    help: "days a daily backup is kept, and every backup at least (lifecycle rule check and prune)",
  },
  keepWeekly: {
    env: "KEEP_WEEKLY",
    flag: "keep-weekly",
    kind: "int",
    default: "0",
    min: 0,
    max: 520,
    help:
      "weeks a weekly backup (the first of its ISO week) is kept; never less than RETENTION_DAYS, so 0 keeps it like a daily one",
  },
  keepMonthly: {
    env: "KEEP_MONTHLY",
    flag: "keep-monthly",
    kind: "int",
    default: "0",
    min: 0,
    max: 120,
    help:
      "months of 31 days a monthly backup (the first of its month) is kept; never less than a weekly one, so 0 keeps it like a weekly one",
  },
  applyLifecycle: {
    env: "S3_APPLY_LIFECYCLE",
    flag: "apply-lifecycle",
    kind: "bool",
    help:
      "set the bucket's lifecycle rules for the prefix (one per retention class, and one that aborts incomplete uploads) when one is missing or conflicts",
  },
  prune: {
    env: "PRUNE",
    flag: "prune",
    kind: "bool",
    help:
      "after a successful backup, delete backups older than their retention class keeps them (RETENTION_DAYS, KEEP_WEEKLY, KEEP_MONTHLY)",
  },
  pruneOnly: {
    env: "PRUNE_ONLY",
    flag: "prune-only",
    kind: "bool",
    help: "do not back up; only delete backups older than their retention class keeps them",
  },
  dryRun: {
    env: "DRY_RUN",
    flag: "dry-run",
    kind: "bool",
    help: "with --prune or --prune-only: log what would be deleted, delete nothing",
  },
  staleUploadHours: {
    env: "STALE_UPLOAD_HOURS",
    flag: "stale-upload-hours",
    kind: "int",
    default: "6",
    min: 0,
    max: 720,
    help: "leftovers of killed runs older than this are removed at the start of a run",
  },
  partSizeMiB: {
    env: "S3_PART_SIZE_MIB",
    flag: "s3-part-size-mib",
    kind: "int",
    default: "8",
    min: 5,
    max: 512,
    help: "multipart part size; memory use is about 4 parts",
  },
  segmentSizeMiB: {
    env: "S3_SEGMENT_SIZE_MIB",
    flag: "s3-segment-size-mib",
    kind: "int",
    default: "5120",
    min: 5,
    max: 5120,
    help: "a dump larger than this is staged as several segments and joined by server-side copy",
  },
  shrinkWarnPercent: {
    env: "SHRINK_WARN_PERCENT",
    flag: "shrink-warn-percent",
    kind: "int",
    default: "50",
    min: 0,
    max: 100,
    help:
      'warn "table shrank" for each table that disappeared or lost more than this % of its rows since the previous backup',
  },
  ageRecipients: {
    env: "AGE_RECIPIENTS",
    flag: "age-recipients",
    kind: "recipients",
    help:
      "comma-separated age public keys (age1…); when set, the backup is pg_dumpall | zstd | age, stored as full.sql.zst.age",
  },
  ageRecipientsFile: {
    env: "AGE_RECIPIENTS_FILE",
    flag: "age-recipients-file",
    kind: "recipients",
    file: true,
    help:
      "a file of age public keys, one per line, # comments allowed (like age -R); adds to AGE_RECIPIENTS",
  },
} as const satisfies SettingsTable;

/** Settings of `restore-drill` (the weekly job). */
export const DRILL_SETTINGS = {
  ...S3,
  ...COMMON,
  ...NOTIFY,
  scratchHost: {
    env: "SCRATCH_PGHOST",
    flag: "scratch-pghost",
    kind: "string",
    default: "127.0.0.1",
    help:
      "PostgreSQL to restore into: the drill's scratch server, or with --recover the target server (which may be live); must be loopback unless --allow-remote-scratch",
  },
  scratchPort: {
    env: "SCRATCH_PGPORT",
    flag: "scratch-pgport",
    kind: "int",
    default: "5432",
    min: 1,
    max: 65535,
    help: "port of the scratch or target server",
  },
  scratchUser: {
    env: "SCRATCH_PGUSER",
    flag: "scratch-pguser",
    kind: "string",
    default: "postgres",
    help: "superuser of the scratch or target server",
  },
  scratchPassword: {
    env: "SCRATCH_PGPASSWORD",
    flag: "scratch-pgpassword-file",
    kind: "string",
    secret: true,
    help: "its password (the flag names a file holding it)",
  },
  allowRemoteScratch: {
    env: "SCRATCH_ALLOW_REMOTE",
    flag: "allow-remote-scratch",
    kind: "bool",
    help:
      "allow a scratch or target host that is not loopback (a recovery into a real server, not a drill)",
  },
  verifyOnly: {
    env: "VERIFY_ONLY",
    flag: "verify-only",
    kind: "bool",
    help:
      "restore nothing: read the backup (checking its sha256) and compare the server SCRATCH_* names with it, databases, tables, rows and values (after a recovery made by hand)",
  },
  scratchWaitSeconds: {
    env: "SCRATCH_WAIT_SECONDS",
    flag: "scratch-wait-seconds",
    kind: "int",
    default: "120",
    min: 0,
    max: 3600,
    help:
      "how long to wait for the scratch or target server to accept connections (also before a failed recovery's cleanup)",
  },
  expectedDatabases: {
    env: "EXPECTED_DATABASES",
    flag: "expected-databases",
    kind: "list",
    help: "comma-separated databases that must exist after the restore (not with --recover)",
  },
  maxBackupAgeHours: {
    env: "MAX_BACKUP_AGE_HOURS",
    flag: "max-backup-age-hours",
    kind: "number",
    default: "26",
    max: 87600,
    help:
      "the newest backup must be younger than this many hours (RPO 24 h plus slack); with --recover an older one is restored with a warning",
  },
  backupKey: {
    env: "BACKUP_KEY",
    flag: "key",
    kind: "string",
    help: "restore this data object key instead of the newest backup (no age check)",
  },
  sha256Key: {
    env: "BACKUP_SHA256_KEY",
    flag: "sha256-key",
    kind: "string",
    help: "read the expected sha256 from this key instead of the data key's own .sha256",
  },
  checkOlder: {
    env: "CHECK_OLDER",
    flag: "check-older",
    kind: "int",
    default: "1",
    min: 0,
    max: 100,
    help:
      "a drill also reads this many older retained backups in full and checks their sha256, those checked longest ago first, so successive drills cover every backup; 0 turns it off",
  },
  ageIdentityFile: {
    env: "AGE_IDENTITY_FILE",
    flag: "age-identity-file",
    kind: "string",
    help:
      "file of age identities (private keys; a mounted Secret) that opens full.sql.zst.age backups; only its path reaches age's argv",
  },
  list: {
    env: "LIST",
    flag: "list",
    kind: "bool",
    help:
      "restore nothing: list every backup under the prefix, newest first (date, class, size, databases, tables, rows, encryption, last drill, age), and a summary line; needs only the S3 settings",
  },
  listJson: {
    env: "LIST_JSON",
    flag: "json",
    kind: "bool",
    help:
      "with --list: print a JSON array (date, key, class, compressed_bytes, databases, tables, rows, encrypted, drill, ...)",
  },
  recover: {
    env: "RECOVER",
    flag: "recover",
    kind: "bool",
    help:
      "recover RESTORE_DATABASES into the target server instead of drilling: nothing else on it changes, and a failed recovery drops what it created",
  },
  restoreDatabases: {
    env: "RESTORE_DATABASES",
    flag: "databases",
    kind: "string",
    help:
      "with --recover (required): comma-separated databases of the backup to restore, names as stored (\\, for a comma in a name)",
  },
  restoreJobs: {
    env: "RESTORE_JOBS",
    flag: "jobs",
    kind: "int",
    default: "1",
    min: 1,
    max: 16,
    help:
      "with --recover: restore up to this many chosen databases at once, each in its own psql, after the globals (a backup with a section index; one read whole restores in one psql)",
  },
  restoreRename: {
    env: "RESTORE_RENAME",
    flag: "rename",
    kind: "string",
    help:
      "with --recover: old=new[,old2=new2] restores a chosen database under a new name (\\, and \\= inside a name)",
  },
} as const satisfies SettingsTable;

/** Backup settings, parsed. */
export type BackupConfig = SettingsOf<typeof BACKUP_SETTINGS>;
/** Drill settings, parsed. */
export type DrillConfig = SettingsOf<typeof DRILL_SETTINGS>;

/** What every program's settings hold: the bucket, how to reach it, and whom to tell. */
export type ProgramSettings = SettingsOf<typeof S3 & typeof COMMON & typeof NOTIFY>;
