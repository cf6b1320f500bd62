/**
 * The safety properties of Raft (Figure 3 of the paper), checked incrementally after every step
 * of a simulation, plus the persistence rules of DESIGN.md. Most checks cost O(what changed); an
 * election and a node's first ack in a term cost O(log length). Thousands of seeded runs stay fast.
 *
 * - Election Safety: at most one leader per term.
 * - Log Matching: two logs with an entry of the same index and term agree on it and on everything
 *   before it. Checked by induction: every (index, term) ever written must always have the same
 *   data and the same term at index-1.
 * - Leader Completeness: a leader's log holds every entry committed before its term.
 * - State Machine Safety: no two nodes apply different entries at one index.
 * - Monotonicity: term, commit and applied never go backwards on a running node; the durable term
 *   never goes backwards and the durable vote never changes within a term.
 * - Persist before respond (Figure 2): a granted vote leaves only once that very term and vote
 *   are durable; an append ack for index i in term T leaves only once the disk holds, at every
 *   index up to i, the entry the leader of term T has there (not merely *some* entry at i: old
 *   entries that the append overwrites would otherwise pass). The same holds for a node's own vote
 *   and own ack: a candidate leads only once its vote for itself is durable, and a leader counts
 *   itself towards a commit only up to what its own disk holds.
 * - Apply order: each node applies every index exactly once, in order, from its snapshot on.
 * - Snapshot contents: a snapshot taken, installed or restored holds the state the applied history
 *   gives at its index (checked for DigestStateMachine snapshots against the checker's own fold of
 *   the history).
 * - Proposal at its index: a proposal the leader reported appended at (index, term) is, wherever
 *   (index, term) is applied, exactly the proposed command.
 */
import type { Entry, HardState, Message } from '../raft/raftpb.ts';
import { EntryType, MessageType } from '../raft/raftpb.ts';
import type { RaftLog } from '../raft/raft-log.ts';
import type { MemoryStorage } from '../io/memory-storage.ts';
import { emptyDigest, foldDigest } from './digest-state-machine.ts';

export class SafetyViolation extends Error {
  constructor(
    readonly rule: string,
    detail: string,
    readonly seed: number,
    readonly step: number,
  ) {
    super(`safety violation: ${rule}: ${detail} (seed ${seed}, step ${step})`);
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
  /** term → the terms of its leader's log when it was elected, from index `base` on. */
  private readonly electionLogs = new Map<number, { base: number; terms: number[] }>();
  /** node → the term and index up to which its acks were verified against its disk. */
  private readonly ackVerified = new Map<number, { term: number; index: number }>();
  /** node → term → the candidate it granted its vote to (from the responses that left). */
  private readonly votesGranted = new Map<number, Map<number, number>>();
  /** index → the digest of the applied history up to it (DigestStateMachine's fold). */
  private readonly historyDigest = new Map<number, number>([[0, emptyDigest]]);
  /** index → term → data of every proposal reported appended there. */
  private readonly proposals = new Map<number, Map<number, Uint8Array>>();
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
  leaderElected(node: number, term: number, log: RaftLog, disk?: MemoryStorage, voters?: readonly number[]): void {
    if (disk) {
      // The candidate's own vote counts only once durable (Figure 2), as any other vote. A
      // candidate that a majority of the OTHER voters granted durably needs no vote of its own
      // (etcd counts its self-vote only after the write too, and may win before it), so that
      // election is justified whatever its own disk holds.
      const hs = disk.hardStateSync();
      if ((hs.term !== term || hs.vote !== node) && !(voters && this.othersGranted(node, term, voters) >= Math.floor(voters.length / 2) + 1)) {
        this.fail('persist before vote', `node ${node} leads term ${term} before its vote for itself is durable (disk: term ${hs.term}, vote ${hs.vote})`);
      }
    }
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node) {
      this.fail('election safety', `nodes ${other} and ${node} are both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, node);
    if (other === undefined) {
      // The leader's log never loses an entry during its term; its entries of `term` are recorded
      // as written. Keep the rest as it is now, to judge the acks it receives.
      const base = log.firstIndex() - 1;
      const last = log.lastIndex();
      const terms = new Array<number>(last - base + 1);
      for (let i = base; i <= last; i++) terms[i - base] = log.termOrZero(i);
      this.electionLogs.set(term, { base, terms });
    }
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

  /**
   * State Machine Safety, checked on each entry as the host hands it to the state machine: the
   * same entry is applied at an index everywhere; each node applies in order, exactly once; a
   * reported proposal is what gets applied at its (index, term).
   */
  applied(node: number, e: Entry): void {
    const expected = this.nextApply.get(node);
    if (expected !== undefined && e.index !== expected) {
      if (e.index < expected) this.fail('apply exactly once', `node ${node} applied index ${e.index} again (next was ${expected})`);
      this.fail('apply order', `node ${node} applied index ${e.index} where ${expected} was next`);
    }
    this.nextApply.set(node, e.index + 1);
    const seen = this.appliedAt.get(e.index);
    if (!seen) {
      this.appliedAt.set(e.index, { term: e.term, data: e.data });
      const before = this.historyDigest.get(e.index - 1);
      if (before !== undefined) {
        // The host loop hands the state machine every entry but membership changes and empty no-ops.
        this.historyDigest.set(e.index, e.type === EntryType.ConfChange || e.data.byteLength === 0 ? before : foldDigest(before, e.index, e.data));
      }
    } else if (seen.term !== e.term || !bytesEqual(seen.data, e.data)) {
      this.fail('state machine safety', `node ${node} applied (${e.index}, ${e.term}) where another node applied term ${seen.term}`);
    }
    const proposed = this.proposals.get(e.index)?.get(e.term);
    if (proposed && !bytesEqual(proposed, e.data)) {
      this.fail('proposal at its index', `node ${node} applied (${e.index}, ${e.term}) but a proposal reported appended there holds other data`);
    }
  }

  /** A proposal was reported appended at (index, term): wherever that entry is applied, it is this command. */
  proposed(index: number, term: number, data: Uint8Array): void {
    let byTerm = this.proposals.get(index);
    if (!byTerm) {
      byTerm = new Map();
      this.proposals.set(index, byTerm);
    }
    byTerm.set(term, data);
    const seen = this.appliedAt.get(index);
    if (seen && seen.term === term && !bytesEqual(seen.data, data)) {
      this.fail('proposal at its index', `a proposal reported appended at (${index}, ${term}) differs from the entry applied there`);
    }
  }

  /**
   * A snapshot's state, as a DigestStateMachine digest, must be the digest of the applied history
   * up to its index. `how` says where it came from: taken locally, installed from the leader, or
   * restored from disk at a restart.
   */
  snapshotState(node: number, index: number, digest: number, how: 'taken' | 'installed' | 'restored'): void {
    const expected = this.historyDigest.get(index);
    if (expected !== undefined && expected !== digest) {
      this.fail('snapshot contents', `node ${node} ${how} a snapshot at index ${index} whose state (digest ${digest}) differs from the applied history (digest ${expected})`);
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
  messageSent(m: Message, disk: MemoryStorage): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      this.voteSent(m, disk);
    } else if (m.type === MessageType.MsgAppResp && !m.reject && m.index > 0) {
      this.appendAckSent(m, disk);
    }
  }

  /** The vote leaves only once exactly that term and vote are on disk; a node grants one vote per term, across restarts. */
  /** How many voters other than `node` sent it a (durable) granted vote in `term`. */
  private othersGranted(node: number, term: number, voters: readonly number[]): number {
    let n = 0;
    for (const v of voters) if (v !== node && this.votesGranted.get(v)?.get(term) === node) n++;
    return n;
  }

  private voteSent(m: Message, disk: MemoryStorage): void {
    const hs = disk.hardStateSync();
    // A later durable term also keeps the promise: the node can never vote in m.term again. (Group
    // commit merges a vote's write with a later term's into one write that holds only the latter.)
    if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
      this.fail('persist before vote', `node ${m.from} granted its term-${m.term} vote to ${m.to} before persisting it (disk: term ${hs.term}, vote ${hs.vote})`);
    }
    let byTerm = this.votesGranted.get(m.from);
    if (!byTerm) {
      byTerm = new Map();
      this.votesGranted.set(m.from, byTerm);
    }
    const earlier = byTerm.get(m.term);
    if (earlier !== undefined && earlier !== m.to) {
      this.fail('one vote per term', `node ${m.from} granted its term-${m.term} vote to ${earlier} and then to ${m.to}`);
    }
    byTerm.set(m.term, m.to);
  }

  /**
   * An ack of index i in term T says: my log matches the leader of T up to i, and it is durable.
   * So at every index up to i the disk must hold the term the leader of T has there. Checked from
   * where the last ack of the same term was verified (a node's acks within a term only grow its
   * matching prefix), or from the start of the disk for the first ack of a term.
   */
  private appendAckSent(m: Message, disk: MemoryStorage): void {
    const node = m.from;
    const last = disk.lastIndexSync();
    if (last < m.index) {
      this.fail('persist before ack', `node ${node} acked index ${m.index} with only ${last} on disk`);
    }
    const snapIndex = disk.snapshotSync().metadata.index;
    const prev = this.ackVerified.get(node);
    let lo = prev && prev.term === m.term && prev.index <= m.index ? prev.index + 1 : disk.firstIndexSync() - 1;
    if (lo < snapIndex) lo = snapIndex;
    // An ack that leaves after a snapshot reached the disk may lie below it: the snapshot holds
    // committed entries only, which match every later leader's log (leader completeness).
    if (lo > m.index && m.index >= snapIndex) lo = m.index;
    for (let i = lo; i <= m.index; i++) {
      const want = this.leaderTermAt(m.term, i);
      if (want === undefined) continue;
      const got = disk.termSync(i);
      if (got !== want) {
        this.fail(
          'persist before ack',
          `node ${node} acked index ${m.index} in term ${m.term}, but its disk holds term ${got} at index ${i} where the leader of term ${m.term} has term ${want}`,
        );
      }
    }
    if (!prev || prev.term !== m.term || prev.index < m.index) this.ackVerified.set(node, { term: m.term, index: m.index });
  }

  /**
   * A leader counts itself towards a commit only for entries on its own disk (the held ack to
   * self): its own match index must be durable, with the term its log has there.
   */
  leaderSelfMatch(node: number, term: number, match: number, disk: MemoryStorage): void {
    if (match === 0) return;
    const last = disk.lastIndexSync();
    if (match > last) this.fail('persist before ack', `leader ${node} of term ${term} counts itself at index ${match} with only ${last} on disk`);
    if (match < disk.snapshotSync().metadata.index) return;
    const want = this.leaderTermAt(term, match);
    const got = disk.termSync(match);
    if (want !== undefined && got !== want) {
      this.fail('persist before ack', `leader ${node} of term ${term} counts itself at index ${match}, but its disk holds term ${got} there, not ${want}`);
    }
  }

  /** The term of the entry at `index` in the log of the leader of `term`, when the checker knows it. */
  private leaderTermAt(term: number, index: number): number | undefined {
    // Only the leader of a term creates entries of that term, and never removes them in its term.
    if (this.entries.get(index)?.has(term)) return term;
    const el = this.electionLogs.get(term);
    if (el && index >= el.base && index - el.base < el.terms.length) return el.terms[index - el.base];
    // Compacted away in the leader's log: committed, so the committed term.
    if (el && index < el.base) return this.committedAt.get(index);
    return undefined;
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
