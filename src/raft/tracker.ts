/**
 * The membership and what the node tracks about each member: who votes, who only learns, the
 * leader's Progress per peer, and the votes of the current election (etcd's ProgressTracker).
 */
import type { ConfState } from './raftpb.ts';
import { Progress } from './progress.ts';
import { committedIndex, majority, voteResult, type VoteResult } from './quorum.ts';

export class ProgressTracker {
  voters: number[];
  learners: number[];
  readonly progress = new Map<number, Progress>();
  readonly votes = new Map<number, boolean>();

  constructor(
    confState: ConfState,
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {
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

  /** Every member: voters then learners. */
  members(): number[] {
    return [...this.voters, ...this.learners];
  }

  /** Fresh progress for every member, as a new leader initializes nextIndex (Raft Figure 2). */
  resetProgress(lastIndex: number, selfId: number): void {
    this.progress.clear();
    for (const id of this.members()) {
      const pr = new Progress(lastIndex + 1, this.maxInflight, this.maxInflightBytes, this.learners.includes(id));
      if (id === selfId) {
        // The leader's own log is always in step with itself.
        pr.match = lastIndex;
        pr.recentActive = true;
        pr.state = 'replicate';
      }
      this.progress.set(id, pr);
    }
  }

  /** The highest index a majority of voters have (Raft §5.3). */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
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

  /**
   * CheckQuorum (thesis §6.2): whether a majority of voters were heard from since the last round.
   * The leader counts itself when it is a voter.
   */
  quorumActive(selfId: number): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === selfId || this.progress.get(id)?.recentActive) active++;
    }
    return this.voters.length > 0 && active >= majority(this.voters.length);
  }
}
