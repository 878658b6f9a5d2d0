/**
 * Reads a `pg_dumpall` SQL script as it passes and counts, per database, the rows of every
 * table's COPY block and the large objects. Chunks pass on unchanged; only small line heads are
 * kept, so memory stays bounded whatever the dump's size.
 *
 * Limits: a line inside a function body or string literal that looks exactly like a COPY
 * statement (`COPY x (…) FROM stdin;` at the start of a line) would be taken for one.
 *
 * @module
 */

/** Rows per table (`schema.table`) and large objects of one database. */
export interface DatabaseCounts {
  /** Row count per table, keyed by `schema.table` (identifiers quoted only when needed). */
  tables: Record<string, number>;
  /** Number of large objects. */
  largeObjects: number;
}

/** What the dump holds, per database name. */
export type DumpCounts = Record<string, DatabaseCounts>;

const NL = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
// Enough for any COPY line: at most 1600 columns of at most 63 bytes each, quoted.
const HEAD_LIMIT = 1024 * 1024;
const CLUSTER = "";

/**
 * A TransformStream over a dump script that counts rows per table and database.
 *
 * @example
 * ```ts
 * const counter = new DumpStatsStream();
 * const sql = "\\connect app\nCOPY public.t (x) FROM stdin;\n1\n2\n\\.\n";
 * await ReadableStream.from([new TextEncoder().encode(sql)]).pipeThrough(counter)
 *   .pipeTo(new WritableStream());
 * counter.counts(); // { app: { tables: { "public.t": 2 }, largeObjects: 0 } }
 * ```
 */
export class DumpStatsStream extends TransformStream<Uint8Array, Uint8Array> {
  #bytes = 0;
  #rows = 0;
  #counts: DumpCounts = {};
  #database = CLUSTER;
  #table: DatabaseCounts["tables"] | undefined;
  #tableName = "";
  #head: Uint8Array = new Uint8Array(HEAD_LIMIT);
  #headLength = 0;
  #decoder = new TextDecoder();

  constructor() {
    super({
      transform: (chunk, controller) => {
        this.#scan(chunk);
        this.#bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush: () => {
        if (this.#headLength > 0) this.#endLine();
      },
    });
  }

  /** Uncompressed bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Table rows counted so far, over all databases. */
  get rows(): number {
    return this.#rows;
  }

  /** Counts per database; complete once the stream has ended. */
  counts(): DumpCounts {
    return structuredClone(this.#counts);
  }

  #scan(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#table !== undefined) {
        pos = this.#scanCopy(chunk, pos);
        continue;
      }
      const nl = chunk.indexOf(NL, pos);
      const end = nl === -1 ? chunk.length : nl;
      this.#keepHead(chunk, pos, end);
      if (nl === -1) return;
      this.#endLine();
      pos = nl + 1;
    }
  }

  /** Counts data lines until the `\.` line; returns where scanning stopped. */
  #scanCopy(chunk: Uint8Array, start: number): number {
    let pos = start;
    let rows = 0;
    // A line continued from the previous chunk has its head in #head already.
    if (this.#headLength > 0) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl === -1 ? chunk.length : nl;
      if (this.#headLength < 3) this.#keepHead(chunk, pos, Math.min(end, pos + 3));
      if (nl === -1) return chunk.length;
      const isEnd = this.#headLength === 2 && this.#head[0] === BACKSLASH &&
        this.#head[1] === DOT;
      this.#headLength = 0;
      pos = nl + 1;
      if (isEnd) {
        this.#finishCopy(0);
        return pos;
      }
      rows++;
    }
    // Whole lines: look at their bytes in place (no copy, no allocation per row).
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        this.#keepHead(chunk, pos, Math.min(chunk.length, pos + 3));
        break;
      }
      if (nl - pos === 2 && chunk[pos] === BACKSLASH && chunk[pos + 1] === DOT) {
        this.#finishCopy(rows);
        return nl + 1;
      }
      rows++;
      pos = nl + 1;
    }
    this.#addRows(rows);
    return chunk.length;
  }

  #addRows(rows: number): void {
    if (this.#table === undefined || rows === 0) return;
    this.#table[this.#tableName] = (this.#table[this.#tableName] ?? 0) + rows;
    this.#rows += rows;
  }

  #finishCopy(rows: number): void {
    this.#addRows(rows);
    this.#table = undefined;
  }

  #keepHead(chunk: Uint8Array, start: number, end: number): void {
    const room = HEAD_LIMIT - this.#headLength;
    const take = Math.min(room, end - start);
    if (take <= 0) return;
    this.#head.set(chunk.subarray(start, start + take), this.#headLength);
    this.#headLength += take;
  }

  #endLine(): void {
    const first = this.#head[0];
    const length = this.#headLength;
    this.#headLength = 0;
    // Only lines starting with C, S or \ can matter; skip the rest without decoding.
    if (length === 0 || (first !== 0x43 && first !== 0x53 && first !== BACKSLASH)) return;
    const line = this.#decoder.decode(this.#head.subarray(0, length));
    if (line.startsWith("\\connect ")) {
      const name = parseConnectLine(line);
      if (name !== undefined) {
        this.#database = name;
        this.#db();
      }
    } else if (line.startsWith("COPY ")) {
      const table = parseCopyLine(line);
      if (table !== undefined) {
        const db = this.#db();
        db.tables[table] ??= 0;
        this.#table = db.tables;
        this.#tableName = table;
      }
    } else if (line.startsWith("SELECT pg_catalog.lo_create(")) {
      this.#db().largeObjects++;
    }
  }

  #db(): DatabaseCounts {
    return (this.#counts[this.#database] ??= { tables: {}, largeObjects: 0 });
  }
}

/**
 * The database a `\connect` line switches to: `\connect app` or
 * `\connect -reuse-previous=on "dbname='Weird DB'"`.
 *
 * @param line the whole line
 * @returns the database name, or undefined when the line is not understood
 */
export function parseConnectLine(line: string): string | undefined {
  const rest = line.slice("\\connect ".length).trim();
  const complex = /^-reuse-previous=on "(.*)"$/.exec(rest);
  if (complex) {
    const connstr = complex[1]!.replaceAll('""', '"');
    const m = /^dbname='((?:[^'\\]|\\.)*)'$/.exec(connstr);
    return m ? m[1]!.replace(/\\(.)/g, "$1") : undefined;
  }
  if (/^[^\s"']+$/.test(rest)) return rest;
  const quoted = /^"((?:[^"]|"")*)"$/.exec(rest);
  return quoted ? quoted[1]!.replaceAll('""', '"') : undefined;
}

/**
 * The table a `COPY schema.table (cols) FROM stdin;` line loads, as `schema.table`.
 *
 * @param line the whole line
 * @returns the table name, or undefined when the line is not a COPY FROM stdin statement
 */
export function parseCopyLine(line: string): string | undefined {
  if (!line.endsWith(" FROM stdin;")) return undefined;
  const parts: string[] = [];
  let i = "COPY ".length;
  while (i < line.length) {
    let part: string;
    if (line[i] === '"') {
      let j = i + 1;
      part = "";
      for (;;) {
        const q = line.indexOf('"', j);
        if (q === -1) return undefined;
        part += line.slice(j, q);
        if (line[q + 1] === '"') {
          part += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
    } else {
      const m = /^[^\s."(]+/.exec(line.slice(i));
      if (!m) return undefined;
      part = m[0];
      i += part.length;
    }
    parts.push(part);
    if (line[i] === ".") {
      i++;
      continue;
    }
    break;
  }
  if (parts.length !== 2) return undefined;
  return qualifiedName(parts[0]!, parts[1]!);
}

/**
 * `schema.table` with each identifier double-quoted only when it is not a plain lowercase name,
 * so the dump's and the restored server's names compare equal.
 */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIfNeeded(schema)}.${quoteIfNeeded(table)}`;
}

function quoteIfNeeded(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}
