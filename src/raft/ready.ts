/**
 * `Ready`: everything the core asks its host to do, in one value (etcd's raft.Ready).
 *
 * Contract (etcd's, made stricter so hosts cannot get it wrong):
 * - `entries`, `hardState` and `snapshot` must be made durable; `mustSync` says whether an fsync is
 *   needed before the write counts (term, vote or entries changed).
 * - `messages` may be sent at once. Messages that may only leave once this node's state is on disk
 *   (vote responses, append responses: Raft Figure 2 "respond to RPCs only after updating stable
 *   storage") are held back inside the core and appear in a later Ready, after the host reports the
 *   write persisted. A leader's appends to followers go out while it writes its own log (thesis §10.2.1).
 * - `committedEntries` are durable on a quorum and on this node, and are applied in order.
 */
import type { Entry, HardState, Message, Snapshot } from './raftpb.ts';
import type { SoftState } from './state-type.ts';
import type { ReceivedSnapshot, StagedChunk } from './snapshot-transfer.ts';
import type { ReadState } from './read-only.ts';
import type { PeerIncarnations } from './member-identity.ts';

export interface Ready {
  /** Present when the role or the known leader changed since the previous Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed since the previous Ready. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to store and restore. */
  readonly snapshot?: Snapshot;
  /** Entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  /** Messages to send now. */
  readonly messages: readonly Message[];
  /** Reads confirmed by the leader: serve each once the applied index reaches its `index`. */
  readonly readStates?: readonly ReadState[];
  /**
   * Chunks of a snapshot being received, to write to the staging area with this Ready's write
   * (never to the log): their acks are held until that write is durable.
   */
  readonly stagedSnapshotChunks?: readonly StagedChunk[];
  /**
   * A snapshot from the leader that arrived whole: restore the state machine from it (its data, or
   * the staged chunks once this Ready's write is durable), then call `installReceivedSnapshot` — or
   * drop it. Nothing of the log was replaced yet.
   */
  readonly receivedSnapshot?: ReceivedSnapshot;
  /**
   * Present when the record of peer incarnations changed: persist it with this Ready's write. A
   * newly recorded peer counts only once the write is reported persisted.
   */
  readonly peerIncarnations?: PeerIncarnations;
  /** Whether hardState/entries must be fsynced before they count as written. */
  readonly mustSync: boolean;
}

export function isReadyEmpty(rd: Ready): boolean {
  return (
    rd.softState === undefined &&
    rd.hardState === undefined &&
    rd.entries.length === 0 &&
    rd.snapshot === undefined &&
    (rd.stagedSnapshotChunks === undefined || rd.stagedSnapshotChunks.length === 0) &&
    rd.receivedSnapshot === undefined &&
    rd.committedEntries.length === 0 &&
    rd.messages.length === 0 &&
    rd.peerIncarnations === undefined &&
    (rd.readStates === undefined || rd.readStates.length === 0)
  );
}
