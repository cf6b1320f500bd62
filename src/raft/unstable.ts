/**
 * The unstable tail of the log: entries (and possibly an incoming snapshot) that the node holds in
 * memory but has not yet seen reported durable. It mirrors etcd's `unstable`.
 *
 * Entries move through three stages: not yet handed to storage (at and after `offsetInProgress`),
 * handed to storage in a Ready but not yet persisted (between `offset` and `offsetInProgress`), and
 * persisted, at which point `stableTo` drops them from here (they live on in the stable log).
 */
import type { Entry, Snapshot } from './raftpb.ts';

export class Unstable {
  /** An incoming snapshot not yet persisted. */
  snapshot: Snapshot | undefined = undefined;
  /** Whether `snapshot` was already handed to storage. */
  snapshotInProgress = false;
  /** Unstable entries; `entries[i]` has index `offset + i`. */
  entries: Entry[] = [];
  offset: number;
  /** Entries below this index were handed to storage already. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** The first index, known only when a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  /** The last index, when there are unstable entries or a pending snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  /** The term of entry i if this tail knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Whether some entries were not yet handed to storage (without copying them). */
  hasNextEntries(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length;
  }

  /** Entries not yet handed to storage. */
  nextEntries(): Entry[] {
    const start = this.offsetInProgress - this.offset;
    return start >= this.entries.length ? [] : this.entries.slice(start);
  }

  /** A snapshot not yet handed to storage. */
  nextSnapshot(): Snapshot | undefined {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : undefined;
  }

  /** Marks everything currently here as handed to storage. */
  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /**
   * Storage reports entries up to (index, term) durable. Ignored when that entry was replaced
   * meanwhile (its term differs): the newer entries still have a write of their own in flight.
   */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /** Storage reports the pending snapshot at `index` durable. */
  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with an incoming snapshot. */
  restore(snap: Snapshot): void {
    this.offset = snap.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snap;
    this.snapshotInProgress = false;
  }

  /** Appends, truncating any conflicting suffix first (Raft §5.3: a conflict deletes the entry and all after it). */
  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index;
    if (from === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (from <= this.offset) {
      // Replaces the whole tail and part of the stable log, whose stale entries stay on disk until
      // this write truncates them.
      this.entries = ents.slice();
      this.offset = from;
      this.offsetInProgress = from;
    } else {
      this.entries = this.entries.slice(0, from - this.offset);
      for (const e of ents) this.entries.push(e);
      this.offsetInProgress = Math.min(this.offsetInProgress, from);
    }
  }

  /** Entries in [lo, hi), which must lie within this tail. */
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
