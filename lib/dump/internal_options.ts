/**
 * Column options that a server keeps for itself and that no other server accepts.
 *
 * PostgreSQL 15.20 (Debian `15.20-0+deb12u1`) stamps an internal option, `pg_attver=<n>`, on
 * every column it creates: `attoptions` reads `{pg_attver=22096736}`. Its own pg_dump leaves the
 * option out, and `ALTER ... SET (pg_attver=...)` is ignored by that server. pg_dumpall 18 (the
 * toolbox image's) knows nothing of it and writes it back as an ordinary column option:
 *
 * ```sql
 * ALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=22096736);
 * ```
 *
 * and a PostgreSQL 18 server stops such a script at the first table with
 * `ERROR: unrecognized parameter "pg_attver"`. A backup of a 15.20 source would then restore
 * nowhere but into the same minor release.
 *
 * The backup therefore drops these options from the script on its way to zstd, so the stored
 * object is what PostgreSQL 15.20's own pg_dump would have written for those statements and
 * restores with plain `psql` into PostgreSQL 18. Only the statement form pg_dump writes for column
 * options is touched (`ALTER [FOREIGN ]TABLE ONLY <table> ALTER COLUMN <column> SET (<options>);`,
 * a whole top-level statement as {@linkcode DumpParser} cuts them), and in it only the
 * `pg_attver=<digits>` items; other options of the same column (`n_distinct`) stay. A statement
 * left with no option is dropped. COPY data, strings and function bodies are never looked at.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { UnitKind } from "./parser.ts";

/** The internal column options dropped, by name. */
export const INTERNAL_COLUMN_OPTIONS: readonly string[] = ["pg_attver"];

const ascii = new TextDecoder("ascii");
const encoder = new TextEncoder();

const HEADS = ["ALTER TABLE ONLY ", "ALTER FOREIGN TABLE ONLY "].map((h) => encoder.encode(h));
const SET_OPEN = encoder.encode(" SET (");
const ALTER_COLUMN = encoder.encode(" ALTER COLUMN ");
/**
 * A column-option statement is far shorter (two quoted 63-byte names, a schema and a few
 * options); a unit held this long is something else and passes on.
 */
const HOLD_LIMIT = 16 * 1024;
const OPTION = /^([a-z_][a-z0-9_]*)=[0-9A-Za-z.+-]+$/;
const DROPPED = new RegExp(`^(?:${INTERNAL_COLUMN_OPTIONS.join("|")})=[0-9]+$`);

/**
 * Sits on the top-level units of a dump script (see {@linkcode DumpParserOptions.onUnitEnd}):
 * bytes of the current unit go in with {@linkcode add}, {@linkcode end} closes it. Everything is
 * passed to `emit` unchanged and at once, except a unit that may still turn out to be a
 * column-option statement: that one is held (at most {@linkcode HOLD_LIMIT} bytes) until it ends.
 *
 * @example
 * ```ts
 * const out: Uint8Array[] = [];
 * const gate = new InternalOptionGate((b) => out.push(b));
 * gate.add(new TextEncoder().encode("\nALTER TABLE ONLY public.t ALTER COLUMN a SET (pg_attver=7);"));
 * gate.end("statement"); // nothing went out; gate.dropped === 1
 * ```
 */
export class InternalOptionGate {
  readonly #emit: (bytes: Uint8Array) => void;
  /** Held bytes of the current unit; undefined once it is known to pass unchanged. */
  #held: Uint8Array[] | undefined = [];
  #heldLength = 0;
  #dropped = 0;

  constructor(emit: (bytes: Uint8Array) => void) {
    this.#emit = emit;
  }

  /** Options dropped so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** More bytes of the current unit: passed on as they are, or copied while held. */
  add(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#held === undefined) {
      this.#emit(bytes);
      return;
    }
    if (this.#heldLength === 0 && (bytes.length > HOLD_LIMIT || !mayBeCandidate(bytes))) {
      // Decided by the unit's first bytes (nearly always): on it goes, uncopied.
      this.#held = undefined;
      this.#emit(bytes);
      return;
    }
    this.#held.push(bytes.slice());
    this.#heldLength += bytes.length;
    if (this.#heldLength > HOLD_LIMIT || !mayBeCandidate(this.#joined())) this.#release();
  }

  /** The current unit ended; `kind` says what it was. */
  end(kind: UnitKind): void {
    if (this.#held !== undefined && this.#heldLength > 0) {
      const unit = this.#joined();
      const out = kind === "statement" ? this.#rewrite(unit) : unit;
      if (out.length > 0) this.#emit(out);
    }
    this.#held = [];
    this.#heldLength = 0;
  }

  /** The script ended: whatever is held goes out as it is. */
  finish(): void {
    if (this.#held !== undefined && this.#heldLength > 0) this.#emit(this.#joined());
    this.#held = [];
    this.#heldLength = 0;
  }

  #release(): void {
    const unit = this.#joined();
    this.#held = undefined;
    this.#heldLength = 0;
    this.#emit(unit);
  }

  #joined(): Uint8Array {
    const parts = this.#held!;
    if (parts.length === 1) return parts[0]!;
    const out = Buffer.concat(parts, this.#heldLength);
    this.#held = [out];
    return out;
  }

  /** The unit without its internal options, or the unit itself when it has none. */
  #rewrite(unit: Uint8Array): Uint8Array {
    const start = skipSpace(unit);
    const end = unit.length;
    if (!HEADS.some((head) => startsWith(unit, start, head))) return unit;
    if (unit[end - 1] !== 0x3b || unit[end - 2] !== 0x29) return unit; // ");"
    const open = lastIndexOf(unit, SET_OPEN, end - 2);
    if (open === -1 || indexOf(unit, ALTER_COLUMN, start, open) === -1) return unit;
    const listStart = open + SET_OPEN.length;
    const items = ascii.decode(unit.subarray(listStart, end - 2)).split(", ");
    if (!items.every((item) => OPTION.test(item))) return unit;
    const kept = items.filter((item) => !DROPPED.test(item));
    if (kept.length === items.length) return unit;
    this.#dropped += items.length - kept.length;
    if (kept.length === 0) return unit.subarray(0, 0); // the line goes, as 15.20's pg_dump has it
    const tail = encoder.encode(`${kept.join(", ")});`);
    const out = new Uint8Array(listStart + tail.length);
    out.set(unit.subarray(0, listStart));
    out.set(tail, listStart);
    return out;
  }
}

/** Whether a unit's bytes so far (leading whitespace aside) still agree with a statement head. */
function mayBeCandidate(unit: Uint8Array): boolean {
  const start = skipSpace(unit);
  return HEADS.some((head) => {
    const n = Math.min(head.length, unit.length - start);
    for (let i = 0; i < n; i++) if (unit[start + i] !== head[i]) return false;
    return true;
  });
}

function skipSpace(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x0a || bytes[i] === 0x20 || bytes[i] === 0x0d)) i++;
  return i;
}

function startsWith(bytes: Uint8Array, at: number, head: Uint8Array): boolean {
  if (bytes.length - at < head.length) return false;
  for (let i = 0; i < head.length; i++) if (bytes[at + i] !== head[i]) return false;
  return true;
}

function indexOf(bytes: Uint8Array, needle: Uint8Array, from: number, to: number): number {
  for (let i = from; i + needle.length <= to; i++) if (startsWith(bytes, i, needle)) return i;
  return -1;
}

function lastIndexOf(bytes: Uint8Array, needle: Uint8Array, before: number): number {
  for (let i = before - needle.length; i >= 0; i--) if (startsWith(bytes, i, needle)) return i;
  return -1;
}
