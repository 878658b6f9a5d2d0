import assert from "node:assert/strict";
import { PipelineError, StoppedError, StoreError } from "./errors.ts";
import { baseEnv, type ChildSpec, Pipeline } from "./pipeline.ts";

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
