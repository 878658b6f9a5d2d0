/**
 * One AbortSignal for SIGTERM and SIGINT, handed to every step. A Job deadline or a node
 * drain sends SIGTERM; the steps stop their children, clean up, and the run exits 128+n.
 *
 * @module
 */
import { StoppedError } from "./errors.ts";

/** An AbortSignal that fires on SIGTERM/SIGINT, with a way to stop listening. */
export interface SignalScope extends Disposable {
  /** Aborted with a StoppedError when a signal arrives. */
  readonly signal: AbortSignal;
}

/**
 * Listens for SIGTERM and SIGINT until disposed.
 *
 * @returns the scope; its signal's `reason` is a StoppedError naming the signal
 */
export function abortOnSignals(): SignalScope {
  const controller = new AbortController();
  const handlers: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGTERM", "SIGINT"] as const) {
    const handler = () => controller.abort(new StoppedError(name));
    Deno.addSignalListener(name, handler);
    handlers.push([name, handler]);
  }
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
    },
  };
}
