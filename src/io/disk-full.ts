/**
 * Recognizes a full disk in an error from any layer. LevelDB reports ENOSPC as text inside an IO
 * error ("IO error: …/000005.ldb: No space left on device") wrapped in "Database failed to open";
 * Node's fs reports it as `code: 'ENOSPC'`. Operators need the words "disk full", not the wrapper.
 */

/** Whether an error, or anything in its cause chain, is ENOSPC (errno code or LevelDB's text). */
export function isDiskFull(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC') return true;
    if (typeof e.message === 'string' && /no space left on device|ENOSPC/i.test(e.message)) return true;
  }
  return false;
}
