/**
 * A pass-through TransformStream over a `pg_dumpall` script that runs {@linkcode DumpParser} on
 * it: chunks go on unchanged, and the parser records rows per table per database (and, with
 * `digests`, the value digests the drill compares).
 *
 * @module
 */
import {
  type DatabaseCounts,
  type DumpCounts,
  DumpParser,
  type DumpParserOptions,
  type DumpValues,
} from "./parser.ts";

export type { DatabaseCounts, DumpCounts, DumpValues };

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
  readonly #parser: DumpParser;

  constructor(options: DumpParserOptions = {}) {
    const parser = new DumpParser(options);
    super({
      transform: (chunk, controller) => {
        parser.push(chunk);
        controller.enqueue(chunk);
      },
      flush: () => parser.end(),
    });
    this.#parser = parser;
  }

  /** Uncompressed bytes seen so far. */
  get bytes(): number {
    return this.#parser.bytes;
  }

  /** Table rows counted so far, over all databases. */
  get rows(): number {
    return this.#parser.rows;
  }

  /** COPY blocks without pg_dump's TABLE DATA header before them (0 for a pg_dumpall script). */
  get unheadedBlocks(): number {
    return this.#parser.unheadedBlocks;
  }

  /** Counts per database; complete once the stream has ended. */
  counts(): DumpCounts {
    return this.#parser.counts();
  }

  /** Value digests per database (with `digests: true`); complete once the stream has ended. */
  values(): DumpValues {
    return this.#parser.values();
  }
}
