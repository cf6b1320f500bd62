/**
 * The one table from the library's error classes to HTTP answers of the key-value example. Each
 * row says what a client may conclude:
 *
 * - `retryable`: the request was proven NOT applied (it never reached Raft, or its entry was
 *   overwritten or refused), so sending it again cannot apply it twice. These answers carry
 *   `retry-after: 1`.
 * - `504` alone means "may or may not have been applied": the proposal reached Raft (appended or
 *   forwarded) and this member cannot tell its fate. A compare-and-swap must not be retried blindly.
 * - Other 4xx: the request itself is wrong; 5xx without retry: this member is broken.
 *
 * A test walks every class exported from `src/errors.ts` through this table, so a new error class
 * without a row fails it.
 */
import {
  BootstrapRefusedError,
  CompactedError,
  ConfChangeInProgressError,
  ConfigError,
  InvalidMessageError,
  InvalidPeerError,
  MemberConflictError,
  MemberIdentityError,
  NotLeaderError,
  ProposalDroppedError,
  ProposalOutcomeUnknownError,
  RaftError,
  SnapshotOutOfDateError,
  SnapshotRejectedError,
  SnapshotRestoreError,
  StoppedError,
  StorageCorruptionError,
  StorageFullError,
  StorageIdentityError,
  StorageInconsistentError,
  StorageLockedError,
  StorageOpenError,
  StorageWriteFailedError,
  UnavailableError,
  UnknownMemberError,
} from '../errors.ts';

export interface ErrorAnswer {
  /** HTTP status. */
  readonly status: number;
  /** Proven not applied: safe to send again (after `retry-after`). */
  readonly retryable: boolean;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Every error class of `src/errors.ts`. Order matters only for subclasses (StorageInconsistentError
 * extends StorageCorruptionError): the first row whose class matches wins, and `RaftError`, the
 * base class, comes last.
 */
export const ERROR_ANSWERS: ReadonlyArray<readonly [ErrorClass, ErrorAnswer]> = [
  // Bad requests: nothing was proposed.
  [ConfigError, { status: 400, retryable: false }],
  [InvalidPeerError, { status: 400, retryable: false }],
  [UnknownMemberError, { status: 404, retryable: false }],
  [MemberConflictError, { status: 409, retryable: false }],
  // Not proposed here, or proven not applied: send it again.
  [NotLeaderError, { status: 421, retryable: true }], // 503 when no leader is known (see httpAnswer)
  [ConfChangeInProgressError, { status: 409, retryable: true }],
  [ProposalDroppedError, { status: 503, retryable: true }],
  [StoppedError, { status: 503, retryable: true }],
  // Reached Raft, fate unknown.
  [ProposalOutcomeUnknownError, { status: 504, retryable: false }],
  // This member's storage is broken, or an internal invariant failed: an operator must look.
  [StorageWriteFailedError, { status: 500, retryable: false }],
  [StorageFullError, { status: 507, retryable: false }],
  [StorageInconsistentError, { status: 500, retryable: false }], // before its base class
  [StorageCorruptionError, { status: 500, retryable: false }],
  [StorageOpenError, { status: 500, retryable: false }],
  [SnapshotRejectedError, { status: 500, retryable: false }],
  [SnapshotRestoreError, { status: 500, retryable: false }],
  [StorageIdentityError, { status: 500, retryable: false }],
  [MemberIdentityError, { status: 500, retryable: false }],
  [BootstrapRefusedError, { status: 500, retryable: false }],
  [StorageLockedError, { status: 500, retryable: false }],
  [CompactedError, { status: 500, retryable: false }],
  [UnavailableError, { status: 500, retryable: false }],
  [SnapshotOutOfDateError, { status: 500, retryable: false }],
  [InvalidMessageError, { status: 500, retryable: false }],
  [RaftError, { status: 500, retryable: false }],
];

/** What an error that is not one of the library's means over HTTP. */
const UNEXPECTED: ErrorAnswer = { status: 500, retryable: false };

/**
 * The answer for `err`: its row in the table; for errors from outside the library, a timeout or
 * abort of the request (504: the proposal may have reached Raft), an oversized proposal (413), or
 * 500. A NotLeaderError without a known leader is a 503 (retry once one is elected).
 */
export function httpAnswer(err: unknown): ErrorAnswer {
  if (err instanceof NotLeaderError && err.leaderId === 0) return { status: 503, retryable: true };
  for (const [cls, answer] of ERROR_ANSWERS) if (err instanceof cls) return answer;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return { status: 504, retryable: false };
  if (err instanceof RangeError) return { status: 413, retryable: false };
  return UNEXPECTED;
}

/** The messages of `err`'s cause chain, outermost first, so an answer keeps why it failed. */
export function causeChain(err: unknown): string[] {
  const out: string[] = [];
  let c = err instanceof Error ? err.cause : undefined;
  while (c !== undefined && out.length < 8) {
    out.push(c instanceof Error ? c.message : String(c));
    c = c instanceof Error ? c.cause : undefined;
  }
  return out;
}
