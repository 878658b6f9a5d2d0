import assert from "node:assert/strict";
import { CopyDigest, StreamHash } from "./copy_digest.ts";

const encoder = new TextEncoder();

/** A deterministic pseudo-random generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function digestOf(chunks: Uint8Array[]): { hex: string; rows: number } {
  const d = new CopyDigest();
  for (const c of chunks) assert.equal(d.update(c), -1);
  return { hex: d.hex(), rows: d.rows };
}

function chunked(bytes: Uint8Array, sizes: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.max(1, sizes());
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

function randomLines(rnd: () => number, count: number): string[] {
  const alphabet = Array.from("ab\\\tZ€😀.\r0");
  return Array.from({ length: count }, () => {
    const len = Math.floor(rnd() * 40);
    let s = "";
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    return s;
  });
}

Deno.test("CopyDigest gives the same digest for the same rows in any order", () => {
  const rnd = random(7);
  const lines = randomLines(rnd, 500);
  const a = digestOf([encoder.encode(lines.join("\n") + "\n")]);
  const shuffled = [...lines].sort(() => rnd() - 0.5);
  const b = digestOf([encoder.encode(shuffled.join("\n") + "\n")]);
  assert.deepEqual(a, b);
  assert.equal(a.rows, 500);
  assert.match(a.hex, /^[0-9a-f]{16}$/);
});

Deno.test("CopyDigest gives the same digest whatever the chunk boundaries", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rnd = random(seed);
    const bytes = encoder.encode(randomLines(rnd, 200).join("\n") + "\n");
    const whole = digestOf([bytes]);
    const maxChunk = 1 + Math.floor(rnd() * 64);
    assert.deepEqual(
      digestOf(chunked(bytes, () => Math.floor(rnd() * maxChunk))),
      whole,
      `seed ${seed}`,
    );
  }
});

Deno.test("CopyDigest changes when one byte of one row changes, a row is added, or duplicated", () => {
  const rnd = random(3);
  const lines = randomLines(rnd, 300).map((l, i) => `${i}\t${l}`);
  const bytes = encoder.encode(lines.join("\n") + "\n");
  const base = digestOf([bytes]).hex;
  for (let k = 0; k < 500; k++) {
    const changed = bytes.slice();
    let at = Math.floor(rnd() * changed.length);
    while (changed[at] === 0x0a || changed[at] === 0x0b) at = (at + 1) % changed.length;
    changed[at]! ^= 1 << Math.floor(rnd() * 8);
    if (changed[at] === 0x0a) continue; // that would split a row, not change it
    assert.notEqual(digestOf([changed]).hex, base, `byte ${at}`);
  }
  const dup = digestOf([encoder.encode([...lines, lines[0]].join("\n") + "\n")]);
  assert.notEqual(dup.hex, base);
  assert.equal(dup.rows, 301);
  // Values swapped between two rows change the rows, so the digest changes too.
  const swapped = [...lines];
  swapped[0] = "0\t" + lines[1]!.split("\t")[1];
  swapped[1] = "1\t" + lines[0]!.split("\t")[1];
  if (swapped[0] !== lines[0]) {
    assert.notEqual(digestOf([encoder.encode(swapped.join("\n") + "\n")]).hex, base);
  }
});

Deno.test("CopyDigest.update() with endMarker stops after a \\. line, also across chunks", () => {
  const text = encoder.encode("1\n2\n\\.\nafter\n");
  for (let size = 1; size <= text.length; size++) {
    const d = new CopyDigest();
    let consumed = -1;
    let offset = 0;
    for (const c of chunked(text, () => size)) {
      const at = d.update(c, 0, true);
      if (at !== -1) {
        consumed = offset + at;
        break;
      }
      offset += c.length;
    }
    assert.equal(consumed, 7, `chunks of ${size}`);
    assert.equal(d.rows, 2);
    assert.equal(d.hex(), digestOf([encoder.encode("2\n1\n")]).hex);
  }
  const crlf = new CopyDigest();
  assert.equal(crlf.update(encoder.encode("1\n\\.\r\n"), 0, true), 6);
  assert.equal(crlf.rows, 1);
});

Deno.test("StreamHash of pieces equals the hash CopyDigest gives the same bytes as one line", () => {
  const rnd = random(11);
  for (let k = 0; k < 100; k++) {
    const line = encoder.encode(randomLines(rnd, 1)[0]!.replaceAll("\n", ""));
    const s = new StreamHash();
    for (const piece of chunked(line, () => Math.floor(rnd() * 9))) s.update(piece);
    s.finish();
    const d = new CopyDigest();
    d.update(new Uint8Array([...line, 0x0a]));
    const expected = (s.h1 >>> 0).toString(16).padStart(8, "0") +
      (s.h2 >>> 0).toString(16).padStart(8, "0");
    assert.equal(d.hex(), expected);
  }
});
