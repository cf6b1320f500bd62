/**
 * The host loop: the ONE place that turns a node actor's Readys into durable writes, sends and
 * applies. RaftNode runs it in production and the simulation runs it for every simulated node;
 * only what is injected differs: the Clock (real timers or the simulation's virtual time), the
 * Storage under the storage actor (DiskStorage, MemoryStorage or the simulated disk) and the
 * Transport under the transport actor (TCP or the simulated network).
 *
 * One turn: inputs (ticks, messages, proposals, read barriers) go into the node actor and a flush
 * is deferred to the end of the turn (`clock.defer`), so everything that arrived in one turn —
 * every proposal of every request the event loop delivered — is appended and replicated as one
 * batch. The flush hands each Ready's writes to the storage actor (group commit), its messages to
 * the transport actor (one batch per peer per turn) and its committed entries to the apply chain.
 * PERSISTED comes back from the storage actor and releases what waited for the disk (Raft Figure
 * 2: persist before answering), then the next flush runs.
 *
 * Everything here completes synchronously when what it waits for does: a state machine that does
 * not return promises is applied at once, and a disk that completes from an event queue reports
 * PERSISTED from that event. That is what lets the deterministic simulation run this very code.
 */
import type { Config } from '../config.ts';
import { ConfChangeInProgressError, NotLeaderError, ProposalDroppedError, ProposalOutcomeUnknownError, type RaftError, SnapshotRejectedError, StorageInconsistentError, StoppedError } from '../errors.ts';
import type { Clock, Cancel } from '../io/clock.ts';
import { type Proposer, isFrom, unwrapProposal, wrapProposal } from './proposal-envelope.ts';
import type { Storage, StorageWrite } from '../io/storage.ts';
import { decodeConfChange, encodeConfChange } from '../raft/confchange.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { PeerReport, SenderIdentity } from '../raft/member-identity.ts';
import { type ConfChange, ConfChangeType, type ConfState, type Entry, EntryType, type Message, MessageType } from '../raft/raftpb.ts';
import type { ProposalOutcome } from '../raft/raft-state.ts';
import type { Ready } from '../raft/ready.ts';
import { contextKey } from '../raft/read-only.ts';
import { type SoftState, StateType } from '../raft/state-type.ts';
import type { StateMachine } from '../state-machine.ts';
import { ApplyChain } from './apply-chain.ts';
import type { Logger } from './logger.ts';
import { type MaybePromise, runSteps } from './maybe-async.ts';
import type { MemberAddresses } from './member-addresses.ts';
import type { NodeActor } from './node-actor.ts';
import type { PendingRequests, ProposeResult } from './pending-requests.ts';
import { restoreReceivedSnapshot } from './received-snapshot.ts';
import { SnapshotPolicy } from './snapshot-policy.ts';
import { StorageActor } from './storage-actor.ts';
import type { TransportActor } from './transport-actor.ts';

/** What `applied$` emits: one entry as the state machine applied it. */
export interface AppliedEvent {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly result: unknown;
}

const noCleanup = (): void => {};

/** How the loop reports to its host (RaftNode's streams). */
export interface HostLoopEvents {
  /** Every Ready handled (in manual mode: the one the application must handle). */
  ready?(rd: Ready): void;
  state?(s: SoftState): void;
  applied?(ev: AppliedEvent): void;
  /** Whether anyone listens to `applied` now: no event object is built per entry otherwise. */
  wantsApplied?(): boolean;
  /** A non-fatal error (errors$). */
  error?(err: Error): void;
  /** The node can no longer be trusted to go on: the host must stop it. */
  fatal(err: Error): void;
  /** After each tick, with the number of ticks so far. */
  tick?(ticks: number): void;
}

/**
 * Observation points for the simulation's safety checker. They never change what the loop does;
 * they see what it hands to the disk, the state machine and the log, where it does so.
 */
export interface HostLoopObserver {
  /** A Ready taken from the node actor, before anything in it is handled. */
  ready?(rd: Ready): void;
  /** An entry passed through the apply path, in order: no-ops and membership changes too, with the command's payload as data. */
  applied?(e: Entry): void;
  /** The state machine was restored from a snapshot from the leader. */
  snapshotInstalled?(index: number, data: Uint8Array): void;
  /** The state machine was serialized into a snapshot at `index`. */
  snapshotTaken?(index: number, data: Uint8Array): void;
  /** A turn ended: every Ready there was has been handled. */
  turnEnded?(): void;
}

/** The counters the loop keeps where things happen (NodeMetrics has them; the loop names only what it needs). */
export interface LoopCounters {
  commits: number;
  applies: number;
  elections: number;
  leaderChanges: number;
  snapshotsReceived: number;
  snapshotsTaken: number;
  /** A storage write finished: entries carried, seconds taken. */
  readonly recordWrite: (entries: number, seconds: number) => void;
}

/** How a proposal's caller hears of its outcome. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

export interface HostLoopOptions<R> {
  readonly node: NodeActor;
  readonly config: Readonly<Config>;
  readonly stateMachine: StateMachine<R>;
  readonly clock: Clock;
  readonly storage: Storage;
  /** The network; none in manual mode. */
  readonly transport?: TransportActor | undefined;
  readonly pending: PendingRequests;
  /** This run's identity in proposal envelopes. */
  readonly proposer: Proposer;
  readonly addresses: MemberAddresses;
  readonly metrics: LoopCounters;
  readonly log: Logger;
  readonly events: HostLoopEvents;
  readonly observer?: HostLoopObserver | undefined;
  /** Manual mode: the application handles each Ready itself and calls `advance()` (etcd style). */
  readonly manual?: boolean | undefined;
  /** The last entry the state machine holds already (it resumes after it). */
  readonly appliedIndex: number;
  /** The snapshot the node started from. */
  readonly snapshotIndex: number;
  /**
   * For a durable log: given a leader's commit index and this log's last index, says what was lost
   * when the leader holds committed entries this member acknowledged and no longer has (a log tail
   * lost after a crash). Undefined for a log kept in memory, which forgets by design.
   */
  readonly lostTail?: ((leaderCommit: number, lastIndex: number) => string | undefined) | undefined;
  /** Names the store in errors. */
  readonly storeName: string;
  /** Virtual ms until the first tick (default: one tick interval). The simulation staggers nodes. */
  readonly firstTickAfter?: number | undefined;
  /** Fault injection for the checker's own tests (src/raft/fault-hooks.ts); never set otherwise. */
  readonly faultHooks?: FaultHooks | undefined;
}

export class HostLoop<R = unknown> {
  readonly node: NodeActor;
  /** The write path: one write at a time, group commit. Undefined in manual mode. */
  readonly storageActor: StorageActor | undefined;
  readonly transport: TransportActor | undefined;
  private readonly o: HostLoopOptions<R>;
  private readonly sm: StateMachine<R>;
  private readonly clock: Clock;
  private readonly pending: PendingRequests;
  private readonly chain: ApplyChain;
  private readonly snapshots: SnapshotPolicy;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private proposalBatch: { seq: number; data: Uint8Array }[] = [];
  private readsToStart: Uint8Array[] = [];
  /** Readys whose writes are with the storage actor, by write sequence number. */
  private readonly writes = new Map<number, Ready>();
  private cancelFlush: Cancel | undefined;
  private cancelTick: Cancel | undefined;
  private ticks_ = 0;
  private lastLead = 0;
  private lastRole: string = StateType.Follower;
  private appliedIndex_: number;
  /** A fatal error stopped the apply chain: entries after it are not applied, even while stopping. */
  private applyHalted = false;
  /** Manual mode: a Ready was handed out and advance() has not been called yet. */
  private awaitingAdvance: Ready | undefined;
  /** Fault `staleSnapshot` only: the state machine data of the last snapshot taken or restored. */
  private lastSnapshotData: Uint8Array | undefined;

  constructor(opts: HostLoopOptions<R>) {
    this.o = opts;
    this.node = opts.node;
    this.sm = opts.stateMachine;
    this.clock = opts.clock;
    this.pending = opts.pending;
    this.transport = opts.transport;
    this.appliedIndex_ = opts.appliedIndex;
    if (opts.appliedIndex > 0) this.node.applied(opts.appliedIndex);
    this.chain = new ApplyChain((err) => this.fatal(err instanceof Error ? err : new Error(String(err))));
    this.snapshots = new SnapshotPolicy(
      {
        interval: opts.config.snapshotInterval,
        logSnapshotIndex: () => this.node.raft.log.snapshot().metadata.index,
        confState: () => opts.addresses.withAddresses(this.node.raft.tracker.confState()),
        serialize: () => this.serializeForSnapshot(),
        current: () => this.state === 'running',
        record: (index, data, cs) => this.node.createSnapshot(index, data, cs),
        write: (snap) => this.submitWrite({ snapshot: snap }),
        taken: (index, data) => {
          opts.metrics.snapshotsTaken++;
          this.lastSnapshotData = data;
          opts.observer?.snapshotTaken?.(index, data);
          opts.log.info('snapshot taken', { index, bytes: data.byteLength, firstIndex: this.node.raft.log.firstIndex() });
        },
        failed: (err) => opts.events.error?.(err),
      },
      opts.snapshotIndex,
    );
    if (!opts.manual) {
      this.storageActor = new StorageActor(opts.storage, { onWrite: opts.metrics.recordWrite });
      this.storageActor.persisted$.subscribe({ next: (seq) => this.onPersisted(seq), error: (err: Error) => this.fatal(err) });
      this.storageActor.errors$.subscribe((err) => opts.events.error?.(err));
    }
  }

  /** Starts ticking and handles what the node actor has to say already (storage and transport are ready). */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.scheduleTick(this.o.firstTickAfter ?? this.o.config.tickInterval);
    this.scheduleFlush();
  }

  /** Ticks so far (the unit of the pending requests' deadlines). */
  get ticks(): number {
    return this.ticks_;
  }

  /** The last entry the state machine applied. */
  get appliedIndex(): number {
    return this.appliedIndex_;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  // ----- inputs -----

  /** A message from a peer, through the transport. */
  onMessage(msg: Message, sender?: SenderIdentity): void {
    if (this.state !== 'running') return;
    if (msg.to !== this.node.id) {
      this.o.log.warn('dropped a message addressed to another node', { to: msg.to, from: msg.from });
      return;
    }
    // Only a heartbeat from a leader this member accepts as itself can prove it lost its log tail; a
    // wiped member under an old id is refused by identity instead (docs/membership.md).
    const admitted = !sender || this.node.peers.verdict(msg.from, sender).kind === 'accept';
    if (msg.type === MessageType.MsgHeartbeat && admitted && this.logLostUnder(msg)) return;
    if (this.guarded(() => this.node.step(msg, sender))) this.scheduleFlush();
    if (msg.type === MessageType.MsgSnap) this.reportSnapshotRejections();
  }

  /** What the transport learned of a peer's member identity (the TCP handshake). */
  peerReport(peer: number, report: PeerReport): void {
    if (this.state !== 'running') return;
    if (this.guarded(() => this.node.peerReport(peer, report))) this.scheduleFlush();
  }

  /** Queues a command for this turn's batch; `settle` hears of its outcome. */
  propose(data: Uint8Array, settle: Settle<ProposeResult<R>>, signal?: AbortSignal): void {
    const seq = this.track(settle as Settle<ProposeResult>, signal);
    this.proposalBatch.push({ seq, data: wrapProposal(this.o.proposer, seq, data) });
    this.scheduleFlush();
  }

  /**
   * Proposes a command at once, alone, and says what became of it in Raft (appended, forwarded,
   * refused). Its final outcome still comes through `settle`. For hosts that need the outcome in
   * the same step (the simulation); `propose` batches and is the production path.
   */
  proposeNow(data: Uint8Array, settle: Settle<ProposeResult<R>>): ProposalOutcome {
    const seq = this.track(settle as Settle<ProposeResult>);
    this.proposalBatch.push({ seq, data: wrapProposal(this.o.proposer, seq, data) });
    const out = this.submitProposals();
    this.flushIfChanged();
    return out;
  }

  /** Proposes a membership change (leader only); it takes effect when applied (Raft §6). */
  proposeConfChange(cc: ConfChange, settle: Settle<ProposeResult<R>>, signal?: AbortSignal): ProposalOutcome {
    const out = this.node.propose([{ type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
    this.flushIfChanged();
    if (out.kind === 'dropped') {
      settle.reject(out.confChangeInProgress ? new ConfChangeInProgressError() : new ProposalDroppedError(out.reason));
    } else if (out.kind !== 'appended') {
      const lead = this.node.raft.lead;
      settle.reject(new NotLeaderError(lead, this.o.addresses.get(lead)));
    } else {
      const seq = this.track(settle as Settle<ProposeResult>, signal);
      this.pending.located(seq, out.index, out.term);
    }
    return out;
  }

  /** Starts a linearizable read barrier with this turn's batch; `settle` gets its index once applied here. */
  readIndex(context: Uint8Array, settle: Settle<number>, signal?: AbortSignal): void {
    const key = contextKey(context);
    const onAbort = () => this.pending.failRead(key, signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.pending.addRead(key, this.ticks_ + 4 * this.o.config.electionTick, settle.resolve, settle.reject, () => signal?.removeEventListener('abort', onAbort));
    this.readsToStart.push(context);
    this.scheduleFlush();
  }

  /** Starts a read barrier at once; returns the refusal, if any. Confirmed reads come out in the Readys. */
  readIndexNow(context: Uint8Array): string | undefined {
    const refused = this.node.readIndex(context);
    this.flushIfChanged();
    return refused;
  }

  campaign(): boolean {
    const ok = this.guarded(() => this.node.campaign());
    this.flushIfChanged();
    return ok;
  }

  /** Asks the node (the leader) to hand leadership to `to`; returns the refusal, if any. */
  transferLeadership(to: number): string | undefined {
    const refused = this.node.transferLeadership(to);
    this.flushIfChanged();
    return refused;
  }

  /** Manual mode: deliver a message from a peer. */
  step(msg: Message): void {
    this.node.step(msg);
    if (msg.type === MessageType.MsgSnap) this.reportSnapshotRejections();
    this.scheduleFlush();
  }

  /** Manual mode: the application persisted, sent and applied the last Ready handed out. */
  advance(): void {
    const rd = this.awaitingAdvance;
    if (!rd) return;
    this.awaitingAdvance = undefined;
    this.node.persisted(rd);
    for (const e of rd.committedEntries) {
      const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
      if (e.type === EntryType.ConfChange) this.applyConfChange(e);
      this.pending.applied(e, env, undefined);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      this.appliedIndex_ = last;
      this.node.applied(last);
      this.pending.appliedUpTo(last);
    }
    this.scheduleFlush();
  }

  // ----- lifecycle -----

  /**
   * Stops the loop without lying to callers. Proposals still in this turn's batch never reached
   * Raft: StoppedError (provably not applied, safe to retry). Entries already known committed are
   * applied before it resolves, settling the proposals they carry. A proposal still pending after
   * that was appended or forwarded, so the cluster may yet commit it: ProposalOutcomeUnknownError,
   * never a "stopped" that invites a blind retry. Queued writes finish; the transport stops.
   */
  async stop(cause: Error | undefined): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.cancelTick?.();
    this.cancelFlush?.();
    const id = this.node.id;
    const stopped = () => new StoppedError(`node ${id}`);
    for (const p of this.proposalBatch) this.pending.fail(p.seq, stopped());
    this.proposalBatch = [];
    this.readsToStart = [];
    this.pending.rejectReads(stopped);
    if (!this.applyHalted && !this.o.manual) {
      // Committed entries the node actor has not handed out yet join the apply chain too.
      this.guarded(() => {
        for (let rd = this.node.takeReady(); rd; rd = this.node.takeReady()) this.handle(rd);
      });
    }
    await this.chain.idle();
    const why = cause ?? stopped();
    this.pending.rejectAll(
      () => new ProposalOutcomeUnknownError(`node ${id} stopped before the proposal was applied here (${why.message}); the cluster may or may not apply it`, { cause: why }),
    );
    this.state = 'stopped';
    await this.storageActor?.stop();
    await this.transport?.stop();
    this.node.stop();
    this.writes.clear();
    this.awaitingAdvance = undefined;
  }

  /** A crash: everything stops where it is, nothing more is written, sent or settled. */
  abandon(): void {
    this.state = 'stopped';
    this.applyHalted = true;
    this.cancelTick?.();
    this.cancelFlush?.();
    this.node.stop();
  }

  /** Something the loop cannot go on from: nothing more is applied; the host stops the node. */
  fatal(err: Error): void {
    this.applyHalted = true;
    this.o.events.fatal(err);
  }

  // ----- the loop -----

  private scheduleTick(ms: number): void {
    this.cancelTick = this.clock.setTimer(ms, () => {
      if (this.state !== 'running') return;
      this.scheduleTick(this.o.config.tickInterval);
      this.onTick();
    });
  }

  private onTick(): void {
    this.ticks_++;
    this.guarded(() => this.node.tick());
    this.pending.expire(this.ticks_);
    this.scheduleFlush();
    this.o.events.tick?.(this.ticks_);
  }

  /**
   * A flush only when a direct call changed something. A refused call leaves nothing to hand out,
   * and must not cost a turn: a caller that retries it after every step (the simulation's
   * `runUntil(s => s.promote(4).kind === 'appended')`) would otherwise queue a flush at the same
   * virtual instant forever, and time would never move on.
   */
  private flushIfChanged(): void {
    if (this.proposalBatch.length > 0 || this.readsToStart.length > 0 || this.node.hasReady()) this.scheduleFlush();
  }

  /** Defers the flush to the end of this turn; inputs arriving meanwhile join it. */
  scheduleFlush(): void {
    if (this.cancelFlush !== undefined || this.state !== 'running') return;
    this.cancelFlush = this.clock.defer(() => {
      this.cancelFlush = undefined;
      if (this.state === 'running') this.guarded(() => this.flush());
    });
  }

  /**
   * Runs a step of the node actor. An exception there means the Raft state can no longer be
   * trusted (the role actor stopped): the node stops itself and reports why, instead of crashing
   * the process or lingering half-alive.
   */
  private guarded(step: () => void): boolean {
    try {
      step();
      return true;
    } catch (err) {
      this.fatal(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  /** Feeds the turn's batched inputs to the node actor and handles every Ready it has. */
  private flush(): void {
    const node = this.node;
    if (this.proposalBatch.length > 0) this.submitProposals();
    for (const context of this.readsToStart.splice(0)) {
      const refused = node.readIndex(context);
      if (refused) this.pending.failRead(contextKey(context), new NotLeaderError(node.raft.lead, this.o.addresses.get(node.raft.lead)));
    }
    if (this.o.manual) return this.handOut();
    for (let rd = node.takeReady(); rd; rd = node.takeReady()) this.handle(rd);
    this.o.observer?.turnEnded?.();
  }

  /** Manual mode: one Ready at a time goes to the application, which calls advance(). */
  private handOut(): void {
    if (this.awaitingAdvance) return;
    const rd = this.node.takeReady();
    if (!rd) return;
    this.awaitingAdvance = rd;
    this.observe(rd);
    // The application applies the commands it proposed, not the envelopes they travel in.
    const committedEntries = rd.committedEntries.map((e) => {
      const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
      return env ? { ...e, data: env.payload } : e;
    });
    this.o.events.ready?.({ ...rd, committedEntries });
  }

  private track(settle: Settle<ProposeResult>, signal?: AbortSignal): number {
    const seq = this.pending.newSeq();
    if (!signal) {
      // The common case allocates no closures: one proposal is one pending record.
      this.pending.addProposal(seq, Infinity, settle.resolve, settle.reject, noCleanup);
      return seq;
    }
    const onAbort = () => this.pending.fail(seq, signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
    signal.addEventListener('abort', onAbort, { once: true });
    this.pending.addProposal(seq, Infinity, settle.resolve, settle.reject, () => signal.removeEventListener('abort', onAbort));
    return seq;
  }

  /** This turn's proposals go into the node actor as one batch: appended and replicated together. */
  private submitProposals(): ProposalOutcome {
    const batch = this.proposalBatch;
    this.proposalBatch = [];
    const out = this.node.propose(batch.map((p) => ({ type: EntryType.Normal, data: p.data })));
    switch (out.kind) {
      case 'appended':
        batch.forEach((p, i) => this.pending.located(p.seq, out.index + i, out.term, p.data));
        break;
      case 'forwarded':
        // Not seen in the log yet: a forwarded proposal unseen after 4 election timeouts was lost.
        for (const p of batch) this.pending.setDeadline(p.seq, this.ticks_ + 4 * this.o.config.electionTick);
        break;
      case 'notLeader':
        for (const p of batch) this.pending.fail(p.seq, new NotLeaderError(out.leader, this.o.addresses.get(out.leader)));
        break;
      case 'dropped':
        for (const p of batch) this.pending.fail(p.seq, new ProposalDroppedError(out.reason));
        break;
    }
    return out;
  }

  /** What a Ready tells the host and the pending requests, before its effects are carried out. */
  private observe(rd: Ready): void {
    const m = this.o.metrics;
    if (rd.softState) {
      this.o.events.state?.(rd.softState);
      if (rd.softState.raftState !== this.lastRole) {
        if (rd.softState.raftState === StateType.Candidate) m.elections++;
        this.lastRole = rd.softState.raftState;
      }
      if (rd.softState.lead !== this.lastLead && rd.softState.lead !== 0) m.leaderChanges++;
      if (rd.softState.lead !== this.lastLead) {
        this.o.log.info('leader changed', { id: this.node.id, leader: rd.softState.lead, role: rd.softState.raftState });
        if (this.lastLead !== 0) {
          this.pending.leaderChanged(this.ticks_, this.o.config.electionTick * 2, (): RaftError => new ProposalDroppedError('the leader changed before the request was confirmed'));
        }
        this.lastLead = rd.softState.lead;
      }
    }
    // A follower learns where its forwarded proposals landed when they reach its own log; a write
    // that replaces part of the log tells which proposals were overwritten.
    if (this.pending.anyUnlocated) {
      for (const e of rd.entries) {
        const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
        if (isFrom(env, this.o.proposer)) this.pending.located(env.seq, e.index, e.term);
      }
    }
    this.pending.logWritten(rd.entries);
    m.commits += rd.committedEntries.length;
    if (rd.snapshot) {
      for (const [peer, address] of this.o.addresses.learn(rd.snapshot.metadata.confState, this.node.id)) this.transport?.addPeer(peer, address);
      this.snapshots.installed(rd.snapshot.metadata.index);
      this.pending.snapshotInstalled(rd.snapshot.metadata.index);
    }
    if (rd.readStates) for (const r of rd.readStates) this.pending.readConfirmed(contextKey(r.context), r.index);
  }

  /** One Ready: its writes to the storage actor, its messages to the transport, its entries to the apply chain. */
  private handle(rd: Ready): void {
    this.o.observer?.ready?.(rd);
    this.observe(rd);
    let seq: number | undefined;
    const staged = rd.stagedSnapshotChunks;
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot || staged || rd.peerIncarnations) {
      // Registered before submitting: a store that completes by callback reports PERSISTED inside submit().
      const expected = this.storageActor!.stats.submitted + 1;
      this.writes.set(expected, rd);
      try {
        seq = this.storageActor!.submit({
          // Only a commit index moved: no fsync to wait for (etcd's MustSync; Figure 2 calls commitIndex volatile).
          ...(rd.mustSync ? {} : { sync: false }),
          hardState: rd.hardState,
          entries: rd.entries,
          snapshot: rd.snapshot,
          // The snapshot was restored from the staging area, which it now replaces.
          ...(rd.snapshot ? { discardStagedSnapshot: true } : {}),
          ...(staged ? { stagedSnapshotChunks: staged } : {}),
          ...(rd.peerIncarnations ? { peerIncarnations: rd.peerIncarnations } : {}),
        });
      } catch (err) {
        this.writes.delete(expected);
        this.fatal(err as Error);
        return;
      }
    }
    if (rd.messages.length > 0) this.transport!.sendAll(rd.messages);
    if (rd.receivedSnapshot) {
      const r = rd.receivedSnapshot;
      this.chain.enqueue(() => runSteps(restoreReceivedSnapshot(this.receivedSnapshotHost(), r, seq)));
    }
    if (rd.committedEntries.length > 0) {
      const entries = this.o.faultHooks ? this.faultyApplyOrder(rd.committedEntries) : rd.committedEntries;
      const last = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      this.chain.enqueue(() => runSteps(this.apply(entries, last)));
    }
    if (rd.readStates) this.pending.appliedUpTo(this.node.raft.log.applied);
    this.o.events.ready?.(rd);
  }

  private onPersisted(seq: number): void {
    if (this.state !== 'running') return;
    let last: Ready | undefined;
    for (const [s, rd] of this.writes) {
      if (s > seq) break;
      last = rd;
      this.writes.delete(s);
    }
    if (last && !this.guarded(() => this.node.persisted(last!))) return;
    this.scheduleFlush();
  }

  private submitWrite(write: StorageWrite): number | undefined {
    try {
      return this.storageActor?.submit(write);
    } catch (err) {
      this.fatal(err as Error);
      return undefined;
    }
  }

  // ----- the apply path -----

  /** Whether the apply chain runs: while running, and while stopping (stop() applies what is committed). */
  private applies(): boolean {
    return (this.state === 'running' || this.state === 'stopping') && !this.applyHalted;
  }

  /**
   * Applies committed entries in order. Empty entries (a new leader's no-op, Raft §8) and
   * membership changes never reach the state machine; every entry settles the proposal it carries.
   */
  private *apply(entries: readonly Entry[], last: number): Generator<unknown, void, unknown> {
    if (!this.applies()) return;
    const appliedBefore = this.appliedIndex_;
    const observer = this.o.observer;
    const events = this.o.events;
    for (const e of entries) {
      // Handed out before a snapshot from the leader was installed, and covered by it.
      if (e.index <= this.appliedIndex_) continue;
      let result: unknown;
      const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
      const payload = env?.payload ?? e.data;
      observer?.applied?.(env ? { ...e, data: payload } : e);
      if (e.type === EntryType.ConfChange) {
        result = this.applyConfChange(e);
      } else if (e.data.byteLength > 0) {
        try {
          result = yield this.sm.apply(payload, e.index) as MaybePromise<R>;
        } catch (err) {
          this.fatal(new Error(`state machine failed to apply entry ${e.index}: ${(err as Error).message}`, { cause: err }));
          return;
        }
        if (events.applied && events.wantsApplied?.() !== false) events.applied({ index: e.index, term: e.term, data: payload, result });
      }
      this.pending.applied(e, env, result);
    }
    if (!this.applies()) return;
    const upTo = Math.max(this.appliedIndex_, last);
    this.o.metrics.applies += upTo - Math.max(appliedBefore, entries[0]!.index - 1);
    this.appliedIndex_ = upTo;
    this.node.applied(upTo);
    this.pending.appliedUpTo(upTo);
    if (this.state !== 'running') return;
    this.snapshots.maybeSnapshot(upTo);
    this.scheduleFlush();
  }

  /** A committed membership change: the node actor, the stored conf state and the transport follow it. */
  private applyConfChange(e: Entry): ConfState | undefined {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      this.o.log.warn('skipped an undecodable membership change', { index: e.index });
      return undefined;
    }
    const address = new TextDecoder().decode(cc.context);
    const addresses = this.o.addresses;
    if (cc.type === ConfChangeType.RemoveNode) addresses.delete(cc.nodeId);
    const known = cc.type !== ConfChangeType.RemoveNode && addresses.set(cc.nodeId, address);
    const confState = addresses.withAddresses(this.node.applyConfChange(cc, e.index));
    if (!this.o.manual) {
      this.submitWrite({ confState });
      const t = this.transport;
      if (t && cc.nodeId !== this.node.id) {
        if (cc.type === ConfChangeType.RemoveNode) t.removePeer(cc.nodeId);
        else if (known) t.addPeer(cc.nodeId, address);
      }
    }
    this.o.log.info('membership changed', { index: e.index, change: cc.type, node: cc.nodeId, voters: confState.voters, learners: confState.learners });
    return confState;
  }

  private serializeForSnapshot(): MaybePromise<Uint8Array> {
    const f = this.o.faultHooks;
    if (f?.on('staleSnapshot') && this.lastSnapshotData && f.hit('staleSnapshot')) return this.lastSnapshotData;
    return this.sm.snapshot();
  }

  /** Fault injection for tests: the apply bugs a host could have (order, skip, duplicate). */
  private faultyApplyOrder(ents: readonly Entry[]): readonly Entry[] {
    const f = this.o.faultHooks!;
    if (ents.length >= 2 && f.on('applyOutOfOrder') && f.hit('applyOutOfOrder')) return [ents[1]!, ents[0]!, ...ents.slice(2)];
    if (ents.length >= 2 && f.on('skipApply') && f.hit('skipApply')) return ents.slice(1);
    if (f.on('duplicateApply') && f.hit('duplicateApply')) return [...ents, ents[ents.length - 1]!];
    return ents;
  }

  // ----- snapshots from the leader -----

  private receivedSnapshotHost() {
    return {
      node: this.node,
      stateMachine: this.sm,
      storage: this.o.storage,
      storageActor: this.storageActor,
      current: () => this.state === 'running',
      onStopping: () => {
        // Stopping: later batches must not apply entries past a snapshot that was not installed.
        if (this.state === 'stopping') this.applyHalted = true;
      },
      discardStaged: () => this.submitWrite({ discardStagedSnapshot: true }),
      rejected: (index: number, term: number, from: number, reason: string) => this.rejectReceivedSnapshot(index, term, from, reason),
      installed: (index: number, data: Uint8Array) => {
        this.appliedIndex_ = Math.max(this.appliedIndex_, index);
        this.pending.appliedUpTo(index);
        this.o.metrics.snapshotsReceived++;
        this.lastSnapshotData = data;
        this.o.observer?.snapshotInstalled?.(index, data);
        this.o.log.info('snapshot installed', { index, bytes: data.byteLength });
      },
      fatal: (err: Error) => this.fatal(err),
      scheduleFlush: () => this.scheduleFlush(),
      faultHooks: this.o.faultHooks,
    };
  }

  /** Snapshots from the leader that were refused before they replaced anything: log why. */
  private reportSnapshotRejections(): void {
    for (const r of this.node.raft.takeSnapshotRejections()) this.rejectReceivedSnapshot(r.index, r.term, r.from, r.reason);
  }

  private rejectReceivedSnapshot(index: number, term: number, from: number, reason: string): void {
    this.o.log.warn('discarded a snapshot from the leader; keeping the current state', { id: this.node.id, index, term, from, reason });
    this.o.events.error?.(new SnapshotRejectedError(index, term, reason));
  }

  /**
   * The leader's heartbeat says entries are committed that this member acknowledged and no longer
   * holds (a log tail lost after a crash, which no check at open can see): stop with
   * StorageInconsistentError instead of rejecting every append forever. Only for a durable store;
   * a node kept in memory forgets its log by design when it restarts.
   */
  private logLostUnder(msg: Message): boolean {
    const check = this.o.lostTail;
    if (!check) return false;
    if (msg.term < this.node.raft.term) return false;
    const lost = check(msg.commit, this.node.raft.log.lastIndex());
    if (!lost) return false;
    this.fatal(new StorageInconsistentError(this.o.storeName, 'hardState, entry', `${lost} (node ${this.node.id}, heartbeat from leader ${msg.from} in term ${msg.term})`));
    return true;
  }
}
