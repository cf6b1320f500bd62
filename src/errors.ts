/**
 * Every error the library throws or rejects with is one of these classes, so callers can branch
 * with `instanceof` and users read a message that says what to do.
 */

/** Base class: every actor-raft error is a `RaftError`. */
export class RaftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A `Config` field is missing or out of range. `field` names it. */
export class ConfigError extends RaftError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`invalid config: ${field}: ${message}`);
  }
}

/** The request needs the leader and this node is not it. `leaderId` is 0 when no leader is known. */
export class NotLeaderError extends RaftError {
  constructor(
    readonly leaderId: number,
    readonly leaderAddress?: string,
  ) {
    super(
      leaderId === 0
        ? 'not the leader, and no leader is known right now; retry later'
        : `not the leader; the leader is node ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`,
    );
  }
}

/** A proposal was not appended: no leader, leadership changed, or a transfer is in progress. */
export class ProposalDroppedError extends RaftError {
  constructor(reason = 'raft proposal dropped') {
    super(reason);
  }
}

/** The node was stopped (or not started) and cannot take the call. */
export class StoppedError extends RaftError {
  constructor(what = 'node') {
    super(`${what} is stopped`);
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

/** The data directory is held by another process. */
export class StorageLockedError extends RaftError {
  constructor(
    readonly dataDir: string,
    options?: { cause?: unknown },
  ) {
    super(`data directory ${dataDir} is in use by another process (is another node running on it?)`, options);
  }
}

/** A stored value could not be decoded. `key` names the damaged record. */
export class StorageCorruptionError extends RaftError {
  constructor(
    readonly key: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`storage is corrupted at key ${key}: ${detail}`, options);
  }
}

/** A frame or message from the network failed validation. */
export class InvalidMessageError extends RaftError {}

/**
 * The data directory belongs to another node or cluster. Opening it anyway would let this node
 * vote and acknowledge with someone else's term, vote and log, which breaks Raft's safety
 * argument (Figure 2's persistent state is per server), so it is refused.
 */
export class StorageIdentityError extends RaftError {
  constructor(
    readonly dataDir: string,
    readonly field: 'nodeId' | 'clusterId',
    readonly stored: string | number,
    readonly requested: string | number,
    options?: { cause?: unknown },
  ) {
    super(
      `data directory ${dataDir} belongs to ${field} ${JSON.stringify(stored)}, not ${JSON.stringify(requested)}; ` +
        `point this node at its own data directory (or remove the directory to start it empty)`,
      options,
    );
  }
}

/**
 * A durable write failed, so the storage actor refuses further writes: nothing after the failed
 * write may be reported as persisted (a node must never acknowledge what is not on disk).
 */
export class StorageWriteFailedError extends RaftError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`storage write failed, no further writes are accepted: ${detail}`, options);
  }
}

/** A transport peer id or address is unusable (zero, our own id, not `host:port`). */
export class InvalidPeerError extends RaftError {
  constructor(
    readonly peerId: unknown,
    detail: string,
  ) {
    super(`invalid peer ${String(peerId)}: ${detail}`);
  }
}

/** A membership change was proposed while another one is not yet applied (one at a time, thesis §4.1). */
export class ConfChangeInProgressError extends RaftError {
  constructor() {
    super('another membership change is in progress; retry once it is applied');
  }
}

/**
 * A proposal whose fate this node cannot know: its entry may or may not have been applied (it was
 * covered by a snapshot installed from the leader, or never seen in the log in time). Retry only if
 * the command is idempotent, or check the state first.
 */
export class ProposalOutcomeUnknownError extends RaftError {}

/** A membership request names a node that is not a member (remove, promote). Nothing was proposed. */
export class UnknownMemberError extends RaftError {
  constructor(
    readonly nodeId: number,
    detail = `node ${nodeId} is not a member`,
  ) {
    super(detail);
  }
}

/**
 * A membership request conflicts with the current membership: adding a node that already is a
 * member, promoting a node that already votes. Nothing was proposed.
 */
export class MemberConflictError extends RaftError {
  constructor(
    readonly nodeId: number,
    detail: string,
  ) {
    super(detail);
  }
}
