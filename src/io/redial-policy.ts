/**
 * When the TCP transport dials a peer it is not connected to. This is socket upkeep only: how
 * hard to try reaching a peer that fails (backoff, circuit breaking) is decided by the leader's
 * replicator for that peer, on ticks (src/machines/replicator.machine.ts), and reaches the
 * transport as sends — or their absence.
 *
 * Two triggers, both on the injected Clock (src/io/clock.ts):
 * - a steady redial every `intervalMs` (with jitter) while the peer is not connected, so members
 *   that have nothing to send each other (two followers, a member waiting for its founders) still
 *   find each other;
 * - a dial on demand when a message is sent to a peer that is not connected, at most once per
 *   `onDemandGapMs`: the replicator's trial heartbeat after its breaker's sleep window, or the
 *   first heartbeat after its backoff, reconnects at once instead of waiting for the steady redial.
 */
import type { Clock } from './clock.ts';
import { ConfigError } from '../errors.ts';

export interface RedialOptions {
  /** Wait between dials to a peer that is not connected, in ms. Default 500. */
  intervalMs?: number;
  /** Relative spread of that wait: drawn from interval × [1 − jitter, 1 + jitter]. Default 0.2. */
  jitter?: number;
  /** A send to a peer that is not connected dials it if the last dial started at least this long ago, in ms. Default 50. */
  onDemandGapMs?: number;
  /** Returns a number in [0, 1); `Math.random` by default, a seeded source in tests. */
  random?: () => number;
}

export const defaultRedialOptions = Object.freeze({ intervalMs: 500, jitter: 0.2, onDemandGapMs: 50 });

export class RedialPolicy {
  readonly intervalMs: number;
  readonly jitter: number;
  readonly onDemandGapMs: number;
  private readonly random: () => number;

  constructor(
    private readonly clock: Clock,
    options: RedialOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? defaultRedialOptions.intervalMs;
    this.jitter = options.jitter ?? defaultRedialOptions.jitter;
    this.onDemandGapMs = options.onDemandGapMs ?? defaultRedialOptions.onDemandGapMs;
    this.random = options.random ?? Math.random;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) throw new ConfigError('redial.intervalMs', `must be a positive number, got ${this.intervalMs}`);
    if (!Number.isFinite(this.jitter) || this.jitter < 0 || this.jitter >= 1) throw new ConfigError('redial.jitter', `must be in [0, 1), got ${this.jitter}`);
    if (!Number.isFinite(this.onDemandGapMs) || this.onDemandGapMs < 0) throw new ConfigError('redial.onDemandGapMs', `must be a non-negative number, got ${this.onDemandGapMs}`);
  }

  /** The wait before the steady redial, in ms. Jitter keeps peers that lost each other together from redialing in lockstep. */
  nextDelay(): number {
    return this.intervalMs * (1 + this.jitter * (2 * this.random() - 1));
  }

  /** Whether a send may dial now, given when the last dial started (undefined: never). */
  mayDialOnDemand(lastDialAt: number | undefined): boolean {
    return lastDialAt === undefined || this.clock.now() - lastDialAt >= this.onDemandGapMs;
  }

  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` after the next steady redial delay. */
  schedule(fn: () => void): () => void {
    return this.clock.setTimer(this.nextDelay(), fn);
  }
}
