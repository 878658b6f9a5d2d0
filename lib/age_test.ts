import assert from "node:assert/strict";
import {
  AGE_RECIPIENT,
  ageDecryptSpec,
  ageEncryptSpec,
  ageErrorLine,
  decryptionFor,
  identityMismatch,
  identityPublicKeys,
  isAgeRecipient,
  isIdentityMismatch,
  parseRecipients,
} from "./age.ts";
import { BackupUnreadableError, PreflightError } from "./errors.ts";
import { baseEnv } from "./pipeline.ts";

const env = baseEnv(Deno.env.toObject());
// Public keys of throwaway identities, whose private keys were never kept.
const R1 = "age1vr5m5d7kewgfa0g7zgldxa40dpjqnsqzdsvm9vpt8natdk8wpyzsf9fptr";
const R2 = "age1q0m4gyg8gnmm5yc069as4rcu79wlg6l8ktpcg6t73x7tqh5fzyqq3wk5wz";

/** A fresh identity from the real age-keygen, in a temp dir. */
async function keygen(): Promise<{ dir: string; file: string; publicKey: string; secret: string }> {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/key.txt`;
  const out = await new Deno.Command("age-keygen", { args: ["-o", file], stderr: "piped" })
    .output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const text = await Deno.readTextFile(file);
  const publicKey = /# public key: (age1\S+)/.exec(text)![1]!;
  const secret = /^(AGE-SECRET-KEY-1\S+)$/m.exec(text)![1]!;
  return { dir, file, publicKey, secret };
}

Deno.test("parseRecipients() reads comma- or newline-separated keys, skipping # comments and repeats", () => {
  assert.deepEqual(parseRecipients(`${R1}, ${R2},${R1}`), { recipients: [R1, R2], problems: [] });
  assert.deepEqual(
    parseRecipients(`# ops laptop (2026)\n${R1}\n\n  # offline copy\n${R2}\n`),
    { recipients: [R1, R2], problems: [] },
  );
});

Deno.test("parseRecipients() names each bad entry and never repeats a private key", () => {
  const secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
  const { recipients, problems } = parseRecipients(
    `${R1},age1short,${secret},ssh-ed25519 AAAAC3Nza,age1${"b".repeat(58)}`,
  );
  assert.deepEqual(recipients, [R1]);
  assert.deepEqual(problems, [
    'entry 2 "age1short" is not an age public key (age1 and 58 characters, as age-keygen -y prints)',
    "entry 3 is a private key (AGE-SECRET-KEY-1…): give its public key (age-keygen -y key.txt) and keep the private key away from the backup",
    "entry 4 is not an age public key (age1…, as age-keygen -y prints; SSH and plugin recipients are not supported)",
    `entry 5 "age1${
      "b".repeat(58)
    }" is not an age public key (age1 and 58 characters, as age-keygen -y prints)`,
  ]);
  assert.ok(!problems.join().includes(secret.slice(16)));
});

Deno.test("isAgeRecipient() checks the bech32 checksum, so a typo is refused at start", () => {
  assert.ok(isAgeRecipient(R1));
  assert.ok(isAgeRecipient(R2));
  assert.ok(!isAgeRecipient(R1.slice(0, -1) + "q"));
  assert.ok(!isAgeRecipient("age1" + "q".repeat(58)));
  assert.ok(!isAgeRecipient(R1.toUpperCase()));
  assert.deepEqual(parseRecipients(R1.slice(0, 10) + "x" + R1.slice(11)).problems, [
    `entry 1 "${R1.slice(0, 10)}x${
      R1.slice(11)
    }" is not an age public key: its checksum is wrong (a typo?)`,
  ]);
});

Deno.test("parseRecipients() reports text that holds no recipient at all", () => {
  assert.deepEqual(parseRecipients("# only a comment\n , \n").problems, [
    "it holds no age recipient",
  ]);
});

Deno.test("AGE_RECIPIENT accepts what age-keygen prints", async () => {
  const key = await keygen();
  try {
    assert.match(key.publicKey, AGE_RECIPIENT);
    assert.ok(isAgeRecipient(key.publicKey));
    assert.doesNotMatch(key.publicKey.toUpperCase(), AGE_RECIPIENT);
  } finally {
    await Deno.remove(key.dir, { recursive: true });
  }
});

Deno.test("ageEncryptSpec() puts recipients in argv; ageDecryptSpec() only the identity file's path", () => {
  assert.deepEqual(ageEncryptSpec([R1, R2], env).args, ["-e", "-r", R1, "-r", R2]);
  assert.deepEqual(ageDecryptSpec("/run/age/identity.txt", env).args, [
    "-d",
    "-i",
    "/run/age/identity.txt",
  ]);
  for (const spec of [ageEncryptSpec([R1], env), ageDecryptSpec("/k", env)]) {
    assert.equal(spec.command, "age");
    assert.equal(spec.stdin, true);
    assert.equal(spec.stdout, true);
  }
});

Deno.test("ageErrorLine() picks age's reason over its request to report the error", () => {
  assert.equal(
    ageErrorLine([
      "age: error: no identity matched any of the recipients",
      "age: report unexpected or unhelpful errors at https://filippo.io/age/report",
    ]),
    "no identity matched any of the recipients",
  );
  assert.equal(ageErrorLine(["something else"]), "something else");
  assert.equal(ageErrorLine([]), "");
  assert.ok(isIdentityMismatch("no identity matched any of the recipients"));
  assert.ok(!isIdentityMismatch("failed to read header"));
});

Deno.test("identityMismatch() names the recipients the manifest records", () => {
  const err = identityMismatch("p/2026/11/24/full.sql.zst.age", [R1, R2]);
  assert.ok(err instanceof BackupUnreadableError);
  assert.equal(
    err.message,
    `cannot decrypt p/2026/11/24/full.sql.zst.age: the identity in AGE_IDENTITY_FILE does not match the recipients the manifest records (${R1}, ${R2})`,
  );
  assert.equal(
    identityMismatch("k.age", undefined).message,
    "cannot decrypt k.age: the identity in AGE_IDENTITY_FILE does not match any recipient of the backup",
  );
  assert.match(
    err.hint,
    /^put the private key of one of those recipients in Secret postgres-backup-age-identity/,
  );
});

Deno.test("decryptionFor() needs nothing for a plain backup", async () => {
  assert.equal(
    await decryptionFor("p/2026/11/24/full.sql.zst", undefined, undefined, env),
    undefined,
  );
});

Deno.test("decryptionFor() of an encrypted backup without AGE_IDENTITY_FILE names the setting", async () => {
  await assert.rejects(
    () => decryptionFor("p/2026/11/24/full.sql.zst.age", undefined, [R1], env),
    (err: unknown) => {
      assert.ok(err instanceof BackupUnreadableError);
      assert.equal(
        err.message,
        "cannot decrypt p/2026/11/24/full.sql.zst.age: it is encrypted with age and AGE_IDENTITY_FILE is not set",
      );
      assert.match(err.hint, /set AGE_IDENTITY_FILE to its path/);
      return true;
    },
  );
  await assert.rejects(
    () => decryptionFor("k.age", "/nonexistent/identity.txt", [R1], env),
    (err: unknown) =>
      err instanceof BackupUnreadableError &&
      err.message ===
        "cannot decrypt k.age: AGE_IDENTITY_FILE names /nonexistent/identity.txt, which does not exist",
  );
});

Deno.test("decryptionFor() checks the identity against the manifest's recipients before any download", async () => {
  const key = await keygen();
  try {
    const ok = await decryptionFor("k.age", key.file, [R1, key.publicKey], env);
    assert.deepEqual(ok, { identityFile: key.file, publicKeys: [key.publicKey] });
    // Without recorded recipients, age itself decides later.
    assert.ok(await decryptionFor("k.age", key.file, undefined, env));
    await assert.rejects(
      () => decryptionFor("k.age", key.file, [R1, R2], env),
      (err: unknown) => {
        assert.ok(err instanceof BackupUnreadableError);
        assert.ok(err.message.includes("does not match the recipients the manifest records"));
        assert.ok(!err.message.includes(key.secret) && !err.hint.includes(key.secret));
        return true;
      },
    );
  } finally {
    await Deno.remove(key.dir, { recursive: true });
  }
});

Deno.test("identityPublicKeys() lists every identity of a file, and refuses one that holds none", async () => {
  const a = await keygen();
  const b = await keygen();
  try {
    const both = `${a.dir}/both.txt`;
    await Deno.writeTextFile(
      both,
      (await Deno.readTextFile(a.file)) + (await Deno.readTextFile(b.file)),
    );
    assert.deepEqual(await identityPublicKeys(both, env), [a.publicKey, b.publicKey]);
    const broken = `${a.dir}/broken.txt`;
    await Deno.writeTextFile(broken, a.secret.slice(0, -3) + "QQQ\n");
    await assert.rejects(() => identityPublicKeys(broken, env), (err: unknown) => {
      assert.ok(err instanceof PreflightError);
      assert.match(
        err.message,
        new RegExp(`^cannot read the age identity in AGE_IDENTITY_FILE ${broken}: `),
      );
      assert.ok(!err.message.includes(a.secret.slice(20, -3)), err.message);
      return true;
    });
  } finally {
    await Deno.remove(a.dir, { recursive: true });
    await Deno.remove(b.dir, { recursive: true });
  }
});
