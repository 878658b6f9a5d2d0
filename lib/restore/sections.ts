/**
 * Reading a backup by section (see lib/dump/sections.ts for how the backup cuts them): the
 * chosen sections' compressed bytes come from ranged GETs, one after another, through the same
 * retry and resume layer as a whole object, and every section read is hashed on its own, so its
 * sha256 can be checked against manifest.json before its bytes may change anything.
 *
 * The drill reads the whole object and hashes each section as it passes too, so a wrong index is
 * found by the weekly drill rather than during an incident.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { type ManifestSection, sectionsProblem } from "../bucket/manifest.ts";
import { ChecksumMismatchError } from "../errors.ts";
import type { Download, ObjectStore } from "../s3/object_store.ts";

/** What one section read hashed to. */
export interface SectionHash {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** The spans a {@linkcode SectionHashStream} hashes: consecutive, from the stream's first byte. */
export type Span = Pick<ManifestSection, "name" | "length">;

/**
 * A pass-through stream that hashes consecutive spans of what passes: the first `length` bytes
 * as the first span, the next ones as the second, and so on. Bytes past the last span are not
 * hashed (and show as a span that ends short: {@linkcode hashes} then has fewer bytes).
 */
export class SectionHashStream extends TransformStream<Uint8Array, Uint8Array> {
  readonly #done: SectionHash[] = [];
  readonly #spans: readonly Span[];
  #index = 0;
  #hash: Hash | undefined;
  #read = 0;

  constructor(spans: readonly Span[]) {
    super({
      transform: (chunk, controller) => {
        this.#take(chunk);
        controller.enqueue(chunk);
      },
      flush: () => this.#close(),
    });
    this.#spans = spans;
    this.#hash = spans.length > 0 ? createHash("sha256") : undefined;
  }

  /** Each span's hash, once the stream has ended (a span cut short has its bytes so far). */
  hashes(): readonly SectionHash[] {
    return this.#done;
  }

  #take(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.#hash) {
      const span = this.#spans[this.#index]!;
      const take = Math.min(span.length - this.#read, chunk.length - at);
      this.#hash.update(chunk.subarray(at, at + take));
      this.#read += take;
      at += take;
      if (this.#read === span.length) this.#next();
    }
  }

  #next(): void {
    const span = this.#spans[this.#index]!;
    this.#done.push({ name: span.name, bytes: this.#read, sha256: this.#hash!.digest("hex") });
    this.#index++;
    this.#read = 0;
    this.#hash = this.#index < this.#spans.length ? createHash("sha256") : undefined;
  }

  #close(): void {
    // A span cut short (or empty spans at the end) still gets its entry.
    while (this.#hash) this.#next();
  }
}

/**
 * Opens the chosen sections of an object as one stream: their bytes one after another, each
 * from a ranged GET that resumes where it broke off. The first is opened now (so a missing
 * object fails here), the others when the reader gets to them.
 *
 * @param sections the sections to read, in order
 * @returns a download of their bytes: `size` is their total, `resumes` counts every range's
 */
export async function openSections(
  store: ObjectStore,
  key: string,
  sections: readonly ManifestSection[],
): Promise<Download> {
  const range = (s: ManifestSection) => ({ start: s.offset, end: s.offset + s.length });
  const opened: Download[] = [];
  const first = await store.read(key, range(sections[0]!));
  opened.push(first);
  let index = 0;
  let reader = first.stream.getReader();
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      for (;;) {
        const { done, value } = await reader.read();
        if (!done) return controller.enqueue(value);
        if (++index >= sections.length) return controller.close();
        const next = await store.read(key, range(sections[index]!));
        opened.push(next);
        reader = next.stream.getReader();
      }
    },
    cancel: async (reason) => {
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    size: sections.reduce((n, s) => n + s.length, 0),
    etag: first.etag,
    metadata: first.metadata,
    resumes: () => opened.reduce((n, d) => n + d.resumes(), 0),
  };
}

/**
 * The sections a recovery reads: the globals and the chosen databases', in the object's order.
 *
 * @param sections the manifest's index
 * @param databases the chosen databases' names in the backup
 * @returns the sections, or undefined when a chosen database has none
 */
export function sectionsFor(
  sections: readonly ManifestSection[],
  databases: Iterable<string>,
): ManifestSection[] | undefined {
  const wanted = new Set(databases);
  const chosen = sections.filter((s, i) => i === 0 || wanted.has(s.name));
  return chosen.length === wanted.size + 1 ? chosen : undefined;
}

/** Where a section is, for messages: `section "app" of <key> (bytes 1024-4095)`. */
export function describeSection(key: string, section: ManifestSection): string {
  const last = section.offset + section.length - 1;
  return `section "${section.name}" of ${key} (bytes ${section.offset}-${last})`;
}

/**
 * Checks what was read of each section against the manifest.
 *
 * @param expected the sections that were read, as the manifest has them
 * @param read what each hashed to, in the same order
 * @param words `sha256 mismatch` for damaged data, `section index wrong` for an index that does
 *   not describe a whole object whose sha256 matched
 * @throws {ChecksumMismatchError} naming the first section that differs and both digests
 */
export function checkSections(
  key: string,
  expected: readonly ManifestSection[],
  read: readonly SectionHash[],
  words: { readonly what: string; readonly hint: string },
): void {
  for (const [i, section] of expected.entries()) {
    const got = read[i];
    if (got?.sha256 === section.sha256 && got.bytes === section.length) continue;
    const actual = got === undefined
      ? "nothing was read"
      : got.bytes !== section.length
      ? `only ${got.bytes} bytes were read`
      : `it hashes to ${got.sha256}`;
    throw new ChecksumMismatchError(
      `${words.what}: ${
        describeSection(key, section)
      }: ${actual}, manifest.json says ${section.sha256}`,
      words.hint,
    );
  }
}

/**
 * The drill's check of the whole object's section index, after its sha256 matched: the sections
 * must tile the object, and each one's bytes must hash as the index says.
 *
 * @throws {ChecksumMismatchError} `section index wrong: …`
 */
export function checkSectionIndex(
  key: string,
  sections: readonly ManifestSection[],
  objectBytes: number,
  read: readonly SectionHash[],
): void {
  const words = {
    what: "section index wrong",
    hint:
      "the backup matches its .sha256 but not the section index in its manifest.json, so a recovery of one database from it would be refused; take a fresh backup and drill it, and report this",
  };
  const problem = sectionsProblem(sections, objectBytes);
  if (problem !== undefined) {
    throw new ChecksumMismatchError(`${words.what}: ${key}: ${problem}`, words.hint);
  }
  checkSections(key, sections, read, words);
}
