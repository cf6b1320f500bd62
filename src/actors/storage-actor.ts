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
import { Observable, type OperatorFunction, Subject, type Subscription, defer, from, map, concatMap } from 'rxjs';
import { StoppedError, StorageWriteFailedError } from '../errors.ts';
import type { Entry } from '../raft/raftpb.ts';
import type { Storage, StorageWrite } from '../io/storage.ts';
import { isDiskFull } from '../io/disk-full.ts';

export interface StorageActorOptions {
  /**
   * At most this many entries are merged into one storage write (default 8192); more go into the
   * next one. Bounds the size of a single LevelDB batch and the latency of the writes behind it.
   */
  readonly maxBatchEntries?: number;
  /** At most this many bytes of entry data are merged into one storage write (default 4 MiB). */
  readonly maxBatchBytes?: number;
  /**
   * Called after each durable write with the entries it carried and its duration in seconds (for
   * fsync latency and group-commit batch size metrics). Once per write, never per entry.
   */
  readonly onWrite?: (entries: number, seconds: number) => void;
}

const DEFAULT_MAX_BATCH_ENTRIES = 8192;
const DEFAULT_MAX_BATCH_BYTES = 4 << 20;

/** A write waiting for its turn, tagged with the sequence number `submit` returned. */
export interface QueuedWrite {
  readonly seq: number;
  readonly write: StorageWrite;
}

/** Several queued writes merged into one `storage.write()`; `lastSeq` is the highest it covers. */
export interface MergedWrite {
  readonly write: StorageWrite;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

export interface StorageActorStats {
  /** Writes submitted. */
  readonly submitted: number;
  /** The highest durable sequence number. */
  readonly persisted: number;
  /** `storage.write()` calls made: one durable batch (one fsync) each. */
  readonly storageWrites: number;
  /** Entries handed to `storage.write()` after merging. */
  readonly entriesWritten: number;
}

// ---------------------------------------------------------------------------------------------
// The group-commit operator
// ---------------------------------------------------------------------------------------------

/**
 * Calls `commit` with the first item at once, then, each time a commit completes, with everything
 * that arrived while it was running. Never more than one commit runs. Completes after the source
 * completes and the last commit finishes; errors as soon as a commit (or the source) errors.
 *
 * Hand-written because the stock operators do not fit: `bufferWhen` with a synchronous closing
 * notifier spins, `exhaustMap` drops what arrives during a commit, `bufferTime` adds latency.
 */
export function groupCommit<T, R>(commit: (batch: T[]) => Observable<R>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let pending: T[] = [];
      let committing: Subscription | undefined;
      let sourceDone = false;

      const commitPending = (): void => {
        if (pending.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        const batch = pending;
        pending = [];
        let finished = false;
        const sub = commit(batch).subscribe({
          next: (value) => subscriber.next(value),
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            finished = true;
            committing = undefined;
            commitPending();
          },
        });
        // A commit that completed synchronously has already started the next one.
        if (!finished) committing = sub;
      };

      const sourceSub = source.subscribe({
        next: (item) => {
          pending.push(item);
          if (committing === undefined) commitPending();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (committing === undefined) commitPending();
        },
      });

      return () => {
        sourceSub.unsubscribe();
        committing?.unsubscribe();
      };
    });
}

// ---------------------------------------------------------------------------------------------
// Merging queued writes
// ---------------------------------------------------------------------------------------------

export interface MergeLimits {
  readonly maxBatchEntries: number;
  readonly maxBatchBytes: number;
}

function dataBytes(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += e.data.length;
  return n;
}

/**
 * Accumulates queued writes into one StorageWrite whose effect equals applying them one by one.
 *
 * - Entries concatenate; a later list starting at or before the merged last index truncates the
 *   merged list there first (the log overwrite of §5.3, done in memory before it reaches disk).
 *   A list starting after the merged end (a gap) or before its start begins a new write, so the
 *   storage still refuses a gap exactly where writing one by one would.
 * - The latest hard state and conf state win (each later write replaces them anyway).
 * - Staged snapshot chunks concatenate; emptying the staging area only starts an accumulator.
 * - A snapshot only ever *starts* an accumulator: whether the storage keeps the log tail after a
 *   snapshot depends on the log the snapshot meets (§7), so a snapshot is never merged after
 *   entries or after another snapshot; it begins the next batch. Entries that follow a snapshot and
 *   that it covers entirely are dropped, as the storage would drop them.
 *
 * Exact for every sequence Raft produces, which never writes entries at or below the storage's
 * compaction point (unstable entries always follow the snapshot; only applied entries are
 * compacted). A write lying entirely below that point is a no-op for the storage; merged with
 * earlier entries it would instead truncate them.
 */
class WriteAccumulator {
  private entries: Entry[] | readonly Entry[];
  private ownsEntries = false;
  private bytes: number;
  private write: StorageWrite;
  readonly firstSeq: number;
  private lastSeq: number;

  constructor(first: QueuedWrite) {
    this.write = first.write;
    this.entries = first.write.entries ?? [];
    this.bytes = dataBytes(this.entries);
    this.firstSeq = first.seq;
    this.lastSeq = first.seq;
  }

  /** Whether `next` can join without changing the outcome or exceeding the limits. */
  canAbsorb(next: StorageWrite, limits: MergeLimits): boolean {
    // Emptying the staging area comes first in a write: it must not overtake chunks already merged.
    if (next.snapshot || next.discardStagedSnapshot) return false;
    const incoming = this.uncoveredEntries(next.entries ?? []);
    if (incoming.length === 0 || this.entries.length === 0) return this.withinLimits(incoming, limits);
    const mergedFirst = this.entries[0]!.index;
    const mergedLast = this.entries[this.entries.length - 1]!.index;
    // A gap: the storage must see (and refuse) it on its own. An overwrite reaching below the merged
    // list would hide a refusal of the list's own start, so it starts a new write too (rare: two
    // conflicting appends within one fsync).
    if (incoming[0]!.index > mergedLast + 1 || incoming[0]!.index < mergedFirst) return false;
    return this.withinLimits(incoming, limits);
  }

  absorb(next: QueuedWrite): void {
    const incoming = this.uncoveredEntries(next.write.entries ?? []);
    if (incoming.length > 0) this.appendEntries(incoming);
    const { hardState, confState, stagedSnapshotChunks: staged, peerIncarnations } = next.write;
    const mergedStaged = staged && staged.length > 0 ? [...(this.write.stagedSnapshotChunks ?? []), ...staged] : undefined;
    this.write = {
      ...this.write,
      ...(hardState ? { hardState } : {}),
      ...(confState ? { confState } : {}),
      ...(mergedStaged ? { stagedSnapshotChunks: mergedStaged } : {}),
      ...(peerIncarnations ? { peerIncarnations } : {}),
    };
    this.lastSeq = next.seq;
  }

  result(): MergedWrite {
    const write: StorageWrite = this.entries.length > 0 ? { ...this.write, entries: this.entries } : this.write;
    return { write, firstSeq: this.firstSeq, lastSeq: this.lastSeq };
  }

  private withinLimits(incoming: readonly Entry[], limits: MergeLimits): boolean {
    if (this.entries.length === 0) return true;
    return this.entries.length + incoming.length <= limits.maxBatchEntries && this.bytes + dataBytes(incoming) <= limits.maxBatchBytes;
  }

  /** Entries a snapshot at the head of this batch already covers would be skipped by the storage. */
  private uncoveredEntries(entries: readonly Entry[]): readonly Entry[] {
    const snap = this.write.snapshot;
    if (!snap || entries.length === 0) return entries;
    const skip = snap.metadata.index + 1 - entries[0]!.index;
    return skip <= 0 ? entries : entries.slice(skip);
  }

  private appendEntries(incoming: readonly Entry[]): void {
    const first = incoming[0]!.index;
    const mergedFirst = this.entries.length > 0 ? this.entries[0]!.index : Infinity;
    if (first <= mergedFirst) {
      this.entries = incoming;
      this.ownsEntries = false;
      this.bytes = dataBytes(incoming);
      return;
    }
    const owned = this.ownEntries();
    const keep = first - mergedFirst;
    for (let k = keep; k < owned.length; k++) this.bytes -= owned[k]!.data.length;
    owned.length = keep;
    for (const e of incoming) {
      owned.push(e);
      this.bytes += e.data.length;
    }
  }

  /** Copies the first write's entry list before changing it: it belongs to the submitter. */
  private ownEntries(): Entry[] {
    if (!this.ownsEntries) {
      this.entries = this.entries.slice();
      this.ownsEntries = true;
    }
    return this.entries as Entry[];
  }
}

/**
 * Merges queued writes (in submit order) into as few storage writes as keep the outcome identical
 * to writing them one by one. Usually one; more when a snapshot, a gap or the limits split them.
 */
export function mergeWrites(queued: readonly QueuedWrite[], limits: MergeLimits): MergedWrite[] {
  const merged: MergedWrite[] = [];
  let acc: WriteAccumulator | undefined;
  for (const item of queued) {
    if (acc !== undefined && acc.canAbsorb(item.write, limits)) {
      acc.absorb(item);
      continue;
    }
    if (acc !== undefined) merged.push(acc.result());
    acc = new WriteAccumulator(item);
  }
  if (acc !== undefined) merged.push(acc.result());
  return merged;
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
          const onWrite = this.onWrite;
          if (!onWrite) return this.storage.write(m.write);
          const started = performance.now();
          return this.storage.write(m.write).then(() => onWrite(entries, (performance.now() - started) / 1000));
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
