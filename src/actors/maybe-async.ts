/**
 * Runs a sequence of steps that may or may not wait: a generator yields each value it needs, and
 * it is resumed at once when the value is plain, or when the promise settles when it is one.
 *
 * Why: the host loop runs both in production, where a state machine or a disk may answer with a
 * promise, and in the simulation, which is synchronous and deterministic (a promise there would
 * settle outside the seeded event queue, or never, while a test runs the queue in a loop). Writing
 * each multi-step effect once, as a generator, keeps one code path: synchronous inputs give a
 * synchronous run, asynchronous ones an asynchronous run with the same order of steps.
 */

/** A step's value: plain, or a promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>;

export function isPromiseLike<T>(v: MaybePromise<T>): v is PromiseLike<T> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<T>).then === 'function';
}

/**
 * Drives `steps` to its end. Returns undefined when it finished synchronously, a promise
 * otherwise. An exception (thrown or rejected) not caught by the generator ends the run: thrown
 * synchronously when the run is still synchronous, as the returned promise's rejection after.
 */
export function runSteps(steps: Generator<unknown, void, unknown>): void | Promise<void> {
  let next = steps.next();
  while (!next.done) {
    const value = next.value;
    if (isPromiseLike(value)) return continueAsync(steps, value);
    next = steps.next(value);
  }
  return undefined;
}

async function continueAsync(steps: Generator<unknown, void, unknown>, pending: PromiseLike<unknown>): Promise<void> {
  let value: unknown;
  let failed = false;
  let error: unknown;
  try {
    value = await pending;
  } catch (err) {
    failed = true;
    error = err;
  }
  let next = failed ? steps.throw(error) : steps.next(value);
  while (!next.done) {
    const v = next.value;
    if (isPromiseLike(v)) {
      try {
        next = steps.next(await v);
      } catch (err) {
        next = steps.throw(err);
      }
      continue;
    }
    next = steps.next(v);
  }
}
