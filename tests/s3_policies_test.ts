/**
 * The least-privilege S3 policies shipped in manifests/s3-policies/, enforced by a real Ceph RGW:
 * each scenario creates RGW users holding exactly the shipped policy files (read as they are:
 * the stack uses the plan's bucket and prefix, so nothing is substituted) and runs the real
 * programs, or the AWS CLI, as those users. Step names read like
 * RUNBOOK.md "S3 keys and policies".
 */
import assert from "node:assert/strict";
import { dayFolder, emptyBucket, tagsOf, upload } from "./harness/fixtures.ts";
import { startPostgres } from "./harness/postgres.ts";
import type { ExecResult } from "./harness/process.ts";
import type { S3Keys } from "./harness/rgw.ts";
import { REPO_ROOT, runEntrypoint, type RunResult } from "./harness/run.ts";
import { type Stack, startStack } from "./harness/stack.ts";

/** The shipped policy files, by file name without `.json`. */
type PolicyName =
  | "postgres-backup"
  | "postgres-restore-drill"
  | "postgres-backup-lifecycle"
  | "postgres-backup-prune";

function shipped(name: PolicyName): string {
  return Deno.readTextFileSync(`${REPO_ROOT}/manifests/s3-policies/${name}.json`);
}

/** A shipped policy without the statements whose `Sid` is given: a key missing those grants. */
function shippedWithout(name: PolicyName, sids: string[]): string {
  const doc = JSON.parse(shipped(name)) as { Statement: { Sid: string }[] };
  const kept = doc.Statement.filter((s) => !sids.includes(s.Sid));
  assert.equal(kept.length, doc.Statement.length - sids.length, `${name} has ${sids.join(", ")}`);
  return JSON.stringify({ ...doc, Statement: kept });
}

/** A new RGW user holding exactly these policy documents (name → JSON). */
async function userWith(stack: Stack, uid: string, policies: Record<string, string>) {
  const keys = await stack.s3.createUser(uid);
  for (const [name, document] of Object.entries(policies)) {
    await stack.s3.putUserPolicy(uid, name, document);
  }
  return keys;
}

function as(env: Record<string, string>, keys: S3Keys): Record<string, string> {
  return { ...env, AWS_ACCESS_KEY_ID: keys.accessKey, AWS_SECRET_ACCESS_KEY: keys.secretKey };
}

/** The AWS CLI as `keys`, with `--debug` so the server's error code can be read. */
function awsAs(stack: Stack, keys: S3Keys, args: string[]): Promise<ExecResult> {
  return stack.s3.awsAs(keys, ["--debug", ...args]);
}

/** The request failed with the server's AccessDenied (not a typo, not a missing key). */
function assertDenied(result: ExecResult, what: string): void {
  assert.notEqual(result.code, 0, `${what} was allowed`);
  assert.match(
    result.stderr,
    /<Code>AccessDenied<\/Code>/,
    `${what}: ${result.stderr.slice(-400)}`,
  );
}

function warnings(run: RunResult): Record<string, unknown>[] {
  return run.lines.filter((l) => l.level === "warn");
}

/**
 * An object's ETag, read with the read-only drill key: on RGW an object belongs to the user who
 * wrote it, and the bucket owner (the harness user) gets 403 on it without a policy.
 */
async function etagOf(stack: Stack, reader: S3Keys, key: string): Promise<string> {
  const head = await stack.s3.awsAs(reader, [
    "s3api",
    "head-object",
    "--bucket",
    stack.bucket,
    "--key",
    key,
  ]);
  assert.equal(head.code, 0, `${key} is gone: ${head.stderr}`);
  return JSON.parse(head.stdout).ETag;
}

async function lifecycleRules(stack: Stack): Promise<unknown[] | undefined> {
  const got = await stack.s3.aws([
    "s3api",
    "get-bucket-lifecycle-configuration",
    "--bucket",
    stack.bucket,
  ]);
  return got.code === 0 ? JSON.parse(got.stdout).Rules : undefined;
}

Deno.test("S3 keys with the shipped least-privilege policies", async (t) => {
  await using stack = await startStack({ sample: "rich" });
  const dir = `${stack.prefix}/${dayFolder()}`;
  const data = `${dir}/full.sql.zst`;
  const finalKeys = [data, `${dir}/full.sql.zst.sha256`, `${dir}/manifest.json`];
  const base = { "postgres-backup": shipped("postgres-backup") };
  const backupKey = await userWith(stack, "postgres-backup", base);
  const drillKey = await userWith(stack, "postgres-restore-drill", {
    "postgres-restore-drill": shipped("postgres-restore-drill"),
  });
  // Not shipped: the test's own reader of tags (on RGW an object belongs to the user who wrote
  // it, and the bucket owner may not read another user's objects without a policy).
  const auditor = await userWith(stack, "auditor", {
    auditor: JSON.stringify({
      Version: "2012-10-17",
      Statement: [{
        Sid: "ReadTags",
        Effect: "Allow",
        Action: ["s3:GetObjectTagging"],
        Resource: [`arn:aws:s3:::${stack.bucket}/*`],
      }],
    }),
  });

  await t.step(
    "backup OK then drill OK, each with only its policy; nothing is left in .tmp/",
    async () => {
      await emptyBucket(stack);
      const backup = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey));
      assert.equal(backup.code, 0, backup.stderr);
      assert.equal(backup.lastLine.msg, "backup OK");
      assert.deepEqual(
        warnings(backup).map((l) => l.msg),
        ["no lifecycle rule expires postgresql-18/ after 14 days"],
      );
      assert.deepEqual((await stack.listKeys()).map((k) => k.key), finalKeys);
      assert.deepEqual(await stack.s3.listMultipartUploads(stack.bucket), []);
      assert.ok(!backup.output.includes(backupKey.secretKey));

      const drill = await runEntrypoint("restore_drill.ts", as(stack.drillEnv, drillKey));
      assert.equal(drill.code, 0, drill.stderr);
      assert.equal(drill.lastLine.msg, "drill OK");
      assert.ok(
        drill.lines.some((l) =>
          l.msg === "deep check OK: every table has the rows the backup holds"
        ),
      );
      assert.deepEqual(warnings(drill), []);
      assert.deepEqual(
        (await stack.listKeys()).map((k) => k.key),
        [...finalKeys, `${dir}/drill-report.json`].sort(),
      );
      // Each key tagged what it wrote with the backup's retention class.
      const tag = { "retention-class": String(backup.lastLine.retention_class) };
      for (const key of [...finalKeys, `${dir}/drill-report.json`]) {
        assert.deepEqual(await tagsOf(stack, key, auditor), tag, key);
      }
    },
  );

  await t.step(
    "a backup larger than one segment is joined by UploadPartCopy under the backup policy",
    async () => {
      await emptyBucket(stack);
      await using source = await startPostgres({ version: 15, name: "policy-segments" });
      await source.psql(`CREATE TABLE noise AS SELECT g AS id,
      md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text) AS v
      FROM generate_series(1, 150000) g`);
      const run = await runEntrypoint("backup.ts", {
        ...as(stack.backupEnv, backupKey),
        ...source.env,
        PGHOST: "127.0.0.1",
        ZSTD_LEVEL: "1",
        S3_PART_SIZE_MIB: "5",
        S3_SEGMENT_SIZE_MIB: "5",
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(Number(run.lines.find((l) => l.msg === "stream OK")!.segments) >= 2);
      assert.deepEqual((await stack.listKeys()).map((k) => k.key), finalKeys);
      assert.deepEqual(await stack.s3.listMultipartUploads(stack.bucket), []);
    },
  );

  await t.step(
    "an encrypted backup (full.sql.zst.age) and its drill need nothing beyond the same policies",
    async () => {
      await emptyBucket(stack);
      const keyDir = await Deno.makeTempDir({ prefix: "age-policy-" });
      try {
        const gen = await new Deno.Command("age-keygen", {
          args: ["-o", `${keyDir}/key.txt`],
          stderr: "piped",
        }).output();
        assert.ok(gen.success, new TextDecoder().decode(gen.stderr));
        const publicKey = /# public key: (age1\S+)/.exec(
          await Deno.readTextFile(`${keyDir}/key.txt`),
        )![1]!;
        const backup = await runEntrypoint("backup.ts", {
          ...as(stack.backupEnv, backupKey),
          AGE_RECIPIENTS: publicKey,
        });
        assert.equal(backup.code, 0, backup.stderr);
        assert.equal(backup.lastLine.key, `${data}.age`);
        await using scratch = await startPostgres({
          version: 18,
          superuser: "drill_admin",
          name: "policy-age-scratch",
        });
        const drill = await runEntrypoint("restore_drill.ts", {
          ...as(stack.drillEnv, drillKey),
          SCRATCH_PGPORT: String(scratch.port),
          SCRATCH_PGPASSWORD: scratch.password,
          AGE_IDENTITY_FILE: `${keyDir}/key.txt`,
        });
        assert.equal(drill.code, 0, drill.stderr);
        assert.deepEqual(warnings(drill), [], "drill-report.json beside an encrypted backup");
        assert.deepEqual((await stack.listKeys()).map((k) => k.key), [
          `${dir}/drill-report.json`,
          `${data}.age`,
          `${data}.age.sha256`,
          `${dir}/manifest.json`,
        ]);
      } finally {
        await Deno.remove(keyDir, { recursive: true });
      }
    },
  );

  await t.step("the drill key is refused when it deletes or overwrites a backup", async () => {
    await emptyBucket(stack);
    const made = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey));
    assert.equal(made.code, 0, made.stderr);
    const before = await etagOf(stack, drillKey, data);
    const s3api = (...args: string[]) => awsAs(stack, drillKey, ["s3api", ...args]);
    const bucket = ["--bucket", stack.bucket];
    assertDenied(await s3api("delete-object", ...bucket, "--key", data), "drill: delete backup");
    assertDenied(
      await s3api(
        "delete-objects",
        ...bucket,
        "--delete",
        JSON.stringify({ Objects: [{ Key: data }] }),
      ),
      "drill: delete backups in one request",
    );
    const junk = `${REPO_ROOT}/deno.json`;
    assertDenied(
      await s3api("put-object", ...bucket, "--key", data, "--body", junk),
      "drill: overwrite backup",
    );
    assertDenied(
      await s3api("put-object", ...bucket, "--key", `${dir}/manifest.json`, "--body", junk),
      "drill: overwrite manifest",
    );
    assertDenied(
      await s3api("list-objects-v2", ...bucket, "--prefix", ""),
      "drill: list outside the prefix",
    );
    assert.equal(await etagOf(stack, drillKey, data), before);
    assert.deepEqual((await stack.listKeys()).map((k) => k.key), finalKeys);
    // What it may write: drill-report.json, and only that.
    const report = await s3api(
      "put-object",
      ...bucket,
      "--key",
      `${dir}/drill-report.json`,
      "--body",
      junk,
    );
    assert.equal(report.code, 0, report.stderr.slice(-400));
    assertDenied(
      await s3api("delete-object", ...bucket, "--key", `${dir}/drill-report.json`),
      "drill: delete its own report",
    );
  });

  await t.step("the backup key is refused when it deletes a past backup", async () => {
    const before = await etagOf(stack, drillKey, data);
    const s3api = (...args: string[]) => awsAs(stack, backupKey, ["s3api", ...args]);
    const bucket = ["--bucket", stack.bucket];
    assertDenied(await s3api("delete-object", ...bucket, "--key", data), "backup: delete backup");
    assertDenied(
      await s3api(
        "delete-objects",
        ...bucket,
        "--delete",
        JSON.stringify({ Objects: finalKeys.map((Key) => ({ Key })) }),
      ),
      "backup: delete backups in one request",
    );
    assertDenied(
      await s3api(
        "put-bucket-lifecycle-configuration",
        ...bucket,
        "--lifecycle-configuration",
        JSON.stringify({
          Rules: [{
            ID: "wipe",
            Status: "Enabled",
            Filter: { Prefix: "" },
            Expiration: { Days: 1 },
          }],
        }),
      ),
      "backup: set a lifecycle rule that expires everything",
    );
    assert.equal(await etagOf(stack, drillKey, data), before);
    for (const key of finalKeys) await etagOf(stack, drillKey, key);
  });

  await t.step(
    "--apply-lifecycle is refused without postgres-backup-lifecycle.json (a warn, backup OK) and works with it",
    async () => {
      const refused = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey), [
        "--apply-lifecycle",
      ]);
      assert.equal(refused.code, 0, refused.stderr);
      assert.equal(refused.lastLine.msg, "backup OK");
      const warn = refused.lines.find((l) => l.msg === "cannot set the lifecycle rule")!;
      assert.equal(warn.level, "warn");
      assert.equal(
        warn.error,
        "set bucket lifecycle s3://homelab-backup-postgres/ failed: access denied (AccessDenied)",
      );
      assert.equal(
        warn.hint,
        "--apply-lifecycle needs s3:PutLifecycleConfiguration on arn:aws:s3:::homelab-backup-postgres: attach manifests/s3-policies/postgres-backup-lifecycle.json for one run, or set the rule as the MinIO admin (mc ilm rule add --expire-days 14 --prefix postgresql-18/ backup/homelab-backup-postgres)",
      );
      assert.equal(await lifecycleRules(stack), undefined);

      const withLifecycle = await userWith(stack, "postgres-backup-lifecycle", {
        ...base,
        "postgres-backup-lifecycle": shipped("postgres-backup-lifecycle"),
      });
      const applied = await runEntrypoint("backup.ts", as(stack.backupEnv, withLifecycle), [
        "--apply-lifecycle",
      ]);
      assert.equal(applied.code, 0, applied.stderr);
      assert.ok(applied.lines.some((l) => l.msg === "lifecycle rule set"));
      const rules = (await lifecycleRules(stack)) as {
        ID: string;
        Expiration?: { Days: number };
      }[];
      assert.deepEqual(
        rules.map((r) => [r.ID, r.Expiration?.Days ?? null]).sort(),
        [
          ["backup-toolbox-postgresql-18-daily", 14],
          ["backup-toolbox-postgresql-18-monthly", 14],
          ["backup-toolbox-postgresql-18-staging", null],
          ["backup-toolbox-postgresql-18-weekly", 14],
        ],
      );
      // The base policy may read the rule it set.
      const again = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey));
      assert.ok(again.lines.some((l) => l.msg === "lifecycle rule OK"));
      const removed = await stack.s3.aws([
        "s3api",
        "delete-bucket-lifecycle",
        "--bucket",
        stack.bucket,
      ]);
      assert.equal(removed.code, 0, removed.stderr);
    },
  );

  await t.step(
    "--prune-only is refused without postgres-backup-prune.json (exit 1, names the permission) and works with it",
    async () => {
      await emptyBucket(stack);
      const day = (n: number) =>
        new Date(Date.now() - n * 86400_000).toISOString().slice(0, 10).replaceAll("-", "/");
      for (const n of [30, 3]) {
        for (const f of ["full.sql.zst", "full.sql.zst.sha256"]) {
          await upload(stack, `${stack.prefix}/${day(n)}/${f}`, "x");
        }
      }
      const keysBefore = (await stack.listKeys()).map((k) => k.key);
      const refused = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey), [
        "--prune-only",
      ]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.equal(refused.lastLine.level, "error");
      assert.match(
        String(refused.lastLine.msg),
        new RegExp(
          `^delete object s3://homelab-backup-postgres/postgresql-18/${
            day(30)
          }/full\\.sql\\.zst(\\.sha256)? failed: access denied \\(AccessDenied\\)$`,
        ),
      );
      assert.equal(
        refused.lastLine.hint,
        "PRUNE and --prune-only need s3:DeleteObject on arn:aws:s3:::homelab-backup-postgres/postgresql-18/*: attach manifests/s3-policies/postgres-backup-prune.json to the backup's key, or leave PRUNE off and let a lifecycle rule expire old backups",
      );
      assert.deepEqual((await stack.listKeys()).map((k) => k.key), keysBefore);

      const withPrune = await userWith(stack, "postgres-backup-prune", {
        ...base,
        "postgres-backup-prune": shipped("postgres-backup-prune"),
      });
      const pruned = await runEntrypoint("backup.ts", as(stack.backupEnv, withPrune), [
        "--prune-only",
      ]);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.equal(pruned.lastLine.msg, "prune OK");
      assert.deepEqual(
        (await stack.listKeys()).map((k) => k.key),
        keysBefore.filter((k) => !k.includes(day(30))),
      );
    },
  );

  await t.step(
    "a key that cannot delete its staged objects still ends backup OK; the warn names what is left and the next run removes it",
    async () => {
      await emptyBucket(stack);
      const reduced = await userWith(stack, "postgres-backup-reduced", {
        "postgres-backup-reduced": shippedWithout("postgres-backup", [
          "DeleteOnlyStagedObjects",
          "FindIncompleteUploadsAndReadLifecycle",
        ]),
      });
      const run = await runEntrypoint("backup.ts", as(stack.backupEnv, reduced));
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.lastLine.msg, "backup OK");
      const warned = new Map(warnings(run).map((l) => [l.msg, l]));
      assert.deepEqual([...warned.keys()].sort(), [
        "cannot read the bucket's lifecycle rules",
        "could not remove leftovers of earlier runs",
        "could not remove this run's staged objects",
      ]);
      assert.match(
        String(warned.get("cannot read the bucket's lifecycle rules")!.hint),
        /^grant s3:GetLifecycleConfiguration on arn:aws:s3:::homelab-backup-postgres /,
      );
      assert.match(
        String(warned.get("could not remove leftovers of earlier runs")!.hint),
        /needs s3:ListBucketMultipartUploads on arn:aws:s3:::homelab-backup-postgres:/,
      );
      const staged = warned.get("could not remove this run's staged objects")!;
      const tmp = (await stack.listKeys(`${stack.prefix}/.tmp/`)).map((k) => k.key);
      assert.ok(tmp.length >= 3, tmp.join());
      assert.deepEqual(staged.objects, tmp);
      assert.match(
        String(staged.hint),
        /^the backup is committed; the next run removes these once they are older than STALE_UPLOAD_HOURS; the key in AWS_ACCESS_KEY_ID \(secret postgres-backup-s3-credentials\) needs s3:DeleteObject on arn:aws:s3:::homelab-backup-postgres\/postgresql-18\/\.tmp\//,
      );
      for (const key of finalKeys) await etagOf(stack, drillKey, key);

      const next = await runEntrypoint("backup.ts", {
        ...as(stack.backupEnv, backupKey),
        STALE_UPLOAD_HOURS: "0",
      });
      assert.equal(next.code, 0, next.stderr);
      const cleaned = next.lines.find((l) => l.msg === "removed leftovers of earlier runs")!;
      assert.deepEqual(cleaned.objects, tmp);
      assert.deepEqual(await stack.listKeys(`${stack.prefix}/.tmp/`), []);
    },
  );

  await t.step(
    "restore-drill --list and --json need nothing beyond the drill policy, and no SCRATCH_* setting",
    async () => {
      await emptyBucket(stack);
      const made = await runEntrypoint("backup.ts", as(stack.backupEnv, backupKey));
      assert.equal(made.code, 0, made.stderr);
      const env = Object.fromEntries(
        Object.entries(as(stack.drillEnv, drillKey)).filter(([n]) => !n.startsWith("SCRATCH_")),
      );
      const text = await runEntrypoint("restore_drill.ts", env, ["--list"]);
      assert.equal(text.code, 0, text.stderr);
      assert.deepEqual(warnings(text), []);
      assert.match(text.stdout, /\n1 backup: newest \d{4}-\d{2}-\d{2}, oldest /);
      const json = await runEntrypoint("restore_drill.ts", env, ["--list", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const [listed] = JSON.parse(json.stdout) as { key: string; drill: string; class: string }[];
      assert.deepEqual(
        { key: listed?.key, drill: listed?.drill, class: listed?.class },
        { key: data, drill: null, class: made.lastLine.retention_class },
      );
    },
  );

  await t.step(
    "--key naming a missing backup says it does not exist, though RGW answers 403 to a prefix-only lister",
    async () => {
      const missing = `${stack.prefix}/2020/01/01/full.sql.zst`;
      const head = await awsAs(stack, drillKey, [
        "s3api",
        "head-object",
        "--bucket",
        stack.bucket,
        "--key",
        missing,
      ]);
      assert.match(head.stderr, /\(403\) when calling the HeadObject operation/);
      const run = await runEntrypoint("restore_drill.ts", as(stack.drillEnv, drillKey), [
        `--key=${missing}`,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(
        run.lastLine.msg,
        `cannot read ${missing}: it does not exist in s3://homelab-backup-postgres/`,
      );
    },
  );
});
