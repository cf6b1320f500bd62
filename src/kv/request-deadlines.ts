/**
 * Deadlines for HTTP requests without a timer per request.
 *
 * Why: `AbortSignal.timeout()` arms a timer (and a weak reference to clean it up) for every write
 * and read, on the path every request takes. All requests of a server share one timeout, so their
 * deadlines expire in the order they started: one sweep timer that aborts the oldest requests first
 * is exact to within its period (a twentieth of the timeout, at least 10 ms), costs one timer per
 * server, and nothing per request beyond an AbortController. The timer runs only while requests are
 * waiting and never keeps the process alive.
 */
export interface RequestDeadline {
  /** Aborts with a `TimeoutError` (as `AbortSignal.timeout` does) once the timeout has passed. */
  readonly signal: AbortSignal;
  /** The request ended: forget it. */
  readonly done: () => void;
}

export class RequestDeadlines {
  /** Waiting requests and their deadlines, oldest first (a Map keeps insertion order). */
  private readonly waiting = new Map<AbortController, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly periodMs: number;

  constructor(
    readonly timeoutMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(timeoutMs > 0)) throw new RangeError(`the request timeout must be positive, got ${timeoutMs}`);
    this.periodMs = Math.max(10, Math.floor(timeoutMs / 20));
  }

  start(): RequestDeadline {
    const controller = new AbortController();
    this.waiting.set(controller, this.now() + this.timeoutMs);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.periodMs);
      this.timer.unref();
    }
    return { signal: controller.signal, done: () => this.forget(controller) };
  }

  /** Requests waiting now. */
  get size(): number {
    return this.waiting.size;
  }

  /** Aborts every request whose deadline has passed; the rest are younger, so it stops at the first. */
  sweep(): void {
    const now = this.now();
    for (const [controller, deadline] of this.waiting) {
      if (deadline > now) break;
      this.waiting.delete(controller);
      controller.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError'));
    }
    if (this.waiting.size === 0) this.stopTimer();
  }

  /** Aborts nothing; stops the timer (the server closed). */
  close(): void {
    this.waiting.clear();
    this.stopTimer();
  }

  private forget(controller: AbortController): void {
    this.waiting.delete(controller);
    if (this.waiting.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
