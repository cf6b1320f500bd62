/**
 * What a leader knows about one follower's log (Raft Figure 2 "Volatile state on leaders":
 * nextIndex and matchIndex), plus the flow control etcd adds (etcd's tracker.Progress).
 *
 * The peer's replicator actor (src/machines/replicator.machine.ts) creates it, is its only writer
 * and tells the leader `match` by event. Which flow-control mode the peer is in (probe, replicate,
 * snapshot) is the replicator's statechart state, never a field here: each method below belongs to
 * one mode and the statechart calls the one of the state it is in.
 */
import { Inflights } from './inflights.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  /** In the snapshot mode: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** In probe: an append is outstanding and the next waits for its answer or a heartbeat ack. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  /** Leaves whatever mode the progress was in and clears flow control. */
  private resetFlowControl(): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  /**
   * Probe after replicate: start again right after `match`. After a snapshot: past the snapshot
   * too, if it was sent (the follower reports its log in the answer to the next append).
   */
  becomeProbe(): void {
    const pending = this.pendingSnapshot;
    this.resetFlowControl();
    this.next = Math.max(this.match + 1, pending + 1);
  }

  /** Replicate: pipeline appends right after `match`. */
  becomeReplicate(): void {
    this.resetFlowControl();
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetFlowControl();
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acked up to `n`; returns whether that moved `match`. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Replicate: an append ending at `last` (with `bytes` of data) was just sent. */
  sentPipelined(last: number, count: number, bytes: number): void {
    if (count === 0) return;
    this.next = last + 1;
    this.inflights.add(last, bytes);
  }

  /** Probe: an append was just sent; the next waits for its answer. */
  sentProbe(): void {
    this.probeSent = true;
  }

  /** Replicate: a rejection counts only if it rejects an entry past `match` (older ones are stale). */
  isCurrentRejectionPipelined(rejected: number): boolean {
    return rejected > this.match;
  }

  /** Probe: only the answer to the outstanding append counts. */
  isCurrentRejectionProbing(rejected: number): boolean {
    return this.next - 1 === rejected;
  }

  /**
   * Probe: the follower rejected the append at `next - 1` and hinted that its log can match at best
   * at `matchHint`: move `next` back there (never to or below `match`) and send again.
   */
  backtrackProbing(rejected: number, matchHint: number): void {
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.probeSent = false;
  }

  /** Probe: whether the next append must wait for the answer to the last (etcd's IsPaused in probe). */
  probePaused(): boolean {
    return this.probeSent;
  }

  /** Replicate: whether the inflight window is full (etcd's IsPaused in replicate). */
  windowFull(): boolean {
    return this.inflights.full();
  }
}
