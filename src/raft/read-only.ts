/**
 * Linearizable reads without writing to the log: the ReadIndex protocol of the Raft thesis
 * (§6.4), as etcd's ReadOnlySafe does it, with heartbeat rounds shared between requests.
 *
 * 1. The leader notes its commit index as the read index. It must have committed an entry of its
 *    own term first (its commit index is only then known to be the cluster's latest), so earlier
 *    requests wait for that.
 * 2. It sends a heartbeat round carrying a request's context; a majority of acks proves it was
 *    still the leader when the round was sent, so for every request that arrived before it (no
 *    newer leader could have committed anything those requests must see).
 * 3. The reader waits until its state machine has applied up to the read index, then reads.
 * Followers forward the request to the leader (MsgReadIndex) and get the index back
 * (MsgReadIndexResp), then wait for their own apply to reach it.
 *
 * Sharing rounds: a round proves leadership for every request that arrived before it was sent, so
 * one round serves many requests. A request never counts acks of a round that left before it
 * arrived: such acks may predate a newer leader's commit (step 2 must follow step 1). So a request
 * either joins the latest round while that round has not left the node yet (the round is then
 * relabelled with the newest request's context: see RaftState.startRead), or waits for the next
 * round, which starts when the round in flight is confirmed or with the next periodic heartbeat.
 */
import { majority } from './quorum.ts';

/** A read the host may serve once its applied index reaches `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}

interface PendingRead {
  readonly key: string;
  readonly context: Uint8Array;
  /** Who asked: this node or a follower that forwarded the request. */
  readonly from: number;
  readonly index: number;
  readonly acks: Set<number>;
}

export function contextKey(context: Uint8Array): string {
  return Buffer.from(context.buffer, context.byteOffset, context.byteLength).toString('base64');
}

export class ReadOnly {
  private pending: PendingRead[] = [];
  /** Key of the request whose context the latest heartbeat round carries, if any round was started. */
  private roundKey: string | undefined = undefined;

  /** Queues a read at `index`; the leader's own ack counts at once. It waits for a round. */
  add(selfId: number, from: number, index: number, context: Uint8Array): void {
    this.pending.push({ key: contextKey(context), context, from, index, acks: new Set([selfId]) });
  }

  /** Whether the latest round started is still waiting for its quorum. */
  roundInFlight(): boolean {
    const key = this.roundKey;
    return key !== undefined && this.pending.some((r) => r.key === key);
  }

  /** Whether some request arrived after the latest round was started (it needs a round of its own). */
  hasWaiting(): boolean {
    const last = this.pending[this.pending.length - 1];
    return last !== undefined && last.key !== this.roundKey;
  }

  /**
   * Makes the newest request the label of the next round and returns its context: the round's
   * acks confirm it and every request queued before it. Undefined when nothing waits.
   */
  startRound(): Uint8Array | undefined {
    if (!this.hasWaiting()) return undefined;
    const last = this.pending[this.pending.length - 1]!;
    this.roundKey = last.key;
    return last.context;
  }

  /**
   * Records a heartbeat ack carrying `context`. When a majority of `voters` acked a request, it and
   * every request queued before it are confirmed (the later round proves the earlier ones too).
   */
  ack(from: number, context: Uint8Array, voters: readonly number[]): PendingRead[] {
    const key = contextKey(context);
    const at = this.pending.findIndex((r) => r.key === key);
    if (at < 0) return [];
    const req = this.pending[at]!;
    if (voters.includes(from)) req.acks.add(from);
    let acked = 0;
    for (const v of voters) if (req.acks.has(v)) acked++;
    if (acked < majority(voters.length)) return [];
    return this.pending.splice(0, at + 1);
  }

  clear(): void {
    this.pending = [];
    this.roundKey = undefined;
  }

  get size(): number {
    return this.pending.length;
  }
}
