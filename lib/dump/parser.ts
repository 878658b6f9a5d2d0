/**
 * Reads a `pg_dumpall` SQL script as psql would run it, and records what it holds: per
 * database (`\connect` lines), the rows of every table's COPY data, an order-independent digest
 * of those rows with the COPY column list (see copy_digest.ts beside it), the large objects and a digest
 * of their contents, and the session settings the script itself sets (`client_encoding`).
 *
 * It follows the script's structure, not the shape of single lines: it tracks psql's lexical
 * state (single-quoted and E'' strings, quoted identifiers, dollar quotes, nested block comments,
 * `--` comments, backslash meta-command lines such as `\connect`, `\restrict`, `\unrestrict`,
 * parentheses and the `BEGIN ATOMIC ... END` bodies in which `;` does not end a statement), so a
 * `COPY ... FROM stdin;` line, a `\.` line or a fake `-- Data for Name:` header inside a function
 * body, comment or string is text, not structure. Only a top-level `COPY ... FROM stdin`
 * statement starts a data block, and the block runs to its `\.` line, exactly as for psql.
 * pg_dump's `-- Data for Name: ...; Type: TABLE DATA` header before each block is checked too:
 * a block without one is counted in {@linkcode DumpParser.unheadedBlocks}.
 *
 * Data lines are skipped (or hashed) in place, without copying or allocating per row; memory is
 * bounded by small fixed buffers whatever the dump's size.
 *
 * @module
 */
import { CopyDigest, StreamHash } from "./copy_digest.ts";
import { qualifiedName, readIdent } from "../pg/ident.ts";

/** Rows per table (`schema.table`) and large objects of one database. */
export interface DatabaseCounts {
  /** Row count per table, keyed by {@linkcode qualifiedName}. */
  tables: Record<string, number>;
  /** Number of large objects. */
  largeObjects: number;
}

/** What the dump holds, per database name. */
export type DumpCounts = Record<string, DatabaseCounts>;

/** One table's data in the dump, as the value check needs it. */
export interface TableValues {
  /** The COPY column list, names unquoted, in the dump's order. */
  readonly columns: readonly string[];
  readonly rows: number;
  /** {@linkcode CopyDigest} of the data lines: 16 hex digits. */
  readonly digest: string;
  /** Set when the rows cannot be compared by value, saying why. */
  readonly notComparable?: string;
}

/** One database's data in the dump, as the value check needs it. */
export interface DatabaseValues {
  /** `client_encoding` the script set for this database's data (e.g. `UTF8`). */
  readonly encoding: string;
  readonly tables: Readonly<Record<string, TableValues>>;
  /** Large objects: how many were written, and a digest of OIDs and contents. */
  readonly largeObjects: {
    readonly count: number;
    readonly digest: string;
    readonly notComparable?: string;
  };
}

/** Value digests per database name. */
export type DumpValues = Record<string, DatabaseValues>;

/** What to compute besides counts. */
export interface DumpParserOptions {
  /** Hash every data line and large object (for the drill). @default false */
  readonly digests?: boolean;
  /** With `digests`: hash only the databases this accepts (the others are counted). */
  readonly digestsFor?: (database: string) => boolean;
  /**
   * Called during {@linkcode DumpParser.push} each time a top-level unit of the script ends, with
   * the offset just after it in the chunk being pushed: a statement (at its `;`), a COPY
   * statement whose data follows, a backslash command line (after its newline), or a COPY data
   * block (after its `\.` line). What lies between two ends is one unit, its leading comments
   * and blank lines included.
   */
  readonly onUnitEnd?: (end: number, kind: UnitKind) => void;
  /**
   * Called when pg_dumpall's comment block that opens a database's part of the script ends
   * (`--`, `-- Database "<name>" dump`, `--`, between two units at top level), with the
   * database's name and the script offset (from its first byte) where the block starts.
   */
  readonly onDatabaseComment?: (name: string, offset: number) => void;
  /** Called when a `\connect` line switches the script to another database. */
  readonly onConnect?: (name: string) => void;
}

/** What ended: see {@linkcode DumpParserOptions.onUnitEnd}. */
export type UnitKind = "statement" | "copy" | "meta" | "data";

const CLUSTER = "";
const NL = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const CR = 0x0d;

// Lexical states outside COPY data.
const NORMAL = 0;
const SQUOTE = 1; // in '...'
const SQUOTE_END = 2; // saw ' inside '...': '' continues, anything else ends
const SQUOTE_BS = 3; // saw \ inside E'...'
const DQUOTE = 4;
const DQUOTE_END = 5;
const DOLLAR_TAG = 6; // saw $ in NORMAL, reading a tag
const DOLLAR = 7; // in a dollar-quoted body
const DOLLAR_CLOSE = 8; // saw $ in the body, matching the tag
const DASH = 9; // saw - in NORMAL
const LINE_COMMENT = 10;
const SLASH = 11; // saw / in NORMAL
const BLOCK = 12; // in /* */ (nested)
const BLOCK_STAR = 13;
const BLOCK_SLASH = 14;
const META = 15; // a backslash command, to the end of its line

// What the first word of a statement makes it.
const KIND_OTHER = 0;
const KIND_COPY = 1;
const KIND_SET = 2;
const KIND_SELECT = 3;

// Word being lexed in NORMAL.
const WORD_NONE = 0;
const WORD_IDENT = 1;
const WORD_NUMBER = 2;

/** Long enough for a COPY statement of 1600 quoted 63-byte column names, and a lowrite of 16 KiB. */
const CAPTURE_LIMIT = 1024 * 1024;
const COMMENT_LIMIT = 4096;
const META_LIMIT = 64 * 1024;
const TAG_LIMIT = 256;

function isIdentStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

interface TableState {
  rows: number;
  digest: CopyDigest | undefined;
  columns: string[];
  notComparable?: string;
}

interface DatabaseState {
  encoding: string;
  tables: Map<string, TableState>;
  largeObjects: number;
  loCount: number;
  loS1: number;
  loS2: number;
  loProblem?: string;
}

/**
 * A push parser over a pg_dumpall script: feed chunks with {@linkcode push}, then call
 * {@linkcode end}.
 *
 * @example
 * ```ts
 * const p = new DumpParser();
 * p.push(new TextEncoder().encode("\\connect app\nCOPY public.t (x) FROM stdin;\n1\n2\n\\.\n"));
 * p.end();
 * p.counts(); // { app: { tables: { "public.t": 2 }, largeObjects: 0 } }
 * ```
 */
export class DumpParser {
  readonly #digests: boolean;
  readonly #digestsFor: ((database: string) => boolean) | undefined;
  readonly #onUnitEnd: ((end: number, kind: UnitKind) => void) | undefined;
  readonly #onDatabaseComment: ((name: string, offset: number) => void) | undefined;
  readonly #onConnect: ((name: string) => void) | undefined;
  #bytes = 0;
  /** Script offset of the current chunk's first byte. */
  #base = 0;
  /** Script offset just after the last top-level unit that ended. */
  #unitEnd = 0;
  #rows = 0;
  #dbs = new Map<string, DatabaseState>();
  #db: DatabaseState;
  #dbName = CLUSTER;
  #unheaded = 0;
  #decoder = new TextDecoder();

  // COPY data.
  #inData = false;
  #table: TableState | undefined;
  #blockDigest: CopyDigest | undefined;
  #blockRows = 0;
  /** Count-only mode: bytes of the current line seen so far (up to 3) and their values. */
  #lineLen = 0;
  #line0 = 0;
  #line1 = 0;
  #line2 = 0;

  // Lexer.
  #state = NORMAL;
  #stdStrings = true;
  #escapeString = false;
  #parenDepth = 0;
  #beginDepth = 0;
  #identCount = 0;
  #idents = [0, 0, 0, 0];
  #word = WORD_NONE;
  #wordBuf = new Uint8Array(16);
  #wordLen = 0;
  /** The word just ended was a lone `E` or `e`: a quote right after it starts an E'' string. */
  #lastWordWasE = false;
  #blockDepth = 0;
  #tag = new Uint8Array(TAG_LIMIT);
  #tagLen = 0;
  #tagMatch = 0;
  #tagOk = true;

  // The current statement.
  #significant = false;
  #kind = KIND_OTHER;
  #capture = new Uint8Array(CAPTURE_LIMIT);
  #captureLen = 0;
  #captureFrom = -1; // index in the current chunk, or -1 when not capturing
  #copyPending = false;
  #header: { type: string } | undefined;
  #comment = new Uint8Array(COMMENT_LIMIT);
  #commentLen = 0;
  #commentFrom = -1;
  /** Script offsets of the comment line being read (its `--`, its end). */
  #commentStart = 0;
  #commentEnd = 0;
  /** The last top-level comment line read: where it was, and whether it was a bare `--`. */
  #lastComment: { start: number; end: number; bare: boolean } | undefined;
  #meta = new Uint8Array(META_LIMIT);
  #metaLen = 0;
  #metaFrom = -1;

  // Large objects being written (digest mode).
  #lo: { oid: string; hash: StreamHash } | undefined;
  #loHash = new StreamHash();

  constructor(options: DumpParserOptions = {}) {
    this.#digests = options.digests ?? false;
    this.#digestsFor = options.digestsFor;
    this.#onUnitEnd = options.onUnitEnd;
    this.#onDatabaseComment = options.onDatabaseComment;
    this.#onConnect = options.onConnect;
    this.#db = this.#database(CLUSTER);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Data rows seen so far, over all databases. */
  get rows(): number {
    return this.#rows + this.#blockRows + (this.#blockDigest?.rows ?? 0);
  }

  /** COPY data blocks that had no `-- Data for Name: ...; Type: TABLE DATA` header before them. */
  get unheadedBlocks(): number {
    return this.#unheaded;
  }

  /**
   * Script offset just after the last top-level unit that ended: while {@linkcode atTrivia}, what
   * follows it is blank lines and comments only.
   */
  get unitEnd(): number {
    return this.#unitEnd;
  }

  /**
   * Whether the script so far ends between two units: after the last unit's end there are only
   * blank lines and comments (no statement, backslash command or data has begun).
   */
  get atTrivia(): boolean {
    if (this.#inData || this.#copyPending || this.#significant || this.#word !== WORD_NONE) {
      return false;
    }
    const s = this.#state;
    return s === NORMAL || s === DASH || s === LINE_COMMENT || s === SLASH || s === BLOCK ||
      s === BLOCK_STAR || s === BLOCK_SLASH;
  }

  /** Feeds the next chunk of the script. */
  push(chunk: Uint8Array): void {
    this.#base = this.#bytes;
    this.#bytes += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#inData) {
        pos = this.#scanData(chunk, pos);
        if (!this.#inData) {
          this.#unitEnd = this.#base + pos;
          this.#onUnitEnd?.(pos, "data");
        }
      } else {
        pos = this.#scanSql(chunk, pos);
      }
    }
    // Keep what the open captures hold of this chunk.
    if (this.#captureFrom >= 0) this.#keepCapture(chunk, this.#captureFrom, chunk.length);
    if (this.#commentFrom >= 0) this.#keepComment(chunk, this.#commentFrom, chunk.length);
    if (this.#metaFrom >= 0) this.#keepMeta(chunk, this.#metaFrom, chunk.length);
    this.#captureFrom = this.#captureFrom >= 0 ? 0 : -1;
    this.#commentFrom = this.#commentFrom >= 0 ? 0 : -1;
    this.#metaFrom = this.#metaFrom >= 0 ? 0 : -1;
  }

  /** Ends the script: a last line without a newline still counts, as for psql. */
  end(): void {
    if (this.#inData) {
      // psql sends a last line without its newline as data too.
      if (this.#blockDigest) {
        if (this.#blockDigest.pendingBytes > 0) {
          this.#blockDigest.update(new Uint8Array([NL]), 0, true);
        }
      } else if (this.#lineLen > 0) {
        this.#blockRows++;
      }
      this.#finishBlock();
      return;
    }
    if (this.#state === META) this.#endMeta();
    if (this.#state === LINE_COMMENT) this.#endComment();
    if (this.#kind !== KIND_OTHER) this.#endStatement();
  }

  /** Rows per table and large objects, per database; complete once {@linkcode end} ran. */
  counts(): DumpCounts {
    const out: DumpCounts = {};
    for (const [name, db] of this.#dbs) {
      if (name === CLUSTER && db.tables.size === 0 && db.largeObjects === 0) continue;
      const tables: Record<string, number> = {};
      for (const [t, s] of db.tables) tables[t] = s.rows;
      out[name] = { tables, largeObjects: db.largeObjects };
    }
    return out;
  }

  /** Value digests per database (only with `digests: true`); complete once {@linkcode end} ran. */
  values(): DumpValues {
    const out: DumpValues = {};
    for (const [name, db] of this.#dbs) {
      if (name === CLUSTER && db.tables.size === 0 && db.largeObjects === 0) continue;
      const tables: Record<string, TableValues> = {};
      for (const [t, s] of db.tables) {
        tables[t] = {
          columns: s.columns,
          rows: s.rows,
          digest: s.digest?.hex() ?? "",
          ...(s.notComparable !== undefined ? { notComparable: s.notComparable } : {}),
        };
      }
      const digest = db.loS1.toString(16).padStart(8, "0") + db.loS2.toString(16).padStart(8, "0");
      out[name] = {
        encoding: db.encoding,
        tables,
        largeObjects: {
          count: db.loCount,
          digest,
          ...(db.loProblem !== undefined ? { notComparable: db.loProblem } : {}),
        },
      };
    }
    return out;
  }

  #database(name: string): DatabaseState {
    let db = this.#dbs.get(name);
    if (!db) {
      db = {
        encoding: this.#db?.encoding ?? "UTF8",
        tables: new Map(),
        largeObjects: 0,
        loCount: 0,
        loS1: 0,
        loS2: 0,
      };
      this.#dbs.set(name, db);
    }
    return db;
  }

  // ---- COPY data ----

  /** Skips or hashes data lines until the `\.` line; returns where scanning stopped. */
  #scanData(chunk: Uint8Array, start: number): number {
    if (this.#blockDigest) {
      const after = this.#blockDigest.update(chunk, start, true);
      if (after === -1) return chunk.length;
      this.#finishBlock();
      return after;
    }
    let pos = start;
    let rows = 0;
    // A line continued from the previous chunk.
    if (this.#lineLen > 0) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl === -1 ? chunk.length : nl;
      for (let i = pos; i < end && this.#lineLen < 4; i++) this.#lineByte(chunk[i]!);
      if (nl === -1) return chunk.length;
      const isEnd = this.#line0 === BACKSLASH && this.#line1 === DOT &&
        (this.#lineLen === 2 || (this.#lineLen === 3 && this.#line2 === CR));
      this.#lineLen = 0;
      if (isEnd) {
        this.#finishBlock();
        return nl + 1;
      }
      this.#blockRows++;
      pos = nl + 1;
    }
    // Whole lines: look at their bytes in place.
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        for (let i = pos; i < chunk.length && this.#lineLen < 4; i++) this.#lineByte(chunk[i]!);
        break;
      }
      const len = nl - pos;
      if (
        len <= 3 && len >= 2 && chunk[pos] === BACKSLASH && chunk[pos + 1] === DOT &&
        (len === 2 || chunk[pos + 2] === CR)
      ) {
        this.#blockRows += rows;
        this.#finishBlock();
        return nl + 1;
      }
      rows++;
      pos = nl + 1;
    }
    this.#blockRows += rows;
    return chunk.length;
  }

  #lineByte(b: number): void {
    if (this.#lineLen === 0) this.#line0 = b;
    else if (this.#lineLen === 1) this.#line1 = b;
    else if (this.#lineLen === 2) this.#line2 = b;
    this.#lineLen++;
  }

  #finishBlock(): void {
    const table = this.#table;
    const digest = this.#blockDigest;
    const rows = digest ? digest.rows : this.#blockRows;
    if (table) {
      table.rows += rows;
      if (digest) table.digest?.add(digest);
    }
    this.#rows += rows;
    this.#inData = false;
    this.#table = undefined;
    this.#blockDigest = undefined;
    this.#blockRows = 0;
    this.#lineLen = 0;
  }

  // ---- SQL ----

  /** Lexes SQL from `start`; returns where it stopped (the chunk's end, or where data begins). */
  #scanSql(chunk: Uint8Array, start: number): number {
    let i = start;
    let afterE = false;
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i]!;
      switch (this.#state) {
        case NORMAL:
          if (this.#word !== WORD_NONE) {
            const cont = this.#word === WORD_IDENT
              ? isIdentStart(b) || isDigit(b) || b === 0x24
              : isDigit(b) || isIdentStart(b) || b === DOT;
            if (cont) {
              // A letter after digits makes the whole token junk, as for psql: keep it a word.
              if (this.#wordLen < 16) this.#wordBuf[this.#wordLen] = b;
              this.#wordLen++;
              i++;
              continue;
            }
            this.#endWord(i);
          }
          afterE = this.#lastWordWasE;
          this.#lastWordWasE = false;
          if (b === NL) {
            i++;
            if (this.#copyPending) {
              this.#copyPending = false;
              this.#inData = true;
              return i;
            }
            continue;
          }
          if (b === 0x20 || b === 0x09 || b === CR || b === 0x0c) {
            i++;
            continue;
          }
          if (isIdentStart(b)) {
            this.#startWord(WORD_IDENT, b);
          } else if (isDigit(b)) {
            this.#startWord(WORD_NUMBER, b);
          } else if (b === 0x27) {
            this.#significant = true;
            this.#state = SQUOTE;
            this.#escapeString = !this.#stdStrings || afterE;
          } else if (b === 0x22) {
            this.#significant = true;
            this.#state = DQUOTE;
          } else if (b === 0x24) {
            this.#state = DOLLAR_TAG;
            this.#tagLen = 0;
          } else if (b === 0x2d) {
            this.#state = DASH;
          } else if (b === 0x2f) {
            this.#state = SLASH;
          } else if (b === BACKSLASH) {
            this.#state = META;
            this.#metaLen = 0;
            this.#metaFrom = i;
          } else if (b === 0x3b) {
            this.#significant = true;
            if (this.#parenDepth === 0 && this.#beginDepth === 0) {
              if (this.#captureFrom >= 0) this.#keepCapture(chunk, this.#captureFrom, i + 1);
              this.#captureFrom = -1;
              this.#endStatement();
              this.#unitEnd = this.#base + i + 1;
              this.#onUnitEnd?.(i + 1, this.#copyPending ? "copy" : "statement");
            }
          } else {
            this.#significant = true;
            if (b === 0x28) this.#parenDepth++;
            else if (b === 0x29 && this.#parenDepth > 0) this.#parenDepth--;
          }
          i++;
          continue;
        case SQUOTE: {
          if (this.#escapeString) {
            if (b === 0x27) this.#state = SQUOTE_END;
            else if (b === BACKSLASH) this.#state = SQUOTE_BS;
            i++;
            continue;
          }
          const q = chunk.indexOf(0x27, i);
          if (q === -1) return n;
          this.#state = SQUOTE_END;
          i = q + 1;
          continue;
        }
        case SQUOTE_BS:
          this.#state = SQUOTE;
          i++;
          continue;
        case SQUOTE_END:
          if (b === 0x27) {
            this.#state = SQUOTE;
            i++;
          } else {
            this.#state = NORMAL;
          }
          continue;
        case DQUOTE: {
          const q = chunk.indexOf(0x22, i);
          if (q === -1) return n;
          this.#state = DQUOTE_END;
          i = q + 1;
          continue;
        }
        case DQUOTE_END:
          if (b === 0x22) {
            this.#state = DQUOTE;
            i++;
          } else {
            this.#state = NORMAL;
          }
          continue;
        case DOLLAR_TAG:
          if (b === 0x24) {
            this.#significant = true;
            this.#state = DOLLAR;
            i++;
          } else if (
            this.#tagLen < TAG_LIMIT &&
            (isIdentStart(b) || (this.#tagLen > 0 && isDigit(b)))
          ) {
            this.#tag[this.#tagLen++] = b;
            i++;
          } else {
            // Not a dollar quote ($1, or a lone $): look at this byte again as plain SQL.
            this.#significant = true;
            this.#state = NORMAL;
          }
          continue;
        case DOLLAR: {
          const d = chunk.indexOf(0x24, i);
          if (d === -1) return n;
          this.#state = DOLLAR_CLOSE;
          this.#tagMatch = 0;
          i = d + 1;
          continue;
        }
        case DOLLAR_CLOSE:
          if (this.#tagMatch === this.#tagLen) {
            if (b === 0x24) {
              this.#state = NORMAL;
              i++;
            } else {
              this.#state = DOLLAR;
            }
          } else if (b === this.#tag[this.#tagMatch]) {
            this.#tagMatch++;
            i++;
          } else if (b === 0x24) {
            this.#tagMatch = 0;
            i++;
          } else {
            this.#state = DOLLAR;
          }
          continue;
        case DASH:
          if (b === 0x2d) {
            this.#state = LINE_COMMENT;
            this.#commentLen = 0;
            if (!this.#significant) {
              this.#comment[0] = 0x2d;
              this.#comment[1] = 0x2d;
              this.#commentLen = 2;
              this.#commentFrom = i + 1;
              this.#commentStart = this.#base + i - 1;
            }
            i++;
          } else {
            this.#significant = true;
            this.#state = NORMAL;
          }
          continue;
        case LINE_COMMENT: {
          const nl = chunk.indexOf(NL, i);
          if (nl === -1) return n;
          if (this.#commentFrom >= 0) this.#keepComment(chunk, this.#commentFrom, nl);
          this.#commentEnd = this.#base + nl;
          this.#endComment();
          this.#state = NORMAL;
          i = nl; // the newline itself is handled as SQL (it may start COPY data)
          continue;
        }
        case SLASH:
          if (b === 0x2a) {
            this.#state = BLOCK;
            this.#blockDepth = 1;
            i++;
          } else {
            this.#significant = true;
            this.#state = NORMAL;
          }
          continue;
        case BLOCK:
          if (b === 0x2a) this.#state = BLOCK_STAR;
          else if (b === 0x2f) this.#state = BLOCK_SLASH;
          i++;
          continue;
        case BLOCK_STAR:
          if (b === 0x2f) {
            this.#blockDepth--;
            this.#state = this.#blockDepth === 0 ? NORMAL : BLOCK;
          } else if (b !== 0x2a) {
            this.#state = BLOCK;
          }
          i++;
          continue;
        case BLOCK_SLASH:
          if (b === 0x2a) {
            this.#blockDepth++;
            this.#state = BLOCK;
          } else if (b !== 0x2f) {
            this.#state = BLOCK;
          }
          i++;
          continue;
        case META: {
          const nl = chunk.indexOf(NL, i);
          if (nl === -1) return n;
          if (this.#metaFrom >= 0) this.#keepMeta(chunk, this.#metaFrom, nl);
          this.#metaFrom = -1;
          this.#endMeta();
          this.#state = NORMAL;
          // A command inside a statement belongs to it; one on its own is a unit.
          if (!this.#significant) {
            this.#unitEnd = this.#base + nl + 1;
            this.#onUnitEnd?.(nl + 1, "meta");
          }
          i = nl;
          continue;
        }
      }
    }
    return n;
  }

  #startWord(kind: number, b: number): void {
    this.#word = kind;
    this.#wordBuf[0] = b;
    this.#wordLen = 1;
  }

  /** A word ended just before `at` in the current chunk. */
  #endWord(at: number): void {
    const kind = this.#word;
    const len = this.#wordLen;
    this.#word = WORD_NONE;
    this.#lastWordWasE = kind === WORD_IDENT && len === 1 &&
      (this.#wordBuf[0] === 0x45 || this.#wordBuf[0] === 0x65);
    const first = !this.#significant;
    this.#significant = true;
    if (kind !== WORD_IDENT) return;
    const w = len <= 16 ? this.#lower(len) : "";
    // psql's rule for CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END bodies.
    const count = this.#identCount++;
    if (count < 4) {
      this.#idents[count] =
        w === "create" || w === "or" || w === "replace" || w === "function" || w === "procedure"
          ? w.charCodeAt(0)
          : 0;
    }
    const ids = this.#idents;
    if (
      ids[0] === 0x63 &&
      (ids[1] === 0x66 || ids[1] === 0x70 ||
        (ids[1] === 0x6f && ids[2] === 0x72 && (ids[3] === 0x66 || ids[3] === 0x70))) &&
      this.#parenDepth === 0
    ) {
      if (w === "begin") this.#beginDepth++;
      else if (w === "case" && this.#beginDepth >= 1) this.#beginDepth++;
      else if (w === "end" && this.#beginDepth > 0) this.#beginDepth--;
    }
    if (first) {
      this.#kind = w === "copy"
        ? KIND_COPY
        : w === "set"
        ? KIND_SET
        : w === "select"
        ? KIND_SELECT
        : KIND_OTHER;
      if (this.#kind !== KIND_OTHER) {
        this.#capture.set(this.#wordBuf.subarray(0, len));
        this.#captureLen = len;
        this.#captureFrom = at;
      }
    }
  }

  #lower(len: number): string {
    let s = "";
    for (let k = 0; k < len; k++) {
      const c = this.#wordBuf[k]!;
      s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
    }
    return s;
  }

  #keepCapture(chunk: Uint8Array, from: number, to: number): void {
    const take = Math.min(to - from, CAPTURE_LIMIT - this.#captureLen);
    if (take <= 0) return;
    this.#capture.set(chunk.subarray(from, from + take), this.#captureLen);
    this.#captureLen += take;
  }

  #keepComment(chunk: Uint8Array, from: number, to: number): void {
    const take = Math.min(to - from, COMMENT_LIMIT - this.#commentLen);
    if (take <= 0) return;
    this.#comment.set(chunk.subarray(from, from + take), this.#commentLen);
    this.#commentLen += take;
  }

  #keepMeta(chunk: Uint8Array, from: number, to: number): void {
    const take = Math.min(to - from, META_LIMIT - this.#metaLen);
    if (take <= 0) return;
    this.#meta.set(chunk.subarray(from, from + take), this.#metaLen);
    this.#metaLen += take;
  }

  #endComment(): void {
    const from = this.#commentFrom;
    this.#commentFrom = -1;
    if (from < 0 && this.#commentLen === 0) return;
    const text = this.#decoder.decode(this.#comment.subarray(0, this.#commentLen));
    this.#commentLen = 0;
    // pg_dump's entry headers: "-- Name: ...; Type: ...", "-- Data for Name: ...; Type: ...".
    const m = /^-- (?:Data for |Statistics for )?Name: .*; Type: (.+?); Schema: /.exec(text);
    if (m) this.#header = { type: m[1]! };
    const line = text.replace(/\r$/, "");
    const previous = this.#lastComment;
    const start = this.#commentStart;
    this.#lastComment = { start, end: this.#commentEnd, bare: line === "--" };
    const database = /^-- Database "(.*)" dump$/.exec(line);
    if (database && this.#onDatabaseComment) {
      // The block starts at the bare `--` line right before, when there is one.
      const adjacent = previous?.bare && previous.end + 1 === start;
      this.#onDatabaseComment(database[1]!, adjacent ? previous.start : start);
    }
  }

  #endMeta(): void {
    const text = this.#decoder.decode(this.#meta.subarray(0, this.#metaLen)).replace(/\r$/, "");
    this.#metaLen = 0;
    this.#metaFrom = -1;
    if (text.startsWith("\\connect ") || text.startsWith("\\c ")) {
      const name = parseConnectLine(text.replace(/^\\c /, "\\connect "));
      if (name !== undefined) {
        this.#onConnect?.(name);
        this.#dbName = name;
        this.#db = this.#database(name);
      }
    }
  }

  #endStatement(): void {
    const kind = this.#kind;
    this.#kind = KIND_OTHER;
    this.#significant = false;
    this.#parenDepth = 0;
    this.#beginDepth = 0;
    this.#identCount = 0;
    this.#idents.fill(0);
    this.#lastWordWasE = false;
    this.#captureFrom = -1;
    if (kind === KIND_OTHER) return;
    const bytes = this.#capture.subarray(0, this.#captureLen);
    this.#captureLen = 0;
    // Most SELECTs are statistics or set_config calls: look at their start before decoding.
    if (
      kind === KIND_SELECT && this.#decoder.decode(bytes.subarray(0, 20)) !== "SELECT pg_catalog.lo"
    ) {
      return;
    }
    const text = this.#decoder.decode(bytes);
    if (kind === KIND_COPY) this.#copyStatement(text);
    else if (kind === KIND_SET) this.#setStatement(text);
    else this.#selectStatement(text);
  }

  #copyStatement(text: string): void {
    const copy = parseCopyStatement(text);
    if (!copy) return;
    const header = this.#header;
    this.#header = undefined;
    if (header?.type !== "TABLE DATA") this.#unheaded++;
    // Data follows the line that ends this statement.
    this.#copyPending = true;
    const key = copy.schema === undefined ? undefined : qualifiedName(copy.schema, copy.table);
    let table: TableState | undefined;
    if (key !== undefined) {
      table = this.#db.tables.get(key);
      if (!table) {
        table = {
          rows: 0,
          digest: this.#digestsHere() ? new CopyDigest() : undefined,
          columns: copy.columns ?? [],
        };
        if (copy.columns === undefined) table.notComparable = "its COPY statement lists no columns";
        this.#db.tables.set(key, table);
      } else if (copy.columns?.join("\0") !== table.columns.join("\0")) {
        table.notComparable = "its COPY blocks list different columns";
      }
      if (copy.options !== "") {
        table.notComparable = `its COPY statement has options (${copy.options.slice(0, 80)})`;
      }
    }
    this.#table = table;
    this.#blockDigest = this.#digestsHere() ? new CopyDigest() : undefined;
    this.#blockRows = 0;
    this.#lineLen = 0;
  }

  #digestsHere(): boolean {
    return this.#digests && (this.#digestsFor?.(this.#dbName) ?? true);
  }

  #setStatement(text: string): void {
    const m = /^SET\s+(\w+)\s*(?:=|TO)\s*'?([^';]*)'?\s*;?$/i.exec(text.trim());
    if (!m) return;
    const name = m[1]!.toLowerCase();
    if (name === "standard_conforming_strings") this.#stdStrings = m[2]!.toLowerCase() !== "off";
    else if (name === "client_encoding") this.#db.encoding = m[2]!.toUpperCase();
  }

  #selectStatement(text: string): void {
    if (text.startsWith("SELECT pg_catalog.lo_create(")) {
      this.#db.largeObjects++;
      return;
    }
    if (!this.#digestsHere()) return;
    const db = this.#db;
    const open = /^SELECT pg_catalog\.lo_open\('(\d+)', \d+\);$/.exec(text);
    if (open) {
      this.#lo = { oid: open[1]!, hash: this.#loHash };
      return;
    }
    const write = /^SELECT pg_catalog\.lowrite\(0, '\\x([0-9a-fA-F]*)'\);$/.exec(text);
    if (write && this.#lo) {
      this.#lo.hash.update(hexBytes(write[1]!));
      return;
    }
    if (text.startsWith("SELECT pg_catalog.lowrite(")) {
      db.loProblem = "a large object's data is not written as a hex bytea literal";
      return;
    }
    if (text === "SELECT pg_catalog.lo_close(0);" && this.#lo) {
      addLargeObject(db, this.#lo.oid, this.#lo.hash);
      this.#lo = undefined;
    }
  }
}

/**
 * Adds one large object (its OID and the hash of its content) to a database's digest. The
 * drill's side does the same for each restored large object.
 */
function addLargeObject(db: DatabaseState, oid: string, content: StreamHash): void {
  content.finish();
  const h = largeObjectHash(oid, content.h1, content.h2);
  db.loS1 = (db.loS1 + h[0]) >>> 0;
  db.loS2 = (db.loS2 + h[1]) >>> 0;
  db.loCount++;
}

/**
 * The hash one large object adds to a database's large-object digest: its OID and the 64-bit
 * hash of its content ({@linkcode StreamHash}), hashed together.
 *
 * @returns two 32-bit lanes
 */
export function largeObjectHash(oid: string, h1: number, h2: number): [number, number] {
  const s = new StreamHash();
  s.update(new TextEncoder().encode(`${oid}:${h1 >>> 0}:${h2 >>> 0}`));
  s.finish();
  return [s.h1 >>> 0, s.h2 >>> 0];
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
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

/** A parsed `COPY [schema.]table [(columns)] FROM stdin [options];` statement. */
export interface CopyStatement {
  /** Undefined when the table name is not schema-qualified. */
  readonly schema: string | undefined;
  readonly table: string;
  /** Undefined when the statement lists no columns. */
  readonly columns: string[] | undefined;
  /** Anything between `stdin` and `;` (pg_dump writes nothing there). */
  readonly options: string;
}

/**
 * Reads a top-level COPY statement; only `FROM stdin` (any case) makes psql read data lines.
 *
 * @param text the statement, from `COPY` to its `;`
 * @returns the parsed statement, or undefined when it is not a COPY ... FROM stdin
 * @example
 * ```ts
 * parseCopyStatement('COPY public."user" (id, "Name") FROM stdin;');
 * // { schema: "public", table: "user", columns: ["id", "Name"], options: "" }
 * ```
 */
export function parseCopyStatement(text: string): CopyStatement | undefined {
  let i = skipSpace(text, 4);
  if (!/^copy\s/i.test(text)) return undefined;
  const first = readIdent(text, i);
  if (!first) return undefined;
  i = first.end;
  let schema: string | undefined;
  let table = first.name;
  if (text[i] === ".") {
    const second = readIdent(text, i + 1);
    if (!second) return undefined;
    schema = first.name;
    table = second.name;
    i = second.end;
    if (text[i] === ".") return undefined;
  }
  i = skipSpace(text, i);
  let columns: string[] | undefined;
  if (text[i] === "(") {
    columns = [];
    i = skipSpace(text, i + 1);
    while (text[i] !== ")") {
      const col = readIdent(text, i);
      if (!col) return undefined;
      columns.push(col.name);
      i = skipSpace(text, col.end);
      if (text[i] === ",") i = skipSpace(text, i + 1);
      else if (text[i] !== ")") return undefined;
    }
    i = skipSpace(text, i + 1);
  }
  const m = /^FROM\s+STDIN\b\s*([^;]*?)\s*;\s*$/i.exec(text.slice(i));
  if (!m) return undefined;
  return { schema, table, columns, options: m[1]! };
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return i;
}
