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

/**
 * A signal that fires `graceMs` after `signal` does: work that should finish despite a stop
 * (committing a backup whose data is already uploaded) still ends inside the Job's grace period.
 *
 * @param signal the run's stop signal
 * @param graceMs how long the work may go on after it
 * @returns a signal aborted with the same reason, `graceMs` later
 */
export function graceAfter(signal: AbortSignal, graceMs: number): AbortSignal {
  const controller = new AbortController();
  const onAbort = () => {
    const timer = setTimeout(() => controller.abort(signal.reason), graceMs);
    Deno.unrefTimer(timer);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return controller.signal;
}
