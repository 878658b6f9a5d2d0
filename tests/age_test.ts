/**
 * Encryption at rest with age, against real servers and the real `age`/`age-keygen` binaries:
 * the backup stores `pg_dumpall | zstd | age` as `full.sql.zst.age`, the drill opens it with
 * the identity in AGE_IDENTITY_FILE. The AWS CLI is the independent client that checks what was
 * stored. Step names read like RUNBOOK.md "Encryption at rest".
 */
import assert from "node:assert/strict";
import type { DrillReport } from "../lib/drill/report.ts";
import { parseManifest } from "../lib/bucket/manifest.ts";
import {
  bucketContents,
  childCommandLines,
  dayFolder,
  emptyBucket,
  holdLock,
  sh,
  upload,
} from "./harness/fixtures.ts";
import { startFaultRelay } from "./harness/fault_relay.ts";
import { type PgServer, startPostgres } from "./harness/postgres.ts";
import { runEntrypoint, type RunResult, spawnEntrypoint } from "./harness/run.ts";
import { MARKER_NOTE } from "./harness/sample_data.ts";
import { type Stack, startStack } from "./harness/stack.ts";
import { requireTool } from "./harness/tools.ts";

/** An age identity made by the real age-keygen. */
interface Identity {
  /** The identity file (mode 0600). */
  readonly file: string;
  readonly publicKey: string;
  /** The private key itself, only to prove it never shows anywhere. */
  readonly secret: string;
}

async function keygen(dir: string, name: string): Promise<Identity> {
  const file = `${dir}/${name}.txt`;
  const out = await new Deno.Command(requireTool("age-keygen"), {
    args: ["-o", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const text = await Deno.readTextFile(file);
  return {
    file,
    publicKey: /^# public key: (age1\S+)$/m.exec(text)![1]!,
    secret: /^(AGE-SECRET-KEY-1\S+)$/m.exec(text)![1]!,
  };
}

/**
 * Reads every process's command line every 25 ms, to prove a secret never reaches argv, and
 * remembers the command lines that start with one of `interesting` (to show what did run).
 */
class ArgvWatch {
  readonly offending: string[] = [];
  readonly seen = new Set<string>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly secrets: readonly string[], readonly interesting: readonly string[]) {
    this.#timer = setInterval(() => this.#scan(), 25);
  }

  #scan(): void {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      let cmdline: string;
      try {
        cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0").join(" ");
      } catch {
        continue; // exited meanwhile
      }
      if (this.secrets.some((s) => cmdline.includes(s))) this.offending.push(cmdline);
      if (this.interesting.some((p) => cmdline.startsWith(p))) this.seen.add(cmdline.trim());
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#scan();
  }
}

function markers(run: RunResult): string[] {
  return run.lines.map((l) => String(l.msg)).filter((m) =>
    ["sha256 OK", "restore OK", "smoke OK", "drill OK"].includes(m)
  );
}

function freshScratch(name: string): Promise<PgServer> {
  return startPostgres({ version: 18, superuser: "drill_admin", name: `scratch-${name}` });
}

function scratchEnv(scratch: PgServer): Record<string, string> {
  return {
    SCRATCH_PGHOST: "127.0.0.1",
    SCRATCH_PGPORT: String(scratch.port),
    SCRATCH_PGUSER: scratch.user,
    SCRATCH_PGPASSWORD: scratch.password,
  };
}

async function getText(stack: Stack, key: string): Promise<string> {
  const r = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${key}`, "-"]);
  if (r.code !== 0) throw new Error(`get ${key} failed: ${r.stderr}`);
  return r.stdout;
}

Deno.test("encryption at rest with age", async (t) => {
  requireTool("age");
  await using stack = await startStack({ sample: "rich" });
  const keyDir = await Deno.makeTempDir({ prefix: "age-keys-" });
  const current = await keygen(keyDir, "current");
  const other = await keygen(keyDir, "other");
  const secrets = [current.secret, other.secret];
  const outputs: string[] = [];
  const dir = `${stack.prefix}/${dayFolder()}`;
  const data = `${dir}/full.sql.zst.age`;
  const encryptedEnv = { ...stack.backupEnv, AGE_RECIPIENTS: current.publicKey };
  const drillEnv = { ...stack.drillEnv, AGE_IDENTITY_FILE: current.file };
  /** Runs a drill into a fresh scratch, watching every process's argv for a private key. */
  const drill = async (name: string, env: Record<string, string>, args: string[] = []) => {
    await using scratch = await freshScratch(name);
    const watch = new ArgvWatch(secrets, ["age ", "zstd ", "psql "]);
    try {
      const run = await runEntrypoint("restore_drill.ts", { ...env, ...scratchEnv(scratch) }, args);
      outputs.push(run.output);
      return { run, argv: watch };
    } finally {
      watch.stop();
      assert.deepEqual(watch.offending, [], "a private key in some process's argv");
    }
  };

  try {
    await t.step(
      "backup with AGE_RECIPIENTS stores full.sql.zst.age and full.sql.zst.age.sha256; sha256sum -c accepts the pair",
      async () => {
        await emptyBucket(stack);
        const watch = new ArgvWatch(secrets, ["age "]);
        const run = await runEntrypoint("backup.ts", encryptedEnv);
        watch.stop();
        outputs.push(run.output);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "backup OK");
        assert.equal(run.lastLine.key, data);
        assert.equal(run.lastLine.encrypted, true);
        assert.match(
          String(run.lines.find((l) => l.msg === "preflight OK")?.age_version),
          /^\d+\.\d+/,
        );
        // Recipients are public keys: age gets them in argv.
        assert.deepEqual([...watch.seen], [`age -e -r ${current.publicKey}`]);
        assert.deepEqual((await stack.listKeys()).map((k) => k.key), [
          data,
          `${data}.sha256`,
          `${dir}/manifest.json`,
        ]);
        const tmp = await Deno.makeTempDir();
        try {
          for (const key of [data, `${data}.sha256`]) {
            const r = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${key}`, tmp + "/"]);
            assert.equal(r.code, 0, r.stderr);
          }
          const check = await sh("sha256sum -c full.sql.zst.age.sha256", {}, tmp);
          assert.equal(check.code, 0, check.stderr);
          assert.equal(check.stdout.trim(), "full.sql.zst.age: OK");
          assert.match(
            await Deno.readTextFile(`${tmp}/full.sql.zst.age.sha256`),
            /^[0-9a-f]{64} {2}full\.sql\.zst\.age\n$/,
          );
        } finally {
          await Deno.remove(tmp, { recursive: true });
        }
      },
    );

    await t.step(
      "the stored object is not readable as zstd, but is after age -d with the identity",
      async () => {
        const tmp = await Deno.makeTempDir();
        try {
          const get = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${data}`, tmp + "/"]);
          assert.equal(get.code, 0, get.stderr);
          const file = `${tmp}/full.sql.zst.age`;
          const head = new TextDecoder().decode((await Deno.readFile(file)).subarray(0, 22));
          assert.equal(head, "age-encryption.org/v1\n");
          const asZstd = await sh(`zstd -q -t ${file}`);
          assert.notEqual(asZstd.code, 0, "the stored object decompressed as zstd");
          const opened = await sh(
            `age -d -i ${current.file} ${file} | zstd -q -dc | grep -F -c '${MARKER_NOTE}'`,
          );
          assert.equal(opened.code, 0, opened.stderr);
          assert.equal(opened.stdout.trim(), "1");
          const wrong = await sh(`age -d -i ${other.file} ${file} >/dev/null`);
          assert.match(wrong.stderr, /no identity matched any of the recipients/);
        } finally {
          await Deno.remove(tmp, { recursive: true });
        }
      },
    );

    await t.step("manifest.json records that the backup is encrypted, and to whom", async () => {
      const manifest = parseManifest(await getText(stack, `${dir}/manifest.json`));
      assert.equal(manifest.key, data);
      assert.deepEqual(manifest.encryption, { method: "age", recipients: [current.publicKey] });
      assert.equal(manifest.sha256, (await getText(stack, `${data}.sha256`)).slice(0, 64));
      const size = (await stack.listKeys()).find((k) => k.key === data)?.size;
      assert.equal(manifest.compressed_bytes, size);
      // One age stream: no section index to read it by.
      assert.equal(manifest.sections, undefined);
    });

    await t.step(
      "a recovery from an encrypted backup reads it whole, and says so",
      async () => {
        await using target = await freshScratch("recover-encrypted");
        const run = await runEntrypoint("restore_drill.ts", {
          ...drillEnv,
          ...scratchEnv(target),
          RECOVER: "true",
          RESTORE_DATABASES: "analytics",
        });
        outputs.push(run.output);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.lastLine.msg, "recovery OK");
        const whole = run.lines.find((l) => l.msg === "reading the whole backup");
        assert.equal(whole?.reason, "it is encrypted: one age stream, without a section index");
        assert.equal(
          (run.lines.find((l) => l.msg === "recovery report")?.report as { read: string }).read,
          "whole",
        );
      },
    );

    await t.step(
      "drill OK on an encrypted backup: age -d before zstd -d, every row back, the key never in argv",
      async () => {
        // A slow link keeps age -d alive long enough for its argv to be read.
        await using relay = startFaultRelay(stack.s3.endpoint);
        relay.throttle({ bytesPerSecond: 100_000 });
        const { run, argv } = await drill("encrypted", {
          ...drillEnv,
          S3_ENDPOINT: relay.endpoint,
        });
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
        assert.equal(run.lines.find((l) => l.msg === "backup found")?.encrypted, true);
        const preflight = run.lines.find((l) => l.msg === "preflight OK")!;
        assert.deepEqual(preflight.age_identities, [current.publicKey]);
        const report = run.lines.find((l) => l.msg === "drill report")?.report as DrillReport;
        assert.equal(report.backup.key, data);
        assert.equal(report.backup.encrypted, true);
        assert.equal(report.deep_check, true);
        assert.equal(report.restored.rows, 6656);
        // Only the identity file's path reaches age's argv.
        assert.ok(argv.seen.has(`age -d -i ${current.file}`), [...argv.seen].join("; "));
      },
    );

    await t.step(
      "an encrypted backup without AGE_IDENTITY_FILE fails before downloading, naming the setting",
      async () => {
        const run = await runEntrypoint("restore_drill.ts", stack.drillEnv);
        outputs.push(run.output);
        assert.equal(run.code, 1);
        assert.equal(
          run.lastLine.msg,
          `cannot decrypt ${data}: it is encrypted with age and AGE_IDENTITY_FILE is not set`,
        );
        assert.equal(
          run.lastLine.hint,
          `mount Secret postgres-backup-age-identity (key identity.txt) in the drill's pod and set AGE_IDENTITY_FILE to its path (RUNBOOK.md "Encryption at rest")`,
        );
        // Found, then refused: no wait for the scratch, no download.
        assert.deepEqual(run.lines.map((l) => l.msg).slice(1), [
          "preflight OK",
          "backup found",
          run.lastLine.msg,
        ]);
      },
    );

    await t.step(
      "AGE_IDENTITY_FILE naming a file that is not there fails the same way, naming the path",
      async () => {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          AGE_IDENTITY_FILE: `${keyDir}/absent.txt`,
        });
        assert.equal(run.code, 1);
        assert.equal(
          run.lastLine.msg,
          `cannot decrypt ${data}: AGE_IDENTITY_FILE names ${keyDir}/absent.txt, which does not exist`,
        );
        assert.ok(!run.lines.some((l) => l.msg === "reading backup"));
      },
    );

    await t.step(
      "a wrong identity fails before downloading: it does not match the recipients the manifest records",
      async () => {
        const run = await runEntrypoint("restore_drill.ts", {
          ...stack.drillEnv,
          AGE_IDENTITY_FILE: other.file,
        });
        outputs.push(run.output);
        assert.equal(run.code, 1);
        assert.equal(
          run.lastLine.msg,
          `cannot decrypt ${data}: the identity in AGE_IDENTITY_FILE does not match the recipients the manifest records (${current.publicKey})`,
        );
        assert.match(
          String(run.lastLine.hint),
          /^put the private key of one of those recipients in Secret postgres-backup-age-identity \(key identity\.txt\); one file may hold several identities/,
        );
        assert.ok(!run.lines.some((l) => l.msg === "reading backup"));
      },
    );

    await t.step(
      "without manifest.json a wrong identity is age's own refusal, in one line",
      async () => {
        const manifest = await getText(stack, `${dir}/manifest.json`);
        const rm = await stack.s3.aws(["s3", "rm", `s3://${stack.bucket}/${dir}/manifest.json`]);
        assert.equal(rm.code, 0, rm.stderr);
        try {
          const { run } = await drill("nomanifest", { ...drillEnv, AGE_IDENTITY_FILE: other.file });
          assert.equal(run.code, 1);
          assert.equal(
            run.lastLine.msg,
            `cannot decrypt ${data}: the identity in AGE_IDENTITY_FILE does not match any recipient of the backup`,
          );
          assert.equal(run.lines.filter((l) => l.level === "error").length, 1);
          assert.ok(!run.lines.some((l) => l.msg === "restore OK"));
          assert.ok(!run.lines.some((l) => /zstd|SIGPIPE/.test(String(l.msg))), run.stderr);
        } finally {
          await upload(stack, `${dir}/manifest.json`, manifest);
        }
      },
    );

    await t.step(
      "--key names a .zst.age backup; the .sha256 it checks follows the data key",
      async () => {
        const { run } = await drill("key", { ...drillEnv, MAX_BACKUP_AGE_HOURS: "0.0002" }, [
          "--key",
          data,
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
        assert.equal(
          run.lines.find((l) => l.msg === "reading backup")?.expected_sha256,
          (await getText(stack, `${data}.sha256`)).slice(0, 64),
        );
      },
    );

    await t.step(
      "key rotation: a backup to two recipients (--age-recipients-file) opens with an identity file holding either",
      async () => {
        const recipients = `${keyDir}/recipients.txt`;
        await Deno.writeTextFile(
          recipients,
          `# the current key\n${current.publicKey}\n\n# the next key, rolled out\n${other.publicKey}\n`,
        );
        const backup = await runEntrypoint("backup.ts", stack.backupEnv, [
          "--age-recipients-file",
          recipients,
        ]);
        assert.equal(backup.code, 0, backup.stderr);
        const manifest = parseManifest(await getText(stack, `${dir}/manifest.json`));
        assert.deepEqual(manifest.encryption?.recipients, [current.publicKey, other.publicKey]);
        // The drill's file may hold several identities: old and new.
        const both = `${keyDir}/both.txt`;
        await Deno.writeTextFile(
          both,
          (await Deno.readTextFile(other.file)) + (await Deno.readTextFile(current.file)),
        );
        for (const [name, file] of [["other", other.file], ["both", both]] as const) {
          const { run } = await drill(`rotation-${name}`, { ...drillEnv, AGE_IDENTITY_FILE: file });
          assert.equal(run.code, 0, `${name}: ${run.stderr}`);
          assert.deepEqual(markers(run), ["sha256 OK", "restore OK", "smoke OK", "drill OK"]);
        }
      },
    );

    await t.step(
      "plain and encrypted backups side by side: the newest wins, by day and within a day",
      async () => {
        // Yesterday plain, today encrypted: today's is drilled.
        await emptyBucket(stack);
        const yesterday = `${stack.prefix}/${dayFolder(1)}`;
        const plain = await runEntrypoint("backup.ts", stack.backupEnv);
        assert.equal(plain.code, 0, plain.stderr);
        for (const f of ["full.sql.zst", "full.sql.zst.sha256", "manifest.json"]) {
          const mv = await stack.s3.aws([
            "s3",
            "mv",
            `s3://${stack.bucket}/${dir}/${f}`,
            `s3://${stack.bucket}/${yesterday}/${f}`,
          ]);
          assert.equal(mv.code, 0, mv.stderr);
        }
        const encrypted = await runEntrypoint("backup.ts", encryptedEnv);
        assert.equal(encrypted.code, 0, encrypted.stderr);
        const byDay = await runEntrypoint("restore_drill.ts", stack.drillEnv);
        assert.equal(
          byDay.lastLine.msg,
          `cannot decrypt ${data}: it is encrypted with age and AGE_IDENTITY_FILE is not set`,
        );

        // The same day, a plain run after the encrypted one: the plain one is newer.
        await new Promise((r) => setTimeout(r, 1100));
        const again = await runEntrypoint("backup.ts", stack.backupEnv);
        assert.equal(again.code, 0, again.stderr);
        const { run: plainWins } = await drill("side-plain", stack.drillEnv);
        assert.equal(plainWins.code, 0, plainWins.stderr);
        assert.equal(
          plainWins.lines.find((l) => l.msg === "backup found")?.key,
          `${dir}/full.sql.zst`,
        );
        const both = plainWins.lines.find((l) =>
          l.msg === "the day folder holds a plain and an encrypted backup; drilling the newer"
        );
        assert.equal(both?.older, data);

        // And an encrypted run after that: the encrypted one is newer again.
        await new Promise((r) => setTimeout(r, 1100));
        const last = await runEntrypoint("backup.ts", encryptedEnv);
        assert.equal(last.code, 0, last.stderr);
        const { run: encryptedWins } = await drill("side-encrypted", drillEnv);
        assert.equal(encryptedWins.code, 0, encryptedWins.stderr);
        const report = encryptedWins.lines.find((l) => l.msg === "drill report")
          ?.report as DrillReport;
        assert.equal(report.backup.key, data);
        assert.equal(report.backup.encrypted, true);
      },
    );

    await t.step(
      "prune counts an encrypted backup as complete: it keeps the newest, deletes old ones",
      async () => {
        await emptyBucket(stack);
        const put = async (n: number, files: string[]) => {
          for (const f of files) await upload(stack, `${stack.prefix}/${dayFolder(n)}/${f}`, "x");
        };
        await put(30, ["full.sql.zst", "full.sql.zst.sha256"]);
        await put(20, ["full.sql.zst.age", "full.sql.zst.age.sha256"]);
        await put(18, ["full.sql.zst.age"]); // incomplete
        const run = await runEntrypoint("backup.ts", stack.backupEnv, ["--prune-only"]);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(run.lines.filter((l) => l.msg === "deleted backup").map((l) => l.day), [
          dayFolder(30).replaceAll("/", "-"),
          dayFolder(18).replaceAll("/", "-"),
        ]);
        assert.equal(run.lastLine.newest, `${stack.prefix}/${dayFolder(20)}/`);
        assert.deepEqual((await stack.listKeys()).map((k) => k.key), [
          `${stack.prefix}/${dayFolder(20)}/full.sql.zst.age`,
          `${stack.prefix}/${dayFolder(20)}/full.sql.zst.age.sha256`,
        ]);
        await emptyBucket(stack);
      },
    );

    await t.step(
      "age killed mid-stream is reported as age's failure, not a broken pipe; nothing is committed",
      async () => {
        await emptyBucket(stack);
        const run = spawnEntrypoint("backup.ts", encryptedEnv);
        {
          await using _lock = await holdLock(stack.source, "app", "public.orders");
          await run.waitForLine((l) => l.msg === "stream started");
          // Spawned just before that line: wait until setsid has become age.
          let age: number | undefined;
          for (let i = 0; i < 100 && age === undefined; i++) {
            age = childCommandLines(run.pid).find((c) => c.cmdline.startsWith("age -e "))?.pid;
            if (age === undefined) await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(age, `no age child: ${JSON.stringify(childCommandLines(run.pid))}`);
          Deno.kill(age, "SIGKILL"); // as an OOM kill would
          const result = await run.result;
          outputs.push(result.output);
          assert.equal(result.code, 1, result.stderr);
          assert.equal(result.lastLine.msg, "age was killed by SIGKILL");
          assert.equal(
            result.lastLine.hint,
            "check AGE_RECIPIENTS/AGE_RECIPIENTS_FILE and the pod's memory limit (an OOM kill ends age), then run the job again",
          );
        }
        assert.deepEqual(await bucketContents(stack), { keys: [], uploads: [] });
      },
    );

    await t.step(
      "a malformed or private key in AGE_RECIPIENTS is refused at start, exit 2, never repeated",
      async () => {
        const bad = await runEntrypoint("backup.ts", {
          ...stack.backupEnv,
          AGE_RECIPIENTS: `${current.publicKey},${current.secret}`,
        });
        outputs.push(bad.output);
        assert.equal(bad.code, 2);
        assert.equal(
          bad.lastLine.msg,
          "invalid AGE_RECIPIENTS: entry 2 is a private key (AGE-SECRET-KEY-1…): give its public key (age-keygen -y key.txt) and keep the private key away from the backup",
        );
        const typo = await runEntrypoint("backup.ts", {
          ...stack.backupEnv,
          AGE_RECIPIENTS: current.publicKey.slice(0, -1),
        });
        assert.equal(typo.code, 2);
        assert.match(String(typo.lastLine.msg), /^invalid AGE_RECIPIENTS: entry 1 "age1/);
      },
    );

    await t.step("no private key appears in any output or log line", () => {
      assert.ok(outputs.length >= 10, `only ${outputs.length} runs checked`);
      for (const output of outputs) {
        for (const secret of secrets) {
          assert.ok(!output.includes(secret), "a private key in a program's output");
          assert.ok(!output.includes(secret.slice(16)), "part of a private key in an output");
        }
      }
    });
  } finally {
    await Deno.remove(keyDir, { recursive: true });
  }
});
