/**
 * The durable store under a node: the counterpart of the Go package's `Storage` interface, with
 * promises because disks are asynchronous in Node.
 *
 * The Raft core never reads from a Storage on its hot path: like etcd (which keeps its raft log in
 * a MemoryStorage and its WAL on disk), a node loads its log into memory when it starts and the
 * in-memory log is bounded by compaction. A Storage is what makes that state survive a crash.
 */
import type { Observable } from 'rxjs';
import type { PeerIncarnations } from '../raft/member-identity.ts';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/raftpb.ts';
import type { StagedChunk } from '../raft/snapshot-transfer.ts';

/** Everything one durable write must make stable at once: one `sync: true` batch on disk. */
export interface StorageWrite {
  /**
   * `false` when the write only moves the commit index (term, vote, log, snapshot and every other
   * record unchanged): it is written in order but without waiting for an fsync, as etcd does when
   * its Ready's `MustSync` is false. A power cut may lose it, and only it and other unsynced writes
   * after the last synced one. That is safe: the commit index is volatile state in Raft (Figure 2),
   * re-learned from the leader, and a later synced write makes it durable with everything before
   * it. Absent or `true`: durable before the write resolves.
   */
  readonly sync?: boolean;
  /** Replaces the hard state when present. */
  readonly hardState?: HardState;
  /** Appended in order; existing entries at and above `entries[0].index` are discarded first. */
  readonly entries?: readonly Entry[];
  /** Replaces the snapshot, and drops every entry it covers, when present. */
  readonly snapshot?: Snapshot;
  /** Replaces the conf state when present (a membership change was applied). */
  readonly confState?: ConfState;
  /**
   * Empties the staging area first (a received snapshot was installed or refused). Staging holds
   * a snapshot being received from the leader; it is never read as this node's snapshot.
   */
  readonly discardStagedSnapshot?: boolean;
  /**
   * Chunks of a snapshot being received, added to the staging area in order. A chunk at offset 0
   * starts a new staging area (what was staged before is discarded).
   */
  readonly stagedSnapshotChunks?: readonly StagedChunk[];
  /** Replaces the record of peer incarnations when present (see docs/membership.md). */
  readonly peerIncarnations?: PeerIncarnations;
}

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/** Who the member on this store is towards its peers (docs/membership.md). */
export interface MemberIdentityRecord {
  /** The random id this store got when it was created (hex, 16 bytes). */
  readonly incarnation: string;
  /** The incarnations of peers this member recorded (empty for a fresh store). */
  readonly peerIncarnations: PeerIncarnations;
}

export interface Storage {
  /** The saved HardState and ConfState (zero values for a fresh store). */
  initialState(): Promise<InitialState>;
  /**
   * The store's incarnation and the peer incarnations it recorded. Every store of this package
   * has one; a store without it makes the node draw a new incarnation at every start, so peers
   * that recorded the old one refuse it after a restart.
   */
  memberIdentity?(): Promise<MemberIdentityRecord>;
  /** Saves the current HardState durably. */
  saveState(st: HardState): Promise<void>;
  /** Entries in [lo, hi). Throws CompactedError below firstIndex, UnavailableError past lastIndex. */
  entries(lo: number, hi: number): Promise<Entry[]>;
  /** Term of entry i; the snapshot's term for its index. Throws CompactedError / UnavailableError. */
  term(i: number): Promise<number>;
  /** Index of the last entry (the snapshot index when the log is empty). */
  lastIndex(): Promise<number>;
  /** Index of the first available entry (snapshot index + 1). */
  firstIndex(): Promise<number>;
  /** The most recent snapshot (the empty snapshot when none was saved). */
  snapshot(): Promise<Snapshot>;
  /** Saves entries durably, truncating any existing entries at and above the first new index. */
  saveEntries(entries: readonly Entry[]): Promise<void>;
  /** Saves a snapshot durably and drops the entries it covers. Throws SnapshotOutOfDateError for an older one. */
  saveSnapshot(snap: Snapshot): Promise<void>;
  /** Drops entries below compactIndex, keeping compactIndex itself as the new dummy/first boundary. */
  compact(compactIndex: number): Promise<void>;
  /** Applies one StorageWrite atomically and durably. */
  write(batch: StorageWrite): Promise<void>;
  /**
   * Optional: `write` as an Observable that emits once and completes when the batch is durable.
   * A store that completes writes on a schedule of its own (the simulation's disk, from its seeded
   * event queue) offers it so that completion is a callback, not a promise: the storage actor
   * prefers it, and the whole write path then runs synchronously inside the completing event.
   */
  write$?(batch: StorageWrite): Observable<void>;
  /**
   * Optional: the staged snapshot at `index`, `size` bytes, read back in one buffer once its last
   * chunk is written. Throws if the staging area does not hold exactly that. A store that offers it
   * must also honour `stagedSnapshotChunks` and `discardStagedSnapshot` in `write`, and empty the
   * staging area when it opens (a crash mid-transfer leaves only garbage). Without it a node keeps
   * incoming chunks in memory.
   */
  readStagedSnapshot?(index: number, size: number): Promise<Uint8Array>;
  /** Releases the store (and its lock). */
  close(): Promise<void>;
}
