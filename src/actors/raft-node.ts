/**
 * RaftNode: one member of a cluster, the counterpart of the Go package's `RaftNode`. It holds the
 * public API and the lifecycle: it opens the store (DiskStorage or MemoryStorage), builds the node
 * actor (role statechart and replicators), wires the TCP BidirectionalTransport under a transport
 * actor, and hands all of that to the host loop (host-loop.ts), which turns Readys into writes,
 * sends and applies — the same loop the simulation runs.
 */
import { randomBytes } from 'node:crypto';
import { BehaviorSubject, Observable, Subject, type Subscription, distinctUntilChanged, map } from 'rxjs';
import { type Config, resolveConfig, validateSecret } from '../config.ts';
import { BootstrapRefusedError, ConfigError, MemberIdentityError, NotLeaderError, ProposalDroppedError, SnapshotRestoreError, StoppedError, UnknownMemberError } from '../errors.ts';
import { type Clock, systemClock } from '../io/clock.ts';
import { checkLeaderCommit } from '../io/durable-consistency.ts';
import { DiskStorage } from '../io/disk-storage.ts';
import { loadPersistedState } from '../io/load-state.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import { newInstanceId } from './proposal-envelope.ts';
import type { Storage } from '../io/storage.ts';
import { structuredLogger } from '../io/structured-logger.ts';
import { BidirectionalTransport, type TransportStats } from '../io/tcp-transport.ts';
import type { MessageHandler } from '../io/transport.ts';
import type { MetricsSnapshot } from '../metrics/metrics-snapshot.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import { INCARNATION_BYTES, replaceAdvice } from '../raft/member-identity.ts';
import { type ConfChange, type Message, MessageType, type Snapshot, message } from '../raft/raftpb.ts';
import type { Ready } from '../raft/ready.ts';
import { type SoftState, StateType } from '../raft/state-type.ts';
import type { StateMachine } from '../state-machine.ts';
import { type AppliedEvent, HostLoop } from './host-loop.ts';
import { awaitLeadershipTransfer } from './leader-transfer.ts';
import { type Logger, silentLogger } from './logger.ts';
import { MemberAddresses } from './member-addresses.ts';
import { addNodeChange, checkPromotable, memberList, removeNodeChange } from './membership-requests.ts';
import { type CircuitChange, type IdentityRefusal, NodeActor } from './node-actor.ts';
import { type MemberInfo, type Node, type NodeOptions, type NodeStatus, type StartOptions, asInspectFunction, checkFrameCipher } from './node-options.ts';
import { metricsSnapshot, nodeStatus } from './node-status.ts';
import { PendingRequests, type ProposeResult } from './pending-requests.ts';
import { TransportActor } from './transport-actor.ts';

export type { AppliedEvent } from './host-loop.ts';
export type { Logger } from './logger.ts';
export type { MemberInfo, Node, NodeOptions, NodeStatus, StartOptions } from './node-options.ts';

export class RaftNode<R = unknown> implements Node {
  readonly config: Readonly<Config>;
  private readonly sm: StateMachine<R>;
  private readonly opts: NodeOptions;
  private readonly log: Logger;
  private readonly clock: Clock;

  private readonly readySubject = new Subject<Ready>();
  private readonly stateSubject: BehaviorSubject<SoftState>;
  private readonly appliedSubject = new Subject<AppliedEvent>();
  private readonly errorSubject = new Subject<Error>();
  private readonly circuitSubject = new Subject<CircuitChange>();
  private readonly metricsSubject = new Subject<MetricsSnapshot>();
  /** Counters kept where things happen; the rest of `metrics()` is read from the actors' stats. */
  private readonly counters = new NodeMetrics();
  /** Every Ready the node produces (in manual mode: the ones the application must handle). */
  readonly ready$: Observable<Ready> = this.readySubject.asObservable();
  /** Role and leader, on every change. */
  readonly state$: Observable<SoftState>;
  /** The known leader id (0: none), on every change. */
  readonly leader$: Observable<number>;
  /**
   * Snapshots of `metrics()`: one at once when the node is running, then one every
   * `metricsIntervalTicks` ticks while anyone subscribes (nothing is computed when nobody does).
   */
  readonly metrics$: Observable<MetricsSnapshot> = new Observable<MetricsSnapshot>((subscriber) => {
    if (this.node) subscriber.next(this.metrics());
    return this.metricsSubject.subscribe(subscriber);
  });
  /** Every entry applied to the state machine, in order. */
  readonly applied$: Observable<AppliedEvent> = this.appliedSubject.asObservable();
  /** Fatal and non-fatal errors: disk failures, state machine failures, transport trouble. */
  readonly errors$: Observable<Error> = this.errorSubject.asObservable();
  /** Circuit breaker changes per peer. */
  readonly circuit$: Observable<CircuitChange> = this.circuitSubject.asObservable();

  private node: NodeActor | undefined;
  private loop: HostLoop<R> | undefined;
  private storage: Storage | undefined;
  private subs: Subscription[] = [];
  /** This run's identity in proposal envelopes. */
  private readonly proposer: { nodeId: number; instance: number };
  private readonly pending: PendingRequests;
  /** The last entry the state machine applied, kept across stop()/start() of this instance. */
  private lastAppliedIndex = 0;
  private startPromise: Promise<void> | undefined;
  private status_: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopPromise: Promise<void> | undefined;
  /** Why the node stopped, when it stopped itself (the cause of the errors its callers get). */
  private stopCause: Error | undefined;
  private readonly addresses = new MemberAddresses();
  private tcpTransport: BidirectionalTransport | undefined;
  /** This run's data-directory incarnation (hex). */
  private incarnation = '';

  /** The TCP transport's counters (refused frames and messages, handshakes, reconnects...), when it runs one. */
  transportStats(): TransportStats | undefined {
    return this.tcpTransport?.stats();
  }

  constructor(config: Partial<Config> & Pick<Config, 'nodeId'>, stateMachine: StateMachine<R>, options: NodeOptions = {}) {
    this.config = resolveConfig(config);
    this.sm = stateMachine;
    this.opts = options;
    this.log = options.logger ? structuredLogger(options.logger, { member: this.config.nodeId, term: () => this.node?.raft.term }) : silentLogger;
    this.clock = options.clock ?? systemClock;
    if (!this.opts.transport && !this.opts.manual && this.config.peers.some((p) => p.id !== this.config.nodeId) && !this.opts.secret) {
      throw new ConfigError('secret', 'a multi-node cluster over TCP needs a shared secret (NodeOptions.secret) so members can authenticate each other');
    }
    if (this.opts.secret !== undefined) validateSecret(this.opts.secret);
    if (this.opts.listen !== undefined && !/^[^:]+:\d+$|^\[.*\]:\d+$/.test(this.opts.listen)) {
      throw new ConfigError('listen', `must be host:port, got ${JSON.stringify(this.opts.listen)}`);
    }
    checkFrameCipher(this.opts.frameCipher, this.opts.tls !== undefined);
    this.proposer = { nodeId: this.config.nodeId, instance: newInstanceId() };
    this.pending = new PendingRequests(this.proposer, this.counters.recordProposalApplied);
    const every = options.metricsIntervalTicks;
    if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) throw new ConfigError('metricsIntervalTicks', `must be a positive integer, got ${String(every)}`);
    this.stateSubject = new BehaviorSubject<SoftState>({ lead: 0, raftState: StateType.Follower });
    this.state$ = this.stateSubject.asObservable();
    this.leader$ = this.state$.pipe(
      map((s) => s.lead),
      distinctUntilChanged(),
    );
  }

  get id(): number {
    return this.config.nodeId;
  }

  // ----- lifecycle -----

  /**
   * Opens storage, restores the state machine, starts the transport and the clock. With
   * `{ waitForLeader: true }` it also waits until a leader is known (a fresh cluster elects one
   * within one or two election timeouts once a majority runs).
   */
  start(opts: StartOptions = {}): Promise<void> {
    if (this.status_ === 'running' || this.status_ === 'starting') return Promise.reject(new Error(`node ${this.id} is already started`));
    this.startPromise = this.doStart();
    if (!opts.waitForLeader) return this.startPromise;
    return this.startPromise.then(() => this.waitForLeader({ signal: opts.signal }).then(() => undefined));
  }

  /**
   * Resolves with the leader's id as soon as one is known (at once if one is). Like watching
   * hashicorp/raft's LeaderCh or etcd's first leader: call it before the first proposal of a fresh
   * cluster. Rejects with StoppedError when the node stops first, or with the signal's reason.
   */
  waitForLeader(opts: { signal?: AbortSignal | undefined } = {}): Promise<number> {
    return new Promise<number>((resolveLeader, reject) => {
      const signal = opts.signal;
      if (signal?.aborted) return reject(signal.reason);
      let sub: Subscription | undefined;
      let settled = false;
      const settle = () => {
        settled = true;
        sub?.unsubscribe();
        clearInterval(stopWatch);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        settle();
        reject(signal!.reason);
      };
      // stop() has no event of its own; the node's status is checked a few times per tick.
      const stopWatch = setInterval(() => {
        if (this.status_ === 'stopping' || this.status_ === 'stopped') {
          settle();
          reject(new StoppedError(`node ${this.id}`));
        }
      }, Math.max(10, Math.min(100, this.config.tickInterval / 2)));
      signal?.addEventListener('abort', onAbort, { once: true });
      sub = this.leader$.subscribe((lead) => {
        if (lead === 0 || settled || this.status_ === 'stopping' || this.status_ === 'stopped') return;
        settle();
        resolveLeader(lead);
      });
      if (settled) sub.unsubscribe(); // the leader was known already: leader$ answered inside subscribe()
    });
  }

  private async doStart(): Promise<void> {
    if (this.status_ === 'stopping') await this.stopPromise;
    this.status_ = 'starting';
    this.stopCause = undefined;
    const abandoned = () => this.status_ !== 'starting';
    try {
      this.storage = this.opts.storage ?? (this.config.dataDir ? await DiskStorage.open(this.config.dataDir, { nodeId: this.id, clusterId: this.opts.clusterId ?? 'actor-raft' }) : new MemoryStorage());
      if (abandoned()) throw new StoppedError(`node ${this.id}`);
      const storage = this.storage;
      const loaded = await loadPersistedState(storage, this.storeName());
      // Restarted on the same instance: the state machine still holds everything applied before
      // stop(), so applying resumes after it instead of replaying onto it.
      const snapIndex = loaded.snapshot.metadata.index;
      const resume = this.lastAppliedIndex > snapIndex && this.lastAppliedIndex <= loaded.hardState.commit;
      if (!resume && this.lastAppliedIndex > 0 && snapIndex === 0) {
        throw new Error(`node ${this.id}: restarting would apply entries again onto a state machine that holds them; create a new node with a fresh state machine`);
      }
      if (!resume && snapIndex > 0) await this.restoreStoredSnapshot(loaded.snapshot);
      // Addresses: those stored with the membership, then this run's peers (an address given now wins).
      this.addresses.reset(loaded.confState, this.config.peers);
      const identity = (await storage.memberIdentity?.()) ?? { incarnation: randomBytes(INCARNATION_BYTES).toString('hex'), peerIncarnations: {} };
      const founding = this.foundingPolicy(loaded.hardState.term === 0 && loaded.hardState.vote === 0 && loaded.stable.lastIndexSync() === 0);
      const node = new NodeActor({
        config: this.config,
        stable: loaded.stable,
        hardState: loaded.hardState,
        confState: loaded.confState,
        bootstrap: 'log',
        founding,
        join: this.opts.join,
        incarnation: identity.incarnation,
        peerIncarnations: identity.peerIncarnations,
        seed: randomBytes(4).readUInt32BE(0),
        inspect: asInspectFunction(this.opts.inspect),
        validateSnapshot: this.sm.validateSnapshot ? (data) => this.sm.validateSnapshot!(data) : undefined,
        // The host restores a snapshot from the leader before it replaces the log (received-snapshot.ts);
        // chunks go to the storage's staging area when it has one. A manual host gets Ready.snapshot.
        snapshotReception: this.opts.manual ? 'install' : storage.readStagedSnapshot ? 'stage' : 'report',
      });
      this.node = node;
      this.incarnation = identity.incarnation;
      this.subs.push(node.refusals$.subscribe((r) => this.onIdentityRefusal(node, r)), node.circuit$.subscribe((c) => this.circuitSubject.next(c)));
      if (node.isAwaitingFounders()) this.log.info('empty data directory: waiting for a majority of the founding members to confirm they are new', { id: this.id });
      this.stateSubject.next(node.softState());
      const transport = this.opts.manual ? undefined : this.createTransport();
      this.loop = new HostLoop<R>({
        node,
        config: this.config,
        stateMachine: this.sm,
        clock: this.clock,
        storage,
        transport,
        pending: this.pending,
        proposer: this.proposer,
        addresses: this.addresses,
        metrics: this.counters,
        log: this.log,
        manual: this.opts.manual,
        appliedIndex: resume ? this.lastAppliedIndex : 0,
        snapshotIndex: snapIndex,
        lostTail: this.config.dataDir || this.opts.storage ? checkLeaderCommit : undefined,
        storeName: this.storeName(),
        events: {
          ready: (rd) => this.readySubject.next(rd),
          state: (s) => this.stateSubject.next(s),
          applied: (ev) => this.appliedSubject.next(ev),
          wantsApplied: () => this.appliedSubject.observed,
          error: (err) => this.errorSubject.next(err),
          fatal: (err) => this.fatal(err),
          tick: (ticks) => {
            if (this.metricsSubject.observed && ticks % (this.opts.metricsIntervalTicks ?? 10) === 0) this.metricsSubject.next(this.metrics());
          },
        },
      });
      if (transport) {
        await transport.start();
        if (abandoned()) throw new StoppedError(`node ${this.id}`);
      }
      this.status_ = 'running';
      this.loop.start();
      this.log.info('node started', { id: this.id, term: loaded.hardState.term, commit: loaded.hardState.commit, lastIndex: loaded.stable.lastIndexSync() });
    } catch (err) {
      if (!abandoned()) {
        await this.teardown();
        this.status_ = 'stopped';
      }
      throw err;
    }
  }

  private storeName(): string {
    return this.config.dataDir || '(the configured storage)';
  }

  /** When an empty store may found the cluster (docs/membership.md). */
  private foundingPolicy(pristine: boolean): 'now' | 'confirmed' {
    if (!pristine || this.opts.join) return 'now';
    if (this.opts.initialClusterState === 'existing') {
      throw new BootstrapRefusedError(
        this.id,
        `its data directory${this.config.dataDir ? ` ${this.config.dataDir}` : ''} is empty and it was not told to found a cluster. ` +
          `To add it to a running cluster: \`actor-raft member add ${this.id} <host:port>\`, then start it with --join. ` +
          `To found a new cluster: start every member with --initial-cluster-state new`,
      );
    }
    const alone = this.config.peers.every((p) => p.id === this.id);
    // Peers confirm over the TCP handshake; a custom transport or manual mode has no handshake to ask.
    if (alone || this.opts.bootstrapConfirmed || this.opts.transport || this.opts.manual) return 'now';
    return 'confirmed';
  }

  /** One clear line per identity problem, naming the fix (docs/membership.md). */
  private onIdentityRefusal(node: NodeActor, r: IdentityRefusal): void {
    switch (r.kind) {
      case 'peerHasNewDirectory': {
        const msg = `node ${r.peer} presents a new data directory (incarnation ${r.presented.slice(0, 8)}, recorded ${r.recorded.slice(0, 8)}); it lost its data and is not counted; ${replaceAdvice(r.peer)}`;
        this.log.error(msg, { id: this.id, peer: r.peer });
        this.errorSubject.next(new MemberIdentityError(r.kind, r.peer, msg));
        return;
      }
      case 'knownAsOther': {
        const msg = `node ${r.peer} knows node ${this.id} by another data directory (incarnation ${r.knownAs.slice(0, 8)}, this one is ${r.self.slice(0, 8)}): this member lost its data and must not rejoin under its old identity; ${replaceAdvice(this.id)}`;
        if (node.isAwaitingFounders()) return this.fatal(new BootstrapRefusedError(this.id, msg));
        this.log.error(msg, { id: this.id, peer: r.peer });
        this.errorSubject.next(new MemberIdentityError(r.kind, r.peer, msg));
        return;
      }
      case 'alreadyFormed':
        this.log.info(`node ${r.peer} shows the cluster was already formed without this data directory; joining it (as --join would)`, { id: this.id, peer: r.peer });
        return;
    }
  }

  /** The transport actor over the TCP transport (or the one NodeOptions.transport builds); messages go to the host loop. */
  private createTransport(): TransportActor {
    const self = this.config.peers.find((p) => p.id === this.id);
    const onUnreachable = (peer: number) => this.loop?.onMessage(message({ type: MessageType.MsgUnreachable, from: peer, to: this.id }));
    const bindAddr = this.opts.listen ?? self?.address;
    const transportActor = new TransportActor({
      createTransport: (deliver: MessageHandler) => {
        if (this.opts.transport) return this.opts.transport(deliver, onUnreachable);
        if (!bindAddr) throw new ConfigError('peers', `node ${this.id} has no address in peers and no NodeOptions.listen`);
        const t = new BidirectionalTransport({
          nodeId: this.id,
          bindAddr,
          handler: deliver,
          clusterId: this.opts.clusterId ?? 'actor-raft',
          secret: this.opts.secret ?? randomBytes(32), // one member: nobody else needs to know it
          tls: this.opts.tls,
          ...(this.opts.frameCipher !== undefined ? { frameCipher: this.opts.frameCipher } : {}),
          logger: this.log,
          peers: this.addresses
            .entries()
            .filter(([id]) => id !== this.id)
            .map(([id, address]) => ({ id, address })),
          maxSizePerMsg: this.config.maxSizePerMsg,
          onUnreachable,
          identity: {
            incarnation: Buffer.from(this.incarnation, 'hex'),
            pristine: () => this.node?.isAwaitingFounders() ?? false,
            knownIncarnation: (peer) => {
              const known = this.node?.peers.known(peer);
              return known ? Buffer.from(known, 'hex') : undefined;
            },
            onPeerReport: (peer, report) => {
              if (this.status_ !== 'running' && this.status_ !== 'starting') return;
              this.loop?.peerReport(peer, report);
            },
          },
        });
        this.tcpTransport = t;
        return t;
      },
    });
    this.subs.push(transportActor.arrivals$.subscribe((a) => this.loop?.onMessage(a.msg, a.sender)));
    return transportActor;
  }

  /** Stops gracefully: pending calls reject with StoppedError, queued writes finish, sockets close. Idempotent. */
  stop(): Promise<void> {
    if (this.status_ === 'new') {
      this.status_ = 'stopped';
      return Promise.resolve();
    }
    if (!this.stopPromise || this.status_ === 'running' || this.status_ === 'starting') {
      if (this.status_ === 'stopped') return Promise.resolve();
      const starting = this.status_ === 'starting' ? this.startPromise : undefined;
      this.status_ = 'stopping';
      // A start() under way notices it was abandoned at its next step; tear down after it settles.
      this.stopPromise = (starting ?? Promise.resolve()).catch(() => {}).then(() => this.teardown()).then(() => {
        this.status_ = 'stopped';
        this.log.info('node stopped', { id: this.id });
      });
    }
    return this.stopPromise;
  }

  /** The host loop settles what it owes (see HostLoop.stop), then the store closes. */
  private async teardown(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    const loop = this.loop;
    if (loop) {
      await loop.stop(this.stopCause);
      this.lastAppliedIndex = loop.appliedIndex;
    } else {
      this.node?.stop();
    }
    await this.storage?.close();
    this.storage = undefined;
    this.loop = undefined;
  }

  private fatal(err: Error): void {
    this.stopCause ??= err;
    this.log.error('fatal error, stopping the node', { id: this.id, error: err.message });
    this.errorSubject.next(err);
    void this.stop();
  }

  private running(): HostLoop<R> {
    if (this.status_ !== 'running' || !this.loop) throw new StoppedError(`node ${this.id}`);
    return this.loop;
  }

  // ----- client API -----

  /**
   * Proposes a command. Resolves with `{ index, term, result }` once the entry is committed and
   * applied on this node; rejects with NotLeaderError (forwarding disabled), ProposalDroppedError
   * (no leader, leadership changed, entry overwritten), StoppedError, or the signal's reason.
   */
  propose(data: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult<R>> {
    let loop: HostLoop<R>;
    try {
      loop = this.running();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('propose() takes a Uint8Array'));
    if (data.byteLength > this.config.maxSizePerMsg) {
      return Promise.reject(new RangeError(`proposal of ${data.byteLength} bytes exceeds maxSizePerMsg (${this.config.maxSizePerMsg})`));
    }
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.counters.proposals++;
    return new Promise<ProposeResult<R>>((resolve, reject) => loop.propose(data, { resolve, reject }, signal));
  }

  /**
   * A linearizable read barrier (ReadIndex, thesis §6.4): resolves with an index once the leader
   * confirmed it still leads and this node has applied up to that index. Read the state machine
   * after it resolves.
   */
  readIndex(opts: { signal?: AbortSignal } = {}): Promise<number> {
    let loop: HostLoop<R>;
    try {
      loop = this.running();
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => loop.readIndex(randomBytes(12), { resolve, reject }, signal));
  }

  /** Forces an election on this node (it may still lose it). */
  async campaign(): Promise<void> {
    if (!this.running().campaign()) throw new StoppedError(`node ${this.id}`);
  }

  isLeader(): boolean {
    return this.node !== undefined && this.status_ === 'running' && this.node.stateType() === StateType.Leader;
  }

  leader(): number {
    return this.node?.raft.lead ?? 0;
  }

  /** The address of a peer (for "ask the leader at ..." answers). */
  peerAddress(id: number): string | undefined {
    return this.addresses.get(id) ?? this.config.peers.find((p) => p.id === id)?.address;
  }

  status(): NodeStatus {
    const n = this.node;
    if (!n) throw new StoppedError(`node ${this.id}`);
    const circuits: Record<number, string> = {};
    for (const p of this.config.peers) if (p.id !== this.id) circuits[p.id] = n.circuitState(p.id);
    return nodeStatus(this.id, n, circuits);
  }

  /**
   * The figures of this member now: counters since this RaftNode was created (they survive
   * stop()/start()), the durable-write and commit-latency histograms, and per-peer traffic and
   * circuit state of the TCP transport (read from the running transport, so they start from zero
   * with each start()). Cheap enough to call on every scrape; docs/observability.md lists it all.
   */
  metrics(): MetricsSnapshot {
    const transport = this.loop?.transport;
    const tcp = transport?.transport instanceof BidirectionalTransport ? transport.transport.stats() : undefined;
    return metricsSnapshot({
      nodeId: this.id,
      node: this.node,
      counters: this.counters,
      appliedIndex: this.loop?.appliedIndex ?? this.lastAppliedIndex,
      transportActor: transport?.stats(),
      tcp,
    });
  }

  // ----- manual mode (etcd style) -----

  /** Manual mode: deliver a message from a peer. */
  step(msg: Message): void {
    this.running().step(msg);
  }

  /**
   * Manual mode: the application persisted the last Ready's entries, hard state and snapshot, sent
   * its messages and applied its committed entries.
   */
  advance(): void {
    this.loop?.advance();
  }

  /**
   * Restores the snapshot this node stored. A failure names the directory and the record (the
   * snapshot's metadata) instead of surfacing a bare decoder message at every start.
   */
  private async restoreStoredSnapshot(snap: Snapshot): Promise<void> {
    try {
      await this.sm.restore(snap.data);
    } catch (err) {
      const { index, term } = snap.metadata;
      throw new SnapshotRestoreError(this.storeName(), `record snapshotMeta: snapshot at index ${index}, term ${term}, ${snap.data.byteLength} bytes`, err instanceof Error ? err.message : String(err), {
        cause: err,
      });
    }
  }

  // ----- membership (Raft §6; one server at a time, effective when applied) -----

  /**
   * Adds a voter (or a learner with `{ learner: true }`) at `address`. Resolves once the change is
   * committed and applied here. Leader only. Adding a learner that is already a member as a voter
   * promotes it; that waits until the learner has caught up with the leader's log.
   */
  async addNode(id: number, address: string, opts: { learner?: boolean; signal?: AbortSignal } = {}): Promise<ProposeResult> {
    const cc = addNodeChange(this.leading().raft, id, address, opts.learner ?? false, this.config.maxInflightMsgs);
    return this.proposeConfChange(cc, opts.signal);
  }

  /** Removes a member. Resolves once the change is applied here. Leader only. */
  async removeNode(id: number, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult> {
    return this.proposeConfChange(removeNodeChange(this.leading().raft, id), opts.signal);
  }

  /**
   * Promotes learner `id` to a voter at the address it was added with. Refuses a member that is not
   * a learner, and (like `addNode`) a learner still far behind the leader's log: a voter that cannot
   * acknowledge would only make the quorum harder to reach (thesis §4.2.1).
   */
  async promoteLearner(id: number, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult> {
    checkPromotable(this.leading().raft, id);
    const address = this.peerAddress(id);
    if (!address) throw new UnknownMemberError(id, `no address is known for learner ${id}`);
    return this.addNode(id, address, { signal: opts.signal });
  }

  /**
   * The membership as this node applied it: every voter and learner with its address, and the
   * leader's view of how far each has replicated (`match`) when this node leads.
   */
  members(): MemberInfo[] {
    this.running();
    const node = this.node!;
    return memberList(node.raft, node.stateType() === StateType.Leader, (id) => this.peerAddress(id));
  }

  /** The node actor when this node leads; NotLeaderError (with the leader hint) otherwise. */
  private leading(): NodeActor {
    this.running();
    const node = this.node!;
    if (node.stateType() !== StateType.Leader) throw new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead));
    return node;
  }

  private proposeConfChange(cc: ConfChange, signal?: AbortSignal): Promise<ProposeResult> {
    let loop: HostLoop<R>;
    try {
      loop = this.running();
      this.leading();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<ProposeResult>((resolve, reject) => {
      loop.proposeConfChange(cc, { resolve: resolve as (r: ProposeResult<R>) => void, reject }, signal);
    });
  }

  /**
   * Hands leadership to `id` (thesis §3.10). Resolves once `id` leads; rejects if this node is not
   * the leader, `id` is not a voter, or the handover does not finish within an election timeout.
   */
  async transferLeadership(id: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const loop = this.running();
    this.leading();
    const refused = loop.transferLeadership(id);
    if (refused) throw new ProposalDroppedError(`leadership transfer refused: ${refused}`);
    await awaitLeadershipTransfer({
      clock: this.clock,
      nodeId: this.id,
      target: id,
      timeoutMs: 2 * this.config.electionTick * this.config.tickInterval,
      pollMs: this.config.tickInterval,
      leader: () => this.leader(),
      running: () => this.status_ === 'running',
      signal: opts.signal,
    });
  }
}

/** Creates a node (the seed's NewNode). Call `start()` to run it. */
export function createNode<R = unknown>(config: Partial<Config> & Pick<Config, 'nodeId'>, stateMachine: StateMachine<R>, options: NodeOptions = {}): RaftNode<R> {
  return new RaftNode(config, stateMachine, options);
}
