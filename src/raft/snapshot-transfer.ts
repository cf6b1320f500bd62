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
 * The receiver keeps the chunks it accepted and joins them only when the last one arrives: the
 * size a chunk *declares* is a claim from the network, so nothing is reserved for it up front
 * (memory grows with bytes actually received), and the host refuses a claim above its
 * `maxSnapshotBytes` before taking a single chunk.
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

export class SnapshotReceiver {
  private readonly chunks: Uint8Array[] = [];
  received = 0;

  constructor(
    readonly from: number,
    readonly term: number,
    readonly metadata: SnapshotMetadata,
    /** The size the leader declared; checked against the cap by the caller, never allocated. */
    readonly size: number,
  ) {}

  /** Whether a chunk belongs to this transfer. */
  matches(from: number, term: number, metadata: SnapshotMetadata, size: number): boolean {
    return this.from === from && this.term === term && this.metadata.index === metadata.index && this.metadata.term === metadata.term && this.size === size;
  }

  /**
   * Takes a chunk if it is the next one; duplicates and gaps are ignored (the ack tells the leader
   * where we are), and so is a chunk that would run past the declared size. The chunk is copied:
   * it is a view into a network frame.
   */
  accept(offset: number, data: Uint8Array): void {
    if (offset !== this.received || data.byteLength > this.size - this.received) return;
    if (data.byteLength === 0) return;
    this.chunks.push(data.slice());
    this.received += data.byteLength;
  }

  complete(): boolean {
    return this.received >= this.size;
  }

  /** The assembled snapshot (one copy of the received bytes, made once). */
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
