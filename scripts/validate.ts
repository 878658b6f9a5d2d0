/**
 * The deployment's evidence on a real cluster: force-run the backup and the restore drill, check what
 * they left in the bucket, and write the evidence files an operator shows to others.
 *
 * ```sh
 * deno run --allow-all scripts/validate.ts [--evidence-dir evidence/backup-phase2-postgres/]
 *   [--namespace apps] [--dry-run] [--skip-kubectl] [--timeout-backup 10m] [--timeout-drill 20m]
 * ```
 *
 * The S3 part reads S3_ENDPOINT, S3_BUCKET, S3_PREFIX, AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY from the environment and uses `mc` when it is on PATH, else the AWS CLI.
 * Exit status: 0 every check passed, 1 a check failed (one line says which), 2 bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Markers a successful drill logs, in the order it logs them. */
export const DRILL_MARKERS = ["sha256 OK", "restore OK", "smoke OK"] as const;
/** Marker of a successful backup. */
export const BACKUP_MARKER = "backup OK";
/** Evidence files, relative to the evidence directory. */
export const EVIDENCE_FILES = {
  backupLogs: "backup-job-logs.txt",
  minioLs: "minio-ls.txt",
  shaVerify: "backup-sha-verify.txt",
  drillLogs: "restore-job-logs.txt",
  smokeResults: "restore-smoke-results.txt",
} as const;

/** What the command line asked for. */
export interface ValidateOptions {
  evidenceDir: string;
  namespace: string;
  dryRun: boolean;
  skipKubectl: boolean;
  timeoutBackupSeconds: number;
  timeoutDrillSeconds: number;
}

/** A finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command; `cwd` and `env` add to the current process's. */
export type Runner = (
  argv: string[],
  opts?: { cwd?: string; env?: Record<string, string>; signal?: AbortSignal },
) => Promise<RunResult>;

/** A check that failed: the one line printed before exit 1. */
export class ValidationError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "ValidationError";
  }
}

/**
 * Reads `10m`, `90s`, `1h` or a plain number of seconds.
 *
 * @param text the duration
 * @returns seconds
 * @throws {ValidationError} (exit 2) when the text is not a duration
 */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new ValidationError(`invalid duration "${text}": expected e.g. 90s, 10m or 1h`, 2);
  const unit = { s: 1, m: 60, h: 3600 }[(m[2] ?? "s") as "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

/**
 * Parses the command line.
 *
 * @param args the arguments after the script name
 * @returns the options
 * @throws {ValidationError} (exit 2) on an unknown flag or a bad value
 */
export function parseValidateArgs(args: string[]): ValidateOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "evidence-dir": { type: "string", default: "evidence/backup-phase2-postgres/" },
        namespace: { type: "string", default: "apps" },
        "dry-run": { type: "boolean", default: false },
        "skip-kubectl": { type: "boolean", default: false },
        "timeout-backup": { type: "string", default: "10m" },
        "timeout-drill": { type: "string", default: "20m" },
      },
    }));
  } catch (err) {
    throw new ValidationError(`invalid arguments: ${(err as Error).message}`, 2);
  }
  return {
    evidenceDir: values["evidence-dir"],
    namespace: values.namespace,
    dryRun: values["dry-run"],
    skipKubectl: values["skip-kubectl"],
    timeoutBackupSeconds: parseDuration(values["timeout-backup"]),
    timeoutDrillSeconds: parseDuration(values["timeout-drill"]),
  };
}

/** `20250601T052951` style stamp, in UTC, safe in a Job name. */
export function jobStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-")
    .toLowerCase();
}

/** The kubectl commands for one forced run of a CronJob. */
export interface JobCommands {
  job: string;
  create: string[];
  waitComplete: string[];
  waitFailed: string[];
  logs: string[];
}

/**
 * Builds the kubectl commands that force-run a CronJob, wait for it and read its logs.
 *
 * @param namespace the namespace of the CronJob
 * @param cronJob the CronJob's name
 * @param job the name of the Job to create
 * @param container the container whose logs are the evidence
 * @param timeoutSeconds how long to wait for the Job
 * @returns the commands, as argv arrays
 */
export function jobCommands(
  namespace: string,
  cronJob: string,
  job: string,
  container: string,
  timeoutSeconds: number,
): JobCommands {
  const ns = ["kubectl", "-n", namespace];
  const wait = (condition: string) => [
    ...ns,
    "wait",
    `--for=condition=${condition}`,
    `--timeout=${timeoutSeconds}s`,
    `job/${job}`,
  ];
  return {
    job,
    create: [...ns, "create", "job", `--from=cronjob/${cronJob}`, job],
    waitComplete: wait("complete"),
    waitFailed: wait("failed"),
    logs: [...ns, "logs", `job/${job}`, "-c", container],
  };
}

/**
 * Names the markers missing from a log.
 *
 * @param logs the job's log text
 * @param markers the markers that must appear
 * @returns the missing markers, in the given order
 */
export function missingMarkers(logs: string, markers: readonly string[]): string[] {
  return markers.filter((m) => !logs.includes(m));
}

/**
 * The lines of a drill log that report its verdicts: sha256, restore, smoke and the report.
 *
 * @param logs the drill's log text
 * @returns those lines, newline-terminated
 */
export function smokeResults(logs: string): string {
  const verdict = /sha256 (OK|mismatch)|restore (OK|FAILED)|smoke (OK|FAILED)|backup stale|report/;
  const lines = logs.split("\n").filter((l) => verdict.test(l));
  return lines.length > 0 ? lines.join("\n") + "\n" : "";
}

/**
 * Finds the newest backup's data key in a recursive listing from `mc ls` or `aws s3 ls`.
 * Keys are `<prefix>/YYYY/MM/DD/full.sql.zst` (or `full.sql.zst.age`, encrypted), so the
 * greatest key is the newest day's; a day folder holding both gives the encrypted one.
 *
 * @param listing the listing text
 * @param prefix the S3 prefix, without a trailing slash
 * @returns the key, or `undefined` when there is none
 */
export function newestBackupKey(listing: string, prefix: string): string | undefined {
  const keys = listing.split("\n")
    .map((l) => l.trim().split(/\s+/).at(-1) ?? "")
    .filter((k) => /(^|\/)\d{4}\/\d{2}\/\d{2}\/full\.sql\.zst(\.age)?$/.test(k))
    .map((k) => (prefix === "" || k.startsWith(`${prefix}/`) ? k : `${prefix}/${k}`));
  return keys.sort().at(-1);
}

/** Shell-quotes an argv for printing; secrets never appear in argv. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

/** Where the S3 part reads and how it calls the client. */
export interface S3Target {
  endpoint: string;
  bucket: string;
  prefix: string;
  client: "mc" | "aws";
  /** Extra environment for the client (credentials); never printed. */
  env: Record<string, string>;
}

/**
 * Reads the S3 settings from the environment.
 *
 * @param env the environment
 * @param client which S3 client to call
 * @returns the target
 * @throws {ValidationError} (exit 2) naming every missing variable
 */
export function s3TargetFromEnv(env: Record<string, string>, client: "mc" | "aws"): S3Target {
  const missing = ["S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    .filter((n) => !env[n]);
  if (missing.length > 0) {
    throw new ValidationError(
      `missing settings: ${missing.join(", ")} (export the backup's S3 settings first)`,
      2,
    );
  }
  const endpoint = env.S3_ENDPOINT!;
  const keyId = env.AWS_ACCESS_KEY_ID!;
  const secret = env.AWS_SECRET_ACCESS_KEY!;
  const url = new URL(endpoint);
  const mcHost = `${url.protocol}//${encodeURIComponent(keyId)}:${
    encodeURIComponent(secret)
  }@${url.host}`;
  return {
    endpoint,
    bucket: env.S3_BUCKET || "homelab-backup-postgres",
    prefix: (env.S3_PREFIX || "postgresql-18").replace(/\/+$/, ""),
    client,
    env: client === "mc" ? { MC_HOST_validate: mcHost } : {
      AWS_ACCESS_KEY_ID: keyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_EC2_METADATA_DISABLED: "true",
    },
  };
}

/** The S3 client commands: list the prefix, download one key into a directory. */
export function s3Commands(t: S3Target) {
  if (t.client === "mc") {
    return {
      list: ["mc", "ls", "--recursive", `validate/${t.bucket}/${t.prefix}/`],
      get: (key: string, dest: string) => ["mc", "cp", `validate/${t.bucket}/${key}`, dest],
    };
  }
  const aws = ["aws", "--endpoint-url", t.endpoint, "s3"];
  return {
    list: [...aws, "ls", "--recursive", `s3://${t.bucket}/${t.prefix}/`],
    get: (
      key: string,
      dest: string,
    ) => [...aws, "cp", "--no-progress", `s3://${t.bucket}/${key}`, dest],
  };
}

/** What `validate` needs from the outside world; tests pass their own. */
export interface ValidateDeps {
  run: Runner;
  print: (line: string) => void;
  env: Record<string, string>;
  now: Date;
  /** Whether a program is on PATH. */
  has: (program: string) => Promise<boolean>;
}

async function must(
  deps: ValidateDeps,
  argv: string[],
  what: string,
  opts?: Parameters<Runner>[1],
) {
  const r = await deps.run(argv, opts);
  if (r.code !== 0) {
    const last = r.stderr.trim().split("\n").at(-1) ?? "";
    throw new ValidationError(`${what} failed (exit ${r.code}): ${last}`);
  }
  return r;
}

/** Waits for a Job to complete; a Job that fails or times out is an error. */
async function waitForJob(deps: ValidateDeps, c: JobCommands, timeoutSeconds: number) {
  const stop = new AbortController();
  const complete = deps.run(c.waitComplete, { signal: stop.signal }).then((r) =>
    ["complete", r] as const
  );
  const failed = deps.run(c.waitFailed, { signal: stop.signal }).then((r) =>
    ["failed", r] as const
  );
  // The first wait that succeeds decides; a wait that errors (timeout) leaves the other.
  const pending = [complete, failed];
  let outcome: "complete" | "failed" | "timeout" = "timeout";
  while (pending.length > 0) {
    const [which, r] = await Promise.race(pending);
    pending.splice(pending.indexOf(which === "complete" ? complete : failed), 1);
    if (r.code === 0) {
      outcome = which;
      break;
    }
  }
  stop.abort();
  await Promise.allSettled([complete, failed]);
  if (outcome === "failed") {
    throw new ValidationError(
      `job ${c.job} failed: see its logs with ${shellLine(c.logs)}`,
    );
  }
  if (outcome === "timeout") {
    throw new ValidationError(`job ${c.job} did not complete within ${timeoutSeconds}s`);
  }
}

async function forceRun(
  deps: ValidateDeps,
  c: JobCommands,
  timeoutSeconds: number,
  evidencePath: string,
): Promise<string> {
  await must(deps, c.create, `creating job ${c.job}`);
  let waitError: unknown;
  try {
    await waitForJob(deps, c, timeoutSeconds);
  } catch (err) {
    waitError = err;
  }
  // Save the logs even when the job failed: they are the evidence of why.
  const logs = await deps.run(c.logs);
  await Deno.writeTextFile(evidencePath, logs.stdout);
  deps.print(`wrote ${evidencePath}`);
  if (waitError) throw waitError;
  return logs.stdout;
}

/** Lists the bucket, downloads the newest backup and its .sha256, runs `sha256sum -c`. */
export async function verifyNewestBackup(
  deps: ValidateDeps,
  target: S3Target,
  evidenceDir: string | undefined,
): Promise<string> {
  const cmds = s3Commands(target);
  const listing = await must(deps, cmds.list, "listing the bucket", { env: target.env });
  if (evidenceDir) {
    await Deno.writeTextFile(`${evidenceDir}/${EVIDENCE_FILES.minioLs}`, listing.stdout);
  }
  const key = newestBackupKey(listing.stdout, target.prefix);
  if (!key) {
    throw new ValidationError(
      `no backup under s3://${target.bucket}/${target.prefix}/: the listing has no full.sql.zst`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "validate-" });
  try {
    for (const k of [key, `${key}.sha256`]) {
      const dest = `${dir}/${k.split("/").at(-1)}`;
      await must(deps, cmds.get(k, dest), `downloading ${k}`, { env: target.env });
      const size = (await Deno.stat(dest)).size;
      if (size === 0) throw new ValidationError(`${k} is empty`);
    }
    // The .sha256 of an encrypted backup covers its stored bytes: no key needed here.
    const name = key.split("/").at(-1)!;
    const check = await deps.run(["sha256sum", "-c", `${name}.sha256`], { cwd: dir });
    const text = `key: ${key}\n$ sha256sum -c ${name}.sha256\n${check.stdout}${check.stderr}`;
    if (evidenceDir) await Deno.writeTextFile(`${evidenceDir}/${EVIDENCE_FILES.shaVerify}`, text);
    if (check.code !== 0 || !check.stdout.includes(`${name}: OK`)) {
      throw new ValidationError(`sha256 mismatch: ${key} does not match its .sha256`);
    }
    deps.print(`sha256 OK: ${key}`);
    return key;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Runs the whole validation.
 *
 * @param args command-line arguments
 * @param deps the outside world
 * @returns the exit code
 */
export async function main(args: string[], deps: ValidateDeps): Promise<number> {
  try {
    const opts = parseValidateArgs(args);
    const stamp = jobStamp(deps.now);
    const backupJob = jobCommands(
      opts.namespace,
      "postgres-backup",
      `backup-manual-${stamp}`,
      "backup",
      opts.timeoutBackupSeconds,
    );
    const drillJob = jobCommands(
      opts.namespace,
      "postgres-restore-drill",
      `restore-manual-${stamp}`,
      "restore-drill",
      opts.timeoutDrillSeconds,
    );
    const client = (await deps.has("mc")) ? "mc" : "aws";

    if (opts.dryRun) {
      if (!opts.skipKubectl) {
        for (
          const c of [
            backupJob.create,
            backupJob.waitComplete,
            backupJob.waitFailed,
            backupJob.logs,
          ]
        ) {
          deps.print(shellLine(c));
        }
      }
      const s3 = s3Commands({
        endpoint: deps.env.S3_ENDPOINT ?? "$S3_ENDPOINT",
        bucket: deps.env.S3_BUCKET || "homelab-backup-postgres",
        prefix: deps.env.S3_PREFIX || "postgresql-18",
        client,
        env: {},
      });
      deps.print(shellLine(s3.list));
      deps.print(shellLine(s3.get("<newest>/full.sql.zst", "<tmp>/full.sql.zst")));
      deps.print(shellLine(s3.get("<newest>/full.sql.zst.sha256", "<tmp>/full.sql.zst.sha256")));
      deps.print(shellLine(["sha256sum", "-c", "full.sql.zst.sha256"]));
      if (!opts.skipKubectl) {
        for (
          const c of [drillJob.create, drillJob.waitComplete, drillJob.waitFailed, drillJob.logs]
        ) {
          deps.print(shellLine(c));
        }
      }
      deps.print("dry run: nothing was run");
      return 0;
    }

    const target = s3TargetFromEnv(deps.env, client);
    const dir = opts.evidenceDir.replace(/\/+$/, "");
    await Deno.mkdir(dir, { recursive: true });

    if (!opts.skipKubectl) {
      const logs = await forceRun(
        deps,
        backupJob,
        opts.timeoutBackupSeconds,
        `${dir}/${EVIDENCE_FILES.backupLogs}`,
      );
      if (missingMarkers(logs, [BACKUP_MARKER]).length > 0) {
        throw new ValidationError(`backup job ${backupJob.job} logs lack "${BACKUP_MARKER}"`);
      }
    }
    await verifyNewestBackup(deps, target, dir);
    if (!opts.skipKubectl) {
      let logs = "";
      try {
        logs = await forceRun(
          deps,
          drillJob,
          opts.timeoutDrillSeconds,
          `${dir}/${EVIDENCE_FILES.drillLogs}`,
        );
      } finally {
        await Deno.writeTextFile(`${dir}/${EVIDENCE_FILES.smokeResults}`, smokeResults(logs));
      }
      const missing = missingMarkers(logs, DRILL_MARKERS);
      if (missing.length > 0) {
        throw new ValidationError(
          `restore drill ${drillJob.job} logs lack ${missing.map((m) => `"${m}"`).join(", ")}`,
        );
      }
    }
    deps.print(`validate OK: evidence in ${dir}/`);
    return 0;
  } catch (err) {
    if (err instanceof ValidationError) {
      deps.print(`validate FAILED: ${err.message}`);
      return err.exitCode;
    }
    deps.print(`validate FAILED: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

/** Runs a real process, collecting its output. */
export const realRunner: Runner = async (argv, opts) => {
  const [cmd, ...args] = argv;
  const child = new Deno.Command(cmd!, {
    args,
    ...(opts?.cwd ? { cwd: opts.cwd } : {}),
    env: opts?.env ?? {},
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(opts?.signal ? { signal: opts.signal } : {}),
  });
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (err) {
    return { code: 127, stdout: "", stderr: `cannot run ${cmd}: ${(err as Error).message}` };
  }
};

async function onPath(program: string): Promise<boolean> {
  const r = await realRunner(["sh", "-c", `command -v ${program}`]);
  return r.code === 0;
}

if (import.meta.main) {
  Deno.exit(
    await main(Deno.args, {
      run: realRunner,
      print: (line) => console.log(line),
      env: Deno.env.toObject(),
      now: new Date(),
      has: onPath,
    }),
  );
}
