/**
 * Snapshots travel in chunks (Raft §7 sends a snapshot in chunks too: InstallSnapshot carries an
 * `offset` and a `done` flag). A large state is then never one message, never one frame the
 * transport must refuse, and a lost chunk costs one chunk, not the whole state.
 *
 * The leader's replicator owns a SnapshotSender per follower in its `snapshot` state; the
 * follower's RaftState owns at most one SnapshotReceiver. Flow control is a window of chunks: the
 * leader keeps at most `window` chunks unacknowledged; the follower acks the byte offset it holds
 * so far (MsgSnapAck). A transfer that stops making progress is resumed from the last acked
 * offset after a backoff counted in heartbeats. Chunks are views into the snapshot's bytes, so the
 * sender never copies the state.
 *
 * The size a chunk *declares* is a claim from the network, so nothing is reserved for it up front,
 * and a claim above `maxSnapshotBytes` is refused before a single chunk is taken. A host with a
 * disk (RaftNode) has the receiver hand every accepted chunk out to be staged on disk, and the
 * ack for a chunk leaves only once it is written: the leader's window then bounds what the
 * follower holds in memory to a few chunks, whatever the snapshot's size. Without staging the
 * receiver keeps the chunks and joins them when the last one arrives.
 */
import type { Snapshot, SnapshotMetadata } from './raftpb.ts';

export interface ChunkToSend {
  readonly offset: number;
  readonly data: Uint8Array;
}

export class SnapshotSender {
  readonly size: number;
  /** Bytes the follower acknowledged. */
  acked = 0;
  /** Bytes sent (acked or in flight). */
  sent = 0;
  /** Heartbeat acks seen since the last progress. */
  private stalledBeats = 0;
  /** Resends so far: each doubles the patience before the next one. */
  retries = 0;
  private emptySent = false;

  constructor(
    readonly snapshot: Snapshot,
    readonly chunkSize: number,
    readonly window: number,
    readonly maxPatience = 64,
  ) {
    this.size = snapshot.data.byteLength;
  }

  get index(): number {
    return this.snapshot.metadata.index;
  }

  /** The chunks the window allows now. */
  nextChunks(): ChunkToSend[] {
    const out: ChunkToSend[] = [];
    if (this.size === 0) {
      if (!this.emptySent) {
        this.emptySent = true;
        out.push({ offset: 0, data: this.snapshot.data });
      }
      return out;
    }
    while (this.sent < this.size && this.sent - this.acked < this.window * this.chunkSize) {
      const end = Math.min(this.size, this.sent + this.chunkSize);
      out.push({ offset: this.sent, data: this.snapshot.data.subarray(this.sent, end) });
      this.sent = end;
    }
    return out;
  }

  /**
   * The follower holds the first `offset` bytes. An offset below what we acked means it lost its
   * partial copy (it restarted, or began another transfer): start again from there.
   */
  ack(offset: number): void {
    if (offset > this.acked) {
      this.acked = Math.min(offset, this.size);
      this.stalledBeats = 0;
      if (this.sent < this.acked) this.sent = this.acked;
    } else if (offset < this.acked) {
      this.acked = offset;
      this.sent = offset;
      this.emptySent = false;
    }
  }

  /**
   * A heartbeat ack arrived while the transfer is under way: the follower is alive. After
   * 2, 4, 8 ... heartbeats without progress, the unacknowledged chunks are sent again.
   */
  heartbeat(): boolean {
    this.stalledBeats++;
    const patience = Math.min(this.maxPatience, 2 ** (this.retries + 1));
    if (this.stalledBeats < patience) return false;
    this.stalledBeats = 0;
    this.retries++;
    if (this.acked >= this.size) {
      // Every byte arrived but the follower's answer (its append ack after installing) was lost:
      // send the first chunk again; a follower that installed the snapshot answers it at once.
      this.acked = 0;
    }
    this.sent = this.acked;
    this.emptySent = false;
    return true;
  }
}

/**
 * One chunk of a snapshot being received, handed to the host to stage on its disk. `index` and
 * `term` name the snapshot; `offset` 0 starts a new staging area (any earlier one is discarded).
 */
export interface StagedChunk {
  readonly index: number;
  readonly term: number;
  readonly offset: number;
  readonly data: Uint8Array;
}

/** A transfer whose every byte arrived: the host restores it before it replaces the log. */
export interface ReceivedSnapshot {
  readonly from: number;
  /** The leader's term when it sent the snapshot. */
  readonly term: number;
  readonly metadata: SnapshotMetadata;
  readonly size: number;
  /** The data, when the chunks were kept in memory; absent when they were staged on disk. */
  readonly data?: Uint8Array;
}

export class SnapshotReceiver {
  private readonly chunks: Uint8Array[] = [];
  received = 0;

  constructor(
    readonly from: number,
    readonly term: number,
    readonly metadata: SnapshotMetadata,
    /** The size the leader declared; checked against the cap by the caller, never allocated. */
    readonly size: number,
    /** Keep the chunks here (true) or only count them, the host staging them on disk (false). */
    private readonly keep = true,
  ) {}

  /** Whether a chunk belongs to this transfer. */
  matches(from: number, term: number, metadata: SnapshotMetadata, size: number): boolean {
    return this.from === from && this.term === term && this.metadata.index === metadata.index && this.metadata.term === metadata.term && this.size === size;
  }

  /**
   * Takes a chunk if it is the next one; duplicates and gaps are ignored (the ack tells the leader
   * where we are), and so is a chunk that would run past the declared size. Returns the chunk taken
   * (a copy: the input is a view into a network frame), or undefined.
   */
  accept(offset: number, data: Uint8Array): Uint8Array | undefined {
    if (offset !== this.received || data.byteLength > this.size - this.received) return undefined;
    if (data.byteLength === 0) return undefined;
    const copy = data.slice();
    if (this.keep) this.chunks.push(copy);
    this.received += data.byteLength;
    return copy;
  }

  complete(): boolean {
    return this.received >= this.size;
  }

  /** The assembled snapshot (one copy of the received bytes, made once). Only when chunks are kept. */
  snapshot(): Snapshot {
    const data = this.chunks.length === 1 ? this.chunks[0]! : new Uint8Array(this.received);
    if (this.chunks.length !== 1) {
      let at = 0;
      for (const c of this.chunks) {
        data.set(c, at);
        at += c.byteLength;
      }
    }
    this.chunks.length = 0;
    return { metadata: this.metadata, data };
  }
}

/**
 * Why a snapshot offered by the leader must be refused before a byte of it is taken, or undefined.
 * The declared size is a claim from the network; a follower that believed it would reserve that
 * much memory (or disk) at once.
 */
export function snapshotSizeRefusal(declared: number, maxSnapshotBytes: number): string | undefined {
  if (!Number.isSafeInteger(declared) || declared < 0) return `the declared size ${declared} is not a byte count`;
  if (declared > maxSnapshotBytes) return `it declares ${declared} bytes, more than maxSnapshotBytes (${maxSnapshotBytes})`;
  return undefined;
}
