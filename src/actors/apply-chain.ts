/**
 * The apply chain: the one queue through which committed entries and snapshots from the leader
 * reach the state machine, strictly one job after another (Raft §5.3: apply in log order, each
 * entry once). A job runs at once when the chain is idle; a job that returns a promise holds the
 * jobs queued behind it until it settles. A synchronous state machine is therefore applied
 * synchronously, which is what keeps the simulation deterministic, and an asynchronous one never
 * has two applies in flight.
 */
import { type MaybePromise, isPromiseLike } from './maybe-async.ts';

export type ApplyJob = () => MaybePromise<void>;

export class ApplyChain {
  private readonly queue: ApplyJob[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];

  /** Called with an exception a job threw or rejected with (jobs handle their own errors; this is the backstop). */
  constructor(private readonly onError: (err: unknown) => void) {}

  /** Whether a job is running or queued. */
  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /** Queues `job` behind every job queued before it; runs it now if the chain is idle. */
  enqueue(job: ApplyJob): void {
    this.queue.push(job);
    if (!this.running) this.pump();
  }

  /** Resolves once every job queued so far (and any they queue) has finished. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    this.running = true;
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      let result: MaybePromise<void>;
      try {
        result = job();
      } catch (err) {
        this.onError(err);
        continue;
      }
      if (isPromiseLike(result)) {
        result.then(
          () => this.pump(),
          (err: unknown) => {
            this.onError(err);
            this.pump();
          },
        );
        return;
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
