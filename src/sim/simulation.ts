/**
 * The deterministic simulation kit: N Raft nodes in one process, running the real node actor,
 * role statechart and replicator actors over a simulated network and disk, with a virtual clock.
 * One seed fixes every random choice (election timeouts, delays, drops, duplicates), so a failing
 * run replays exactly. After every step the SafetyChecker checks the rules of Raft; a violation
 * throws a SafetyViolation that names the seed and the step.
 */
import { type Config, resolveConfig } from '../config.ts';
import { NodeActor } from '../actors/node-actor.ts';
import { type ConfChange, ConfChangeType, type Entry, EntryType, type Message, MessageType, type Snapshot } from '../raft/raftpb.ts';
import { decodeConfChange, encodeConfChange } from '../raft/confchange.ts';
import { DigestStateMachine, type SimStateMachine } from './digest-state-machine.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { ProposalOutcome } from '../raft/raft-state.ts';
import type { Ready } from '../raft/ready.ts';
import type { ReadState } from '../raft/read-only.ts';
import { Rng } from '../raft/rng.ts';
import type { StateType } from '../raft/state-type.ts';
import type { StorageWrite } from '../io/storage.ts';
import { EventQueue } from './event-queue.ts';
import { type NetworkFaults, perfectNetwork } from './network-faults.ts';
import { SafetyChecker, SafetyViolation } from './safety.ts';
import { SimulationError } from './simulation-error.ts';
import { SimDisk } from './sim-disk.ts';
import type { SenderIdentity } from '../raft/member-identity.ts';

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
   * and in this host (see src/raft/fault-hooks.ts). Never set outside such tests.
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

/** One entry as the node's state machine saw it. */
export interface AppliedEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

type SimEvent =
  | { kind: 'tick'; node: number; incarnation: number }
  | { kind: 'deliver'; msg: Message; sender: SenderIdentity }
  | { kind: 'persisted'; node: number; incarnation: number; ready: Ready | undefined; write: StorageWrite };

interface SimNode {
  readonly id: number;
  actor: NodeActor | undefined;
  readonly disk: SimDisk;
  incarnation: number;
  /** Entries applied by the current incarnation, in order. */
  applied: AppliedEntry[];
  /** When the disk finishes its last queued write (writes complete in order). */
  diskBusyUntil: number;
  /** Read barriers confirmed to the current incarnation, in order. */
  reads: ReadState[];
  sm: SimStateMachine;
  /** Index of the last snapshot this node took or installed. */
  snapshotIndex: number;
  /** Joined after the cluster was formed: starts with no configuration. */
  joined: boolean;
  snapshotsSent: number;
  /** Fault `staleSnapshot` only: the state machine data of the last snapshot taken or restored. */
  lastSnapshotData?: Uint8Array;
}

export class Simulation {
  readonly seed: number;
  readonly rng: Rng;
  readonly tickMs: number;
  /** Every node id the simulation has, including nodes added later. */
  get ids(): readonly number[] {
    return this.idList;
  }
  readonly safety: SafetyChecker;
  faults: NetworkFaults;
  diskDelay: readonly [number, number];
  /** Virtual time in ms. */
  now = 0;
  /** Steps taken (events processed). */
  steps = 0;
  /** Messages delivered, dropped and duplicated so far. */
  readonly counters = { delivered: 0, dropped: 0, duplicated: 0, crashes: 0, amnesias: 0, identityRefusals: 0 };
  private readonly queue = new EventQueue<SimEvent>();
  private readonly nodes = new Map<number, SimNode>();
  private readonly config: Partial<Omit<Config, 'nodeId' | 'peers'>>;
  private readonly makeStateMachine: (id: number) => SimStateMachine;
  /** The ids the cluster was bootstrapped with (the peers in every original node's config). */
  private readonly initialIds: readonly number[];
  private readonly idList: number[];
  /** Group number per node; messages cross only within a group. */
  private group = new Map<number, number>();
  /** Per-link last delivery time, for FIFO links. */
  private readonly linkClock = new Map<string, number>();
  /** Fault injection for tests (undefined: every fault off). */
  private readonly faultHooks: FaultHooks | undefined;

  constructor(opts: SimulationOptions) {
    this.seed = opts.seed;
    this.rng = new Rng(opts.seed);
    this.tickMs = opts.tickMs ?? 10;
    this.idList = typeof opts.nodes === 'number' ? Array.from({ length: opts.nodes }, (_, i) => i + 1) : [...opts.nodes];
    this.initialIds = [...this.idList];
    this.config = opts.config ?? {};
    this.faults = { ...perfectNetwork, ...opts.network };
    this.diskDelay = opts.diskDelay ?? [0, 2];
    this.safety = new SafetyChecker(this.seed, () => this.steps);
    this.makeStateMachine = opts.stateMachine ?? (() => new DigestStateMachine());
    this.faultHooks = opts.faultHooks;
    for (const id of this.ids) this.createNode(id, false);
  }

  private createNode(id: number, joined: boolean): void {
    this.nodes.set(id, {
      id,
      actor: undefined,
      disk: new SimDisk(this.newIncarnation()),
      incarnation: 0,
      applied: [],
      diskBusyUntil: 0,
      reads: [],
      sm: this.makeStateMachine(id),
      snapshotIndex: 0,
      joined,
      snapshotsSent: 0,
    });
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
      nodeId: id,
      peers: this.sim(id).joined ? [] : this.initialIds.map((p) => ({ id: p, address: `127.0.0.1:${7000 + p}` })),
    });
  }

  private sim(id: number): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`unknown node ${id}`);
    return n;
  }

  /** Starts (or restarts) a node from what its disk holds. */
  private start(id: number): void {
    const n = this.sim(id);
    n.incarnation++;
    const stable = n.disk.load();
    // The state machine restarts from the snapshot on disk; the log replays the rest.
    n.sm = this.makeStateMachine(id);
    const snap = stable.snapshotSync();
    if (snap.metadata.index > 0) this.restoreSnapshot(n, snap, 'restored');
    n.snapshotIndex = snap.metadata.index;
    this.safety.stateRestored(id, snap.metadata.index);
    let hardState = stable.hardStateSync();
    const faults = this.faultHooks;
    if (faults?.on('forgetHardStateOnRestart') && n.incarnation > 1 && hardState.term > 0 && faults.hit('forgetHardStateOnRestart')) {
      hardState = { term: 0, vote: 0, commit: 0 };
    }
    n.actor = new NodeActor({
      config: this.nodeConfig(id),
      stable,
      hardState,
      faultHooks: faults,
      confState: stable.confStateSync(),
      join: n.joined,
      bootstrap: 'log',
      incarnation: n.disk.incarnation,
      peerIncarnations: stable.peerIncarnationsSync(),
      seed: this.rng.int(1, 2 ** 31),
    });
    n.actor.refusals$.subscribe(() => this.counters.identityRefusals++);
    n.applied = [];
    n.reads = [];
    n.diskBusyUntil = this.now;
    this.safety.restarted(id);
    // Nodes tick at the same rate but not in lockstep.
    this.queue.push(this.now + this.rng.int(1, this.tickMs + 1), { kind: 'tick', node: id, incarnation: n.incarnation });
  }

  // ----- running -----

  /** Processes the next event. Returns false when nothing is scheduled. */
  step(): boolean {
    try {
      return this.stepOnce();
    } catch (err) {
      if (err instanceof SafetyViolation || err instanceof SimulationError) throw err;
      throw new SimulationError(this.seed, this.steps, err);
    }
  }

  private stepOnce(): boolean {
    const next = this.queue.pop();
    if (!next) return false;
    this.now = next.at;
    this.steps++;
    const ev = next.event;
    switch (ev.kind) {
      case 'tick': {
        const n = this.sim(ev.node);
        if (n.incarnation !== ev.incarnation || !n.actor) break;
        n.actor.tick();
        this.queue.push(this.now + this.tickMs, ev);
        this.drain(n);
        break;
      }
      case 'deliver': {
        const n = this.sim(ev.msg.to);
        if (!n.actor || !this.connected(ev.msg.from, ev.msg.to)) {
          this.counters.dropped++;
          break;
        }
        this.counters.delivered++;
        n.actor.step(ev.msg, ev.sender);
        this.drain(n);
        break;
      }
      case 'persisted': {
        const n = this.sim(ev.node);
        if (n.incarnation !== ev.incarnation || !n.actor) break;
        n.disk.complete(ev.write);
        if (ev.write.hardState) this.safety.durableHardState(n.id, n.disk.durable.hardStateSync());
        if (ev.ready) n.actor.persisted(ev.ready);
        this.drain(n);
        break;
      }
    }
    return true;
  }

  /** Runs for `ticks` ticks of virtual time. */
  runFor(ticks: number): void {
    const until = this.now + ticks * this.tickMs;
    while (this.queue.size > 0 && this.queue.peek()!.at <= until) this.step();
    this.now = Math.max(this.now, until);
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

  /** Handles every Ready the node has: persist, send, apply; then checks safety. */
  private drain(n: SimNode): void {
    const actor = n.actor!;
    for (let rd = actor.takeReady(); rd; rd = actor.takeReady()) {
      const raft = actor.raft;
      if (rd.softState?.raftState === 'leader') this.safety.leaderElected(n.id, raft.term, raft.log, n.disk.durable, raft.tracker.voters);
      if (rd.entries.length > 0) this.safety.entriesWritten(n.id, rd.entries, raft.log);
      if (rd.hardState || rd.entries.length > 0 || rd.snapshot || rd.peerIncarnations) {
        this.diskWrite(n, { hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, peerIncarnations: rd.peerIncarnations }, rd);
      }
      if (rd.snapshot) {
        // Installed from the leader: the state machine becomes the snapshot's.
        this.restoreSnapshot(n, rd.snapshot, 'installed');
        n.snapshotIndex = rd.snapshot.metadata.index;
        this.safety.stateRestored(n.id, rd.snapshot.metadata.index);
        n.applied = [];
      }
      for (const m of rd.messages) {
        if (m.type === MessageType.MsgSnap && m.chunk?.offset === 0) n.snapshotsSent++;
        this.safety.messageSent(m, n.disk.durable);
        this.transmit(m, { incarnation: n.disk.incarnation, knowsYouAs: actor.peers.known(m.to) });
      }
      if (rd.readStates) n.reads.push(...rd.readStates);
      if (rd.committedEntries.length > 0) {
        const ents = this.faultHooks ? this.faultyApplyOrder(rd.committedEntries) : rd.committedEntries;
        for (const e of ents) this.applyEntry(n, e);
        actor.applied(rd.committedEntries[rd.committedEntries.length - 1]!.index);
        this.maybeSnapshot(n);
      }
    }
    const raft = actor.raft;
    if (raft.lead === n.id) this.safety.leaderSelfMatch(n.id, raft.term, raft.tracker.matchOf(n.id), n.disk.durable);
    this.safety.committed(n.id, raft.log.committed, raft.log);
    this.safety.progress(n.id, raft.term, raft.log.committed, raft.log.applied);
  }

  /** Queues a disk write; it becomes durable when its completion event fires. */
  private diskWrite(n: SimNode, write: StorageWrite, ready?: Ready): void {
    const start = Math.max(this.now, n.diskBusyUntil);
    const at = start + this.rng.int(this.diskDelay[0], this.diskDelay[1] + 1);
    n.diskBusyUntil = at;
    this.queue.push(at, { kind: 'persisted', node: n.id, incarnation: n.incarnation, ready, write });
  }

  /** Fault injection for tests: the apply bugs a host could have (order, skip, duplicate). */
  private faultyApplyOrder(ents: readonly Entry[]): readonly Entry[] {
    const f = this.faultHooks!;
    if (ents.length >= 2 && f.on('applyOutOfOrder') && f.hit('applyOutOfOrder')) return [ents[1]!, ents[0]!, ...ents.slice(2)];
    if (ents.length >= 2 && f.on('skipApply') && f.hit('skipApply')) return ents.slice(1);
    if (f.on('duplicateApply') && f.hit('duplicateApply')) return [...ents, ents[ents.length - 1]!];
    return ents;
  }

  /** The state machine becomes the snapshot's; the checker compares it with the applied history. */
  private restoreSnapshot(n: SimNode, snap: Snapshot, how: 'installed' | 'restored'): void {
    n.sm.restore(snap.data);
    n.lastSnapshotData = snap.data;
    if (n.sm instanceof DigestStateMachine) this.safety.snapshotState(n.id, snap.metadata.index, n.sm.digest, how);
  }

  private applyEntry(n: SimNode, e: Entry): void {
    this.safety.applied(n.id, e);
    n.applied.push({ index: e.index, term: e.term, data: e.data });
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const confState = n.actor!.applyConfChange(cc, e.index);
      this.diskWrite(n, { confState });
      return;
    }
    n.sm.apply(e.data, e.index);
  }

  /** Every `snapshotInterval` applied entries, snapshot the state machine and compact the log. */
  private maybeSnapshot(n: SimNode): void {
    const actor = n.actor!;
    const applied = actor.raft.log.applied;
    if (applied - n.snapshotIndex < actor.raft.config.snapshotInterval) return;
    const faults = this.faultHooks;
    let data = n.sm.snapshot();
    if (faults?.on('staleSnapshot') && faults.hit('staleSnapshot')) data = n.lastSnapshotData ?? this.makeStateMachine(n.id).snapshot();
    n.lastSnapshotData = data;
    if (n.sm instanceof DigestStateMachine) this.safety.snapshotState(n.id, applied, DigestStateMachine.digestOf(data), 'taken');
    const snap: Snapshot = actor.createSnapshot(applied, data);
    n.snapshotIndex = applied;
    this.diskWrite(n, { snapshot: snap });
  }

  /** Puts a message on the simulated wire, with the current faults. */
  private transmit(m: Message, sender: SenderIdentity): void {
    if (!this.connected(m.from, m.to) || this.rng.chance(this.faults.dropRate)) {
      this.counters.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let c = 0; c < copies; c++) {
      let at = this.now + this.rng.int(this.faults.delay[0], this.faults.delay[1] + 1);
      if (!this.faults.reorder) {
        const link = `${m.from}>${m.to}`;
        at = Math.max(at, this.linkClock.get(link) ?? 0);
        this.linkClock.set(link, at);
      }
      this.queue.push(at, { kind: 'deliver', msg: m, sender });
    }
  }

  // ----- faults -----

  /** Changes the network's behaviour from now on. */
  setNetwork(faults: Partial<NetworkFaults>): void {
    this.faults = { ...this.faults, ...faults };
  }

  /** Splits the cluster: messages cross only within a group. Nodes not named form one more group. */
  partition(groups: readonly (readonly number[])[]): void {
    this.group = new Map();
    groups.forEach((g, i) => {
      for (const id of g) this.group.set(id, i + 1);
    });
  }

  /** Cuts one node off from every other. */
  isolate(id: number): void {
    const groups = new Map(this.group);
    groups.set(id, -id);
    this.group = groups;
  }

  /** Removes every partition. */
  heal(): void {
    this.group = new Map();
  }

  connected(a: number, b: number): boolean {
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0);
  }

  /** Stops a node abruptly: writes not yet durable are lost, in-flight messages to it are dropped. */
  crash(id: number): void {
    const n = this.sim(id);
    if (!n.actor) return;
    n.actor.stop();
    n.actor = undefined;
    n.applied = [];
    const before = this.queue.size;
    this.queue.removeWhere((e) => e.kind === 'persisted' && e.node === id);
    n.disk.lostWrites += before - this.queue.size;
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

  /** Proposes one command on node `id` and says at once what became of it. */
  propose(id: number, data: Uint8Array): ProposalOutcome {
    const n = this.sim(id);
    if (!n.actor) return { kind: 'dropped', reason: `node ${id} is down` };
    const out = n.actor.propose([{ type: EntryType.Normal, data }]);
    if (out.kind === 'appended') this.safety.proposed(out.index, out.term, data);
    this.drain(n);
    return out;
  }

  /**
   * Asks node `id` for a linearizable read barrier identified by `context`. Returns the reason
   * when it is refused at once; otherwise the confirmed read appears in `reads(id)`.
   */
  readIndex(id: number, context: Uint8Array): string | undefined {
    const n = this.sim(id);
    if (!n.actor) return `node ${id} is down`;
    const refused = n.actor.readIndex(context);
    this.drain(n);
    return refused;
  }

  /** Read barriers confirmed to the node's current run: serve each once applied >= index. */
  reads(id: number): readonly ReadState[] {
    return this.sim(id).reads;
  }

  // ----- membership (proposed through the leader; effective when applied) -----

  private proposeConfChange(via: number, cc: ConfChange): ProposalOutcome {
    const n = this.sim(via);
    if (!n.actor) return { kind: 'dropped', reason: `node ${via} is down` };
    const out = n.actor.propose([{ type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
    this.drain(n);
    return out;
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
    const n = this.sim(leader);
    const refused = n.actor!.transferLeadership(to);
    this.drain(n);
    return refused;
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
    const n = this.sim(id);
    if (!n.actor) return;
    n.actor.campaign();
    this.drain(n);
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

  /** Entries applied by the node's current run, in order. */
  applied(id: number): readonly AppliedEntry[] {
    return this.sim(id).applied;
  }

  /** The bytes the node's simulated disk holds. */
  diskBytes(id: number): Uint8Array {
    return this.sim(id).disk.image();
  }

  /** The node actor of a running node (for tests that look inside). */
  node(id: number): NodeActor | undefined {
    return this.sim(id).actor;
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
