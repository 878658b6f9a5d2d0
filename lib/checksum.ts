/**
 * Streaming sha256 and byte count, and the `.sha256` file format that `sha256sum -c` reads.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** The file name written inside every `.sha256` object. */
export const DATA_FILE_NAME = "full.sql.zst";

/**
 * A TransformStream that passes chunks on unchanged while it hashes and counts them.
 *
 * @example
 * ```ts
 * const sum = new ChecksumStream();
 * await ReadableStream.from([new TextEncoder().encode("abc")]).pipeThrough(sum).pipeTo(new WritableStream());
 * sum.hex(); // "ba7816bf..."
 * ```
 */
export class ChecksumStream extends TransformStream<Uint8Array, Uint8Array> {
  #hash: Hash;
  #bytes = 0;
  #hex: string | undefined;

  constructor() {
    const hash = createHash("sha256");
    super({
      transform: (chunk, controller) => {
        hash.update(chunk);
        this.#bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    this.#hash = hash;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The lowercase hex digest; call once the stream has ended. */
  hex(): string {
    this.#hex ??= this.#hash.digest("hex");
    return this.#hex;
  }
}

/**
 * The `.sha256` object's text: `<hex>  full.sql.zst` and a newline, as `sha256sum` writes it.
 *
 * @param hex lowercase sha256 hex digest
 * @param fileName the data file's name
 */
export function sha256Line(hex: string, fileName = DATA_FILE_NAME): string {
  return `${hex}  ${fileName}\n`;
}

/**
 * Reads the digest from a `.sha256` object's text.
 *
 * @param text the object's content
 * @returns the lowercase hex digest, or undefined when the text is not a sha256sum line
 */
export function parseSha256Line(text: string): string | undefined {
  const match = /^([0-9a-fA-F]{64})(?:\s+\*?\S.*)?\s*$/.exec(text.trim());
  return match?.[1]?.toLowerCase();
}
