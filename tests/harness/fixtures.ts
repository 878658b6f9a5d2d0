/**
 * Small helpers the integration tests share: empty the bucket between scenarios, download with
 * the AWS CLI, hold a table lock so a dump stalls mid-stream, and read child command lines.
 *
 * @module
 */
import { exec } from "./process.ts";
import type { PgServer } from "./postgres.ts";
import type { S3Keys } from "./rgw.ts";
import { cmdlineOf, descendants } from "./run.ts";
import type { Stack } from "./stack.ts";
import { requireTool } from "./tools.ts";

/** Deletes every object and aborts every multipart upload in the stack's bucket. */
export async function emptyBucket(stack: Stack): Promise<void> {
  for (const upload of await stack.s3.listMultipartUploads(stack.bucket)) {
    await stack.s3.aws([
      "s3api",
      "abort-multipart-upload",
      "--bucket",
      stack.bucket,
      "--key",
      upload.key,
      "--upload-id",
      upload.uploadId,
    ]);
  }
  const rm = await stack.s3.aws(["s3", "rm", "--recursive", `s3://${stack.bucket}/`]);
  if (rm.code !== 0) throw new Error(`empty bucket failed: ${rm.stderr}`);
}

/** Everything in the bucket: object keys and incomplete uploads' keys. */
export async function bucketContents(stack: Stack): Promise<{ keys: string[]; uploads: string[] }> {
  const keys = (await stack.s3.listKeys(stack.bucket, "")).map((k) => k.key);
  const uploads = (await stack.s3.listMultipartUploads(stack.bucket)).map((u) => u.key);
  return { keys, uploads };
}

/** Downloads one object with the AWS CLI into `dir`; returns the local path. */
export async function download(stack: Stack, key: string, dir: string): Promise<string> {
  const path = `${dir}/${key.slice(key.lastIndexOf("/") + 1)}`;
  const r = await stack.s3.aws(["s3", "cp", `s3://${stack.bucket}/${key}`, path]);
  if (r.code !== 0) throw new Error(`download ${key} failed: ${r.stderr}`);
  return path;
}

/** Uploads bytes with the AWS CLI (optionally with user metadata). */
export async function upload(
  stack: Stack,
  key: string,
  body: string | Uint8Array,
): Promise<void> {
  const r = await stack.s3.aws(["s3", "cp", "-", `s3://${stack.bucket}/${key}`], body);
  if (r.code !== 0) throw new Error(`upload ${key} failed: ${r.stderr}`);
}

/**
 * An object's tags, read with the AWS CLI (`s3api get-object-tagging`), as the harness user or
 * as `keys` (on RGW an object belongs to the user who wrote it).
 *
 * @throws {Error} when the CLI fails (a missing object, no permission)
 */
export async function tagsOf(
  stack: Stack,
  key: string,
  keys?: S3Keys,
): Promise<Record<string, string>> {
  const args = ["s3api", "get-object-tagging", "--bucket", stack.bucket, "--key", key];
  const r = keys ? await stack.s3.awsAs(keys, args) : await stack.s3.aws(args);
  if (r.code !== 0) throw new Error(`get-object-tagging ${key} failed: ${r.stderr.slice(-300)}`);
  // RGW answers an object without tags with no TagSet at all; the CLI then prints nothing.
  const set = r.stdout.trim() === ""
    ? []
    : (JSON.parse(r.stdout).TagSet ?? []) as { Key: string; Value: string }[];
  return Object.fromEntries(set.map((t) => [t.Key, t.Value]));
}

/** Runs a shell pipeline and returns its result (for `sha256sum -c`, `zstd -dc | psql`). */
export async function sh(script: string, env: Record<string, string> = {}, cwd?: string) {
  return await exec("bash", ["-o", "pipefail", "-c", script], { env, ...(cwd ? { cwd } : {}) });
}

/**
 * Holds an ACCESS EXCLUSIVE lock on a table in an open transaction, so pg_dump waits on it:
 * the dump stalls mid-stream, deterministically. Dispose to release.
 */
export async function holdLock(pg: PgServer, db: string, table: string): Promise<AsyncDisposable> {
  const child = new Deno.Command(requireTool("psql-18"), {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db],
    env: { ...pg.env, PATH: "/usr/bin:/bin" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      `BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n`,
    ),
  );
  // Wait until the lock is really held.
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("locked")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`lock ${table} failed`);
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    async [Symbol.asyncDispose]() {
      await writer.write(new TextEncoder().encode("ROLLBACK;\n")).catch(() => {});
      await writer.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** The command lines of every process below `pid`. */
export function childCommandLines(pid: number): { pid: number; cmdline: string }[] {
  return descendants(pid).map((p) => ({ pid: p, cmdline: cmdlineOf(p) }));
}

/** Whether a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * The date folder of a backup taken `daysAgo` days before now in the stack's time zone (UTC):
 * `YYYY/MM/DD`, as `<prefix>/YYYY/MM/DD/full.sql.zst` has it.
 *
 * @example
 * ```ts
 * const dir = `${stack.prefix}/${dayFolder()}`; // today's backup
 * ```
 */
export function dayFolder(daysAgo = 0): string {
  return new Date(Date.now() - daysAgo * 86400_000).toISOString().slice(0, 10).replaceAll("-", "/");
}

/**
 * Everything an operator could see of a server's cluster: databases, roles, role settings and
 * memberships, as one JSON text to compare before and after.
 */
export async function snapshot(pg: PgServer): Promise<string> {
  return await pg.psql(`
    SELECT json_build_object(
      'databases', (SELECT json_agg(datname ORDER BY datname) FROM pg_database),
      'roles', (SELECT json_agg(json_build_array(rolname, rolsuper, rolcanlogin, rolpassword)
                ORDER BY rolname) FROM pg_authid),
      'settings', (SELECT json_agg(json_build_array(setdatabase, setrole, setconfig)
                   ORDER BY setdatabase, setrole) FROM pg_db_role_setting),
      'memberships', (SELECT json_agg(json_build_array(roleid, member) ORDER BY roleid, member)
                      FROM pg_auth_members))`);
}
