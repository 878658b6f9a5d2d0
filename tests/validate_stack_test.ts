/**
 * `scripts/validate.ts --skip-kubectl` against the local stack: the S3 and sha256 part of the
 * plan's Task 6, for real (the kubectl part is covered by `--dry-run` in tests/static/).
 */
import assert from "node:assert/strict";
import { exec } from "./harness/process.ts";
import { upload } from "./harness/fixtures.ts";
import { REPO_ROOT, runEntrypoint } from "./harness/run.ts";
import { startStack } from "./harness/stack.ts";

Deno.test("validate --skip-kubectl lists the bucket, checks the newest backup's sha256 and writes evidence", async (t) => {
  await using stack = await startStack({ sample: "simple" });
  const backup = await runEntrypoint("backup.ts", stack.backupEnv);
  assert.equal(backup.code, 0, backup.stderr);
  const key = String(backup.lastLine.key);
  const evidence = await Deno.makeTempDir();
  const env = {
    // Debian's AWS CLI first; no mc here, so validate uses the AWS CLI.
    PATH: "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    NO_COLOR: "1",
    S3_ENDPOINT: stack.s3.endpoint,
    S3_BUCKET: stack.bucket,
    S3_PREFIX: stack.prefix,
    S3_REGION: stack.s3.region,
    AWS_ACCESS_KEY_ID: stack.s3.accessKey,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretKey,
  };
  const validate = () =>
    exec(Deno.execPath(), [
      "run",
      "--allow-all",
      "scripts/validate.ts",
      "--skip-kubectl",
      "--evidence-dir",
      evidence,
    ], {
      env,
      cwd: REPO_ROOT,
    });
  try {
    await t.step(
      "a good backup passes and leaves minio-ls.txt and backup-sha-verify.txt",
      async () => {
        const run = await validate();
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, new RegExp(`sha256 OK: ${key}`));
        assert.match(await Deno.readTextFile(`${evidence}/minio-ls.txt`), /full\.sql\.zst\.sha256/);
        const verify = await Deno.readTextFile(`${evidence}/backup-sha-verify.txt`);
        assert.match(verify, new RegExp(`^key: ${key}\n`));
        assert.match(verify, /full\.sql\.zst: OK/);
      },
    );
    await t.step("a wrong .sha256 fails with one validate FAILED line, exit 1", async () => {
      await upload(stack, `${key}.sha256`, `${"1".repeat(64)}  full.sql.zst\n`);
      const run = await validate();
      assert.equal(run.code, 1);
      assert.match(
        run.stdout + run.stderr,
        new RegExp(`validate FAILED: sha256 mismatch: ${key} does not match its \\.sha256`),
      );
    });
  } finally {
    await Deno.remove(evidence, { recursive: true });
  }
});
