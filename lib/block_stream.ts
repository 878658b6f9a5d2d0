/**
 * Joins small chunks into blocks of a fixed size. pg_dumpall writes in 8 KiB pieces; passing
 * each one on as its own write to zstd costs a promise and a syscall apiece (about 270,000 for
 * a 2 GiB dump). Blocks of 256 KiB cut that by thirty, for one memcpy.
 *
 * @module
 */

/** Default block size: large enough to amortize per-write costs, small enough to stay cheap. */
export const DEFAULT_BLOCK_BYTES = 256 * 1024;

/**
 * A TransformStream that emits blocks of exactly `blockBytes` (the last may be shorter). Chunks
 * at least as large as a block pass through without a copy when nothing is pending.
 *
 * @example
 * ```ts
 * const blocks = ReadableStream.from([new Uint8Array(3), new Uint8Array(3)])
 *   .pipeThrough(new BlockStream(4)); // emits 4 bytes, then 2
 * ```
 */
export class BlockStream extends TransformStream<Uint8Array, Uint8Array> {
  /** @param blockBytes the size of each emitted block, in bytes */
  constructor(blockBytes = DEFAULT_BLOCK_BYTES) {
    if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) {
      throw new RangeError(
        `Cannot make blocks of ${blockBytes} bytes: expected a positive integer`,
      );
    }
    let block = new Uint8Array(blockBytes);
    let fill = 0;
    super({
      transform(chunk, controller) {
        if (fill === 0 && chunk.byteLength >= blockBytes) {
          controller.enqueue(chunk);
          return;
        }
        let offset = 0;
        while (offset < chunk.byteLength) {
          const take = Math.min(blockBytes - fill, chunk.byteLength - offset);
          block.set(chunk.subarray(offset, offset + take), fill);
          fill += take;
          offset += take;
          if (fill === blockBytes) {
            controller.enqueue(block);
            block = new Uint8Array(blockBytes);
            fill = 0;
          }
        }
      },
      flush(controller) {
        if (fill > 0) controller.enqueue(block.subarray(0, fill));
      },
    });
  }
}
