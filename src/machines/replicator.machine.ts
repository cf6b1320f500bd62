/**
 * The replicator: one per follower, spawned by the leader state and stopped when it is left.
 * It alone owns that follower's Progress (match, next, the inflight window) and decides what to
 * send it next (etcd's Progress state machine, tracker/progress.go, drawn as a statechart):
 *
 * - `probe`: we do not know where the follower's log matches ours. Send one append at a time and
 *   wait for its answer (or a heartbeat ack); each rejection moves `next` back using the
 *   follower's hint, a whole term at a time (Raft §5.3, fast backtracking).
 * - `replicate`: the follower's log is known to match up to `match`. Pipeline appends without
 *   waiting, up to the inflight window (`maxInflightMsgs`), each at most `maxSizePerMsg` bytes.
 * - `snapshot`: the entries the follower needs were compacted; a snapshot is on its way (Raft §7).
 *
 * The statechart state *is* the flow-control mode: Progress has no copy of it.
 *
 * The leader learns what it needs by event (sent to the parent): `PEER_MATCH` whenever `match`
 * moves (the leader counts the quorum from it, §5.3/§5.4.2) and `PEER_CIRCUIT` whenever the peer's
 * circuit breaker changes state.
 *
 * Reachability: the transport reports a peer UNREACHABLE (a failed dial, a lost connection) or
 * REACHABLE (a connection authenticated). Each report feeds the peer's circuit breaker (a child
 * statechart, src/machines/circuit-breaker.machine.ts) and its Backoff: after a failure nothing is
 * sent to the peer for a backoff counted in ticks, and while the breaker is open nothing at all
 * until its sleep window (one election timeout) lets a single trial heartbeat through. Any answer
 * from the peer closes the breaker and ends the backoff. Time is the count of TICKs the leader
 * forwards: no timers, no clock.
 *
 * Pure: it mutates its own Progress and queues messages on the node's outbox (RaftState.send).
 */
import { type ActorRefFrom, enqueueActions, setup } from 'xstate';
import type { Message } from '../raft/raftpb.ts';
import { MessageType } from '../raft/raftpb.ts';
import { Progress } from '../raft/progress.ts';
import type { RaftState } from '../raft/raft-state.ts';
import { SnapshotSender } from '../raft/snapshot-transfer.ts';
import { Backoff } from '../raft/backoff.ts';
import { Rng } from '../raft/rng.ts';
import { CircuitState } from '../raft/circuit-breaker.ts';
import { circuitBreakerMachine } from './circuit-breaker.machine.ts';

/** Chunks of a snapshot allowed in flight to one follower. */
const SNAPSHOT_WINDOW = 4;
/** Consecutive unreachable reports that open a peer's circuit (Hystrix's default). */
export const BREAKER_FAILURE_THRESHOLD = 5;

export interface ReplicatorInput {
  readonly peer: number;
  readonly raft: RaftState;
}

/** The replicator's clock and send pacing, in ticks. Mutated in place (no context copy per tick). */
interface Pacing {
  /** TICKs seen since the replicator started: the clock of its backoff and breaker. */
  ticks: number;
  /** Nothing is sent to the peer before this tick (the backoff after an unreachable report). */
  resumeAt: number;
}

export interface ReplicatorContext {
  readonly peer: number;
  readonly raft: RaftState;
  readonly progress: Progress;
  /** The snapshot transfer under way in the `snapshot` state. */
  readonly transfer: { sender: SnapshotSender | undefined };
  readonly pacing: Pacing;
  /** The wait after an unreachable report, in ticks. */
  readonly backoff: Backoff;
  readonly breaker: ActorRefFrom<typeof circuitBreakerMachine>;
}

export type ReplicatorEvent =
  /** New entries were appended, or the commit index moved: send what the window allows. */
  | { type: 'SEND_APPEND'; sendIfEmpty: boolean }
  /** A heartbeat; with a context it also confirms a linearizable read (thesis §6.4). */
  | { type: 'SEND_HEARTBEAT'; context?: Uint8Array }
  | { type: 'APPEND_RESPONSE'; msg: Message }
  | { type: 'HEARTBEAT_RESPONSE'; msg: Message }
  /** The transport could not reach the peer: stop pipelining into the void, back off. */
  | { type: 'UNREACHABLE' }
  /** The transport (re)connected to the peer. */
  | { type: 'REACHABLE' }
  /** One logical clock tick, forwarded by the leader. */
  | { type: 'TICK' }
  | { type: 'SNAPSHOT_STATUS'; reject: boolean }
  /** The follower holds the snapshot's bytes up to `offset`. */
  | { type: 'SNAPSHOT_ACK'; index: number; offset: number }
  /** From the breaker child: it changed state. */
  | { type: 'CIRCUIT_CHANGED'; state: CircuitState };

/** What a replicator tells the leader. */
export type ReplicatorReport =
  | { type: 'PEER_MATCH'; peer: number; match: number }
  | { type: 'PEER_CIRCUIT'; peer: number; state: CircuitState };

/**
 * Whether the peer may be sent something now: not inside a backoff, and the breaker closed or
 * letting this message through as its half-open trial.
 */
function mayContact(context: ReplicatorContext): boolean {
  const { pacing, breaker } = context;
  if (pacing.ticks < pacing.resumeAt) return false;
  if (breaker.getSnapshot().value === CircuitState.Closed) return true;
  breaker.send({ type: 'CALL', now: pacing.ticks });
  return breaker.getSnapshot().context.permitted;
}

/** The peer answered: whatever the breaker and backoff thought, it is reachable. */
function heardFromPeer(context: ReplicatorContext): void {
  const b = context.breaker.getSnapshot();
  if (b.value !== CircuitState.Closed || b.context.consecutiveFailures > 0) context.breaker.send({ type: 'SUCCESS' });
  if (context.pacing.resumeAt !== 0) {
    context.pacing.resumeAt = 0;
    context.backoff.reset();
  }
}

/**
 * Sends the append at `next` if there is one to send (or an empty one when asked: it carries the
 * commit index and, in probe, asks where the logs match). Returns whether a message went out.
 * Nothing is sent when the entry before `next` was compacted; the `needsSnapshot` guard then moves
 * the machine to `snapshot`.
 */
function sendOneAppend(context: ReplicatorContext, sendIfEmpty: boolean, pipelined: boolean): boolean {
  const { raft, peer, progress } = context;
  const log = raft.log;
  const prevIndex = progress.next - 1;
  if (prevIndex < log.firstIndex() - 1) return false;
  const ents = log.entriesFrom(progress.next, raft.config.maxSizePerMsg);
  if (ents.length === 0 && !sendIfEmpty) return false;
  if (!mayContact(context)) return false;
  let bytes = 0;
  for (const e of ents) bytes += e.data.byteLength;
  raft.send({ type: MessageType.MsgApp, to: peer, index: prevIndex, logTerm: log.termOrZero(prevIndex), entries: ents, commit: log.committed });
  if (pipelined) progress.sentPipelined(prevIndex + ents.length, ents.length, bytes);
  else progress.sentProbe();
  return true;
}

/** Probe: one append, then wait for its answer. */
function sendProbe(context: ReplicatorContext, sendIfEmpty: boolean): void {
  if (!context.progress.probePaused()) sendOneAppend(context, sendIfEmpty, false);
}

/** Replicate: as many appends as the window holds. */
function sendPipelined(context: ReplicatorContext, sendIfEmpty: boolean): void {
  let first = true;
  while (!context.progress.windowFull()) {
    if (!sendOneAppend(context, first && sendIfEmpty, true)) return;
    first = false;
  }
}

/** Sends the next chunks of the snapshot transfer, if the peer may be contacted. */
function sendChunks(context: ReplicatorContext, sender: SnapshotSender): void {
  if (!mayContact(context)) return;
  context.raft.sendSnapshotChunks(context.peer, sender.snapshot, sender.nextChunks());
}

/** Starts sending the current snapshot to the follower. */
function beginTransfer(context: ReplicatorContext): void {
  const raft = context.raft;
  const snap = raft.log.snapshot();
  context.progress.becomeSnapshot(snap.metadata.index);
  const sender = new SnapshotSender(snap, raft.config.maxSizePerMsg, SNAPSHOT_WINDOW, raft.config.electionTick * 4);
  context.transfer.sender = sender;
  sendChunks(context, sender);
}

const ackOf = (event: ReplicatorEvent): number | undefined =>
  event.type === 'APPEND_RESPONSE' && !event.msg.reject ? event.msg.index : undefined;

/** New entries or a new commit index: send what the flow control allows (an empty append if asked). */
const sendOnRequest = (action: 'probe' | 'pipelined') =>
  [{ guard: 'wantsEmptyAppend', actions: `${action}EvenIfEmpty` }, { actions: action }] as const;

/**
 * A heartbeat ack: the follower is alive. One that is behind gets an append even if there is
 * nothing new past `next`: if the appends in flight were lost, it rejects this one and we back up.
 */
const resumeLiveFollower = (action: 'probe' | 'pipelined') =>
  [
    { guard: 'isBehind', actions: ['heardFromPeer', 'resumeAfterHeartbeat', `${action}EvenIfEmpty`] },
    { actions: ['heardFromPeer', 'resumeAfterHeartbeat'] },
  ] as const;

export const replicatorMachine = setup({
  types: {} as {
    input: ReplicatorInput;
    context: ReplicatorContext;
    events: ReplicatorEvent;
  },
  actors: { breaker: circuitBreakerMachine },
  guards: {
    /** The follower's log did not contain the append's previous entry. */
    isRejection: ({ event }) => event.type === 'APPEND_RESPONSE' && event.msg.reject,
    /** Probe: a rejection of the outstanding append (older ones are ignored). */
    isCurrentProbeRejection: ({ context, event }) =>
      event.type === 'APPEND_RESPONSE' && event.msg.reject && context.progress.isCurrentRejectionProbing(event.msg.index),
    /** Replicate: a rejection of an entry past `match` (older ones are ignored). */
    isCurrentPipelinedRejection: ({ context, event }) =>
      event.type === 'APPEND_RESPONSE' && event.msg.reject && context.progress.isCurrentRejectionPipelined(event.msg.index),
    /** An ack at or past `match`: in probe, it shows where the logs match. */
    isAckAtOrPastMatch: ({ context, event }) => (ackOf(event) ?? -1) >= context.progress.match,
    /** In snapshot: the follower now has everything up to the start of our log. */
    caughtUpPastSnapshot: ({ context, event }) => {
      const ack = ackOf(event);
      return ack !== undefined && Math.max(context.progress.match, ack) + 1 >= context.raft.log.firstIndex();
    },
    /** The entry before `next` was compacted: only a snapshot can bring this follower up to date. */
    needsSnapshot: ({ context }) => context.progress.next - 1 < context.raft.log.firstIndex() - 1,
    wantsEmptyAppend: ({ event }) => event.type === 'SEND_APPEND' && event.sendIfEmpty,
    snapshotInstalled: ({ context, event }) => (ackOf(event) ?? -1) >= context.progress.pendingSnapshot,
    isBehind: ({ context }) => context.progress.match < context.raft.log.lastIndex(),
  },
  actions: {
    /** Back to probe from replicate or snapshot: start again right after `match` (or the snapshot sent). */
    becomeProbe: ({ context }) => context.progress.becomeProbe(),
    becomeReplicate: ({ context }) => context.progress.becomeReplicate(),
    /** Records an ack and tells the leader when `match` moved (it may commit, §5.3). */
    recordAck: enqueueActions(({ context, event, enqueue }) => {
      const ack = ackOf(event);
      if (ack === undefined || !context.progress.maybeUpdate(ack)) return;
      enqueue.sendParent({ type: 'PEER_MATCH', peer: context.peer, match: context.progress.match } satisfies ReplicatorReport);
    }),
    freeInflights: ({ context, event }) => {
      if (event.type === 'APPEND_RESPONSE') context.progress.inflights.freeLE(event.msg.index);
    },
    /**
     * Probe: moves `next` back after a rejection. The follower hints (rejectHint, logTerm) where its
     * log could match; we skip to the last index of ours whose term is <= its term, so a follower
     * that diverged over many entries catches up in a few round trips (etcd's findConflictByTerm).
     */
    backtrack: ({ context, event }) => {
      if (event.type !== 'APPEND_RESPONSE') return;
      const m = event.msg;
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = context.raft.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      context.progress.backtrackProbing(m.index, nextProbe);
    },
    heardFromPeer: ({ context }) => heardFromPeer(context),
    /** A heartbeat ack in probe lets the next append go; in replicate it frees one slot of a full window. */
    resumeAfterHeartbeat: ({ context }) => {
      const pr = context.progress;
      pr.probeSent = false;
      if (pr.windowFull()) pr.inflights.freeFirstOne();
    },
    /** A heartbeat carries the commit index, capped at what the follower is known to have. */
    sendHeartbeat: ({ context, event }) => {
      if (!mayContact(context)) return;
      context.raft.sendHeartbeat(context.peer, context.progress.match, event.type === 'SEND_HEARTBEAT' ? event.context : undefined);
    },
    /** Raft §7: the entries this follower needs are gone; send the snapshot, in chunks. */
    startSnapshotTransfer: ({ context }) => beginTransfer(context),
    sendMoreChunks: ({ context, event }) => {
      const sender = context.transfer.sender;
      if (!sender || event.type !== 'SNAPSHOT_ACK' || event.index !== sender.index) return;
      heardFromPeer(context);
      sender.ack(event.offset);
      sendChunks(context, sender);
    },
    /**
     * A live follower and a stalled transfer: resend from the last acknowledged byte, with
     * backoff; if a newer snapshot was taken meanwhile, send that one instead.
     */
    resumeStalledTransfer: ({ context }) => {
      const sender = context.transfer.sender;
      if (!sender || !sender.heartbeat()) return;
      if (context.raft.log.snapshot().metadata.index > sender.index) beginTransfer(context);
      else sendChunks(context, sender);
    },
    endSnapshotTransfer: ({ context }) => {
      context.transfer.sender = undefined;
    },
    probe: ({ context }) => sendProbe(context, false),
    probeEvenIfEmpty: ({ context }) => sendProbe(context, true),
    pipelined: ({ context }) => sendPipelined(context, false),
    pipelinedEvenIfEmpty: ({ context }) => sendPipelined(context, true),
    /** The transport lost the peer: count a failure and hold sends for the next backoff interval. */
    recordUnreachable: ({ context }) => {
      const { pacing, backoff, breaker } = context;
      breaker.send({ type: 'FAILURE', now: pacing.ticks });
      pacing.resumeAt = pacing.ticks + Math.max(1, Math.round(backoff.next()));
    },
    advanceClock: ({ context }) => {
      const { pacing, breaker } = context;
      pacing.ticks++;
      // Only an open breaker has anything to do with time (its sleep window).
      if (breaker.getSnapshot().value === CircuitState.Open) breaker.send({ type: 'TICK', now: pacing.ticks });
    },
    reportCircuit: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CIRCUIT_CHANGED') return;
      enqueue.sendParent({ type: 'PEER_CIRCUIT', peer: context.peer, state: event.state } satisfies ReplicatorReport);
    }),
  },
}).createMachine({
  id: 'replicator',
  context: ({ input, spawn, self }) => {
    const cfg = input.raft.config;
    // Seeded per leader and peer: the jitter replays exactly under a simulation seed.
    const rng = new Rng(Math.imul(input.raft.id, 0x9e3779b1) ^ Math.imul(input.peer, 0x85ebca6b));
    return {
      peer: input.peer,
      raft: input.raft,
      // A new leader starts every follower at its last index + 1 (Raft Figure 2), in probe.
      progress: new Progress(input.raft.log.lastIndex() + 1, cfg.maxInflightMsgs, Infinity),
      transfer: { sender: undefined },
      pacing: { ticks: 0, resumeAt: 0 },
      backoff: new Backoff({
        initialInterval: cfg.heartbeatTick,
        maxInterval: cfg.electionTick * 2,
        random: () => rng.next(),
      }),
      breaker: spawn('breaker', {
        id: `breaker-${input.peer}`,
        input: { failureThreshold: BREAKER_FAILURE_THRESHOLD, sleepWindow: cfg.electionTick, owner: self },
      }),
    };
  },
  initial: 'probe',
  on: {
    SEND_HEARTBEAT: { actions: 'sendHeartbeat' },
    TICK: { actions: 'advanceClock' },
    REACHABLE: { actions: ['heardFromPeer', 'sendHeartbeat'] },
    CIRCUIT_CHANGED: { actions: 'reportCircuit' },
  },
  states: {
    probe: {
      always: { guard: 'needsSnapshot', target: 'snapshot' },
      on: {
        SEND_APPEND: sendOnRequest('probe'),
        APPEND_RESPONSE: [
          { guard: 'isCurrentProbeRejection', actions: ['heardFromPeer', 'backtrack', 'probe'] },
          { guard: 'isRejection', actions: 'heardFromPeer' },
          { guard: 'isAckAtOrPastMatch', target: 'replicate', actions: ['heardFromPeer', 'recordAck'] },
          { actions: 'heardFromPeer' },
        ],
        HEARTBEAT_RESPONSE: resumeLiveFollower('probe'),
        UNREACHABLE: { actions: 'recordUnreachable' },
      },
    },
    replicate: {
      entry: ['becomeReplicate', 'pipelined'],
      always: { guard: 'needsSnapshot', target: 'snapshot' },
      on: {
        SEND_APPEND: sendOnRequest('pipelined'),
        APPEND_RESPONSE: [
          { guard: 'isCurrentPipelinedRejection', target: 'probe', actions: ['heardFromPeer', 'becomeProbe'] },
          { guard: 'isRejection', actions: 'heardFromPeer' },
          { actions: ['heardFromPeer', 'recordAck', 'freeInflights', 'pipelined'] },
        ],
        HEARTBEAT_RESPONSE: resumeLiveFollower('pipelined'),
        UNREACHABLE: { target: 'probe', actions: ['becomeProbe', 'recordUnreachable'] },
      },
    },
    snapshot: {
      entry: 'startSnapshotTransfer',
      exit: 'endSnapshotTransfer',
      on: {
        APPEND_RESPONSE: [
          { guard: 'caughtUpPastSnapshot', target: 'replicate', actions: ['heardFromPeer', 'recordAck'] },
          /** Installed, but the log moved past it meanwhile: probe, and send a newer snapshot if needed. */
          { guard: 'snapshotInstalled', target: 'probe', actions: ['heardFromPeer', 'recordAck', 'becomeProbe'] },
          { guard: 'isRejection', actions: 'heardFromPeer' },
          { actions: ['heardFromPeer', 'recordAck'] },
        ],
        SNAPSHOT_ACK: { actions: 'sendMoreChunks' },
        HEARTBEAT_RESPONSE: { actions: ['heardFromPeer', 'resumeAfterHeartbeat', 'resumeStalledTransfer'] },
        SNAPSHOT_STATUS: { target: 'probe', actions: 'becomeProbe' },
        UNREACHABLE: { target: 'probe', actions: ['becomeProbe', 'recordUnreachable'] },
      },
    },
  },
});
