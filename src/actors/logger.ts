/** Where a node writes what it does: any object with these four methods (console-like, pino, ...). */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The logger of a node given none. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
