/**
 * Linearizable reads without writing to the log: the ReadIndex protocol of the Raft thesis
 * (§6.4), as etcd's ReadOnlySafe does it.
 *
 * 1. The leader notes its commit index as the read index. It must have committed an entry of its
 *    own term first (its commit index is only then known to be the cluster's latest), so earlier
 *    requests wait for that.
 * 2. It sends a heartbeat round carrying the request's context; a majority of acks proves it was
 *    still the leader when the request arrived (no newer leader could have committed anything).
 * 3. The reader waits until its state machine has applied up to the read index, then reads.
 * Followers forward the request to the leader (MsgReadIndex) and get the index back
 * (MsgReadIndexResp), then wait for their own apply to reach it.
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

  /** Starts confirming a read at `index`; the leader's own ack counts at once. */
  add(selfId: number, from: number, index: number, context: Uint8Array): void {
    this.pending.push({ key: contextKey(context), context, from, index, acks: new Set([selfId]) });
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
  }

  get size(): number {
    return this.pending.length;
  }
}
