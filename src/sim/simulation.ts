/**
 * The deterministic simulation kit: N Raft nodes in one process, each hosted by the very HostLoop
 * production runs (src/actors/host-loop.ts) — storage actor with group commit, transport actor,
 * pending proposals, apply chain, snapshot policy — over a simulated disk (io's Storage) and a
 * simulated network (io's Transport), on a virtual Clock whose timers and end-of-turn calls are
 * events of one seeded queue. One seed fixes every random choice (election timeouts, delays,
 * drops, duplicates), so a failing run replays exactly. After every step the SafetyChecker checks
 * the rules of Raft, fed where the loop touches the disk, the network and the state machine; a
 * violation throws a SafetyViolation that names the seed and the step.
 */
import { type Config, resolveConfig } from '../config.ts';
import { HostLoop } from '../actors/host-loop.ts';
import { silentLogger } from '../actors/logger.ts';
import { MemberAddresses } from '../actors/member-addresses.ts';
import { NodeActor } from '../actors/node-actor.ts';
import { PendingRequests, type ProposeResult } from '../actors/pending-requests.ts';
import { TransportActor } from '../actors/transport-actor.ts';
import type { Cancel } from '../io/clock.ts';
import { checkLeaderCommit } from '../io/durable-consistency.ts';
import { NodeMetrics } from '../metrics/node-metrics.ts';
import { type ConfChange, ConfChangeType, type Entry, type Message, MessageType, type Snapshot, message } from '../raft/raftpb.ts';
import { CircuitState } from '../raft/circuit-breaker.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { ProposalOutcome } from '../raft/raft-state.ts';
import type { Ready } from '../raft/ready.ts';
import type { ReadState } from '../raft/read-only.ts';
import { Rng } from '../raft/rng.ts';
import type { StateType } from '../raft/state-type.ts';
import { DigestStateMachine, type SimStateMachine } from './digest-state-machine.ts';
import { EventQueue } from './event-queue.ts';
import type { MessageHook } from './message-hooks.ts';
import { type NetworkFaults, perfectNetwork } from './network-faults.ts';
import { SafetyChecker, SafetyViolation } from './safety.ts';
import { SimDisk } from './sim-disk.ts';
import { SimNetwork } from './sim-network.ts';
import { SimulationError } from './simulation-error.ts';
import { VirtualClock } from './virtual-clock.ts';

export interface SimulationOptions {
  readonly seed: number;
  /** Node ids, or a count (ids 1..n). */
  readonly nodes: number | readonly number[];
  /** Config fields shared by every node (nodeId and peers are filled in). */
  readonly config?: Partial<Omit<Config, 'nodeId' | 'peers'>>;
  /** Virtual ms per tick. Default 10. */
  readonly tickMs?: number;
  readonly network?: Partial<NetworkFaults>;
  /** Disk write latency range in virtual ms. Default [0, 2]. */
  readonly diskDelay?: readonly [number, number];
  /**
   * The state machine of each node (synchronous). Default: a DigestStateMachine, whose `digest`
   * tells whether two nodes applied the same entries. Snapshots are taken every
   * `config.snapshotInterval` applied entries.
   */
  readonly stateMachine?: (id: number) => SimStateMachine;
  /**
   * Fault injection for tests of the checker: the faults it names are switched on in every node
   * and in the host loop (see src/raft/fault-hooks.ts). Never set outside such tests.
   */
  readonly faultHooks?: FaultHooks;
}

/** What a test reads about a node. */
export interface SimNodeStatus {
  readonly id: number;
  readonly up: boolean;
  readonly term: number;
  readonly vote: number;
  readonly role: StateType | 'down';
  readonly leader: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
}

/** One entry as the node's host loop passed it to the state machine (no-ops and membership changes included). */
export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/** Counters of a run. */
export interface SimCounters {
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Peers a transport reported unreachable (down or cut off when a message was sent to them). */
  unreachableReports: number;
  /** Times a leader's replicator opened a peer's circuit breaker. */
  breakerOpens: number;
  crashes: number;
  amnesias: number;
  identityRefusals: number;
  /** Proposals whose promise (in production) would have resolved: applied at their reported index. */
  proposalsApplied: number;
  /** Proposals refused or given up, by the error's name. */
  proposalsFailed: Record<string, number>;
}

interface SimNode {
  readonly id: number;
  actor: NodeActor | undefined;
  loop: HostLoop<unknown> | undefined;
  readonly disk: SimDisk;
  incarnation: number;
  /** Entries applied by the current incarnation, in order. */
  applied: AppliedEntry[];
  /** Read barriers confirmed to the current incarnation, in order. */
  reads: ReadState[];
  sm: SimStateMachine;
  /** Joined after the cluster was formed: starts with no configuration. */
  joined: boolean;
  snapshotsSent: number;
}

interface Scheduled {
  readonly node: number | undefined;
  readonly incarnation: number;
  readonly kind: 'timer' | 'disk' | 'deliver';
  cancelled: boolean;
  readonly fn: () => void;
}

/** Steps at one virtual instant before the simulation calls it a stall (no real run comes near). */
const MAX_STEPS_AT_ONE_INSTANT = 100_000;

export class Simulation {
  readonly seed: number;
  readonly rng: Rng;
  readonly tickMs: number;
  /** Every node id the simulation has, including nodes added later. */
  get ids(): readonly number[] {
    return this.idList;
  }
  readonly safety: SafetyChecker;
  diskDelay: readonly [number, number];
  /** Virtual time in ms. */
  now = 0;
  private stepsAtThisInstant = 0;
  /** Steps taken (events processed). */
  steps = 0;
  readonly counters: SimCounters;
  private readonly queue = new EventQueue<Scheduled>();
  private readonly nodes = new Map<number, SimNode>();
  private readonly network: SimNetwork;
  private readonly config: Partial<Omit<Config, 'nodeId' | 'peers'>>;
  private readonly makeStateMachine: (id: number) => SimStateMachine;
  /** The ids the cluster was bootstrapped with (the peers in every original node's config). */
  private readonly initialIds: readonly number[];
  private readonly idList: number[];
  /** Fault injection for tests (undefined: every fault off). */
  private readonly faultHooks: FaultHooks | undefined;
  /** The first error raised inside a step (a safety violation, a fatal error of a host loop). */
  private failure: unknown;

  constructor(opts: SimulationOptions) {
    this.seed = opts.seed;
    this.rng = new Rng(opts.seed);
    this.tickMs = opts.tickMs ?? 10;
    this.idList = typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, (_, i) => i + 1) : [...opts.nodes];
    this.initialIds = [...this.idList];
    this.config = opts.config ?? {};
    this.diskDelay = opts.diskDelay ?? [0, 2];
    this.safety = new SafetyChecker(this.seed, () => this.steps);
    this.makeStateMachine = opts.stateMachine ?? (() => new DigestStateMachine());
    this.faultHooks = opts.faultHooks;
    this.network = new SimNetwork(
      {
        rng: this.rng,
        now: () => this.now,
        schedule: (at, fn) => this.schedule(at, undefined, 0, 'deliver', fn),
        sent: (m) => this.guard(() => this.messageSent(m)),
        senderIdentity: (m) => {
          const n = this.sim(m.from);
          return { incarnation: n.disk.incarnation, knowsYouAs: n.actor?.peers.known(m.to) };
        },
        isUp: (id) => this.nodes.get(id)?.actor !== undefined,
      },
      { ...perfectNetwork, ...opts.network },
      // TCP redials every 500 ms at 100 ms ticks: five ticks between reports of one unreachable peer.
      5 * this.tickMs,
    );
    this.counters = {
      ...this.network.counters,
      crashes: 0,
      breakerOpens: 0,
      amnesias: 0,
      identityRefusals: 0,
      proposalsApplied: 0,
      proposalsFailed: {},
    };
    // The network keeps its own counts; these getters keep `counters` one object.
    Object.defineProperties(this.counters, {
      delivered: { get: () => this.network.counters.delivered, enumerable: true },
      dropped: { get: () => this.network.counters.dropped, enumerable: true },
      duplicated: { get: () => this.network.counters.duplicated, enumerable: true },
      unreachableReports: { get: () => this.network.counters.unreachableReports, enumerable: true },
    });
    for (const id of this.ids) this.createNode(id, false);
  }

  /** The network's current faults. */
  get faults(): NetworkFaults {
    return this.network.faults;
  }

  private createNode(id: number, joined: boolean): void {
    const disk = new SimDisk(this.newIncarnation());
    this.nodes.set(id, { id, actor: undefined, loop: undefined, disk, incarnation: 0, applied: [], reads: [], sm: this.makeStateMachine(id), joined, snapshotsSent: 0 });
    this.start(id);
  }

  /** A disk incarnation drawn from the seed (hex, like a data directory's). */
  private newIncarnation(): string {
    let hex = '';
    for (let i = 0; i < 4; i++) hex += this.rng.int(0, 2 ** 31).toString(16).padStart(8, '0');
    return hex;
  }

  private nodeConfig(id: number): Readonly<Config> {
    return resolveConfig({
      electionTick: 10,
      heartbeatTick: 1,
      ...this.config,
      tickInterval: this.tickMs,
      nodeId: id,
      peers: this.sim(id).joined ? [] : this.initialIds.map((p) => ({ id: p, address: `127.0.0.1:${7000 + p}` })),
    });
  }

  private sim(id: number): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`unknown node ${id}`);
    return n;
  }

  /** Queues `fn` at `at` for one run of one node (or for the network when `node` is undefined). */
  private schedule(at: number, node: number | undefined, incarnation: number, kind: Scheduled['kind'], fn: () => void): Cancel {
    const ev: Scheduled = { node, incarnation, kind, cancelled: false, fn };
    this.queue.push(at, ev);
    return () => {
      ev.cancelled = true;
    };
  }

  /** Runs `fn`, keeping the first exception to throw at the end of the step (some callers, like the transport actor, contain exceptions). */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failure ??= err;
    }
  }

  /** Starts (or restarts) a node from what its disk holds. */
  private start(id: number): void {
    const n = this.sim(id);
    n.incarnation++;
    const incarnation = n.incarnation;
    const stable = n.disk.load();
    // The state machine restarts from the snapshot on disk; the log replays the rest.
    n.sm = this.makeStateMachine(id);
    const snap = stable.snapshotSync();
    if (snap.metadata.index > 0) this.restoreSnapshot(n, snap);
    this.safety.stateRestored(id, snap.metadata.index);
    let hardState = stable.hardStateSync();
    const faults = this.faultHooks;
    if (faults?.on('forgetHardStateOnRestart') && incarnation > 1 && hardState.term > 0 && faults.hit('forgetHardStateOnRestart')) {
      hardState = { term: 0, vote: 0, commit: 0 };
    }
    const config = this.nodeConfig(id);
    const actor = new NodeActor({
      config,
      stable,
      hardState,
      faultHooks: faults,
      confState: stable.confStateSync(),
      join: n.joined,
      bootstrap: 'log',
      incarnation: n.disk.incarnation,
      peerIncarnations: stable.peerIncarnationsSync(),
      seed: this.rng.int(1, 2 ** 31),
      // The host loop restores a snapshot from the leader before it replaces the log, as in production.
      snapshotReception: 'report',
    });
    actor.refusals$.subscribe(() => this.counters.identityRefusals++);
    actor.circuit$.subscribe((c) => {
      if (c.state === CircuitState.Open) this.counters.breakerOpens++;
    });
    n.actor = actor;
    n.applied = [];
    n.reads = [];
    this.safety.restarted(id);
    const current = () => n.incarnation === incarnation && n.actor === actor;
    const clock = new VirtualClock({
      now: () => this.now,
      schedule: (at, fn) => this.schedule(at, id, incarnation, 'timer', fn),
    });
    n.disk.attach((write, done) => {
      const at = this.now + this.rng.int(this.diskDelay[0], this.diskDelay[1] + 1);
      this.schedule(at, id, incarnation, 'disk', () => {
        done();
        if (write.hardState) this.safety.durableHardState(id, n.disk.durable.hardStateSync());
      });
    });
    const transport = new TransportActor({
      createTransport: (deliver) =>
        this.network.transportFor(id, deliver, (peer) => {
          // The peer could not be reached: what RaftNode's TCP transport reports as MsgUnreachable.
          if (current()) n.loop?.onMessage(message({ type: MessageType.MsgUnreachable, from: peer, to: id }));
        }),
      clock,
    });
    const addresses = new MemberAddresses();
    addresses.reset(stable.confStateSync(), config.peers);
    const proposer = { nodeId: id, instance: this.rng.int(1, 2 ** 31) };
    const loop = new HostLoop<unknown>({
      node: actor,
      config,
      stateMachine: n.sm,
      clock,
      storage: n.disk,
      transport,
      pending: new PendingRequests(proposer),
      proposer,
      addresses,
      metrics: new NodeMetrics(),
      log: silentLogger,
      appliedIndex: 0,
      snapshotIndex: snap.metadata.index,
      // The checker's own tests switch off this guard of the loop (a leader's commit past the log's
      // end), which would otherwise stop a faulty node before the checker sees what the fault does.
      lostTail: faults === undefined ? checkLeaderCommit : undefined,
      storeName: `simulated disk of node ${id}`,
      // Nodes tick at the same rate but not in lockstep.
      firstTickAfter: this.rng.int(1, this.tickMs + 1),
      faultHooks: faults,
      events: {
        fatal: (err) => {
          if (current()) this.failure ??= err;
        },
      },
      observer: {
        ready: (rd) => this.readyTaken(n, rd),
        applied: (e) => {
          this.safety.applied(id, e);
          n.applied.push({ index: e.index, term: e.term, data: e.data });
        },
        snapshotInstalled: (index, data) => {
          if (n.sm instanceof DigestStateMachine) this.safety.snapshotState(id, index, DigestStateMachine.digestOf(data), 'installed');
          this.safety.stateRestored(id, index);
          n.applied = [];
        },
        snapshotTaken: (index, data) => {
          if (n.sm instanceof DigestStateMachine) this.safety.snapshotState(id, index, DigestStateMachine.digestOf(data), 'taken');
        },
        turnEnded: () => this.turnEnded(n),
      },
    });
    n.loop = loop;
    void transport.start();
    transport.arrivals$.subscribe((a) => loop.onMessage(a.msg, a.sender));
    loop.start();
  }

  // ----- what the checker sees -----

  /**
   * A Ready, before the loop handles it: elections, log writes, and persist before respond. Its
   * messages are checked here, where the loop releases them to the transport actor, against what
   * the disk holds now: the transport sends them at the end of the turn, by when a later write may
   * have completed (a vote of term 12 leaving after term 13 is durable is not a violation).
   */
  private readyTaken(n: SimNode, rd: Ready): void {
    const raft = n.actor!.raft;
    if (rd.softState?.raftState === 'leader') this.safety.leaderElected(n.id, raft.term, raft.log, n.disk.durable, raft.tracker.voters);
    if (rd.entries.length > 0) this.safety.entriesWritten(n.id, rd.entries, raft.log);
    for (const m of rd.messages) this.safety.messageSent(m, n.disk.durable);
    if (rd.readStates) n.reads.push(...rd.readStates);
  }

  /** A message goes on the wire (the transport actor's flush). */
  private messageSent(m: Message): void {
    if (m.type === MessageType.MsgSnap && m.chunk?.offset === 0) this.sim(m.from).snapshotsSent++;
  }

  /** The end of a turn of a node's loop: the commit rules. */
  private turnEnded(n: SimNode): void {
    const raft = n.actor!.raft;
    if (raft.lead === n.id) this.safety.leaderSelfMatch(n.id, raft.term, raft.tracker.matchOf(n.id), n.disk.durable);
    this.safety.committed(n.id, raft.log.committed, raft.log);
  }

  /** After every step, on every running node: term, commit and applied never go back. */
  private checkProgress(): void {
    for (const n of this.nodes.values()) {
      const a = n.actor;
      if (a) this.safety.progress(n.id, a.raft.term, a.raft.log.committed, a.raft.log.applied);
    }
  }

  /** The state machine becomes the snapshot's (a restart); the checker compares it with the applied history. */
  private restoreSnapshot(n: SimNode, snap: Snapshot): void {
    n.sm.restore(snap.data);
    if (n.sm instanceof DigestStateMachine) this.safety.snapshotState(n.id, snap.metadata.index, n.sm.digest, 'restored');
  }

  // ----- running -----

  /** Processes the next event. Returns false when nothing is scheduled. */
  step(): boolean {
    try {
      const stepped = this.stepOnce();
      if (this.failure !== undefined) throw this.failure;
      return stepped;
    } catch (err) {
      if (err instanceof SafetyViolation || err instanceof SimulationError) throw err;
      throw new SimulationError(this.seed, this.steps, err);
    }
  }

  private stepOnce(): boolean {
    for (;;) {
      const next = this.queue.pop();
      if (!next) return false;
      const ev = next.event;
      if (ev.cancelled) continue;
      if (ev.node !== undefined) {
        const n = this.sim(ev.node);
        if (n.incarnation !== ev.incarnation || !n.actor) continue;
      }
      if (next.at === this.now) {
        // Virtual time must move on: a caller that makes an input after every step (a runUntil
        // predicate that proposes) could otherwise keep the queue busy at one instant forever.
        if (++this.stepsAtThisInstant > MAX_STEPS_AT_ONE_INSTANT) {
          throw new Error(`virtual time stalled at ${this.now} ms: ${MAX_STEPS_AT_ONE_INSTANT} steps without time moving (an input made after every step?)`);
        }
      } else {
        this.stepsAtThisInstant = 0;
      }
      this.now = next.at;
      this.steps++;
      ev.fn();
      this.checkProgress();
      return true;
    }
  }

  /** Runs until virtual time has advanced by `ms` (every event due by then is processed). */
  advance(ms: number): void {
    const until = this.now + ms;
    while (this.queue.size > 0 && this.queue.peek()!.at <= until) this.step();
    this.now = Math.max(this.now, until);
  }

  /** Runs for `ticks` ticks of virtual time. */
  runFor(ticks: number): void {
    this.advance(ticks * this.tickMs);
  }

  /** Runs until `predicate` holds (checked after every step) or `maxTicks` pass. Returns whether it held. */
  runUntil(predicate: (sim: Simulation) => boolean, maxTicks: number): boolean {
    const until = this.now + maxTicks * this.tickMs;
    if (predicate(this)) return true;
    while (this.queue.size > 0 && this.queue.peek()!.at <= until) {
      this.step();
      if (predicate(this)) return true;
    }
    this.now = Math.max(this.now, until);
    return predicate(this);
  }

  // ----- faults -----

  /** Changes the network's behaviour from now on. */
  setNetwork(faults: Partial<NetworkFaults>): void {
    this.network.faults = { ...this.network.faults, ...faults };
  }

  /**
   * Adds a per-message hook: for each message leaving a node, it may drop it, delay it by a given
   * time or duplicate it (see message-hooks.ts, `onMessages`). Returns a function that removes it.
   */
  addMessageHook(hook: MessageHook): () => void {
    return this.network.addHook(hook);
  }

  /** Removes every message hook. */
  clearMessageHooks(): void {
    this.network.clearHooks();
  }

  /** Splits the cluster: messages cross only within a group. Nodes not named form one more group. */
  partition(groups: readonly (readonly number[])[]): void {
    this.network.partition(groups);
  }

  /** Cuts one node off from every other (same as `disconnect`). */
  isolate(id: number): void {
    this.network.disconnect(id);
  }

  /** Cuts one node off from every other. */
  disconnect(id: number): void {
    this.network.disconnect(id);
  }

  /** Undoes `isolate(id)` / `disconnect(id)` for that node alone; partitions stay. */
  connect(id: number): void {
    this.network.connect(id);
  }

  /** Removes every partition and reconnects every node. */
  heal(): void {
    this.network.heal();
  }

  connected(a: number, b: number): boolean {
    return this.network.connected(a, b);
  }

  /** Stops a node abruptly: writes not yet durable are lost, its timers die, messages to it are dropped. */
  crash(id: number): void {
    const n = this.sim(id);
    if (!n.actor) return;
    n.loop?.abandon();
    n.loop = undefined;
    n.actor = undefined;
    n.applied = [];
    const before = this.queue.size;
    this.queue.removeWhere((e) => e.kind === 'disk' && e.node === id && !e.cancelled);
    n.disk.lostWrites += before - this.queue.size + n.disk.powerCut();
    this.queue.removeWhere((e) => e.node === id);
    this.counters.crashes++;
  }

  /**
   * The amnesia fault: the node's disk is wiped (a new, empty data directory with a new
   * incarnation) and it restarts under its old id, as an operator would start it with `--join`.
   * Its peers must refuse it: it can never vote, acknowledge or be counted under that id again
   * (docs/membership.md). The safety checker forgets its old durable state: the new directory is
   * a new member as far as its own disk goes; what must not happen is that it counts as the old one.
   */
  amnesia(id: number): void {
    const n = this.sim(id);
    this.crash(id);
    n.disk.wipe(this.newIncarnation());
    n.joined = true;
    this.counters.amnesias++;
    this.safety.wiped(id);
    this.start(id);
  }

  /** Starts a crashed node again from its disk. */
  restart(id: number): void {
    if (this.sim(id).actor) throw new Error(`node ${id} is running; crash it first`);
    this.start(id);
  }

  // ----- client operations -----

  /**
   * Proposes one command on node `id` through its host loop (as `RaftNode.propose` does, without
   * waiting for the turn's batch) and says at once what became of it in Raft. Its final outcome is
   * counted in `counters`: a proposal reported applied is checked to be exactly this command at
   * its index.
   */
  propose(id: number, data: Uint8Array): ProposalOutcome {
    const n = this.sim(id);
    if (!n.loop) return { kind: 'dropped', reason: `node ${id} is down` };
    const out = n.loop.proposeNow(data, this.settle(data));
    if (out.kind === 'appended') this.safety.proposed(out.index, out.term, data);
    return out;
  }

  /** Where a proposal's outcome goes: the checker for those applied, the counters for all. */
  private settle(data: Uint8Array | undefined) {
    return {
      resolve: (r: ProposeResult<unknown>) => {
        this.counters.proposalsApplied++;
        if (data) this.guard(() => this.safety.proposed(r.index, r.term, data));
      },
      reject: (err: Error) => {
        this.counters.proposalsFailed[err.name] = (this.counters.proposalsFailed[err.name] ?? 0) + 1;
      },
    };
  }

  /**
   * Asks node `id` for a linearizable read barrier identified by `context`. Returns the reason
   * when it is refused at once; otherwise the confirmed read appears in `reads(id)`.
   */
  readIndex(id: number, context: Uint8Array): string | undefined {
    const n = this.sim(id);
    if (!n.loop) return `node ${id} is down`;
    return n.loop.readIndexNow(context);
  }

  /** Read barriers confirmed to the node's current run: serve each once applied >= index. */
  reads(id: number): readonly ReadState[] {
    return this.sim(id).reads;
  }

  // ----- membership (proposed through the leader; effective when applied) -----

  private proposeConfChange(via: number, cc: ConfChange): ProposalOutcome {
    const n = this.sim(via);
    if (!n.loop) return { kind: 'dropped', reason: `node ${via} is down` };
    return n.loop.proposeConfChange(cc, this.settle(undefined));
  }

  /**
   * Adds node `id` (a new, empty node that joins) as a voter, or as a learner. The conf change is
   * proposed on the current leader; the new node starts at once and learns the log from the leader.
   */
  addNode(id: number, opts: { learner?: boolean } = {}): ProposalOutcome {
    const leader = this.leader();
    if (leader === undefined) return { kind: 'dropped', reason: 'no leader' };
    if (!this.nodes.has(id)) {
      this.idList.push(id);
      this.createNode(id, true);
    }
    const type = opts.learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    return this.proposeConfChange(leader, { type, nodeId: id, context: new TextEncoder().encode(`127.0.0.1:${7000 + id}`) });
  }

  /** Promotes a learner to voter. */
  promote(id: number): ProposalOutcome {
    const leader = this.leader();
    if (leader === undefined) return { kind: 'dropped', reason: 'no leader' };
    return this.proposeConfChange(leader, { type: ConfChangeType.AddNode, nodeId: id, context: new Uint8Array(0) });
  }

  /** Removes node `id` from the cluster (it keeps running until crashed; it no longer campaigns). */
  removeNode(id: number): ProposalOutcome {
    const leader = this.leader();
    if (leader === undefined) return { kind: 'dropped', reason: 'no leader' };
    return this.proposeConfChange(leader, { type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) });
  }

  /** Asks the current leader to hand leadership to `to`. Returns the refusal reason, if any. */
  transferLeadership(to: number): string | undefined {
    const leader = this.leader();
    if (leader === undefined) return 'no leader';
    return this.sim(leader).loop!.transferLeadership(to);
  }

  /** The voters and learners as node `id` sees them. */
  membership(id: number): { voters: number[]; learners: number[] } {
    const a = this.sim(id).actor;
    if (!a) return { voters: [], learners: [] };
    return { voters: [...a.raft.tracker.voters], learners: [...a.raft.tracker.learners] };
  }

  /** The digest of a node's DigestStateMachine (equal digests at equal applied index: same state). */
  digest(id: number): number | undefined {
    const sm = this.sim(id).sm;
    return sm instanceof DigestStateMachine ? sm.digest : undefined;
  }

  /** The node's state machine. */
  stateMachine(id: number): SimStateMachine {
    return this.sim(id).sm;
  }

  /** Snapshot transfers this node started as leader (first chunks sent). */
  snapshotsSent(id: number): number {
    return this.sim(id).snapshotsSent;
  }

  /** Forces node `id` to campaign. */
  campaign(id: number): void {
    this.sim(id).loop?.campaign();
  }

  // ----- observation -----

  status(id: number): SimNodeStatus {
    const n = this.sim(id);
    const a = n.actor;
    if (!a) {
      const hs = n.disk.durable.hardStateSync();
      return { id, up: false, term: hs.term, vote: hs.vote, role: 'down', leader: 0, commit: hs.commit, applied: 0, lastIndex: n.disk.durable.lastIndexSync() };
    }
    const r = a.raft;
    return {
      id,
      up: true,
      term: r.term,
      vote: r.vote,
      role: a.stateType(),
      leader: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
    };
  }

  /** Entries passed through the node's apply path in its current run, in order (commands with their payload). */
  applied(id: number): readonly AppliedEntry[] {
    return this.sim(id).applied;
  }

  /** The bytes of the log and the node's state (hard state, conf state, entries) on its simulated disk. */
  logBytes(id: number): Uint8Array {
    return this.sim(id).disk.logBytes();
  }

  /** The bytes of the snapshot on the node's simulated disk. */
  snapshotBytes(id: number): Uint8Array {
    return this.sim(id).disk.snapshotBytes();
  }

  /** The node actor of a running node (for tests that look inside). */
  node(id: number): NodeActor | undefined {
    return this.sim(id).actor;
  }

  /** The host loop of a running node (for tests that look inside). */
  hostLoop(id: number): HostLoop<unknown> | undefined {
    return this.sim(id).loop;
  }

  disk(id: number): SimDisk {
    return this.sim(id).disk;
  }

  isUp(id: number): boolean {
    return this.sim(id).actor !== undefined;
  }

  /** The leader with the highest term among running nodes, if any. */
  leader(): number | undefined {
    let best: { id: number; term: number } | undefined;
    for (const id of this.ids) {
      const a = this.sim(id).actor;
      if (a && a.stateType() === 'leader' && (!best || a.raft.term > best.term)) best = { id, term: a.raft.term };
    }
    return best?.id;
  }

  /** Node ids currently running. */
  upNodes(): number[] {
    return this.ids.filter((id) => this.isUp(id));
  }

  /** The log entries of a running node, from its first index. */
  logOf(id: number): Entry[] {
    const a = this.sim(id).actor;
    if (!a) return [];
    return a.raft.log.entriesFrom(a.raft.log.firstIndex());
  }
}
