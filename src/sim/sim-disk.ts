/**
 * A simulated disk, and the Storage the host loop writes through. Writes become durable only when
 * their completion event fires (the simulation decides when, from its seeded queue); a crash
 * before that loses them, as a power cut loses what was not fsynced. What is durable lives in a
 * MemoryStorage, from which a restarted node reloads. Like a data directory, it has an incarnation
 * drawn when it is created; `wipe()` replaces the disk with an empty one and a new incarnation
 * (the amnesia fault).
 *
 * Completion is reported through `write$` (an Observable that emits from the completing event),
 * never through a promise, so the storage actor's group commit runs synchronously inside the
 * simulation's step (see io/storage.ts).
 */
import { Observable, lastValueFrom } from 'rxjs';
import { encode } from '../raft/codec.ts';
import { MemoryStorage } from '../io/memory-storage.ts';
import type { InitialState, MemberIdentityRecord, Storage, StorageWrite } from '../io/storage.ts';
import type { Entry, HardState, Snapshot } from '../raft/raftpb.ts';

/** Decides when a write completes: calls `done` from a later event (or never, if the node crashes first). */
export type DiskScheduler = (write: StorageWrite, done: () => void) => void;

export class SimDisk implements Storage {
  /** What survives a crash. */
  durable: MemoryStorage;
  /** Storage writes that completed (after group commit: one per fsync). */
  writes = 0;
  /** Writes lost to crashes. */
  lostWrites = 0;
  /** Times this disk was wiped. */
  wipes = 0;
  /**
   * Completed writes that were not synced (`sync: false`, a commit index only): in the page cache,
   * not on the platter. The next synced write makes them durable first, in order; a power cut
   * (`powerCut`, what a crash is in the simulation) loses them.
   */
  private unsynced: StorageWrite[] = [];
  private scheduler: DiskScheduler | undefined;

  /** `incarnation`: hex, drawn by the simulation from its seed so runs replay exactly. */
  constructor(incarnation?: string) {
    this.durable = new MemoryStorage({ incarnation });
  }

  /** The simulation plugs in when writes complete. */
  attach(scheduler: DiskScheduler): void {
    this.scheduler = scheduler;
  }

  /** The incarnation of what the disk holds now. */
  get incarnation(): string {
    return this.durable.incarnation;
  }

  /** Loses everything, as when a data directory is removed; the next start finds an empty store with a new incarnation. */
  wipe(incarnation: string): void {
    this.unsynced = [];
    this.durable = new MemoryStorage({ incarnation });
    this.wipes++;
  }

  write$(batch: StorageWrite): Observable<void> {
    return new Observable<void>((subscriber) => {
      const scheduler = this.scheduler;
      if (!scheduler) throw new Error('the simulated disk is not attached to a simulation');
      let live = true;
      scheduler(batch, () => {
        if (!live) return;
        this.complete(batch);
        subscriber.next();
        subscriber.complete();
      });
      return () => {
        live = false;
      };
    });
  }

  write(batch: StorageWrite): Promise<void> {
    return lastValueFrom(this.write$(batch));
  }

  /** A write's completion event fired: durable now, or in the page cache for an unsynced write. */
  complete(write: StorageWrite): void {
    if (write.sync === false) {
      this.unsynced.push(write);
    } else {
      this.flushUnsynced();
      this.makeDurable(write);
    }
    this.writes++;
  }

  /** Power is lost: the unsynced writes are gone. Returns how many. */
  powerCut(): number {
    const lost = this.unsynced.length;
    this.unsynced = [];
    return lost;
  }

  /** An fsync covers everything written before it. */
  private flushUnsynced(): void {
    for (const w of this.unsynced) this.makeDurable(w);
    this.unsynced = [];
  }

  private makeDurable(write: StorageWrite): void {
    const snap = write.snapshot;
    if (snap && snap.metadata.index <= this.durable.snapshotSync().metadata.index) {
      // An older snapshot than the one already on disk (a local snapshot overtaken by an installed
      // one): nothing to do for it; the rest of the write still applies.
      this.durable.writeSync({ ...write, snapshot: undefined });
    } else {
      this.durable.writeSync(write);
    }
  }

  /**
   * A fresh in-memory copy of the durable state, for a node that restarts. The staging area of a
   * snapshot being received is not copied: a restart empties it, as DiskStorage does at open.
   */
  load(): MemoryStorage {
    // Restarted without a power cut: what the page cache held is read back.
    this.flushUnsynced();
    const copy = new MemoryStorage({ incarnation: this.durable.incarnation });
    const snap = this.durable.snapshotSync();
    if (snap.metadata.index > 0) copy.applySnapshotSync(snap);
    const first = this.durable.firstIndexSync();
    const last = this.durable.lastIndexSync();
    if (last >= first) copy.appendSync(this.durable.entriesSync(first, last + 1));
    copy.writeSync({ hardState: this.durable.hardStateSync(), confState: this.durable.confStateSync(), peerIncarnations: this.durable.peerIncarnationsSync() });
    return copy;
  }

  /** The bytes of the log and the node's state (hard state, conf state, entries), msgpack-encoded: what grows with the log. */
  logBytes(): Uint8Array {
    const first = this.durable.firstIndexSync();
    const last = this.durable.lastIndexSync();
    return encode({
      hardState: this.durable.hardStateSync(),
      confState: this.durable.confStateSync(),
      entries: last >= first ? this.durable.entriesSync(first, last + 1) : [],
    });
  }

  /** The bytes of the stored snapshot (metadata and state machine data), msgpack-encoded: what compaction trades the log for. */
  snapshotBytes(): Uint8Array {
    return encode(this.durable.snapshotSync());
  }

  // ----- the rest of io's Storage, read from what is durable -----

  initialState(): Promise<InitialState> {
    return Promise.resolve({ hardState: this.durable.hardStateSync(), confState: this.durable.confStateSync() });
  }
  memberIdentity(): Promise<MemberIdentityRecord> {
    return Promise.resolve({ incarnation: this.durable.incarnation, peerIncarnations: this.durable.peerIncarnationsSync() });
  }
  saveState(st: HardState): Promise<void> {
    return this.write({ hardState: st });
  }
  entries(lo: number, hi: number): Promise<Entry[]> {
    return this.durable.entries(lo, hi);
  }
  term(i: number): Promise<number> {
    return this.durable.term(i);
  }
  lastIndex(): Promise<number> {
    return this.durable.lastIndex();
  }
  firstIndex(): Promise<number> {
    return this.durable.firstIndex();
  }
  snapshot(): Promise<Snapshot> {
    return this.durable.snapshot();
  }
  saveEntries(entries: readonly Entry[]): Promise<void> {
    return this.write({ entries });
  }
  saveSnapshot(snap: Snapshot): Promise<void> {
    return this.write({ snapshot: snap });
  }
  compact(compactIndex: number): Promise<void> {
    return this.durable.compact(compactIndex);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
