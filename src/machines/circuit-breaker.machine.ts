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
import { assign, setup } from 'xstate';
import {
  type BreakerSettings,
  failureOpens,
  failuresWhenOpened,
  sleepWindowElapsed,
  trialAvailable,
} from '../raft/circuit-breaker.ts';

export type { BreakerSettings };

export interface CircuitBreakerContext extends BreakerSettings {
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

export const circuitBreakerMachine = setup({
  types: {
    context: {} as CircuitBreakerContext,
    events: {} as CircuitBreakerEvent,
    input: {} as Partial<BreakerSettings> | undefined,
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
  },
}).createMachine({
  id: 'circuitBreaker',
  initial: 'closed',
  context: ({ input }) => ({
    ...defaultBreakerSettings,
    ...input,
    consecutiveFailures: 0,
    openedAt: 0,
    trialStartedAt: null,
    permitted: true,
  }),
  on: {
    RESET: { target: '.closed', actions: ['clearFailures', 'permit'] },
  },
  states: {
    closed: {
      on: {
        CALL: { actions: 'permit' },
        SUCCESS: { actions: 'clearFailures' },
        FAILURE: [{ guard: 'failureOpens', target: 'open', actions: 'markOpened' }, { actions: 'countFailure' }],
      },
    },
    open: {
      on: {
        CALL: [{ guard: 'sleepWindowElapsed', target: 'halfOpen', actions: 'startTrial' }, { actions: 'refuse' }],
        TICK: { guard: 'sleepWindowElapsed', target: 'halfOpen' },
        SUCCESS: { target: 'closed', actions: 'clearFailures' },
      },
    },
    halfOpen: {
      on: {
        CALL: [{ guard: 'trialAvailable', actions: 'startTrial' }, { actions: 'refuse' }],
        SUCCESS: { target: 'closed', actions: 'clearFailures' },
        FAILURE: { target: 'open', actions: 'markOpened' },
      },
    },
  },
});
