/**
 * The simulated network: io's Transport for each node (a SimTransport), and the wire between them.
 * A message handed to a node's transport is put on the wire with the current faults — partitions,
 * a cut-off node, per-message hooks, random drops, duplicates and delays — and delivered by an
 * event of the simulation's queue to the receiver's transport, which hands it to its node's host
 * loop like a TCP transport would. Links are FIFO (like TCP) unless reordering is on.
 */
import type { Cancel } from '../io/clock.ts';
import type { MessageHandler, Transport } from '../io/transport.ts';
import type { SenderIdentity } from '../raft/member-identity.ts';
import type { Message } from '../raft/raftpb.ts';
import type { Rng } from '../raft/rng.ts';
import type { MessageHook } from './message-hooks.ts';
import type { NetworkFaults } from './network-faults.ts';

export interface NetworkCounters {
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Peers reported unreachable to a sender (its replicator counts a circuit-breaker failure). */
  unreachableReports: number;
}

/** How a transport tells its node that a peer cannot be reached. */
export type UnreachableHandler = (peer: number) => void;

/** What the network needs from the simulation. */
export interface Wire {
  readonly rng: Rng;
  now(): number;
  /** Queues a delivery at virtual time `at`. */
  schedule(at: number, fn: () => void): Cancel;
  /** Every message as it leaves a node (the safety checker's "persist before respond"). */
  sent(m: Message): void;
  /** The identity the sender presents (its disk's incarnation, what it knows the receiver as). */
  senderIdentity(m: Message): SenderIdentity;
  /** Whether node `id` runs (a message to a node that is down is lost). */
  isUp(id: number): boolean;
}

export class SimNetwork {
  faults: NetworkFaults;
  readonly counters: NetworkCounters = { delivered: 0, dropped: 0, duplicated: 0, unreachableReports: 0 };
  /** Group number per node; messages cross only within a group. */
  private group = new Map<number, number>();
  /** Nodes cut off from every other (isolate / disconnect). */
  private readonly cutOff = new Set<number>();
  /** Per-link last delivery time, for FIFO links. */
  private readonly linkClock = new Map<string, number>();
  private readonly endpoints = new Map<number, MessageHandler>();
  private readonly unreachableHandlers = new Map<number, UnreachableHandler>();
  /** Per link, when its sender was last told the peer is unreachable. */
  private readonly lastReport = new Map<string, number>();
  private hooks: MessageHook[] = [];

  /**
   * `redialMs`: a TCP transport learns that a peer is down when a dial fails or the connection
   * drops, and tries again on its redial timer; so a sender here is told at most once per this
   * many virtual ms per peer.
   */
  constructor(
    private readonly wire: Wire,
    faults: NetworkFaults,
    private readonly redialMs = 50,
  ) {
    this.faults = faults;
  }

  /**
   * The Transport of node `id`: what leaves through it goes on the wire. `onUnreachable` hears of
   * peers a message could not reach because they are down or cut off (never of random loss, which
   * TCP hides), as the TCP transport reports failed dials and lost connections; the node's
   * replicator for that peer counts it against the peer's circuit breaker.
   */
  transportFor(id: number, deliver: MessageHandler, onUnreachable?: UnreachableHandler): Transport {
    return new SimTransport(this, id, deliver, onUnreachable);
  }

  /** A node's transport starts: messages to it reach `deliver`. */
  attach(id: number, deliver: MessageHandler, onUnreachable?: UnreachableHandler): void {
    this.endpoints.set(id, deliver);
    if (onUnreachable) this.unreachableHandlers.set(id, onUnreachable);
  }

  detach(id: number, deliver: MessageHandler): void {
    if (this.endpoints.get(id) !== deliver) return;
    this.endpoints.delete(id);
    this.unreachableHandlers.delete(id);
  }

  addHook(hook: MessageHook): () => void {
    this.hooks = [...this.hooks, hook];
    return () => {
      this.hooks = this.hooks.filter((h) => h !== hook);
    };
  }

  clearHooks(): void {
    this.hooks = [];
  }

  /** Splits the cluster: messages cross only within a group. Nodes not named form one more group. */
  partition(groups: readonly (readonly number[])[]): void {
    this.group = new Map();
    groups.forEach((g, i) => {
      for (const id of g) this.group.set(id, i + 1);
    });
  }

  /** Cuts one node off from every other. */
  disconnect(id: number): void {
    this.cutOff.add(id);
  }

  /** Undoes `disconnect(id)`: the node reaches the nodes of its group again. */
  connect(id: number): void {
    this.cutOff.delete(id);
  }

  /** Removes every partition and reconnects every node. */
  heal(): void {
    this.group = new Map();
    this.cutOff.clear();
  }

  connected(a: number, b: number): boolean {
    if (a !== b && (this.cutOff.has(a) || this.cutOff.has(b))) return false;
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0);
  }

  /** Puts a message on the wire, with the current faults. */
  transmit(m: Message): void {
    const wire = this.wire;
    wire.sent(m);
    let fate: ReturnType<MessageHook> = undefined;
    for (const hook of this.hooks) {
      fate = hook(m);
      if (fate) break;
    }
    if (!this.connected(m.from, m.to) || !wire.isUp(m.to)) this.reportUnreachable(m.from, m.to);
    if (!this.connected(m.from, m.to) || fate?.drop || (fate === undefined && wire.rng.chance(this.faults.dropRate))) {
      this.counters.dropped++;
      return;
    }
    const extra = fate?.duplicates ?? (fate === undefined && wire.rng.chance(this.faults.duplicateRate) ? 1 : 0);
    this.counters.duplicated += extra;
    const sender = wire.senderIdentity(m);
    for (let c = 0; c <= extra; c++) {
      let at = wire.now() + (fate?.delayMs ?? wire.rng.int(this.faults.delay[0], this.faults.delay[1] + 1));
      if (!this.faults.reorder && fate?.delayMs === undefined) {
        const link = `${m.from}>${m.to}`;
        at = Math.max(at, this.linkClock.get(link) ?? 0);
        this.linkClock.set(link, at);
      }
      wire.schedule(at, () => this.deliver(m, sender));
    }
  }

  /** Tells `from` (later in this instant, as a socket event would) that `to` cannot be reached, once per redial interval. */
  private reportUnreachable(from: number, to: number): void {
    const handler = this.unreachableHandlers.get(from);
    if (!handler || from === to || this.faults.reportUnreachable === false) return;
    const link = `${from}>${to}`;
    const now = this.wire.now();
    const last = this.lastReport.get(link);
    if (last !== undefined && now - last < this.redialMs) return;
    this.lastReport.set(link, now);
    this.counters.unreachableReports++;
    this.wire.schedule(now, () => {
      if (this.unreachableHandlers.get(from) === handler) handler(to);
    });
  }

  private deliver(m: Message, sender: SenderIdentity): void {
    const to = this.endpoints.get(m.to);
    if (!to || !this.wire.isUp(m.to) || !this.connected(m.from, m.to)) {
      this.counters.dropped++;
      return;
    }
    this.counters.delivered++;
    to(m, sender);
  }
}

/** One node's io Transport on the simulated network. */
export class SimTransport implements Transport {
  constructor(
    private readonly net: SimNetwork,
    private readonly id: number,
    private readonly deliver: MessageHandler,
    private readonly onUnreachable?: UnreachableHandler,
  ) {}

  send(msg: Message): void {
    this.net.transmit(msg);
  }

  start(): Promise<void> {
    this.net.attach(this.id, this.deliver, this.onUnreachable);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.net.detach(this.id, this.deliver);
    return Promise.resolve();
  }

  /** Every simulated node is reachable by id; addresses are not needed. */
  addPeer(): void {}

  removePeer(): void {}
}
