/**
 * The checks a membership request passes before it is proposed (Raft §6, one server at a time),
 * and the member list as this node applied it. Clear, typed refusals: adding a voter twice, a
 * learner that is far behind, removing a stranger.
 */
import { ConfigError, MemberConflictError, ProposalDroppedError, UnknownMemberError } from '../errors.ts';
import { isValidAddress } from '../config.ts';
import type { RaftState } from '../raft/raft-state.ts';
import { type ConfChange, ConfChangeType } from '../raft/raftpb.ts';
import type { MemberInfo } from './node-options.ts';

/** The change that adds `id` at `address` (a learner with `learner`), or the reason it is refused. */
export function addNodeChange(raft: RaftState, id: number, address: string, learner: boolean, maxInflightMsgs: number): ConfChange {
  if (!Number.isSafeInteger(id) || id < 1) throw new ConfigError('nodeId', `must be a positive integer, got ${JSON.stringify(id)}`);
  if (!isValidAddress(address)) throw new ConfigError('address', `must be host:port, got ${JSON.stringify(address)}`);
  if (raft.tracker.voters.includes(id)) throw new MemberConflictError(id, `node ${id} is already a voter`);
  if (learner && raft.tracker.learners.includes(id)) throw new MemberConflictError(id, `node ${id} is already a learner`);
  if (!learner && raft.tracker.learners.includes(id)) {
    const tracked = raft.tracker.tracked().includes(id);
    const behind = raft.log.lastIndex() - raft.tracker.matchOf(id);
    if (!tracked || behind > Math.max(10, maxInflightMsgs)) {
      throw new ProposalDroppedError(`learner ${id} is ${tracked ? behind : 'an unknown number of'} entries behind; promote it once it has caught up`);
    }
  }
  const type = learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
  return { type, nodeId: id, context: new TextEncoder().encode(address) };
}

export function removeNodeChange(raft: RaftState, id: number): ConfChange {
  if (!raft.tracker.members().includes(id)) throw new UnknownMemberError(id);
  return { type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) };
}

/** Refuses to promote what is not a learner. */
export function checkPromotable(raft: RaftState, id: number): void {
  if (raft.tracker.voters.includes(id)) throw new MemberConflictError(id, `node ${id} is already a voter`);
  if (!raft.tracker.learners.includes(id)) throw new UnknownMemberError(id);
}

/** Every voter and learner with its address, and the leader's `match` for each when `leading`. */
export function memberList(raft: RaftState, leading: boolean, address: (id: number) => string | undefined): MemberInfo[] {
  const info = (id: number, role: 'voter' | 'learner'): MemberInfo => ({
    id,
    address: address(id) ?? null,
    role,
    leader: id === raft.lead,
    ...(leading ? { match: raft.tracker.matchOf(id) } : {}),
  });
  return [...raft.tracker.voters.map((id) => info(id, 'voter')), ...raft.tracker.learners.map((id) => info(id, 'learner'))];
}
