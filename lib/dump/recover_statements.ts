/**
 * What the recovery filter (recover_filter.ts) reads in one top-level unit of a pg_dumpall
 * script: which kind of unit it is (a session setting, a switch to another database's section,
 * `\unrestrict`, anything else), the databases a statement names and where, the cluster-wide
 * statements and role statements of the globals, and every identifier that could name a role.
 * All of it works on the unit's text as psql reads it: strings, quoted identifiers, dollar
 * quotes and comments are skipped where they hide a name.
 *
 * @module
 */
import { RestoreError } from "../errors.ts";
import { readIdent } from "../pg/ident.ts";
import { QUOTED_KEYWORDS } from "../pg/keywords.ts";
import { parseConnectLine } from "./parser.ts";

/** A dump that a recovery must not send on: what is wrong with it. */
export class RecoveryDumpError extends RestoreError {}

/** A session unit (`SET`, `set_config`, `\restrict`, comments): it waits for the next section. */
export const SESSION = 0;
/** A unit that switches sections: `CREATE DATABASE name`, `\connect name`. */
export const SWITCH = 1;
/** `\unrestrict`: it closes the current section. */
export const UNRESTRICT = 2;
/** Anything else: it belongs to the current section. */
export const OTHER = 3;

/**
 * The `\connect` line(s) pg_dump writes for a database: bare when the name is letters, digits,
 * `_` and `.`, otherwise `\encoding SQL_ASCII` and the `-reuse-previous=on "dbname='…'"` form
 * (the name passes through psql byte for byte).
 *
 * @example
 * ```ts
 * connectLine("app"); // "\\connect app\n"
 * connectLine("my db"); // "\\encoding SQL_ASCII\n\\connect -reuse-previous=on \"dbname='my db'\"\n"
 * ```
 */
export function connectLine(name: string): string {
  if (/^[A-Za-z0-9_.]+$/.test(name)) return `\\connect ${name}\n`;
  const connstr = `dbname='${name.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  return `\\encoding SQL_ASCII\n\\connect -reuse-previous=on "${connstr.replaceAll('"', '""')}"\n`;
}

/** Where the first significant character of SQL text is: after blanks and comments. */
export function skipTrivia(text: string, from: number): number {
  let i = from;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith("--", i)) {
      const nl = text.indexOf("\n", i);
      if (nl === -1) return text.length;
      i = nl + 1;
    } else if (text.startsWith("/*", i)) {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text.startsWith("/*", i)) {
          depth++;
          i += 2;
        } else if (text.startsWith("*/", i)) {
          depth--;
          i += 2;
        } else i++;
      }
    } else return i;
  }
}

/** What a unit is: session (waits), a section switch (with the database), `\unrestrict`, other. */
export function classify(sig: string): [number, string?] {
  if (sig === "") return [SESSION];
  if (sig.startsWith("\\")) {
    const line = sig.split("\n")[0]!.replace(/\r$/, "").trimEnd();
    const command = /^\\(\S+)/.exec(line)?.[1] ?? "";
    if (command === "connect" || command === "c") {
      const name = parseConnectLine(line.replace(/^\\c /, "\\connect "));
      if (name === undefined) {
        throw new RecoveryDumpError(
          `recovery stopped: cannot read the dump's line ${JSON.stringify(line.slice(0, 200))}`,
          "the dump is not what pg_dumpall writes; restore the whole cluster into a new server instead",
        );
      }
      return [SWITCH, name];
    }
    if (command === "unrestrict") return [UNRESTRICT];
    return [SESSION];
  }
  if (/^(SET|RESET)\s/i.test(sig) || /^SELECT\s+pg_catalog\.set_config\(/i.test(sig)) {
    return [SESSION];
  }
  const create = /^CREATE\s+DATABASE\s+/i.exec(sig);
  if (create) {
    const ident = readIdent(sig, create[0].length);
    if (ident) return [SWITCH, ident.name];
  }
  return [OTHER];
}

/** An identifier's name and where it is in the statement. */
export interface Named {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The databases a statement names when it is one of the statements that name a database
 * (see the module comment), with their places; undefined for any other statement.
 */
export function databaseNames(sig: string): { names: Named[] } | undefined {
  const single = /^(?:CREATE\s+DATABASE|ALTER\s+DATABASE|COMMENT\s+ON\s+DATABASE)\s+/i.exec(sig) ??
    /^SECURITY\s+LABEL\s+(?:FOR\s+(?:"(?:[^"]|"")*"|[^\s"]+)\s+)?ON\s+DATABASE\s+/i.exec(sig) ??
    /^ALTER\s+(?:ROLE|USER)\s+(?:"(?:[^"]|"")*"|[^\s"]+)\s+IN\s+DATABASE\s+/i.exec(sig);
  if (single) {
    const ident = readIdent(sig, single[0].length);
    if (!ident) return undefined;
    return { names: [{ name: ident.name, start: single[0].length, end: ident.end }] };
  }
  const acl = /^(?:GRANT|REVOKE)\s[^;"']*?\bON\s+DATABASE\s+/i.exec(sig);
  if (!acl) return undefined;
  const names: Named[] = [];
  let i = acl[0].length;
  for (;;) {
    const ident = readIdent(sig, i);
    if (!ident) break;
    names.push({ name: ident.name, start: i, end: ident.end });
    const comma = /^\s*,\s*/.exec(sig.slice(ident.end, ident.end + 64));
    if (!comma) break;
    i = ident.end + comma[0].length;
  }
  return names.length > 0 ? { names } : undefined;
}

/** The first words of a statement that changes something cluster-wide, or undefined. */
export function clusterWide(sig: string): string | undefined {
  const m =
    /^(?:(?:CREATE|ALTER|DROP)\s+(?:ROLE|USER|GROUP|TABLESPACE)|ALTER\s+SYSTEM|(?:CREATE|DROP)\s+DATABASE|REASSIGN\s+OWNED)\b/i
      .exec(sig);
  if (m) return m[0].replace(/\s+/g, " ").toUpperCase();
  const membership = /^(?:GRANT|REVOKE)\s+/i.exec(sig);
  if (membership) {
    // GRANT role TO role: a role name, then TO (privileges are keywords, followed by ON).
    const first = readIdent(sig, membership[0].length);
    if (first && /^\s*(?:,|\s+TO\s|\s+FROM\s)/i.test(sig.slice(first.end, first.end + 8))) {
      if (!/\bON\b/i.test(sig.slice(0, sig.search(/\s(?:TO|FROM)\s/i)))) {
        return `${membership[0].trim().toUpperCase()} role membership`;
      }
    }
  }
  return undefined;
}

/** A role statement of the globals. */
export type RoleStatement =
  | { kind: "create" | "alter" | "comment" | "label"; role: string }
  | { kind: "in-database"; role: string; database: Named }
  | {
    kind: "membership";
    role: string;
    member: string;
    grantor: { name: string; clauseStart: number; end: number } | undefined;
  };

export function roleStatement(sig: string): RoleStatement | undefined {
  const head = /^(CREATE\s+ROLE|ALTER\s+ROLE|COMMENT\s+ON\s+ROLE)\s+/i.exec(sig) ??
    /^SECURITY\s+LABEL\s+(?:FOR\s+(?:"(?:[^"]|"")*"|[^\s"]+)\s+)?ON\s+ROLE\s+/i.exec(sig);
  if (head) {
    const ident = readIdent(sig, head[0].length);
    if (!ident) return undefined;
    const word = head[0].split(/\s+/)[0]!.toLowerCase();
    if (word === "alter") {
      const inDb = /^\s+IN\s+DATABASE\s+/i.exec(sig.slice(ident.end));
      if (inDb) {
        const at = ident.end + inDb[0].length;
        const db = readIdent(sig, at);
        if (!db) return undefined;
        return {
          kind: "in-database",
          role: ident.name,
          database: { name: db.name, start: at, end: db.end },
        };
      }
    }
    const kind = word === "create"
      ? "create"
      : word === "alter"
      ? "alter"
      : word === "comment"
      ? "comment"
      : "label";
    return { kind, role: ident.name };
  }
  const grant = /^GRANT\s+/i.exec(sig);
  if (!grant) return undefined;
  const role = readIdent(sig, grant[0].length);
  if (!role) return undefined;
  const to = /^\s+TO\s+/i.exec(sig.slice(role.end));
  if (!to) return undefined;
  const member = readIdent(sig, role.end + to[0].length);
  if (!member) return undefined;
  let grantor: { name: string; clauseStart: number; end: number } | undefined;
  const by = /\s+GRANTED\s+BY\s+/i.exec(sig.slice(member.end));
  if (by) {
    const clauseStart = member.end + by.index;
    const g = readIdent(sig, clauseStart + by[0].length);
    if (g) grantor = { name: g.name, clauseStart, end: g.end };
  }
  return { kind: "membership", role: role.name, member: member.name, grantor };
}

/**
 * The leading keywords of a statement, for a log line: pg_dump writes keywords in capitals and
 * names in lower case or quoted, so this never shows a name or a literal.
 */
export function firstWords(sig: string): string {
  const words = /^[A-Z]+(?:[ \t\n]+[A-Z]+(?=[\s;]|$)){0,3}/.exec(sig)?.[0] ?? "";
  return words.replace(/\s+/g, " ") || "(unrecognised)";
}

/**
 * Every identifier of SQL text that could name a role: quoted identifiers, and bare words that
 * are not keywords pg_dump would have quoted. Strings, dollar-quoted bodies and comments are
 * skipped.
 */
export function identifiers(sql: string): Set<string> {
  const names = new Set<string>();
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'") {
      const escape = i > 0 && /[eE]/.test(sql[i - 1]!) && (i < 2 || !/\w/.test(sql[i - 2]!));
      i++;
      while (i < n) {
        if (escape && sql[i] === "\\") i += 2;
        else if (sql[i] === "'") {
          if (sql[i + 1] === "'") i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === '"') {
      const ident = readIdent(sql, i);
      if (!ident) return names;
      names.add(ident.name);
      i = ident.end;
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(
        sql.slice(i, i + 256),
      );
      if (!tag) {
        i++;
        continue;
      }
      const close = sql.indexOf(tag[0], i + tag[0].length);
      i = close === -1 ? n : close + tag[0].length;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl === -1 ? n : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = skipTrivia(sql, i);
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i, i + 1024))!;
      let end = i + m[0].length;
      while (end < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[end]!)) end++;
      const word = sql.slice(i, end).replace(/[A-Z]+/g, (s) => s.toLowerCase());
      // E'...' is an escape string, not a name.
      const escapePrefix = word === "e" && sql[end] === "'";
      if (!QUOTED_KEYWORDS.has(word) && !escapePrefix) names.add(word);
      i = end;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9A-Za-z_.]+/.exec(sql.slice(i, i + 256))!;
      i += m[0].length;
    } else i++;
  }
  return names;
}
