/**
 * The node actor: one per Raft member. It hosts the role statechart (and through it the
 * replicator actors), takes the inputs of DESIGN.md (TICK, MESSAGE, PROPOSE, CAMPAIGN, PERSISTED,
 * APPLIED) and hands out `Ready` values: what to persist, what to send, what to apply.
 *
 * It is synchronous and deterministic; hosts decide when to call `takeReady()` (the simulation
 * kit after every step, the RaftNode once per I/O turn). It keeps the rule that a message which
 * reports durable state leaves only after that state is durable: such messages are held with the
 * write of the Ready they belong to and released by `persisted()`.
 */
import { type Observable, Subject } from 'rxjs';
import { type Actor, type InspectionEvent, createActor } from 'xstate';
import { StoppedError } from '../errors.ts';
import type { Config } from '../config.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import { type RoleEvent, roleMachine, rpcEvent } from '../machines/role.machine.ts';
import { type ConfChange, type ConfState, type Entry, EntryType, type HardState, type Message, type Snapshot, hardStateEqual } from '../raft/raftpb.ts';
import { type ProposalOutcome, type ProposedEntry, RaftState } from '../raft/raft-state.ts';
import { bootstrapEntries } from '../raft/confchange.ts';
import type { FaultHooks } from '../raft/fault-hooks.ts';
import type { Ready } from '../raft/ready.ts';
import { type SoftState, StateType } from '../raft/state-type.ts';

export interface NodeActorOptions {
  readonly config: Readonly<Config>;
  /** The persisted log, loaded into memory (empty for a new node). */
  readonly stable?: MemoryStorage;
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
}

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
  /** Every Ready this actor hands out, as `takeReady()` returns it (for observers and hosts that react). */
  readonly ready$: Observable<Ready> = this.readySubject.asObservable();

  constructor(opts: NodeActorOptions) {
    this.raft = new RaftState({
      config: opts.config,
      stable: opts.stable ?? new MemoryStorage(),
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
    if (opts.bootstrap === 'log' && !opts.join && this.isPristine()) this.bootstrapInLog();
    this.maxCommittedSize = opts.maxCommittedSizePerReady ?? opts.config.maxSizePerMsg * 4;
    this.role = createActor(roleMachine, {
      input: { raft: this.raft },
      id: `node-${opts.config.nodeId}`,
      inspect: opts.inspect,
    });
    // An action that throws puts the actor in its error state; `send` rethrows it to the caller
    // (XState would otherwise report it later, out of band). Subscribing marks it handled.
    this.role.subscribe({ error: () => {} });
    this.role.start();
    this.prevSoftState = this.softState();
  }

  /** Nothing stored yet: no log, no term. */
  private isPristine(): boolean {
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
   * A message from a peer (or a local report such as MsgUnreachable). The role machine's term
   * rules act only when the message's term differs from ours; a message of the current term (or a
   * local one, term 0) would just be raised again as its RPC event, so it is sent as that event
   * directly, which saves a macrostep on the hot path.
   */
  step(msg: Message): void {
    if (msg.term === this.raft.term || msg.term === 0) this.send(rpcEvent(msg));
    else this.send({ type: 'MESSAGE', msg });
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
    this.raft.lastProposal = undefined;
    this.send({ type: 'PROPOSE', entries });
    return this.raft.lastProposal ?? { kind: 'dropped', reason: 'the proposal was dropped' };
  }

  /**
   * Requests a linearizable read barrier. Returns undefined when the request is under way (its
   * ReadState will appear in a later Ready), or the reason it was refused.
   */
  readIndex(context: Uint8Array): string | undefined {
    this.raft.lastReadRefusal = undefined;
    this.send({ type: 'READ_INDEX', context });
    return this.raft.lastReadRefusal;
  }

  /**
   * A committed ConfChange entry was applied: the new membership takes effect now (thesis §4.1).
   * Returns the new ConfState, for the host to persist.
   */
  applyConfChange(cc: ConfChange): ConfState {
    this.send({ type: 'APPLY_CONF_CHANGE', cc });
    return this.raft.tracker.confState();
  }

  /** Hands leadership to `to` (leader only). Returns the reason when refused. */
  transferLeadership(to: number): string | undefined {
    this.raft.lastTransferRefusal = undefined;
    this.send({ type: 'TRANSFER_LEADERSHIP', to });
    return this.raft.lastTransferRefusal;
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
      mustSync:
        entries.length > 0 || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote || snapshot !== undefined,
    };
    raft.msgs = [];
    if (stagedSnapshotChunks.length > 0) raft.stagedChunks = [];
    if (raft.readStates.length > 0) raft.readStates = [];
    const held = raft.msgsAfterAppend;
    raft.msgsAfterAppend = [];

    if (hardStateChanged || entries.length > 0 || snapshot || stagedSnapshotChunks.length > 0) {
      const last: Entry | undefined = entries[entries.length - 1];
      this.pendingWrites.push({ ready, lastIndex: last?.index ?? 0, lastTerm: last?.term ?? 0, snapshot, held });
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
      this.release(w.held);
    }
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
  }
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.raftState === b.raftState;
}
