/**
 * The promises a RaftNode owes its callers: proposals waiting to be applied and reads waiting to
 * be confirmed and applied. It decides when each settles, so that `propose()` resolves only for an
 * entry that was committed and applied with this very command, and never hangs.
 */
import { ProposalDroppedError, ProposalOutcomeUnknownError, type RaftError } from '../errors.ts';
import { type Entry, EntryType } from '../raft/raftpb.ts';
import { type Envelope, type Proposer, isFrom, unwrapProposal } from './proposal-envelope.ts';

export interface ProposeResult<R = unknown> {
  readonly index: number;
  readonly term: number;
  /** What `StateMachine.apply` returned for the entry. */
  readonly result: R;
}

interface PendingProposal {
  readonly seq: number;
  readonly resolve: (r: ProposeResult) => void;
  readonly reject: (e: Error) => void;
  /** Where the entry landed, once known (at once on the leader, when seen in the log on a follower). */
  index: number;
  term: number;
  /** Tick by which a proposal not yet seen in the log is given up. */
  deadline: number;
  readonly cleanup: () => void;
  /** `performance.now()` when proposed, for the commit latency metric. */
  readonly startedAt: number;
  /** The entry's bytes as this node appended them (leader): recognised by identity, not decoded again. */
  data: Uint8Array | undefined;
}

interface PendingRead {
  readonly key: string;
  readonly resolve: (index: number) => void;
  readonly reject: (e: Error) => void;
  /** The confirmed read index, once the leader answered; 0 before. */
  index: number;
  deadline: number;
  readonly cleanup: () => void;
}

export class PendingRequests {
  constructor(
    private readonly self: Proposer,
    /** Told, in seconds, how long each proposal that resolved took from `addProposal` (metrics). */
    private readonly onResolved?: (seconds: number) => void,
  ) {}

  private readonly proposals = new Map<number, PendingProposal>();
  private readonly byIndex = new Map<number, PendingProposal>();
  /** At least the highest index in `byIndex` (settled entries may leave it stale, never too low). */
  private maxIndex = 0;
  /** Proposals not yet seen in the log (forwarded, or not submitted yet). */
  private unlocated = 0;
  private readonly reads = new Map<string, PendingRead>();
  private nextSeq = 1;

  /**
   * Whether some proposal is still waiting to be seen in the log: only then is it worth reading the
   * envelopes of the entries a Ready writes (a leader locates its own at once; a follower that
   * forwarded proposals learns their index from its log).
   */
  get anyUnlocated(): boolean {
    return this.unlocated > 0;
  }

  get size(): number {
    return this.proposals.size + this.reads.size;
  }

  newSeq(): number {
    return this.nextSeq++;
  }

  addProposal(seq: number, deadline: number, resolve: PendingProposal['resolve'], reject: PendingProposal['reject'], cleanup: () => void): void {
    this.proposals.set(seq, { seq, resolve, reject, index: 0, term: 0, deadline, cleanup, startedAt: performance.now(), data: undefined });
    this.unlocated++;
  }

  /** Gives a proposal not yet seen in the log until tick `deadline` to show up. */
  setDeadline(seq: number, deadline: number): void {
    const p = this.proposals.get(seq);
    if (p && p.index === 0) p.deadline = deadline;
  }

  /** The proposal's entry is at (index, term): from the leader's append, or seen in the local log. */
  located(seq: number, index: number, term: number, data?: Uint8Array): void {
    const p = this.proposals.get(seq);
    if (!p) return;
    if (p.index === 0) this.unlocated--;
    if (p.index !== 0 && p.index !== index) this.byIndex.delete(p.index);
    p.data = data;
    p.index = index;
    p.term = term;
    p.deadline = Infinity;
    this.byIndex.set(index, p);
    if (index > this.maxIndex) this.maxIndex = index;
  }

  /** An entry was applied: settle the proposal it carries, and any proposal it overwrote. */
  applied(entry: Entry, envelope: Envelope | undefined, result: unknown): void {
    const atIndex = this.byIndex.get(entry.index);
    if (atIndex && !this.holds(atIndex, entry, envelope)) {
      this.settle(atIndex, overwritten(entry));
    } else if (atIndex && !envelope) {
      this.settle(atIndex, undefined, { index: entry.index, term: entry.term, result });
    }
    if (isFrom(envelope, this.self)) {
      const p = this.proposals.get(envelope.seq);
      if (p) this.settle(p, undefined, { index: entry.index, term: entry.term, result });
    }
  }

  /**
   * New entries were written to the log from `entries[0].index` on (a leader's append may replace
   * an uncommitted tail). A proposal located at or after that index that the write does not carry
   * any more was overwritten: it will never be applied.
   */
  logWritten(entries: readonly Entry[]): void {
    if (entries.length === 0 || this.byIndex.size === 0) return;
    const last = entries[entries.length - 1]!.index;
    // Proposals the write covers: still there, or replaced by another entry. O(entries) per write.
    for (const e of entries) {
      const p = this.byIndex.get(e.index);
      if (p && !this.holdsEntry(p, e)) this.settle(p, overwritten(e));
    }
    // Proposals past the end of the write are gone: a write ends before an index we track only when
    // it replaced the tail. `maxIndex` (an upper bound of the tracked indexes) keeps the scan rare.
    if (this.maxIndex <= last) return;
    let max = 0;
    for (const [index, p] of [...this.byIndex]) {
      if (index > last) {
        this.settle(p, new ProposalDroppedError(`the proposal at index ${index} was overwritten by a new leader (the log now ends at ${last}); it was not applied`));
      } else if (index > max) {
        max = index;
      }
    }
    this.maxIndex = max;
  }

  /**
   * A snapshot from the leader replaced the log up to `index`: entries there are applied as part of
   * the snapshot, so this node cannot tell whether its proposals at or below it made it.
   */
  snapshotInstalled(index: number): void {
    for (const p of [...this.proposals.values()]) {
      if (p.index === 0 || p.index <= index) {
        this.settle(p, new ProposalOutcomeUnknownError(`a snapshot at index ${index} from the leader covered the proposal; it may or may not have been applied`));
      }
    }
  }

  /** Whether `entry` is the proposal `p`, reading its envelope only when the bytes are not the ones appended here. */
  private holdsEntry(p: PendingProposal, entry: Entry): boolean {
    if (p.data !== undefined && entry.data === p.data) return true;
    return this.holds(p, entry, entry.type === EntryType.Normal ? unwrapProposal(entry.data) : undefined);
  }

  /** Whether `entry` (with its envelope) is the proposal `p`. */
  private holds(p: PendingProposal, entry: Entry, envelope: Envelope | undefined): boolean {
    // The very bytes this node appended (a leader's own entry, before and after it is written).
    if (p.data !== undefined && entry.data === p.data) return true;
    // Proposals in an envelope are recognised by it; others (membership changes) by their term.
    return envelope ? isFrom(envelope, this.self) && envelope.seq === p.seq : entry.term === p.term;
  }

  /** Rejects one proposal (and forgets it). */
  fail(seq: number, err: Error): void {
    const p = this.proposals.get(seq);
    if (p) this.settle(p, err);
  }

  addRead(key: string, deadline: number, resolve: PendingRead['resolve'], reject: PendingRead['reject'], cleanup: () => void): void {
    this.reads.set(key, { key, resolve, reject, index: 0, deadline, cleanup });
  }

  readConfirmed(key: string, index: number): void {
    const r = this.reads.get(key);
    if (r) {
      r.index = index;
      r.deadline = Infinity;
    }
  }

  failRead(key: string, err: Error): void {
    const r = this.reads.get(key);
    if (r) {
      this.reads.delete(key);
      r.cleanup();
      r.reject(err);
    }
  }

  /** Reads whose index the state machine has reached can be served now. */
  appliedUpTo(applied: number): void {
    for (const r of this.reads.values()) {
      if (r.index > 0 && r.index <= applied) {
        this.reads.delete(r.key);
        r.cleanup();
        r.resolve(r.index);
      }
    }
  }

  /**
   * The leader changed. Reads not yet confirmed were being confirmed by the old leadership and are
   * lost with it. Forwarded proposals not yet seen in the log get one more election timeout: the
   * new leader will replicate them here if the old one had appended them.
   */
  leaderChanged(now: number, grace: number, reason: () => RaftError): void {
    for (const r of [...this.reads.values()]) if (r.index === 0) this.failRead(r.key, reason());
    for (const p of this.proposals.values()) if (p.index === 0) p.deadline = Math.min(p.deadline, now + grace);
  }

  /** Gives up what passed its deadline unseen. */
  expire(now: number): void {
    for (const p of [...this.proposals.values()]) {
      if (p.deadline <= now) {
        this.settle(p, new ProposalOutcomeUnknownError('the forwarded proposal was not seen in this node\'s log in time (lost with a leader change or on the network, or this node is cut off); the leader may still have appended and applied it'));
      }
    }
    for (const r of [...this.reads.values()]) {
      if (r.deadline <= now) this.failRead(r.key, new ProposalDroppedError('the read barrier was not confirmed in time (no leader reachable)'));
    }
  }

  /** Rejects every read (a read changes nothing, so any error is safe to retry). */
  rejectReads(err: () => Error): void {
    for (const r of [...this.reads.values()]) this.failRead(r.key, err());
  }

  rejectAll(err: () => Error): void {
    for (const p of [...this.proposals.values()]) this.settle(p, err());
    for (const r of [...this.reads.values()]) this.failRead(r.key, err());
  }

  private settle(p: PendingProposal, err: Error | undefined, value?: ProposeResult): void {
    this.proposals.delete(p.seq);
    if (p.index === 0) this.unlocated--;
    if (p.index !== 0 && this.byIndex.get(p.index) === p) this.byIndex.delete(p.index);
    p.cleanup();
    if (err) return p.reject(err);
    this.onResolved?.((performance.now() - p.startedAt) / 1000);
    p.resolve(value!);
  }
}

function overwritten(entry: Entry): ProposalDroppedError {
  return new ProposalDroppedError(`the proposal at index ${entry.index} was overwritten by a new leader (term ${entry.term}); it was not applied`);
}
