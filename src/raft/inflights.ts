/**
 * The window of append messages in flight to one follower (etcd's tracker.Inflights).
 *
 * In the replicate state the leader pipelines appends without waiting for each ack; the window
 * caps how many (`maxInflightMsgs`) and how many bytes are outstanding, so a slow follower costs
 * bounded memory and a fast one is never stalled by round trips. Acks free the window up to an
 * index. A ring buffer: no allocation per message.
 */
export class Inflights {
  private start = 0;
  private _count = 0;
  private _bytes = 0;
  private readonly indexes: number[];
  private readonly sizes: number[];

  constructor(
    readonly capacity: number,
    readonly maxBytes = Infinity,
  ) {
    this.indexes = new Array<number>(capacity).fill(0);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  get count(): number {
    return this._count;
  }

  get bytes(): number {
    return this._bytes;
  }

  /** Records an append whose last entry is `index`, carrying `bytes` of entry data. */
  add(index: number, bytes: number): void {
    if (this.full()) throw new Error('cannot add into a full inflights window');
    const slot = (this.start + this._count) % this.capacity;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this._count++;
    this._bytes += bytes;
  }

  /** Frees every append whose last index is <= `index` (the follower acked up to it). */
  freeLE(index: number): void {
    while (this._count > 0 && this.indexes[this.start]! <= index) {
      this._bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.capacity;
      this._count--;
    }
    if (this._count === 0) this.start = 0;
  }

  /**
   * Frees the oldest slot. A heartbeat ack with a full window means the follower is alive but the
   * appends in flight may all be lost: freeing one lets the next append go out, and the follower's
   * rejection of it (a gap) sends the replicator back to probe.
   */
  freeFirstOne(): void {
    if (this._count === 0) return;
    this.freeLE(this.indexes[this.start]!);
  }

  full(): boolean {
    return this._count === this.capacity || this._bytes >= this.maxBytes;
  }

  reset(): void {
    this.start = 0;
    this._count = 0;
    this._bytes = 0;
  }
}
