/**
 * An order-independent digest of COPY text: every data line (a row, without its newline) gets a
 * 64-bit hash, and the digest is the sum of those hashes, lane by lane, modulo 2^32. The same
 * rows in any order give the same digest; a changed, missing or extra row changes it.
 *
 * The line hash is MurmurHash3-style (two 32-bit lanes fed 8 bytes at a time, multiply-rotate
 * mixing, a final avalanche), written here from the published algorithm. Why this and not a
 * cryptographic hash: it must run in the dump's stream at hundreds of MiB/s without allocating
 * per row, and it only has to catch accidental changes (a row that came back different), not an
 * adversary. A single changed line leaves the sum unchanged only when its 64-bit hash collides
 * (about 1 in 2^64); sums keep duplicate rows apart (XOR would cancel them).
 *
 * @module
 */

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;
const SEED1 = 0x9747b28c;
const SEED2 = 0x7b7d159c;
const NL = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const CR = 0x0d;

// Results of finishLine(), kept here so that no line allocates.
let outH1 = 0;
let outH2 = 0;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Mixes the last 0-7 bytes (as two little-endian words) and the length; sets outH1/outH2. */
function finishLine(h1: number, h2: number, k1: number, k2: number, tail: number, len: number) {
  if (tail > 4) {
    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
  }
  if (tail > 0) {
    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
  }
  h1 ^= len;
  h2 ^= len;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) | 0;
  outH1 = h1;
  outH2 = (h2 + h1) | 0;
}

/**
 * The 64-bit hash of one byte string fed in pieces (a line split across chunks, a large
 * object's content). {@linkcode CopyDigest} hashes whole lines inline with the same function.
 */
export class StreamHash {
  #h1 = SEED1;
  #h2 = SEED2;
  #len = 0;
  #pend = new Uint8Array(8);
  #pendView = new DataView(this.#pend.buffer);
  #pendN = 0;
  /** High lane of the last {@linkcode finish}. */
  h1 = 0;
  /** Low lane of the last {@linkcode finish}. */
  h2 = 0;

  /** Bytes fed since the last finish. */
  get length(): number {
    return this.#len;
  }

  /** The first bytes fed (up to 8), for a caller that must recognise a short line. */
  byteAt(i: number): number {
    return this.#pend[i] ?? -1;
  }

  /** Feeds `bytes[from, to)`. */
  update(bytes: Uint8Array, from = 0, to = bytes.length): void {
    let i = from;
    this.#len += to - from;
    // Top up a partly filled block first.
    if (this.#pendN > 0) {
      while (this.#pendN < 8 && i < to) this.#pend[this.#pendN++] = bytes[i++]!;
      if (this.#pendN < 8) return;
      this.#block(this.#pendView.getInt32(0, true), this.#pendView.getInt32(4, true));
      this.#pendN = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; i + 8 <= to; i += 8) this.#block(view.getInt32(i, true), view.getInt32(i + 4, true));
    while (i < to) this.#pend[this.#pendN++] = bytes[i++]!;
  }

  #block(k1: number, k2: number): void {
    let h1 = this.#h1;
    let h2 = this.#h2;
    k1 = Math.imul(k1, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    h1 ^= Math.imul(k1, C2);
    h1 = (h1 << 19) | (h1 >>> 13);
    h1 = (Math.imul(h1 + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(k2, C2);
    k2 = (k2 << 16) | (k2 >>> 16);
    h2 ^= Math.imul(k2, C3);
    h2 = (h2 << 17) | (h2 >>> 15);
    h2 = (Math.imul(h2 + h1, 5) + C4) | 0;
    this.#h1 = h1;
    this.#h2 = h2;
  }

  /** Completes the hash into {@linkcode h1}/{@linkcode h2} and starts a new one. */
  finish(): void {
    const n = this.#pendN;
    this.#pend.fill(0, n);
    finishLine(
      this.#h1,
      this.#h2,
      this.#pendView.getInt32(0, true),
      this.#pendView.getInt32(4, true),
      n,
      this.#len,
    );
    this.h1 = outH1;
    this.h2 = outH2;
    this.#h1 = SEED1;
    this.#h2 = SEED2;
    this.#len = 0;
    this.#pendN = 0;
  }
}

/**
 * Sums the line hashes of COPY text fed in chunks of any size.
 *
 * @example
 * ```ts
 * const d = new CopyDigest();
 * d.update(new TextEncoder().encode("1\ta\n2\tb\n"));
 * d.rows; // 2
 * d.hex(); // 16 hex digits, the same for "2\tb\n1\ta\n"
 * ```
 */
export class CopyDigest {
  #s1 = 0;
  #s2 = 0;
  #rows = 0;
  #partial = new StreamHash();
  // One view per underlying buffer: a client that hands over one row per chunk (subarrays of
  // its socket buffer) must not cost a DataView per row.
  #view: DataView | undefined;

  /** Lines hashed so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Bytes of a line begun but not yet ended by a newline. */
  get pendingBytes(): number {
    return this.#partial.length;
  }

  /** The digest: 16 lowercase hex digits. */
  hex(): string {
    return this.#s1.toString(16).padStart(8, "0") + this.#s2.toString(16).padStart(8, "0");
  }

  /** Adds another digest's lines (of the same table, e.g. a second COPY block). */
  add(other: CopyDigest): void {
    this.#s1 = (this.#s1 + other.#s1) >>> 0;
    this.#s2 = (this.#s2 + other.#s2) >>> 0;
    this.#rows += other.#rows;
  }

  /**
   * Hashes the lines in `chunk` from `start`. A line not ended by the chunk is continued by the
   * next call. With `endMarker`, a line that is exactly `\.` ends the data: it is not hashed,
   * and the index just after it is returned.
   *
   * @returns the index after the `\.` line, or -1 when the whole chunk was data
   */
  update(chunk: Uint8Array, start = 0, endMarker = false): number {
    let pos = start;
    const end = chunk.length;
    // A line begun in an earlier chunk: finish it through the streaming hash.
    if (this.#partial.length > 0) {
      const nl = chunk.indexOf(NL, pos);
      const stop = nl === -1 ? end : nl;
      if (endMarker && nl !== -1 && this.#isEndLine(chunk, pos, nl)) {
        this.#partial.finish();
        return nl + 1;
      }
      this.#partial.update(chunk, pos, stop);
      if (nl === -1) return -1;
      this.#partial.finish();
      this.#s1 = (this.#s1 + this.#partial.h1) >>> 0;
      this.#s2 = (this.#s2 + this.#partial.h2) >>> 0;
      this.#rows++;
      pos = nl + 1;
    }
    let s1 = this.#s1;
    let s2 = this.#s2;
    let rows = this.#rows;
    if (this.#view?.buffer !== chunk.buffer) this.#view = new DataView(chunk.buffer);
    const view = this.#view!;
    const base = chunk.byteOffset;
    let found = -1;
    // Whole lines, hashed in place: no copy, no allocation per row.
    while (pos < end) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        this.#partial.update(chunk, pos, end);
        break;
      }
      const len = nl - pos;
      if (
        endMarker && len <= 3 && len >= 2 && chunk[pos] === BACKSLASH && chunk[pos + 1] === DOT &&
        (len === 2 || chunk[pos + 2] === CR)
      ) {
        found = nl + 1;
        break;
      }
      let h1 = SEED1;
      let h2 = SEED2;
      let i = pos;
      for (const last = nl - 8; i <= last; i += 8) {
        let k1 = view.getInt32(base + i, true);
        let k2 = view.getInt32(base + i + 4, true);
        k1 = Math.imul(k1, C1);
        k1 = (k1 << 15) | (k1 >>> 17);
        h1 ^= Math.imul(k1, C2);
        h1 = (h1 << 19) | (h1 >>> 13);
        h1 = (Math.imul(h1 + h2, 5) + 0x561ccd1b) | 0;
        k2 = Math.imul(k2, C2);
        k2 = (k2 << 16) | (k2 >>> 16);
        h2 ^= Math.imul(k2, C3);
        h2 = (h2 << 17) | (h2 >>> 15);
        h2 = (Math.imul(h2 + h1, 5) + C4) | 0;
      }
      const tail = nl - i;
      let k1 = 0;
      let k2 = 0;
      switch (tail) {
        case 7:
          k2 ^= chunk[i + 6]! << 16;
        // falls through
        case 6:
          k2 ^= chunk[i + 5]! << 8;
        // falls through
        case 5:
          k2 ^= chunk[i + 4]!;
        // falls through
        case 4:
          k1 ^= chunk[i + 3]! << 24;
        // falls through
        case 3:
          k1 ^= chunk[i + 2]! << 16;
        // falls through
        case 2:
          k1 ^= chunk[i + 1]! << 8;
        // falls through
        case 1:
          k1 ^= chunk[i]!;
      }
      finishLine(h1, h2, k1, k2, tail, len);
      s1 = (s1 + outH1) >>> 0;
      s2 = (s2 + outH2) >>> 0;
      rows++;
      pos = nl + 1;
    }
    this.#s1 = s1;
    this.#s2 = s2;
    this.#rows = rows;
    return found;
  }

  /** Whether the line continued from earlier chunks and ending at `nl` is `\.` (or `\.\r`). */
  #isEndLine(chunk: Uint8Array, pos: number, nl: number): boolean {
    const len = this.#partial.length + (nl - pos);
    if (len !== 2 && len !== 3) return false;
    const at = (i: number) =>
      i < this.#partial.length ? this.#partial.byteAt(i) : chunk[pos + i - this.#partial.length];
    return at(0) === BACKSLASH && at(1) === DOT && (len === 2 || at(2) === CR);
  }
}
