/**
 * How a program's settings are read: each setting has an environment name and a flag, and a
 * flag wins over the environment. Secrets come only from the environment or from a file that a
 * `--<name>-file` flag names, never from a flag's value, so they never show in `ps`. Every
 * problem is gathered before one ConfigError (exit code 2) lists them all. The tables themselves
 * are in config.ts.
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
