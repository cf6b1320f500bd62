/**
 * The circuit breaker as a statechart: `closed` → `open` → `halfOpen` → `closed` (Hystrix, and the
 * "adaptive throttling" discussion in the Google SRE book).
 *
 * Pure: no timers and no clock. Every event that depends on time carries `now` (ms), so the same
 * machine runs under a real clock in production and a virtual one in the simulation, and a test can
 * walk every transition without waiting.
 *
 * - `closed`: calls pass. `failureThreshold` consecutive failures open the circuit; a success
 *   clears the count.
 * - `open`: calls are refused until `sleepWindowMs` has passed since it opened; then the next
 *   `CALL` (or a `TICK`) moves to `halfOpen`. A success reported while open (the peer reached us
 *   on its own) closes it: that is the best evidence of recovery there is.
 * - `halfOpen`: exactly one trial call passes. Its success closes the circuit, its failure reopens
 *   it for another sleep window. A trial that never reports back is assumed lost after one more
 *   sleep window, and another trial is allowed, so the breaker cannot wedge half-open.
 *
 * The answer to the last `CALL` is `context.permitted`, read from the snapshot right after sending.
 */
import { assign, setup } from 'xstate';

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

export interface CircuitBreakerContext extends CircuitBreakerSettings {
  consecutiveFailures: number;
  /** When the circuit last opened (ms); meaningful in `open`. */
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

export const circuitBreakerMachine = setup({
  types: {
    context: {} as CircuitBreakerContext,
    events: {} as CircuitBreakerEvent,
    input: {} as Partial<CircuitBreakerSettings> | undefined,
  },
  guards: {
    reachesThreshold: ({ context }) => context.consecutiveFailures + 1 >= context.failureThreshold,
    sleepWindowElapsed: ({ context, event }) =>
      (event as TimedEvent).now - context.openedAt >= context.sleepWindowMs,
    trialAvailable: ({ context, event }) =>
      context.trialStartedAt === null || (event as TimedEvent).now - context.trialStartedAt >= context.sleepWindowMs,
  },
  actions: {
    permit: assign({ permitted: true }),
    refuse: assign({ permitted: false }),
    countFailure: assign({ consecutiveFailures: ({ context }) => context.consecutiveFailures + 1 }),
    clearFailures: assign({ consecutiveFailures: 0, trialStartedAt: null }),
    markOpened: assign({
      openedAt: ({ event }) => (event as TimedEvent).now,
      trialStartedAt: null,
      consecutiveFailures: ({ context }) => Math.max(context.consecutiveFailures, context.failureThreshold),
    }),
    startTrial: assign({
      trialStartedAt: ({ event }) => (event as TimedEvent).now,
      permitted: true,
    }),
  },
}).createMachine({
  id: 'circuitBreaker',
  initial: 'closed',
  context: ({ input }) => ({
    ...defaultCircuitBreakerSettings,
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
        FAILURE: [
          { guard: 'reachesThreshold', target: 'open', actions: 'markOpened' },
          { actions: 'countFailure' },
        ],
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
