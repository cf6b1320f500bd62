/**
 * The membership and what the node tracks about each member: who votes, who only learns, the
 * votes of the current election, and — while leading — how far each member's log is known to
 * match (`match`) and who was heard from in this CheckQuorum round (etcd's ProgressTracker).
 *
 * The leader does not own its followers' Progress: each follower's replicator does
 * (src/machines/replicator.machine.ts) and reports `match` by event. What is kept here is only the
 * leader's copy of those reports, enough to count a quorum (Raft §5.3) and to check one (thesis §6.2).
 */
import type { ConfState } from './raftpb.ts';
import { committedIndex, majority, voteResult, type VoteResult } from './quorum.ts';

export class ProgressTracker {
  voters: number[];
  learners: number[];
  readonly votes = new Map<number, boolean>();
  /** Leader only: the highest index each member is known to hold, as its replicator reported it. */
  private readonly matches = new Map<number, number>();
  /** Leader only: members heard from since the last CheckQuorum round. */
  private readonly active = new Set<number>();

  constructor(confState: ConfState) {
    this.voters = [...confState.voters].sort((a, b) => a - b);
    this.learners = [...confState.learners].sort((a, b) => a - b);
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  setConfState(cs: ConfState): void {
    this.voters = [...cs.voters].sort((a, b) => a - b);
    this.learners = [...cs.learners].sort((a, b) => a - b);
  }

  isVoter(id: number): boolean {
    return this.voters.includes(id);
  }

  isMember(id: number): boolean {
    return this.voters.includes(id) || this.learners.includes(id);
  }

  /** Every member: voters then learners. */
  members(): number[] {
    return [...this.voters, ...this.learners];
  }

  /**
   * A new leader knows nothing of its followers' logs (matchIndex starts at 0, Raft Figure 2) and
   * holds its own log up to `lastIndex`.
   */
  resetMatches(lastIndex: number, selfId: number): void {
    this.matches.clear();
    this.active.clear();
    for (const id of this.members()) this.matches.set(id, id === selfId ? lastIndex : 0);
    this.active.add(selfId);
  }

  /** After a membership change: track new members from 0 (the leader itself from `selfLast`), forget removed ones. */
  syncMembers(selfId: number, selfLast: number): void {
    for (const id of this.members()) if (!this.matches.has(id)) this.matches.set(id, id === selfId ? selfLast : 0);
    for (const id of [...this.matches.keys()]) {
      if (!this.isMember(id)) {
        this.matches.delete(id);
        this.active.delete(id);
      }
    }
  }

  /** A member holds the log up to `index` (a replicator's report, or the leader's own durable append). Returns whether that was news. */
  raiseMatch(id: number, index: number): boolean {
    const m = this.matches.get(id);
    if (m === undefined || index <= m) return false;
    this.matches.set(id, index);
    return true;
  }

  /** The leader's view of a member's match (0 when unknown). */
  matchOf(id: number): number {
    return this.matches.get(id) ?? 0;
  }

  /** Members tracked by the leader (for status pages). */
  tracked(): number[] {
    return [...this.matches.keys()];
  }

  /** The highest index a majority of voters have (Raft §5.3). */
  committed(): number {
    return committedIndex(this.voters, (id) => this.matches.get(id) ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: number, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }

  /** A member answered the leader (an append, heartbeat or snapshot response). */
  markActive(id: number): void {
    if (this.matches.has(id)) this.active.add(id);
  }

  recentlyActive(id: number): boolean {
    return this.active.has(id);
  }

  /** A new CheckQuorum round: nobody but the leader has been heard from yet. */
  startQuorumRound(selfId: number): void {
    this.active.clear();
    this.active.add(selfId);
  }

  /**
   * CheckQuorum (thesis §6.2): whether a majority of voters were heard from since the last round.
   * The leader counts itself when it is a voter.
   */
  quorumActive(selfId: number): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === selfId || this.active.has(id)) active++;
    }
    return this.voters.length > 0 && active >= majority(this.voters.length);
  }
}
