/**
 * A throwaway single-node Ceph cluster serving S3 through the RADOS Gateway on loopback:
 * one ceph-mon, one ceph-osd (memstore in RAM, or bluestore on a sparse file), one
 * radosgw. All three run in the foreground as children tracked by PID, with a ceph.conf
 * in a temp dir.
 *
 * Measured here (2 cores): memstore ready in 0.55 to 0.75 s (mon, OSD, radosgw, S3 user),
 * bluestore with an 8 GiB sparse file in about 7 s; stop in about 0.4 s. About 136 MiB RSS
 * idle (radosgw 53, OSD 48, mon 35), plus the data (memstore keeps it in RAM).
 *
 * @module
 */

import { freePort } from "./ports.ts";
import { BASE_ENV, Daemon, exec, execOk, type ExecResult, waitUntil } from "./process.ts";
import { requireTool } from "./tools.ts";

/** How to start the cluster. */
export interface RgwOptions {
  /** Capacity of the object store in bytes. @default 3 GiB */
  storeBytes?: number;
  /** `memstore` keeps objects in RAM; `bluestore` writes a sparse file. @default "memstore" */
  objectstore?: "memstore" | "bluestore";
  /**
   * Make one lifecycle "day" last this many seconds (`rgw lc debug interval`), with lifecycle
   * processing allowed all day (`rgw lifecycle work time = 00:00-23:59`), so expiry can be
   * watched in a test: an object under a 1-day rule goes within about a minute. Only for the
   * lifecycle test: any rule set on such a gateway expires objects thousands of times faster.
   * @default undefined (real days)
   */
  lifecycleDaySeconds?: number;
}

/** One object from a listing. */
export interface S3Key {
  key: string;
  size: number;
  /** ISO 8601, as the AWS CLI prints it. */
  lastModified: string;
}

/** An S3 user's keys. */
export interface S3Keys {
  readonly accessKey: string;
  readonly secretKey: string;
}

/** An incomplete multipart upload. */
export interface S3Upload {
  key: string;
  uploadId: string;
}

/** A running S3 server; dispose it (`await using`) to stop it and remove its files. */
export interface RgwServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** A region string for signatures; RGW accepts any region name in SigV4. */
  readonly region: string;
  /** PIDs of radosgw, ceph-osd, ceph-mon. */
  readonly pids: number[];
  /** Temp dir holding ceph.conf, the stores and the logs. */
  readonly dir: string;
  /**
   * Run Debian's AWS CLI (`/usr/bin/aws --endpoint-url ... --no-cli-pager`) with the
   * credentials in its environment, never in argv.
   *
   * Note: this CLI (2.9.19) crashes with `argument of type 'NoneType' is not iterable`
   * on any RGW error response, because RGW sends an empty `<Message>`; branch on the exit
   * code only.
   */
  aws(args: string[], stdin?: string | Uint8Array): Promise<ExecResult>;
  /** Like {@linkcode aws}, signed with another user's keys (in the environment, never argv). */
  awsAs(keys: S3Keys, args: string[]): Promise<ExecResult>;
  /**
   * Create an S3 user with no rights of its own: it reaches the bucket (owned by the harness
   * user) only through the IAM policies put on it with {@linkcode putUserPolicy}.
   */
  createUser(uid: string): Promise<S3Keys>;
  /**
   * Put an IAM policy (AWS JSON, as `mc admin policy create` takes it) on a user with
   * `aws iam put-user-policy`; RGW enforces it. A user can hold several named policies.
   */
  putUserPolicy(uid: string, name: string, document: string): Promise<void>;
  /** Create a bucket (names need 3 to 63 characters). */
  createBucket(name: string): Promise<void>;
  /** Every object under `prefix` (all pages), in key order. */
  listKeys(bucket: string, prefix?: string): Promise<S3Key[]>;
  /** Incomplete multipart uploads in the bucket. */
  listMultipartUploads(bucket: string): Promise<S3Upload[]>;
  /**
   * Stop only the gateway (radosgw); the cluster keeps its data and the port refuses
   * connections until {@linkcode startGateway}.
   */
  stopGateway(): Promise<void>;
  /** Start the gateway again on the same port and wait until it answers. */
  startGateway(): Promise<void>;
  /** Stop radosgw, then the OSD, then the mon. Safe to call twice. */
  stop(): Promise<void>;
}

const GiB = 1024 ** 3;

/**
 * Start a single-node Ceph cluster with an S3 gateway on a free 127.0.0.1 port, and an
 * S3 user with random keys.
 *
 * @throws {Error} When a binary is missing (naming `make setup`) or a daemon fails.
 * @example
 * ```ts
 * await using s3 = await startRgw();
 * await s3.createBucket("homelab-backup-postgres");
 * ```
 */
export async function startRgw(opts: RgwOptions = {}): Promise<RgwServer> {
  const tools = {
    mon: requireTool("ceph-mon"),
    osd: requireTool("ceph-osd"),
    rgw: requireTool("radosgw"),
    admin: requireTool("radosgw-admin"),
    monmaptool: requireTool("monmaptool"),
    ceph: requireTool("ceph"),
    aws: requireTool("aws"),
  };
  const dir = await Deno.makeTempDir({ prefix: "backup-toolbox-rgw-" });
  const daemons: Daemon[] = [];
  try {
    for (const sub of ["mon", "osd", "run", "log"]) await Deno.mkdir(`${dir}/${sub}`);
    const fsid = crypto.randomUUID();
    const monPort = freePort();
    const rgwPort = freePort();
    const conf = `${dir}/ceph.conf`;
    await Deno.writeTextFile(conf, _cephConf({ dir, fsid, monPort, rgwPort, opts }));
    const ceph = (args: string[]) => ["-c", conf, ...args];
    const env = { ...BASE_ENV };

    // Monitor: a one-member monmap, then the mon in the foreground.
    await execOk("monmaptool", tools.monmaptool, [
      "--create",
      "--fsid",
      fsid,
      "--addv",
      "a",
      `[v2:127.0.0.1:${monPort}]`,
      `${dir}/monmap`,
    ], { env });
    await execOk(
      "ceph-mon --mkfs",
      tools.mon,
      ceph(["--mkfs", "-i", "a", "--monmap", `${dir}/monmap`]),
      {
        env,
      },
    );
    daemons.push(new Daemon("ceph-mon", tools.mon, ceph(["-i", "a", "-f"]), { env }));

    // OSD 0: register it with the mon, make its store, run it.
    await execOk(
      "ceph osd create",
      tools.ceph,
      ceph(["--connect-timeout", "30", "osd", "create"]),
      {
        env,
      },
    );
    await execOk("ceph-osd --mkfs", tools.osd, ceph(["-i", "0", "--mkfs"]), { env });
    daemons.push(new Daemon("ceph-osd", tools.osd, ceph(["-i", "0", "-f"]), { env }));

    // Gateway: it creates its pools once the OSD is up, then serves HTTP.
    const gateway = () =>
      new Daemon("radosgw", tools.rgw, ceph(["-n", "client.rgw", "-f"]), { env });
    daemons.push(gateway());
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitUntil(`radosgw on ${endpoint}`, () => _answers(endpoint), daemons, 60_000);

    // An S3 user; radosgw-admin generates the keys, so they never appear in argv.
    const created = await execOk(
      "radosgw-admin user create",
      tools.admin,
      ceph(["user", "create", "--uid", "harness", "--display-name", "harness"]),
      { env },
    );
    const keys =
      (JSON.parse(created.stdout) as { keys: { access_key: string; secret_key: string }[] })
        .keys[0];
    if (keys === undefined) {
      throw new Error("radosgw-admin user create failed: no keys in its output");
    }
    return new _RgwServer({
      dir,
      endpoint,
      accessKey: keys.access_key,
      secretKey: keys.secret_key,
      daemons,
      awsPath: tools.aws,
      gateway,
      adminPath: tools.admin,
    });
  } catch (err) {
    await _stopAll(daemons);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

function _cephConf(
  c: { dir: string; fsid: string; monPort: number; rgwPort: number; opts: RgwOptions },
): string {
  const bytes = c.opts.storeBytes ?? 3 * GiB;
  const store = c.opts.objectstore === "bluestore"
    ? [
      "osd objectstore = bluestore",
      `bluestore block path = ${c.dir}/bluestore.block`,
      "bluestore block create = true",
      `bluestore block size = ${bytes}`,
      "bluestore block db create = false",
      "bluestore block wal create = false",
      "bluestore fsck on mkfs = false",
    ]
    : ["osd objectstore = memstore", `memstore device bytes = ${bytes}`];
  return [
    "[global]",
    `fsid = ${c.fsid}`,
    `mon host = v2:127.0.0.1:${c.monPort}`,
    "mon initial members = a",
    "public network = 127.0.0.1/32",
    "ms bind msgr1 = false",
    "ms bind ipv6 = false",
    "ms mon client mode = crc",
    "auth cluster required = none",
    "auth service required = none",
    "auth client required = none",
    "paxos propose interval = 0.01",
    "mon allow pool size one = true",
    "mon allow pool delete = true",
    "mon warn on pool no redundancy = false",
    "osd pool default size = 1",
    "osd pool default min size = 1",
    "osd pool default pg num = 8",
    "osd pool default pgp num = 8",
    "osd crush chooseleaf type = 0",
    `mon data = ${c.dir}/mon/$cluster-$id`,
    `osd data = ${c.dir}/osd`,
    `run dir = ${c.dir}/run`,
    `admin socket = ${c.dir}/run/$name.$pid.asok`,
    `pid file = ${c.dir}/run/$name.pid`,
    `log file = ${c.dir}/log/$name.log`,
    "log to stderr = false",
    "err to stderr = true",
    ...store,
    "",
    "[client.rgw]",
    `rgw frontends = beast endpoint=127.0.0.1:${c.rgwPort}`,
    `rgw data = ${c.dir}/rgw`,
    ...(c.opts.lifecycleDaySeconds === undefined ? [] : [
      `rgw lc debug interval = ${c.opts.lifecycleDaySeconds}`,
      "rgw lifecycle work time = 00:00-23:59",
    ]),
    "",
  ].join("\n");
}

async function _answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(endpoint);
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function _stopAll(daemons: Daemon[]): Promise<void> {
  // Reverse start order: radosgw, OSD, mon (all at once makes the OSD wait for the mon).
  for (const daemon of [...daemons].reverse()) await daemon.stop("SIGTERM", 5_000);
}

interface _RgwFields {
  dir: string;
  endpoint: string;
  accessKey: string;
  secretKey: string;
  daemons: Daemon[];
  awsPath: string;
  /** Starts a new radosgw daemon with the cluster's settings. */
  gateway: () => Daemon;
  adminPath: string;
}

class _RgwServer implements RgwServer {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region = "us-east-1";
  readonly dir: string;
  readonly #daemons: Daemon[];
  readonly #awsPath: string;
  readonly #gateway: () => Daemon;
  readonly #adminPath: string;
  #policyCaps: Promise<unknown> | undefined;

  constructor(fields: _RgwFields) {
    this.#gateway = fields.gateway;
    this.dir = fields.dir;
    this.endpoint = fields.endpoint;
    this.accessKey = fields.accessKey;
    this.secretKey = fields.secretKey;
    this.#daemons = fields.daemons;
    this.#awsPath = fields.awsPath;
    this.#adminPath = fields.adminPath;
  }

  get pids(): number[] {
    return [...this.#daemons].reverse().map((d) => d.pid);
  }

  aws(args: string[], stdin?: string | Uint8Array): Promise<ExecResult> {
    return this.#aws(this, args, stdin);
  }

  awsAs(keys: S3Keys, args: string[]): Promise<ExecResult> {
    return this.#aws(keys, args);
  }

  async createUser(uid: string): Promise<S3Keys> {
    const created = await this.#admin("user create", ["--uid", uid, "--display-name", uid]);
    const keys =
      (JSON.parse(created.stdout) as { keys: { access_key: string; secret_key: string }[] })
        .keys[0];
    if (keys === undefined) throw new Error(`radosgw-admin user create ${uid} failed: no keys`);
    return { accessKey: keys.access_key, secretKey: keys.secret_key };
  }

  async putUserPolicy(uid: string, name: string, document: string): Promise<void> {
    // The harness user may manage user policies once it has these caps.
    this.#policyCaps ??= this.#admin("caps add", ["--uid", "harness", "--caps", "user-policy=*"]);
    await this.#policyCaps;
    const file = `${this.dir}/policy-${uid}-${name}.json`;
    await Deno.writeTextFile(file, document);
    const put = await this.aws([
      "iam",
      "put-user-policy",
      "--user-name",
      uid,
      "--policy-name",
      name,
      "--policy-document",
      `file://${file}`,
    ]);
    if (put.code !== 0) {
      throw new Error(
        `aws iam put-user-policy ${uid} ${name} failed (exit ${put.code}): ${put.stderr}`,
      );
    }
  }

  #admin(what: string, args: string[]): Promise<ExecResult> {
    return execOk(`radosgw-admin ${what}`, this.#adminPath, [
      "-c",
      `${this.dir}/ceph.conf`,
      ...what.split(" "),
      ...args,
    ], { env: { ...BASE_ENV } });
  }

  #aws(keys: S3Keys, args: string[], stdin?: string | Uint8Array): Promise<ExecResult> {
    const env = {
      ...BASE_ENV,
      HOME: this.dir,
      AWS_ACCESS_KEY_ID: keys.accessKey,
      AWS_SECRET_ACCESS_KEY: keys.secretKey,
      AWS_DEFAULT_REGION: this.region,
      AWS_PAGER: "",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    };
    const argv = ["--endpoint-url", this.endpoint, "--no-cli-pager", ...args];
    return exec(this.#awsPath, argv, stdin === undefined ? { env } : { env, stdin });
  }

  async #awsJson(what: string, args: string[]): Promise<Record<string, unknown>> {
    const result = await this.aws([...args, "--output", "json"]);
    if (result.code !== 0) {
      throw new Error(`aws ${what} failed (exit ${result.code}): ${result.stderr.trim()}`);
    }
    // An empty answer (no objects, no uploads) prints nothing at all.
    return result.stdout.trim() === "" ? {} : JSON.parse(result.stdout);
  }

  async createBucket(name: string): Promise<void> {
    await this.#awsJson(`create-bucket ${name}`, ["s3api", "create-bucket", "--bucket", name]);
  }

  async listKeys(bucket: string, prefix = ""): Promise<S3Key[]> {
    // The CLI follows continuation tokens itself unless told not to paginate.
    const page = await this.#awsJson(`list-objects-v2 ${bucket}`, [
      "s3api",
      "list-objects-v2",
      "--bucket",
      bucket,
      "--prefix",
      prefix,
    ]);
    const contents = (page.Contents ?? []) as { Key: string; Size: number; LastModified: string }[];
    return contents.map((o) => ({ key: o.Key, size: o.Size, lastModified: o.LastModified }));
  }

  async listMultipartUploads(bucket: string): Promise<S3Upload[]> {
    const page = await this.#awsJson(`list-multipart-uploads ${bucket}`, [
      "s3api",
      "list-multipart-uploads",
      "--bucket",
      bucket,
    ]);
    const uploads = (page.Uploads ?? []) as { Key: string; UploadId: string }[];
    return uploads.map((u) => ({ key: u.Key, uploadId: u.UploadId }));
  }

  async stopGateway(): Promise<void> {
    const rgw = this.#daemons.findLast((d) => d.name === "radosgw");
    await rgw?.stop("SIGTERM", 5_000);
  }

  async startGateway(): Promise<void> {
    const at = this.#daemons.findLastIndex((d) => d.name === "radosgw");
    if (at !== -1 && this.#daemons[at]!.exited === undefined) return;
    const rgw = this.#gateway();
    if (at === -1) this.#daemons.push(rgw);
    else this.#daemons[at] = rgw;
    await waitUntil(
      `radosgw on ${this.endpoint}`,
      () => _answers(this.endpoint),
      this.#daemons,
      60_000,
    );
  }

  async stop(): Promise<void> {
    await _stopAll(this.#daemons);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.stop();
    } finally {
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}
