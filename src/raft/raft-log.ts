/**
 * The replicated log as one node sees it: a stable part (persisted; held in memory in a
 * MemoryLog, bounded by compaction) followed by the unstable tail. Mirrors etcd's raftLog.
 *
 * Index arithmetic follows the paper: the first entry has index 1; index 0 with term 0 is the
 * empty log's sentinel, and after compaction the snapshot's (index, term) takes its place.
 */
import { CompactedError, UnavailableError } from './errors.ts';
import { MemoryLog } from './memory-log.ts';
import type { Entry, Snapshot } from './raftpb.ts';
import { Unstable } from './unstable.ts';

/** Trims `ents` to at most `maxBytes` of data, always keeping at least one entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = ents[0]!.data.byteLength;
  let n = 1;
  for (; n < ents.length; n++) {
    size += ents[n]!.data.byteLength;
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export class RaftLog {
  /** Persisted entries and snapshot, in memory. */
  readonly stable: MemoryLog;
  readonly unstable: Unstable;
  /** Highest index known to be committed (Raft §5.3). */
  committed: number;
  /** Highest index handed out for applying. */
  applying: number;
  /** Highest index the state machine reported applied. */
  applied: number;

  constructor(stable: MemoryLog = new MemoryLog()) {
    this.stable = stable;
    const first = stable.firstIndexSync();
    const last = stable.lastIndexSync();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.stable.firstIndexSync();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.stable.lastIndexSync();
  }

  /** Term of entry i; throws CompactedError below the first index - 1 and UnavailableError past the end. */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new CompactedError(i, dummy + 1);
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    return this.unstable.maybeTerm(i) ?? this.stable.termSync(i);
  }

  /** Term of entry i, or 0 when it is compacted or past the end. */
  termOrZero(i: number): number {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return 0;
    return this.unstable.maybeTerm(i) ?? this.stable.termSync(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Whether the log has entry i with term t: the AppendEntries consistency check (Raft §5.3). */
  matchTerm(i: number, t: number): boolean {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return false;
    return this.termOrZero(i) === t;
  }

  /**
   * Raft §5.4.1: a log is at least as up-to-date as (lastIndex, lastTerm) when its last term is
   * later, or the terms are equal and it is at least as long.
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** The index of the first entry in `ents` that conflicts with (or extends) this log; 0 when all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`: where the leader's and this log can agree
   * at best. Used for fast backtracking (Raft §5.3, the optimization the paper sketches): one round
   * trip skips a whole term of conflicting entries instead of one entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    const first = this.firstIndex();
    for (let i = Math.min(index, this.lastIndex()); i >= first - 1; i--) {
      const t = this.termOrZero(i);
      if (t <= term) return { index: i, term: t };
      if (i === first - 1) break;
    }
    return { index: first - 1, term: 0 };
  }

  /**
   * The follower side of AppendEntries (Raft §5.3): when the log has (prevIndex, prevTerm), drop
   * the first conflicting entry and everything after it, append the new ones, and advance the
   * commit index to min(leaderCommit, index of last new entry). Returns that last new index, or
   * undefined when the consistency check fails.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed}): log matching violated`);
      }
      this.append(ents.slice(ci - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Appends entries (truncating a conflicting suffix); returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0]!.index - 1 < this.committed) {
      throw new Error(`cannot overwrite committed entries: append at ${ents[0]!.index}, committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new Error(`commit index ${index} is past the last index ${this.lastIndex()}: the log is corrupt, truncated or lost`);
    }
    this.committed = index;
  }

  /**
   * Raft §5.4.2: a leader advances the commit index only to an entry of its own term; earlier
   * entries are then committed indirectly by the Log Matching Property.
   */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.termOrZero(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** The highest index that may be applied: committed, and durable on this node too. */
  maxAppliableIndex(): number {
    return Math.min(this.committed, this.unstable.offset - 1);
  }

  hasNextCommittedEntries(): boolean {
    return this.applying < this.maxAppliableIndex() && this.unstable.snapshot === undefined;
  }

  /** Committed entries not yet handed out for applying, at most `maxBytes` of data. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    return this.slice(this.applying + 1, this.maxAppliableIndex() + 1, maxBytes);
  }

  acceptApplying(index: number): void {
    if (index > this.applying) this.applying = index;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }

  /** Persisted up to (index, term): move those entries from the unstable tail to the stable log. */
  stableTo(index: number, term: number): void {
    const before = this.unstable.offset;
    const moved = index >= before ? this.unstable.slice(before, index + 1) : [];
    this.unstable.stableTo(index, term);
    if (this.unstable.offset > before && moved.length > 0) this.stable.appendSync(moved);
  }

  /** Persisted the pending snapshot: it becomes the stable log's base. */
  stableSnapTo(snap: Snapshot): void {
    if (this.unstable.snapshot === snap) {
      this.stable.applySnapshotSync(snap);
      this.unstable.stableSnapTo(snap.metadata.index);
    }
  }

  /** Replaces the log with a snapshot received from the leader (Raft §7). */
  restore(snap: Snapshot): void {
    this.committed = snap.metadata.index;
    this.unstable.restore(snap);
  }

  /** The current snapshot: the pending one, else the stable one. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.stable.snapshotSync();
  }

  /** Entries in [lo, hi), at most `maxBytes` of data (at least one entry). */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const off = this.unstable.offset;
    let ents: Entry[];
    if (hi <= off) {
      ents = this.stable.entriesSync(lo, hi);
    } else if (lo >= off) {
      ents = this.unstable.slice(lo, hi);
    } else {
      ents = this.stable.entriesSync(lo, off).concat(this.unstable.slice(off, hi));
    }
    return maxBytes === Infinity ? ents : limitSize(ents, maxBytes);
  }

  /** Entries from `lo` to the end, at most `maxBytes` of data. */
  entriesFrom(lo: number, maxBytes = Infinity): Entry[] {
    const last = this.lastIndex();
    if (lo > last) return [];
    return this.slice(lo, last + 1, maxBytes);
  }
}
