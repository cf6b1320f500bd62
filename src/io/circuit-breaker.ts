/**
 * `CircuitBreaker` (the Go package's type of the same name): hosts the pure circuit breaker
 * statechart and feeds it the time from an injectable clock, so the machine itself stays free of
 * timers and the transport can run it under a virtual clock.
 */
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { Observable, distinctUntilChanged } from 'rxjs';
import { circuitBreakerMachine } from '../machines/circuit-breaker.machine.ts';
import type { CircuitBreakerSettings } from '../machines/circuit-breaker.machine.ts';

/** The breaker's states, as plain values that survive serialization (like raftpb's enums). */
export const CircuitState = {
  Closed: 'closed',
  Open: 'open',
  HalfOpen: 'halfOpen',
} as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

/** Milliseconds since some fixed origin. `Date.now` by default; a virtual clock in simulation. */
export type Clock = () => number;

export interface CircuitBreakerOptions extends Partial<CircuitBreakerSettings> {
  clock?: Clock;
}

export class CircuitBreaker {
  private readonly actor: Actor<typeof circuitBreakerMachine>;
  private readonly clock: Clock;
  /** Emits the current state on subscription and every change after it. */
  readonly state$: Observable<CircuitState>;

  constructor(options: CircuitBreakerOptions = {}) {
    const { clock = Date.now, ...settings } = options;
    checkSettings(settings);
    this.clock = clock;
    this.actor = createActor(circuitBreakerMachine, { input: settings }).start();
    this.state$ = new Observable<CircuitState>((subscriber) => {
      subscriber.next(this.state());
      const sub = this.actor.subscribe((snap) => subscriber.next(snap.value as CircuitState));
      return () => sub.unsubscribe();
    }).pipe(distinctUntilChanged());
  }

  /**
   * May the operation proceed? True when closed, false when open, and true exactly once per trial
   * when the sleep window has passed (the half-open probe). Go's `Call`.
   */
  call(now: number = this.clock()): boolean {
    this.actor.send({ type: 'CALL', now });
    return this.actor.getSnapshot().context.permitted;
  }

  recordSuccess(): void {
    this.actor.send({ type: 'SUCCESS' });
  }

  recordFailure(now: number = this.clock()): void {
    this.actor.send({ type: 'FAILURE', now });
  }

  /** The current state; lets the passage of time move `open` to `halfOpen` first. */
  state(now: number = this.clock()): CircuitState {
    this.actor.send({ type: 'TICK', now });
    return this.actor.getSnapshot().value as CircuitState;
  }

  /** True while calls are being refused (open and still inside the sleep window). */
  isOpen(now: number = this.clock()): boolean {
    return this.state(now) === CircuitState.Open;
  }

  /** Milliseconds until a refused call could be let through as a trial; 0 when it could be now. */
  retryAfter(now: number = this.clock()): number {
    const snap = this.actor.getSnapshot();
    const { openedAt, sleepWindowMs, trialStartedAt } = snap.context;
    if (snap.value === CircuitState.Open) return Math.max(0, openedAt + sleepWindowMs - now);
    if (snap.value === CircuitState.HalfOpen && trialStartedAt !== null) {
      return Math.max(0, trialStartedAt + sleepWindowMs - now);
    }
    return 0;
  }

  /** Consecutive failures counted so far (for stats and tests). */
  consecutiveFailures(): number {
    return this.actor.getSnapshot().context.consecutiveFailures;
  }

  /** Back to closed with a clean count. */
  reset(): void {
    this.actor.send({ type: 'RESET' });
  }

  /** Stop the hosted actor; completes `state$`. */
  dispose(): void {
    this.actor.stop();
  }
}

/** A breaker with Hystrix-like defaults (Go's `NewCircuitBreaker`). */
export function newCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  return new CircuitBreaker(options);
}

function checkSettings(s: Partial<CircuitBreakerSettings>): void {
  if (s.failureThreshold !== undefined && (!Number.isSafeInteger(s.failureThreshold) || s.failureThreshold < 1)) {
    throw new RangeError(`CircuitBreaker failureThreshold must be a positive integer, got ${s.failureThreshold}`);
  }
  if (s.sleepWindowMs !== undefined && (!Number.isFinite(s.sleepWindowMs) || s.sleepWindowMs < 0)) {
    throw new RangeError(`CircuitBreaker sleepWindowMs must be a non-negative number, got ${s.sleepWindowMs}`);
  }
}
