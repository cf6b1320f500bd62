/**
 * The stable part of the log, held in memory: the entries persisted so far and the snapshot they
 * follow, bounded by compaction. The core keeps its log here and never reads a Storage on its hot
 * path; like etcd (whose raft log sits in a MemoryStorage while its WAL is on disk), a node loads
 * this from its Storage when it starts, and a Storage is what makes it survive a crash.
 *
 * `ents[0]` is a dummy entry holding the index and term of the last snapshot, so term lookups at
 * the snapshot boundary need no special case. The `…Sync` names say that, unlike a Storage, every
 * call answers at once; io's MemoryStorage extends this class and keeps them.
 */
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.ts';
import { type ConfState, type Entry, EntryType, type Snapshot, emptySnapshot } from './raftpb.ts';

const dummy = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });

export class MemoryLog {
  protected snap: Snapshot = emptySnapshot;
  protected ents: Entry[] = [dummy(0, 0)];

  firstIndexSync(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndexSync(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  termSync(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new CompactedError(i, offset + 1);
    if (i - offset >= this.ents.length) throw new UnavailableError(i, this.lastIndexSync());
    return this.ents[i - offset]!.term;
  }

  entriesSync(lo: number, hi: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    if (hi > this.lastIndexSync() + 1) throw new UnavailableError(hi - 1, this.lastIndexSync());
    if (lo >= hi) return [];
    return this.ents.slice(lo - offset, hi - offset);
  }

  /** Appends entries, discarding any existing entries at and above the first new index. */
  appendSync(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndexSync();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // everything given is already compacted away
    // Drop the part of `entries` that is already covered by the snapshot.
    const skip = first > entries[0]!.index ? first - entries[0]!.index : 0;
    const fresh = skip > 0 ? entries.slice(skip) : entries;
    const offset = fresh[0]!.index - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new UnavailableError(fresh[0]!.index, this.lastIndexSync());
    }
    this.ents.length = offset;
    for (const e of fresh) this.ents.push(e);
  }

  /** Replaces the log with a snapshot. */
  applySnapshotSync(snap: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (cur > 0 && snap.metadata.index <= cur) throw new SnapshotOutOfDateError(snap.metadata.index, cur);
    this.snap = snap;
    // Keep entries past the snapshot when they agree with it (the log continues it); otherwise discard all.
    const { index, term } = snap.metadata;
    const offset = this.ents[0]!.index;
    if (index > offset && index - offset < this.ents.length && this.ents[index - offset]!.term === term) {
      this.ents = [dummy(index, term), ...this.ents.slice(index - offset + 1)];
    } else {
      this.ents = [dummy(index, term)];
    }
  }

  /** Records a snapshot taken locally at `index` (which must be in the log) without touching the entries. */
  createSnapshotSync(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    if (index > this.lastIndexSync()) throw new UnavailableError(index, this.lastIndexSync());
    this.snap = { data, metadata: { index, term: this.termSync(index), confState } };
    return this.snap;
  }

  /** Discards entries before `compactIndex`; `compactIndex` becomes the dummy entry. */
  compactSync(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    if (compactIndex > this.lastIndexSync()) throw new UnavailableError(compactIndex, this.lastIndexSync());
    const i = compactIndex - offset;
    this.ents = [dummy(compactIndex, this.ents[i]!.term), ...this.ents.slice(i + 1)];
  }

  snapshotSync(): Snapshot {
    return this.snap;
  }
}
