/**
 * The node actor: one per Raft member. It hosts the role statechart (and through it the
 * replicator actors), takes the inputs of DESIGN.md (TICK, MESSAGE, PROPOSE, CAMPAIGN, PERSISTED,
 * APPLIED) and hands out `Ready` values: what to persist, what to send, what to apply.
 *
 * It is synchronous and deterministic; hosts decide when to call `takeReady()` (the simulation
 * kit after every step, the RaftNode once per I/O turn). What a call achieved comes back from the
 * role machine as an emitted event during that call (`proposal`, `readRefused`, `transferRefused`)
 * and is returned; peers' circuit changes come out of `circuit$`. It keeps the rule that a message which
 * reports durable state leaves only after that state is durable: such messages are held with the
 * write of the Ready they belong to and released by `persisted()`.
 */
import { type Observable, Subject } from 'rxjs';
import { type Actor, type InspectionEvent, createActor } from 'xstate';
import { StoppedError } from '../errors.ts';
import type { Config } from '../config.ts';
import { MemoryLog } from '../raft/memory-log.ts';
import { type RoleEvent, type RoleEmitted, roleMachine, rpcEvent } from '../machines/role.machine.ts';
import { CircuitState } from '../raft/circuit-breaker.ts';
import type { ProgressState } from '../raft/progress.ts';
import { type ConfChange, ConfChangeType, type ConfState, type Entry, EntryType, type HardState, type Message, MessageType, type Snapshot, hardStateEqual } from '../raft/raftpb.ts';
import {
  type PeerIncarnation,
  type PeerIncarnations,
  PeerIdentities,
  type PeerReport,
  type SenderIdentity,
  bootstrapDecision,
} from '../raft/member-identity.ts';
import { type ProposalOutcome, type ProposedEntry, RaftState } from '../raft/raft-state.ts';
import { bootstrapEntries } from '../raft/confchange.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { Ready } from '../raft/ready.ts';
import { type SoftState, StateType } from '../raft/state-type.ts';

export interface NodeActorOptions {
  readonly config: Readonly<Config>;
  /** The persisted log, loaded into memory (empty for a new node). */
  readonly stable?: MemoryLog;
  readonly hardState?: HardState;
  readonly confState?: ConfState;
  /** Joining an existing cluster: no configuration until the leader sends it. */
  readonly join?: boolean;
  /**
   * How a node with no stored state learns its first configuration:
   * - 'peers' (default): from `config.peers`, nothing in the log. Fine for a fixed membership.
   * - 'log': etcd's way; the log starts with one AddNode entry per peer (term 1, committed), so
   *   the configuration is part of the replicated history. Required for membership changes.
   */
  readonly bootstrap?: 'peers' | 'log';
  /**
   * With `bootstrap: 'log'`, when an empty store founds the cluster:
   * - 'now' (default): at once. For hosts that verified every founding member is new (the
   *   simulation, `actor-raft cluster` on its first run, a single-member cluster).
   * - 'confirmed': only after a majority of `config.peers` (counting this node) report through
   *   `peerReport()` that they are empty too, or already know this very store; refused (see
   *   `refusals$`) when a peer shows the cluster was formed without it or knew this id by another store.
   */
  readonly founding?: 'now' | 'confirmed';
  /** This member's store incarnation (hex); a random one when not given (then nothing is checked against it). */
  readonly incarnation?: string;
  /** The peer incarnations recorded in the store. */
  readonly peerIncarnations?: PeerIncarnations;
  /** Seed of the election-timeout randomness; defaults to one derived from the node id. */
  readonly seed?: number;
  /** Passed to XState's createActor: sees the role actor and every replicator. */
  readonly inspect?: (event: InspectionEvent) => void;
  /** Most bytes of committed entries handed out in one Ready. */
  readonly maxCommittedSizePerReady?: number;
  /** Checks a snapshot from the leader before it is installed (the state machine's `validateSnapshot`). */
  readonly validateSnapshot?: (data: Uint8Array) => void;
  /** How snapshots from the leader are received (RaftStateOptions.snapshotReception). */
  readonly snapshotReception?: 'install' | 'report' | 'stage';
  /** Fault injection, for tests of the simulation's safety checker only (src/raft/fault-hooks.ts). */
  readonly faultHooks?: FaultHooks;
}

/** A Ready whose durable part has not been reported persisted yet. */
interface PendingWrite {
  readonly ready: Ready;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly snapshot: Snapshot | undefined;
  /** Messages that may leave only once this write (and all before it) is durable. */
  readonly held: Message[];
  /** Peer incarnations this write records for the first time. */
  readonly peersAdded: readonly [number, PeerIncarnation][];
}

/** What the leader knows of one member's replication, for status pages (see `NodeActor.progress`). */
export interface PeerProgress {
  /** Highest index known to be on the member (the leader's own: its durable log). */
  readonly match: number;
  /** Next index to send (for the leader itself: the index after its last). */
  readonly next: number;
  /** The member's replicator's state; `replicate` for the leader itself. */
  readonly state: ProgressState;
  /** Heard from in this CheckQuorum round. */
  readonly recentActive: boolean;
  /** Appends in flight. */
  readonly inflight: number;
  /** The member's circuit breaker (`closed` for the leader itself). */
  readonly circuit: CircuitState;
}

/** A peer's circuit breaker changed state (leaders only: each replicator runs its peer's breaker). */
export interface CircuitChange {
  readonly peerId: number;
  readonly state: CircuitState;
}

/** Why a peer (or this node) was refused under its member identity; hosts log it once. */
export type IdentityRefusal =
  /** `peer` presents another data directory than the one recorded for its id. */
  | { readonly kind: 'peerHasNewDirectory'; readonly peer: number; readonly presented: string; readonly recorded: string }
  /** `peer` knows this node's id by another data directory: this node lost its data. */
  | { readonly kind: 'knownAsOther'; readonly peer: number; readonly knownAs: string; readonly self: string }
  /** An empty store was asked to found the cluster, but `peer` shows it was formed without it. */
  | { readonly kind: 'alreadyFormed'; readonly peer: number };

export class NodeActor {
  readonly raft: RaftState;
  private readonly role: Actor<typeof roleMachine>;
  private readonly pendingWrites: PendingWrite[] = [];
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readonly maxCommittedSize: number;
  private stopped = false;
  /** Events handled, for the events/s benchmark. */
  eventCount = 0;
  private readonly readySubject = new Subject<Ready>();
  /** Incarnations of peers: who may count (docs/membership.md). */
  readonly peers: PeerIdentities;
  /**
   * False while this store is empty and joining and no leader has spoken to it yet. Such a store
   * cannot tell whether it is a new member or a member that lost its disk (it might have voted in
   * the current term before); a leader that accepted it settles that, so it votes only after one did.
   */
  private mayVote = true;
  /** Empty store waiting for a majority of founding members to confirm they are new too. */
  private awaitingFounders = false;
  private readonly founderReports = new Map<number, PeerReport>();
  private readonly refusalSubject = new Subject<IdentityRefusal>();
  private readonly refusalsSeen = new Set<string>();
  /** Messages from peers whose incarnation is being recorded: stepped once the record is durable. */
  private heldInbound: { msg: Message; sender: SenderIdentity }[] = [];
  /** Each distinct refusal once: a peer that keeps presenting the same wrong identity is reported once. */
  readonly refusals$: Observable<IdentityRefusal> = this.refusalSubject.asObservable();
  /** Every Ready this actor hands out, as `takeReady()` returns it (for observers and hosts that react). */
  readonly ready$: Observable<Ready> = this.readySubject.asObservable();
  private readonly circuitSubject = new Subject<CircuitChange>();
  /** Changes of the peers' circuit breakers, as the leader's replicators see them. */
  readonly circuit$: Observable<CircuitChange> = this.circuitSubject.asObservable();
  /** The machine's answer to the event being sent: set by its emitted events, read right after the send. */
  private answer: RoleEmitted | undefined = undefined;

  constructor(opts: NodeActorOptions) {
    this.raft = new RaftState({
      config: opts.config,
      stable: opts.stable ?? new MemoryLog(),
      hardState: opts.hardState,
      confState: opts.confState,
      join: opts.join || opts.bootstrap === 'log',
      seed: opts.seed,
      validateSnapshot: opts.validateSnapshot,
      snapshotReception: opts.snapshotReception,
      faultHooks: opts.faultHooks,
    });
    // What is already durable; a bootstrap changes the hard state and goes out in the first Ready.
    this.prevHardState = this.raft.hardState();
    this.peers = new PeerIdentities(opts.incarnation ?? randomIncarnation(opts.seed ?? opts.config.nodeId), opts.peerIncarnations);
    if (opts.bootstrap === 'log' && !opts.join && this.isPristine()) {
      if (opts.founding === 'confirmed' && opts.config.peers.some((p) => p.id !== opts.config.nodeId)) this.awaitingFounders = true;
      else this.bootstrapInLog();
    }
    if (opts.join && this.isPristine()) this.mayVote = false;
    this.maxCommittedSize = opts.maxCommittedSizePerReady ?? opts.config.maxSizePerMsg * 4;
    this.role = createActor(roleMachine, {
      input: { raft: this.raft },
      id: `node-${opts.config.nodeId}`,
      inspect: opts.inspect,
    });
    // An action that throws puts the actor in its error state; `send` rethrows it to the caller
    // (XState would otherwise report it later, out of band). Subscribing marks it handled.
    this.role.subscribe({ error: () => {} });
    // Results come back as emitted events, during the send that caused them.
    const keepAnswer = (e: RoleEmitted) => {
      this.answer = e;
    };
    this.role.on('proposal', keepAnswer);
    this.role.on('readRefused', keepAnswer);
    this.role.on('transferRefused', keepAnswer);
    this.role.on('circuit', (e) => this.circuitSubject.next({ peerId: e.peer, state: e.state }));
    this.role.start();
    this.prevSoftState = this.softState();
  }

  /** Nothing stored yet: no log, no term, no vote (what a peer is told before it is a member). */
  isPristine(): boolean {
    const r = this.raft;
    return r.log.lastIndex() === 0 && r.term === 0 && r.vote === 0;
  }

  /** The founding members' AddNode entries, committed at term 1 on every founding member alike. */
  private bootstrapInLog(): void {
    const r = this.raft;
    const ents = bootstrapEntries(r.config.peers);
    if (ents.length === 0) return;
    r.term = 1;
    r.log.append(ents);
    r.log.commitTo(ents.length);
    r.founded();
  }

  get id(): number {
    return this.raft.id;
  }

  /** The role, as the statechart's current state. */
  stateType(): StateType {
    return this.role.getSnapshot().value as StateType;
  }

  softState(): SoftState {
    return { lead: this.raft.lead, raftState: this.stateType() };
  }

  isStopped(): boolean {
    return this.stopped;
  }

  /** Sends `event` and returns what the machine emitted in answer to it, if anything. */
  private ask(event: RoleEvent): RoleEmitted | undefined {
    this.answer = undefined;
    this.send(event);
    const a = this.answer;
    this.answer = undefined;
    return a;
  }

  private send(event: RoleEvent): void {
    if (this.stopped) throw new StoppedError(`node ${this.raft.id}`);
    this.eventCount++;
    this.role.send(event);
    const snap = this.role.getSnapshot();
    if (snap.status === 'error') {
      this.stopped = true;
      throw snap.error instanceof Error ? snap.error : new Error(String(snap.error));
    }
  }

  /** One logical clock tick (Raft counts time only in ticks). */
  tick(): void {
    this.send({ type: 'TICK' });
    const f = this.raft.faults;
    if (f?.on('regressApplied') && this.raft.log.applied > this.raft.log.firstIndex() && f.hit('regressApplied')) this.raft.log.applied--;
  }

  /**
   * A message from a peer (or a local report such as MsgUnreachable). `sender` is who the host
   * knows sent it (the TCP handshake, the simulated disk): a message counts only from a peer whose
   * data-directory incarnation is durably recorded here and matches (docs/membership.md).
   *
   * The role machine's term rules act only when the message's term differs from ours; a message of
   * the current term (or a local one, term 0) would just be raised again as its RPC event, so it is
   * sent as that event directly, which saves a macrostep on the hot path.
   */
  step(msg: Message, sender?: SenderIdentity): void {
    if (this.stopped) throw new StoppedError(`node ${this.raft.id}`);
    if (sender !== undefined && msg.from !== this.raft.id && !this.admit(msg, sender)) return;
    // Not a member yet: nothing a peer says can count before this store founded or joined the cluster.
    if (this.awaitingFounders) return;
    if (!this.mayVote) {
      if (msg.type === MessageType.MsgVote || msg.type === MessageType.MsgPreVote) return;
      if (msg.type === MessageType.MsgApp || msg.type === MessageType.MsgHeartbeat || msg.type === MessageType.MsgSnap) this.mayVote = true;
    }
    if (msg.term === this.raft.term || msg.term === 0) this.send(rpcEvent(msg));
    else this.send({ type: 'MESSAGE', msg });
  }

  /** Whether a message presenting `sender` may count now; records first contacts and holds their messages. */
  private admit(msg: Message, sender: SenderIdentity): boolean {
    const from = msg.from;
    const v = this.peers.verdict(from, sender);
    switch (v.kind) {
      case 'accept':
        return true;
      case 'learn':
        // Recorded durably with the next Ready; until then nothing from this peer counts, so a
        // restart can never forget a peer whose vote or ack counted. Its messages wait for the write.
        this.peers.learn(from, sender.incarnation, this.raft.log.applying);
        this.hold(msg, sender);
        return false;
      case 'wait':
        this.hold(msg, sender);
        return false;
      case 'refuse':
        this.refuse({ kind: 'peerHasNewDirectory', peer: from, presented: sender.incarnation, recorded: v.recorded });
        return false;
      case 'strangerHere':
        this.refuse({ kind: 'knownAsOther', peer: from, knownAs: v.knownAs, self: this.peers.self });
        this.handOverLeadershipRefusedBy(from);
        return false;
    }
  }

  /**
   * A voter knows this leader's id by another data directory: it recorded the old one and has not
   * yet applied the RemoveNode that voids that record (it lagged behind the replacement), or this
   * leader is a wiped member nobody replaced. Either way it refuses everything this leader sends,
   * so it could never receive that RemoveNode (or anything else) while this node leads: a lagging
   * member would stay locked out for good. Raft only replicates from the leader (§5.3), so the
   * leader steps aside (leadership transfer, thesis §3.10) for another voter, which the refuser
   * may accept and then bring up to date. The target is drawn at random among the other voters,
   * so two replaced members that the refuser both rejects cannot hand leadership back and forth
   * for ever; a target it rejects too hands over again when the refuser next speaks.
   */
  private handOverLeadershipRefusedBy(refuser: number): void {
    const r = this.raft;
    if (this.stateType() !== StateType.Leader || r.leadTransferee !== 0 || !r.tracker.isVoter(refuser)) return;
    const others = r.tracker.voters.filter((id) => id !== r.id && id !== refuser);
    if (others.length === 0) return;
    this.send({ type: 'TRANSFER_LEADERSHIP', to: r.rng.pick(others) });
  }

  private hold(msg: Message, sender: SenderIdentity): void {
    // Bounded: beyond it, messages are dropped (Raft retransmits).
    if (this.heldInbound.length < 1024) this.heldInbound.push({ msg, sender });
  }

  /** Steps the held messages whose sender's record is now durable. */
  private releaseInbound(): void {
    if (this.heldInbound.length === 0) return;
    const held = this.heldInbound;
    this.heldInbound = [];
    for (const h of held) {
      if (this.stopped) return;
      this.step(h.msg, h.sender);
    }
  }

  private refuse(r: IdentityRefusal): void {
    const key = `${r.kind}/${r.peer}/${'presented' in r ? r.presented : 'knownAs' in r ? r.knownAs : ''}`;
    if (this.refusalsSeen.has(key)) return;
    this.refusalsSeen.add(key);
    this.refusalSubject.next(r);
  }

  /** Whether this empty store waits for its founding peers (`founding: 'confirmed'`). */
  isAwaitingFounders(): boolean {
    return this.awaitingFounders;
  }

  /**
   * What a peer told this node about itself before either is a member (TCP: the hello). An empty
   * store waiting to found the cluster bootstraps once a majority confirmed, and is refused when a
   * peer shows the cluster formed without it or knew this id by another directory.
   */
  peerReport(from: number, report: PeerReport): void {
    if (this.stopped || from === this.raft.id) return;
    const v = this.peers.verdict(from, { incarnation: report.incarnation });
    if (v.kind === 'learn') this.peers.learn(from, report.incarnation, this.raft.log.applying);
    else if (v.kind === 'refuse') this.refuse({ kind: 'peerHasNewDirectory', peer: from, presented: report.incarnation, recorded: v.recorded });
    // A peer that just said hello is reachable (the transport reports it on every authenticated connection).
    if (v.kind === 'accept' || v.kind === 'learn') this.peerReachable(from);
    if (!this.awaitingFounders) return;
    this.founderReports.set(from, report);
    const founders = this.raft.config.peers.map((p) => p.id);
    const d = bootstrapDecision(this.raft.id, this.peers.self, founders, this.founderReports);
    if (d.kind === 'bootstrap') {
      this.awaitingFounders = false;
      this.bootstrapInLog();
    } else if (d.kind === 'refuse') {
      if (d.reason === 'alreadyFormed') {
        // Formed without this store: join it, as `--join` would (the configuration comes from the leader).
        this.awaitingFounders = false;
        this.mayVote = false;
        this.refuse({ kind: 'alreadyFormed', peer: d.peer });
      } else this.refuse({ kind: 'knownAsOther', peer: d.peer, knownAs: d.knownAs!, self: this.peers.self });
    }
  }

  /** Forces an election (etcd's Campaign / MsgHup). */
  campaign(): void {
    this.send({ type: 'CAMPAIGN' });
  }

  /**
   * Proposes a batch. On the leader the entries are appended at once and the outcome says where;
   * a follower forwards them (or refuses, with `disableProposalForwarding`).
   */
  propose(entries: readonly ProposedEntry[]): ProposalOutcome {
    const a = this.ask({ type: 'PROPOSE', entries });
    return a?.type === 'proposal' ? a.outcome : { kind: 'dropped', reason: 'the proposal was dropped' };
  }

  /**
   * Requests a linearizable read barrier. Returns undefined when the request is under way (its
   * ReadState will appear in a later Ready), or the reason it was refused.
   */
  readIndex(context: Uint8Array): string | undefined {
    const a = this.ask({ type: 'READ_INDEX', context });
    return a?.type === 'readRefused' ? a.reason : undefined;
  }

  /**
   * A committed ConfChange entry was applied: the new membership takes effect now (thesis §4.1).
   * Returns the new ConfState, for the host to persist.
   */
  applyConfChange(cc: ConfChange, index?: number): ConfState {
    this.send({ type: 'APPLY_CONF_CHANGE', cc });
    // The id's old directory left the cluster: the next one to come under that id is learned anew.
    if (cc.type === ConfChangeType.RemoveNode && index !== undefined) this.peers.removed(cc.nodeId, index);
    return this.raft.tracker.confState();
  }

  /** Hands leadership to `to` (leader only). Returns the reason when refused. */
  transferLeadership(to: number): string | undefined {
    const a = this.ask({ type: 'TRANSFER_LEADERSHIP', to });
    return a?.type === 'transferRefused' ? a.reason : undefined;
  }

  /**
   * The leader's view of every member's replication, read from the replicators that own it; empty
   * when this node does not lead.
   */
  progress(): ReadonlyMap<number, PeerProgress> {
    const out = new Map<number, PeerProgress>();
    const { replicators } = this.role.getSnapshot().context;
    if (this.stateType() !== StateType.Leader) return out;
    const t = this.raft.tracker;
    for (const id of t.tracked()) {
      const ref = replicators.get(id);
      if (!ref) {
        if (id === this.raft.id) out.set(id, { match: t.matchOf(id), next: this.raft.log.lastIndex() + 1, state: 'replicate', recentActive: true, inflight: 0, circuit: CircuitState.Closed });
        continue;
      }
      const snap = ref.getSnapshot();
      const pr = snap.context.progress;
      out.set(id, {
        match: pr.match,
        next: pr.next,
        state: snap.value as ProgressState,
        recentActive: t.recentlyActive(id),
        inflight: pr.inflights.count,
        circuit: snap.context.breaker.getSnapshot().value as CircuitState,
      });
    }
    return out;
  }

  /** A peer's circuit breaker: its replicator's while this node leads, `closed` otherwise (nothing is held back). */
  circuitState(peer: number): CircuitState {
    const ref = this.role.getSnapshot().context.replicators.get(peer);
    return ref ? (ref.getSnapshot().context.breaker.getSnapshot().value as CircuitState) : CircuitState.Closed;
  }

  /** The transport (re)connected to `peer`: its replicator stops backing off and closes its breaker. */
  peerReachable(peer: number): void {
    if (this.stopped || peer === this.raft.id) return;
    this.send({ type: 'PEER_REACHABLE', peer });
  }

  /**
   * Records a snapshot of the state machine taken right after applying `index` and compacts the
   * in-memory log, keeping `config.snapshotCatchUpEntries` entries behind it. The host persists
   * the returned snapshot (its storage then drops the entries it covers).
   */
  createSnapshot(index: number, data: Uint8Array, confState?: ConfState): Snapshot {
    if (this.stopped) throw new StoppedError(`node ${this.raft.id}`);
    return this.raft.createSnapshot(index, data, this.raft.config.snapshotCatchUpEntries, confState);
  }

  /** Shorthand for proposing plain commands. */
  proposeData(datas: readonly Uint8Array[]): ProposalOutcome {
    return this.propose(datas.map((data) => ({ type: EntryType.Normal, data })));
  }

  /** Whether a Ready is waiting. */
  hasReady(): boolean {
    const raft = this.raft;
    return (
      raft.msgs.length > 0 ||
      raft.msgsAfterAppend.length > 0 ||
      !hardStateEqual(raft.hardState(), this.prevHardState) ||
      raft.log.unstable.hasNextEntries() ||
      raft.log.unstable.nextSnapshot() !== undefined ||
      raft.log.hasNextCommittedEntries() ||
      raft.readStates.length > 0 ||
      raft.stagedChunks.length > 0 ||
      raft.receivedSnapshot !== undefined ||
      this.peers.hasUnwritten() ||
      !softStateEqual(this.softState(), this.prevSoftState)
    );
  }

  /**
   * Everything to do now, or undefined. The host must persist `entries`/`hardState`/`snapshot`
   * and report it with `persisted(ready)`, send `messages`, apply `committedEntries` and report
   * that with `applied(index)`.
   */
  takeReady(): Ready | undefined {
    if (this.stopped) return undefined;
    const raft = this.raft;
    // Held messages that depend on nothing unwritten can go now (their state is already durable).
    while (raft.msgsAfterAppend.length > 0 && this.pendingWrites.length === 0 && !this.hasUnwrittenState()) {
      const held = raft.msgsAfterAppend;
      raft.msgsAfterAppend = [];
      this.release(held);
    }
    if (!this.hasReady()) return undefined;

    const soft = this.softState();
    const hs = raft.hardState();
    const entries = raft.log.unstable.nextEntries();
    const snapshot = raft.log.unstable.nextSnapshot();
    const committedEntries = raft.log.nextCommittedEntries(this.maxCommittedSize);
    const hardStateChanged = !hardStateEqual(hs, this.prevHardState);
    const stagedSnapshotChunks = raft.stagedChunks;
    const receivedSnapshot = raft.takeReceivedSnapshot();
    const peerWrite = this.peers.hasUnwritten() ? this.peers.takeUnwritten() : undefined;
    const ready: Ready = {
      softState: softStateEqual(soft, this.prevSoftState) ? undefined : soft,
      hardState: hardStateChanged ? hs : undefined,
      entries,
      snapshot,
      committedEntries,
      messages: raft.msgs,
      readStates: raft.readStates.length > 0 ? raft.readStates : undefined,
      ...(stagedSnapshotChunks.length > 0 ? { stagedSnapshotChunks } : {}),
      ...(receivedSnapshot ? { receivedSnapshot } : {}),
      ...(peerWrite ? { peerIncarnations: peerWrite.record } : {}),
      // A staged chunk's ack, like an append's, waits for the write to be durable.
      mustSync:
        entries.length > 0 ||
        hs.term !== this.prevHardState.term ||
        hs.vote !== this.prevHardState.vote ||
        snapshot !== undefined ||
        peerWrite !== undefined ||
        stagedSnapshotChunks.length > 0,
    };
    raft.msgs = [];
    if (stagedSnapshotChunks.length > 0) raft.stagedChunks = [];
    if (raft.readStates.length > 0) raft.readStates = [];
    const held = raft.msgsAfterAppend;
    raft.msgsAfterAppend = [];

    if (hardStateChanged || entries.length > 0 || snapshot || stagedSnapshotChunks.length > 0 || peerWrite) {
      const last: Entry | undefined = entries[entries.length - 1];
      this.pendingWrites.push({ ready, lastIndex: last?.index ?? 0, lastTerm: last?.term ?? 0, snapshot, held, peersAdded: peerWrite?.added ?? [] });
    } else if (held.length > 0) {
      this.pendingWrites[this.pendingWrites.length - 1]!.held.push(...held);
    }
    raft.log.unstable.acceptInProgress();
    if (committedEntries.length > 0) raft.log.acceptApplying(committedEntries[committedEntries.length - 1]!.index);
    // The host restores the state machine from the snapshot while handling this Ready, before any
    // later committed entry: from here on the state machine is at the snapshot's index.
    if (snapshot) raft.log.appliedTo(snapshot.metadata.index);
    this.prevHardState = hs;
    this.prevSoftState = soft;
    this.readySubject.next(ready);
    return ready;
  }

  private hasUnwrittenState(): boolean {
    const raft = this.raft;
    return (
      !hardStateEqual(raft.hardState(), this.prevHardState) ||
      raft.log.unstable.hasNextEntries() ||
      raft.log.unstable.nextSnapshot() !== undefined ||
      raft.stagedChunks.length > 0
    );
  }

  /** The durable part of `ready` and of every Ready before it is on stable storage. */
  persisted(ready: Ready): void {
    if (this.stopped) return;
    const i = this.pendingWrites.findIndex((w) => w.ready === ready);
    if (i < 0) return;
    const done = this.pendingWrites.splice(0, i + 1);
    for (const w of done) {
      if (w.snapshot) this.raft.log.stableSnapTo(w.snapshot);
      if (w.lastIndex > 0) this.raft.log.stableTo(w.lastIndex, w.lastTerm);
      this.peers.written(w.peersAdded);
      this.release(w.held);
    }
    if (done.some((w) => w.peersAdded.length > 0)) this.releaseInbound();
  }

  /** The state machine applied every committed entry up to `index`. */
  applied(index: number): void {
    if (this.stopped) return;
    this.raft.log.appliedTo(index);
  }

  /** Messages to self are stepped here; the rest go out with the next Ready. */
  private release(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.to === this.raft.id) this.step(m);
      else this.raft.msgs.push(m);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.role.stop();
    this.readySubject.complete();
    this.refusalSubject.complete();
    this.circuitSubject.complete();
  }
}

/** A stand-in identity for hosts that give none (then no peer can have recorded it). */
function randomIncarnation(seed: number): string {
  let x = (seed >>> 0) ^ 0x9e3779b9;
  let out = '';
  for (let i = 0; i < 4; i++) {
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
    out += x.toString(16).padStart(8, '0');
  }
  return out;
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.raftState === b.raftState;
}
