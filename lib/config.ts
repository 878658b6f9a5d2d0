/**
 * One table of settings per program. Each setting has an environment name and a flag; a flag
 * wins over the environment. Secrets come only from the environment or from a file that a
 * `--<name>-file` flag names, never from a flag's value, so they never show in `ps`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseRecipients } from "./age.ts";
import { ConfigError } from "./errors.ts";

/** How a setting's text is read. `recipients`: age public keys, checked one by one. */
export type SettingKind =
  | "string"
  | "url"
  | "int"
  | "number"
  | "bool"
  | "list"
  | "timezone"
  | "recipients";

/** One row of a settings table. */
export interface Setting {
  /** Environment variable name; the contract manifests rely on. */
  readonly env: string;
  /** Flag name without the leading `--`. For a secret it names a file to read it from. */
  readonly flag: string;
  /** How the text is parsed and checked. */
  readonly kind: SettingKind;
  /** One line for `--help`. */
  readonly help: string;
  /** Value used when neither flag nor environment sets it. */
  readonly default?: string;
  /** A run refuses to start without it. */
  readonly required?: boolean;
  /** Never logged; only read from the environment or from a file. */
  readonly secret?: boolean;
  /**
   * The value (from flag or environment) names a file whose content is read at start and parsed
   * as the setting's kind (a recipients file, like age's -R).
   */
  readonly file?: boolean;
  /** Smallest accepted whole number (int only). */
  readonly min?: number;
  /** Largest accepted whole number (int only). */
  readonly max?: number;
}

/** A settings table: a stable key per setting. */
export type SettingsTable = Readonly<Record<string, Setting>>;

/** Parsed values of a table, typed by each setting's kind. */
export type SettingsOf<T extends SettingsTable> = {
  -readonly [K in keyof T]: T[K]["kind"] extends "int" | "number" ? number
    : T[K]["kind"] extends "bool" ? boolean
    : T[K]["kind"] extends "list" | "recipients" ? string[]
    : T[K] extends { required: true } ? string
    : T[K] extends { default: string } ? string
    : string | undefined;
};

/** The source cluster, with libpq's own names. */
const SOURCE_PG = {
  pgHost: {
    env: "PGHOST",
    flag: "pghost",
    kind: "string",
    required: true,
    help: "source PostgreSQL host (the plan: postgresql-18-hl)",
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
    help: "S3 or MinIO endpoint URL, http or https (the plan: http://10.10.10.209:9000)",
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
    help: "days a backup is kept (lifecycle rule check and prune)",
  },
  applyLifecycle: {
    env: "S3_APPLY_LIFECYCLE",
    flag: "apply-lifecycle",
    kind: "bool",
    help: "set the bucket's lifecycle rule for the prefix when it is missing or different",
  },
  prune: {
    env: "PRUNE",
    flag: "prune",
    kind: "bool",
    help: "after a successful backup, delete backups older than RETENTION_DAYS",
  },
  pruneOnly: {
    env: "PRUNE_ONLY",
    flag: "prune-only",
    kind: "bool",
    help: "do not back up; only delete backups older than RETENTION_DAYS",
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
  ageIdentityFile: {
    env: "AGE_IDENTITY_FILE",
    flag: "age-identity-file",
    kind: "string",
    help:
      "file of age identities (private keys; a mounted Secret) that opens full.sql.zst.age backups; only its path reaches age's argv",
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

/**
 * A program's settings table with its parsed type: what the program runner needs to parse,
 * describe and scrub a program's settings without knowing its table.
 */
export interface ProgramSettingsTable<C> {
  /** Parses flags and environment: help, version, or the settings. */
  parse(
    args: readonly string[],
    env: Readonly<Record<string, string | undefined>>,
  ): ParsedCommand<C>;
  /** The resolved settings for the `start` line, secrets redacted. */
  describe(config: C): Record<string, unknown>;
  /** The values of the secret settings that are set, for the log to scrub. */
  secrets(config: C): string[];
  /** The `--help` text. */
  help(program: string, summary: string): string;
}

/**
 * Binds a settings table to its parsed type.
 *
 * @example
 * ```ts
 * const settings = settingsTable(BACKUP_SETTINGS); // ProgramSettingsTable<BackupConfig>
 * ```
 */
export function settingsTable<T extends SettingsTable>(
  table: T,
): ProgramSettingsTable<SettingsOf<T>> {
  return {
    parse: (args, env) => parseSettings(table, args, env),
    describe: (config) => describeSettings(table, config),
    secrets: (config) => secretValues(table, config),
    help: (program, summary) => helpText(program, summary, table),
  };
}

/** What the command line asked for besides settings. */
export type ParsedCommand<C> =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "run"; readonly config: C };

/**
 * Reads a table's settings from flags and environment, checks them all, and throws one
 * ConfigError that lists every problem.
 *
 * @param table the program's settings table
 * @param args command-line arguments (without the program name)
 * @param env the environment
 * @param readSecretFile reads a file named by a secret's `--*-file` flag, or by a `file` setting
 * @returns help, version, or the parsed settings
 * @throws {ConfigError} listing every missing or invalid setting (exit code 2)
 */
export function parseSettings<T extends SettingsTable>(
  table: T,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readSecretFile: (path: string) => string = (path) => Deno.readTextFileSync(path),
): ParsedCommand<SettingsOf<T>> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
  };
  for (const setting of Object.values(table)) {
    options[setting.flag] = { type: setting.kind === "bool" ? "boolean" : "string" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }));
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] ?? "" : String(err);
    throw new ConfigError([`invalid command line: ${lowerFirst(reason)}`]);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  const problems: string[] = [];
  const missing: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    const fromFlag = values[setting.flag];
    let raw: string | undefined;
    if (typeof fromFlag === "boolean") raw = fromFlag ? "true" : undefined;
    else if (fromFlag !== undefined && setting.secret) {
      try {
        raw = readSecretFile(fromFlag).trim();
      } catch {
        problems.push(`cannot read --${setting.flag} "${fromFlag}": no such readable file`);
        continue;
      }
    } else raw = fromFlag;
    if (raw === undefined || raw === "") raw = emptyToUndefined(env[setting.env]);
    if (raw === undefined) raw = setting.default;
    let source: string | undefined;
    if (raw !== undefined && setting.file) {
      source = raw;
      try {
        raw = readSecretFile(source);
      } catch {
        problems.push(`cannot read ${setting.env} "${source}": no such readable file`);
        continue;
      }
    }
    if (raw === undefined) {
      if (setting.required) missing.push(setting.env);
      config[key] = setting.kind === "bool"
        ? false
        : setting.kind === "list" || setting.kind === "recipients"
        ? []
        : undefined;
      continue;
    }
    const parsed = parseValue(setting, raw, source);
    if (parsed.ok) config[key] = parsed.value;
    else problems.push(parsed.problem);
  }
  if (missing.length > 0) problems.unshift(`missing settings: ${missing.join(", ")}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: "run", config: config as SettingsOf<T> };
}

type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

/** Parses one setting's text; `source` is the file it came from, for a `file` setting. */
function parseValue(setting: Setting, raw: string, source?: string): Parsed {
  const shown = setting.secret
    ? "<redacted>"
    : `"${setting.kind === "url" ? withoutUserInfo(raw) : raw}"`;
  switch (setting.kind) {
    case "string":
      return { ok: true, value: raw };
    case "list":
      return {
        ok: true,
        value: raw.split(",").map((s) => s.trim()).filter((s) => s !== ""),
      };
    case "bool": {
      const lower = raw.toLowerCase();
      if (["1", "true", "yes", "on"].includes(lower)) return { ok: true, value: true };
      if (["0", "false", "no", "off"].includes(lower)) return { ok: true, value: false };
      return { ok: false, problem: `invalid ${setting.env} ${shown}: expected true or false` };
    }
    case "int": {
      const min = setting.min ?? 0;
      const max = setting.max ?? Number.MAX_SAFE_INTEGER;
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        return {
          ok: false,
          problem: `invalid ${setting.env} ${shown}: expected a whole number from ${min} to ${max}`,
        };
      }
      return { ok: true, value: n };
    }
    case "number": {
      const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      const max = setting.max ?? Number.MAX_SAFE_INTEGER;
      if (!(n > 0) || n > max) {
        return {
          ok: false,
          problem: `invalid ${setting.env} ${shown}: expected a positive number up to ${max}`,
        };
      }
      return { ok: true, value: n };
    }
    case "url": {
      let url: URL | undefined;
      try {
        url = new URL(raw);
      } catch {
        url = undefined;
      }
      if (
        !url || (url.protocol !== "http:" && url.protocol !== "https:") || url.username ||
        url.password
      ) {
        return {
          ok: false,
          problem: `invalid ${setting.env} ${shown}: expected a URL such as http://minio:9000`,
        };
      }
      return { ok: true, value: raw.replace(/\/+$/, "") };
    }
    case "recipients": {
      const { recipients, problems } = parseRecipients(raw);
      if (problems.length > 0) {
        const from = source === undefined ? "" : ` "${source}"`;
        return { ok: false, problem: `invalid ${setting.env}${from}: ${problems.join("; ")}` };
      }
      return { ok: true, value: recipients };
    }
    case "timezone":
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: raw });
        return { ok: true, value: raw };
      } catch {
        return {
          ok: false,
          problem:
            `invalid ${setting.env} ${shown}: expected an IANA time zone such as America/Sao_Paulo`,
        };
      }
  }
}

/** A URL's text with any `user:password@` removed, so an error never repeats a password. */
function withoutUserInfo(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1<redacted>@");
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1).replace(/\.$/, "");
}

/**
 * The resolved settings as a log-safe record: secrets become `<redacted>`, unset ones are left out.
 *
 * @param table the settings table
 * @param config the parsed settings
 * @returns env name → shown value
 */
export function describeSettings<T extends SettingsTable>(
  table: T,
  config: SettingsOf<T>,
): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    const value = (config as Record<string, unknown>)[key];
    if (value === undefined || value === false) continue;
    shown[setting.env] = setting.secret ? "<redacted>" : value;
  }
  return shown;
}

/** The values of every secret setting that is set, for scrubbing text before it is logged. */
export function secretValues<T extends SettingsTable>(table: T, config: SettingsOf<T>): string[] {
  const secrets: string[] = [];
  for (const [key, setting] of Object.entries(table)) {
    const value = (config as Record<string, unknown>)[key];
    if (setting.secret && typeof value === "string" && value !== "") secrets.push(value);
  }
  return secrets;
}

/**
 * `--help` text: usage, every setting with its env name, flag and default, and exit codes.
 *
 * @param program the binary's name
 * @param summary what the program does, a few lines
 * @param table its settings
 * @returns the text to print
 */
export function helpText(program: string, summary: string, table: SettingsTable): string {
  const lines = [`Usage: ${program} [flags]`, "", summary, "", "Settings (env / flag):"];
  for (const setting of Object.values(table)) {
    const flag = setting.kind === "bool"
      ? `--${setting.flag}`
      : `--${setting.flag} ${setting.secret || setting.file ? "FILE" : "VALUE"}`;
    const extra = setting.required
      ? " (required)"
      : setting.default !== undefined
      ? ` (default ${setting.default})`
      : "";
    lines.push(`  ${setting.env.padEnd(24)} ${flag}`);
    lines.push(`      ${setting.help}${extra}`);
  }
  lines.push(
    "",
    "  -h, --help               show this text",
    "      --version            show the version",
    "",
    "EXIT STATUS",
    "  0    the run completed",
    "  1    a step failed; the last log line says what and what to do",
    "  2    missing or invalid settings",
    "  130  stopped by SIGINT; 143 stopped by SIGTERM",
  );
  return lines.join("\n");
}
