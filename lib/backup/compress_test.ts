import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { PipelineError } from "../errors.ts";
import { Pipeline } from "../pipeline.ts";
import { zstdCompressSpec } from "../pg/tools.ts";
import { SectionCompressor } from "./compress.ts";

const env = { PATH: "/usr/bin:/bin" };
const text = (s: string) => new TextEncoder().encode(s);

async function compress(pieces: (Uint8Array | { name: string })[], perSection = true) {
  const run = new Pipeline(new AbortController().signal);
  const zstd = new SectionCompressor(
    () => run.spawn("zstd", zstdCompressSpec(3, 1, env), "hint"),
    perSection,
    run.signal,
  );
  const written = ReadableStream.from(pieces).pipeTo(zstd.writable);
  const out = new Uint8Array(await new Response(zstd.readable).arrayBuffer());
  await written;
  await run.settle();
  run.throwIfFailed();
  return { out, sections: zstd.sections() };
}

async function unzstd(bytes: Uint8Array): Promise<string> {
  const child = new Deno.Command("zstd", { args: ["-dc"], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  return new TextDecoder().decode((await child.output()).stdout);
}

Deno.test("SectionCompressor gives each section its own frames, at the offsets it records", async () => {
  const { out, sections } = await compress([
    text("-- globals\n"),
    text("CREATE ROLE a;\n"),
    { name: "app" },
    text("\\connect app\n"),
    { name: "tiny" },
    text("\\connect tiny\nSELECT 1;\n"),
  ]);
  assert.deepEqual(sections.map((s) => [s.name, s.dump_bytes]), [
    ["globals", 26],
    ["app", 13],
    ["tiny", 24],
  ]);
  // The whole object is one zstd stream; each section decompresses on its own.
  assert.equal(
    await unzstd(out),
    "-- globals\nCREATE ROLE a;\n\\connect app\n\\connect tiny\nSELECT 1;\n",
  );
  let offset = 0;
  for (const s of sections) {
    assert.equal(s.offset, offset);
    const bytes = out.subarray(s.offset, s.offset + s.length);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), s.sha256);
    offset += s.length;
  }
  assert.equal(offset, out.length);
  assert.equal(await unzstd(out.subarray(sections[2]!.offset)), "\\connect tiny\nSELECT 1;\n");
});

Deno.test("SectionCompressor with one zstd for everything records no sections", async () => {
  const { out, sections } = await compress([text("a\n"), { name: "app" }, text("b\n")], false);
  assert.deepEqual(sections, []);
  assert.equal(await unzstd(out), "a\nb\n");
});

Deno.test("SectionCompressor's output errors when a zstd fails, with the pipeline's reason", async () => {
  const run = new Pipeline(new AbortController().signal);
  const zstd = new SectionCompressor(
    () => run.spawn("zstd", { ...zstdCompressSpec(3, 1, env), args: ["--bogus-flag"] }, "hint"),
    true,
    run.signal,
  );
  const written = ReadableStream.from([text("x\n")]).pipeTo(zstd.writable).catch((e) => e);
  // The output never ends as if whole: it errors with the failure the pipeline stopped for.
  const read = await new Response(zstd.readable).arrayBuffer().then(() => undefined, (e) => e);
  await written;
  await run.settle();
  assert.ok(read instanceof PipelineError, String(read));
  assert.throws(() => run.throwIfFailed(), (err: unknown) => err === read);
  assert.match(read.message, /^zstd exited with code 1: /);
});
