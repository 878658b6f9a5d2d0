/**
 * Encryption at rest with age (https://age-encryption.org, Debian package `age`). The backup
 * pipes zstd's output through `age -e -r <recipient>…` and stores `full.sql.zst.age`; a pass
 * over an encrypted backup pipes the object through `age -d -i <identity file>` before
 * `zstd -d`.
 *
 * Recipients are public keys (`age1…`): they travel in argv and appear in logs and in the
 * manifest. An identity (a private key, `AGE-SECRET-KEY-1…`) never does: only the path of the
 * file that holds it reaches argv, and this program never reads the file itself (`age` and
 * `age-keygen` do).
 *
 * @module
 */
import { isEncryptedKey } from "./bucket/keys.ts";
import { BackupUnreadableError, PreflightError } from "./errors.ts";
import { type ChildSpec, commandOutput } from "./pipeline.ts";

/**
 * An age X25519 recipient, as `age-keygen` prints it: `age1` and 58 lowercase bech32
 * characters (see {@linkcode isAgeRecipient} for the checksum). SSH and plugin recipients are
 * not accepted: the image ships no plugin, and the drill's identity check (`age-keygen -y`)
 * knows only X25519 identities.
 */
export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

const BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32_GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/**
 * Whether text is an age X25519 recipient whose bech32 checksum holds (BIP 173), so a typo in
 * a key is refused at start rather than by age mid-backup.
 *
 * @example
 * ```ts
 * isAgeRecipient("age1vr5m5d7kewgfa0g7zgldxa40dpjqnsqzdsvm9vpt8natdk8wpyzsf9fptr"); // true
 * isAgeRecipient("age1vr5m5d7kewgfa0g7zgldxa40dpjqnsqzdsvm9vpt8natdk8wpyzsf9fptq"); // false
 * ```
 */
export function isAgeRecipient(text: string): boolean {
  if (!AGE_RECIPIENT.test(text)) return false;
  const hrp = "age";
  const values = [
    ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
    0,
    ...[...hrp].map((c) => c.charCodeAt(0) & 31),
    ...[...text.slice(hrp.length + 1)].map((c) => BECH32_CHARSET.indexOf(c)),
  ];
  let check = 1;
  for (const value of values) {
    const top = check >>> 25;
    check = ((check & 0x1ffffff) << 5) ^ value;
    BECH32_GENERATORS.forEach((g, i) => {
      if ((top >>> i) & 1) check ^= g;
    });
  }
  return check === 1;
}

/** What an age private key looks like; used to keep one out of any message. */
const AGE_SECRET_KEY = /AGE-SECRET-KEY-1/i;

/** Recipients read from text, and what was wrong with the rest. */
export interface ParsedRecipients {
  /** Valid recipients, in order, without repeats. */
  readonly recipients: string[];
  /** One phrase per bad entry; never repeats a private key. */
  readonly problems: string[];
}

/**
 * Reads age recipients from a setting's text: separated by commas or newlines, blank entries
 * and `#` comment lines ignored (the format of `age -R`).
 *
 * @param text the setting's value, or a recipients file's content
 * @returns the recipients and a phrase per invalid entry
 * @example
 * ```ts
 * parseRecipients("# ops laptop\nage1…\n").recipients; // ["age1…"]
 * parseRecipients("AGE-SECRET-KEY-1…").problems; // ["entry 1 is a private key (AGE-SECRET-KEY-1…) …"]
 * ```
 */
export function parseRecipients(text: string): ParsedRecipients {
  const recipients: string[] = [];
  const problems: string[] = [];
  const entries = text.split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .flatMap((line) => line.split(","))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  entries.forEach((entry, i) => {
    if (isAgeRecipient(entry)) {
      if (!recipients.includes(entry)) recipients.push(entry);
    } else if (AGE_RECIPIENT.test(entry)) {
      problems.push(
        `entry ${i + 1} "${entry}" is not an age public key: its checksum is wrong (a typo?)`,
      );
    } else if (AGE_SECRET_KEY.test(entry)) {
      problems.push(
        `entry ${
          i + 1
        } is a private key (AGE-SECRET-KEY-1…): give its public key (age-keygen -y key.txt) and keep the private key away from the backup`,
      );
    } else if (/^age1/i.test(entry)) {
      problems.push(
        `entry ${i + 1} "${
          entry.slice(0, 80)
        }" is not an age public key (age1 and 58 characters, as age-keygen -y prints)`,
      );
    } else {
      problems.push(
        `entry ${
          i + 1
        } is not an age public key (age1…, as age-keygen -y prints; SSH and plugin recipients are not supported)`,
      );
    }
  });
  if (entries.length === 0) problems.push("it holds no age recipient");
  return { recipients, problems };
}

/**
 * `age` encrypting stdin to stdout for every recipient (public keys, so argv is fine).
 *
 * @param recipients valid `age1…` recipients, at least one
 * @param base the child's environment
 */
export function ageEncryptSpec(
  recipients: readonly string[],
  base: Record<string, string>,
): ChildSpec {
  return {
    command: "age",
    args: ["-e", ...recipients.flatMap((r) => ["-r", r])],
    env: base,
    stdin: true,
    stdout: true,
    errorLine: ageErrorLine,
  };
}

/**
 * `age` decrypting stdin to stdout with the identities in a file. Only the file's path is in
 * argv, never the key.
 *
 * @param identityFile path of a file of age identities (AGE_IDENTITY_FILE)
 * @param base the child's environment
 */
export function ageDecryptSpec(identityFile: string, base: Record<string, string>): ChildSpec {
  return {
    command: "age",
    args: ["-d", "-i", identityFile],
    env: base,
    stdin: true,
    stdout: true,
    errorLine: ageErrorLine,
  };
}

/**
 * The line of age's stderr that says why it failed. age ends every error with a line asking to
 * report it (`age: report unexpected or unhelpful errors at …`); the reason is the
 * `age: error: …` line before it.
 *
 * @param lines the child's stderr lines, oldest first
 * @returns the reason without the `age: error: ` prefix, else the last line
 * @example
 * ```ts
 * ageErrorLine(["age: error: no identity matched any of the recipients", "age: report …"]);
 * // "no identity matched any of the recipients"
 * ```
 */
export function ageErrorLine(lines: readonly string[]): string {
  const error = lines.findLast((l) => /^age(-keygen)?: error: /.test(l));
  if (error !== undefined) return error.replace(/^age(-keygen)?: error: /, "");
  return lines.findLast((l) => !/report unexpected or unhelpful errors/.test(l)) ?? "";
}

/** Whether an age error says that no identity of the file can open the backup. */
export function isIdentityMismatch(reason: string): boolean {
  return /no identity matched any of the recipients/.test(reason);
}

const IDENTITY_SECRET = "Secret postgres-backup-age-identity (key identity.txt)";

/**
 * The one line for an identity that cannot open a backup.
 *
 * @param key the data object
 * @param recipients what the backup's manifest records, when it does
 */
export function identityMismatch(
  key: string,
  recipients: readonly string[] | undefined,
): BackupUnreadableError {
  const whom = recipients && recipients.length > 0
    ? `the recipients the manifest records (${recipients.join(", ")})`
    : "any recipient of the backup";
  return new BackupUnreadableError(
    `cannot decrypt ${key}: the identity in AGE_IDENTITY_FILE does not match ${whom}`,
    `put the private key of one of those recipients in ${IDENTITY_SECRET}; one file may hold several identities, so keep old ones until the last backup encrypted to them expires (RUNBOOK.md "Encryption at rest"), or drill another backup with --key`,
  );
}

/** How a pass decrypts an encrypted backup. */
export interface Decryption {
  /** The file of identities given to `age -d -i`. */
  readonly identityFile: string;
  /** The public keys of its identities (`age-keygen -y`). */
  readonly publicKeys: readonly string[];
}

/**
 * Decides how a backup is read, from its data key: `….age` needs an identity, anything else
 * none. For an encrypted one it checks, before anything is downloaded, that an identity is set,
 * that its file holds valid identities, and (when the manifest records the recipients) that one
 * of them matches.
 *
 * @param key the data object
 * @param identityFile AGE_IDENTITY_FILE, if set
 * @param recipients the recipients the backup's manifest records, if it describes this key
 * @param env the environment `age-keygen` runs with
 * @returns undefined for a plain backup, else how to decrypt it
 * @throws {BackupUnreadableError} when no identity is set or it matches no recipient
 * @throws {PreflightError} when the identity file cannot be read as age identities
 */
export async function decryptionFor(
  key: string,
  identityFile: string | undefined,
  recipients: readonly string[] | undefined,
  env: Record<string, string>,
): Promise<Decryption | undefined> {
  if (!isEncryptedKey(key)) return undefined;
  if (identityFile === undefined) {
    throw new BackupUnreadableError(
      `cannot decrypt ${key}: it is encrypted with age and AGE_IDENTITY_FILE is not set`,
      `mount ${IDENTITY_SECRET} in the drill's pod and set AGE_IDENTITY_FILE to its path (RUNBOOK.md "Encryption at rest")`,
    );
  }
  if (!(await exists(identityFile))) {
    throw new BackupUnreadableError(
      `cannot decrypt ${key}: AGE_IDENTITY_FILE names ${identityFile}, which does not exist`,
      `create ${IDENTITY_SECRET} from the private key kept offline; the drill's pod mounts it at that path (RUNBOOK.md "Encryption at rest")`,
    );
  }
  const publicKeys = await identityPublicKeys(identityFile, env);
  if (recipients && recipients.length > 0 && !publicKeys.some((k) => recipients.includes(k))) {
    throw identityMismatch(key, recipients);
  }
  return { identityFile, publicKeys };
}

/**
 * The public keys of the identities in a file, by `age-keygen -y FILE` (the key stays in
 * age-keygen; only public keys come back).
 *
 * @param identityFile the file's path
 * @param env the environment `age-keygen` runs with
 * @returns one `age1…` per identity
 * @throws {PreflightError} when age-keygen is missing or cannot read the file as identities
 */
export async function identityPublicKeys(
  identityFile: string,
  env: Record<string, string>,
): Promise<string[]> {
  const output = await commandOutput(
    "age-keygen",
    ["-y", identityFile],
    env,
    "run the backup-toolbox image, which ships age and age-keygen (Debian package age)",
  );
  const keys = new TextDecoder().decode(output.stdout).split("\n").map((l) => l.trim())
    .filter((l) => AGE_RECIPIENT.test(l));
  if (!output.success || keys.length === 0) {
    const lines = new TextDecoder().decode(output.stderr).split("\n").map((l) => l.trim())
      .filter((l) => l !== "");
    const reason = ageErrorLine(lines) || "it holds no identity";
    throw new PreflightError(
      `cannot read the age identity in AGE_IDENTITY_FILE ${identityFile}: ${reason}`,
      `it must hold age identities (AGE-SECRET-KEY-1…, one per line, as age-keygen writes them) readable by the drill's user; check ${IDENTITY_SECRET} and its mount`,
    );
  }
  return keys;
}

/**
 * The public keys of an identity file that is there, for the drill's preflight: a file that
 * does not exist (an optional Secret not created, for plain backups only) is not an error yet.
 *
 * @returns the public keys, or undefined when the file does not exist
 * @throws {PreflightError} when the file is there but holds no readable identity
 */
export async function presentIdentityKeys(
  identityFile: string,
  env: Record<string, string>,
): Promise<string[] | undefined> {
  return await exists(identityFile) ? await identityPublicKeys(identityFile, env) : undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    return true; // unreadable: age-keygen says why
  }
}
