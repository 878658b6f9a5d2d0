/**
 * Real networks: the backup and the drill against the real Ceph RGW through a loopback fault
 * relay (tests/harness/fault_relay.ts) that resets, black-holes, answers 503 SlowDown, refuses,
 * or sits in front of a gateway that restarts. The source is PostgreSQL 18 with ~12 MiB of
 * incompressible data, so the upload has three 5 MiB parts. S3_TIMEOUT_SECONDS is 2 so a black
 * hole costs seconds, not minutes. RUNBOOK.md ("When S3 misbehaves") has the same table.
 *
 * | scenario                                        | fault                                      | expected                                                                 |
 * | ----------------------------------------------- | ------------------------------------------ | ------------------------------------------------------------------------ |
 * | reset during the upload                         | part 2 cut after 1 MiB                     | `backup OK`, one warn line (upload part, 2/6), sha256sum -c passes        |
 * | black hole during the upload                    | part 2 silent after 1 MiB                  | same, cause `no answer: no byte moved for 2 s`                           |
 * | 503 during the upload                           | part 2 answered `503 SlowDown`             | same, cause `HTTP 503 SlowDown`                                          |
 * | reset / black hole / 503 during the commit      | the data's CopyObject (answer lost, …)     | `backup OK`, one warn line (copy object), the copy checked by a stat     |
 * | complete whose answer is lost                   | CompleteMultipartUpload answer withheld    | `backup OK`: the retry's NoSuchUpload is accepted only after a stat      |
 * | reset / black hole / 503 during the small puts  | the staged `.sha256` PUT                   | `backup OK`, one warn line (put object)                                  |
 * | RGW restarted mid-upload                        | radosgw stopped at part 2, started again   | `backup OK`, warn lines while it was down                                |
 * | S3 down throughout                              | relay refuses from part 2 on               | exit 1 in bounded time, last line names S3, nothing under final keys,    |
 * |                                                 |                                            | leftovers named; the next run cleans them up                             |
 * | SIGTERM during a backoff                        | every part answered 503                    | exit 143 within about 2 s, nothing left in the bucket                    |
 * | SIGTERM on a silent connection (60 s timeout)   | part 2 black-holed                         | exit 143 within a few seconds (cleanup has its own short bound)          |
 * | drill: reset / black hole during the download   | the GET cut / silent after 1 MiB           | `drill OK`, `download resumed` with its byte offset                      |
 * | drill: the download keeps failing               | cut once, then every resume refused        | exit 1, one line naming the bytes read, the attempts and the endpoint    |
 * | drill: object replaced while it is read         | GET silent, object overwritten meanwhile   | exit 1: `the object was replaced while it was read`                      |
 * | drill: SIGTERM on a silent download             | GET black-holed, 60 s timeout              | exit 143 within a few seconds                                            |
 * | a wrong secret (tests/backup_test.ts)           | none                                       | no retries, exit 1 at once                                               |
 */
import assert from "node:assert/strict";
import { type FaultRule, requests, startFaultRelay } from "./harness/fault_relay.ts";
import {
  bucketContents,
  dayFolder,
  download,
  emptyBucket,
  sh,
  upload,
} from "./harness/fixtures.ts";
import { startPostgres } from "./harness/postgres.ts";
import { runEntrypoint, type RunResult, spawnEntrypoint } from "./harness/run.ts";
import { type Stack, startStack } from "./harness/stack.ts";

const MiB = 1024 * 1024;
const part = (n: number) => (r: Parameters<typeof requests.uploadPart>[0]) =>
  requests.uploadPart(r) && new RegExp(`(^|&)partNumber=${n}(&|$)`).test(r.query);

/** The warn lines of retried requests. */
function retries(run: RunResult): Record<string, unknown>[] {
  return run.lines.filter((l) => l.msg === "S3 request failed; retrying");
}

/** Downloads both objects with the AWS CLI (straight from RGW) and runs sha256sum -c. */
async function sha256sumCheck(stack: Stack, dir: string): Promise<void> {
  const tmp = await Deno.makeTempDir();
  try {
    await download(stack, `${dir}/full.sql.zst`, tmp);
    await download(stack, `${dir}/full.sql.zst.sha256`, tmp);
    const check = await sh("sha256sum -c full.sql.zst.sha256", {}, tmp);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.stdout.trim(), "full.sql.zst: OK");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Objects under final keys (not the staging folder). */
async function finalKeys(stack: Stack): Promise<string[]> {
  return (await bucketContents(stack)).keys.filter((k) => !k.includes("/.tmp/"));
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`wait for ${what} failed: timed out`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("faults between the programs and S3", async (t) => {
  await using stack = await startStack({ sample: "simple" });
  // ~12 MiB of random bytes: a dump that zstd cannot shrink below three 5 MiB parts.
  await stack.source.psql(
    `CREATE EXTENSION IF NOT EXISTS pgcrypto;
     CREATE TABLE noise (id int PRIMARY KEY, payload bytea NOT NULL);
     INSERT INTO noise SELECT i, gen_random_bytes(1024) FROM generate_series(1, 12000) AS i;`,
    "app",
  );
  await using relay = startFaultRelay(stack.s3.endpoint);
  const env = {
    ...stack.backupEnv,
    S3_ENDPOINT: relay.endpoint,
    S3_TIMEOUT_SECONDS: "2",
    S3_PART_SIZE_MIB: "5",
  };
  const dir = `${stack.prefix}/${dayFolder()}`;

  /** One fault, once: the backup retries it once and ends `backup OK`. */
  const survives = async (rule: FaultRule, request: string, cause: RegExp) => {
    await emptyBucket(stack);
    relay.clear();
    relay.inject(rule);
    const run = await runEntrypoint("backup.ts", env, [], { timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lastLine.msg, "backup OK");
    assert.equal(relay.hits(rule.name), 1, "the fault happened");
    const warned = retries(run);
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.equal(warned[0]!.request, request);
    assert.equal(warned[0]!.attempt, "2/6");
    assert.match(String(warned[0]!.cause), cause);
    assert.equal(typeof warned[0]!.delay_ms, "number");
    assert.ok(String(warned[0]!.key).startsWith(`${stack.prefix}/`));
    await sha256sumCheck(stack, dir);
    assert.deepEqual(await bucketContents(stack), {
      keys: [`${dir}/full.sql.zst`, `${dir}/full.sql.zst.sha256`, `${dir}/manifest.json`],
      uploads: [],
    });
  };

  const reset = { kind: "reset", direction: "request", afterBytes: MiB } as const;
  const silent = { kind: "blackhole", direction: "request", afterBytes: MiB } as const;
  const slowDown = { kind: "status", status: 503, code: "SlowDown" } as const;
  const resetCause =
    /^(connection reset \(ECONNRESET\)|connection closed while sending \(EPIPE\))$/;
  const silentCause = /^no answer: no byte moved for 2 s$/;
  const slowCause = /^HTTP 503 SlowDown$/;

  await t.step(
    "a reset during the upload is retried: backup OK, sha256sum -c passes",
    () => survives({ name: "reset", match: part(2), fault: reset }, "upload part", resetCause),
  );
  await t.step(
    "a black hole during the upload times out and is retried: backup OK",
    () => survives({ name: "hole", match: part(2), fault: silent }, "upload part", silentCause),
  );
  await t.step(
    "a 503 SlowDown during the upload is retried: backup OK",
    () => survives({ name: "503", match: part(2), fault: slowDown }, "upload part", slowCause),
  );

  const lostAnswer = { kind: "reset", direction: "response", afterBytes: 0 } as const;
  const silentAnswer = { kind: "blackhole", direction: "response", afterBytes: 0 } as const;
  await t.step(
    "a copy whose answer is lost during the commit is redone and checked: backup OK",
    () =>
      survives(
        { name: "copy-reset", match: requests.copy, fault: lostAnswer },
        "copy object",
        /^connection reset \(ECONNRESET\)$/,
      ),
  );
  await t.step("a silent copy during the commit times out and is redone: backup OK", () =>
    survives(
      { name: "copy-hole", match: requests.copy, fault: silentAnswer },
      "copy object",
      silentCause,
    ));
  await t.step(
    "a 503 SlowDown during the commit is retried: backup OK",
    () =>
      survives(
        { name: "copy-503", match: requests.copy, fault: slowDown },
        "copy object",
        slowCause,
      ),
  );
  await t.step(
    "a complete whose answer is lost is accepted only after the object checks out: backup OK",
    () =>
      survives(
        { name: "complete-hole", match: requests.complete, fault: silentAnswer },
        "complete multipart upload",
        silentCause,
      ),
  );
  for (
    const [name, fault, cause] of [
      ["reset", { kind: "reset", direction: "request", afterBytes: 10 } as const, resetCause],
      ["hole", silentAnswer, silentCause],
      ["503", slowDown, slowCause],
    ] as const
  ) {
    await t.step(
      `a ${name} during the small puts is retried: backup OK`,
      () =>
        survives({ name: `small-${name}`, match: requests.smallPut, fault }, "put object", cause),
    );
  }

  await t.step("RGW restarted mid-upload and back within the retry window: backup OK", async () => {
    await emptyBucket(stack);
    relay.clear();
    let restart: Promise<void> | undefined;
    relay.inject({
      name: "restart",
      match: (r) => {
        if (part(2)(r) && !restart) {
          restart = (async () => {
            await stack.s3.stopGateway();
            await stack.s3.startGateway();
          })();
        }
        return false;
      },
      fault: slowDown,
    });
    const run = await runEntrypoint("backup.ts", env, [], { timeoutMs: 120_000 });
    await restart;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.lastLine.msg, "backup OK");
    assert.ok(restart !== undefined, "the gateway was restarted during the upload");
    assert.ok(retries(run).length >= 1, "requests were retried while radosgw was down");
    await sha256sumCheck(stack, dir);
  });

  await t.step(
    "S3 down throughout: exit 1 in bounded time naming S3, nothing under final keys; the next run cleans up",
    async () => {
      await emptyBucket(stack);
      relay.clear();
      let down = false;
      relay.inject({
        name: "outage",
        match: (r) => {
          if (part(2)(r) && !down) {
            down = true;
            queueMicrotask(() => relay.refuse());
          }
          return false;
        },
        fault: slowDown,
      });
      const run = await runEntrypoint("backup.ts", env, [], { timeoutMs: 200_000 });
      relay.clear();
      relay.accept();
      assert.ok(down, "S3 went down during the upload");
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^[a-z ]+ s3://homelab-backup-postgres/\\S+ failed after \\d+ attempts over \\d+\\.\\d s: cannot reach ${relay.endpoint}: connection (refused \\(ECONNREFUSED\\)|reset \\(ECONNRESET\\))$`,
        ),
      );
      assert.match(String(run.lastLine.hint), /^check S3_ENDPOINT, that the S3 server is up/);
      // Refused connections fail fast: every retry is spent within the backoffs (≤ 31 s).
      assert.ok(run.durationMs < 60_000, `gave up after ${run.durationMs} ms`);
      assert.deepEqual(await finalKeys(stack), []);
      const left = run.lines.find((l) => l.msg === "could not remove this run's staged objects");
      assert.ok(left, "what could not be cleaned up is named");
      assert.ok([...left.objects as string[], ...left.uploads as string[]].length > 0);
      assert.match(String(left.hint), /^nothing was committed; the next run removes these/);

      const next = await runEntrypoint("backup.ts", { ...env, STALE_UPLOAD_HOURS: "0" });
      assert.equal(next.code, 0, next.stderr);
      assert.ok(next.lines.some((l) => l.msg === "removed leftovers of earlier runs"));
      assert.deepEqual(await bucketContents(stack), {
        keys: [`${dir}/full.sql.zst`, `${dir}/full.sql.zst.sha256`, `${dir}/manifest.json`],
        uploads: [],
      });
    },
  );

  await t.step(
    "SIGTERM during a backoff exits 143 within about two seconds, bucket empty",
    async () => {
      await emptyBucket(stack);
      relay.clear();
      relay.inject({
        name: "always-503",
        match: requests.uploadPart,
        fault: slowDown,
        times: 1000,
      });
      const run = spawnEntrypoint("backup.ts", env);
      await run.waitForLine((l) => l.msg === "S3 request failed; retrying");
      const sent = performance.now();
      run.kill("SIGTERM");
      const result = await run.result;
      const took = performance.now() - sent;
      assert.equal(result.code, 143, result.stderr);
      assert.equal(result.lastLine.msg, "stopped by SIGTERM");
      assert.ok(took < 2_500, `stopped ${Math.round(took)} ms after SIGTERM`);
      assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
    },
  );

  await t.step("SIGTERM on a silent connection stops the backup within seconds", async () => {
    await emptyBucket(stack);
    relay.clear();
    relay.inject({ name: "stall", match: part(2), fault: silent });
    const run = spawnEntrypoint("backup.ts", { ...env, S3_TIMEOUT_SECONDS: "60" });
    await waitFor("the stalled part", () => relay.hits("stall") === 1);
    await new Promise((r) => setTimeout(r, 1000));
    const sent = performance.now();
    run.kill("SIGTERM");
    const result = await run.result;
    const took = performance.now() - sent;
    assert.equal(result.code, 143, result.stderr);
    assert.ok(took < 5_000, `stopped ${Math.round(took)} ms after SIGTERM`);
    assert.deepEqual(await finalKeys(stack), []);
  });

  // The drill reads through the relay; one good backup, written straight to RGW.
  await emptyBucket(stack);
  relay.clear();
  const made = await runEntrypoint("backup.ts", { ...stack.backupEnv, S3_PART_SIZE_MIB: "5" });
  assert.equal(made.code, 0, made.stderr);
  const data = `${dir}/full.sql.zst`;
  const drillEnv = async (name: string) => {
    const scratch = await startPostgres({ version: 18, superuser: "drill_admin", name });
    return {
      scratch,
      env: {
        ...stack.drillEnv,
        S3_ENDPOINT: relay.endpoint,
        S3_TIMEOUT_SECONDS: "2",
        SCRATCH_PGPORT: String(scratch.port),
        SCRATCH_PGUSER: scratch.user,
        SCRATCH_PGPASSWORD: scratch.password,
      },
    };
  };

  for (
    const [what, fault] of [
      ["reset", { kind: "reset", direction: "response", afterBytes: MiB }],
      ["black hole", { kind: "blackhole", direction: "response", afterBytes: MiB }],
    ] as const
  ) {
    await t.step(
      `drill: a ${what} during the download resumes from the next byte: drill OK`,
      async () => {
        const { scratch, env: drill } = await drillEnv(`resume-${what.replace(" ", "")}`);
        await using _ = scratch;
        relay.clear();
        relay.inject({ name: "cut", match: requests.get("full.sql.zst"), fault });
        const run = await runEntrypoint("restore_drill.ts", drill, [], { timeoutMs: 120_000 });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "drill OK");
        const broke = run.lines.find((l) => l.msg === "download broke off; resuming");
        const resumed = run.lines.find((l) => l.msg === "download resumed");
        assert.ok(broke && resumed, run.stderr);
        assert.equal(resumed.offset_bytes, broke.offset_bytes);
        assert.ok(Number(resumed.offset_bytes) > 0 && Number(resumed.offset_bytes) <= MiB);
        const ok = run.lines.find((l) => l.msg === "sha256 OK");
        assert.equal(ok?.resumes, 1);
      },
    );
  }

  await t.step(
    "drill: a download that keeps failing is one line naming the bytes read, exit 1",
    async () => {
      const { scratch, env: drill } = await drillEnv("keeps-failing");
      await using _ = scratch;
      relay.clear();
      relay.inject({
        name: "first",
        match: requests.get("full.sql.zst"),
        fault: { kind: "reset", direction: "response", afterBytes: 100_000 },
      });
      relay.inject({
        name: "then",
        match: requests.get("full.sql.zst"),
        fault: { kind: "reset", direction: "response", afterBytes: 0 },
        times: 100,
      });
      const run = await runEntrypoint("restore_drill.ts", { ...drill, S3_RETRIES: "2" });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        String(run.lastLine.msg),
        new RegExp(
          `^download s3://homelab-backup-postgres/${data} failed after \\d+ of \\d+ bytes and 3 attempts over \\d+\\.\\d s at ${relay.endpoint}: `,
        ),
      );
      assert.match(String(run.lastLine.hint), /^check the S3 server and the network path to it/);
      assert.ok(!run.lines.some((l) => l.msg === "sha256 OK" || l.msg === "sha256 mismatch"));
    },
  );

  await t.step("drill: an object replaced while it is read fails with one clear line", async () => {
    const { scratch, env: drill } = await drillEnv("replaced");
    await using _ = scratch;
    const original = await Deno.makeTempDir();
    try {
      await download(stack, data, original);
      relay.clear();
      relay.inject({
        name: "stall",
        match: requests.get("full.sql.zst"),
        fault: { kind: "blackhole", direction: "response", afterBytes: MiB },
      });
      const run = spawnEntrypoint("restore_drill.ts", { ...drill, S3_TIMEOUT_SECONDS: "6" });
      await waitFor("the stalled download", () => relay.hits("stall") === 1);
      // A new object under the same key (another ETag) while the drill waits on the old one.
      await upload(stack, data, new TextEncoder().encode("not the backup you were reading"));
      const result = await run.result;
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        String(result.lastLine.msg),
        new RegExp(
          `^download s3://homelab-backup-postgres/${data} failed: the object was replaced while it was read \\(its ETag is no longer [0-9a-f-]+; \\d+ of \\d+ bytes read\\)$`,
        ),
      );
      assert.equal(
        result.lastLine.hint,
        "a new object was written under this key during the drill; run the drill again",
      );
    } finally {
      await upload(stack, data, await Deno.readFile(`${original}/full.sql.zst`));
      await Deno.remove(original, { recursive: true });
    }
  });

  await t.step("drill: SIGTERM on a silent download stops within seconds", async () => {
    const { scratch, env: drill } = await drillEnv("sigterm");
    await using _ = scratch;
    relay.clear();
    relay.inject({
      name: "stall",
      match: requests.get("full.sql.zst"),
      fault: { kind: "blackhole", direction: "response", afterBytes: MiB },
    });
    const run = spawnEntrypoint("restore_drill.ts", { ...drill, S3_TIMEOUT_SECONDS: "60" });
    await waitFor("the stalled download", () => relay.hits("stall") === 1);
    await new Promise((r) => setTimeout(r, 1000));
    const sent = performance.now();
    run.kill("SIGTERM");
    const result = await run.result;
    const took = performance.now() - sent;
    assert.equal(result.code, 143, result.stderr);
    assert.ok(took < 5_000, `stopped ${Math.round(took)} ms after SIGTERM`);
  });
});
