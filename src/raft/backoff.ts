/**
 * Exponential backoff with jitter (the Go package's `Backoff`). Pure: the unit of its intervals is
 * the caller's (milliseconds for an embedder, ticks in the leader's replicators) and its jitter
 * comes from an injected random source, so a replicator running it on ticks with a seeded source
 * replays exactly in the simulation.
 *
 * The shape is gRPC's connection backoff (multiplier 1.6, jitter ±20%), but it starts at 100 ms
 * instead of gRPC's 1 s: a Raft cluster has a handful of peers, not thousands of clients that could
 * stampede a server, and a follower that comes back should be reachable again well inside one
 * election timeout (10 ticks × 100 ms by default). The cap of 10 s keeps a long outage from costing
 * more than a few seconds of extra unavailability once the peer returns; the peer dials us too, so
 * the reconnect is usually quicker than our own backoff.
 */

/** Returns a number in [0, 1). `Math.random` in production, a seeded source in tests. */
export type RandomSource = () => number;

export interface BackoffOptions {
  /** First wait, in ms. Default 100. */
  initialInterval?: number;
  /** Ceiling of every wait, in ms. Default 10 000. */
  maxInterval?: number;
  /** Growth factor per attempt. Default 1.6 (gRPC). */
  multiplier?: number;
  /** Relative spread: each wait is drawn from interval × [1 − jitter, 1 + jitter]. Default 0.2. */
  jitter?: number;
  /** Injectable randomness so tests can pin the jitter. */
  random?: RandomSource;
}

export const defaultBackoffOptions = Object.freeze({
  initialInterval: 100,
  maxInterval: 10_000,
  multiplier: 1.6,
  jitter: 0.2,
});

export class Backoff {
  readonly initialInterval: number;
  readonly maxInterval: number;
  readonly multiplier: number;
  readonly jitter: number;
  private readonly random: RandomSource;
  /** The un-jittered interval the next call to `next()` is centred on. */
  private current: number;

  constructor(options: BackoffOptions = {}) {
    this.initialInterval = options.initialInterval ?? defaultBackoffOptions.initialInterval;
    this.maxInterval = options.maxInterval ?? defaultBackoffOptions.maxInterval;
    this.multiplier = options.multiplier ?? defaultBackoffOptions.multiplier;
    this.jitter = options.jitter ?? defaultBackoffOptions.jitter;
    this.random = options.random ?? Math.random;
    checkBackoffOptions(this);
    this.current = this.initialInterval;
  }

  /**
   * The wait before the next attempt, in ms, and advance the schedule. Jitter spreads peers that
   * lost each other at the same moment so they do not redial in lockstep; the result never
   * exceeds `maxInterval`.
   */
  next(): number {
    const centre = this.current;
    this.current = Math.min(this.current * this.multiplier, this.maxInterval);
    const spread = centre * this.jitter * (2 * this.random() - 1);
    return Math.min(Math.max(0, centre + spread), this.maxInterval);
  }

  /** Start over from `initialInterval`: called once a connection has been established. */
  reset(): void {
    this.current = this.initialInterval;
  }
}

/** A Backoff with the defaults above (the Go package's `NewBackoff`). */
export function newBackoff(options: BackoffOptions = {}): Backoff {
  return new Backoff(options);
}

function checkBackoffOptions(b: Backoff): void {
  const finitePositive = (name: string, v: number) => {
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`Backoff ${name} must be a positive number, got ${v}`);
  };
  finitePositive('initialInterval', b.initialInterval);
  finitePositive('maxInterval', b.maxInterval);
  if (b.maxInterval < b.initialInterval) {
    throw new RangeError(`Backoff maxInterval (${b.maxInterval}) must be at least initialInterval (${b.initialInterval})`);
  }
  if (!Number.isFinite(b.multiplier) || b.multiplier < 1) {
    throw new RangeError(`Backoff multiplier must be at least 1, got ${b.multiplier}`);
  }
  if (!Number.isFinite(b.jitter) || b.jitter < 0 || b.jitter >= 1) {
    throw new RangeError(`Backoff jitter must be in [0, 1), got ${b.jitter}`);
  }
}
