/**
 * Every error the library throws or rejects with is one of these classes, so callers can branch
 * with `instanceof` and users read a message that says what to do.
 */

import { RaftError } from './raft/errors.ts';

// The core (src/raft) throws these itself and imports nothing outside src/raft, so they live there.
export { RaftError, CompactedError, UnavailableError, SnapshotOutOfDateError } from './raft/errors.ts';

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
    readonly detail: string,
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
        `point this node at its own data directory. Do not empty it: a member that lost its data must be ` +
        `replaced (\`actor-raft member remove <id>\`, \`actor-raft member add <id> <host:port>\`, then start it with \`--join\`), see docs/membership.md`,
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

/** Where an operator finds the way out when a member's data directory cannot be trusted. */
export const REPLACE_MEMBER_PROCEDURE =
  'replace this member (docs/membership.md, "Replace a failed member"): `actor-raft member remove <id>`, ' +
  '`actor-raft member add <id> <addr>`, then start it with `--join` on an empty data directory';

/**
 * The data directory holds records that contradict each other (a log that ends below the durable
 * commit index, a hard state older than its own log, a hole in the log, entries that do not follow
 * the snapshot). Each record may decode fine; together they prove that writes were lost. Such a
 * member may have acknowledged entries it no longer holds, so it must not vote or acknowledge
 * again under its identity (Raft's safety argument assumes Figure 2's persistent state survives):
 * it refuses to start and says how to replace it. `key` names the records, `dataDir` the directory.
 */
export class StorageInconsistentError extends StorageCorruptionError {
  constructor(
    readonly dataDir: string,
    key: string,
    readonly inconsistency: string,
    options?: { cause?: unknown },
  ) {
    super(key, `${inconsistency} (data directory ${dataDir}); this member may have lost writes it acknowledged; ${REPLACE_MEMBER_PROCEDURE}`, options);
  }
}

/** The device under the data directory is full (ENOSPC). `cause` is the underlying error. */
export class StorageFullError extends RaftError {
  constructor(
    readonly dataDir: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`disk full (ENOSPC) under data directory ${dataDir}: ${detail}; free space on that device and start the node again`, options);
  }
}

/** The data directory could not be opened for a reason other than a lock, corruption or a full disk. */
export class StorageOpenError extends RaftError {
  constructor(
    readonly dataDir: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`could not open data directory ${dataDir}: ${detail}`, options);
  }
}

/**
 * A snapshot sent by the leader was refused before it could replace this member's state: it
 * claims more bytes than `maxSnapshotBytes`, or the state machine found its data invalid. The
 * member keeps its old state and can take a later snapshot. Reported on `errors$`, not fatal.
 */
export class SnapshotRejectedError extends RaftError {
  constructor(
    readonly index: number,
    readonly term: number,
    readonly reason: string,
  ) {
    super(`snapshot at index ${index} (term ${term}) from the leader was discarded: ${reason}; this member keeps its previous state`);
  }
}

/**
 * The snapshot stored in the data directory does not restore into the state machine. Names the
 * directory and the record (the snapshot metadata with its index, term and size); `cause` is what
 * the state machine threw.
 */
export class SnapshotRestoreError extends RaftError {
  constructor(
    readonly dataDir: string,
    readonly record: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`state machine could not restore the snapshot stored in ${dataDir} (${record}): ${detail}`, options);
  }
}

/**
 * A member identity problem (docs/membership.md): a peer came back under its node id with another
 * data directory (`peer` presents a new one), or a peer knows this node's id by another data
 * directory (this node lost its data). Either way the member must be replaced, not reused.
 */
export class MemberIdentityError extends RaftError {
  constructor(
    readonly kind: 'peerHasNewDirectory' | 'knownAsOther',
    readonly peer: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An empty data directory was not allowed to found a cluster: it was not told to
 * (`initialClusterState: 'new'` / `--initial-cluster-state new`), or a peer knows this node id by
 * another data directory. Start it with `--join` after `actor-raft member add`, see docs/membership.md.
 */
export class BootstrapRefusedError extends RaftError {
  constructor(
    readonly nodeId: number,
    detail: string,
  ) {
    super(`node ${nodeId} will not bootstrap: ${detail}`);
  }
}
