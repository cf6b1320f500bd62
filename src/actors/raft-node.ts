/**
 * RaftNode: one member of a cluster, the counterpart of the Go package's `RaftNode`. It wires the
 * node actor (role statechart and replicators) to the storage actor (DiskStorage or MemoryStorage),
 * the transport actor (BidirectionalTransport over TCP) and the application's StateMachine, with
 * ticks from an RxJS scheduler.
 *
 * One turn of the loop: inputs (ticks, messages, proposals) go into the node actor; then every
 * Ready is handled: its writes go to the storage actor (group commit), its messages to the
 * transport actor, its committed entries to the apply stream. PERSISTED and APPLIED come back from
 * those actors and start the next turn. Proposals that arrive in one turn are appended together.
 */
import { randomBytes } from 'node:crypto';
import { BehaviorSubject, Observable, Subject, type SchedulerLike, type Subscription, asyncScheduler, distinctUntilChanged, interval, map } from 'rxjs';
import type { InspectionEvent, Observer } from 'xstate';
import { type Config, isValidAddress, resolveConfig, validateSecret } from '../config.ts';
import {
  BootstrapRefusedError,
  ConfChangeInProgressError,
  ConfigError,
  MemberConflictError,
  MemberIdentityError,
  NotLeaderError,
  ProposalDroppedError,
  ProposalOutcomeUnknownError,
  type RaftError,
  StoppedError,
  UnknownMemberError,
} from '../errors.ts';
import { INCARNATION_BYTES, type SenderIdentity, replaceAdvice } from '../raft/member-identity.ts';
import { SnapshotRejectedError, SnapshotRestoreError, StorageInconsistentError } from '../errors.ts';
import { checkLeaderCommit } from '../io/durable-consistency.ts';
import { DiskStorage } from '../io/disk-storage.ts';
import { loadPersistedState } from '../io/load-state.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import { isFrom, newInstanceId, unwrapProposal, wrapProposal } from './proposal-envelope.ts';
import type { Storage, StorageWrite } from '../io/storage.ts';
import { BidirectionalTransport, type TransportStats, type TransportTlsOptions } from '../io/tcp-transport.ts';
import type { MessageHandler, Transport } from '../io/transport.ts';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
  message,
} from '../raft/raftpb.ts';
import { decodeConfChange, encodeConfChange } from '../raft/confchange.ts';
import type { Ready } from '../raft/ready.ts';
import type { ReceivedSnapshot } from '../raft/snapshot-transfer.ts';
import { contextKey } from '../raft/read-only.ts';
import { type SoftState, StateType } from '../raft/state-type.ts';
import type { StateMachine } from '../state-machine.ts';
import { type CircuitChange, type IdentityRefusal, NodeActor } from './node-actor.ts';
import { PendingRequests, type ProposeResult } from './pending-requests.ts';
import { StorageActor } from './storage-actor.ts';
import type { MetricsSnapshot, PeerMetrics } from '../metrics/metrics-snapshot.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import { TransportActor } from './transport-actor.ts';
import type { PinoLikeLogger } from '../io/json-logger.ts';
import { structuredLogger } from '../io/structured-logger.ts';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface NodeOptions {
  /**
   * Passed to XState's createActor: sees the role actor and every replicator. Takes what XState
   * takes: an observer (`@statelyai/inspect`'s `inspector.inspect`) or a function.
   */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /**
   * Where the node logs (silent without one). Either shape: `Logger` (`info(msg, fields)`) or a pino
   * logger (`info(fields, msg)`, recognized by pino's `levels.values`); every record carries
   * `member`, `term` and `event` (src/io/structured-logger.ts).
   */
  readonly logger?: Logger | PinoLikeLogger | undefined;
  /** Members of other clusters are refused by the transport and the data dir. Default 'actor-raft'. */
  readonly clusterId?: string | undefined;
  /**
   * Shared secret that authenticates members to each other and keys the frame cipher. Required for
   * a multi-node TCP cluster; at least 128 bits (`actor-raft secret` prints one). `undefined` is
   * accepted (so `process.env.RAFT_SECRET` can be passed as is) and means none.
   */
  readonly secret?: string | Uint8Array | undefined;
  /** TLS for the Raft connections (certificates, a CA), on top of the secret; see docs/transport.md. */
  readonly tls?: TransportTlsOptions | undefined;
  /** Address to listen on when it differs from this node's address in `peers` (the seed's SetBindAddr). */
  readonly listen?: string | undefined;
  /** Builds the transport instead of TCP (tests, custom networks). */
  readonly transport?: ((handler: MessageHandler, onUnreachable: (peer: number) => void) => Transport) | undefined;
  /** A Storage to use instead of DiskStorage(dataDir) / MemoryStorage. */
  readonly storage?: Storage | undefined;
  /** Manual mode: the application handles each Ready itself and calls `advance()` (etcd style). */
  readonly manual?: boolean | undefined;
  /** Scheduler of the tick stream (a virtual one in tests). */
  readonly scheduler?: SchedulerLike | undefined;
  /**
   * Join an existing cluster instead of bootstrapping one: the node starts with no configuration
   * and waits for the leader (after `addNode` on the leader) to send it the log.
   */
  readonly join?: boolean | undefined;
  /**
   * What an empty data directory may do (docs/membership.md); a directory with Raft state ignores it.
   * - 'new' (default): found the cluster of `peers`, once a majority of them (counting this node)
   *   confirm over the handshake that they are empty too. A peer that already holds state and never
   *   heard of this directory means the cluster formed without it: it then joins (as with `join`).
   *   A peer that knows this node id by another directory makes start fail with BootstrapRefusedError.
   * - 'existing': never found a cluster; an empty directory is refused unless `join` is set.
   */
  readonly initialClusterState?: 'new' | 'existing';
  /**
   * Found at once, without asking the peers: the caller verified every founding member is new.
   * Only with `initialClusterState: 'new'`.
   */
  readonly bootstrapConfirmed?: boolean;
  /** `metrics$` emits a snapshot every this many ticks (default 10: once a second at 100 ms ticks). */
  readonly metricsIntervalTicks?: number | undefined;
}

/** Options of `start()`. */
export interface StartOptions {
  /**
   * Resolve only once a leader is known (as `waitForLeader()`), so the first `propose()` does not
   * meet "no leader is known". Default false: resolve as soon as storage, transport and clock run.
   */
  readonly waitForLeader?: boolean | undefined;
  /** Gives up waiting (rejects with the signal's reason); the node keeps running. */
  readonly signal?: AbortSignal | undefined;
}

/** One member of the cluster as `members()` lists it. */
export interface MemberInfo {
  readonly id: number;
  /** Raft address (`host:port`); null when this node has not learned it. */
  readonly address: string | null;
  readonly role: 'voter' | 'learner';
  /** Whether this node knows it as the leader. */
  readonly leader: boolean;
  /** Leader only: the highest log index known to be replicated on the member. */
  readonly match?: number;
}

/** What `applied$` emits: one entry as the state machine applied it. */
export interface AppliedEvent {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  readonly result: unknown;
}

/** The counterpart of raft.Status. */
export interface NodeStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly applied: number;
  readonly lead: number;
  readonly raftState: StateType;
  /** Leader only: what it knows of each follower. */
  readonly progress: Readonly<Record<number, { match: number; next: number; state: string; recentActive: boolean; inflight: number }>>;
  /** Circuit breaker state per peer, from the leader's replicators (`closed` on a follower). */
  readonly circuits: Readonly<Record<number, string>>;
}

/** The seed's Node interface, with promises and Observables. */
export interface Node {
  start(opts?: StartOptions): Promise<void>;
  stop(): Promise<void>;
  propose(data: Uint8Array, opts?: { signal?: AbortSignal }): Promise<ProposeResult>;
  isLeader(): boolean;
  leader(): number;
  campaign(): Promise<void>;
  addNode(id: number, address: string, opts?: { learner?: boolean; signal?: AbortSignal }): Promise<ProposeResult>;
  removeNode(id: number, opts?: { signal?: AbortSignal }): Promise<ProposeResult>;
  readonly ready$: Observable<Ready>;
  advance(): void;
}

/** XState takes an observer or a function; the node actor takes the function. */
function asInspectFunction(inspect: NodeOptions['inspect']): ((event: InspectionEvent) => void) | undefined {
  if (inspect === undefined || typeof inspect === 'function') return inspect;
  return (event) => inspect.next?.(event);
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export class RaftNode<R = unknown> implements Node {
  readonly config: Readonly<Config>;
  private readonly sm: StateMachine<R>;
  private readonly opts: NodeOptions;
  private readonly log: Logger;

  private readonly readySubject = new Subject<Ready>();
  private readonly stateSubject: BehaviorSubject<SoftState>;
  private readonly appliedSubject = new Subject<AppliedEvent>();
  private readonly errorSubject = new Subject<Error>();
  private readonly circuitSubject = new Subject<CircuitChange>();
  private readonly metricsSubject = new Subject<MetricsSnapshot>();
  /** Counters kept where things happen; the rest of `metrics()` is read from the actors' stats. */
  private readonly counters = new NodeMetrics();
  private lastRole: string = StateType.Follower;
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
  private storage: Storage | undefined;
  private storageActor: StorageActor | undefined;
  private transportActor: TransportActor | undefined;
  private subs: Subscription[] = [];
  /** This run's identity in proposal envelopes. */
  private readonly proposer = { nodeId: 0, instance: newInstanceId() };
  private readonly pending: PendingRequests;
  /** The last entry the state machine applied, kept across stop()/start() of this instance. */
  private lastAppliedIndex = 0;
  private startPromise: Promise<void> | undefined;
  private proposalBatch: { seq: number; data: Uint8Array }[] = [];
  private readsToStart: Uint8Array[] = [];
  private readonly writes = new Map<number, Ready>();
  private flushScheduled = false;
  private applying: Promise<void> = Promise.resolve();
  private ticks = 0;
  private lastLead = 0;
  private status_: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopPromise: Promise<void> | undefined;
  /** Manual mode: a Ready was handed out and advance() has not been called yet. */
  private awaitingAdvance: Ready | undefined;
  private lastSnapshotIndex = 0;
  /** A fatal error stopped the apply stream: entries after it are not applied, even while stopping. */
  private applyHalted = false;
  /** Why the node stopped, when it stopped itself (the cause of the errors its callers get). */
  private stopCause: Error | undefined;
  private snapshotting = false;
  /** Addresses learned from membership changes. */
  private readonly peerAddresses = new Map<number, string>();
  private tcpTransport: BidirectionalTransport | undefined;

  /** The TCP transport's counters (refused frames and messages, handshakes, reconnects...), when it runs one. */
  transportStats(): TransportStats | undefined {
    return this.tcpTransport?.stats();
  }

  constructor(config: Partial<Config> & Pick<Config, 'nodeId'>, stateMachine: StateMachine<R>, options: NodeOptions = {}) {
    this.config = resolveConfig(config);
    this.sm = stateMachine;
    this.opts = options;
    this.log = options.logger ? structuredLogger(options.logger, { member: this.config.nodeId, term: () => this.node?.raft.term }) : silent;
    if (!this.opts.transport && !this.opts.manual && this.config.peers.some((p) => p.id !== this.config.nodeId) && !this.opts.secret) {
      throw new ConfigError('secret', 'a multi-node cluster over TCP needs a shared secret (NodeOptions.secret) so members can authenticate each other');
    }
    if (this.opts.secret !== undefined) validateSecret(this.opts.secret);
    if (this.opts.listen !== undefined && !/^[^:]+:\d+$|^\[.*\]:\d+$/.test(this.opts.listen)) {
      throw new ConfigError('listen', `must be host:port, got ${JSON.stringify(this.opts.listen)}`);
    }
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
    this.applyHalted = false;
    this.stopCause = undefined;
    const abandoned = () => this.status_ !== 'starting';
    try {
      this.storage = this.opts.storage ?? (this.config.dataDir ? await DiskStorage.open(this.config.dataDir, { nodeId: this.id, clusterId: this.opts.clusterId ?? 'actor-raft' }) : new MemoryStorage());
      if (abandoned()) throw new StoppedError(`node ${this.id}`);
      const loaded = await loadPersistedState(this.storage, this.config.dataDir || '(the configured storage)');
      // Restarted on the same instance: the state machine still holds everything applied before
      // stop(), so applying resumes after it instead of replaying onto it.
      const snapIndex = loaded.snapshot.metadata.index;
      const resume = this.lastAppliedIndex > snapIndex && this.lastAppliedIndex <= loaded.hardState.commit;
      if (!resume && this.lastAppliedIndex > 0 && snapIndex === 0) {
        throw new Error(`node ${this.id}: restarting would apply entries again onto a state machine that holds them; create a new node with a fresh state machine`);
      }
      if (!resume && snapIndex > 0) await this.restoreStoredSnapshot(loaded.snapshot);
      // Addresses: those stored with the membership, then this run's peers (an address given now wins).
      this.peerAddresses.clear();
      for (const [id, address] of Object.entries(loaded.confState.addresses ?? {})) this.peerAddresses.set(Number(id), address);
      for (const p of this.config.peers) this.peerAddresses.set(p.id, p.address);
      this.lastSnapshotIndex = snapIndex;
      const identity = (await this.storage.memberIdentity?.()) ?? { incarnation: randomBytes(INCARNATION_BYTES).toString('hex'), peerIncarnations: {} };
      const founding = this.foundingPolicy(loaded.hardState.term === 0 && loaded.hardState.vote === 0 && loaded.stable.lastIndexSync() === 0);
      this.node = new NodeActor({
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
        // The host restores a snapshot from the leader before it replaces the log (installSnapshot);
        // chunks go to the storage's staging area when it has one. A manual host gets Ready.snapshot.
        snapshotReception: this.opts.manual ? 'install' : this.storage.readStagedSnapshot ? 'stage' : 'report',
      });
      this.incarnation = identity.incarnation;
      const node = this.node;
      this.subs.push(node.refusals$.subscribe((r) => this.onIdentityRefusal(node, r)), node.circuit$.subscribe((c) => this.circuitSubject.next(c)));
      if (node.isAwaitingFounders()) this.log.info('empty data directory: waiting for a majority of the founding members to confirm they are new', { id: this.id });
      if (resume) this.node.applied(this.lastAppliedIndex);
      this.lastLead = 0;
      this.stateSubject.next(this.node.softState());
      if (!this.opts.manual) {
        this.storageActor = new StorageActor(this.storage, { onWrite: this.counters.recordWrite });
        this.subs.push(
          this.storageActor.persisted$.subscribe({ next: (seq) => this.onPersisted(seq), error: (err: Error) => this.fatal(err) }),
          this.storageActor.errors$.subscribe((err) => this.errorSubject.next(err)),
        );
        await this.startTransport();
        if (abandoned()) throw new StoppedError(`node ${this.id}`);
      }
      const tickSource = interval(this.config.tickInterval, this.opts.scheduler ?? asyncScheduler);
      this.subs.push(tickSource.subscribe(() => this.onTick()));
      this.status_ = 'running';
      this.log.info('node started', { id: this.id, term: loaded.hardState.term, commit: loaded.hardState.commit, lastIndex: loaded.stable.lastIndexSync() });
      this.scheduleFlush();
    } catch (err) {
      if (!abandoned()) {
        await this.teardown();
        this.status_ = 'stopped';
      }
      throw err;
    }
  }

  /** This run's data-directory incarnation (hex). */
  private incarnation = '';

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

  private async startTransport(): Promise<void> {
    const self = this.config.peers.find((p) => p.id === this.id);
    const handler: MessageHandler = (msg, sender) => this.onMessage(msg, sender);
    const onUnreachable = (peer: number) => this.onMessage(message({ type: MessageType.MsgUnreachable, from: peer, to: this.id }));
    const bindAddr = this.opts.listen ?? self?.address;
    this.transportActor = new TransportActor({
      createTransport: (deliver) => {
        if (this.opts.transport) return this.opts.transport(deliver, onUnreachable);
        if (!bindAddr) throw new ConfigError('peers', `node ${this.id} has no address in peers and no NodeOptions.listen`);
        const t = new BidirectionalTransport({
          nodeId: this.id,
          bindAddr,
          handler: deliver,
          clusterId: this.opts.clusterId ?? 'actor-raft',
          secret: this.opts.secret ?? randomBytes(32), // one member: nobody else needs to know it
          tls: this.opts.tls,
          logger: this.log,
          peers: [...this.peerAddresses].filter(([id]) => id !== this.id).map(([id, address]) => ({ id, address })),
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
              if (this.node && this.guarded(() => this.node!.peerReport(peer, report))) this.scheduleFlush();
            },
          },
        });
        this.tcpTransport = t;
        return t;
      },
    });
    this.subs.push(this.transportActor.arrivals$.subscribe((a) => handler(a.msg, a.sender)));
    await this.transportActor.start();
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

  /**
   * Stops the loop without lying to callers. Proposals still in this turn's batch never reached
   * Raft: StoppedError (provably not applied, safe to retry). Entries already known committed are
   * handed to the apply stream and applied before stop() resolves, settling the proposals they
   * carry. A proposal still pending after that was appended or forwarded, so the cluster may yet
   * commit it: ProposalOutcomeUnknownError, never a "stopped" that invites a blind retry.
   */
  private async teardown(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    const stopped = () => new StoppedError(`node ${this.id}`);
    for (const p of this.proposalBatch) this.pending.fail(p.seq, stopped());
    this.proposalBatch = [];
    this.readsToStart = [];
    this.pending.rejectReads(stopped);
    if (this.node && !this.applyHalted && !this.opts.manual && this.storageActor) {
      // Committed entries the node actor has not handed out yet join the apply stream too.
      this.guarded(() => {
        for (let rd = this.node!.takeReady(); rd; rd = this.node!.takeReady()) this.handle(rd);
      });
    }
    await this.applying.catch(() => {});
    const cause = this.stopCause ?? stopped();
    this.pending.rejectAll(
      () => new ProposalOutcomeUnknownError(`node ${this.id} stopped before the proposal was applied here (${cause.message}); the cluster may or may not apply it`, { cause }),
    );
    await this.storageActor?.stop();
    await this.transportActor?.stop();
    this.node?.stop();
    await this.storage?.close();
    this.storageActor = undefined;
    this.transportActor = undefined;
    this.storage = undefined;
    this.writes.clear();
    this.awaitingAdvance = undefined;
  }

  private fatal(err: Error): void {
    // Nothing more is applied: a failed apply or restore must not be skipped over.
    this.applyHalted = true;
    this.stopCause ??= err;
    this.log.error('fatal error, stopping the node', { id: this.id, error: err.message });
    this.errorSubject.next(err);
    void this.stop();
  }

  private running(): NodeActor {
    if (this.status_ !== 'running' || !this.node) throw new StoppedError(`node ${this.id}`);
    return this.node;
  }

  // ----- client API -----

  /**
   * Proposes a command. Resolves with `{ index, term, result }` once the entry is committed and
   * applied on this node; rejects with NotLeaderError (forwarding disabled), ProposalDroppedError
   * (no leader, leadership changed, entry overwritten), StoppedError, or the signal's reason.
   */
  propose(data: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult<R>> {
    let node: NodeActor;
    try {
      node = this.running();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('propose() takes a Uint8Array'));
    if (data.byteLength > this.config.maxSizePerMsg) {
      return Promise.reject(new RangeError(`proposal of ${data.byteLength} bytes exceeds maxSizePerMsg (${this.config.maxSizePerMsg})`));
    }
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    void node;
    this.counters.proposals++;
    const seq = this.pending.newSeq();
    return new Promise<ProposeResult<R>>((resolve, reject) => {
      const onAbort = () => this.pending.fail(seq, signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
      this.pending.addProposal(seq, Infinity, resolve as (r: ProposeResult) => void, reject, cleanup);
      this.proposalBatch.push({ seq, data: wrapProposal(this.proposer, seq, data) });
      this.scheduleFlush();
    });
  }

  /**
   * A linearizable read barrier (ReadIndex, thesis §6.4): resolves with an index once the leader
   * confirmed it still leads and this node has applied up to that index. Read the state machine
   * after it resolves.
   */
  readIndex(opts: { signal?: AbortSignal } = {}): Promise<number> {
    try {
      this.running();
    } catch (err) {
      return Promise.reject(err);
    }
    const context = randomBytes(12);
    const key = contextKey(context);
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => this.pending.failRead(key, signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.addRead(key, this.ticks + 4 * this.config.electionTick, resolve, reject, () => signal?.removeEventListener('abort', onAbort));
      this.readsToStart.push(context);
      this.scheduleFlush();
    });
  }

  /** Forces an election on this node (it may still lose it). */
  async campaign(): Promise<void> {
    const node = this.running();
    if (!this.guarded(() => node.campaign())) throw new StoppedError(`node ${this.id}`);
    this.scheduleFlush();
  }

  isLeader(): boolean {
    return this.node !== undefined && this.status_ === 'running' && this.node.stateType() === StateType.Leader;
  }

  leader(): number {
    return this.node?.raft.lead ?? 0;
  }

  /** The address of a peer (for "ask the leader at ..." answers). */
  peerAddress(id: number): string | undefined {
    return this.peerAddresses.get(id) ?? this.config.peers.find((p) => p.id === id)?.address;
  }

  status(): NodeStatus {
    const n = this.node;
    if (!n) throw new StoppedError(`node ${this.id}`);
    const r = n.raft;
    const progress: Record<number, NodeStatus['progress'][number]> = {};
    for (const [id, pr] of n.progress()) progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflight };
    const circuits: Record<number, string> = {};
    for (const p of this.config.peers) if (p.id !== this.id) circuits[p.id] = n.circuitState(p.id);
    return { id: this.id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied, lead: r.lead, raftState: n.stateType(), progress, circuits };
  }

  /**
   * The figures of this member now: counters since this RaftNode was created (they survive
   * stop()/start()), the durable-write and commit-latency histograms, and per-peer traffic and
   * circuit state of the TCP transport (read from the running transport, so they start from zero
   * with each start()). Cheap enough to call on every scrape; docs/observability.md lists it all.
   */
  metrics(): MetricsSnapshot {
    const c = this.counters;
    const r = this.node?.raft;
    const ta = this.transportActor?.stats();
    const t = this.transportActor?.transport;
    const tcp = t instanceof BidirectionalTransport ? t.stats() : undefined;
    const peers: Record<number, PeerMetrics> = {};
    if (tcp) {
      for (const [id, p] of Object.entries(tcp.peers)) {
        peers[Number(id)] = { address: p.address, connected: p.connected, circuit: this.node?.circuitState(Number(id)) ?? 'closed', messagesSent: p.messagesSent, bytesSent: p.bytesSent, messagesReceived: p.messagesReceived, bytesReceived: p.bytesReceived };
      }
    }
    return {
      nodeId: this.id,
      takenAt: Date.now(),
      role: this.node ? this.node.stateType() : StateType.Follower,
      term: r?.term ?? 0,
      leader: r?.lead ?? 0,
      commitIndex: r?.log.committed ?? 0,
      appliedIndex: this.lastAppliedIndex,
      proposals: c.proposals,
      commits: c.commits,
      applies: c.applies,
      elections: c.elections,
      leaderChanges: c.leaderChanges,
      snapshotsSent: ta?.snapshotsSent ?? 0,
      snapshotsReceived: c.snapshotsReceived,
      snapshotsTaken: c.snapshotsTaken,
      messagesDropped: {
        queueFull: ta?.droppedQueueFull ?? 0,
        ...(tcp ? tcp.dropped : {}),
        stopped: (ta?.droppedStopped ?? 0) + (tcp?.dropped.stopped ?? 0),
      },
      invalidMessages: tcp?.invalidMessages ?? 0,
      rejectedFrames: tcp?.rejectedFrames ?? 0,
      oversizedFrames: tcp?.oversizedFrames ?? 0,
      commitLatencySeconds: c.commitLatencySeconds.snapshot(),
      fsyncSeconds: c.fsyncSeconds.snapshot(),
      fsyncBatchEntries: c.fsyncBatchEntries.snapshot(),
      peers,
    };
  }

  // ----- manual mode (etcd style) -----

  /** Manual mode: deliver a message from a peer. */
  step(msg: Message): void {
    this.running().step(msg);
    if (msg.type === MessageType.MsgSnap) this.reportSnapshotRejections();
    this.scheduleFlush();
  }

  /**
   * Manual mode: the application persisted the last Ready's entries, hard state and snapshot, sent
   * its messages and applied its committed entries.
   */
  advance(): void {
    const rd = this.awaitingAdvance;
    if (!rd || !this.node) return;
    this.awaitingAdvance = undefined;
    this.node.persisted(rd);
    for (const e of rd.committedEntries) {
      const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
      if (e.type === EntryType.ConfChange) this.applyConfChange(e);
      this.pending.applied(e, env, undefined);
    }
    if (rd.committedEntries.length > 0) {
      const last = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      this.lastAppliedIndex = last;
      this.node.applied(last);
      this.pending.appliedUpTo(last);
    }
    this.scheduleFlush();
  }

  // ----- the loop -----

  private onTick(): void {
    if (this.status_ !== 'running' || !this.node) return;
    this.ticks++;
    this.guarded(() => this.node!.tick());
    this.pending.expire(this.ticks);
    this.scheduleFlush();
    if (this.metricsSubject.observed && this.ticks % (this.opts.metricsIntervalTicks ?? 10) === 0) this.metricsSubject.next(this.metrics());
  }

  /**
   * Runs a step of the node actor. An exception there means the Raft state can no longer be
   * trusted (the role actor stopped): the node stops itself and reports why on errors$, instead of
   * crashing the process or lingering half-alive.
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

  private onMessage(msg: Message, sender?: SenderIdentity): void {
    if (this.status_ !== 'running' || !this.node) return;
    if (msg.to !== this.id) {
      this.log.warn('dropped a message addressed to another node', { to: msg.to, from: msg.from });
      return;
    }
    // Only a heartbeat from a leader this member accepts as itself can prove it lost its log tail; a
    // wiped member under an old id is refused by identity instead (docs/membership.md).
    const admitted = !sender || this.node.peers.verdict(msg.from, sender).kind === 'accept';
    if (msg.type === MessageType.MsgHeartbeat && admitted && this.logLostUnder(msg)) return;
    if (this.guarded(() => this.node!.step(msg, sender))) this.scheduleFlush();
    if (msg.type === MessageType.MsgSnap) this.reportSnapshotRejections();
  }

  /**
   * The leader's heartbeat says entries are committed that this member acknowledged and no longer
   * holds (a log tail lost after a crash, which no check at open can see): stop with
   * StorageInconsistentError on errors$ instead of rejecting every append forever. Only for a
   * durable store; a node kept in memory forgets its log by design when it restarts.
   */
  private logLostUnder(msg: Message): boolean {
    const node = this.node!;
    if (!this.config.dataDir && !this.opts.storage) return false;
    if (msg.term < node.raft.term) return false;
    const lost = checkLeaderCommit(msg.commit, node.raft.log.lastIndex());
    if (!lost) return false;
    this.fatal(new StorageInconsistentError(this.config.dataDir || '(the configured storage)', 'hardState, entry', `${lost} (node ${this.id}, heartbeat from leader ${msg.from} in term ${msg.term})`));
    return true;
  }

  /** Snapshots from the leader that were refused before they replaced anything: log why. */
  private reportSnapshotRejections(): void {
    for (const r of this.node?.raft.takeSnapshotRejections() ?? []) this.rejectReceivedSnapshot(r.index, r.term, r.from, r.reason);
  }

  private rejectReceivedSnapshot(index: number, term: number, from: number, reason: string): void {
    this.log.warn('discarded a snapshot from the leader; keeping the current state', { id: this.id, index, term, from, reason });
    this.errorSubject.next(new SnapshotRejectedError(index, term, reason));
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
      throw new SnapshotRestoreError(
        this.config.dataDir || '(the configured storage)',
        `record snapshotMeta: snapshot at index ${index}, term ${term}, ${snap.data.byteLength} bytes`,
        err instanceof Error ? err.message : String(err),
        { cause: err },
      );
    }
  }

  private onPersisted(seq: number): void {
    if (!this.node) return;
    let last: Ready | undefined;
    for (const [s, rd] of this.writes) {
      if (s > seq) break;
      last = rd;
      this.writes.delete(s);
    }
    if (last && !this.guarded(() => this.node!.persisted(last!))) return;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (this.status_ === 'running') this.guarded(() => this.flush());
    });
  }

  /** Feeds batched inputs to the node actor and handles every Ready it has. */
  private flush(): void {
    const node = this.node!;
    if (this.proposalBatch.length > 0) this.submitProposals(node);
    for (const context of this.readsToStart.splice(0)) {
      const refused = node.readIndex(context);
      if (refused) this.pending.failRead(contextKey(context), new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead)));
    }
    if (this.opts.manual) {
      if (this.awaitingAdvance) return;
      const rd = node.takeReady();
      if (!rd) return;
      this.awaitingAdvance = rd;
      this.observe(rd);
      // The application applies the commands it proposed, not the envelopes they travel in.
      const committedEntries = rd.committedEntries.map((e) => {
        const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
        return env ? { ...e, data: env.payload } : e;
      });
      this.readySubject.next({ ...rd, committedEntries });
      return;
    }
    for (let rd = node.takeReady(); rd; rd = node.takeReady()) this.handle(rd);
  }

  private submitProposals(node: NodeActor): void {
    const batch = this.proposalBatch;
    this.proposalBatch = [];
    const out = node.propose(batch.map((p) => ({ type: EntryType.Normal, data: p.data })));
    switch (out.kind) {
      case 'appended':
        batch.forEach((p, i) => this.pending.located(p.seq, out.index + i, out.term));
        break;
      case 'forwarded':
        // Not seen in the log yet: a forwarded proposal unseen after 4 election timeouts was lost.
        for (const p of batch) this.pending.setDeadline(p.seq, this.ticks + 4 * this.config.electionTick);
        break;
      case 'notLeader':
        for (const p of batch) this.pending.fail(p.seq, new NotLeaderError(out.leader, this.peerAddress(out.leader)));
        break;
      case 'dropped':
        for (const p of batch) this.pending.fail(p.seq, new ProposalDroppedError(out.reason));
        break;
    }
  }

  private observe(rd: Ready): void {
    if (rd.softState) {
      this.stateSubject.next(rd.softState);
      if (rd.softState.raftState !== this.lastRole) {
        if (rd.softState.raftState === StateType.Candidate) this.counters.elections++;
        this.lastRole = rd.softState.raftState;
      }
      if (rd.softState.lead !== this.lastLead && rd.softState.lead !== 0) this.counters.leaderChanges++;
      if (rd.softState.lead !== this.lastLead) {
        this.log.info('leader changed', { id: this.id, leader: rd.softState.lead, role: rd.softState.raftState });
        if (this.lastLead !== 0) {
          this.pending.leaderChanged(this.ticks, this.config.electionTick * 2, (): RaftError => new ProposalDroppedError('the leader changed before the request was confirmed'));
        }
        this.lastLead = rd.softState.lead;
      }
    }
    // A follower learns where its forwarded proposals landed when they reach its own log; a write
    // that replaces part of the log tells which proposals were overwritten.
    for (const e of rd.entries) {
      const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
      if (isFrom(env, this.proposer)) this.pending.located(env.seq, e.index, e.term);
    }
    this.pending.logWritten(rd.entries);
    this.counters.commits += rd.committedEntries.length;
    if (rd.snapshot) {
      this.learnAddresses(rd.snapshot.metadata.confState);
      this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, rd.snapshot.metadata.index);
      this.pending.snapshotInstalled(rd.snapshot.metadata.index);
    }
    if (rd.readStates) for (const r of rd.readStates) this.pending.readConfirmed(contextKey(r.context), r.index);
  }

  private handle(rd: Ready): void {
    this.observe(rd);
    let seq: number | undefined;
    const staged = rd.stagedSnapshotChunks;
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot || staged || rd.peerIncarnations) {
      try {
        seq = this.storageActor!.submit({
          hardState: rd.hardState,
          entries: rd.entries,
          snapshot: rd.snapshot,
          // The snapshot was restored from the staging area, which it now replaces.
          ...(rd.snapshot ? { discardStagedSnapshot: true } : {}),
          ...(staged ? { stagedSnapshotChunks: staged } : {}),
          ...(rd.peerIncarnations ? { peerIncarnations: rd.peerIncarnations } : {}),
        });
        this.writes.set(seq, rd);
      } catch (err) {
        this.fatal(err as Error);
        return;
      }
    }
    if (rd.messages.length > 0) this.transportActor!.sendAll(rd.messages);
    if (rd.receivedSnapshot) this.installSnapshot(rd.receivedSnapshot, seq);
    if (rd.committedEntries.length > 0) this.apply(rd.committedEntries);
    if (rd.readStates) this.pending.appliedUpTo(this.node!.raft.log.applied);
    this.readySubject.next(rd);
  }

  /**
   * Whether the apply stream runs: while running, and while stopping so that stop() applies what
   * is already committed (unless a fatal error halted it).
   */
  private applies(): boolean {
    return (this.status_ === 'running' || this.status_ === 'stopping') && this.node !== undefined && !this.applyHalted;
  }

  /** Applies committed entries in order, one batch after another (the apply stream). */
  private apply(entries: readonly Entry[]): void {
    this.applying = this.applying.then(async () => {
      if (!this.applies()) return;
      const appliedBefore = this.lastAppliedIndex;
      for (const e of entries) {
        // Handed out before a snapshot from the leader was installed, and covered by it.
        if (e.index <= this.lastAppliedIndex) continue;
        let result: unknown;
        const env = e.type === EntryType.Normal ? unwrapProposal(e.data) : undefined;
        const payload = env?.payload ?? e.data;
        if (e.type === EntryType.ConfChange) {
          result = this.applyConfChange(e);
        } else if (e.data.byteLength > 0) {
          try {
            result = await this.sm.apply(payload, e.index);
          } catch (err) {
            this.fatal(new Error(`state machine failed to apply entry ${e.index}: ${(err as Error).message}`, { cause: err }));
            return;
          }
          this.appliedSubject.next({ index: e.index, term: e.term, data: payload, result });
        }
        this.pending.applied(e, env, result);
      }
      if (!this.applies()) return;
      const last = Math.max(this.lastAppliedIndex, entries[entries.length - 1]!.index);
      this.counters.applies += last - Math.max(appliedBefore, entries[0]!.index - 1);
      this.lastAppliedIndex = last;
      this.node!.applied(last);
      this.pending.appliedUpTo(last);
      if (this.status_ !== 'running') return;
      this.maybeSnapshot(last);
      this.scheduleFlush();
    });
  }

  /** A committed membership change: the node actor, the stored conf state and the transport follow it. */
  private applyConfChange(e: Entry): ConfState | undefined {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      this.log.warn('skipped an undecodable membership change', { index: e.index });
      return undefined;
    }
    const address = new TextDecoder().decode(cc.context);
    if (cc.type === ConfChangeType.RemoveNode) this.peerAddresses.delete(cc.nodeId);
    else if (isValidAddress(address)) this.peerAddresses.set(cc.nodeId, address);
    const confState = this.withAddresses(this.node!.applyConfChange(cc, e.index));
    if (!this.opts.manual) {
      this.submitWrite({ confState });
      const t = this.transportActor;
      if (t && cc.nodeId !== this.id) {
        if (cc.type === ConfChangeType.RemoveNode) t.removePeer(cc.nodeId);
        else if (isValidAddress(address)) t.addPeer(cc.nodeId, address);
      }
    }
    this.log.info('membership changed', { index: e.index, change: cc.type, node: cc.nodeId, voters: confState.voters, learners: confState.learners });
    return confState;
  }

  /** The conf state with the addresses of its members, for storage and snapshots. */
  private withAddresses(cs: ConfState): ConfState {
    const addresses: Record<number, string> = {};
    for (const id of [...cs.voters, ...cs.learners]) {
      const a = this.peerAddresses.get(id);
      if (a) addresses[id] = a;
    }
    return { voters: cs.voters, learners: cs.learners, addresses };
  }

  /** A snapshot from the leader names members this node may not have heard of: learn their addresses. */
  private learnAddresses(cs: ConfState): void {
    for (const [id, address] of Object.entries(cs.addresses ?? {})) {
      const peer = Number(id);
      if (peer === this.id || !isValidAddress(address)) continue;
      this.peerAddresses.set(peer, address);
      this.transportActor?.addPeer(peer, address);
    }
  }

  /**
   * Every `snapshotInterval` applied entries: snapshot the state machine and compact the log. The
   * synchronous part of `snapshot()` runs here, between two entries, so it sees exactly the state at
   * `index`; a state machine that returns a promise finishes serializing while entries keep being
   * applied and proposals keep being served.
   */
  private maybeSnapshot(index: number): void {
    const node = this.node!;
    if (this.snapshotting || index - this.lastSnapshotIndex < this.config.snapshotInterval) return;
    if (index <= node.raft.log.snapshot().metadata.index) return;
    this.snapshotting = true;
    // The membership as of `index`, captured now: a change applied while serializing is not in it.
    const confState = this.withAddresses(node.raft.tracker.confState());
    let data: Uint8Array | Promise<Uint8Array>;
    try {
      data = this.sm.snapshot();
    } catch (err) {
      this.snapshotting = false;
      this.errorSubject.next(new Error(`state machine snapshot failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    Promise.resolve(data).then(
      (bytes) => {
        this.snapshotting = false;
        if (this.status_ !== 'running' || this.node !== node) return;
        // A snapshot installed from the leader meanwhile is newer: this one is of no use.
        if (index <= this.lastSnapshotIndex || index <= node.raft.log.snapshot().metadata.index) return;
        try {
          const snap = node.createSnapshot(index, bytes, confState);
          this.lastSnapshotIndex = index;
          this.submitWrite({ snapshot: snap });
          this.counters.snapshotsTaken++;
          this.log.info('snapshot taken', { index, bytes: bytes.byteLength, firstIndex: node.raft.log.firstIndex() });
        } catch (err) {
          this.errorSubject.next(new Error(`could not record the snapshot at ${index}: ${(err as Error).message}`, { cause: err }));
        }
      },
      (err: Error) => {
        this.snapshotting = false;
        this.errorSubject.next(new Error(`state machine snapshot failed: ${err.message}`, { cause: err }));
      },
    );
  }

  private submitWrite(write: StorageWrite): void {
    try {
      this.storageActor?.submit(write);
    } catch (err) {
      this.fatal(err as Error);
    }
  }

  /**
   * A snapshot from the leader arrived whole (Raft §7): restore the state machine from it BEFORE it
   * replaces the log and the disk, in order with the applies. The data is read back from the
   * staging area once the write holding its last chunk is durable (the one full copy in memory).
   *
   * Restoring first means a snapshot the state machine cannot take is never stored: it is dropped
   * with a logged reason (SnapshotRejectedError on errors$) and the member keeps running on its old
   * state. `restore` need not be all-or-nothing: the state is serialized with `snapshot()` before
   * and restored from that if `restore` throws. The snapshot then goes to the core, which replaces
   * the log in memory and hands it out in a Ready to be made durable; the leader hears of it only
   * after that write. A crash in between restarts from the old durable state (start() restores the
   * stored snapshot and replays the log), so memory never runs ahead of the disk for long.
   */
  private installSnapshot(r: ReceivedSnapshot, writeSeq: number | undefined): void {
    const node = this.node!;
    const storage = this.storage!;
    const storageActor = this.storageActor!;
    const current = () => this.status_ === 'running' && this.node === node;
    const staged = r.data === undefined;
    const drop = (reason?: string) => {
      node.raft.dropReceivedSnapshot(r);
      if (staged) this.submitWrite({ discardStagedSnapshot: true });
      if (reason) this.rejectReceivedSnapshot(r.metadata.index, r.metadata.term, r.from, reason);
      this.scheduleFlush();
    };
    const { index } = r.metadata;
    this.applying = this.applying.then(async () => {
      if (!current()) {
        // Stopping: later batches must not apply entries past a snapshot that was not installed.
        if (this.node === node) this.applyHalted = true;
        return;
      }
      // A newer leader, or the log caught up meanwhile: nothing to restore.
      if (!node.raft.wantsReceivedSnapshot(r)) return drop();
      let data: Uint8Array;
      try {
        if (writeSeq !== undefined) await storageActor.whenPersisted(writeSeq);
        data = r.data ?? (await storage.readStagedSnapshot!(index, r.size));
      } catch (err) {
        if (current()) drop(`its staged chunks could not be read back: ${messageOf(err)}`);
        return;
      }
      if (!current() || !node.raft.wantsReceivedSnapshot(r)) return current() ? drop() : undefined;
      if (this.sm.validateSnapshot) {
        try {
          this.sm.validateSnapshot(data);
        } catch (err) {
          return drop(`the state machine refused its data: ${messageOf(err)}`);
        }
      }
      let before: Uint8Array;
      try {
        before = await this.sm.snapshot();
      } catch (err) {
        return drop(`the state machine could not serialize its current state to come back to: ${messageOf(err)}`);
      }
      try {
        await this.sm.restore(data);
      } catch (err) {
        if (await this.putStateBack(before, index)) drop(`the state machine could not restore it: ${messageOf(err)}`);
        return;
      }
      let installed = false;
      if (current()) {
        try {
          installed = node.raft.installReceivedSnapshot(r, data);
        } catch (err) {
          this.fatal(err instanceof Error ? err : new Error(String(err)));
        }
      }
      if (!installed) {
        // Stopped, or no longer wanted while restoring: the state machine goes back to where the log is.
        if ((await this.putStateBack(before, index)) && current()) drop();
        return;
      }
      this.lastAppliedIndex = Math.max(this.lastAppliedIndex, index);
      this.pending.appliedUpTo(index);
      this.counters.snapshotsReceived++;
      this.log.info('snapshot installed', { index, bytes: data.byteLength });
      this.scheduleFlush();
    });
  }

  /** Restores the state the state machine had before a snapshot was tried; a failure there is fatal. */
  private async putStateBack(before: Uint8Array, index: number): Promise<boolean> {
    try {
      await this.sm.restore(before);
      return true;
    } catch (err) {
      this.fatal(new Error(`state machine could not be put back to its state before snapshot ${index}: ${messageOf(err)}`, { cause: err }));
      return false;
    }
  }

  // ----- membership (Raft §6; one server at a time, effective when applied) -----

  /**
   * Adds a voter (or a learner with `{ learner: true }`) at `address`. Resolves once the change is
   * committed and applied here. Leader only. Adding a learner that is already a member as a voter
   * promotes it; that waits until the learner has caught up with the leader's log.
   */
  async addNode(id: number, address: string, opts: { learner?: boolean; signal?: AbortSignal } = {}): Promise<ProposeResult> {
    if (!Number.isSafeInteger(id) || id < 1) throw new ConfigError('nodeId', `must be a positive integer, got ${JSON.stringify(id)}`);
    if (!isValidAddress(address)) throw new ConfigError('address', `must be host:port, got ${JSON.stringify(address)}`);
    const raft = this.leading().raft;
    if (raft.tracker.voters.includes(id)) throw new MemberConflictError(id, `node ${id} is already a voter`);
    if (opts.learner && raft.tracker.learners.includes(id)) throw new MemberConflictError(id, `node ${id} is already a learner`);
    if (!opts.learner && raft.tracker.learners.includes(id)) {
      const tracked = raft.tracker.tracked().includes(id);
      const behind = raft.log.lastIndex() - raft.tracker.matchOf(id);
      if (!tracked || behind > Math.max(10, this.config.maxInflightMsgs)) {
        throw new ProposalDroppedError(`learner ${id} is ${tracked ? behind : 'an unknown number of'} entries behind; promote it once it has caught up`);
      }
    }
    const type = opts.learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    return this.proposeConfChange({ type, nodeId: id, context: new TextEncoder().encode(address) }, opts.signal);
  }

  /** Removes a member. Resolves once the change is applied here. Leader only. */
  async removeNode(id: number, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult> {
    if (!this.leading().raft.tracker.members().includes(id)) throw new UnknownMemberError(id);
    return this.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }, opts.signal);
  }

  /**
   * Promotes learner `id` to a voter at the address it was added with. Refuses a member that is not
   * a learner, and (like `addNode`) a learner still far behind the leader's log: a voter that cannot
   * acknowledge would only make the quorum harder to reach (thesis §4.2.1).
   */
  async promoteLearner(id: number, opts: { signal?: AbortSignal } = {}): Promise<ProposeResult> {
    const raft = this.leading().raft;
    if (raft.tracker.voters.includes(id)) throw new MemberConflictError(id, `node ${id} is already a voter`);
    if (!raft.tracker.learners.includes(id)) throw new UnknownMemberError(id);
    const address = this.peerAddress(id);
    if (!address) throw new UnknownMemberError(id, `no address is known for learner ${id}`);
    return this.addNode(id, address, { signal: opts.signal });
  }

  /**
   * The membership as this node applied it: every voter and learner with its address, and the
   * leader's view of how far each has replicated (`match`) when this node leads.
   */
  members(): MemberInfo[] {
    const node = this.running();
    const raft = node.raft;
    const leading = node.stateType() === StateType.Leader;
    const info = (id: number, role: 'voter' | 'learner'): MemberInfo => ({
      id,
      address: this.peerAddress(id) ?? null,
      role,
      leader: id === raft.lead,
      ...(leading ? { match: raft.tracker.matchOf(id) } : {}),
    });
    return [...raft.tracker.voters.map((id) => info(id, 'voter')), ...raft.tracker.learners.map((id) => info(id, 'learner'))];
  }

  /** The node actor when this node leads; NotLeaderError (with the leader hint) otherwise. */
  private leading(): NodeActor {
    const node = this.running();
    if (node.stateType() !== StateType.Leader) throw new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead));
    return node;
  }

  private proposeConfChange(cc: ConfChange, signal?: AbortSignal): Promise<ProposeResult> {
    const node = this.running();
    if (node.stateType() !== StateType.Leader) return Promise.reject(new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead)));
    const out = node.propose([{ type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
    this.scheduleFlush();
    if (out.kind === 'dropped') {
      return Promise.reject(out.confChangeInProgress ? new ConfChangeInProgressError() : new ProposalDroppedError(out.reason));
    }
    if (out.kind !== 'appended') return Promise.reject(new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead)));
    const seq = this.pending.newSeq();
    return new Promise<ProposeResult>((resolve, reject) => {
      const onAbort = () => this.pending.fail(seq, signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.addProposal(seq, Infinity, resolve, reject, () => signal?.removeEventListener('abort', onAbort));
      this.pending.located(seq, out.index, out.term);
    });
  }

  /**
   * Hands leadership to `id` (thesis §3.10). Resolves once `id` leads; rejects if this node is not
   * the leader, `id` is not a voter, or the handover does not finish within an election timeout.
   */
  async transferLeadership(id: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const node = this.running();
    if (node.stateType() !== StateType.Leader) throw new NotLeaderError(node.raft.lead, this.peerAddress(node.raft.lead));
    const refused = node.transferLeadership(id);
    this.scheduleFlush();
    if (refused) throw new ProposalDroppedError(`leadership transfer refused: ${refused}`);
    const deadline = Date.now() + 2 * this.config.electionTick * this.config.tickInterval;
    while (this.leader() !== id) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (this.status_ !== 'running') throw new StoppedError(`node ${this.id}`);
      if (Date.now() > deadline) throw new ProposalDroppedError(`leadership transfer to node ${id} did not complete within an election timeout`);
      await new Promise((r) => setTimeout(r, this.config.tickInterval));
    }
  }
}

/** Creates a node (the seed's NewNode). Call `start()` to run it. */
export function createNode<R = unknown>(
  config: Partial<Config> & Pick<Config, 'nodeId'>,
  stateMachine: StateMachine<R>,
  options: NodeOptions = {},
): RaftNode<R> {
  return new RaftNode(config, stateMachine, options);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
