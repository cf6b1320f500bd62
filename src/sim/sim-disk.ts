/**
 * A simulated disk. Writes become durable only when their completion event fires; a crash
 * before that loses them, as a power cut loses what was not fsynced. What is durable lives in a
 * MemoryStorage, from which a restarted node reloads.
 */
import { encode } from '../io/codec.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import type { StorageWrite } from '../io/storage.ts';

export class SimDisk {
  /** What survives a crash. */
  readonly durable = new MemoryStorage();
  /** Number of writes that completed. */
  writes = 0;
  /** Writes lost to crashes. */
  lostWrites = 0;

  /** Makes a write durable (its completion event fired). */
  complete(write: StorageWrite): void {
    const snap = write.snapshot;
    if (snap && snap.metadata.index <= this.durable.snapshotSync().metadata.index) {
      // An older snapshot than the one already on disk (a local snapshot overtaken by an installed
      // one): nothing to do for it; the rest of the write still applies.
      this.durable.writeSync({ ...write, snapshot: undefined });
    } else {
      this.durable.writeSync(write);
    }
    this.writes++;
  }

  /**
   * A fresh in-memory copy of the durable state, for a node that restarts. The staging area of a
   * snapshot being received is not copied: a restart empties it, as DiskStorage does at open.
   */
  load(): MemoryStorage {
    const copy = new MemoryStorage();
    const snap = this.durable.snapshotSync();
    if (snap.metadata.index > 0) copy.applySnapshotSync(snap);
    const first = this.durable.firstIndexSync();
    const last = this.durable.lastIndexSync();
    if (last >= first) copy.appendSync(this.durable.entriesSync(first, last + 1));
    copy.writeSync({ hardState: this.durable.hardStateSync(), confState: this.durable.confStateSync() });
    return copy;
  }

  /** The bytes this disk holds: hard state, conf state, snapshot and entries, msgpack-encoded. */
  image(): Uint8Array {
    const first = this.durable.firstIndexSync();
    const last = this.durable.lastIndexSync();
    return encode({
      hardState: this.durable.hardStateSync(),
      confState: this.durable.confStateSync(),
      snapshot: this.durable.snapshotSync(),
      entries: last >= first ? this.durable.entriesSync(first, last + 1) : [],
    });
  }
}
