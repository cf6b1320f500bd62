/**
 * Waiting for a leadership transfer (thesis §3.10) to finish: the leader asked `target` to
 * campaign at once; the transfer is done when this node sees `target` lead, and given up after
 * two election timeouts (the leader resumes serving by then).
 */
import { ProposalDroppedError, StoppedError } from '../errors.ts';
import type { Clock } from '../io/clock.ts';

export interface TransferWatch {
  readonly clock: Clock;
  readonly nodeId: number;
  readonly target: number;
  /** Two election timeouts, in ms. */
  readonly timeoutMs: number;
  /** How often to look, in ms (a tick). */
  readonly pollMs: number;
  leader(): number;
  running(): boolean;
  readonly signal?: AbortSignal | undefined;
}

export async function awaitLeadershipTransfer(w: TransferWatch): Promise<void> {
  const deadline = w.clock.now() + w.timeoutMs;
  while (w.leader() !== w.target) {
    if (w.signal?.aborted) throw w.signal.reason;
    if (!w.running()) throw new StoppedError(`node ${w.nodeId}`);
    if (w.clock.now() > deadline) throw new ProposalDroppedError(`leadership transfer to node ${w.target} did not complete within an election timeout`);
    await new Promise<void>((r) => w.clock.setTimer(w.pollMs, r));
  }
}
