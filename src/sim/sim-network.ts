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
}

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
  readonly counters: NetworkCounters = { delivered: 0, dropped: 0, duplicated: 0 };
  /** Group number per node; messages cross only within a group. */
  private group = new Map<number, number>();
  /** Nodes cut off from every other (isolate / disconnect). */
  private readonly cutOff = new Set<number>();
  /** Per-link last delivery time, for FIFO links. */
  private readonly linkClock = new Map<string, number>();
  private readonly endpoints = new Map<number, MessageHandler>();
  private hooks: MessageHook[] = [];

  constructor(
    private readonly wire: Wire,
    faults: NetworkFaults,
  ) {
    this.faults = faults;
  }

  /** The Transport of node `id`: what leaves through it goes on the wire. */
  transportFor(id: number, deliver: MessageHandler): Transport {
    return new SimTransport(this, id, deliver);
  }

  /** A node's transport starts: messages to it reach `deliver`. */
  attach(id: number, deliver: MessageHandler): void {
    this.endpoints.set(id, deliver);
  }

  detach(id: number, deliver: MessageHandler): void {
    if (this.endpoints.get(id) === deliver) this.endpoints.delete(id);
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
  ) {}

  send(msg: Message): void {
    this.net.transmit(msg);
  }

  start(): Promise<void> {
    this.net.attach(this.id, this.deliver);
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
