/**
 * The safety properties of Raft (Figure 3 of the paper), checked incrementally after every step
 * of a simulation, plus the persistence rules of DESIGN.md. Each check costs O(what changed), so
 * thousands of seeded runs stay fast.
 *
 * - Election Safety: at most one leader per term.
 * - Log Matching: two logs with an entry of the same index and term agree on it and on everything
 *   before it. Checked by induction: every (index, term) ever written must always have the same
 *   data and the same term at index-1.
 * - Leader Completeness: a leader's log holds every entry committed before its term.
 * - State Machine Safety: no two nodes apply different entries at one index.
 * - Monotonicity: term, commit and applied never go backwards on a running node; the durable term
 *   never goes backwards and the durable vote never changes within a term.
 * - Persist before respond: a granted vote and an append ack leave only once durable.
 */
import type { Entry, HardState, Message } from '../raft/raftpb.ts';
import { MessageType } from '../raft/raftpb.ts';
import type { RaftLog } from '../raft/raft-log.ts';
import type { MemoryStorage } from '../io/memory-storage.ts';

export class SafetyViolation extends Error {
  constructor(
    readonly rule: string,
    detail: string,
    readonly seed: number,
    readonly step: number,
  ) {
    super(`safety violation: ${rule}: ${detail} (seed ${seed}, step ${step}; replay with this seed)`);
    this.name = 'SafetyViolation';
  }
}

interface EntryFacts {
  readonly prevTerm: number;
  readonly data: Uint8Array;
}

interface NodeMarks {
  term: number;
  commit: number;
  applied: number;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, number>();
  /** index → term → facts of that entry. */
  private readonly entries = new Map<number, Map<number, EntryFacts>>();
  /** index → the entry applied there (by whichever node applied it first). */
  private readonly appliedAt = new Map<number, { term: number; data: Uint8Array }>();
  /** index → term of the entry committed there. */
  private readonly committedAt = new Map<number, number>();
  private maxCommitted = 0;
  private readonly marks = new Map<number, NodeMarks>();
  private readonly durable = new Map<number, HardState>();
  violations = 0;

  constructor(
    readonly seed: number,
    private readonly stepOf: () => number,
  ) {}

  private fail(rule: string, detail: string): never {
    this.violations++;
    throw new SafetyViolation(rule, detail, this.seed, this.stepOf());
  }

  /** Election Safety, and Leader Completeness at the moment a node becomes leader. */
  leaderElected(node: number, term: number, log: RaftLog): void {
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node) {
      this.fail('election safety', `nodes ${other} and ${node} are both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, node);
    const c = this.maxCommitted;
    if (c > 0 && c >= log.firstIndex() - 1) {
      const t = log.termOrZero(c);
      if (t !== this.committedAt.get(c)) {
        this.fail(
          'leader completeness',
          `node ${node} leads term ${term} but its log has term ${t} at committed index ${c} (committed term ${this.committedAt.get(c)})`,
        );
      }
    }
  }

  /** Log Matching: every entry written to a log, with the term before it. */
  entriesWritten(node: number, ents: readonly Entry[], log: RaftLog): void {
    for (const e of ents) {
      const prevTerm = e.index - 1 >= log.firstIndex() - 1 ? log.termOrZero(e.index - 1) : -1;
      let byTerm = this.entries.get(e.index);
      if (!byTerm) {
        byTerm = new Map();
        this.entries.set(e.index, byTerm);
      }
      const seen = byTerm.get(e.term);
      if (!seen) {
        byTerm.set(e.term, { prevTerm, data: e.data });
        continue;
      }
      if (prevTerm !== -1 && seen.prevTerm !== -1 && seen.prevTerm !== prevTerm) {
        this.fail('log matching', `node ${node}: entry (${e.index}, ${e.term}) follows term ${prevTerm}, elsewhere term ${seen.prevTerm}`);
      }
      if (!bytesEqual(seen.data, e.data)) {
        this.fail('log matching', `node ${node}: entry (${e.index}, ${e.term}) has different data than on another node`);
      }
    }
  }

  /** A node's commit index: committed entries never change term. */
  committed(node: number, commit: number, log: RaftLog): void {
    if (commit === 0 || commit < log.firstIndex() - 1) return;
    const t = log.termOrZero(commit);
    const known = this.committedAt.get(commit);
    if (known !== undefined && known !== t) {
      this.fail('state machine safety', `node ${node} committed term ${t} at index ${commit}, another node term ${known}`);
    }
    this.committedAt.set(commit, t);
    if (commit > this.maxCommitted) this.maxCommitted = commit;
  }

  /** Where each running node's next applied entry must be: right after the last one (or its snapshot). */
  private readonly nextApply = new Map<number, number>();

  /** A node's state machine starts (again) from a snapshot at `index` (0: empty). */
  stateRestored(node: number, index: number): void {
    this.nextApply.set(node, index + 1);
  }

  /** State Machine Safety: the same entry is applied at an index everywhere; each node applies in order, exactly once. */
  applied(node: number, ents: readonly Entry[]): void {
    for (const e of ents) {
      const expected = this.nextApply.get(node);
      if (expected !== undefined && e.index !== expected) {
        this.fail('apply order', `node ${node} applied index ${e.index} where ${expected} was next`);
      }
      this.nextApply.set(node, e.index + 1);
      const seen = this.appliedAt.get(e.index);
      if (!seen) {
        this.appliedAt.set(e.index, { term: e.term, data: e.data });
      } else if (seen.term !== e.term || !bytesEqual(seen.data, e.data)) {
        this.fail('state machine safety', `node ${node} applied (${e.index}, ${e.term}) where another node applied term ${seen.term}`);
      }
    }
  }

  /** Monotonicity within one run of a node. */
  progress(node: number, term: number, commit: number, applied: number): void {
    const m = this.marks.get(node);
    if (m) {
      if (term < m.term) this.fail('monotonic term', `node ${node} went from term ${m.term} to ${term}`);
      if (commit < m.commit) this.fail('monotonic commit', `node ${node} went from commit ${m.commit} to ${commit}`);
      if (applied < m.applied) this.fail('monotonic applied', `node ${node} went from applied ${m.applied} to ${applied}`);
      m.term = term;
      m.commit = commit;
      m.applied = applied;
    } else {
      this.marks.set(node, { term, commit, applied });
    }
  }

  /** A node restarted: its in-memory marks start again from what it reloaded. */
  restarted(node: number): void {
    this.marks.delete(node);
  }

  /** A node's disk was wiped (amnesia fault): its next durable state starts from nothing. */
  wiped(node: number): void {
    this.durable.delete(node);
    this.marks.delete(node);
  }

  /** The durable hard state after a write: term never decreases, the vote of a term never changes. */
  durableHardState(node: number, hs: HardState): void {
    const prev = this.durable.get(node);
    if (prev) {
      if (hs.term < prev.term) this.fail('durable term', `node ${node} persisted term ${hs.term} after term ${prev.term}`);
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        this.fail('one vote per term', `node ${node} changed its durable vote in term ${hs.term} from ${prev.vote} to ${hs.vote}`);
      }
    }
    this.durable.set(node, hs);
  }

  /** Persist before respond (Raft Figure 2): checked as a message leaves. */
  messageSent(m: Message, disk: MemoryStorage, log: RaftLog): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      const hs = disk.hardStateSync();
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        this.fail('persist before vote', `node ${m.from} granted its term-${m.term} vote to ${m.to} before persisting it (disk: term ${hs.term}, vote ${hs.vote})`);
      }
    } else if (m.type === MessageType.MsgAppResp && !m.reject && m.index > 0) {
      const last = disk.lastIndexSync();
      if (last < m.index) {
        this.fail('persist before ack', `node ${m.from} acked index ${m.index} with only ${last} on disk`);
      }
      // Where the node's log is already durable (below its unstable tail) it must agree with the
      // disk. Above it, a newer leader's entries may be replacing the acked ones in memory: the ack
      // was true when it was made, which is all Raft asks (a delayed ack is just a slow message).
      const first = disk.firstIndexSync();
      if (m.index >= first && m.index >= log.firstIndex() && m.index < log.unstable.offset && disk.termSync(m.index) !== log.termOrZero(m.index)) {
        this.fail('persist before ack', `node ${m.from} acked index ${m.index} whose durable term differs from its log`);
      }
    }
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
