/**
 * A pass-through TransformStream over a `pg_dumpall` script that runs {@linkcode DumpParser} on
 * it: chunks go on unchanged, and the parser records rows per table per database (and, with
 * `digests`, the value digests the drill compares). With `dropInternalOptions` (the backup), the
 * one change it may make is to drop the column options no other server accepts (see
 * internal_options.ts beside it); counts and digests are always of the script as it came.
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
import { Buffer } from "node:buffer";
import { InternalOptionGate } from "./internal_options.ts";

export type { DatabaseCounts, DumpCounts, DumpValues };

/** What the stream computes, and whether it may drop internal column options. */
export interface DumpStatsOptions extends DumpParserOptions {
  /** Drop the column options only the source server accepts (the backup). @default false */
  readonly dropInternalOptions?: boolean;
}

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
  readonly #gate: InternalOptionGate | undefined;

  constructor(options: DumpStatsOptions = {}) {
    if (!options.dropInternalOptions) {
      const parser = new DumpParser(options);
      super({
        transform: (chunk, controller) => {
          parser.push(chunk);
          controller.enqueue(chunk);
        },
        flush: () => parser.end(),
      });
      this.#parser = parser;
      return;
    }
    // The parser says where each unit of the chunk being pushed ends; the gate sees the units.
    // What the gate lets through during one chunk goes on as one chunk (one write to zstd).
    let pieces: Uint8Array[] = [];
    const gate = new InternalOptionGate((bytes) => pieces.push(bytes));
    const flushPieces = (out: TransformStreamDefaultController<Uint8Array>) => {
      if (pieces.length === 1) out.enqueue(pieces[0]!);
      else if (pieces.length > 1) out.enqueue(Buffer.concat(pieces));
      pieces = [];
    };
    let chunk: Uint8Array = new Uint8Array(0);
    let from = 0;
    const parser = new DumpParser({
      ...options,
      onUnitEnd: (end, kind) => {
        gate.add(chunk.subarray(from, end));
        gate.end(kind);
        from = end;
      },
    });
    super({
      transform: (data, controller) => {
        chunk = data;
        from = 0;
        parser.push(data);
        gate.add(data.subarray(from));
        flushPieces(controller);
      },
      flush: (controller) => {
        parser.end();
        gate.finish();
        flushPieces(controller);
      },
    });
    this.#parser = parser;
    this.#gate = gate;
  }

  /** Internal column options dropped from the script (0 without `dropInternalOptions`). */
  get droppedOptions(): number {
    return this.#gate?.dropped ?? 0;
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
