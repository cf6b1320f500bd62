/**
 * The replicator: one per follower, spawned by the leader state and stopped when it is left.
 * It owns that follower's Progress and decides what to send it next (etcd's Progress state
 * machine, tracker/progress.go, drawn as a statechart):
 *
 * - `probe`: we do not know where the follower's log matches ours. Send one append at a time and
 *   wait for its answer (or a heartbeat ack); each rejection moves `next` back using the
 *   follower's hint, a whole term at a time (Raft §5.3, fast backtracking).
 * - `replicate`: the follower's log is known to match up to `match`. Pipeline appends without
 *   waiting, up to the inflight window (`maxInflightMsgs`), each at most `maxSizePerMsg` bytes.
 * - `snapshot`: the entries the follower needs were compacted; a snapshot is on its way (Raft §7).
 *
 * Pure: it only mutates the shared Progress and queues messages on the node's RaftState.
 */
import { setup } from 'xstate';
import type { Message } from '../raft/raftpb.ts';
import type { Progress } from '../raft/progress.ts';
import type { RaftState } from '../raft/raft-state.ts';
import { SnapshotSender } from '../raft/snapshot-transfer.ts';

/** Chunks of a snapshot allowed in flight to one follower. */
const SNAPSHOT_WINDOW = 4;

export interface ReplicatorInput {
  readonly peer: number;
  readonly raft: RaftState;
}

export interface ReplicatorContext {
  readonly peer: number;
  readonly raft: RaftState;
  readonly progress: Progress;
  /** The snapshot transfer under way in the `snapshot` state. */
  readonly transfer: { sender: SnapshotSender | undefined };
}

export type ReplicatorEvent =
  /** New entries were appended, or the commit index moved: send what the window allows. */
  | { type: 'SEND_APPEND'; sendIfEmpty: boolean }
  /** A heartbeat; with a context it also confirms a linearizable read (thesis §6.4). */
  | { type: 'SEND_HEARTBEAT'; context?: Uint8Array }
  | { type: 'APPEND_RESPONSE'; msg: Message }
  | { type: 'HEARTBEAT_RESPONSE'; msg: Message }
  /** The transport could not reach the peer: stop pipelining into the void. */
  | { type: 'UNREACHABLE' }
  | { type: 'SNAPSHOT_STATUS'; reject: boolean }
  /** The follower holds the snapshot's bytes up to `offset`. */
  | { type: 'SNAPSHOT_ACK'; index: number; offset: number };

/** Starts sending the current snapshot to the follower. */
function beginTransfer(context: ReplicatorContext): void {
  const snap = context.raft.log.snapshot();
  context.progress.becomeSnapshot(snap.metadata.index);
  const sender = new SnapshotSender(snap, context.raft.config.maxSizePerMsg, SNAPSHOT_WINDOW, context.raft.config.electionTick * 4);
  context.transfer.sender = sender;
  context.raft.sendSnapshotChunks(context.peer, snap, sender.nextChunks());
}

/**
 * Sends appends while the flow control allows: one in probe, as many as the window holds in
 * replicate. When the follower needs compacted entries nothing is sent; the `needsSnapshot` guard
 * then moves the machine to `snapshot`.
 */
function sendAppends(context: ReplicatorContext, sendIfEmpty: boolean): void {
  const { raft, peer, progress } = context;
  let first = true;
  for (;;) {
    const r = raft.sendAppend(peer, progress, first && sendIfEmpty);
    first = false;
    if (r !== 'sent' || progress.state !== 'replicate') return;
  }
}

/** New entries or a new commit index: send what the window allows (an empty append if asked). */
const sendAppendOnRequest = [{ guard: 'wantsEmptyAppend', actions: 'sendAppendEvenIfEmpty' }, { actions: 'sendAppend' }] as const;

/**
 * A heartbeat ack: the follower is alive. One that is behind gets an append even if there is
 * nothing new past `next`: if the appends in flight were lost, it rejects this one and we back up.
 */
const resumeLiveFollower = [
  { guard: 'isBehind', actions: ['resumeAfterHeartbeat', 'sendAppendEvenIfEmpty'] },
  { actions: 'resumeAfterHeartbeat' },
] as const;

export const replicatorMachine = setup({
  types: {} as {
    input: ReplicatorInput;
    context: ReplicatorContext;
    events: ReplicatorEvent;
  },
  guards: {
    /** The follower's log did not contain the append's previous entry. */
    isRejection: ({ event }) => event.type === 'APPEND_RESPONSE' && event.msg.reject,
    /** A rejection that answers the outstanding append (older ones are ignored). */
    isCurrentRejection: ({ context, event }) => {
      if (event.type !== 'APPEND_RESPONSE' || !event.msg.reject) return false;
      const pr = context.progress;
      return pr.state === 'replicate' ? event.msg.index > pr.match : pr.next - 1 === event.msg.index;
    },
    /** An ack at or past `match`: in probe, it shows where the logs match. */
    isAckAtOrPastMatch: ({ context, event }) =>
      event.type === 'APPEND_RESPONSE' && !event.msg.reject && event.msg.index >= context.progress.match,
    /** In snapshot: the follower now has everything up to the start of our log. */
    caughtUpPastSnapshot: ({ context, event }) =>
      event.type === 'APPEND_RESPONSE' &&
      !event.msg.reject &&
      Math.max(context.progress.match, event.msg.index) + 1 >= context.raft.log.firstIndex(),
    /** The entry before `next` was compacted: only a snapshot can bring this follower up to date. */
    needsSnapshot: ({ context }) => context.progress.next - 1 < context.raft.log.firstIndex() - 1,
    wantsEmptyAppend: ({ event }) => event.type === 'SEND_APPEND' && event.sendIfEmpty,
    snapshotInstalled: ({ context, event }) =>
      event.type === 'APPEND_RESPONSE' && !event.msg.reject && event.msg.index >= context.progress.pendingSnapshot,
    isBehind: ({ context }) => context.progress.match < context.raft.log.lastIndex(),
  },
  actions: {
    /**
     * Coming back to probe from replicate or snapshot, start again right after `match`. A new
     * leader's first probe keeps `next` = its last index + 1 (Raft Figure 2), so a follower that
     * is up to date costs one round trip and an up-to-date log is never re-sent.
     */
    enterProbe: ({ context }) => {
      if (context.progress.state !== 'probe') context.progress.becomeProbe();
    },
    enterReplicate: ({ context }) => context.progress.becomeReplicate(),
    recordAck: ({ context, event }) => {
      if (event.type === 'APPEND_RESPONSE' && !event.msg.reject) {
        context.progress.maybeUpdate(event.msg.index);
        context.progress.recentActive = true;
      }
    },
    freeInflights: ({ context, event }) => {
      if (event.type === 'APPEND_RESPONSE') context.progress.inflights.freeLE(event.msg.index);
    },
    /**
     * Moves `next` back after a rejection. The follower hints (rejectHint, logTerm) where its log
     * could match; we skip to the last index of ours whose term is <= its term, so a follower that
     * diverged over many entries catches up in a few round trips (etcd's findConflictByTerm).
     */
    backtrack: ({ context, event }) => {
      if (event.type !== 'APPEND_RESPONSE') return;
      const m = event.msg;
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = context.raft.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      context.progress.maybeDecrTo(m.index, nextProbe);
      context.progress.recentActive = true;
    },
    resumeAfterHeartbeat: ({ context }) => {
      const pr = context.progress;
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    },
    sendHeartbeat: ({ context, event }) =>
      context.raft.sendHeartbeat(context.peer, context.progress, event.type === 'SEND_HEARTBEAT' ? event.context : undefined),
    /** Raft §7: the entries this follower needs are gone; send the snapshot, in chunks. */
    startSnapshotTransfer: ({ context }) => beginTransfer(context),
    sendMoreChunks: ({ context, event }) => {
      const sender = context.transfer.sender;
      if (!sender || event.type !== 'SNAPSHOT_ACK' || event.index !== sender.index) return;
      sender.ack(event.offset);
      context.progress.recentActive = true;
      context.raft.sendSnapshotChunks(context.peer, sender.snapshot, sender.nextChunks());
    },
    /**
     * A live follower and a stalled transfer: resend from the last acknowledged byte, with
     * backoff; if a newer snapshot was taken meanwhile, send that one instead.
     */
    resumeStalledTransfer: ({ context }) => {
      const sender = context.transfer.sender;
      if (!sender || !sender.heartbeat()) return;
      if (context.raft.log.snapshot().metadata.index > sender.index) beginTransfer(context);
      else context.raft.sendSnapshotChunks(context.peer, sender.snapshot, sender.nextChunks());
    },
    endSnapshotTransfer: ({ context }) => {
      context.transfer.sender = undefined;
    },
    sendAppend: ({ context }) => sendAppends(context, false),
    sendAppendEvenIfEmpty: ({ context }) => sendAppends(context, true),
  },
}).createMachine({
  id: 'replicator',
  context: ({ input }) => ({
    peer: input.peer,
    raft: input.raft,
    progress: input.raft.tracker.progress.get(input.peer)!,
    transfer: { sender: undefined },
  }),
  initial: 'probe',
  on: {
    SEND_HEARTBEAT: { actions: 'sendHeartbeat' },
  },
  states: {
    probe: {
      entry: 'enterProbe',
      always: { guard: 'needsSnapshot', target: 'snapshot' },
      on: {
        SEND_APPEND: sendAppendOnRequest,
        APPEND_RESPONSE: [
          { guard: 'isCurrentRejection', actions: ['backtrack', 'sendAppend'] },
          { guard: 'isRejection' },
          { guard: 'isAckAtOrPastMatch', target: 'replicate', actions: 'recordAck' },
        ],
        HEARTBEAT_RESPONSE: resumeLiveFollower,
      },
    },
    replicate: {
      entry: ['enterReplicate', 'sendAppend'],
      always: { guard: 'needsSnapshot', target: 'snapshot' },
      on: {
        SEND_APPEND: sendAppendOnRequest,
        APPEND_RESPONSE: [
          { guard: 'isCurrentRejection', target: 'probe', actions: 'backtrack' },
          { guard: 'isRejection' },
          { actions: ['recordAck', 'freeInflights', 'sendAppend'] },
        ],
        HEARTBEAT_RESPONSE: resumeLiveFollower,
        UNREACHABLE: { target: 'probe' },
      },
    },
    snapshot: {
      entry: 'startSnapshotTransfer',
      exit: 'endSnapshotTransfer',
      on: {
        APPEND_RESPONSE: [
          { guard: 'caughtUpPastSnapshot', target: 'replicate', actions: 'recordAck' },
          /** Installed, but the log moved past it meanwhile: probe, and send a newer snapshot if needed. */
          { guard: 'snapshotInstalled', target: 'probe', actions: 'recordAck' },
          { guard: 'isRejection' },
          { actions: 'recordAck' },
        ],
        SNAPSHOT_ACK: { actions: 'sendMoreChunks' },
        HEARTBEAT_RESPONSE: { actions: ['resumeAfterHeartbeat', 'resumeStalledTransfer'] },
        SNAPSHOT_STATUS: { target: 'probe' },
        UNREACHABLE: { target: 'probe' },
      },
    },
  },
});
