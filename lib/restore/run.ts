/**
 * One restore-side run, whatever its mode: the drill (into the scratch sidecar), `--verify-only`
 * (a server compared with a backup) or `--recover` (chosen databases into a real server). It
 * holds what every step of the three needs: the settings, the context, the server SCRATCH_*
 * names, the mode's words, and the timings of its phases for the report.
 *
 * @module
 */
import type { DrillConfig } from "../config.ts";
import type { Log } from "../log.ts";
import type { PgConnection } from "../pg/tools.ts";
import type { ProgramContext } from "../program.ts";
import { type ModeWording, type RestoreMode, WORDING } from "./wording.ts";

export type { RestoreMode };

/** A restore-side run and its phase timings. */
export class RestoreRun {
  /** Milliseconds per phase, in the order they ran (the report's `phases_ms`). */
  readonly phases: Record<string, number> = {};
  /** The server SCRATCH_* names: the drill's scratch, the checked server, or the target. */
  readonly server: PgConnection;
  /** How this mode words its failures. */
  readonly wording: ModeWording;
  /** `performance.now()` at the start: a recovery's RTO runs from here. */
  readonly startedAt = performance.now();

  constructor(
    readonly mode: RestoreMode,
    readonly config: DrillConfig,
    readonly ctx: ProgramContext,
  ) {
    this.wording = WORDING[mode];
    this.server = {
      host: config.scratchHost,
      port: config.scratchPort,
      user: config.scratchUser,
      password: config.scratchPassword,
    };
  }

  /** The program's logger. */
  get log(): Log {
    return this.ctx.log;
  }

  /** Runs a phase and adds its duration to `phases[name]` (a phase may run in parts). */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.phases[name] = (this.phases[name] ?? 0) + Math.round(performance.now() - t);
    }
  }
}
