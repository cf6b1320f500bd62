/**
 * A small in-process cluster for the paper-rule tests, in the spirit of etcd's `network` in
 * raft_test.go: real NodeActors hosted by the production HostLoop over an instant disk, no clock.
 * Every Ready is handled at once with everything in it persisted, so held responses (vote and
 * append acks, a candidate's vote for itself) are released in the same drain.
 *
 * Messages are delivered recursively until nothing more is sent, through filters that drop
 * messages by sender, receiver, type or any predicate. Nodes can also be built with a given
 * log, term and vote (Figure 7 / Figure 8 / up-to-date-log cases).
 */
import { type Config, resolveConfig } from '../../src/config.ts';
import { NodeActor } from '../../src/actors/node-actor.ts';
import { HostLoop } from '../../src/actors/host-loop.ts';
import { silentLogger } from '../../src/actors/logger.ts';
import { MemberAddresses } from '../../src/actors/member-addresses.ts';
import { PendingRequests } from '../../src/actors/pending-requests.ts';
import { TransportActor } from '../../src/actors/transport-actor.ts';
import type { Clock } from '../../src/io/clock.ts';
import { MemoryStorage } from '../../src/io/memory-storage.ts';
import { NodeMetrics } from '../../src/metrics/node-metrics.ts';
import { SimDisk } from '../../src/sim/sim-disk.ts';
import { type Entry, EntryType, type Message, MessageType, message } from '../../src/raft/raftpb.ts';
import type { ProposalOutcome } from '../../src/raft/raft-state.ts';
import type { StateType } from '../../src/raft/state-type.ts';

/** Config fields a test may set; nodeId and peers come from the cluster. */
export type TestConfig = Partial<Omit<Config, 'nodeId' | 'peers'>>;

/** Paper-rule defaults: plain Raft, no PreVote and no CheckQuorum, unless a test asks for them. */
export const plainRaft: TestConfig = { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false };

export function configFor(id: number, ids: readonly number[], overrides: TestConfig = {}): Readonly<Config> {
  return resolveConfig({
    electionTick: 10,
    heartbeatTick: 1,
    ...overrides,
    nodeId: id,
    peers: ids.map((p) => ({ id: p, address: `127.0.0.1:${7000 + p}` })),
  });
}

const encoder = new TextEncoder();
export const bytes = (s: string): Uint8Array => encoder.encode(s);
export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Entries with the given terms at indexes start, start+1, ... (the paper's log pictures). */
export function entriesWithTerms(terms: readonly number[], start = 1): Entry[] {
  return terms.map((term, i) => ({ index: start + i, term, type: EntryType.Normal, data: bytes(`e${start + i}t${term}`) }));
}

/** What a node starts from: a persisted log (by term of each entry), a term, a vote, a commit index. */
export interface NodeSetup {
  readonly logTerms?: readonly number[];
  readonly term?: number;
  readonly vote?: number;
  readonly commit?: number;
  readonly seed?: number;
  readonly config?: TestConfig;
}

/** A node whose stable storage already holds `setup.logTerms` and whose hard state is term/vote/commit. */
export function buildNode(id: number, ids: readonly number[], config: TestConfig = plainRaft, setup: NodeSetup = {}): NodeActor {
  const stable = new MemoryStorage();
  const ents = entriesWithTerms(setup.logTerms ?? []);
  if (ents.length > 0) stable.appendSync(ents);
  const hardState = { term: setup.term ?? 0, vote: setup.vote ?? 0, commit: setup.commit ?? 0 };
  stable.writeSync({ hardState });
  return new NodeActor({
    config: configFor(id, ids, { ...config, ...setup.config }),
    stable,
    hardState,
    seed: setup.seed ?? id * 7919,
  });
}

/**
 * The production host loop around a test's node actor, with an instant disk (a write completes
 * inside the call that makes it), a network that only collects what leaves, and a clock whose
 * end-of-turn calls run when `drainNode` ends the turn. Ticks are the test's own (`actor.tick()`).
 */
class InstantHost {
  private turn: { fn: () => void; cancelled: boolean }[] = [];
  readonly sent: Message[] = [];
  onApply: ((entries: readonly Entry[]) => void) | undefined;
  readonly loop: HostLoop;

  constructor(actor: NodeActor) {
    const clock: Clock = {
      now: () => 0,
      setTimer: () => () => {},
      defer: (fn) => {
        const call = { fn, cancelled: false };
        this.turn.push(call);
        return () => {
          call.cancelled = true;
        };
      },
    };
    const disk = new SimDisk();
    // The disk holds what the node's stable log holds when its host is made (what it was built
    // with: log, snapshot, term and vote), as a restarted node's disk would.
    const built = actor.raft.log.stable;
    {
      const snap = built.snapshotSync();
      if (snap.metadata.index > 0) disk.durable.applySnapshotSync(snap);
      const first = built.firstIndexSync();
      const last = built.lastIndexSync();
      if (last >= first) disk.durable.appendSync(built.entriesSync(first, last + 1));
      disk.durable.writeSync({ hardState: { term: actor.raft.term, vote: actor.raft.vote, commit: actor.raft.log.committed } });
    }
    disk.attach((_write, done) => done());
    const transport = new TransportActor({ createTransport: () => ({ send: (m) => void this.sent.push(m), start: async () => {}, stop: async () => {}, addPeer() {}, removePeer() {} }), clock });
    const proposer = { nodeId: actor.id, instance: 1 };
    const nothing = { apply: () => undefined, snapshot: () => new Uint8Array(0), restore: () => {} };
    this.loop = new HostLoop({
      node: actor,
      config: resolveConfig(actor.raft.config),
      stateMachine: nothing,
      clock,
      storage: disk,
      transport,
      pending: new PendingRequests(proposer),
      proposer,
      addresses: new MemberAddresses(),
      metrics: new NodeMetrics(),
      log: silentLogger,
      appliedIndex: 0,
      snapshotIndex: 0,
      storeName: 'instant disk',
      events: {
        fatal: (err) => {
          throw err;
        },
      },
      observer: { applied: (e) => this.onApply?.([e]) },
    });
    this.loop.start();
  }

  /** Ends the turn: runs every end-of-turn call (and those they queue) until none is left. */
  endTurn(): Message[] {
    this.loop.scheduleFlush();
    for (let call = this.turn.shift(); call; call = this.turn.shift()) if (!call.cancelled) call.fn();
    return this.sent.splice(0);
  }
}

const hosts = new WeakMap<NodeActor, InstantHost>();

/**
 * Handles every Ready the node has through the production host loop (src/actors/host-loop.ts)
 * with an instant disk: persist, release held messages, apply committed entries. Returns the
 * messages sent, in order per peer.
 */
export function drainNode(actor: NodeActor, onApply?: (entries: readonly Entry[]) => void): Message[] {
  let host = hosts.get(actor);
  if (!host) {
    host = new InstantHost(actor);
    hosts.set(actor, host);
  }
  host.onApply = onApply;
  return host.endTurn();
}

/** The (index, term) pairs of a node's whole log, for comparing logs. */
export function logTerms(actor: NodeActor): number[] {
  const log = actor.raft.log;
  return log.entriesFrom(log.firstIndex()).map((e) => e.term);
}

/** Returns true to drop a message. */
export type MessageFilter = (m: Message) => boolean;

export class Cluster {
  readonly ids: readonly number[];
  readonly nodes = new Map<number, NodeActor>();
  /** Entries each node applied, in order. */
  readonly applied = new Map<number, Entry[]>();
  /** Every message delivered (after filters), in delivery order. */
  readonly delivered: Message[] = [];
  /** Every message dropped by a filter. */
  readonly dropped: Message[] = [];
  private filters: MessageFilter[] = [];

  constructor(idsOrCount: number | readonly number[], config: TestConfig = plainRaft, setups: Readonly<Record<number, NodeSetup>> = {}) {
    this.ids = typeof idsOrCount === 'number' ? Array.from({ length: idsOrCount }, (_, i) => i + 1) : [...idsOrCount];
    for (const id of this.ids) {
      this.nodes.set(id, buildNode(id, this.ids, config, setups[id]));
      this.applied.set(id, []);
    }
  }

  node(id: number): NodeActor {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  state(id: number): StateType {
    return this.node(id).stateType();
  }

  term(id: number): number {
    return this.node(id).raft.term;
  }

  /** Handles the node's Readys; returns what it wants to send (not delivered). */
  drain(id: number): Message[] {
    const list = this.applied.get(id)!;
    return drainNode(this.node(id), (ents) => list.push(...ents));
  }

  /** Steps one message into its receiver, ignoring filters, and returns what the receiver sends (not delivered). */
  stepRaw(m: Message): Message[] {
    this.node(m.to).step(m);
    return this.drain(m.to);
  }

  private isDropped(m: Message): boolean {
    return !this.nodes.has(m.to) || this.filters.some((f) => f(m));
  }

  /** Delivers messages, and everything they cause, until the cluster is quiet. */
  deliver(msgs: readonly Message[]): void {
    const queue = [...msgs];
    for (let guard = 0; queue.length > 0; guard++) {
      if (guard > 1_000_000) throw new Error('delivery did not quiesce');
      const m = queue.shift()!;
      if (this.isDropped(m)) {
        this.dropped.push(m);
        continue;
      }
      this.delivered.push(m);
      this.node(m.to).step(m);
      queue.push(...this.drain(m.to));
    }
  }

  /** Drains every node (or the given ones) and delivers until quiet. */
  settle(ids: readonly number[] = this.ids): void {
    for (const id of ids) this.deliver(this.drain(id));
  }

  send(...msgs: Message[]): void {
    this.deliver(msgs);
  }

  /** Ticks a node `n` times, delivering what each tick causes. */
  tick(id: number, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.deliver(this.drain(id));
    }
  }

  /** Ticks every node (or the given ones) together, `n` rounds. */
  tickAll(n = 1, ids: readonly number[] = this.ids): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.node(id).tick();
      this.settle(ids);
    }
  }

  campaign(id: number): void {
    this.node(id).campaign();
    this.deliver(this.drain(id));
  }

  propose(id: number, ...datas: string[]): ProposalOutcome {
    const out = this.node(id).proposeData(datas.map(bytes));
    this.deliver(this.drain(id));
    return out;
  }

  // ----- faults -----

  /** Drops every message the predicate matches, until heal(). */
  drop(filter: MessageFilter): void {
    this.filters.push(filter);
  }

  /** Drops messages of the given types. */
  ignore(...types: MessageType[]): void {
    this.drop((m) => types.includes(m.type));
  }

  /** Cuts the link between a and b, both ways. */
  cut(a: number, b: number): void {
    this.drop((m) => (m.from === a && m.to === b) || (m.from === b && m.to === a));
  }

  /** Cuts a node off from every other. */
  isolate(id: number): void {
    this.drop((m) => m.from !== m.to && (m.from === id || m.to === id));
  }

  heal(): void {
    this.filters = [];
  }

  /** Messages delivered that match the predicate. */
  count(pred: MessageFilter): number {
    return this.delivered.filter(pred).length;
  }
}

/** A vote response as a peer would send it. */
export function voteResp(from: number, to: number, term: number, granted: boolean, preVote = false): Message {
  return message({ type: preVote ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp, from, to, term, reject: !granted });
}

/**
 * Makes node `id` of `c` the leader by campaigning and delivering. Returns its term.
 * Throws when it does not win, so a test fails at the setup and not later.
 */
export function electLeader(c: Cluster, id: number): number {
  c.campaign(id);
  if (c.state(id) !== 'leader') throw new Error(`node ${id} did not win the election (state ${c.state(id)})`);
  return c.term(id);
}
