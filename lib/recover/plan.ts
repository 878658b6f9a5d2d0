/**
 * What a recovery restores, from `RESTORE_DATABASES` (`--databases a,b`) and `RESTORE_RENAME`
 * (`--rename old=new[,old2=new2]`): each chosen database of the backup and the name it gets on
 * the target. Names are taken as written (case and spaces kept, no SQL quoting); `\,`, `\=` and
 * `\\` stand for a comma, an equals sign and a backslash inside a name.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** The recovery's choice: backup name → target name, in the order given. */
export type RecoveryPlan = ReadonlyMap<string, string>;

/** The longest name PostgreSQL keeps (NAMEDATALEN - 1 bytes); longer ones are cut silently. */
const NAME_BYTES = 63;

/**
 * Reads and checks the recovery settings; every problem is reported at once.
 *
 * @param recover `RECOVER` / `--recover`
 * @param databases `RESTORE_DATABASES` / `--databases`
 * @param rename `RESTORE_RENAME` / `--rename`
 * @param verifyOnly `--verify-only`, which a recovery cannot be
 * @returns the plan, or undefined for a drill (no `--recover`, no recovery setting)
 * @throws {ConfigError} listing every problem (exit code 2)
 * @example
 * ```ts
 * recoveryPlan(true, "app,analytics", "app=app_restored");
 * // Map { "app" => "app_restored", "analytics" => "analytics" }
 * ```
 */
export function recoveryPlan(
  recover: boolean,
  databases: string | undefined,
  rename: string | undefined,
  verifyOnly = false,
): RecoveryPlan | undefined {
  const problems: string[] = [];
  if (recover && verifyOnly) problems.push("--recover and --verify-only exclude each other");
  if (!recover) {
    const set = [databases && "RESTORE_DATABASES", rename && "RESTORE_RENAME"].filter(Boolean);
    if (set.length === 0) return undefined;
    throw new ConfigError(
      [`${set.join(" and ")} apply only with --recover (RECOVER=true)`],
      "add --recover to restore only those databases into SCRATCH_PGHOST, or unset them for a drill",
    );
  }
  const chosen = splitList(databases ?? "").map(unescape);
  if (chosen.length === 0) {
    problems.push("missing settings: RESTORE_DATABASES (required with --recover)");
  }
  const plan = new Map<string, string>();
  for (const name of chosen) {
    const problem = nameProblem(name);
    if (problem) problems.push(`invalid RESTORE_DATABASES ${JSON.stringify(name)}: ${problem}`);
    else if (plan.has(name)) problems.push(`RESTORE_DATABASES names ${JSON.stringify(name)} twice`);
    else if (name === "template0" || name === "template1") {
      problems.push(`RESTORE_DATABASES names ${name}: a template database cannot be recovered`);
    } else plan.set(name, name);
  }
  const renamed = new Set<string>();
  for (const item of splitList(rename ?? "")) {
    const pair = splitPair(item);
    if (pair === undefined) {
      problems.push(
        `invalid RESTORE_RENAME ${
          JSON.stringify(item)
        }: expected old=new, such as app=app_restored`,
      );
      continue;
    }
    const [from, to] = pair;
    const problem = nameProblem(to);
    if (problem) problems.push(`invalid RESTORE_RENAME ${JSON.stringify(item)}: ${problem}`);
    else if (!plan.has(from)) {
      problems.push(
        `RESTORE_RENAME renames ${JSON.stringify(from)}, which RESTORE_DATABASES does not choose`,
      );
    } else if (renamed.has(from)) {
      problems.push(`RESTORE_RENAME renames ${JSON.stringify(from)} twice`);
    } else {
      renamed.add(from);
      plan.set(from, to);
    }
  }
  const targets = new Map<string, string>();
  for (const [from, to] of plan) {
    const other = targets.get(to);
    if (other !== undefined) {
      problems.push(
        `RESTORE_DATABASES and RESTORE_RENAME give ${JSON.stringify(other)} and ${
          JSON.stringify(from)
        } the same name ${JSON.stringify(to)}`,
      );
    }
    targets.set(to, from);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return plan;
}

function nameProblem(name: string): string | undefined {
  if (name === "") return "a database name cannot be empty";
  if (new TextEncoder().encode(name).length > NAME_BYTES) {
    return `a database name has at most ${NAME_BYTES} bytes`;
  }
  if (/[\r\n\0]/.test(name)) return "a database name cannot hold a newline or NUL";
  return undefined;
}

/** Splits at unescaped commas; items keep their escapes, are trimmed, and empty ones dropped. */
function splitList(text: string): string[] {
  const items: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && i + 1 < text.length && /[,=\\]/.test(text[i + 1]!)) {
      // Keep the escape for splitPair; resolved there.
      current += c + text[++i];
    } else if (c === ",") {
      items.push(current);
      current = "";
    } else current += c;
  }
  items.push(current);
  return items.map((s) => s.trim()).filter((s) => s !== "");
}

/** `old=new` at the first unescaped `=`, each side unescaped and trimmed. */
function splitPair(item: string): [string, string] | undefined {
  for (let i = 0; i < item.length; i++) {
    if (item[i] === "\\") {
      i++;
      continue;
    }
    if (item[i] === "=") {
      const from = unescape(item.slice(0, i).trim());
      const to = unescape(item.slice(i + 1).trim());
      return from === "" || to === "" ? undefined : [from, to];
    }
  }
  return undefined;
}

function unescape(text: string): string {
  return text.replace(/\\([,=\\])/g, "$1");
}
