/**
 * The transport actor: the node's only door to the network. It takes the messages of a `Ready`
 * from the node actor, queues them per peer, and once per turn hands each peer's queue to the
 * hosted Transport as one batch (one socket write on TCP).
 *
 * Why a turn: the node actor emits a Ready's messages synchronously, one after another. Writing
 * each at once would cost a syscall per message; waiting for a timer would add latency. Flushing
 * on the RxJS `asapScheduler` runs right after the node actor's synchronous work, so a Ready's
 * messages to a peer leave together and nothing waits for a clock.
 *
 * Why bounded, oldest dropped: the node must never block on the network, and a queue that grows
 * without bound is a memory leak with a delay. When a peer's queue is full the oldest message is
 * the stalest (Raft will have superseded it with newer heartbeats/appends), so it goes first.
 *
 * The hosted transport is anything implementing `Transport`: the TCP BidirectionalTransport in
 * production, the simulation's network in tests. Inbound messages come out of `inbound$`.
 */
import { Subject, asapScheduler, map, observeOn } from 'rxjs';
import type { SenderIdentity } from '../raft/member-identity.ts';
import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import { type Message, MessageType } from '../raft/raftpb.ts';
import type { Clock } from '../io/clock.ts';
import { isBatchTransport } from '../io/transport.ts';
import type { MessageHandler, Transport } from '../io/transport.ts';

export interface TransportActorOptions {
  /** Builds the hosted transport, giving it the function that feeds `inbound$`. */
  createTransport: (deliver: MessageHandler) => Transport;
  /** Messages held per peer between flushes. Default 4096. */
  maxQueuedPerPeer?: number;
  /** When a turn's queue is flushed. Default `asapScheduler`; a virtual scheduler in tests. */
  scheduler?: SchedulerLike;
  /** Flush at the end of the turn with this clock instead (the simulation's virtual clock); wins over `scheduler`. */
  clock?: Pick<Clock, 'defer'>;
}

export interface TransportActorStats {
  readonly enqueued: number;
  /** Messages handed to the transport. */
  readonly flushed: number;
  /** Batches handed to the transport (one per peer per turn). */
  readonly batches: number;
  /** Oldest messages evicted from a full peer queue. */
  readonly droppedQueueFull: number;
  /** Messages dropped because the actor was stopped before they could be flushed. */
  readonly droppedStopped: number;
  /** Exceptions from the hosted transport's send (it should never throw; we still contain it). */
  readonly sendErrors: number;
  /** Snapshot transfers started: first chunks (MsgSnap at offset 0) queued for a peer. */
  readonly snapshotsSent: number;
  /** Messages waiting for the next flush right now. */
  readonly queued: number;
}

/**
 * A FIFO of at most `capacity` items that evicts its oldest item to make room. A ring buffer that
 * grows by doubling up to its capacity, so an idle or quiet peer costs a few slots, not thousands.
 */
export class BoundedQueue<T> {
  private items: (T | undefined)[] = new Array(8);
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.count;
  }

  /** Append; returns true when the oldest item had to be evicted. */
  push(item: T): boolean {
    if (this.count === this.items.length && this.count < this.capacity) this.grow();
    const evicted = this.count === this.capacity;
    if (evicted) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.count--;
    }
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count++;
    return evicted;
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out = new Array<T>(this.count);
    const len = this.items.length;
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) % len;
      out[i] = this.items[at]!;
      this.items[at] = undefined;
    }
    this.head = 0;
    this.count = 0;
    return out;
  }

  private grow(): void {
    const next = new Array<T | undefined>(Math.min(this.capacity, this.items.length * 2));
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

export class TransportActor implements Transport {
  readonly transport: Transport;
  /** Every message received from a peer, validated by the transport. */
  readonly inbound$: Observable<Message>;
  /** The same messages with their sender's member identity, when the transport knows it. */
  readonly arrivals$: Observable<{ readonly msg: Message; readonly sender?: SenderIdentity }>;
  private readonly inbound = new Subject<{ readonly msg: Message; readonly sender?: SenderIdentity }>();
  private readonly turns = new Subject<void>();
  private readonly queues = new Map<number, BoundedQueue<Message>>();
  private readonly maxQueuedPerPeer: number;
  private readonly flushSub: Subscription;
  private flushScheduled = false;
  private readonly clock: Pick<Clock, 'defer'> | undefined;
  private stopped = false;
  private counters = { enqueued: 0, flushed: 0, batches: 0, droppedQueueFull: 0, droppedStopped: 0, sendErrors: 0, snapshotsSent: 0 };

  constructor(options: TransportActorOptions) {
    this.maxQueuedPerPeer = options.maxQueuedPerPeer ?? 4096;
    this.clock = options.clock;
    this.arrivals$ = this.inbound.asObservable();
    this.inbound$ = this.arrivals$.pipe(map((a) => a.msg));
    this.transport = options.createTransport((msg, sender) => this.inbound.next({ msg, sender }));
    this.flushSub = this.turns.pipe(observeOn(options.scheduler ?? asapScheduler)).subscribe(() => this.flush());
  }

  start(): Promise<void> {
    return this.transport.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const q of this.queues.values()) this.counters.droppedStopped += q.drain().length;
    this.flushSub.unsubscribe();
    await this.transport.stop();
    this.inbound.complete();
  }

  addPeer(nodeId: number, address: string): void {
    this.transport.addPeer(nodeId, address);
  }

  /**
   * What was already queued for the peer leaves first: a leader that applies a member's removal
   * in the same turn as it committed it still tells that member the commit (Raft §6), then the
   * link goes.
   */
  removePeer(nodeId: number): void {
    const q = this.queues.get(nodeId);
    if (q && q.size > 0 && !this.stopped) this.sendBatch(nodeId, q.drain());
    this.queues.delete(nodeId);
    this.transport.removePeer(nodeId);
  }

  /** Queue a message for its peer; it leaves at the end of this turn. Never blocks, never throws. */
  send(msg: Message): void {
    if (this.stopped) {
      this.counters.droppedStopped++;
      return;
    }
    let q = this.queues.get(msg.to);
    if (!q) {
      q = new BoundedQueue<Message>(this.maxQueuedPerPeer);
      this.queues.set(msg.to, q);
    }
    if (q.push(msg)) this.counters.droppedQueueFull++;
    this.counters.enqueued++;
    // A snapshot travels in chunks (several MsgSnap); the first chunk starts one transfer.
    if (msg.type === MessageType.MsgSnap && (msg.chunk?.offset ?? 0) === 0) this.counters.snapshotsSent++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (this.clock) this.clock.defer(() => this.flush());
      else this.turns.next();
    }
  }

  /** `send` for each message of a Ready. */
  sendAll(msgs: readonly Message[]): void {
    for (const m of msgs) this.send(m);
  }

  stats(): TransportActorStats {
    let queued = 0;
    for (const q of this.queues.values()) queued += q.size;
    return { ...this.counters, queued };
  }

  /** One turn: every peer's queue goes to the transport as one batch; one peer's failure stays its own. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    for (const [peerId, q] of this.queues) {
      if (q.size === 0) {
        this.queues.delete(peerId); // idle for a whole turn: forget it, so stray ids cannot pile up
        continue;
      }
      this.sendBatch(peerId, q.drain());
    }
  }

  private sendBatch(peerId: number, batch: Message[]): void {
    this.counters.batches++;
    this.counters.flushed += batch.length;
    try {
      if (isBatchTransport(this.transport)) this.transport.sendBatch(peerId, batch);
      else for (const m of batch) this.transport.send(m);
    } catch {
      this.counters.sendErrors++;
    }
  }
}
