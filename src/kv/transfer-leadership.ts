/**
 * `POST /members/:id/transfer-leadership`: the leader hands its role to voter `id` (Raft thesis
 * §3.10: it brings `id`'s log up to date, then tells it to start an election at once). Operators
 * use it before taking the leader's machine down, so clients see one short pause instead of an
 * election timeout of silence.
 *
 * The target is checked first, so a wrong request is a clear 4xx and nothing is attempted: a node
 * that is not a member is `UnknownMemberError` (404), a learner `MemberConflictError` (409: it
 * cannot vote, so it cannot win an election; promote it first). A transfer that does not finish
 * within the node's own deadline is `ProposalDroppedError` (503, retryable): the leader gives the
 * attempt up at its next election timeout (thesis §3.10), so sending it again is harmless.
 */
import type { RaftNode } from '../actors/raft-node.ts';
import { MemberConflictError, UnknownMemberError } from '../errors.ts';

export interface TransferAnswer {
  readonly ok: true;
  readonly action: 'transfer-leadership';
  readonly id: number;
  /** The leader once the call returned: `id`. */
  readonly leader: number;
  /** The term the new leader was elected in (as this node knows it). */
  readonly term: number;
  /** False when `id` already led: nothing was done. */
  readonly changed: boolean;
  readonly members: ReturnType<RaftNode<unknown>['members']>;
}

/** Hands leadership from `node` (the leader) to voter `id`; resolves once `id` leads. */
export async function transferLeadership<R>(node: RaftNode<R>, id: number, signal: AbortSignal): Promise<TransferAnswer> {
  const target = node.members().find((m) => m.id === id);
  if (!target) throw new UnknownMemberError(id, `node ${id} is not a member; leadership can only go to a voter`);
  if (target.role !== 'voter') throw new MemberConflictError(id, `node ${id} is a learner and cannot lead; promote it first`);
  const changed = id !== node.id;
  if (changed) await node.transferLeadership(id, { signal });
  return { ok: true, action: 'transfer-leadership', id, leader: id, term: node.status().term, changed, members: node.members() };
}
