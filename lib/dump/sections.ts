/**
 * Cutting a pg_dumpall script into sections, so a backup can be read by section: the globals
 * (roles, role settings, tablespaces, and everything before the first database), then one
 * section per database, from pg_dumpall's comment block
 *
 * ```sql
 * --
 * -- Database "app" dump
 * --
 * ```
 *
 * up to where the next one begins. Each section is a script psql can run after the globals on
 * its own: it carries its own `\restrict` key, `SET`s, `CREATE DATABASE` and `\connect`.
 *
 * {@linkcode DumpParser} says where the comment block starts (only between two top-level units:
 * a block inside a string, a function body or COPY data is text); by then the block's first
 * bytes may already have been seen in an earlier chunk, so the cutter holds back the blank lines
 * and comments after each unit until the next unit begins. A section is indexed only when the
 * script is cut as pg_dumpall cuts it: every `\connect` inside the section of the database it
 * names, each database once.
 *
 * @module
 */

/** The first section's name: the globals and everything before the first database. */
export const GLOBALS = "globals";

/** In a sectioned stream, between the bytes of two sections: the name of the one beginning. */
export interface SectionMark {
  readonly name: string;
}

/** A section's name and its size in the script. */
export interface SectionSizes {
  readonly name: string;
  /** Uncompressed bytes of the script in this section. */
  readonly dumpBytes: number;
}

/** Trivia held longer than this goes on; a block found later then starts where it can. */
const HOLD_LIMIT = 1024 * 1024;

/** Where the cutter cuts, fed the script's bytes (after the option gate) and the parser's news. */
export class SectionCutter {
  /** Offset (in the bytes added) of the next byte added. */
  #added = 0;
  /** Added bytes not yet handed on, from offset `#pendingFrom`. */
  #pending: Uint8Array[] = [];
  #pendingFrom = 0;
  /** Cuts found but not yet made, by offset in the bytes added. */
  #cuts: { offset: number; name: string }[] = [];
  /** Offset where the last unit ended, and the script's offset minus it (dropped bytes). */
  #unitEnd = 0;
  #dropped = 0;
  /** The section the parser is in (script order, ahead of what was handed on). */
  #parsing = GLOBALS;
  readonly #names = new Set<string>();
  /** Sections handed on so far; the last one is being written. */
  readonly #sections: { name: string; dumpBytes: number }[] = [{ name: GLOBALS, dumpBytes: 0 }];
  #problem: string | undefined;

  /** Why the sections cannot be indexed, once it is known. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** Bytes of the script, in order, after the option gate. */
  add(bytes: Uint8Array): void {
    this.#pending.push(bytes);
    this.#added += bytes.length;
  }

  /**
   * A top-level unit ended at `scriptOffset`; everything up to it has been added.
   *
   * @param scriptOffset the parser's offset in the script as it came
   */
  unitEnded(scriptOffset: number): void {
    this.#unitEnd = this.#added;
    this.#dropped = scriptOffset - this.#added;
  }

  /**
   * The parser saw a database's comment block begin at `scriptOffset` (between units: after the
   * last unit's end, only blank lines and comments, none of them dropped).
   */
  databaseBegins(name: string, scriptOffset: number): void {
    if (this.#names.has(name)) this.#problem ??= `database "${name}" has two sections`;
    this.#names.add(name);
    this.#parsing = name;
    this.#cuts.push({ offset: scriptOffset - this.#dropped, name });
  }

  /** The parser saw `\connect name`. */
  connected(name: string): void {
    if (this.#parsing === GLOBALS) {
      this.#problem ??= `the script connects to database "${name}" before any section begins`;
    } else if (name !== this.#parsing) {
      this.#problem ??= `the section of database "${this.#parsing}" connects to "${name}"`;
    }
  }

  /**
   * Hands on what is settled: the bytes up to each cut, then its mark, then the bytes that
   * cannot belong to a later section's opening block.
   *
   * @param release hand on everything (the next unit has begun, or the script ended)
   * @param emit receives bytes and marks, in order
   */
  flush(release: boolean, emit: (piece: Uint8Array | SectionMark) => void): void {
    while (this.#cuts.length > 0 && this.#cuts[0]!.offset <= this.#added) {
      const cut = this.#cuts.shift()!;
      this.#emitUpTo(Math.max(cut.offset, this.#pendingFrom), emit);
      this.#sections.push({ name: cut.name, dumpBytes: 0 });
      emit({ name: cut.name });
    }
    let holdFrom = release ? this.#added : Math.max(this.#unitEnd, this.#pendingFrom);
    if (this.#added - holdFrom > HOLD_LIMIT) holdFrom = this.#added;
    this.#emitUpTo(holdFrom, emit);
  }

  /** The sections handed on, or undefined when the script cannot be indexed. */
  sections(): { name: string; dumpBytes: number }[] | undefined {
    return this.#problem === undefined ? this.#sections.map((s) => ({ ...s })) : undefined;
  }

  #emitUpTo(offset: number, emit: (piece: Uint8Array) => void): void {
    const current = this.#sections.at(-1)!;
    while (this.#pendingFrom < offset) {
      const first = this.#pending[0]!;
      const take = Math.min(first.length, offset - this.#pendingFrom);
      if (take === first.length) this.#pending.shift();
      else this.#pending[0] = first.subarray(take);
      emit(take === first.length ? first : first.subarray(0, take));
      this.#pendingFrom += take;
      current.dumpBytes += take;
    }
  }
}
