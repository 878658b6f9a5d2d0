/**
 * scripts/validate.ts without a cluster: the exact kubectl commands of --dry-run, and the
 * marker checks on canned job logs. The S3 + sha256 part runs for real against the local
 * stack in the integration tests (--skip-kubectl).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  DRILL_MARKERS,
  main,
  missingMarkers,
  newestBackupKey,
  realRunner,
  type Runner,
  smokeResults,
  type ValidateDeps,
} from "../../scripts/validate.ts";

const NOW = new Date("2025-06-01T05:29:51.123Z");
const S3_ENV = {
  S3_ENDPOINT: "http://127.0.0.1:1",
  S3_BUCKET: "homelab-backup-postgres",
  S3_PREFIX: "postgresql-18",
  AWS_ACCESS_KEY_ID: "test-key-id",
  AWS_SECRET_ACCESS_KEY: "canary-secret-9d1c",
};

const GOOD_DRILL_LOGS = [
  `{"level":"info","program":"restore-drill","step":"find","msg":"found backup","key":"postgresql-18/2025/06/01/full.sql.zst"}`,
  `{"level":"info","program":"restore-drill","step":"verify","msg":"sha256 OK","sha256":"ab12"}`,
  `{"level":"info","program":"restore-drill","step":"restore","msg":"restore OK","duration_ms":1200}`,
  `{"level":"info","program":"restore-drill","step":"smoke","msg":"smoke OK","databases":3}`,
  `{"level":"info","program":"restore-drill","step":"report","msg":"drill OK"}`,
].join("\n");

function deps(run: Runner, env: Record<string, string> = {}, mc = false) {
  const printed: string[] = [];
  const d: ValidateDeps = {
    run,
    print: (line) => printed.push(line),
    env,
    now: NOW,
    has: (program) => Promise.resolve(program === "mc" && mc),
  };
  return { d, printed };
}

const refuse: Runner = (argv) => Promise.reject(new Error(`dry run ran ${argv.join(" ")}`));

Deno.test("validate --dry-run prints the exact kubectl commands and runs nothing", async () => {
  const { d, printed } = deps(refuse);
  assert.equal(await main(["--dry-run"], d), 0);
  const kubectl = printed.filter((l) => l.startsWith("kubectl"));
  assert.deepEqual(kubectl, [
    "kubectl -n apps create job --from=cronjob/postgres-backup backup-manual-20250601-052951",
    "kubectl -n apps wait --for=condition=complete --timeout=600s job/backup-manual-20250601-052951",
    "kubectl -n apps wait --for=condition=failed --timeout=600s job/backup-manual-20250601-052951",
    "kubectl -n apps logs job/backup-manual-20250601-052951 -c backup",
    "kubectl -n apps create job --from=cronjob/postgres-restore-drill restore-manual-20250601-052951",
    "kubectl -n apps wait --for=condition=complete --timeout=1200s job/restore-manual-20250601-052951",
    "kubectl -n apps wait --for=condition=failed --timeout=1200s job/restore-manual-20250601-052951",
    "kubectl -n apps logs job/restore-manual-20250601-052951 -c restore-drill",
  ]);
  assert.ok(printed.includes("sha256sum -c full.sql.zst.sha256"));
  assert.equal(printed.at(-1), "dry run: nothing was run");
});

Deno.test("validate --dry-run uses --namespace and the timeouts, and mc when it is on PATH", async () => {
  const { d, printed } = deps(refuse, S3_ENV, true);
  const args = ["--dry-run", "--namespace", "backups", "--timeout-backup", "90s"];
  assert.equal(await main([...args, "--timeout-drill", "1h"], d), 0);
  assert.ok(printed.includes(
    "kubectl -n backups wait --for=condition=complete --timeout=90s job/backup-manual-20250601-052951",
  ));
  assert.ok(printed.some((l) => l.includes("--timeout=3600s job/restore-manual-")));
  assert.ok(printed.includes("mc ls --recursive validate/homelab-backup-postgres/postgresql-18/"));
  assert.ok(!printed.join("\n").includes("canary-secret-9d1c"), "a secret was printed");
});

Deno.test("validate --dry-run --skip-kubectl prints only the S3 and sha256 commands", async () => {
  const { d, printed } = deps(refuse, S3_ENV);
  assert.equal(await main(["--dry-run", "--skip-kubectl"], d), 0);
  assert.ok(!printed.some((l) => l.startsWith("kubectl")));
  assert.equal(
    printed[0],
    "aws --endpoint-url http://127.0.0.1:1 s3 ls --recursive s3://homelab-backup-postgres/postgresql-18/",
  );
});

Deno.test("validate with a bad duration exits 2 with one line naming the value", async () => {
  const { d, printed } = deps(refuse);
  assert.equal(await main(["--timeout-drill", "soon"], d), 2);
  assert.deepEqual(printed, [
    `validate FAILED: invalid duration "soon": expected e.g. 90s, 10m or 1h`,
  ]);
});

Deno.test("missingMarkers() finds nothing missing in a good drill log", () => {
  assert.deepEqual(missingMarkers(GOOD_DRILL_LOGS, DRILL_MARKERS), []);
});

Deno.test("missingMarkers() names each drill marker a failed drill never logged", () => {
  const failed = GOOD_DRILL_LOGS.replace("smoke OK", "smoke FAILED").replace("restore OK", "x");
  assert.deepEqual(missingMarkers(failed, DRILL_MARKERS), ["restore OK", "smoke OK"]);
  const mismatch = `{"level":"error","msg":"sha256 mismatch","expected":"aa","actual":"bb"}`;
  assert.deepEqual(missingMarkers(mismatch, DRILL_MARKERS), [...DRILL_MARKERS]);
});

Deno.test("smokeResults() keeps only the drill's verdict lines", () => {
  const lines = smokeResults(GOOD_DRILL_LOGS).trim().split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /sha256 OK/);
  assert.match(lines[3]!, /"step":"report"/);
});

Deno.test("newestBackupKey() picks the latest date from aws and mc listings", () => {
  const aws = [
    "2025-05-30 05:30:01    1048576 postgresql-18/2025/05/30/full.sql.zst",
    "2025-05-30 05:30:01         81 postgresql-18/2025/05/30/full.sql.zst.sha256",
    "2025-06-01 05:30:01    1048999 postgresql-18/2025/06/01/full.sql.zst",
    "2025-06-01 05:30:02        812 postgresql-18/2025/06/01/manifest.json",
  ].join("\n");
  assert.equal(newestBackupKey(aws, "postgresql-18"), "postgresql-18/2025/06/01/full.sql.zst");
  const mc = [
    "[2025-05-31 05:30:01 UTC] 1.0MiB STANDARD 2025/05/31/full.sql.zst",
    "[2025-05-31 05:30:01 UTC]    81B STANDARD 2025/05/31/full.sql.zst.sha256",
  ].join("\n");
  assert.equal(newestBackupKey(mc, "postgresql-18"), "postgresql-18/2025/05/31/full.sql.zst");
  assert.equal(newestBackupKey("", "postgresql-18"), undefined);
});

Deno.test("newestBackupKey() finds an encrypted backup, full.sql.zst.age, like a plain one", () => {
  const aws = [
    "2025-05-31 05:30:01    1048576 postgresql-18/2025/05/31/full.sql.zst",
    "2025-06-01 05:30:01    1049011 postgresql-18/2025/06/01/full.sql.zst.age",
    "2025-06-01 05:30:01         85 postgresql-18/2025/06/01/full.sql.zst.age.sha256",
  ].join("\n");
  assert.equal(
    newestBackupKey(aws, "postgresql-18"),
    "postgresql-18/2025/06/01/full.sql.zst.age",
  );
});

/**
 * Plays kubectl and the S3 client from canned answers; sha256sum runs for real on the files
 * the fake download writes.
 */
function scripted(
  drillLogs: string,
  sha256Line: (hex: string) => string,
  dataKey = "postgresql-18/2025/06/01/full.sql.zst",
): Runner {
  const data = new TextEncoder().encode("-- a tiny dump\n");
  const hex = createHash("sha256").update(data).digest("hex");
  return async (argv, opts) => {
    const ok = (stdout = "") => ({ code: 0, stdout, stderr: "" });
    if (argv[0] === "kubectl") {
      if (argv.includes("wait")) {
        return argv.includes("--for=condition=complete")
          ? ok("job.batch/x condition met\n")
          : await new Promise((resolve) => {
            opts?.signal?.addEventListener("abort", () =>
              resolve({ code: 1, stdout: "", stderr: "" }));
          });
      }
      if (argv.includes("logs")) {
        return argv.at(-1) === "backup"
          ? ok(`{"msg":"backup OK","key":"postgresql-18/2025/06/01/full.sql.zst"}\n`)
          : ok(drillLogs);
      }
      return ok();
    }
    if (argv[0] === "aws" && argv.includes("ls")) {
      return ok(`2025-06-01 05:30:01  15 ${dataKey}\n`);
    }
    if (argv[0] === "aws" && argv.includes("cp")) {
      const dest = argv.at(-1)!;
      if (dest.endsWith(".sha256")) await Deno.writeTextFile(dest, sha256Line(hex));
      else await Deno.writeFile(dest, data);
      return ok();
    }
    return realRunner(argv, opts);
  };
}

Deno.test("validate checks an encrypted backup's pair with sha256sum -c, without its key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { d, printed } = deps(
      scripted(
        GOOD_DRILL_LOGS,
        (h) => `${h}  full.sql.zst.age\n`,
        "postgresql-18/2025/06/01/full.sql.zst.age",
      ),
      S3_ENV,
    );
    assert.equal(await main(["--evidence-dir", dir], d), 0, printed.join("\n"));
    assert.match(
      Deno.readTextFileSync(`${dir}/backup-sha-verify.txt`),
      /\$ sha256sum -c full\.sql\.zst\.age\.sha256\nfull\.sql\.zst\.age: OK/,
    );
    assert.ok(printed.includes("sha256 OK: postgresql-18/2025/06/01/full.sql.zst.age"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validate writes the five evidence files when every marker is present", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { d, printed } = deps(scripted(GOOD_DRILL_LOGS, (h) => `${h}  full.sql.zst\n`), S3_ENV);
    assert.equal(await main(["--evidence-dir", dir], d), 0, printed.join("\n"));
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(files, [
      "backup-job-logs.txt",
      "backup-sha-verify.txt",
      "minio-ls.txt",
      "restore-job-logs.txt",
      "restore-smoke-results.txt",
    ]);
    assert.match(Deno.readTextFileSync(`${dir}/backup-sha-verify.txt`), /full\.sql\.zst: OK/);
    assert.equal(printed.at(-1), `validate OK: evidence in ${dir}/`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validate fails with one line when the drill logs lack smoke OK", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const logs = GOOD_DRILL_LOGS.replace("smoke OK", "smoke FAILED");
    const { d, printed } = deps(scripted(logs, (h) => `${h}  full.sql.zst\n`), S3_ENV);
    assert.equal(await main(["--evidence-dir", dir], d), 1);
    assert.equal(
      printed.at(-1),
      `validate FAILED: restore drill restore-manual-20250601-052951 logs lack "smoke OK"`,
    );
    assert.match(Deno.readTextFileSync(`${dir}/restore-smoke-results.txt`), /smoke FAILED/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validate fails with sha256 mismatch when the .sha256 object is wrong", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wrong = () => `${"0".repeat(64)}  full.sql.zst\n`;
    const { d, printed } = deps(scripted(GOOD_DRILL_LOGS, wrong), S3_ENV);
    assert.equal(await main(["--evidence-dir", dir, "--skip-kubectl"], d), 1);
    assert.equal(
      printed.at(-1),
      "validate FAILED: sha256 mismatch: postgresql-18/2025/06/01/full.sql.zst does not match its .sha256",
    );
    assert.match(Deno.readTextFileSync(`${dir}/backup-sha-verify.txt`), /FAILED/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
