import assert from "node:assert/strict";
import { BACKUP_SETTINGS, type BackupConfig, DRILL_SETTINGS } from "./config.ts";
import {
  describeSettings,
  helpText,
  parseSettings,
  secretValues,
  type SettingsTable,
} from "./settings.ts";
import { ConfigError, EXIT_CONFIG } from "./errors.ts";

const BACKUP_ENV = {
  PGHOST: "postgresql-18-hl",
  S3_ENDPOINT: "http://10.10.10.209:9000",
  AWS_ACCESS_KEY_ID: "backup-key-id",
  AWS_SECRET_ACCESS_KEY: "s3cr3t-access-key",
};

const DRILL_ENV = {
  S3_ENDPOINT: "http://10.10.10.209:9000",
  AWS_ACCESS_KEY_ID: "drill-key-id",
  AWS_SECRET_ACCESS_KEY: "s3cr3t-access-key",
};

function noFiles(path: string): string {
  throw new Error(`unexpected read of ${path}`);
}

function run<T extends SettingsTable>(
  table: T,
  args: string[],
  env: Record<string, string | undefined>,
  readSecretFile: (path: string) => string = noFiles,
) {
  const parsed = parseSettings(table, args, env, readSecretFile);
  assert.equal(parsed.kind, "run");
  return parsed.kind === "run" ? parsed.config : assert.fail("not a run");
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err;
  }
  return assert.fail("expected a ConfigError");
}

Deno.test("parseSettings() lists every missing backup setting in one ConfigError with exit code 2", () => {
  const err = configError(() => parseSettings(BACKUP_SETTINGS, [], {}, noFiles));
  assert.equal(err.exitCode, EXIT_CONFIG);
  assert.equal(err.exitCode, 2);
  assert.equal(err.name, "ConfigError");
  assert.equal(
    err.message,
    "missing settings: PGHOST, S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
  );
  assert.deepEqual(err.problems, [
    "missing settings: PGHOST, S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
  ]);
  assert.equal(err.hint, "set them in the environment or as flags; see --help");
});

Deno.test("parseSettings() lists every missing drill setting in one ConfigError", () => {
  const err = configError(() => parseSettings(DRILL_SETTINGS, [], {}, noFiles));
  assert.equal(err.exitCode, 2);
  assert.equal(
    err.message,
    "missing settings: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
  );
});

Deno.test("parseSettings() treats an empty environment value as unset", () => {
  const err = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, PGHOST: "" }, noFiles)
  );
  assert.equal(err.message, "missing settings: PGHOST");
});

Deno.test("parseSettings() puts missing settings first, then every invalid one, joined by '; '", () => {
  const err = configError(() =>
    parseSettings(
      BACKUP_SETTINGS,
      [],
      { S3_ENDPOINT: "minio:9000", PGPORT: "0", TZ: "Mars/Olympus", PRUNE: "maybe" },
      noFiles,
    )
  );
  assert.deepEqual(err.problems, [
    "missing settings: PGHOST, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
    'invalid PGPORT "0": expected a whole number from 1 to 65535',
    'invalid S3_ENDPOINT "minio:9000": expected a URL such as http://minio:9000',
    'invalid TZ "Mars/Olympus": expected an IANA time zone such as America/Sao_Paulo',
    'invalid PRUNE "maybe": expected true or false',
  ]);
  assert.equal(err.message, err.problems.join("; "));
});

Deno.test("parseSettings() applies the defaults of the backup table", () => {
  const config = run(BACKUP_SETTINGS, [], BACKUP_ENV);
  assert.deepEqual(
    config,
    {
      pgHost: "postgresql-18-hl",
      pgPort: 5432,
      pgUser: "postgres",
      pgPassword: undefined,
      s3Endpoint: "http://10.10.10.209:9000",
      s3Bucket: "homelab-backup-postgres",
      s3Prefix: "postgresql-18",
      s3Region: "us-east-1",
      accessKeyId: "backup-key-id",
      secretAccessKey: "s3cr3t-access-key",
      s3TimeoutSeconds: 60,
      s3Retries: 5,
      timeZone: "UTC",
      progressSeconds: 30,
      zstdLevel: 3,
      zstdThreads: 0,
      retentionDays: 14,
      keepWeekly: 0,
      keepMonthly: 0,
      applyLifecycle: false,
      prune: false,
      pruneOnly: false,
      dryRun: false,
      staleUploadHours: 6,
      partSizeMiB: 8,
      segmentSizeMiB: 5120,
      pushgatewayUrl: undefined,
      healthcheckUrl: undefined,
      shrinkWarnPercent: 50,
      ageRecipients: [],
      ageRecipientsFile: [],
    } satisfies BackupConfig,
  );
});

Deno.test("parseSettings() applies the defaults of the drill table", () => {
  const config = run(DRILL_SETTINGS, [], DRILL_ENV);
  assert.equal(config.scratchHost, "127.0.0.1");
  assert.equal(config.scratchPort, 5432);
  assert.equal(config.scratchUser, "postgres");
  assert.equal(config.scratchPassword, undefined);
  assert.equal(config.allowRemoteScratch, false);
  assert.equal(config.scratchWaitSeconds, 120);
  assert.deepEqual(config.expectedDatabases, []);
  assert.equal(config.backupKey, undefined);
  assert.equal(config.sha256Key, undefined);
  assert.equal(config.ageIdentityFile, undefined);
  assert.equal(config.checkOlder, 1);
  assert.equal(config.list, false);
  assert.equal(config.listJson, false);
});

Deno.test("parseSettings() takes KEEP_WEEKLY and KEEP_MONTHLY (backup) and CHECK_OLDER (drill) from 0", () => {
  const backup = run(BACKUP_SETTINGS, ["--keep-monthly", "12"], {
    ...BACKUP_ENV,
    KEEP_WEEKLY: "8",
  });
  assert.deepEqual([backup.keepWeekly, backup.keepMonthly], [8, 12]);
  const drill = run(DRILL_SETTINGS, ["--list", "--json", "--check-older", "0"], DRILL_ENV);
  assert.deepEqual([drill.checkOlder, drill.list, drill.listJson], [0, true, true]);
  assert.equal(run(DRILL_SETTINGS, [], { ...DRILL_ENV, LIST: "true" }).list, true);
  const err = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, KEEP_WEEKLY: "-1", KEEP_MONTHLY: "121" })
  );
  assert.deepEqual(err.problems, [
    'invalid KEEP_WEEKLY "-1": expected a whole number from 0 to 520',
    'invalid KEEP_MONTHLY "121": expected a whole number from 0 to 120',
  ]);
  assert.ok(!("checkOlder" in backup));
  assert.ok(!("keepWeekly" in drill));
});

Deno.test("parseSettings() lets a flag win over the environment", () => {
  const config = run(
    BACKUP_SETTINGS,
    ["--pghost", "flag-host", "--pgport=6543", "--s3-prefix", "/custom/", "--tz", "Europe/Berlin"],
    { ...BACKUP_ENV, PGPORT: "5433", S3_PREFIX: "env-prefix", TZ: "Asia/Tokyo" },
  );
  assert.equal(config.pgHost, "flag-host");
  assert.equal(config.pgPort, 6543);
  assert.equal(config.s3Prefix, "/custom/");
  assert.equal(config.timeZone, "Europe/Berlin");
});

Deno.test("parseSettings() falls back to the environment when a flag is empty", () => {
  const config = run(BACKUP_SETTINGS, ["--pghost="], BACKUP_ENV);
  assert.equal(config.pgHost, "postgresql-18-hl");
});

Deno.test("parseSettings() sets a bool from its flag or from env words", () => {
  assert.equal(run(BACKUP_SETTINGS, ["--prune"], BACKUP_ENV).prune, true);
  for (const word of ["1", "true", "YES", "On"]) {
    assert.equal(run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, PRUNE: word }).prune, true, word);
  }
  for (const word of ["0", "false", "No", "OFF"]) {
    assert.equal(run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, PRUNE: word }).prune, false, word);
  }
});

Deno.test("parseSettings() rejects an int outside its range or not a whole number", () => {
  const cases: [string, string, string][] = [
    ["ZSTD_LEVEL", "20", 'invalid ZSTD_LEVEL "20": expected a whole number from 1 to 19'],
    ["ZSTD_LEVEL", "0", 'invalid ZSTD_LEVEL "0": expected a whole number from 1 to 19'],
    ["ZSTD_LEVEL", "-3", 'invalid ZSTD_LEVEL "-3": expected a whole number from 1 to 19'],
    ["ZSTD_LEVEL", "3.5", 'invalid ZSTD_LEVEL "3.5": expected a whole number from 1 to 19'],
    ["PGPORT", "5432x", 'invalid PGPORT "5432x": expected a whole number from 1 to 65535'],
    ["PGPORT", " 5432", 'invalid PGPORT " 5432": expected a whole number from 1 to 65535'],
    [
      "RETENTION_DAYS",
      "99999999999999999999",
      'invalid RETENTION_DAYS "99999999999999999999": expected a whole number from 1 to 3650',
    ],
  ];
  for (const [name, value, message] of cases) {
    const err = configError(() =>
      parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, [name]: value }, noFiles)
    );
    assert.deepEqual(err.problems, [message]);
  }
  assert.equal(run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, ZSTD_THREADS: "0" }).zstdThreads, 0);
  assert.equal(run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, ZSTD_LEVEL: "19" }).zstdLevel, 19);
});

Deno.test("parseSettings() accepts http and https endpoints and drops trailing slashes", () => {
  const env = { ...BACKUP_ENV, S3_ENDPOINT: "https://minio.example.invalid:9000//" };
  assert.equal(run(BACKUP_SETTINGS, [], env).s3Endpoint, "https://minio.example.invalid:9000");
});

Deno.test("parseSettings() rejects an endpoint that is not an http(s) URL", () => {
  for (const value of ["minio:9000", "ftp://minio:9000", "not a url", "http://user@minio:9000"]) {
    const err = configError(() =>
      parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, S3_ENDPOINT: value }, noFiles)
    );
    const shown = value.replace("user@", "<redacted>@");
    assert.deepEqual(err.problems, [
      `invalid S3_ENDPOINT "${shown}": expected a URL such as http://minio:9000`,
    ]);
  }
});

Deno.test("parseSettings() rejects an endpoint that carries a password without a user name", () => {
  // Bug: config.ts checks only url.username, so `http://:pw@host` passes and the password then
  // shows in the `start` line through describeSettings().
  assert.throws(
    () =>
      parseSettings(
        BACKUP_SETTINGS,
        [],
        { ...BACKUP_ENV, S3_ENDPOINT: "http://:hunter2-pw@minio:9000" },
        noFiles,
      ),
    ConfigError,
  );
});

Deno.test("parseSettings() does not repeat the password of an endpoint with credentials", () => {
  // Bug: the invalid-URL problem quotes the raw value, user:password included.
  const err = configError(() =>
    parseSettings(
      BACKUP_SETTINGS,
      [],
      { ...BACKUP_ENV, S3_ENDPOINT: "http://admin:hunter2-pw@minio:9000" },
      noFiles,
    )
  );
  assert.ok(!err.message.includes("hunter2-pw"), err.message);
});

Deno.test("parseSettings() accepts IANA time zones", () => {
  const config = run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, TZ: "America/Sao_Paulo" });
  assert.equal(config.timeZone, "America/Sao_Paulo");
});

Deno.test("parseSettings() splits a list on commas and drops empty items", () => {
  const config = run(
    DRILL_SETTINGS,
    ["--expected-databases", " app, Weird DB ,,billing,"],
    DRILL_ENV,
  );
  assert.deepEqual(config.expectedDatabases, ["app", "Weird DB", "billing"]);
});

Deno.test("parseSettings() reads a secret from the file a --*-file flag names, trimmed", () => {
  const read: string[] = [];
  const files: Record<string, string> = {
    "/run/secrets/pg": "pg-from-file\n",
    "/run/secrets/id": "  id-from-file  \n",
  };
  const config = run(
    BACKUP_SETTINGS,
    ["--pgpassword-file", "/run/secrets/pg", "--aws-access-key-id-file=/run/secrets/id"],
    { ...BACKUP_ENV, PGPASSWORD: "pg-from-env" },
    (path) => {
      read.push(path);
      const text = files[path];
      if (text === undefined) throw new Deno.errors.NotFound(path);
      return text;
    },
  );
  assert.deepEqual(read, ["/run/secrets/pg", "/run/secrets/id"]);
  assert.equal(config.pgPassword, "pg-from-file");
  assert.equal(config.accessKeyId, "id-from-file");
  assert.equal(config.secretAccessKey, "s3cr3t-access-key");
});

Deno.test("parseSettings() reports an unreadable secret file with the other problems", () => {
  const err = configError(() =>
    parseSettings(
      BACKUP_SETTINGS,
      ["--aws-secret-access-key-file", "/nope/secret"],
      { PGHOST: "db", AWS_ACCESS_KEY_ID: "id", ZSTD_LEVEL: "99" },
      () => {
        throw new Deno.errors.NotFound("/nope/secret");
      },
    )
  );
  assert.deepEqual(err.problems, [
    "missing settings: S3_ENDPOINT",
    'cannot read --aws-secret-access-key-file "/nope/secret": no such readable file',
    'invalid ZSTD_LEVEL "99": expected a whole number from 1 to 19',
  ]);
});

Deno.test("parseSettings() never takes a secret as a flag value", () => {
  for (
    const args of [
      ["--pgpassword", "hunter2-flag"],
      ["--pgpassword=hunter2-flag"],
      ["--aws-secret-access-key=hunter2-flag"],
      ["--aws-access-key-id", "hunter2-flag"],
    ]
  ) {
    const err = configError(() => parseSettings(BACKUP_SETTINGS, args, BACKUP_ENV, noFiles));
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /^invalid command line: unknown option '--[a-z-]+'/);
    assert.ok(!err.message.includes("hunter2-flag"), err.message);
  }
  const drill = configError(() =>
    parseSettings(DRILL_SETTINGS, ["--scratch-pgpassword=x"], DRILL_ENV, noFiles)
  );
  assert.equal(drill.message, "invalid command line: unknown option '--scratch-pgpassword'");
});

Deno.test("parseSettings() throws ConfigError for an unknown flag or a positional argument", () => {
  assert.equal(
    configError(() => parseSettings(BACKUP_SETTINGS, ["--bogus"], BACKUP_ENV, noFiles)).message,
    "invalid command line: unknown option '--bogus'",
  );
  assert.equal(
    configError(() => parseSettings(BACKUP_SETTINGS, ["extra"], BACKUP_ENV, noFiles)).message,
    "invalid command line: unexpected argument 'extra'. This command does not take positional arguments",
  );
  assert.equal(
    configError(() => parseSettings(BACKUP_SETTINGS, ["--pgport"], BACKUP_ENV, noFiles)).message,
    "invalid command line: option '--pgport <value>' argument missing",
  );
});

Deno.test("parseSettings() returns help or version before checking settings", () => {
  assert.deepEqual(parseSettings(BACKUP_SETTINGS, ["--help"], {}, noFiles), { kind: "help" });
  assert.deepEqual(parseSettings(BACKUP_SETTINGS, ["-h"], {}, noFiles), { kind: "help" });
  assert.deepEqual(parseSettings(DRILL_SETTINGS, ["--version"], {}, noFiles), {
    kind: "version",
  });
});

Deno.test("describeSettings() redacts secrets and leaves unset and false settings out", () => {
  const config = run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, PGPASSWORD: "pg-pass-123" });
  const shown = describeSettings(BACKUP_SETTINGS, config);
  assert.equal(shown.PGHOST, "postgresql-18-hl");
  assert.equal(shown.PGPORT, 5432);
  assert.equal(shown.PGPASSWORD, "<redacted>");
  assert.equal(shown.AWS_ACCESS_KEY_ID, "<redacted>");
  assert.equal(shown.AWS_SECRET_ACCESS_KEY, "<redacted>");
  assert.ok(!("PRUNE" in shown));
  const text = JSON.stringify(shown);
  for (const secret of ["pg-pass-123", "backup-key-id", "s3cr3t-access-key"]) {
    assert.ok(!text.includes(secret), secret);
  }
  const noPassword = describeSettings(BACKUP_SETTINGS, run(BACKUP_SETTINGS, [], BACKUP_ENV));
  assert.ok(!("PGPASSWORD" in noPassword));
});

Deno.test("secretValues() returns every secret that is set", () => {
  const config = run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, PGPASSWORD: "pg-pass-123" });
  assert.deepEqual(secretValues(BACKUP_SETTINGS, config), [
    "pg-pass-123",
    "backup-key-id",
    "s3cr3t-access-key",
  ]);
});

Deno.test("helpText() lists every env name and flag, and the EXIT STATUS section", () => {
  for (const table of [BACKUP_SETTINGS, DRILL_SETTINGS]) {
    const text = helpText("backup", "Backs up the cluster.", table);
    assert.ok(text.startsWith("Usage: backup [flags]\n\nBacks up the cluster.\n"));
    for (const setting of Object.values(table)) {
      assert.ok(text.includes(`  ${setting.env} `), setting.env);
      assert.ok(text.includes(`--${setting.flag}`), setting.flag);
    }
    assert.match(text, /\nEXIT STATUS\n {2}0 {4}the run completed\n {2}1 {4}a step failed/);
    assert.ok(text.includes("  2    missing or invalid settings"));
    assert.ok(text.includes("  130  stopped by SIGINT; 143 stopped by SIGTERM"));
  }
  const backup = helpText("backup", "", BACKUP_SETTINGS);
  assert.ok(backup.includes("--pgpassword-file FILE"));
  assert.ok(backup.includes("--pghost VALUE"));
  assert.match(backup, /source PostgreSQL host .*\(required\)/);
  assert.match(backup, /zstd compression level \(default 3\)/);
});

Deno.test("parseSettings() reads PUSHGATEWAY_URL and HEALTHCHECK_URL in both programs", () => {
  for (
    const [table, env] of [[BACKUP_SETTINGS, BACKUP_ENV], [DRILL_SETTINGS, DRILL_ENV]] as const
  ) {
    const config = run(table, [], {
      ...env,
      PUSHGATEWAY_URL: "http://prometheus-pushgateway.monitoring:9091/",
      HEALTHCHECK_URL: "https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278",
    });
    assert.equal(config.pushgatewayUrl, "http://prometheus-pushgateway.monitoring:9091");
    assert.equal(config.healthcheckUrl, "https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278");
  }
});

Deno.test("HEALTHCHECK_URL is a secret: redacted in the start line, from a file, never in a problem", () => {
  const url = "https://hc-ping.com/5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278";
  const config = run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, HEALTHCHECK_URL: url });
  assert.equal(describeSettings(BACKUP_SETTINGS, config).HEALTHCHECK_URL, "<redacted>");
  assert.ok(secretValues(BACKUP_SETTINGS, config).includes(url));
  const fromFile = run(
    DRILL_SETTINGS,
    ["--healthcheck-url-file", "/run/secrets/hc"],
    DRILL_ENV,
    (path) => path === "/run/secrets/hc" ? `${url}\n` : noFiles(path),
  );
  assert.equal(fromFile.healthcheckUrl, url);
  const err = configError(() =>
    parseSettings(
      BACKUP_SETTINGS,
      [],
      { ...BACKUP_ENV, HEALTHCHECK_URL: "hc-ping.com/tok3n" },
      noFiles,
    )
  );
  assert.deepEqual(err.problems, [
    "invalid HEALTHCHECK_URL <redacted>: expected a URL such as http://minio:9000",
  ]);
});

Deno.test("parseSettings() takes SHRINK_WARN_PERCENT from 0 to 100, in the backup only", () => {
  assert.equal(
    run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, SHRINK_WARN_PERCENT: "0" }).shrinkWarnPercent,
    0,
  );
  const err = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, SHRINK_WARN_PERCENT: "101" }, noFiles)
  );
  assert.deepEqual(err.problems, [
    'invalid SHRINK_WARN_PERCENT "101": expected a whole number from 0 to 100',
  ]);
  assert.ok(!("shrinkWarnPercent" in run(DRILL_SETTINGS, [], DRILL_ENV)));
});

const R1 = "age1vr5m5d7kewgfa0g7zgldxa40dpjqnsqzdsvm9vpt8natdk8wpyzsf9fptr";
const R2 = "age1q0m4gyg8gnmm5yc069as4rcu79wlg6l8ktpcg6t73x7tqh5fzyqq3wk5wz";

Deno.test("parseSettings() reads AGE_RECIPIENTS as a list of age public keys", () => {
  const config = run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, AGE_RECIPIENTS: ` ${R1} ,${R2}` });
  assert.deepEqual(config.ageRecipients, [R1, R2]);
  assert.deepEqual(config.ageRecipientsFile, []);
  assert.deepEqual(
    run(BACKUP_SETTINGS, ["--age-recipients", R2], BACKUP_ENV).ageRecipients,
    [R2],
  );
});

Deno.test("parseSettings() reads --age-recipients-file like age -R: one key a line, # comments", () => {
  const read: string[] = [];
  const config = run(
    BACKUP_SETTINGS,
    ["--age-recipients-file", "/etc/age/recipients.txt"],
    BACKUP_ENV,
    (path) => {
      read.push(path);
      return `# ops laptop\n${R1}\n\n# offline copy, 2026\n${R2}\n`;
    },
  );
  assert.deepEqual(read, ["/etc/age/recipients.txt"]);
  assert.deepEqual(config.ageRecipientsFile, [R1, R2]);
  // The environment can name the file too.
  assert.deepEqual(
    run(BACKUP_SETTINGS, [], { ...BACKUP_ENV, AGE_RECIPIENTS_FILE: "/f" }, () => R2)
      .ageRecipientsFile,
    [R2],
  );
});

Deno.test("parseSettings() refuses a malformed age recipient with a ConfigError naming the setting", () => {
  const err = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, AGE_RECIPIENTS: `${R1},age1nope` }, noFiles)
  );
  assert.equal(err.exitCode, 2);
  assert.deepEqual(err.problems, [
    'invalid AGE_RECIPIENTS: entry 2 "age1nope" is not an age public key (age1 and 58 characters, as age-keygen -y prints)',
  ]);
  const empty = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, AGE_RECIPIENTS: " , " }, noFiles)
  );
  assert.deepEqual(empty.problems, ["invalid AGE_RECIPIENTS: it holds no age recipient"]);
});

Deno.test("parseSettings() names the recipients file it could not read or whose entry is bad", () => {
  const missing = configError(() =>
    parseSettings(BACKUP_SETTINGS, ["--age-recipients-file", "/nope"], BACKUP_ENV, () => {
      throw new Deno.errors.NotFound("/nope");
    })
  );
  assert.deepEqual(missing.problems, [
    'cannot read AGE_RECIPIENTS_FILE "/nope": no such readable file',
  ]);
  const bad = configError(() =>
    parseSettings(
      BACKUP_SETTINGS,
      ["--age-recipients-file", "/r.txt"],
      BACKUP_ENV,
      () => "# comment only\n",
    )
  );
  assert.deepEqual(bad.problems, [
    'invalid AGE_RECIPIENTS_FILE "/r.txt": it holds no age recipient',
  ]);
});

Deno.test("parseSettings() never repeats a private key given as a recipient", () => {
  const secret = "AGE-SECRET-KEY-1" + "Q".repeat(58);
  const err = configError(() =>
    parseSettings(BACKUP_SETTINGS, [], { ...BACKUP_ENV, AGE_RECIPIENTS: secret }, noFiles)
  );
  assert.ok(!err.message.includes(secret), err.message);
  assert.match(
    err.message,
    /^invalid AGE_RECIPIENTS: entry 1 is a private key \(AGE-SECRET-KEY-1…\)/,
  );
});

Deno.test("parseSettings() takes AGE_IDENTITY_FILE as a path it does not read", () => {
  const config = run(DRILL_SETTINGS, ["--age-identity-file", "/run/age/identity.txt"], DRILL_ENV);
  assert.equal(config.ageIdentityFile, "/run/age/identity.txt");
});
