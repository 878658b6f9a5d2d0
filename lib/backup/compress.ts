/**
 * The backup's compression: the script's sections (see lib/dump/sections.ts) each get their own
 * zstd, one after another, so each section is whole zstd frames at a known offset of the stored
 * object, and the object is still one valid zstd stream (`zstd -dc` reads frames one after
 * another). Each section's compressed bytes are counted and hashed as they pass.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { ManifestSection } from "../bucket/manifest.ts";
import type { SectionMark } from "../dump/stream.ts";
import { GLOBALS } from "../dump/sections.ts";
import type { RunningChild } from "../pipeline.ts";

/** A section's zstd and what has gone into it. */
interface Part {
  readonly name: string;
  readonly child: RunningChild;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  dumpBytes: number;
}

/**
 * Compresses a sectioned script: {@linkcode writable} takes the script's bytes and section
 * marks, {@linkcode readable} gives the compressed bytes of every section in order. With
 * `perSection` false, one zstd takes the whole script (an encrypted backup's single stream).
 *
 * The readable ends only once every zstd exited 0; if one fails, it errors with the reason the
 * pipeline stopped for, so nothing downstream takes a stream cut short for a whole one.
 */
export class SectionCompressor {
  readonly writable: WritableStream<Uint8Array | SectionMark>;
  readonly readable: ReadableStream<Uint8Array>;
  readonly #sections: ManifestSection[] = [];
  readonly #parts: Part[] = [];
  #waiting: (() => void) | undefined;
  #ended = false;
  /** Why the input was aborted, if it was. */
  #aborted: { reason: unknown } | undefined;

  /**
   * @param zstd starts one zstd compressing stdin to stdout, in the caller's pipeline
   * @param perSection one zstd per section (a plain backup), or one for everything
   * @param stopped the pipeline's signal: its reason is the error when a zstd failed
   */
  constructor(zstd: () => RunningChild, perSection: boolean, stopped: AbortSignal) {
    let current: Part | undefined;
    const start = (name: string) => {
      const child = zstd();
      current = { name, child, writer: child.stdin!.getWriter(), dumpBytes: 0 };
      this.#parts.push(current);
      this.#wake();
    };
    this.writable = new WritableStream<Uint8Array | SectionMark>({
      start: () => start(GLOBALS),
      write: async (piece) => {
        if (piece instanceof Uint8Array) {
          current!.dumpBytes += piece.length;
          await current!.writer.write(piece);
        } else if (perSection) {
          await current!.writer.close();
          start(piece.name);
        }
      },
      close: async () => {
        await current!.writer.close();
        this.#ended = true;
        this.#wake();
      },
      abort: async (reason) => {
        await current?.writer.abort(reason).catch(() => {});
        this.#aborted = { reason };
        this.#ended = true;
        this.#wake();
      },
    });

    let next = 0;
    let offset = 0;
    let reading:
      | { part: Part; reader: ReadableStreamDefaultReader<Uint8Array>; hash: Hash }
      | undefined;
    let sectionStart = 0;
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          if (reading === undefined) {
            const part = await this.#part(next);
            if (part === undefined) return controller.close();
            next++;
            reading = { part, reader: part.child.stdout!.getReader(), hash: createHash("sha256") };
            sectionStart = offset;
          }
          const { done, value } = await reading.reader.read();
          if (!done) {
            reading.hash.update(value);
            offset += value.length;
            controller.enqueue(value);
            return;
          }
          const { part, hash } = reading;
          reading = undefined;
          const exit = await part.child.exited;
          if (exit.code !== 0) {
            throw stopped.aborted
              ? stopped.reason
              : new Error(`zstd exited with code ${exit.code}`);
          }
          if (perSection) {
            this.#sections.push({
              name: part.name,
              offset: sectionStart,
              length: offset - sectionStart,
              dump_bytes: part.dumpBytes,
              sha256: hash.digest("hex"),
            });
          }
        }
      },
      cancel: async (reason) => {
        await reading?.reader.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
  }

  /** Every section, once {@linkcode readable} has ended (none without `perSection`). */
  sections(): readonly ManifestSection[] {
    return this.#sections;
  }

  /** The `i`th section's part, once it has started; undefined when there will be none. */
  async #part(i: number): Promise<Part | undefined> {
    while (this.#parts.length <= i) {
      // An input cut short is no end of the stream.
      if (this.#aborted) throw this.#aborted.reason;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
    return this.#parts[i];
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}
