/**
 * Pass-through TransformStreams over a `pg_dumpall` script that run {@linkcode DumpParser} on it:
 * chunks go on unchanged, and the parser records rows per table per database (and, with
 * `digests`, the value digests the drill compares). With `dropInternalOptions` (the backup), the
 * one change the stream may make is to drop the column options no other server accepts (see
 * internal_options.ts beside it); counts and digests are always of the script as it came.
 *
 * {@linkcode SectionedDumpStream} (the backup's) also says where the script's sections begin:
 * the globals first, then one section per database from pg_dumpall's `-- Database "<name>" dump`
 * comment block on (see sections.ts beside it).
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
import { SectionCutter, type SectionMark, type SectionSizes } from "./sections.ts";

export type { DatabaseCounts, DumpCounts, DumpValues, SectionMark, SectionSizes };

/** What the stream computes, and whether it may drop internal column options. */
export interface DumpStatsOptions extends DumpParserOptions {
  /** Drop the column options only the source server accepts (the backup). @default false */
  readonly dropInternalOptions?: boolean;
}

/** What goes out after one chunk: bytes, and (sectioned) the marks between them. */
type Out<O> = (piece: O) => void;

/**
 * The scan both streams share: the parser, the option gate, and the section cutter, fed one
 * chunk at a time.
 */
class DumpScan {
  readonly parser: DumpParser;
  readonly gate: InternalOptionGate | undefined;
  readonly cutter: SectionCutter | undefined;
  #pieces: Uint8Array[] = [];
  #chunk: Uint8Array = new Uint8Array(0);
  #from = 0;

  constructor(options: DumpStatsOptions, sections: boolean) {
    const gated = options.dropInternalOptions ?? false;
    this.gate = gated ? new InternalOptionGate((bytes) => this.#emit(bytes)) : undefined;
    this.cutter = sections ? new SectionCutter() : undefined;
    const cutter = this.cutter;
    this.parser = new DumpParser({
      ...options,
      ...(gated || cutter
        ? {
          // The gate sees whole units; the cutter learns where each unit ended.
          onUnitEnd: (end, kind) => {
            this.#take(end);
            this.gate?.end(kind);
            cutter?.unitEnded(this.parser.unitEnd);
          },
        }
        : {}),
      ...(cutter
        ? {
          onDatabaseComment: (name, offset) => cutter.databaseBegins(name, offset),
          onConnect: (name) => cutter.connected(name),
        }
        : {}),
    });
  }

  /** Feeds a chunk; what may go out now is handed to `out`. */
  push<O>(chunk: Uint8Array, out: Out<Uint8Array | O>, mark: (m: SectionMark) => O): void {
    if (!this.gate && !this.cutter) {
      this.parser.push(chunk);
      out(chunk);
      return;
    }
    this.#chunk = chunk;
    this.#from = 0;
    this.parser.push(chunk);
    this.#take(chunk.length);
    this.#flush(out, mark, false);
  }

  /** The script ended: everything held goes out. */
  end<O>(out: Out<Uint8Array | O>, mark: (m: SectionMark) => O): void {
    this.parser.end();
    if (!this.gate && !this.cutter) return;
    this.gate?.finish();
    this.#flush(out, mark, true);
  }

  /** Hands the current chunk's bytes up to `end` to the gate (or straight on). */
  #take(end: number): void {
    const bytes = this.#chunk.subarray(this.#from, end);
    this.#from = end;
    if (bytes.length === 0) return;
    if (this.gate) this.gate.add(bytes);
    else this.#emit(bytes);
  }

  #emit(bytes: Uint8Array): void {
    if (this.cutter) this.cutter.add(bytes);
    else this.#pieces.push(bytes);
  }

  #flush<O>(out: Out<Uint8Array | O>, mark: (m: SectionMark) => O, last: boolean): void {
    if (this.cutter) {
      this.cutter.flush(last || !this.parser.atTrivia, (piece) => {
        if (piece instanceof Uint8Array) this.#pieces.push(piece);
        else {
          this.#out(out);
          out(mark(piece));
        }
      });
    }
    this.#out(out);
  }

  /** What the gate let through during one chunk goes on as one chunk (one write to zstd). */
  #out(out: Out<Uint8Array>): void {
    const pieces = this.#pieces;
    if (pieces.length === 1) out(pieces[0]!);
    else if (pieces.length > 1) out(Buffer.concat(pieces));
    this.#pieces = [];
  }
}

/** A pass-through stream over a dump script, and what its parser found. */
class ScanningStream<O> extends TransformStream<Uint8Array, O> {
  readonly #scan: DumpScan;

  constructor(scan: DumpScan, transformer: Transformer<Uint8Array, O>) {
    super(transformer);
    this.#scan = scan;
  }

  /** Internal column options dropped from the script (0 without `dropInternalOptions`). */
  get droppedOptions(): number {
    return this.#scan.gate?.dropped ?? 0;
  }

  /** Uncompressed bytes seen so far. */
  get bytes(): number {
    return this.#scan.parser.bytes;
  }

  /** Table rows counted so far, over all databases. */
  get rows(): number {
    return this.#scan.parser.rows;
  }

  /** COPY blocks without pg_dump's TABLE DATA header before them (0 for a pg_dumpall script). */
  get unheadedBlocks(): number {
    return this.#scan.parser.unheadedBlocks;
  }

  /** Counts per database; complete once the stream has ended. */
  counts(): DumpCounts {
    return this.#scan.parser.counts();
  }

  /** Value digests per database (with `digests: true`); complete once the stream has ended. */
  values(): DumpValues {
    return this.#scan.parser.values();
  }
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
export class DumpStatsStream extends ScanningStream<Uint8Array> {
  constructor(options: DumpStatsOptions = {}) {
    const scan = new DumpScan(options, false);
    const none = (): never => {
      throw new Error("unreachable: a DumpStatsStream cuts no sections");
    };
    super(scan, {
      transform: (chunk, controller) => scan.push(chunk, (p) => controller.enqueue(p), none),
      flush: (controller) => scan.end((p) => controller.enqueue(p), none),
    });
  }
}

/**
 * The backup's stream: like {@linkcode DumpStatsStream}, and between the bytes of two sections
 * a {@linkcode SectionMark} naming the section that begins (the globals' section begins before
 * the first byte, without a mark).
 *
 * @example
 * ```ts
 * for await (const piece of dump.pipeThrough(new SectionedDumpStream())) {
 *   if (piece instanceof Uint8Array) current.write(piece);
 *   else current = startSection(piece.name);
 * }
 * ```
 */
export class SectionedDumpStream extends ScanningStream<Uint8Array | SectionMark> {
  readonly #cutter: SectionCutter;

  constructor(options: DumpStatsOptions = {}) {
    const scan = new DumpScan(options, true);
    const mark = (m: SectionMark) => m;
    super(scan, {
      transform: (chunk, controller) => scan.push(chunk, (p) => controller.enqueue(p), mark),
      flush: (controller) => scan.end((p) => controller.enqueue(p), mark),
    });
    this.#cutter = scan.cutter!;
  }

  /**
   * The sections, in stream order, with their uncompressed sizes; complete once the stream has
   * ended. Undefined when the script is not cut as pg_dumpall cuts it (then no index is kept),
   * with the reason in {@linkcode sectionProblem}.
   */
  sections(): SectionSizes[] | undefined {
    return this.#cutter.sections();
  }

  /** Why the script's sections cannot be indexed, if they cannot. */
  get sectionProblem(): string | undefined {
    return this.#cutter.problem;
  }
}
