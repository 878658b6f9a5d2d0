/**
 * SQL identifiers, the one place that quotes and reads them: {@linkcode quoteIdent} prints a name
 * exactly as PostgreSQL's `quote_ident()` (and pg_dump's `fmtId()`) does, keywords included, and
 * {@linkcode readIdent} reads a name back from SQL text (a dump's COPY line, a role statement),
 * so names compare as names, never as one client's spelling of them.
 *
 * @module
 */
import { QUOTED_KEYWORDS } from "./keywords.ts";

/**
 * An identifier as PostgreSQL's `quote_ident()` prints it: bare when it is a lowercase letter or
 * underscore followed by lowercase letters, digits and underscores and is not a keyword that
 * PostgreSQL 18 quotes; otherwise double-quoted, with `"` doubled.
 *
 * @param name the identifier as stored (`pg_class.relname`, `pg_roles.rolname`)
 * @returns SQL text that names it
 * @example
 * ```ts
 * quoteIdent("orders"); // orders
 * quoteIdent("user"); // "user"
 * quoteIdent("Weird Name"); // "Weird Name"
 * quoteIdent("a$b"); // "a$b"
 * ```
 */
export function quoteIdent(name: string): string {
  if (/^[a-z_][a-z0-9_]*$/.test(name) && !QUOTED_KEYWORDS.has(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * `schema.table`, each part quoted by {@linkcode quoteIdent}: the key a table has in the
 * manifest and in the drill's reports.
 *
 * @example
 * ```ts
 * qualifiedName("public", "user"); // public."user"
 * qualifiedName("MixedCase", "OrderItems"); // "MixedCase"."OrderItems"
 * ```
 */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * Reads one identifier token from SQL text, as PostgreSQL's lexer does: `"..."` with `""` for a
 * quote, kept as written; or a bare word (letter, underscore or non-ASCII byte, then also digits
 * and `$`), with ASCII letters folded to lowercase.
 *
 * @param text SQL text
 * @param pos where the token starts
 * @returns the name and the index just after the token, or undefined when no identifier starts
 *   at `pos` (or a quoted one is not closed)
 * @example
 * ```ts
 * readIdent('CREATE ROLE "user";', 12); // { name: "user", end: 18 }
 * readIdent("COPY Public.t", 5); // { name: "public", end: 11 }
 * ```
 */
export function readIdent(text: string, pos: number): { name: string; end: number } | undefined {
  if (text[pos] === '"') {
    let name = "";
    let i = pos + 1;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q === -1) return undefined;
      name += text.slice(i, q);
      if (text[q + 1] !== '"') return name === "" ? undefined : { name, end: q + 1 };
      name += '"';
      i = q + 2;
    }
  }
  const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(pos, pos + 256));
  if (!m) return undefined;
  let end = pos + m[0].length;
  // A bare word longer than the window: take the rest of it too.
  while (end < text.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(text[end]!)) end++;
  return { name: text.slice(pos, end).replace(/[A-Z]+/g, (s) => s.toLowerCase()), end };
}

/**
 * Splits `schema.table` (each part bare or double-quoted, as written by any version of
 * backup-toolbox or pg_dump) into its two names.
 *
 * @returns `[schema, table]`, or undefined when the text is not exactly two identifiers
 * @example
 * ```ts
 * splitQualifiedName('"MixedCase"."OrderItems"'); // ["MixedCase", "OrderItems"]
 * splitQualifiedName("public.user"); // ["public", "user"]
 * ```
 */
export function splitQualifiedName(text: string): [string, string] | undefined {
  const schema = readIdent(text, 0);
  if (!schema || text[schema.end] !== ".") return undefined;
  const table = readIdent(text, schema.end + 1);
  if (!table || table.end !== text.length) return undefined;
  return [schema.name, table.name];
}
