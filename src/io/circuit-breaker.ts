/**
 * `CircuitBreaker` (the Go package's type of the same name), for embedders that guard their own
 * calls in milliseconds. A plain class on the pure rules of src/raft/circuit-breaker.ts; the
 * leader's replicators run the same rules as a statechart on ticks, one breaker per peer.
 */
import { BehaviorSubject, type Observable, distinctUntilChanged } from 'rxjs';
import {
  type BreakerSettings,
  CircuitState,
  checkBreakerSettings,
  failureOpens,
  failuresWhenOpened,
  sleepWindowElapsed,
  trialAvailable,
} from '../raft/circuit-breaker.ts';

export { CircuitState };

/** Milliseconds since some fixed origin. `Date.now` by default; a virtual clock in tests. */
export type Clock = () => number;

export interface CircuitBreakerSettings {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before it lets one trial through, in ms. Default 5000 (Hystrix). */
  sleepWindowMs: number;
}

export const defaultCircuitBreakerSettings: Readonly<CircuitBreakerSettings> = Object.freeze({
  failureThreshold: 5,
  sleepWindowMs: 5000,
});

export interface CircuitBreakerOptions extends Partial<CircuitBreakerSettings> {
  clock?: Clock;
}

export class CircuitBreaker {
  private readonly settings: BreakerSettings;
  private readonly clock: Clock;
  private current: CircuitState = CircuitState.Closed;
  private failures = 0;
  /** When the circuit last opened; meaningful in `open`. */
  private openedAt = 0;
  /** When the half-open trial was let through, or null when none is out. */
  private trialStartedAt: number | null = null;
  private readonly states = new BehaviorSubject<CircuitState>(CircuitState.Closed);
  /** Emits the current state on subscription and every change after it. */
  readonly state$: Observable<CircuitState> = this.states.pipe(distinctUntilChanged());

  constructor(options: CircuitBreakerOptions = {}) {
    const { clock = Date.now, failureThreshold, sleepWindowMs } = options;
    checkBreakerSettings({ failureThreshold, sleepWindow: sleepWindowMs }, { failureThreshold: 'failureThreshold', sleepWindow: 'sleepWindowMs' });
    this.clock = clock;
    this.settings = {
      failureThreshold: failureThreshold ?? defaultCircuitBreakerSettings.failureThreshold,
      sleepWindow: sleepWindowMs ?? defaultCircuitBreakerSettings.sleepWindowMs,
    };
  }

  /**
   * May the operation proceed? True when closed, false when open, and true exactly once per trial
   * when the sleep window has passed (the half-open probe). Go's `Call`.
   */
  call(now: number = this.clock()): boolean {
    switch (this.state(now)) {
      case CircuitState.Closed:
        return true;
      case CircuitState.Open:
        return false;
      case CircuitState.HalfOpen:
        if (!trialAvailable(this.trialStartedAt, now, this.settings)) return false;
        this.trialStartedAt = now;
        return true;
    }
  }

  recordSuccess(): void {
    this.failures = 0;
    this.trialStartedAt = null;
    this.moveTo(CircuitState.Closed);
  }

  recordFailure(now: number = this.clock()): void {
    if (this.current === CircuitState.Open) return;
    if (this.current === CircuitState.HalfOpen || failureOpens(this.failures, this.settings)) this.open(now);
    else this.failures++;
  }

  /** The current state; lets the passage of time move `open` to `halfOpen` first. */
  state(now: number = this.clock()): CircuitState {
    if (this.current === CircuitState.Open && sleepWindowElapsed(this.openedAt, now, this.settings)) this.moveTo(CircuitState.HalfOpen);
    return this.current;
  }

  /** True while calls are being refused (open and still inside the sleep window). */
  isOpen(now: number = this.clock()): boolean {
    return this.state(now) === CircuitState.Open;
  }

  /** Milliseconds until a refused call could be let through as a trial; 0 when it could be now. */
  retryAfter(now: number = this.clock()): number {
    const w = this.settings.sleepWindow;
    if (this.current === CircuitState.Open) return Math.max(0, this.openedAt + w - now);
    if (this.current === CircuitState.HalfOpen && this.trialStartedAt !== null) return Math.max(0, this.trialStartedAt + w - now);
    return 0;
  }

  /** Consecutive failures counted so far (for stats and tests). */
  consecutiveFailures(): number {
    return this.failures;
  }

  /** Back to closed with a clean count. */
  reset(): void {
    this.recordSuccess();
  }

  /** Completes `state$`. */
  dispose(): void {
    this.states.complete();
  }

  private open(now: number): void {
    this.openedAt = now;
    this.trialStartedAt = null;
    this.failures = failuresWhenOpened(this.failures, this.settings);
    this.moveTo(CircuitState.Open);
  }

  private moveTo(state: CircuitState): void {
    if (state === this.current) return;
    this.current = state;
    if (!this.states.closed) this.states.next(state);
  }
}

/** A breaker with Hystrix-like defaults (Go's `NewCircuitBreaker`). */
export function newCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  return new CircuitBreaker(options);
}
