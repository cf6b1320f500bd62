/**
 * A simulated disk. Writes become durable only when their completion event fires; a crash
 * before that loses them, as a power cut loses what was not fsynced. What is durable lives in a
 * MemoryStorage, from which a restarted node reloads. Like a data directory, it has an
 * incarnation drawn when it is created; `wipe()` replaces the disk with an empty one and a new
 * incarnation (the amnesia fault).
 */
import { encode } from '../raft/codec.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import type { StorageWrite } from '../io/storage.ts';

export class SimDisk {
  /** What survives a crash. */
  durable: MemoryStorage;
  /** Number of writes that completed. */
  writes = 0;
  /** Writes lost to crashes. */
  lostWrites = 0;
  /** Times this disk was wiped. */
  wipes = 0;

  /** `incarnation`: hex, drawn by the simulation from its seed so runs replay exactly. */
  constructor(incarnation?: string) {
    this.durable = new MemoryStorage({ incarnation });
  }

  /** The incarnation of what the disk holds now. */
  get incarnation(): string {
    return this.durable.incarnation;
  }

  /** Loses everything, as when a data directory is removed; the next start finds an empty store with a new incarnation. */
  wipe(incarnation: string): void {
    this.durable = new MemoryStorage({ incarnation });
    this.wipes++;
  }

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
    const copy = new MemoryStorage({ incarnation: this.durable.incarnation });
    const snap = this.durable.snapshotSync();
    if (snap.metadata.index > 0) copy.applySnapshotSync(snap);
    const first = this.durable.firstIndexSync();
    const last = this.durable.lastIndexSync();
    if (last >= first) copy.appendSync(this.durable.entriesSync(first, last + 1));
    copy.writeSync({ hardState: this.durable.hardStateSync(), confState: this.durable.confStateSync(), peerIncarnations: this.durable.peerIncarnationsSync() });
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
