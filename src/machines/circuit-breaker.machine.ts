/**
 * The circuit breaker as a statechart: `closed` → `open` → `halfOpen` → `closed`. Each leader's
 * replicator spawns one for its peer (so an inspector sees every breaker) and feeds it the peer's
 * reachability; the decisions are the pure rules of src/raft/circuit-breaker.ts.
 *
 * Pure: no timers and no clock. Every event that depends on time carries `now`, in the host's unit
 * (the replicator counts ticks), so a test can walk every transition without waiting.
 *
 * - `closed`: calls pass. `failureThreshold` consecutive failures open the circuit; a success
 *   clears the count.
 * - `open`: calls are refused until `sleepWindow` has passed since it opened; then the next `CALL`
 *   (or a `TICK`) moves to `halfOpen`. A success reported while open closes it.
 * - `halfOpen`: exactly one trial call passes. Its success closes the circuit, its failure reopens
 *   it for another sleep window. A trial that never reports back is given up after one more sleep
 *   window, and another trial is allowed.
 *
 * The answer to the last `CALL` is `context.permitted`, read from the snapshot right after sending.
 */
import { type AnyActorRef, assign, enqueueActions, setup } from 'xstate';
import {
  type BreakerSettings,
  CircuitState,
  failureOpens,
  failuresWhenOpened,
  sleepWindowElapsed,
  trialAvailable,
} from '../raft/circuit-breaker.ts';

export type { BreakerSettings };

export interface CircuitBreakerInput extends Partial<BreakerSettings> {
  /** Told `CIRCUIT_CHANGED` on every change of state (the replicator that spawned it). */
  readonly owner?: AnyActorRef;
}

export interface CircuitBreakerContext extends BreakerSettings {
  readonly owner: AnyActorRef | undefined;
  consecutiveFailures: number;
  /** When the circuit last opened; meaningful in `open`. */
  openedAt: number;
  /** When the half-open trial was let through, or null when none is in flight. */
  trialStartedAt: number | null;
  /** Whether the last `CALL` was allowed through. */
  permitted: boolean;
}

export type CircuitBreakerEvent =
  | { type: 'CALL'; now: number }
  | { type: 'SUCCESS' }
  | { type: 'FAILURE'; now: number }
  | { type: 'TICK'; now: number }
  | { type: 'RESET' };

type TimedEvent = Extract<CircuitBreakerEvent, { now: number }>;
const nowOf = (event: CircuitBreakerEvent): number => (event as TimedEvent).now;

/** Hystrix's failure threshold; the sleep window is the host's (the replicator uses an election timeout). */
export const defaultBreakerSettings: Readonly<BreakerSettings> = Object.freeze({ failureThreshold: 5, sleepWindow: 10 });

const opened = { type: 'report', params: { state: CircuitState.Open } } as const;
const halfOpened = { type: 'report', params: { state: CircuitState.HalfOpen } } as const;
const closed = { type: 'report', params: { state: CircuitState.Closed } } as const;

export const circuitBreakerMachine = setup({
  types: {
    context: {} as CircuitBreakerContext,
    events: {} as CircuitBreakerEvent,
    input: {} as CircuitBreakerInput | undefined,
  },
  guards: {
    failureOpens: ({ context }) => failureOpens(context.consecutiveFailures, context),
    sleepWindowElapsed: ({ context, event }) => sleepWindowElapsed(context.openedAt, nowOf(event), context),
    trialAvailable: ({ context, event }) => trialAvailable(context.trialStartedAt, nowOf(event), context),
  },
  actions: {
    permit: assign({ permitted: true }),
    refuse: assign({ permitted: false }),
    countFailure: assign({ consecutiveFailures: ({ context }) => context.consecutiveFailures + 1 }),
    clearFailures: assign({ consecutiveFailures: 0, trialStartedAt: null }),
    markOpened: assign({
      openedAt: ({ event }) => nowOf(event),
      trialStartedAt: null,
      consecutiveFailures: ({ context }) => failuresWhenOpened(context.consecutiveFailures, context),
    }),
    startTrial: assign({ trialStartedAt: ({ event }) => nowOf(event), permitted: true }),
    /** Tells the owner the state it just entered. */
    report: enqueueActions(({ context, enqueue }, params: { state: CircuitState }) => {
      if (context.owner) enqueue.sendTo(context.owner, { type: 'CIRCUIT_CHANGED', state: params.state });
    }),
  },
}).createMachine({
  id: 'circuitBreaker',
  initial: 'closed',
  context: ({ input }) => ({
    failureThreshold: input?.failureThreshold ?? defaultBreakerSettings.failureThreshold,
    sleepWindow: input?.sleepWindow ?? defaultBreakerSettings.sleepWindow,
    owner: input?.owner,
    consecutiveFailures: 0,
    openedAt: 0,
    trialStartedAt: null,
    permitted: true,
  }),
  states: {
    closed: {
      on: {
        CALL: { actions: 'permit' },
        SUCCESS: { actions: 'clearFailures' },
        FAILURE: [{ guard: 'failureOpens', target: 'open', actions: ['markOpened', opened] }, { actions: 'countFailure' }],
        RESET: { actions: ['clearFailures', 'permit'] },
      },
    },
    open: {
      on: {
        CALL: [{ guard: 'sleepWindowElapsed', target: 'halfOpen', actions: ['startTrial', halfOpened] }, { actions: 'refuse' }],
        TICK: { guard: 'sleepWindowElapsed', target: 'halfOpen', actions: halfOpened },
        SUCCESS: { target: 'closed', actions: ['clearFailures', closed] },
        RESET: { target: 'closed', actions: ['clearFailures', 'permit', closed] },
      },
    },
    halfOpen: {
      on: {
        CALL: [{ guard: 'trialAvailable', actions: 'startTrial' }, { actions: 'refuse' }],
        SUCCESS: { target: 'closed', actions: ['clearFailures', closed] },
        FAILURE: { target: 'open', actions: ['markOpened', opened] },
        RESET: { target: 'closed', actions: ['clearFailures', 'permit', closed] },
      },
    },
  },
});
