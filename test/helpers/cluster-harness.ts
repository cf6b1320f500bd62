/**
 * A small in-process cluster for the paper-rule tests, in the spirit of etcd's `network` in
 * raft_test.go: real NodeActors, no clock and no disk. Every Ready is handled at once with
 * everything in it persisted (`takeReady` → `persisted` → apply → `applied`), so held responses
 * (vote and append acks, a candidate's vote for itself) are released in the same drain.
 *
 * Messages are delivered recursively until nothing more is sent, through filters that drop
 * messages by sender, receiver, type or any predicate. Nodes can also be built with a given
 * log, term and vote (Figure 7 / Figure 8 / up-to-date-log cases).
 */
import { type Config, resolveConfig } from '../../src/config.ts';
import { NodeActor } from '../../src/actors/node-actor.ts';
import { MemoryStorage } from '../../src/io/memory-storage.ts';
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
 * Handles every Ready the node has, as a host with an instant disk would: persist, release held
 * messages, apply committed entries. Returns the messages to send, in order.
 */
export function drainNode(actor: NodeActor, onApply?: (entries: readonly Entry[]) => void): Message[] {
  const out: Message[] = [];
  for (let rd = actor.takeReady(); rd; rd = actor.takeReady()) {
    out.push(...rd.messages);
    actor.persisted(rd);
    if (rd.committedEntries.length > 0) {
      onApply?.(rd.committedEntries);
      actor.applied(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
  }
  return out;
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
