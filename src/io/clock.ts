/**
 * The clock and scheduler that every piece of the host runs on: the one thing production and the
 * simulation swap besides disk and network (docs/architecture.md).
 *
 * Why it is injected rather than read from globals: the host loop, the storage and transport
 * actors, socket redial and the replicators' backoff must behave identically in production (real
 * timers) and in the simulation (virtual time driven by a seeded event queue), so a failing seed
 * replays the exact interleaving a user would hit.
 */

/** Cancels a timer or a deferred call; calling it twice, or after it fired, does nothing. */
export type Cancel = () => void;

export interface Clock {
  /** Milliseconds on a monotonic scale (virtual in the simulation). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): Cancel;
  /**
   * Calls `fn` once at the end of the current turn: after every callback already queued for this
   * turn (I/O completions, other deferred calls) has run. This is where per-turn batching happens:
   * everything that arrives in one turn is handled by one deferred call.
   */
  defer(fn: () => void): Cancel;
}

/** The real clock: `performance.now()`, `setTimeout` and `setImmediate`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
  defer(fn) {
    const t = setImmediate(fn);
    return () => clearImmediate(t);
  },
};
