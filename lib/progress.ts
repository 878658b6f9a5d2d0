/**
 * The one progress reporter: while data streams (the backup's dump, a restore pass), a
 * `progress` line every LOG_PROGRESS_SECONDS with what the stream has done so far.
 *
 * @module
 */
import type { Log } from "./log.ts";

/**
 * Logs `progress` under `step` every `seconds` until disposed.
 *
 * @param log the program's logger
 * @param step the step the lines belong to (`stream`, `restore`)
 * @param seconds LOG_PROGRESS_SECONDS
 * @param fields what to report; called at each line with the seconds since the start
 * @returns a scope: dispose it (`using`) when the stream has ended
 * @example
 * ```ts
 * using _progress = reportProgress(log, "restore", 30, () => ({ downloaded_bytes: sum.bytes }));
 * await pass;
 * ```
 */
export function reportProgress(
  log: Log,
  step: string,
  seconds: number,
  fields: (elapsedSeconds: number) => Record<string, unknown>,
): Disposable {
  const t0 = performance.now();
  const timer = setInterval(() => {
    log.info(step, "progress", fields((performance.now() - t0) / 1000));
  }, seconds * 1000);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
