/**
 * The circuit breaker's rules (Hystrix; the "adaptive throttling" discussion of the Google SRE
 * book): `closed` → `open` after `failureThreshold` consecutive failures, `open` → `halfOpen` once
 * `sleepWindow` has passed, one trial call in `halfOpen`, whose success closes the circuit and whose
 * failure reopens it. A trial that never reports back is given up after one more sleep window, so
 * the breaker cannot wedge half-open; a success reported while open (the peer reached us on its
 * own) closes it, that being the best evidence of recovery there is.
 *
 * Pure: time is a number the caller passes in, in the caller's unit (ticks in the leader's
 * replicators, milliseconds for an embedder). The statechart the replicator spawns
 * (src/machines/circuit-breaker.machine.ts) and the public `CircuitBreaker` class
 * (src/io/circuit-breaker.ts) decide with these same functions.
 */

/** The breaker's states, as plain values that survive serialization (like raftpb's enums). */
export const CircuitState = {
  Closed: 'closed',
  Open: 'open',
  HalfOpen: 'halfOpen',
} as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

export interface BreakerSettings {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses calls before it lets one trial through, in the caller's unit of time. */
  readonly sleepWindow: number;
}

/** The failure about to be recorded opens the circuit. */
export function failureOpens(consecutiveFailures: number, s: BreakerSettings): boolean {
  return consecutiveFailures + 1 >= s.failureThreshold;
}

/** An open circuit may let a trial through. */
export function sleepWindowElapsed(openedAt: number, now: number, s: BreakerSettings): boolean {
  return now - openedAt >= s.sleepWindow;
}

/** Half-open: no trial is out, or the one out was given up. */
export function trialAvailable(trialStartedAt: number | null, now: number, s: BreakerSettings): boolean {
  return trialStartedAt === null || now - trialStartedAt >= s.sleepWindow;
}

/** The failure count kept when the circuit opens (at least the threshold, for stats). */
export function failuresWhenOpened(consecutiveFailures: number, s: BreakerSettings): number {
  return Math.max(consecutiveFailures, s.failureThreshold);
}

/** Throws a RangeError naming the field (`names` gives the caller's field names). */
export function checkBreakerSettings(s: Partial<BreakerSettings>, names = { failureThreshold: 'failureThreshold', sleepWindow: 'sleepWindow' }): void {
  if (s.failureThreshold !== undefined && (!Number.isSafeInteger(s.failureThreshold) || s.failureThreshold < 1)) {
    throw new RangeError(`CircuitBreaker ${names.failureThreshold} must be a positive integer, got ${s.failureThreshold}`);
  }
  if (s.sleepWindow !== undefined && (!Number.isFinite(s.sleepWindow) || s.sleepWindow < 0)) {
    throw new RangeError(`CircuitBreaker ${names.sleepWindow} must be a non-negative number, got ${s.sleepWindow}`);
  }
}
