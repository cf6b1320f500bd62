/**
 * Structured logs: every record the library writes carries `member` (this node's id), `term` (its
 * current term), `event` (a stable camelCase name, e.g. `leaderChanged`) and the call's fields.
 *
 * The library logs through the message-first `Logger` shape (`info(msg, fields)`). A user may pass
 * that shape, or a pino logger (or any logger with pino's shape, `info(fields, msg)`, recognized by
 * pino's `levels.values`), and each is called its own way: nothing changes for existing callers
 * except the added fields. Without a logger the library is silent.
 */
import type { PinoLikeLogger } from './json-logger.ts';

/** The library's logger shape: message first (the `Logger` of `NodeOptions`). */
export interface MessageFirstLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LogContext {
  /** This node's id: the `member` field. */
  readonly member: number;
  /** The current term, read at each record (undefined while the node is not running). */
  readonly term?: (() => number | undefined) | undefined;
}

/** pino and loggers made to its interface expose `levels.values` (pino's level numbers by name). */
export function isPinoLike(logger: unknown): logger is PinoLikeLogger {
  const levels = (logger as { levels?: { values?: unknown } } | null)?.levels;
  return typeof levels === 'object' && levels !== null && typeof levels.values === 'object' && levels.values !== null;
}

/** Messages whose text starts with figures: their event by pattern. */
const NAMED_EVENTS: readonly (readonly [RegExp, string])[] = [
  [/^node \d+ presents a new data directory/, 'peerLostData'],
  [/^node \d+ knows node \d+ by another data directory/, 'memberLostData'],
  [/^node \d+ shows the cluster was already formed/, 'joiningFormedCluster'],
];

/**
 * The event name of a message: a fixed name for the templated ones, else the camelCase of its
 * first words up to the first punctuation (`leader changed` → `leaderChanged`, `fatal error,
 * stopping the node` → `fatalError`), figures left out, at most five words.
 */
export function eventName(msg: string): string {
  for (const [re, name] of NAMED_EVENTS) if (re.test(msg)) return name;
  const head = msg.split(/[:;,(]/, 1)[0]!;
  const words = head
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((w) => w !== '')
    .slice(0, 5);
  if (words.length === 0) return 'log';
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
}

/**
 * The logger the library writes to: adds `member`, `term` and `event` to every record and calls
 * `target` in its own shape. A call's own `event` field wins over the derived one; its `id` field
 * (the node id, which many calls carry) is left out when it equals `member`.
 */
export function structuredLogger(target: MessageFirstLogger | PinoLikeLogger, context: LogContext): MessageFirstLogger {
  const pino = isPinoLike(target);
  const record = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    let term: number | undefined;
    try {
      term = context.term?.();
    } catch {
      term = undefined;
    }
    const { id, event, ...rest } = fields ?? {};
    const out: Record<string, unknown> = {
      member: context.member,
      ...(term === undefined ? {} : { term }),
      event: typeof event === 'string' && event !== '' ? event : eventName(msg),
      ...(id === undefined || id === context.member ? {} : { id }),
      ...rest,
    };
    if (pino) (target as PinoLikeLogger)[level](out, msg);
    else (target as MessageFirstLogger)[level](msg, out);
  };
  return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}
