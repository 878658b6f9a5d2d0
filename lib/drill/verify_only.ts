/**
 * `--verify-only`: restore nothing. Read the backup (its sha256 checked as it streams), then
 * compare the server SCRATCH_* names with it: every database, table and row count the dump
 * holds, and every value. The check after a recovery made by hand. Its report is logged, never
 * stored beside the backup: only a real drill marks a backup as drilled.
 *
 * @module
 */
import type { DrillConfig } from "../config.ts";
import { DumpStatsStream } from "../dump/stream.ts";
import type { ProgramContext } from "../program.ts";
import { checkCounts, checkRestoredValues } from "../restore/checks.ts";
import { guardTarget } from "../restore/guard.ts";
import { locateBackup } from "../restore/locate.ts";
import { openBackup } from "../restore/open.ts";
import { readBackup } from "../restore/read.ts";
import { RestoreRun } from "../restore/run.ts";
import { waitForTarget } from "../restore/server.ts";
import { type DrillReport, drillReport } from "./report.ts";

/**
 * Runs the check.
 *
 * @returns the report (logged only)
 * @throws {ToolboxError} for the first failed step; a difference is a SmokeError naming it
 */
export async function runVerifyOnly(
  config: DrillConfig,
  ctx: ProgramContext,
): Promise<DrillReport> {
  const run = new RestoreRun("verify-only", config, ctx);
  const { server } = run;
  ctx.log.info("preflight", "preflight OK", await guardTarget(run));
  const opened = await run.phase("find", async () => openBackup(run, await locateBackup(run)));
  const version = await run.phase("wait", async () => {
    const version = await waitForTarget(run, opened.manifest);
    ctx.log.info("wait", "scratch server ready", {
      host: server.host,
      port: server.port,
      server_version: version.text,
    });
    return version;
  });
  const parsed = new DumpStatsStream({ digests: true });
  const read = await run.phase(
    "read",
    () =>
      readBackup(run, opened, {
        intro: "reading backup",
        transforms: [parsed],
        sink: undefined,
        checkIndex: true,
      }),
  );
  const manifest = await opened.files.manifestFor(read.sha256);
  // The expected counts come from the very bytes just verified, manifest or not.
  const counted = await run.phase("compare", () => checkCounts(run, parsed.counts()));
  const values = await run.phase(
    "verify",
    () => checkRestoredValues(run, parsed.values(), manifest),
  );
  const names = Object.keys(parsed.counts());
  const report = drillReport(run, { opened, read, version, names, manifest, counted, values });
  ctx.log.info("done", "verify OK", {
    key: report.backup.key,
    rows: report.restored.rows,
    duration_ms: Object.values(report.phases_ms).reduce((a, b) => a + b, 0),
  });
  return report;
}
