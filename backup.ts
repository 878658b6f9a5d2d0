/**
 * `backup`: the daily job. pg_dumpall → zstd → sha256 → S3, committed by server-side copy to
 * `<prefix>/YYYY/MM/DD/full.sql.zst` with `.sha256` and `manifest.json`.
 *
 * Wiring only: settings → log → backup steps → exit code.
 *
 * @module
 */
import { runBackup } from "./lib/backup_steps.ts";
import { BACKUP_SETTINGS, describeSettings, helpText, parseSettings, secretValues } from "./lib/config.ts";
import { createLog } from "./lib/log.ts";
import { reportFailure } from "./lib/main.ts";
import { baseEnv } from "./lib/pipeline.ts";
import { S3Store } from "./lib/s3_store.ts";
import { abortOnSignals } from "./lib/signals.ts";
import { VERSION } from "./lib/version.ts";

const SUMMARY = `Streams pg_dumpall through zstd to S3 as <prefix>/YYYY/MM/DD/full.sql.zst, with
full.sql.zst.sha256 (for sha256sum -c) and manifest.json (row counts, written last).
Nothing appears under a final key unless every step succeeded.
With --prune-only it only deletes backups older than RETENTION_DAYS (see --dry-run).`;

/**
 * Runs the backup program.
 *
 * @param args command-line arguments
 * @param env the environment
 * @returns the exit code
 */
export async function main(args: string[], env: Record<string, string>): Promise<number> {
  const startedAt = performance.now();
  const log = createLog("backup");
  try {
    const parsed = parseSettings(BACKUP_SETTINGS, args, env);
    if (parsed.kind === "help") {
      console.log(helpText("backup", SUMMARY, BACKUP_SETTINGS));
      return 0;
    }
    if (parsed.kind === "version") {
      console.log(`backup (backup-toolbox) ${VERSION}`);
      return 0;
    }
    const config = parsed.config;
    log.addSecrets(secretValues(BACKUP_SETTINGS, config));
    log.info("start", "backup started", { version: VERSION, settings: describeSettings(BACKUP_SETTINGS, config) });
    using signals = abortOnSignals();
    const store = new S3Store({
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      bucket: config.s3Bucket,
      accessKey: config.accessKeyId,
      secretKey: config.secretAccessKey,
    });
    await runBackup(config, { store, log, signal: signals.signal, childEnv: baseEnv(env) });
    return 0;
  } catch (err) {
    return reportFailure(log, err, startedAt);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
