/**
 * The errors the pure core throws, and the base class of every error of the library. They live in
 * src/raft because the core imports nothing outside it; src/errors.ts re-exports them with the rest.
 */

/** Base class: every actor-raft error is a `RaftError`. */
export class RaftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The requested log range was compacted into a snapshot (etcd's ErrCompacted). */
export class CompactedError extends RaftError {
  constructor(index: number, firstIndex: number) {
    super(`requested index ${index} is unavailable due to compaction (first index is ${firstIndex})`);
  }
}

/** The requested log range is past the end of the log (etcd's ErrUnavailable). */
export class UnavailableError extends RaftError {
  constructor(index: number, lastIndex: number) {
    super(`requested entry at index ${index} is unavailable (last index is ${lastIndex})`);
  }
}

/** A snapshot older than the one already held was offered (etcd's ErrSnapOutOfDate). */
export class SnapshotOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super(`snapshot at index ${index} is older than the current snapshot at index ${current}`);
  }
}
