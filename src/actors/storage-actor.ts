/**
 * The storage actor: every durable write of a node goes through here, one at a time, with group
 * commit.
 *
 * Why: Raft may not answer an RPC before its persistent state is on stable storage (Raft paper,
 * Figure 2), so every Ready costs an fsync. An fsync takes about as long for one entry as for a
 * thousand, so while one write is on its way to disk, everything submitted meanwhile is merged into
 * the *next* single `storage.write()` — one `sync: true` batch. An idle actor writes at once: group
 * commit never adds latency, it only shares fsyncs under load.
 *
 * The node learns what is durable from `persisted$` (sequence numbers, in submit order) and only
 * then sends the acknowledgements and votes that depend on it. A failed write stops the actor for
 * good: it is never reported as persisted, neither is anything after it, and `persisted$` errors —
 * a node must not acknowledge what is not on disk.
 */
import { type Observable, Subject, defer, from, map, concatMap, tap } from 'rxjs';
import { StoppedError, StorageWriteFailedError } from '../errors.ts';
import type { Storage, StorageWrite } from '../io/storage.ts';
import { isDiskFull } from '../io/disk-full.ts';
import { groupCommit } from './group-commit.ts';
import { type MergeLimits, type QueuedWrite, mergeWrites } from './merge-writes.ts';

export interface StorageActorOptions {
  /**
   * At most this many entries are merged into one storage write (default 8192); more go into the
   * next one. Bounds the size of a single LevelDB batch and the latency of the writes behind it.
   */
  readonly maxBatchEntries?: number;
  /** At most this many bytes of entry data are merged into one storage write (default 4 MiB). */
  readonly maxBatchBytes?: number;
  /**
   * Called after each synced write (one fsync) with the entries it carried and its duration in
   * seconds (for fsync latency and group-commit batch size metrics). Once per write, never per
   * entry; a commit-only write (`sync: false`) is no fsync and is not reported.
   */
  readonly onWrite?: (entries: number, seconds: number) => void;
}

const DEFAULT_MAX_BATCH_ENTRIES = 8192;
const DEFAULT_MAX_BATCH_BYTES = 4 << 20;

export interface StorageActorStats {
  /** Writes submitted. */
  readonly submitted: number;
  /** The highest durable sequence number. */
  readonly persisted: number;
  /** `storage.write()` calls made: one durable batch (one fsync) each. */
  readonly storageWrites: number;
  /** Entries handed to `storage.write()` after merging. */
  readonly entriesWritten: number;
  /** Of `storageWrites`, those that waited for an fsync (all but commit-only writes). */
  readonly syncedWrites: number;
}

// ---------------------------------------------------------------------------------------------
// The actor
// ---------------------------------------------------------------------------------------------

export class StorageActor {
  /**
   * Resolves once write `seq` (and every one before it) is durable; rejects if the actor failed
   * or stopped first. For effects that must follow a write, such as reading back staged chunks.
   */
  whenPersisted(seq: number): Promise<void> {
    if (this.lastPersisted >= seq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const sub = this.persisted.subscribe({
        next: (s) => {
          if (s < seq) return;
          sub.unsubscribe();
          resolve();
        },
        error: (err: unknown) => reject(err),
        complete: () => reject(new StoppedError('storage actor')),
      });
    });
  }

  /** Emits the highest sequence number whose write (and all before it) is durable, after each group commit. */
  readonly persisted$: Observable<number>;
  /** Disk failures, surfaced for the node's error stream. */
  readonly errors$: Observable<Error>;

  private readonly submissions = new Subject<QueuedWrite>();
  private readonly persisted = new Subject<number>();
  private readonly errors = new Subject<Error>();
  private readonly limits: MergeLimits;
  private readonly onWrite: ((entries: number, seconds: number) => void) | undefined;
  private readonly drained: Promise<void>;
  private lastSubmitted = 0;
  private lastPersisted = 0;
  private storageWrites = 0;
  private entriesWritten = 0;
  private syncedWrites = 0;
  private failure: StorageWriteFailedError | undefined;
  private stopping = false;

  constructor(
    private readonly storage: Storage,
    options: StorageActorOptions = {},
  ) {
    this.limits = {
      maxBatchEntries: positiveOption('maxBatchEntries', options.maxBatchEntries, DEFAULT_MAX_BATCH_ENTRIES),
      maxBatchBytes: positiveOption('maxBatchBytes', options.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES),
    };
    this.onWrite = options.onWrite;
    this.persisted$ = this.persisted.asObservable();
    this.errors$ = this.errors.asObservable();
    this.drained = new Promise<void>((resolve) => {
      this.submissions.pipe(groupCommit((batch: QueuedWrite[]) => this.commitGroup(batch))).subscribe({
        next: (seq) => this.reportPersisted(seq),
        error: (err: unknown) => {
          this.reportFailure(err);
          resolve();
        },
        complete: () => {
          this.persisted.complete();
          this.errors.complete();
          resolve();
        },
      });
    });
  }

  /** The highest durable sequence number so far. */
  get persistedSeq(): number {
    return this.lastPersisted;
  }

  /** Counters for metrics and benchmarks. */
  get stats(): StorageActorStats {
    return {
      submitted: this.lastSubmitted,
      persisted: this.lastPersisted,
      storageWrites: this.storageWrites,
      entriesWritten: this.entriesWritten,
      syncedWrites: this.syncedWrites,
    };
  }

  /**
   * Queues a durable write and returns its sequence number (1, 2, 3, ...). Never blocks: when the
   * actor is idle the write starts at once, otherwise it joins the next group commit. Throws after
   * a write failed (StorageWriteFailedError) or after `stop()` (StoppedError).
   */
  submit(write: StorageWrite): number {
    if (this.failure) throw this.failure;
    if (this.stopping) throw new StoppedError('storage actor');
    const seq = ++this.lastSubmitted;
    this.submissions.next({ seq, write });
    return seq;
  }

  /**
   * Waits for every queued write to finish, then stops accepting writes (`persisted$` and
   * `errors$` complete). Does not close the Storage: whoever opened it closes it. Resolves even if
   * a write failed; the failure was reported on `errors$` and `persisted$`.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.submissions.complete();
    }
    await this.drained;
  }

  /** Writes one group: its merged writes one after another, reporting each as it becomes durable. */
  private commitGroup(batch: QueuedWrite[]): Observable<number> {
    const merged = mergeWrites(batch, this.limits);
    return from(merged).pipe(
      concatMap((m) =>
        defer(() => {
          const entries = m.write.entries?.length ?? 0;
          this.storageWrites++;
          this.entriesWritten += entries;
          const synced = m.write.sync !== false;
          if (synced) this.syncedWrites++;
          const onWrite = synced ? this.onWrite : undefined;
          const storage = this.storage;
          // A store that completes by callback (the simulation's disk) is never waited on through a promise.
          if (storage.write$) {
            if (!onWrite) return storage.write$(m.write);
            const began = performance.now();
            return storage.write$(m.write).pipe(tap(() => onWrite(entries, (performance.now() - began) / 1000)));
          }
          if (!onWrite) return storage.write(m.write);
          const started = performance.now();
          return storage.write(m.write).then(() => onWrite(entries, (performance.now() - started) / 1000));
        }).pipe(map(() => m.lastSeq)),
      ),
    );
  }

  private reportPersisted(seq: number): void {
    this.lastPersisted = seq;
    this.persisted.next(seq);
  }

  private reportFailure(err: unknown): void {
    const cause = err instanceof Error ? err : new Error(String(err));
    this.failure = new StorageWriteFailedError(
      `write after sequence ${this.lastPersisted} was not persisted: ${isDiskFull(cause) ? 'disk full (ENOSPC): ' : ''}${cause.message}`,
      { cause },
    );
    this.errors.next(this.failure);
    this.persisted.error(this.failure);
    this.errors.complete();
  }
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`StorageActorOptions.${name} must be a positive integer, got ${value}`);
  return value;
}
