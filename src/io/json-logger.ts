/**
 * A small logger that formats records as JSON lines (one object per line: what log shippers and
 * `jq` read) or as pretty text lines for a terminal. It has pino's calling shape, `info(fields,
 * msg)`, and pino's `levels.values`, so the library treats it exactly as it treats a pino logger
 * (src/io/structured-logger.ts); the CLI uses it, a library user may pass pino itself instead.
 *
 * Record fields: `time` (ISO 8601), `level` (`debug`, `info`, `warn`, `error`), then the bound
 * fields (the library's structured logger adds `member`, `term`, `event`), the call's fields and
 * `msg`.
 */

export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

/** pino's numbers for the levels it shares with the library's Logger. */
export const LOG_LEVEL_VALUES: Readonly<Record<LogLevelName, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

/** A logger called pino's way: fields first, then the message. */
export interface PinoLikeLogger {
  debug(fields: object, msg?: string): void;
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

export interface JsonLoggerOptions {
  /** Records below this level are dropped. Default 'info'. */
  readonly level?: LogLevelName;
  /** 'json' (default): one JSON object per line. 'pretty': `time LEVEL key fields: msg k=v`. */
  readonly format?: 'json' | 'pretty';
  /** Where debug and info lines go. Default: process.stdout. */
  readonly out?: (line: string) => void;
  /** Where warn and error lines go. Default: process.stderr. */
  readonly err?: (line: string) => void;
  /** Fields on every record (a child logger's bindings). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** The clock of `time`. Default: the wall clock. */
  readonly now?: () => Date;
}

export interface JsonLogger extends PinoLikeLogger {
  /** pino's shape: `levels.values` maps names to numbers (how the library recognizes a pino-shaped logger). */
  readonly levels: { readonly values: Readonly<Record<string, number>> };
  readonly level: LogLevelName;
  /** A logger that adds `bindings` to every record. */
  child(bindings: Record<string, unknown>): JsonLogger;
}

/** Fields shown first, in this order, in pretty lines. */
const LEAD_FIELDS = ['member', 'term', 'event'] as const;

/** JSON.stringify that turns what JSON cannot hold (bigint, Error, cycles) into text instead of throwing. */
function safeStringify(record: Record<string, unknown>): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(record, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) return { name: value.name, message: value.message };
    if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[circular]';
      seen.add(value);
    }
    return value;
  });
}

/** One record as a pretty text line (also used by the runner to show its members' JSON lines). */
export function prettyLine(record: Readonly<Record<string, unknown>>): string {
  const { time, level, msg, ...rest } = record;
  const lead = LEAD_FIELDS.filter((k) => rest[k] !== undefined)
    .map((k) => (k === 'member' ? `node ${String(rest[k])}` : k === 'term' ? `term ${String(rest[k])}` : String(rest[k])))
    .join(' ');
  const tail = Object.entries(rest)
    .filter(([k]) => !(LEAD_FIELDS as readonly string[]).includes(k))
    .map(([k, v]) => ` ${k}=${typeof v === 'string' && v !== '' && !/\s/.test(v) ? v : safeStringify({ v }).slice(5, -1)}`)
    .join('');
  const lvl = String(level ?? 'info').toUpperCase().padEnd(5);
  return `${String(time ?? '')} ${lvl} ${lead ? `${lead}: ` : ''}${String(msg ?? '')}${tail}`;
}

export function jsonLogger(opts: JsonLoggerOptions = {}): JsonLogger {
  const level = opts.level ?? 'info';
  if (!(level in LOG_LEVEL_VALUES)) throw new TypeError(`log level must be one of ${Object.keys(LOG_LEVEL_VALUES).join(', ')}, got ${JSON.stringify(level)}`);
  const min = LOG_LEVEL_VALUES[level];
  const out = opts.out ?? ((line: string) => void process.stdout.write(line));
  const err = opts.err ?? ((line: string) => void process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const base = opts.base ?? {};
  const pretty = opts.format === 'pretty';
  const write = (lvl: LogLevelName) => (fields: object, msg?: string) => {
    if (LOG_LEVEL_VALUES[lvl] < min) return;
    const record = { time: now().toISOString(), level: lvl, ...base, ...(fields as Record<string, unknown>), msg: msg ?? '' };
    const line = (pretty ? prettyLine(record) : safeStringify(record)) + '\n';
    (LOG_LEVEL_VALUES[lvl] >= LOG_LEVEL_VALUES.warn ? err : out)(line);
  };
  return {
    levels: { values: LOG_LEVEL_VALUES },
    level,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (bindings) => jsonLogger({ ...opts, base: { ...base, ...bindings } }),
  };
}
