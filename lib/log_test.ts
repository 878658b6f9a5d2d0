import assert from "node:assert/strict";
import { createLog } from "./log.ts";

function capture(program = "backup") {
  const lines: string[] = [];
  const log = createLog(program, {
    write: (line) => void lines.push(line),
    now: () => Date.parse("2025-06-01T05:29:51.789Z"),
  });
  return { log, lines };
}

Deno.test("createLog() writes one JSON line per event with ts, level, program, step, msg first", () => {
  const { log, lines } = capture();
  log.info("stream", "progress", { dump_bytes: 1024 });
  log.warn("lifecycle", "no lifecycle rule", { hint: "set S3_APPLY_LIFECYCLE" });
  log.error("preflight", "pg_dumpall 17.5 cannot dump server 18.1");
  assert.equal(lines.length, 3);
  assert.equal(
    lines[0],
    '{"ts":"2025-06-01T05:29:51Z","level":"info","program":"backup","step":"stream",' +
      '"msg":"progress","dump_bytes":1024}',
  );
  assert.deepEqual(Object.keys(JSON.parse(lines[1]!)), [
    "ts",
    "level",
    "program",
    "step",
    "msg",
    "hint",
  ]);
  assert.equal(JSON.parse(lines[1]!).level, "warn");
  assert.equal(JSON.parse(lines[2]!).level, "error");
  for (const line of lines) assert.ok(!line.includes("\n"));
});

Deno.test("createLog() writes errors as their message and bigints as numbers", () => {
  const { log, lines } = capture("restore-drill");
  log.error("restore", "restore FAILED", { error: new Error("psql exited 3"), rows: 5n });
  const event = JSON.parse(lines[0]!);
  assert.equal(event.program, "restore-drill");
  assert.equal(event.error, "psql exited 3");
  assert.equal(event.rows, 5);
});

Deno.test("createLog() replaces secrets with <redacted>, even in nested fields", () => {
  const { log, lines } = capture();
  log.addSecrets(["pg-pass-123", "s3cr3t/KEY+x"]);
  log.info("start", "start pg-pass-123", {
    settings: { PGPASSWORD: "pg-pass-123", nested: [{ url: "http://u:s3cr3t/KEY+x@h" }] },
    error: new Error("auth failed for pg-pass-123"),
  });
  const line = lines[0]!;
  assert.ok(!line.includes("pg-pass-123"), line);
  assert.ok(!line.includes("s3cr3t"), line);
  const event = JSON.parse(line);
  assert.equal(event.msg, "start <redacted>");
  assert.equal(event.settings.PGPASSWORD, "<redacted>");
  assert.equal(event.settings.nested[0].url, "http://u:<redacted>@h");
  assert.equal(event.error, "auth failed for <redacted>");
});

Deno.test("createLog() redacts a secret that JSON escapes", () => {
  const { log, lines } = capture();
  const secret = 'pa"ss\\word\n\t1';
  log.addSecrets([secret]);
  log.error("preflight", "failed", { detail: `before ${secret} after` });
  const event = JSON.parse(lines[0]!);
  assert.equal(event.detail, "before <redacted> after");
  assert.ok(!JSON.stringify(event).includes("ss\\\\word"));
});

Deno.test("createLog() scrubs a longer secret whole before a shorter one inside it", () => {
  const { log, lines } = capture();
  log.addSecrets(["abc"]);
  log.addSecrets(["abcdef", "abc"]);
  log.info("x", "abcdef and abc");
  assert.equal(JSON.parse(lines[0]!).msg, "<redacted> and <redacted>");
});

Deno.test("createLog() ignores secrets shorter than 3 characters", () => {
  const { log, lines } = capture();
  log.addSecrets(["", "ab"]);
  log.info("x", "ab stays");
  assert.equal(JSON.parse(lines[0]!).msg, "ab stays");
});

Deno.test("createLog() scrubs anything shaped like an age private key, set as a secret or not", () => {
  const { log, lines } = capture("restore-drill");
  const key = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQ";
  log.error("failed", `cannot decrypt: ${key}`, { stderr: [`line: ${key.toLowerCase()}`] });
  assert.ok(!lines[0]!.toUpperCase().includes(key.slice(16)), lines[0]);
  assert.equal(JSON.parse(lines[0]!).msg, "cannot decrypt: <redacted>");
});
