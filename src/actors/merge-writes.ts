/**
 * Merging the writes queued behind an fsync into as few storage writes as keep the outcome
 * identical to writing them one by one: the batch that group commit (./group-commit.ts) hands the
 * storage actor becomes, usually, one `sync: true` storage write.
 */
import type { Entry } from '../raft/raftpb.ts';
import type { StorageWrite } from '../io/storage.ts';

/** A write waiting for its turn, tagged with the sequence number `submit` returned. */
export interface QueuedWrite {
  readonly seq: number;
  readonly write: StorageWrite;
}

/** Several queued writes merged into one `storage.write()`; `lastSeq` is the highest it covers. */
export interface MergedWrite {
  readonly write: StorageWrite;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** What one storage write may carry at most; a batch that would exceed either starts the next write. */
export interface MergeLimits {
  readonly maxBatchEntries: number;
  readonly maxBatchBytes: number;
}

function dataBytes(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += e.data.length;
  return n;
}

/**
 * Accumulates queued writes into one StorageWrite whose effect equals applying them one by one.
 *
 * - Entries concatenate; a later list starting at or before the merged last index truncates the
 *   merged list there first (the log overwrite of §5.3, done in memory before it reaches disk).
 *   A list starting after the merged end (a gap) or before its start begins a new write, so the
 *   storage still refuses a gap exactly where writing one by one would.
 * - The latest hard state and conf state win (each later write replaces them anyway).
 * - The merged write is synced unless every part is a commit-only write (`sync: false`).
 * - Staged snapshot chunks concatenate; emptying the staging area only starts an accumulator.
 * - A snapshot only ever *starts* an accumulator: whether the storage keeps the log tail after a
 *   snapshot depends on the log the snapshot meets (§7), so a snapshot is never merged after
 *   entries or after another snapshot; it begins the next batch. Entries that follow a snapshot and
 *   that it covers entirely are dropped, as the storage would drop them.
 *
 * Exact for every sequence Raft produces, which never writes entries at or below the storage's
 * compaction point (unstable entries always follow the snapshot; only applied entries are
 * compacted). A write lying entirely below that point is a no-op for the storage; merged with
 * earlier entries it would instead truncate them.
 */
class WriteAccumulator {
  private entries: Entry[] | readonly Entry[];
  private ownsEntries = false;
  private bytes: number;
  private write: StorageWrite;
  readonly firstSeq: number;
  private lastSeq: number;

  constructor(first: QueuedWrite) {
    this.write = first.write;
    this.entries = first.write.entries ?? [];
    this.bytes = dataBytes(this.entries);
    this.firstSeq = first.seq;
    this.lastSeq = first.seq;
  }

  /** Whether `next` can join without changing the outcome or exceeding the limits. */
  canAbsorb(next: StorageWrite, limits: MergeLimits): boolean {
    // Emptying the staging area comes first in a write: it must not overtake chunks already merged.
    if (next.snapshot || next.discardStagedSnapshot) return false;
    const incoming = this.uncoveredEntries(next.entries ?? []);
    if (incoming.length === 0 || this.entries.length === 0) return this.withinLimits(incoming, limits);
    const mergedFirst = this.entries[0]!.index;
    const mergedLast = this.entries[this.entries.length - 1]!.index;
    // A gap: the storage must see (and refuse) it on its own. An overwrite reaching below the merged
    // list would hide a refusal of the list's own start, so it starts a new write too (rare: two
    // conflicting appends within one fsync).
    if (incoming[0]!.index > mergedLast + 1 || incoming[0]!.index < mergedFirst) return false;
    return this.withinLimits(incoming, limits);
  }

  absorb(next: QueuedWrite): void {
    const incoming = this.uncoveredEntries(next.write.entries ?? []);
    if (incoming.length > 0) this.appendEntries(incoming);
    const { hardState, confState, stagedSnapshotChunks: staged, peerIncarnations } = next.write;
    const mergedStaged = staged && staged.length > 0 ? [...(this.write.stagedSnapshotChunks ?? []), ...staged] : undefined;
    // The merged write waits for an fsync when any part of it must.
    const { sync: _sync, ...rest } = this.write;
    const unsynced = this.write.sync === false && next.write.sync === false;
    this.write = {
      ...rest,
      ...(unsynced ? { sync: false } : {}),
      ...(hardState ? { hardState } : {}),
      ...(confState ? { confState } : {}),
      ...(mergedStaged ? { stagedSnapshotChunks: mergedStaged } : {}),
      ...(peerIncarnations ? { peerIncarnations } : {}),
    };
    this.lastSeq = next.seq;
  }

  result(): MergedWrite {
    const write: StorageWrite = this.entries.length > 0 ? { ...this.write, entries: this.entries } : this.write;
    return { write, firstSeq: this.firstSeq, lastSeq: this.lastSeq };
  }

  private withinLimits(incoming: readonly Entry[], limits: MergeLimits): boolean {
    if (this.entries.length === 0) return true;
    return this.entries.length + incoming.length <= limits.maxBatchEntries && this.bytes + dataBytes(incoming) <= limits.maxBatchBytes;
  }

  /** Entries a snapshot at the head of this batch already covers would be skipped by the storage. */
  private uncoveredEntries(entries: readonly Entry[]): readonly Entry[] {
    const snap = this.write.snapshot;
    if (!snap || entries.length === 0) return entries;
    const skip = snap.metadata.index + 1 - entries[0]!.index;
    return skip <= 0 ? entries : entries.slice(skip);
  }

  private appendEntries(incoming: readonly Entry[]): void {
    const first = incoming[0]!.index;
    const mergedFirst = this.entries.length > 0 ? this.entries[0]!.index : Infinity;
    if (first <= mergedFirst) {
      this.entries = incoming;
      this.ownsEntries = false;
      this.bytes = dataBytes(incoming);
      return;
    }
    const owned = this.ownEntries();
    const keep = first - mergedFirst;
    for (let k = keep; k < owned.length; k++) this.bytes -= owned[k]!.data.length;
    owned.length = keep;
    for (const e of incoming) {
      owned.push(e);
      this.bytes += e.data.length;
    }
  }

  /** Copies the first write's entry list before changing it: it belongs to the submitter. */
  private ownEntries(): Entry[] {
    if (!this.ownsEntries) {
      this.entries = this.entries.slice();
      this.ownsEntries = true;
    }
    return this.entries as Entry[];
  }
}

/**
 * Merges queued writes (in submit order) into as few storage writes as keep the outcome identical
 * to writing them one by one. Usually one; more when a snapshot, a gap or the limits split them.
 */
export function mergeWrites(queued: readonly QueuedWrite[], limits: MergeLimits): MergedWrite[] {
  const merged: MergedWrite[] = [];
  let acc: WriteAccumulator | undefined;
  for (const item of queued) {
    if (acc !== undefined && acc.canAbsorb(item.write, limits)) {
      acc.absorb(item);
      continue;
    }
    if (acc !== undefined) merged.push(acc.result());
    acc = new WriteAccumulator(item);
  }
  if (acc !== undefined) merged.push(acc.result());
  return merged;
}
