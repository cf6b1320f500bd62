/**
 * The role statechart: the election rules of Raft (§5.1, §5.2, §5.4.1), PreVote (thesis §9.6)
 * and CheckQuorum (thesis §6.2), written as states, guards and transitions. Read it top to bottom
 * as the specification; the bodies of the actions live in src/raft/raft-state.ts.
 *
 *   follower ──timeout──▶ preCandidate ──majority would vote──▶ candidate ──majority voted──▶ leader
 *      ▲                       │ lost                               │ lost / timeout (retry)        │
 *      └───────────────────────┴──── higher term, or a leader's AppendEntries at our term ◀─────────┘
 *
 * Every network message enters as MESSAGE. The root applies the term rules that hold in every role
 * (step down on a higher term, reject a stale one, ignore disruptive vote requests) and then raises
 * the message again as the event that names its RPC (APPEND_ENTRIES, REQUEST_VOTE, ...), which the
 * role states handle. Time enters only as TICK; nothing here touches a timer, a socket or a disk.
 */
import { type ActorRefFrom, and, assign, emit, enqueueActions, not, raise, setup } from 'xstate';
import { type ConfChange, EntryType, type Message, MessageType } from '../raft/raftpb.ts';
import { MAX_RAFT_NUMBER } from '../raft/bounds.ts';
import { type ProposalOutcome, type ProposedEntry, type RaftState, isTransferCampaign } from '../raft/raft-state.ts';
import type { CircuitState } from '../raft/circuit-breaker.ts';
import { type ReplicatorReport, replicatorMachine } from './replicator.machine.ts';

export interface RoleInput {
  readonly raft: RaftState;
}

export interface RoleContext {
  readonly raft: RaftState;
  /** The leader's replicator actors, one per peer; empty in other roles. */
  readonly replicators: ReadonlyMap<number, ActorRefFrom<typeof replicatorMachine>>;
}

/** Events from the node actor. */
export type RoleInputEvent =
  | { type: 'TICK' }
  | { type: 'MESSAGE'; msg: Message }
  | { type: 'PROPOSE'; entries: readonly ProposedEntry[] }
  | { type: 'CAMPAIGN' }
  /** A linearizable read barrier (thesis §6.4); `context` identifies the request. */
  | { type: 'READ_INDEX'; context: Uint8Array }
  /** A committed membership change was applied by the host: it takes effect now (thesis §4.1). */
  | { type: 'APPLY_CONF_CHANGE'; cc: ConfChange }
  /** Hand leadership to another voter (thesis §3.10). */
  | { type: 'TRANSFER_LEADERSHIP'; to: number }
  /** The transport (re)connected to a peer: its replicator may stop backing off. */
  | { type: 'PEER_REACHABLE'; peer: number }
  /** Internal: the tick, passed on to the replicators once the leader handled it. */
  | { type: 'REPLICATOR_TICK' };

/**
 * What the machine tells its host, as emitted events (`actor.on(type, ...)`): the result of each
 * PROPOSE, READ_INDEX and TRANSFER_LEADERSHIP, and each change of a peer's circuit breaker.
 */
export type RoleEmitted =
  | { type: 'proposal'; outcome: ProposalOutcome }
  | { type: 'readRefused'; reason: string }
  | { type: 'transferRefused'; reason: string }
  | { type: 'circuit'; peer: number; state: CircuitState };

/** A message, raised again under the name of its RPC once the term rules have run. */
export type RpcEvent =
  | { type: 'APPEND_ENTRIES'; msg: Message }
  | { type: 'APPEND_RESPONSE'; msg: Message }
  | { type: 'HEARTBEAT'; msg: Message }
  | { type: 'HEARTBEAT_RESPONSE'; msg: Message }
  | { type: 'INSTALL_SNAPSHOT'; msg: Message }
  | { type: 'REQUEST_VOTE'; msg: Message }
  | { type: 'REQUEST_PRE_VOTE'; msg: Message }
  | { type: 'VOTE_RESPONSE'; msg: Message }
  | { type: 'PRE_VOTE_RESPONSE'; msg: Message }
  | { type: 'FORWARDED_PROPOSAL'; msg: Message }
  | { type: 'TIMEOUT_NOW'; msg: Message }
  | { type: 'UNREACHABLE'; msg: Message }
  | { type: 'SNAPSHOT_STATUS'; msg: Message }
  | { type: 'READ_INDEX_REQUEST'; msg: Message }
  | { type: 'READ_INDEX_RESPONSE'; msg: Message }
  | { type: 'SNAPSHOT_ACK'; msg: Message }
  | { type: 'UNHANDLED'; msg: Message };

export type RoleEvent = RoleInputEvent | RpcEvent | ReplicatorReport;

const rpcEventOf: Partial<Record<MessageType, RpcEvent['type']>> = {
  [MessageType.MsgApp]: 'APPEND_ENTRIES',
  [MessageType.MsgAppResp]: 'APPEND_RESPONSE',
  [MessageType.MsgHeartbeat]: 'HEARTBEAT',
  [MessageType.MsgHeartbeatResp]: 'HEARTBEAT_RESPONSE',
  [MessageType.MsgSnap]: 'INSTALL_SNAPSHOT',
  [MessageType.MsgVote]: 'REQUEST_VOTE',
  [MessageType.MsgPreVote]: 'REQUEST_PRE_VOTE',
  [MessageType.MsgVoteResp]: 'VOTE_RESPONSE',
  [MessageType.MsgPreVoteResp]: 'PRE_VOTE_RESPONSE',
  [MessageType.MsgProp]: 'FORWARDED_PROPOSAL',
  [MessageType.MsgTimeoutNow]: 'TIMEOUT_NOW',
  [MessageType.MsgUnreachable]: 'UNREACHABLE',
  [MessageType.MsgSnapStatus]: 'SNAPSHOT_STATUS',
  [MessageType.MsgReadIndex]: 'READ_INDEX_REQUEST',
  [MessageType.MsgReadIndexResp]: 'READ_INDEX_RESPONSE',
  [MessageType.MsgSnapAck]: 'SNAPSHOT_ACK',
};

/** The RPC event a message is raised as. */
export function rpcEvent(msg: Message): RpcEvent {
  return { type: rpcEventOf[msg.type] ?? 'UNHANDLED', msg };
}

const msgOf = (event: RoleEvent): Message | undefined => ('msg' in event ? event.msg : undefined);

const isVoteRequest = (m: Message) => m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote;
const isFromLeader = (m: Message) =>
  m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;

/**
 * What a pre-candidate and a candidate do with everything but votes. §5.2: AppendEntries (or a
 * heartbeat, or a snapshot) from a leader of our term means that leader won: follow it and handle
 * the message as a follower. There is no leader to take proposals or confirm reads meanwhile.
 */
const whileCampaigning = {
  APPEND_ENTRIES: { target: 'follower', actions: ['followSender', 'handleAppendEntries'] },
  HEARTBEAT: { target: 'follower', actions: ['followSender', 'handleHeartbeat'] },
  INSTALL_SNAPSHOT: { target: 'follower', actions: ['followSender', 'handleSnapshot'] },
  PROPOSE: { actions: 'dropProposal' },
  READ_INDEX: { actions: 'refuseRead' },
} as const;

const dropped = (reason: string): RoleEmitted => ({ type: 'proposal', outcome: { kind: 'dropped', reason } });

export const roleMachine = setup({
  types: {} as {
    input: RoleInput;
    context: RoleContext;
    events: RoleEvent;
    emitted: RoleEmitted;
  },
  actors: { replicator: replicatorMachine },
  guards: {
    // ----- term rules (Raft §5.1) -----
    /**
     * A term above the bound (raft/bounds.ts) is never adopted: the transport refuses such messages
     * before they get here; this guard keeps a message stepped in by hand (manual mode, the
     * simulation) from pushing the term where it can no longer be raised.
     */
    isBeyondTermBound: ({ event }) => (msgOf(event)?.term ?? 0) > MAX_RAFT_NUMBER,
    /** Term 0 marks a local message (a forwarded proposal, a transport report): no term rules. */
    isLocalMessage: ({ event }) => msgOf(event)?.term === 0,
    /** §5.1: a request with a stale term is rejected. */
    isFromStaleTerm: ({ context, event }) => (msgOf(event)?.term ?? Infinity) < context.raft.term,
    /**
     * Thesis §4.2.3 / §6.2: while a node hears from a leader (within the election timeout of its
     * last contact) it ignores vote requests for later terms, so a partitioned node that rejoins
     * cannot depose a healthy leader. A leader handing over (MsgTimeoutNow) overrides this.
     */
    isVoteRequestInLeaderLease: ({ context, event }) => {
      const m = msgOf(event);
      return !!m && isVoteRequest(m) && m.term > context.raft.term && context.raft.inLeaderLease() && !isTransferCampaign(m);
    },
    /** §5.1: a newer term from a leader's RPC: step down and follow the sender. */
    isNewerTermFromLeader: ({ context, event }) => {
      const m = msgOf(event);
      return !!m && m.term > context.raft.term && isFromLeader(m);
    },
    /**
     * §5.1: any other newer term makes us a follower of that term, except a pre-vote request
     * (it commits no one to the term) and a granted pre-vote (we raise our term ourselves if we win).
     */
    isNewerTermThatDeposes: ({ context, event }) => {
      const m = msgOf(event);
      if (!m || m.term <= context.raft.term) return false;
      if (m.type === MessageType.MsgPreVote) return false;
      if (m.type === MessageType.MsgPreVoteResp && !m.reject) return false;
      return true;
    },

    // ----- elections (§5.2) -----
    canGrantVote: ({ context, event }) => {
      const m = msgOf(event);
      return !!m && context.raft.canGrantVote(m);
    },
    electionTimeoutElapsed: ({ context }) => context.raft.pastElectionTimeout(),
    /** Voters campaign; learners, removed nodes and nodes behind on membership changes do not. */
    isPromotable: ({ context }) => context.raft.isPromotable() && !context.raft.hasUnappliedConfChanges(),
    preVoteEnabled: ({ context }) => context.raft.config.preVote,
    wonElection: ({ context }) => context.raft.tracker.tallyVotes().result === 'won',
    lostElection: ({ context }) => context.raft.tracker.tallyVotes().result === 'lost',

    // ----- leadership -----
    /** CheckQuorum: an election timeout has passed since the last quorum check. */
    quorumRoundEnded: ({ context }) => context.raft.electionElapsed >= context.raft.config.electionTick,
    checkQuorumEnabled: ({ context }) => context.raft.config.checkQuorum,
    /** A majority of voters (the leader included) was heard from in this round. */
    quorumActive: ({ context }) => context.raft.tracker.quorumActive(context.raft.id),
    heartbeatDue: ({ context }) => context.raft.heartbeatElapsed >= context.raft.config.heartbeatTick,
    isFromSelf: ({ context, event }) => msgOf(event)?.from === context.raft.id,
    /** Sent by the leader this node follows. */
    isFromLeader: ({ context, event }) => context.raft.lead !== 0 && msgOf(event)?.from === context.raft.lead,
    isTransferringLeadership: ({ context }) => context.raft.leadTransferee !== 0,
    /** Thesis §4.1: one membership change at a time; the next waits until the last is applied. */
    isConfChangeWhilePending: ({ context, event }) => {
      const entries = event.type === 'PROPOSE' ? event.entries : event.type === 'FORWARDED_PROPOSAL' ? event.msg.entries : [];
      return entries.some((e) => e.type === EntryType.ConfChange) && context.raft.confChangePending();
    },
    /** A leader removed from the voters steps down (it no longer counts towards any quorum). */
    removedFromVoters: ({ context }) => !context.raft.tracker.isVoter(context.raft.id),
  },
  actions: {
    // ----- term rules -----
    answerStaleTerm: ({ context, event }) => {
      const m = msgOf(event);
      if (m) context.raft.answerStaleTerm(m);
    },
    adoptNewerTerm: ({ context, event }) => context.raft.adoptTerm(msgOf(event)!.term),
    followSender: ({ context, event }) => context.raft.followLeader(msgOf(event)!.from),
    dispatchRpc: raise(({ event }) => rpcEvent(msgOf(event)!)),

    // ----- votes -----
    grantVote: ({ context, event }) => context.raft.grantVote(msgOf(event)!),
    rejectVote: ({ context, event }) => context.raft.rejectVote(msgOf(event)!),
    recordVote: ({ context, event }) => context.raft.recordVote(msgOf(event)!),
    resetElectionTimer: ({ context }) => context.raft.resetElectionTimer(),
    advanceElectionTimer: ({ context }) => {
      context.raft.electionElapsed++;
    },
    requestPreVotes: ({ context }) => context.raft.startPreVote(),
    requestVotes: ({ context }) => context.raft.startElection(),
    markTransferCampaign: ({ context }) => {
      context.raft.transferCampaign = true;
    },
    forgetLeader: ({ context }) => {
      context.raft.lead = 0;
    },

    // ----- followers -----
    handleAppendEntries: ({ context, event }) => context.raft.handleAppendEntries(msgOf(event)!),
    handleHeartbeat: ({ context, event }) => context.raft.handleHeartbeat(msgOf(event)!),
    handleSnapshot: ({ context, event }) => context.raft.handleSnapshotChunk(msgOf(event)!),
    forwardProposal: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'PROPOSE') enqueue.emit({ type: 'proposal', outcome: context.raft.forwardProposal(event.entries) });
    }),
    dropProposal: emit(dropped('no leader is known; the proposal was dropped')),
    dropProposalDuringTransfer: emit(dropped('leadership is being transferred; the proposal was dropped')),
    dropConfChangeWhilePending: emit({
      type: 'proposal',
      outcome: {
        kind: 'dropped',
        reason: 'another membership change is in progress; propose the next one after it is applied',
        confChangeInProgress: true,
      },
    } as RoleEmitted),

    // ----- membership -----
    applyConfChange: ({ context, event }) => {
      if (event.type === 'APPLY_CONF_CHANGE') context.raft.applyConfChange(event.cc);
    },
    /** Spawn replicators for members added, stop those of members removed. */
    syncReplicators: enqueueActions(({ context, enqueue }) => {
      const members = new Set(context.raft.tracker.members());
      for (const [id, ref] of context.replicators) if (!members.has(id)) enqueue.stopChild(ref);
      enqueue.assign(({ context: ctx, spawn }) => {
        const replicators = new Map<number, ActorRefFrom<typeof replicatorMachine>>();
        for (const id of members) {
          if (id === ctx.raft.id) continue;
          const existing = ctx.replicators.get(id);
          replicators.set(id, existing ?? spawn('replicator', { id: `replicator-${id}`, input: { peer: id, raft: ctx.raft } }));
        }
        return { replicators };
      });
    }),

    // ----- leadership transfer -----
    startLeaderTransfer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'TRANSFER_LEADERSHIP') return;
      const refusal = context.raft.startLeaderTransfer(event.to);
      if (refusal !== undefined) enqueue.emit({ type: 'transferRefused', reason: refusal });
      // Bring the target up to date; MsgTimeoutNow follows once its log matches.
      context.replicators.get(event.to)?.send({ type: 'SEND_APPEND', sendIfEmpty: false });
    }),
    refuseLeaderTransfer: emit(({ context }) => ({
      type: 'transferRefused' as const,
      reason: context.raft.lead === 0 ? 'no leader is known' : `not the leader; node ${context.raft.lead} is`,
    })),
    /** Thesis §3.10: the transfer target's log matches ours (checked on every answer, so a lost MsgTimeoutNow is sent again). */
    maybeSendTimeoutNow: ({ context, event }) => {
      const from = event.type === 'PEER_MATCH' ? event.peer : msgOf(event)?.from;
      if (from !== undefined) context.raft.maybeSendTimeoutNow(from);
    },

    // ----- leaders -----
    initLeadership: ({ context }) => context.raft.initLeadership(),
    spawnReplicators: assign(({ context, spawn }) => {
      const replicators = new Map<number, ActorRefFrom<typeof replicatorMachine>>();
      for (const peer of context.raft.tracker.members()) {
        if (peer === context.raft.id) continue;
        replicators.set(peer, spawn('replicator', { id: `replicator-${peer}`, input: { peer, raft: context.raft } }));
      }
      return { replicators };
    }),
    stopReplicators: enqueueActions(({ context, enqueue }) => {
      for (const ref of context.replicators.values()) enqueue.stopChild(ref);
      enqueue.assign({ replicators: new Map() });
    }),
    /** §8: a new leader appends a no-op entry of its term so that it can commit earlier entries. */
    appendNoop: ({ context }) => {
      context.raft.appendProposals([{ type: EntryType.Normal, data: new Uint8Array(0) }]);
      // No membership change until this no-op is applied: a leader must commit an entry of its own
      // term before it changes the configuration (the fix to single-server changes, Ongaro 2015).
      context.raft.pendingConfIndex = context.raft.log.lastIndex();
    },
    appendProposals: enqueueActions(({ context, event, enqueue }) => {
      const raft = context.raft;
      if (event.type === 'PROPOSE') {
        const r = raft.appendProposals(event.entries);
        enqueue.emit({ type: 'proposal', outcome: { kind: 'appended', ...r } });
      } else if (event.type === 'FORWARDED_PROPOSAL') {
        raft.appendProposals(event.msg.entries);
      }
    }),
    broadcastAppend: ({ context }) => {
      for (const ref of context.replicators.values()) ref.send({ type: 'SEND_APPEND', sendIfEmpty: false });
    },
    /** Reads waiting for a round ride on the periodic heartbeat (one round for all of them). */
    broadcastHeartbeat: ({ context }) => {
      context.raft.heartbeatElapsed = 0;
      const c = context.raft.nextReadRound();
      for (const ref of context.replicators.values()) ref.send({ type: 'SEND_HEARTBEAT', context: c });
    },
    advanceLeaderTimers: ({ context }) => {
      context.raft.heartbeatElapsed++;
      context.raft.electionElapsed++;
    },
    /**
     * Raised by TICK, so it is handled after this tick's heartbeats went out: each replicator's
     * backoff and circuit breaker count the tick after the messages it paces.
     */
    raiseReplicatorTick: raise({ type: 'REPLICATOR_TICK' }),
    tickReplicators: ({ context }) => {
      for (const ref of context.replicators.values()) ref.send({ type: 'TICK' });
    },
    startQuorumRound: ({ context }) => {
      const raft = context.raft;
      raft.electionElapsed = 0;
      raft.leadTransferee = 0;
      raft.tracker.startQuorumRound(raft.id);
    },
    /** A replicator learned that its peer holds the log up to `match`. */
    recordPeerMatch: ({ context, event }) => {
      if (event.type === 'PEER_MATCH') context.raft.tracker.raiseMatch(event.peer, event.match);
    },
    reportCircuit: emit(({ event }) => {
      const e = event as Extract<RoleEvent, { type: 'PEER_CIRCUIT' }>;
      return { type: 'circuit' as const, peer: e.peer, state: e.state };
    }),
    forwardReachable: ({ context, event }) => {
      if (event.type === 'PEER_REACHABLE') context.replicators.get(event.peer)?.send({ type: 'REACHABLE' });
    },
    forwardToReplicator: ({ context, event }) => {
      const m = msgOf(event);
      if (!m) return;
      const ref = context.replicators.get(m.from);
      if (!ref) return;
      switch (event.type) {
        case 'APPEND_RESPONSE':
          context.raft.tracker.markActive(m.from);
          ref.send({ type: 'APPEND_RESPONSE', msg: m });
          break;
        case 'HEARTBEAT_RESPONSE':
          context.raft.tracker.markActive(m.from);
          ref.send({ type: 'HEARTBEAT_RESPONSE', msg: m });
          break;
        case 'UNREACHABLE':
          ref.send({ type: 'UNREACHABLE' });
          break;
        case 'SNAPSHOT_STATUS':
          ref.send({ type: 'SNAPSHOT_STATUS', reject: m.reject });
          break;
        case 'SNAPSHOT_ACK':
          context.raft.tracker.markActive(m.from);
          ref.send({ type: 'SNAPSHOT_ACK', index: m.index, offset: m.commit });
          break;
      }
    },
    acknowledgeOwnAppend: ({ context, event }) => context.raft.acknowledgeOwnAppend(msgOf(event)!.index),
    /** §5.3/§5.4.2: commit what a majority holds, if it is of this term; tell the followers. */
    advanceCommitIndex: ({ context }) => {
      if (context.raft.advanceCommitIndex()) {
        for (const ref of context.replicators.values()) ref.send({ type: 'SEND_APPEND', sendIfEmpty: true });
        // Reads that waited for the first commit of the term can be confirmed now.
        const c = context.raft.takeDeferredReads();
        if (c) for (const ref of context.replicators.values()) ref.send({ type: 'SEND_HEARTBEAT', context: c });
      }
    },

    // ----- linearizable reads (thesis §6.4) -----
    /**
     * Leader: note the read index and confirm leadership with a heartbeat round carrying the
     * context, unless the lease answers it, or it joins the round not sent yet, or waits for the next.
     */
    confirmRead: ({ context, event }) => {
      const raft = context.raft;
      let c: Uint8Array | undefined;
      if (event.type === 'READ_INDEX') c = raft.startRead(raft.id, event.context);
      else if (event.type === 'READ_INDEX_REQUEST' && event.msg.context) c = raft.startRead(event.msg.from, event.msg.context);
      if (!c) return;
      for (const ref of context.replicators.values()) ref.send({ type: 'SEND_HEARTBEAT', context: c });
    },
    recordReadAck: ({ context, event }) => {
      const m = msgOf(event);
      if (!m?.context) return;
      // Reads that arrived while that round was in flight go out together in one new round.
      const c = context.raft.ackRead(m.from, m.context);
      if (c) for (const ref of context.replicators.values()) ref.send({ type: 'SEND_HEARTBEAT', context: c });
    },
    forwardRead: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'READ_INDEX') return;
      const refusal = context.raft.forwardRead(event.context);
      if (refusal !== undefined) enqueue.emit({ type: 'readRefused', reason: refusal });
    }),
    refuseRead: emit({ type: 'readRefused', reason: 'no leader is known (an election is in progress); the read was dropped' } as RoleEmitted),
    readIndexAnswered: ({ context, event }) => context.raft.readIndexAnswered(msgOf(event)!),
    clearPendingReads: ({ context }) => context.raft.clearPendingReads(),
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({ raft: input.raft, replicators: new Map() }),
  initial: 'follower',
  on: {
    MESSAGE: [
      { guard: 'isBeyondTermBound' },
      { guard: 'isLocalMessage', actions: 'dispatchRpc' },
      { guard: 'isFromStaleTerm', actions: 'answerStaleTerm' },
      { guard: 'isVoteRequestInLeaderLease' },
      { guard: 'isNewerTermFromLeader', target: '.follower', actions: ['adoptNewerTerm', 'followSender', 'dispatchRpc'] },
      { guard: 'isNewerTermThatDeposes', target: '.follower', actions: ['adoptNewerTerm', 'dispatchRpc'] },
      { actions: 'dispatchRpc' },
    ],
    /** §5.2, §5.4.1: one vote per term, only for a log at least as up-to-date as ours. */
    REQUEST_VOTE: [{ guard: 'canGrantVote', actions: 'grantVote' }, { actions: 'rejectVote' }],
    /** Thesis §9.6: a pre-vote is granted on the same rules, without changing term or vote. */
    REQUEST_PRE_VOTE: [{ guard: 'canGrantVote', actions: 'grantVote' }, { actions: 'rejectVote' }],
    /** Thesis §4.1: a membership change takes effect on every node when it is applied. */
    APPLY_CONF_CHANGE: { actions: 'applyConfChange' },
    TRANSFER_LEADERSHIP: { actions: 'refuseLeaderTransfer' },
  },
  states: {
    follower: {
      entry: 'resetElectionTimer',
      always: [
        { guard: and(['electionTimeoutElapsed', 'isPromotable', 'preVoteEnabled']), target: 'preCandidate' },
        { guard: and(['electionTimeoutElapsed', 'isPromotable']), target: 'candidate' },
      ],
      on: {
        TICK: { actions: 'advanceElectionTimer' },
        CAMPAIGN: [
          { guard: and(['isPromotable', 'preVoteEnabled']), target: 'preCandidate' },
          { guard: 'isPromotable', target: 'candidate' },
        ],
        APPEND_ENTRIES: { actions: ['followSender', 'handleAppendEntries'] },
        HEARTBEAT: { actions: ['followSender', 'handleHeartbeat'] },
        INSTALL_SNAPSHOT: { actions: ['followSender', 'handleSnapshot'] },
        PROPOSE: { actions: 'forwardProposal' },
        READ_INDEX: { actions: 'forwardRead' },
        READ_INDEX_RESPONSE: { guard: 'isFromLeader', actions: 'readIndexAnswered' },
        /** Thesis §3.10: our leader asks us to campaign now, skipping PreVote and the lease. */
        TIMEOUT_NOW: { guard: and(['isFromLeader', 'isPromotable']), target: 'candidate', actions: 'markTransferCampaign' },
      },
    },
    preCandidate: {
      entry: ['resetElectionTimer', 'requestPreVotes'],
      always: [
        { guard: 'wonElection', target: 'candidate' },
        { guard: 'lostElection', target: 'follower' },
        { guard: and(['electionTimeoutElapsed', 'isPromotable']), target: 'preCandidate', reenter: true },
        /** Removed (or demoted) while campaigning: stop. */
        { guard: 'electionTimeoutElapsed', target: 'follower' },
      ],
      on: {
        TICK: { actions: 'advanceElectionTimer' },
        CAMPAIGN: { target: 'preCandidate', reenter: true },
        PRE_VOTE_RESPONSE: { actions: 'recordVote' },
        ...whileCampaigning,
      },
    },
    candidate: {
      entry: ['resetElectionTimer', 'requestVotes'],
      exit: ({ context }) => {
        context.raft.transferCampaign = false;
      },
      always: [
        { guard: 'wonElection', target: 'leader' },
        { guard: 'lostElection', target: 'follower' },
        /** §5.2: a split vote times out and a new election starts with a new random timeout. */
        { guard: and(['electionTimeoutElapsed', 'isPromotable']), target: 'candidate', reenter: true },
        { guard: 'electionTimeoutElapsed', target: 'follower' },
      ],
      on: {
        TICK: { actions: 'advanceElectionTimer' },
        CAMPAIGN: { target: 'candidate', reenter: true },
        VOTE_RESPONSE: { actions: 'recordVote' },
        ...whileCampaigning,
      },
    },
    leader: {
      entry: ['initLeadership', 'spawnReplicators', 'appendNoop', 'broadcastAppend'],
      exit: ['stopReplicators', 'clearPendingReads'],
      always: [
        /** A leader removed from the voters steps down and stops counting itself (thesis §4.2.2). */
        { guard: 'removedFromVoters', target: 'follower', actions: 'forgetLeader' },
        /** CheckQuorum (thesis §6.2): no word from a majority for an election timeout: step down. */
        {
          guard: and(['quorumRoundEnded', 'checkQuorumEnabled', not('quorumActive')]),
          target: 'follower',
          actions: 'forgetLeader',
        },
        { guard: 'quorumRoundEnded', actions: 'startQuorumRound' },
        /** §5.2: heartbeats keep followers from timing out. */
        { guard: 'heartbeatDue', actions: 'broadcastHeartbeat' },
      ],
      on: {
        TICK: { actions: ['advanceLeaderTimers', 'raiseReplicatorTick'] },
        REPLICATOR_TICK: { actions: 'tickReplicators' },
        PROPOSE: [
          { guard: 'isTransferringLeadership', actions: 'dropProposalDuringTransfer' },
          { guard: 'isConfChangeWhilePending', actions: 'dropConfChangeWhilePending' },
          { actions: ['appendProposals', 'broadcastAppend'] },
        ],
        FORWARDED_PROPOSAL: [
          { guard: 'isTransferringLeadership' },
          { guard: 'isConfChangeWhilePending' },
          { actions: ['appendProposals', 'broadcastAppend'] },
        ],
        APPEND_RESPONSE: [
          { guard: 'isFromSelf', actions: ['acknowledgeOwnAppend', 'advanceCommitIndex'] },
          { actions: ['forwardToReplicator', 'maybeSendTimeoutNow'] },
        ],
        /** §5.3/§5.4.2: a replicator's peer holds more of the log; it may complete a majority. */
        PEER_MATCH: { actions: ['recordPeerMatch', 'advanceCommitIndex', 'maybeSendTimeoutNow'] },
        PEER_CIRCUIT: { actions: 'reportCircuit' },
        PEER_REACHABLE: { actions: 'forwardReachable' },
        SNAPSHOT_ACK: { actions: 'forwardToReplicator' },
        APPLY_CONF_CHANGE: { actions: ['applyConfChange', 'syncReplicators', 'advanceCommitIndex'] },
        TRANSFER_LEADERSHIP: { actions: 'startLeaderTransfer' },
        HEARTBEAT_RESPONSE: { actions: ['forwardToReplicator', 'recordReadAck'] },
        READ_INDEX: { actions: 'confirmRead' },
        READ_INDEX_REQUEST: { actions: 'confirmRead' },
        UNREACHABLE: { actions: 'forwardToReplicator' },
        SNAPSHOT_STATUS: { actions: 'forwardToReplicator' },
      },
    },
  },
});

