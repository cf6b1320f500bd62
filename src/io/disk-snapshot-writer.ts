/**
 * Writing a snapshot to a DiskStorage in chunks, for snapshots too big to hold in memory (one
 * being received from the leader, §7): nothing changes for readers until `finish()`.
 */
import { StoppedError } from '../errors.ts';
import type { BatchOp } from './disk-db.ts';
import { snapshotChunkKey } from './disk-keys.ts';
import type { SnapshotContent } from './disk-write-plan.ts';

const noop = (): void => {};

/** Streams a snapshot to disk chunk by chunk; nothing changes for readers until `finish()`. */
export interface SnapshotWriter {
  /** Appends bytes; every full chunk is written (durably) as soon as it fills. */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the snapshot current in one durable batch, like `saveSnapshot`; returns its size in bytes. */
  finish(): Promise<number>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

interface SnapshotWriterHost {
  putChunk(key: Uint8Array, value: Uint8Array): Promise<void>;
  finish(content: SnapshotContent): Promise<void>;
  discard(generation: number): Promise<void>;
}

/**
 * Re-chunks whatever sizes the caller writes into fixed-size chunks under a fresh generation.
 * Full chunks are written with `sync` as they fill (so the final batch, which makes them current,
 * never refers to chunks that a power loss could still take away); the last partial chunk goes
 * into the final batch itself.
 */
export class ChunkedSnapshotWriter implements SnapshotWriter {
  private pending: Uint8Array;
  private filled = 0;
  private written = 0;
  private chunks = 0;
  private done = false;
  private failure: unknown;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly generation: number,
    private readonly chunkSize: number,
    private readonly host: SnapshotWriterHost,
  ) {
    this.pending = new Uint8Array(chunkSize);
  }

  write(bytes: Uint8Array): Promise<void> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.tail.then(() => this.append(bytes));
    this.tail = run.catch((err: unknown) => {
      this.failure ??= err;
    });
    return run;
  }

  async finish(): Promise<number> {
    this.assertWritable();
    this.done = true;
    await this.tail;
    if (this.failure !== undefined) {
      await this.host.discard(this.generation).catch(noop);
      throw this.failure;
    }
    const chunkPuts: BatchOp[] = [];
    if (this.filled > 0) {
      chunkPuts.push({ type: 'put', key: snapshotChunkKey(this.generation, this.chunks), value: this.pending.subarray(0, this.filled) });
    }
    const size = this.written;
    try {
      await this.host.finish({ generation: this.generation, size, chunkSize: this.chunkSize, chunkPuts });
    } catch (err) {
      await this.host.discard(this.generation).catch(noop);
      throw err;
    }
    return size;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.tail;
    await this.host.discard(this.generation);
  }

  private assertWritable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.done) throw new StoppedError('snapshot writer (finish or abort was called)');
  }

  private async append(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(this.chunkSize - this.filled, bytes.length - offset);
      this.pending.set(bytes.subarray(offset, offset + n), this.filled);
      this.filled += n;
      this.written += n;
      offset += n;
      if (this.filled === this.chunkSize) {
        await this.host.putChunk(snapshotChunkKey(this.generation, this.chunks), this.pending);
        this.chunks++;
        this.pending = new Uint8Array(this.chunkSize);
        this.filled = 0;
      }
    }
  }
}
