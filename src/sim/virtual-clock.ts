/**
 * The simulation's Clock: virtual time, with every timer and every deferred call an event in the
 * simulation's seeded queue. A deferred call is queued at the current time, behind everything
 * already queued for it, which is exactly "the end of the turn". Each clock belongs to one run of
 * one node: a crash cancels what it scheduled.
 */
import type { Cancel, Clock } from '../io/clock.ts';

/** Where the clock's events go: the simulation's queue. */
export interface ClockQueue {
  now(): number;
  /** Queues `fn` at virtual time `at`; the returned function cancels it. */
  schedule(at: number, fn: () => void): Cancel;
}

export class VirtualClock implements Clock {
  constructor(private readonly queue: ClockQueue) {}

  now(): number {
    return this.queue.now();
  }

  setTimer(ms: number, fn: () => void): Cancel {
    return this.queue.schedule(this.queue.now() + Math.max(0, ms), fn);
  }

  defer(fn: () => void): Cancel {
    return this.queue.schedule(this.queue.now(), fn);
  }
}
