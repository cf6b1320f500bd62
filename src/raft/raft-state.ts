/**
 * The mutable Raft state of one node and the operations on it that do not depend on its role:
 * etcd's `raft` struct without `step`. The role statechart (src/machines/role.machine.ts) decides
 * *when* each operation runs; this file says *what* it does. Everything here is deterministic:
 * randomness comes from a seeded Rng and time only from ticks.
 *
 * Log entries live in `log` and are never copied into XState context: the machines hold a
 * reference to this object and mutate it in their actions (DESIGN.md, "Hot path").
 */
import type { RaftConfig as Config } from './raft-config.ts';
import { MemoryLog } from './memory-log.ts';
import { MAX_RAFT_NUMBER } from './bounds.ts';
import { RaftLog } from './raft-log.ts';
import {
  type ConfState,
  type Snapshot,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  message,
} from './raftpb.ts';
import { Rng } from './rng.ts';
import { StateType, type SoftState } from './state-type.ts';
import { ProgressTracker } from './tracker.ts';
import { ReadOnly, type ReadState } from './read-only.ts';
import { type ReceivedSnapshot, SnapshotReceiver, type StagedChunk, type ChunkToSend, snapshotSizeRefusal } from './snapshot-transfer.ts';
import { type ConfChange, ConfChangeType } from './raftpb.ts';
import type { FaultHooks } from './fault-hooks.ts';

/** A command as proposed, before the leader gives it an index and a term. */
export interface ProposedEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What became of the last proposal batch: where it landed, where it went, or why it was dropped. */
export type ProposalOutcome =
  | { readonly kind: 'appended'; readonly index: number; readonly term: number; readonly count: number }
  | { readonly kind: 'forwarded'; readonly leader: number }
  | { readonly kind: 'notLeader'; readonly leader: number }
  | { readonly kind: 'dropped'; readonly reason: string; readonly confChangeInProgress?: boolean };

export interface RaftStateOptions {
  readonly config: Readonly<Config>;
  /** The persisted log, loaded into memory. */
  readonly stable?: MemoryLog;
  readonly hardState?: HardState;
  readonly confState?: ConfState;
  /**
   * Joining an existing cluster: start with no configuration (never campaign) until the leader's
   * log or snapshot brings it. Without it, a node with no stored configuration bootstraps one from
   * `config.peers`.
   */
  readonly join?: boolean;
  /** Seed of the election-timeout randomness. */
  readonly seed?: number;
  /**
   * Checks a complete snapshot from the leader before it replaces this node's log (the state
   * machine's `validateSnapshot`); throws to refuse it. The node then keeps its log and state.
   */
  readonly validateSnapshot?: (data: Uint8Array) => void;
  /**
   * What happens to a snapshot the leader sends (Raft §7):
   * - 'install' (default): chunks are kept in memory; the complete snapshot is checked with
   *   `validateSnapshot` and replaces the log at once (hosts without a state machine to restore
   *   first, like the simulation kit).
   * - 'report': chunks are kept in memory; the complete snapshot is handed to the host
   *   (`receivedSnapshot`), which restores its state machine and then calls
   *   `installReceivedSnapshot` — or drops it, and the log is never touched.
   * - 'stage': like 'report', but every accepted chunk is handed to the host (`stagedChunks`) to
   *   write to its disk, and its ack leaves only once that write is durable: memory holds at most
   *   the leader's window of chunks. The host reads the data back from its disk to restore it.
   */
  readonly snapshotReception?: 'install' | 'report' | 'stage';
  /** Fault injection, for tests of the simulation's safety checker only (./fault-hooks.ts). */
  readonly faultHooks?: FaultHooks;
}

/** A snapshot from the leader that was refused before it replaced anything, and why. */
export interface SnapshotRejection {
  readonly index: number;
  readonly term: number;
  readonly from: number;
  readonly reason: string;
}

/** Message types whose sending must wait until this node's state is durable (Raft Figure 2). */
const afterPersistTypes: ReadonlySet<MessageType> = new Set<MessageType>([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgPreVoteResp,
]);

/** Marks a vote request sent because the leader handed over leadership (thesis §3.10). */
export const campaignTransferContext = new TextEncoder().encode('CampaignTransfer');

export function isTransferCampaign(m: Message): boolean {
  const c = m.context;
  if (!c || c.byteLength !== campaignTransferContext.byteLength) return false;
  for (let i = 0; i < c.byteLength; i++) if (c[i] !== campaignTransferContext[i]) return false;
  return true;
}

export class RaftState {
  readonly id: number;
  readonly config: Readonly<Config>;
  term: number;
  /** Candidate voted for in `term`, 0 for none. */
  vote: number;
  /** The leader this node knows of in `term`, 0 for none. */
  lead = 0;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  /** Ticks since the last election timeout reset (followers, candidates) or quorum check (leaders). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Drawn from [electionTick, 2*electionTick) at every reset (Raft §5.2). */
  randomizedElectionTimeout: number;
  readonly rng: Rng;
  /** Outgoing messages that may be sent at once. */
  msgs: Message[] = [];
  /** Outgoing messages held until the state they report is durable; some are addressed to self. */
  msgsAfterAppend: Message[] = [];
  /** The peer leadership is being handed to, 0 for none (thesis §3.10). */
  leadTransferee = 0;
  /** Index of the last conf change entry appended; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Whether the current candidacy was asked for by the leader (MsgTimeoutNow). */
  transferCampaign = false;
  /** Leader only: the quorum check at the end of the last election timeout failed. */
  quorumLost = false;
  /** Reads confirmed and ready to be served once applied reaches their index (thesis §6.4). */
  readStates: ReadState[] = [];
  /** Leader only: reads waiting for a majority of heartbeat acks. */
  readonly readOnly = new ReadOnly();
  /** Leader only: reads that arrived before the leader committed an entry of its term. */
  private deferredReads: { from: number; context: Uint8Array }[] = [];
  /** Leader only: the heartbeats of the latest read round, to relabel while they are still in `msgs`. */
  private readRoundMsgs: Message[] = [];
  /** Follower: the snapshot being received in chunks, if any. */
  private incomingSnapshot: SnapshotReceiver | undefined = undefined;
  /** Snapshots refused since the host last looked (see `takeSnapshotRejections`). */
  private snapshotRejections: SnapshotRejection[] = [];
  private readonly validateSnapshot: ((data: Uint8Array) => void) | undefined;
  private readonly snapshotReception: 'install' | 'report' | 'stage';
  /** Chunks of an incoming snapshot for the host to stage on disk ('stage' reception). */
  stagedChunks: StagedChunk[] = [];
  /** A complete snapshot for the host to restore and then install ('report' and 'stage' reception). */
  receivedSnapshot: ReceivedSnapshot | undefined = undefined;
  /** The snapshot handed to the host and not yet installed or dropped: its staged chunks must stay. */
  private awaitingInstall: ReceivedSnapshot | undefined = undefined;
  /** Faults switched on by a test (./fault-hooks.ts); undefined in every real use. */
  readonly faults: FaultHooks | undefined;

  constructor(opts: RaftStateOptions) {
    const cfg = opts.config;
    this.faults = opts.faultHooks;
    this.id = cfg.nodeId;
    this.config = cfg;
    this.rng = new Rng(opts.seed ?? cfg.nodeId * 7919);
    this.validateSnapshot = opts.validateSnapshot;
    this.snapshotReception = opts.snapshotReception ?? 'install';
    this.log = new RaftLog(opts.stable ?? new MemoryLog());
    const hs = opts.hardState ?? { term: 0, vote: 0, commit: 0 };
    this.term = hs.term;
    this.vote = hs.vote;
    if (hs.commit > 0) this.log.commitTo(Math.min(hs.commit, this.log.lastIndex()));
    const cs =
      opts.confState && opts.confState.voters.length + opts.confState.learners.length > 0
        ? opts.confState
        : opts.join
          ? { voters: [], learners: [] }
          : { voters: cfg.peers.map((p) => p.id), learners: [] };
    this.tracker = new ProgressTracker(cs);
    if (opts.join && this.log.lastIndex() === 0) this.catchUpTo = 0;
    this.randomizedElectionTimeout = cfg.electionTick;
    this.resetElectionTimer();
  }

  // ----- timers (Raft §5.2) -----

  /** Restarts the election timer with a fresh random timeout in [electionTick, 2*electionTick). */
  resetElectionTimer(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTick + this.rng.int(0, this.config.electionTick);
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Within the lease of a known leader: heard from it less than an election timeout ago. */
  inLeaderLease(): boolean {
    return this.config.checkQuorum && this.lead !== 0 && this.electionElapsed < this.config.electionTick;
  }

  /**
   * Set while a member that joined with an empty log replays the cluster's history: the highest
   * commit index a leader announced to it (0 before any). Replaying, it passes through every old
   * configuration in turn, and after applying the cluster's first entry it is the only voter of
   * that configuration: were it to campaign then, it would elect itself and commit alone (found by
   * seed 1053: a wiped member, refused by its peers, led a term of its own). So it campaigns only
   * once it applied what a leader told it was committed; then the configuration it holds is one
   * the cluster held at that leader's commit.
   */
  private catchUpTo: number | undefined = undefined;

  /** This member founded the cluster (its log holds the bootstrap entries it wrote): no history to replay. */
  founded(): void {
    this.catchUpTo = undefined;
  }

  /** Only voters campaign; learners and removed nodes never disrupt the cluster. */
  isPromotable(): boolean {
    if (this.catchUpTo !== undefined) {
      if (this.catchUpTo === 0 || this.log.applied < this.catchUpTo) return false;
      this.catchUpTo = undefined;
    }
    // At the term bound no election can raise the term any further (raft/bounds.ts).
    return this.tracker.isVoter(this.id) && this.log.unstable.snapshot === undefined && this.term < MAX_RAFT_NUMBER;
  }

  /**
   * Whether a committed membership change is not applied yet. Such a node would count votes with
   * an outdated configuration, two changes away from a node that applied both; it must not
   * campaign until it catches up (etcd refuses `hup` in the same case).
   */
  hasUnappliedConfChanges(): boolean {
    const { applied, committed } = this.log;
    if (committed <= applied) return false;
    const from = Math.max(applied + 1, this.log.firstIndex());
    for (const e of this.log.slice(from, committed + 1)) if (e.type === EntryType.ConfChange) return true;
    return false;
  }

  // ----- terms -----

  /** Adopts a newer term (Raft §5.1): forget the vote and the leader of the old term. */
  adoptTerm(term: number): void {
    if (!(term <= MAX_RAFT_NUMBER)) throw new RangeError(`term ${term} is above the bound ${MAX_RAFT_NUMBER}`);
    if (term !== this.term) {
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.leadTransferee = 0;
    this.transferCampaign = false;
    this.clearPendingReads();
  }

  /** Reads in progress die with the leadership that was confirming them. */
  clearPendingReads(): void {
    this.readOnly.clear();
    this.deferredReads = [];
    this.readRoundMsgs = [];
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(raftState: StateType): SoftState {
    return { lead: this.lead, raftState };
  }

  // ----- sending -----

  /** Queues a message from this node at its current term (unless the message names a term). */
  send(fields: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    const m = message({ term: this.term, ...fields, from: this.id });
    if (afterPersistTypes.has(m.type)) this.msgsAfterAppend.push(m);
    else this.msgs.push(m);
  }

  // ----- elections (Raft §5.2, thesis §9.6) -----

  /** PreVote: ask every voter whether it would vote for us at term+1, without raising our term. */
  startPreVote(): void {
    this.lead = 0;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) this.tracker.recordVote(id, true);
      else this.send({ type: MessageType.MsgPreVote, to: id, term: this.term + 1, index: lastIndex, logTerm: lastTerm });
    }
  }

  /**
   * Raft §5.2: increment the term, vote for self, request votes from every other voter. The vote
   * for self counts only once it is durable (it arrives as a held response to self), otherwise a
   * crash could let this node vote twice in the term it led.
   */
  startElection(): void {
    const transfer = this.transferCampaign;
    this.adoptTerm(this.term + 1);
    this.transferCampaign = transfer;
    this.vote = this.id;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    const context = this.transferCampaign ? campaignTransferContext : undefined;
    for (const id of this.tracker.voters) {
      if (id === this.id) {
        if (this.faults?.on('earlySelfVote') && this.faults.hit('earlySelfVote')) this.tracker.recordVote(id, true);
        else this.msgsAfterAppend.push(message({ type: MessageType.MsgVoteResp, to: id, from: id, term: this.term }));
      }
      else this.send({ type: MessageType.MsgVote, to: id, index: lastIndex, logTerm: lastTerm, context });
    }
  }

  recordVote(m: Message): void {
    const f = this.faults;
    const granted = !m.reject || (f !== undefined && m.type === MessageType.MsgVoteResp && f.on('countRejectedVotes') && f.hit('countRejectedVotes'));
    this.tracker.recordVote(m.from, granted);
  }

  /**
   * Raft §5.2 and §5.4.1: grant at most one vote per term, and only to a candidate whose log is at
   * least as up-to-date as ours. A pre-vote for a later term commits us to nothing, so it only
   * needs the log check.
   */
  canGrantVote(m: Message): boolean {
    const canVote =
      this.vote === m.from ||
      (this.vote === 0 && this.lead === 0) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    const upToDate = this.log.isUpToDate(m.index, m.logTerm);
    const f = this.faults;
    if (f !== undefined) {
      if (!canVote && upToDate && m.type === MessageType.MsgVote && this.vote !== 0 && f.on('secondVote')) return f.hit('secondVote');
      if (canVote && !upToDate && f.on('ignoreUpToDate')) return f.hit('ignoreUpToDate');
    }
    return canVote && upToDate;
  }

  grantVote(m: Message): void {
    if (m.type === MessageType.MsgVote) {
      this.electionElapsed = 0;
      this.vote = m.from;
      if (this.faults?.on('unpersistedVote') && this.faults.hit('unpersistedVote')) {
        this.msgs.push(message({ type: MessageType.MsgVoteResp, to: m.from, from: this.id, term: m.term }));
        return;
      }
      this.send({ type: MessageType.MsgVoteResp, to: m.from, term: m.term });
    } else {
      this.send({ type: MessageType.MsgPreVoteResp, to: m.from, term: m.term });
    }
  }

  rejectVote(m: Message): void {
    const type = m.type === MessageType.MsgVote ? MessageType.MsgVoteResp : MessageType.MsgPreVoteResp;
    this.send({ type, to: m.from, reject: true });
  }

  // ----- followers (Raft §5.3) -----

  /** A message from the current leader: remember it and restart the election timer. */
  followLeader(from: number): void {
    this.electionElapsed = 0;
    this.lead = from;
  }

  /** AppendEntries receiver (Raft Figure 2), with etcd's conflict hint for fast backtracking. */
  handleAppendEntries(m: Message): void {
    if (this.catchUpTo !== undefined) this.catchUpTo = Math.max(this.catchUpTo, m.commit);
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed });
      return;
    }
    const f = this.faults;
    const durableBefore = f ? this.log.stable.lastIndexSync() : 0;
    let prevTerm = m.logTerm;
    if (f?.on('ignorePrevTerm') && m.index <= this.log.lastIndex() && m.index >= this.log.firstIndex() && !this.log.matchTerm(m.index, m.logTerm) && f.hit('ignorePrevTerm')) {
      prevTerm = this.log.termOrZero(m.index);
    }
    const lastNew = this.log.maybeAppend(m.index, prevTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      if (f?.on('earlyAppendAck') && lastNew <= durableBefore && f.hit('earlyAppendAck')) {
        // The fault: entries already on disk reach `lastNew`, so the ack goes out before the write.
        this.msgs.push(message({ type: MessageType.MsgAppResp, to: m.from, from: this.id, term: this.term, index: lastNew }));
        return;
      }
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: lastNew });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: MessageType.MsgAppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  handleHeartbeat(m: Message): void {
    // The leader caps the commit index at what it knows we hold; a node that lost its log (it ran
    // without a data dir and restarted) can still be behind that, so never commit past our log.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    if (this.faults?.on('commitRegress') && m.commit < this.log.committed && this.faults.hit('commitRegress')) this.log.committed = m.commit;
    this.send({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context });
  }

  /**
   * InstallSnapshot receiver, one chunk at a time (Raft §7). Each chunk is acknowledged with the
   * offset held so far; the last one installs the snapshot, or hands it to the host first.
   */
  handleSnapshotChunk(m: Message): void {
    const snap = m.snapshot;
    if (!snap) return;
    const hostRestores = this.snapshotReception !== 'install';
    if (!m.chunk && !hostRestores) {
      this.handleSnapshot(snap, m.from);
      return;
    }
    // An unchunked snapshot is a transfer of one chunk.
    const { offset, size } = m.chunk ?? { offset: 0, size: snap.data.byteLength };
    const meta = snap.metadata;
    const staging = this.snapshotReception === 'stage';
    // Acks wait for the staging write when chunks go to disk: the leader's window then bounds what
    // this node holds in memory. All of them, so they reach the leader in order.
    const ack = (held: number) => {
      const m2 = message({ type: MessageType.MsgSnapAck, to: m.from, from: this.id, term: this.term, index: meta.index, commit: held });
      if (staging) this.msgsAfterAppend.push(m2);
      else this.msgs.push(m2);
    };
    const waiting = this.awaitingInstall;
    if (waiting) {
      // The host is restoring a complete snapshot: its staged chunks must stay as they are. A resend
      // of that one is answered as complete; any other transfer waits for the leader's next try.
      if (waiting.from === m.from && waiting.term === m.term && waiting.metadata.index === meta.index && waiting.size === size) ack(size);
      return;
    }
    if (meta.index <= this.log.committed) {
      // Nothing to install: tell the leader where our log is so it goes back to appending.
      this.incomingSnapshot = undefined;
      this.send({ type: MessageType.MsgAppResp, to: m.from, index: this.log.committed });
      return;
    }
    let rx = this.incomingSnapshot;
    if (!rx || !rx.matches(m.from, m.term, meta, size)) {
      rx = undefined;
      if (offset === 0) {
        const refusal = snapshotSizeRefusal(size, this.config.maxSnapshotBytes);
        if (refusal) this.rejectSnapshot(meta.index, meta.term, m.from, refusal);
        else rx = new SnapshotReceiver(m.from, m.term, meta, size, !staging);
      }
      this.incomingSnapshot = rx;
    }
    if (rx) {
      const taken = rx.accept(offset, snap.data);
      if (taken && staging) this.stagedChunks.push({ index: meta.index, term: meta.term, offset, data: taken });
    }
    ack(rx?.received ?? 0);
    if (!rx || !rx.complete()) return;
    this.incomingSnapshot = undefined;
    if (!hostRestores) {
      this.handleSnapshot(rx.snapshot(), m.from);
      return;
    }
    if (!this.snapshotStillNeeded(meta, m.from)) return;
    const received: ReceivedSnapshot = { from: m.from, term: m.term, metadata: meta, size, ...(staging ? {} : { data: rx.snapshot().data }) };
    this.receivedSnapshot = received;
    this.awaitingInstall = received;
  }

  /**
   * Whether a complete snapshot still has something to replace; if not, answers the leader as
   * `handleSnapshot` does (the log covers it, or already holds its last entry).
   */
  private snapshotStillNeeded(meta: Snapshot['metadata'], from: number): boolean {
    if (meta.index <= this.log.committed) {
      this.send({ type: MessageType.MsgAppResp, to: from, index: this.log.committed });
      return false;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      this.log.commitTo(meta.index);
      this.send({ type: MessageType.MsgAppResp, to: from, index: this.log.committed });
      return false;
    }
    return true;
  }

  /** The complete snapshot handed to the host, once: the host restores it, then installs or drops it. */
  takeReceivedSnapshot(): ReceivedSnapshot | undefined {
    const r = this.receivedSnapshot;
    this.receivedSnapshot = undefined;
    return r;
  }

  /**
   * Whether a snapshot handed to the host may still replace the log: the leader that sent it still
   * leads this term, and the log does not cover it meanwhile. The host asks before restoring.
   */
  wantsReceivedSnapshot(r: ReceivedSnapshot): boolean {
    const { index, term } = r.metadata;
    return this.awaitingInstall === r && this.term === r.term && this.lead === r.from && index > this.log.committed && !this.log.matchTerm(index, term);
  }

  /**
   * The host restored its state machine from `r` (data `data`): the snapshot now replaces the log
   * (Raft §7) and goes out in the next Ready to be made durable; the leader's answer waits for that.
   * Returns false, changing nothing, when the snapshot is no longer wanted (see
   * `wantsReceivedSnapshot`): the host then puts its state machine back.
   */
  installReceivedSnapshot(r: ReceivedSnapshot, data: Uint8Array): boolean {
    if (!this.wantsReceivedSnapshot(r)) {
      if (this.awaitingInstall === r) this.awaitingInstall = undefined;
      return false;
    }
    this.awaitingInstall = undefined;
    this.log.restore({ metadata: r.metadata, data });
    this.tracker.setConfState(r.metadata.confState);
    this.send({ type: MessageType.MsgAppResp, to: r.from, index: this.log.lastIndex() });
    return true;
  }

  /** The host could not restore `r` (or no longer wants it): forget it; the log was never touched. */
  dropReceivedSnapshot(r: ReceivedSnapshot): void {
    if (this.awaitingInstall === r) this.awaitingInstall = undefined;
  }

  /** Installs a complete snapshot unless the log already covers it. */
  handleSnapshot(snap: Snapshot, from: number): void {
    const { index, term } = snap.metadata;
    if (this.catchUpTo !== undefined) this.catchUpTo = Math.max(this.catchUpTo, index);
    if (index <= this.log.committed) {
      this.send({ type: MessageType.MsgAppResp, to: from, index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // The log already holds the snapshot's last entry: fast-forward the commit index instead, and
      // report only that (entries after it may be of another term; the leader probes for them).
      this.log.commitTo(index);
      this.send({ type: MessageType.MsgAppResp, to: from, index: this.log.committed });
      return;
    }
    // Checked before it replaces anything: a snapshot the state machine cannot restore would
    // otherwise be persisted as this node's state and fail every restart. Refused, the node keeps
    // its log and sends no answer; the leader resends after its backoff (maybe a newer snapshot).
    const refusal = snapshotSizeRefusal(snap.data.byteLength, this.config.maxSnapshotBytes) ?? this.checkSnapshotData(snap.data);
    if (refusal) {
      this.rejectSnapshot(index, term, from, refusal);
      return;
    }
    const f = this.faults;
    if (f?.on('installStaleSnapshotData') && this.log.snapshot().metadata.index > 0 && f.hit('installStaleSnapshotData')) {
      // The fault: the new snapshot's metadata with the state of the one this node already had.
      snap = { metadata: snap.metadata, data: this.log.snapshot().data };
    }
    this.log.restore(snap);
    this.tracker.setConfState(snap.metadata.confState);
    this.send({ type: MessageType.MsgAppResp, to: from, index: this.log.lastIndex() });
  }

  /** The state machine's verdict on a snapshot's data: the reason it is refused, or undefined. */
  private checkSnapshotData(data: Uint8Array): string | undefined {
    if (!this.validateSnapshot) return undefined;
    try {
      this.validateSnapshot(data);
      return undefined;
    } catch (err) {
      return `the state machine refused its data: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Keeps the latest few refusals only: a host that never looks must not make them pile up. */
  private rejectSnapshot(index: number, term: number, from: number, reason: string): void {
    if (this.snapshotRejections.length >= 16) this.snapshotRejections.shift();
    this.snapshotRejections.push({ index, term, from, reason });
  }

  /** Snapshots refused since the last call, for the host to log (each is also reason to worry). */
  takeSnapshotRejections(): SnapshotRejection[] {
    if (this.snapshotRejections.length === 0) return [];
    const out = this.snapshotRejections;
    this.snapshotRejections = [];
    return out;
  }

  /** Forward a proposal to the leader (followers); returns where it went or why it cannot be taken. */
  forwardProposal(entries: readonly ProposedEntry[]): ProposalOutcome {
    if (this.lead === 0) return { kind: 'dropped', reason: 'no leader is known; the proposal was dropped' };
    if (this.config.disableProposalForwarding) return { kind: 'notLeader', leader: this.lead };
    const ents: Entry[] = entries.map((e) => ({ term: 0, index: 0, type: e.type, data: e.data }));
    this.send({ type: MessageType.MsgProp, to: this.lead, term: 0, entries: ents });
    return { kind: 'forwarded', leader: this.lead };
  }

  // ----- membership (Raft §6, thesis §4.1: one server at a time) -----

  /** Whether a conf change is appended but not yet applied (a second one must wait). */
  confChangePending(): boolean {
    return this.pendingConfIndex > this.log.applied;
  }

  /**
   * Applies a committed conf change: the new configuration takes effect when applied. A leader
   * starts (or stops) tracking the member's progress. Returns the new ConfState.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const t = this.tracker;
    const voters = new Set(t.voters);
    const learners = new Set(t.learners);
    switch (cc.type) {
      case ConfChangeType.AddNode:
        learners.delete(cc.nodeId);
        voters.add(cc.nodeId);
        break;
      case ConfChangeType.AddLearnerNode:
        voters.delete(cc.nodeId);
        learners.add(cc.nodeId);
        break;
      case ConfChangeType.RemoveNode:
        voters.delete(cc.nodeId);
        learners.delete(cc.nodeId);
        break;
      case ConfChangeType.UpdateNode:
        break;
    }
    t.setConfState({ voters: [...voters], learners: [...learners] });
    if (this.lead === this.id) {
      // Replicators for added members are spawned, and those of removed ones stopped, by the role machine.
      t.syncMembers(this.id, this.log.lastIndex());
      if (cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.leadTransferee) this.leadTransferee = 0;
    }
    return t.confState();
  }

  // ----- leadership transfer (thesis §3.10) -----

  /**
   * Leader: hand leadership to `to`. Proposals are refused until it completes or an election
   * timeout passes. Once the target's log matches ours it gets MsgTimeoutNow and campaigns at once.
   * Returns the reason when refused.
   */
  startLeaderTransfer(to: number): string | undefined {
    if (to === this.id) return undefined;
    if (!this.tracker.isVoter(to)) return `node ${to} is not a voting member`;
    if (this.leadTransferee === to) return undefined;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    this.maybeSendTimeoutNow(to);
    return undefined;
  }

  /** Sends MsgTimeoutNow to the transfer target once its log is complete. */
  maybeSendTimeoutNow(from: number): void {
    if (from !== this.leadTransferee || from === 0) return;
    if (this.tracker.isMember(from) && this.tracker.matchOf(from) === this.log.lastIndex()) this.send({ type: MessageType.MsgTimeoutNow, to: from });
  }

  // ----- local snapshots and compaction -----

  /**
   * Records a snapshot of the state machine taken right after applying `index`, and drops log
   * entries older than `index - keepEntries` so slightly lagging followers still catch up from
   * the log. Returns the snapshot for the host to persist.
   */
  createSnapshot(index: number, data: Uint8Array, keepEntries: number, confState: ConfState = this.tracker.confState()): Snapshot {
    if (index > this.log.applied) throw new Error(`cannot snapshot at ${index}: only ${this.log.applied} is applied`);
    const snap = this.log.stable.createSnapshotSync(index, confState, data);
    const compactTo = index - keepEntries;
    if (compactTo > this.log.stable.firstIndexSync()) this.log.stable.compactSync(compactTo);
    return snap;
  }

  // ----- leaders (Raft §5.3, §5.4, §8) -----

  /** A new leader starts with nextIndex = lastIndex+1 for everyone (Raft Figure 2). */
  initLeadership(): void {
    this.lead = this.id;
    this.heartbeatElapsed = 0;
    this.electionElapsed = 0;
    this.quorumLost = false;
    this.tracker.resetMatches(this.log.lastIndex(), this.id);
  }

  /**
   * Appends proposals at the leader's term. The leader acknowledges its own entries only once they
   * are durable (a held MsgAppResp to self), so it never counts itself towards a commit for an
   * entry it could lose in a crash.
   */
  appendProposals(entries: readonly ProposedEntry[]): { index: number; term: number; count: number } {
    const first = this.log.lastIndex() + 1;
    const ents: Entry[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      ents[i] = { term: this.term, index: first + i, type: entries[i]!.type, data: entries[i]!.data };
      if (entries[i]!.type === EntryType.ConfChange) this.pendingConfIndex = first + i;
    }
    const last = this.log.append(ents);
    if (this.faults?.on('earlySelfAck') && this.faults.hit('earlySelfAck')) this.acknowledgeOwnAppend(last);
    else this.msgsAfterAppend.push(message({ type: MessageType.MsgAppResp, to: this.id, from: this.id, term: this.term, index: last }));
    if (this.faults?.on('misreportProposalIndex') && this.faults.hit('misreportProposalIndex')) return { index: first + 1, term: this.term, count: entries.length };
    return { index: first, term: this.term, count: entries.length };
  }

  /** The leader's own entries up to `index` are durable. */
  acknowledgeOwnAppend(index: number): void {
    this.tracker.raiseMatch(this.id, index);
  }

  /** Raft §5.3/§5.4.2: commit the highest index a majority has, if it is of this term. */
  advanceCommitIndex(): boolean {
    return this.log.maybeCommit(this.tracker.committed(), this.term);
  }

  /** Sends chunks of a snapshot to a peer whose next entry was compacted (Raft §7). */
  sendSnapshotChunks(to: number, snap: Snapshot, chunks: readonly ChunkToSend[]): void {
    const size = snap.data.byteLength;
    for (const c of chunks) {
      this.send({ type: MessageType.MsgSnap, to, snapshot: { metadata: snap.metadata, data: c.data }, chunk: { offset: c.offset, size } });
    }
  }

  /** A heartbeat carries the commit index, capped at what the follower is known to have (`match`). */
  sendHeartbeat(to: number, match: number, context?: Uint8Array): void {
    let commit = Math.min(match, this.log.committed);
    if (this.faults?.on('uncappedHeartbeatCommit') && commit < this.log.committed && this.faults.hit('uncappedHeartbeatCommit')) commit = this.log.committed;
    this.send({ type: MessageType.MsgHeartbeat, to, commit, context });
    if (context) {
      const m = this.msgs[this.msgs.length - 1]!;
      if (this.readRoundMsgs.length > 0 && this.readRoundMsgs[0]!.context !== context) this.readRoundMsgs = [];
      this.readRoundMsgs.push(m);
    }
  }

  // ----- linearizable reads (thesis §6.4) -----

  /** Whether the leader has committed an entry of its own term (its commit index is then current). */
  committedInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  /**
   * Lease-based reads (thesis §6.4.1): with `readOnlyOption: 'leaseBased'` the leader answers from
   * its commit index without a heartbeat round while it holds its CheckQuorum lease: a majority of
   * voters (itself included) answered it in the current quorum round, which began less than an
   * election timeout ago. Each of those followers refuses to vote for another candidate until an
   * election timeout after it last heard from this leader (`inLeaderLease`), so no newer leader can
   * exist yet. That holds only if clocks advance at about the same rate (bounded drift) and
   * messages are not delayed by a sizeable part of the election timeout; a leader process paused
   * (GC, SIGSTOP, a stalled VM) past its lease, or a clock running slow, can serve a stale read.
   * During a leadership transfer the target campaigns at once (no lease), so reads then take the
   * ReadIndex path; so do reads at the start of each quorum round, until a majority answered again.
   */
  holdsReadLease(): boolean {
    return (
      this.config.readOnlyOption === 'leaseBased' &&
      this.config.checkQuorum &&
      this.lead === this.id &&
      this.leadTransferee === 0 &&
      this.electionElapsed < this.config.electionTick &&
      this.tracker.quorumActive(this.id)
    );
  }

  /**
   * Leader: start confirming a read for `from` (this node or a follower). Returns the context to
   * send with a new heartbeat round, or undefined when no new round is needed: a single voter or
   * a leader holding its lease answers at once; before the first commit of the term the read
   * waits; a read arriving while the latest round has not left this node yet joins it; one
   * arriving while a round is in flight waits for the next round (ReadOnly explains why).
   */
  startRead(from: number, context: Uint8Array): Uint8Array | undefined {
    if (!this.committedInCurrentTerm()) {
      this.deferredReads.push({ from, context });
      return undefined;
    }
    if (!this.queueRead(from, context)) return undefined;
    if (this.relabelUnsentRound()) return undefined;
    if (this.readOnly.roundInFlight()) return undefined;
    return this.readOnly.startRound();
  }

  /** Answers a read at once when no round is needed, or queues it for one; returns whether it queued. */
  private queueRead(from: number, context: Uint8Array): boolean {
    if ((this.tracker.voters.length === 1 && this.tracker.isVoter(this.id)) || this.holdsReadLease()) {
      this.answerRead(from, this.log.committed, context);
      return false;
    }
    this.readOnly.add(this.id, from, this.log.committed, context);
    return true;
  }

  /**
   * Leader: the context the next heartbeat round carries, when reads wait for one (they ride on
   * the periodic heartbeat, or start a round when the one in flight was confirmed).
   */
  nextReadRound(): Uint8Array | undefined {
    return this.readOnly.startRound();
  }

  /**
   * When every heartbeat of the latest read round is still queued in `msgs` (the host has not
   * taken them), the newest read joins that round: the heartbeats carry its context instead, so
   * they leave after every read they confirm arrived. Returns whether it did.
   */
  private relabelUnsentRound(): boolean {
    const round = this.readRoundMsgs;
    if (round.length === 0) return false;
    const at = round.map((m) => this.msgs.lastIndexOf(m));
    if (at.some((i) => i < 0)) return false;
    const context = this.readOnly.startRound();
    if (!context) return false;
    for (let i = 0; i < round.length; i++) {
      const m = { ...round[i]!, context };
      this.msgs[at[i]!] = m;
      round[i] = m;
    }
    return true;
  }

  /**
   * Leader: reads deferred until the first commit of the term. Returns the context of the one
   * heartbeat round that confirms them all, or undefined when none is needed.
   */
  takeDeferredReads(): Uint8Array | undefined {
    if (this.deferredReads.length === 0 || !this.committedInCurrentTerm()) return undefined;
    const reads = this.deferredReads;
    this.deferredReads = [];
    for (const r of reads) this.queueRead(r.from, r.context);
    return this.readOnly.roundInFlight() ? undefined : this.readOnly.startRound();
  }

  /**
   * Leader: a heartbeat ack carrying a read context. Returns the context of a new round when the
   * ack confirmed the round in flight and reads arrived meanwhile (they go in one round now).
   */
  ackRead(from: number, context: Uint8Array): Uint8Array | undefined {
    const confirmed = this.readOnly.ack(from, context, this.tracker.voters);
    for (const r of confirmed) this.answerRead(r.from, r.index, r.context);
    if (confirmed.length === 0 || this.readOnly.roundInFlight()) return undefined;
    return this.readOnly.startRound();
  }

  private answerRead(to: number, index: number, context: Uint8Array): void {
    if (to === this.id) this.readStates.push({ index, context });
    else this.send({ type: MessageType.MsgReadIndexResp, to, index, context });
  }

  /** Follower: ask the leader for a read index. Returns why it could not, if it could not. */
  forwardRead(context: Uint8Array): string | undefined {
    if (this.lead === 0) return 'no leader is known; the read was dropped';
    this.send({ type: MessageType.MsgReadIndex, to: this.lead, term: 0, context });
    return undefined;
  }

  /** Follower: the leader's answer. */
  readIndexAnswered(m: Message): void {
    if (m.context) this.readStates.push({ index: m.index, context: m.context });
  }

  /** A stale leader or candidate learns of the newer term from this reply (etcd's rule with CheckQuorum/PreVote). */
  answerStaleTerm(m: Message): void {
    if (this.faults?.on('adoptStaleTerm') && m.type === MessageType.MsgHeartbeat && this.faults.hit('adoptStaleTerm')) {
      // The fault: follow a deposed leader back into its older term.
      this.term = m.term;
      this.vote = 0;
      this.lead = m.from;
      return;
    }
    if ((this.config.checkQuorum || this.config.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
      this.send({ type: MessageType.MsgAppResp, to: m.from });
    } else if (m.type === MessageType.MsgPreVote) {
      this.send({ type: MessageType.MsgPreVoteResp, to: m.from, reject: true });
    }
  }
}
