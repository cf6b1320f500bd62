/**
 * Warnings about what peers send, rate-limited per key (a peer, or a source address): a hostile or
 * broken peer can send thousands of bad frames a second, and each must be counted, but the log
 * must stay readable and cheap. The first event of a key in a window is logged at once; later
 * ones in the same window are only counted, and the next line logged for that key says how many
 * were suppressed. Keys are forgotten after an idle window, so the table stays small.
 */

/** The part of a logger the transport uses (structurally compatible with the node's Logger). */
export interface WarnLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

interface Slot {
  windowStart: number;
  suppressed: number;
}

export class RateLimitedLog {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly logger: WarnLogger | undefined,
    private readonly windowMs: number,
    private readonly now: () => number,
    /** Keys remembered at most: a flood of distinct source addresses cannot grow the table. */
    private readonly maxKeys = 1024,
  ) {}

  /** Logs `msg` for `key` unless one was logged within the window; returns whether it was logged. */
  warn(key: string, msg: string, fields: Record<string, unknown>): boolean {
    const now = this.now();
    const slot = this.slots.get(key);
    if (slot && now - slot.windowStart < this.windowMs) {
      slot.suppressed++;
      return false;
    }
    const suppressed = slot?.suppressed ?? 0;
    this.slots.delete(key);
    if (this.slots.size >= this.maxKeys) this.slots.delete(this.slots.keys().next().value!);
    this.slots.set(key, { windowStart: now, suppressed: 0 });
    this.logger?.warn(msg, suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields);
    return true;
  }
}
