import assert from "node:assert/strict";
import { PipelineError, StoppedError, StoreError } from "./errors.ts";
import { baseEnv, type ChildSpec, Pipeline, relay } from "./pipeline.ts";

const env = baseEnv(Deno.env.toObject());
const child = (command: string, args: string[], stdin = false): ChildSpec => ({
  command,
  args,
  env,
  stdin,
  stdout: true,
});

Deno.test("Pipeline names the upload that failed, not the producer it killed by SIGPIPE", async () => {
  const run = new Pipeline(new AbortController().signal);
  const yes = run.spawn("yes", child("yes", []), "hint for yes");
  run.track(
    "upload",
    (async () => {
      const reader = yes.stdout!.getReader();
      await reader.read();
      await reader.cancel();
      throw new StoreError("upload part failed: connection reset", "check S3", "ECONNRESET");
    })(),
  );
  await run.settle();
  const first = run.firstFailure();
  assert.equal(first?.name, "upload");
  assert.throws(() => run.throwIfFailed(), StoreError);
});

Deno.test("Pipeline names a child that failed on its own over the broken pipe it caused", async () => {
  const run = new Pipeline(new AbortController().signal);
  const yes = run.spawn("yes", child("yes", []), "hint for yes");
  const reader = run.spawn(
    "reader",
    child("sh", ["-c", "head -c 100 >/dev/null; echo 'reader: gave up' >&2; exit 3"], true),
    "hint for the reader",
  );
  run.track("yes → reader", yes.stdout!.pipeTo(reader.stdin!, { signal: run.signal }));
  run.track("reader → nowhere", reader.stdout!.pipeTo(new WritableStream()));
  await run.settle();
  assert.throws(
    () => run.throwIfFailed(),
    (err: unknown) =>
      err instanceof PipelineError && err.program === "reader" && err.code === 3 &&
      err.message === "reader exited with code 3: reader: gave up" &&
      err.hint === "hint for the reader",
  );
  assert.ok(run.failures().every((f) => f.name === "reader" || f.consequence));
});

Deno.test("Pipeline reports a stop signal as stopped and stops its children", async () => {
  const outer = new AbortController();
  const run = new Pipeline(outer.signal);
  const sleeper = run.spawn("sleep", child("sleep", ["30"]), "hint");
  run.track("drain", sleeper.stdout!.pipeTo(new WritableStream(), { signal: run.signal }));
  outer.abort(new StoppedError("SIGTERM"));
  await run.settle();
  assert.throws(() => run.throwIfFailed(), StoppedError);
  assert.equal((await sleeper.exited).stoppedByUs, true);
});

Deno.test("relay() stops the next child when the first fails, so the failure stays the first's", async () => {
  const run = new Pipeline(new AbortController().signal, { stopOnFailure: false });
  const first = run.spawn(
    "first",
    child("sh", ["-c", "printf partial; sleep 0.2; echo 'first: bad input' >&2; exit 3"]),
    "hint for first",
  );
  // Without relay it would fail on the cut-short input in its own words.
  const next = run.spawn(
    "next",
    child("sh", ["-c", "cat >/dev/null; echo 'next: unexpected end of file' >&2; exit 1"], true),
    "hint for next",
  );
  run.track("first → next", relay(first, next, run.signal));
  run.track("next → nowhere", next.stdout!.pipeTo(new WritableStream()));
  await run.settle();
  assert.deepEqual(run.failures().map((f) => f.name), ["first"]);
  assert.equal((await next.exited).stoppedByUs, true);
  assert.throws(
    () => run.throwIfFailed(),
    (err: unknown) =>
      err instanceof PipelineError && err.message === "first exited with code 3: first: bad input",
  );
});

Deno.test("relay() hands the whole stream on and closes the next child's stdin once the first exited 0", async () => {
  const run = new Pipeline(new AbortController().signal);
  const first = run.spawn("first", child("sh", ["-c", "printf 'a\\nb\\n'"]), "hint");
  const next = run.spawn("next", child("wc", ["-l"], true), "hint");
  run.track("first → next", relay(first, next, run.signal));
  const out = run.track("next → text", new Response(next.stdout!).text());
  await run.settle();
  run.throwIfFailed();
  assert.equal((await out)?.trim(), "2");
});

Deno.test("a child's errorLine picks the reason among its stderr lines", async () => {
  const run = new Pipeline(new AbortController().signal);
  run.spawn("tool", {
    ...child("sh", [
      "-c",
      "echo 'tool: error: the reason' >&2; echo 'tool: please report' >&2; exit 1",
    ]),
    errorLine: (lines) => lines.find((l) => l.includes("error:")) ?? "",
  }, "hint");
  await run.settle();
  assert.throws(
    () => run.throwIfFailed(),
    (err: unknown) =>
      err instanceof PipelineError && err.lastStderrLine === "tool: error: the reason" &&
      err.message === "tool exited with code 1: tool: error: the reason",
  );
});

Deno.test("Pipeline names a child killed by someone else, though the broken pipe it left stopped the rest first", async () => {
  for (let i = 0; i < 5; i++) {
    const run = new Pipeline(new AbortController().signal);
    const yes = run.spawn("yes", child("yes", []), "hint for yes");
    const reader = run.spawn("reader", child("cat", [], true), "hint for the reader");
    run.track("yes → reader", yes.stdout!.pipeTo(reader.stdin!, { signal: run.signal }));
    run.track("reader → nowhere", reader.stdout!.pipeTo(new WritableStream()));
    await new Promise((r) => setTimeout(r, 20));
    Deno.kill(reader.pid, "SIGKILL"); // an OOM kill
    await run.settle();
    assert.throws(
      () => run.throwIfFailed(),
      (err: unknown) =>
        err instanceof PipelineError && err.program === "reader" &&
        err.message === "reader was killed by SIGKILL" && err.hint === "hint for the reader",
    );
  }
});
