/**
 * DiskStorage: the durable `Storage`, on LevelDB through `level` (the seed's `NewDiskStorage`).
 *
 * Why it is shaped the way it is:
 *
 * - Raft is only safe if term, vote and log survive a crash: Figure 2 of the Raft paper lists them
 *   as "persistent state on all servers (updated on stable storage before responding to RPCs)".
 *   So every change Raft needs durable is ONE LevelDB batch written with `{ sync: true }`. LevelDB applies a
 *   batch atomically and `sync` fsyncs its write-ahead log before the promise resolves, so after a
 *   crash a write is either entirely there or entirely absent — never half a log overwrite.
 * - The log follows etcd's MemoryStorage: a dummy "log start" entry holds the index and term of the
 *   compaction point, so `term(firstIndex - 1)` needs no special case (§5.3's consistency check
 *   asks for the term of the entry just before the ones being appended).
 * - Entries live under fixed-width big-endian keys, so LevelDB's key order is log order: the last
 *   entry is one reverse seek, a range is one forward iterator.
 * - Entries at or below the log start are garbage that reads never look at, so compaction and
 *   snapshots only move the log start in their durable batch and delete the old entries afterwards,
 *   off the write path, without blocking reads. Entries *above* the last index are never left
 *   behind: a log overwrite deletes the old tail in the same batch that writes the new entries,
 *   because the last index is recovered on open as "the highest entry key".
 * - Snapshot data is stored in fixed-size chunks, so a leader can stream a large snapshot to a
 *   follower (§7, InstallSnapshot "offset"/"data") without holding it in memory.
 *
 * Reads are not serialized behind writes (the node keeps its log in memory and reads the disk when
 * it starts); mutations are serialized among themselves so each is planned against the state the
 * previous one left.
 *
 * The file holds the store itself; its parts live beside it: the key layout (disk-keys.ts), the
 * records (disk-records.ts), what is checked before a write (disk-input-checks.ts), the plan of one
 * durable batch (disk-write-plan.ts, disk-db.ts), opening (disk-open.ts), snapshot chunks
 * (disk-snapshot-chunks.ts, disk-snapshot-writer.ts) and the staging area (disk-snapshot-staging.ts).
 */
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import { CompactedError, SnapshotOutOfDateError, StorageCorruptionError, StoppedError, UnavailableError } from '../errors.ts';
import { encode } from '../raft/codec.ts';
import type { PeerIncarnations } from '../raft/member-identity.ts';
import type { Entry, HardState, Snapshot, SnapshotMetadata } from '../raft/raftpb.ts';
import { type Db, getRecord, writeDurably } from './disk-db.ts';
import { checkEntries, checkHardState, checkPeerIncarnations, checkSnapshotMetadata, checkUint } from './disk-input-checks.ts';
import { type KeyRange, diskKeys, entryKey, entryRange, generationRange, readUint64 } from './disk-keys.ts';
import { checkConsistency, checkOpenOptions, collectGarbage, inDirectory, loadIdentity, loadState, openLocked } from './disk-open.ts';
import {
  type IdentityRecord,
  type SnapshotRecord,
  corrupt,
  decodeEntry,
  decodePeerIncarnations,
  encodeConfState,
  encodePeerIncarnations,
  encodeSnapshotRecord,
  snapshotMetadataOf,
} from './disk-records.ts';
import { readSnapshotBytes, splitSnapshotData } from './disk-snapshot-chunks.ts';
import { planStaging, readStagedSnapshot, stagedSnapshotBytes } from './disk-snapshot-staging.ts';
import { ChunkedSnapshotWriter, type SnapshotWriter } from './disk-snapshot-writer.ts';
import { type DurableState, type SnapshotContent, WritePlan, planEntries } from './disk-write-plan.ts';
import type { DiskStorageOptions } from './disk-storage-options.ts';

export type { DiskStorageOptions } from './disk-storage-options.ts';
import type { InitialState, MemberIdentityRecord, Storage, StorageWrite } from './storage.ts';

/** Default snapshot chunk size: large enough that per-key overhead vanishes, small enough to stream. */
export const DEFAULT_SNAPSHOT_CHUNK_SIZE = 1 << 20;

const noop = (): void => {};

export class DiskStorage implements Storage {
  private state: DurableState;
  /** Tail of the mutation queue: each write is planned against the state the previous one left. */
  private queue: Promise<void> = Promise.resolve();
  /** Log batches submitted to LevelDB and not yet resolved; see `missingEntries`. */
  private batchesInFlight = 0;
  private nextGeneration: number;
  private closing = false;

  private constructor(
    private readonly db: Db,
    /** The data directory. */
    readonly dir: string,
    private readonly identity: IdentityRecord & { readonly incarnation: string },
    state: DurableState,
    private readonly chunkSize: number,
    private peers: PeerIncarnations,
  ) {
    this.state = state;
    this.nextGeneration = state.snapshot.generation + 1;
  }

  /**
   * Opens (creating if needed) the store in `dir`. Fails with StorageLockedError when another
   * process or another DiskStorage holds it, StorageIdentityError when it belongs to another node
   * or cluster, and StorageCorruptionError when a record does not decode.
   */
  static async open(dir: string, opts: DiskStorageOptions = {}): Promise<DiskStorage> {
    checkOpenOptions(opts);
    mkdirSync(dir, { recursive: true });
    const db: Db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await openLocked(db, dir);
    try {
      const identity = await loadIdentity(db, dir, opts);
      const state = await loadState(db, opts.snapshotChunkSize ?? DEFAULT_SNAPSHOT_CHUNK_SIZE);
      await checkConsistency(db, dir, state, opts.checkRaftInvariants ?? true);
      const peers = (await getRecord(db, diskKeys.peerIncarnations, decodePeerIncarnations)) ?? {};
      await collectGarbage(db, state);
      return new DiskStorage(db, dir, identity, state, opts.snapshotChunkSize ?? DEFAULT_SNAPSHOT_CHUNK_SIZE, peers);
    } catch (err) {
      await db.close().catch(noop);
      throw inDirectory(err, dir);
    }
  }

  /** The node id recorded in the data directory, if one was ever given. */
  get nodeId(): number | undefined {
    return this.identity.nodeId;
  }

  /** The cluster id recorded in the data directory, if one was ever given. */
  get clusterId(): string | undefined {
    return this.identity.clusterId;
  }

  /** The random id drawn when this directory was created (hex): the member's identity. */
  get incarnation(): string {
    return this.identity.incarnation;
  }

  // --- reads -----------------------------------------------------------------------------------

  async initialState(): Promise<InitialState> {
    this.assertOpen();
    return { hardState: this.state.hardState, confState: this.state.confState };
  }

  async memberIdentity(): Promise<MemberIdentityRecord> {
    this.assertOpen();
    return { incarnation: this.identity.incarnation, peerIncarnations: this.peers };
  }

  async firstIndex(): Promise<number> {
    this.assertOpen();
    return this.state.log.startIndex + 1;
  }

  async lastIndex(): Promise<number> {
    this.assertOpen();
    return this.state.log.lastIndex;
  }

  async term(i: number): Promise<number> {
    this.assertOpen();
    return this.termOf(i);
  }

  /** `term` without the open check, for mutations already queued when `close()` was called. */
  private async termOf(i: number): Promise<number> {
    const log = this.state.log;
    if (i < log.startIndex) throw new CompactedError(i, log.startIndex + 1);
    if (i > log.lastIndex) throw new UnavailableError(i, log.lastIndex);
    if (i === log.startIndex) return log.startTerm;
    if (i === log.lastIndex) return log.lastTerm;
    const [entry] = await this.readEntries(i, i + 1);
    return entry!.term;
  }

  async entries(lo: number, hi: number): Promise<Entry[]> {
    this.assertOpen();
    const log = this.state.log;
    if (lo <= log.startIndex) throw new CompactedError(lo, log.startIndex + 1);
    if (hi > log.lastIndex + 1) throw new UnavailableError(hi - 1, log.lastIndex);
    if (lo >= hi) return [];
    return this.readEntries(lo, hi);
  }

  async snapshot(): Promise<Snapshot> {
    this.assertOpen();
    const record = this.state.snapshot;
    const data = await readSnapshotBytes(this.db, record, 0, record.size);
    return { data, metadata: snapshotMetadataOf(record) };
  }

  /** The current snapshot's metadata and data size, without reading its data. */
  snapshotInfo(): { readonly metadata: SnapshotMetadata; readonly size: number } {
    this.assertOpen();
    const record = this.state.snapshot;
    return { metadata: snapshotMetadataOf(record), size: record.size };
  }

  /**
   * Reads `length` bytes of the current snapshot's data from `offset` (fewer at the end of the
   * data), touching only the chunks that hold them. Pass `index` when streaming one snapshot over
   * several calls: if the snapshot was replaced meanwhile the call fails with
   * SnapshotOutOfDateError instead of mixing bytes of two snapshots.
   */
  async readSnapshotChunk(offset: number, length: number, index?: number): Promise<Uint8Array> {
    this.assertOpen();
    checkUint('offset', offset);
    checkUint('length', length);
    const record = this.state.snapshot;
    if (index !== undefined && index !== record.index) throw new SnapshotOutOfDateError(index, record.index);
    return readSnapshotBytes(this.db, record, offset, Math.min(record.size, offset + length));
  }

  // --- writes ----------------------------------------------------------------------------------

  async saveState(st: HardState): Promise<void> {
    return this.write({ hardState: st });
  }

  async saveEntries(entries: readonly Entry[]): Promise<void> {
    return this.write({ entries });
  }

  async saveSnapshot(snap: Snapshot): Promise<void> {
    return this.write({ snapshot: snap });
  }

  /**
   * Applies snapshot, entries, hard state and conf state in one durable batch (in that order, as
   * MemoryStorage does), so a crash can never leave a vote without its term or an overwrite
   * half-done.
   */
  async write(batch: StorageWrite): Promise<void> {
    this.assertOpen();
    if (batch.entries && batch.entries.length > 0) checkEntries(batch.entries);
    if (batch.hardState) checkHardState(batch.hardState);
    if (batch.snapshot) checkSnapshotMetadata(batch.snapshot.metadata);
    if (batch.peerIncarnations) checkPeerIncarnations(batch.peerIncarnations);
    return this.exclusive(async () => {
      const plan = new WritePlan(this.state);
      await planStaging(this.db, plan, batch);
      if (batch.snapshot) {
        const content = this.splitSnapshotData(batch.snapshot.data);
        await this.planSnapshot(plan, batch.snapshot.metadata, content);
      }
      if (batch.entries && batch.entries.length > 0) planEntries(plan, batch.entries);
      if (batch.hardState) {
        plan.hardState = batch.hardState;
        plan.put(diskKeys.hardState, encode({ term: batch.hardState.term, vote: batch.hardState.vote, commit: batch.hardState.commit }));
      }
      if (batch.confState) {
        plan.confState = batch.confState;
        plan.put(diskKeys.confState, encodeConfState(batch.confState));
      }
      if (batch.peerIncarnations) plan.put(diskKeys.peerIncarnations, encodePeerIncarnations(batch.peerIncarnations));
      await this.commit(plan, batch.sync !== false);
      if (batch.peerIncarnations) this.peers = batch.peerIncarnations;
    });
  }

  /**
   * The staged snapshot at `index`, joined into one buffer: read once its last chunk is written,
   * to restore it (the one full copy a received snapshot ever takes in memory).
   */
  async readStagedSnapshot(index: number, size: number): Promise<Uint8Array> {
    this.assertOpen();
    return readStagedSnapshot(this.db, this.dir, index, size);
  }

  /**
   * How far the staging area reaches (offset + length of its last chunk), read from disk, touching
   * one chunk: for tests and status while a snapshot is being received.
   */
  async stagedSnapshotBytes(): Promise<number> {
    this.assertOpen();
    return stagedSnapshotBytes(this.db);
  }

  /**
   * Drops the entries below `compactIndex` (which becomes the log start, like etcd's Compact).
   * Durable first (the new log start), then the old keys are deleted in the background of the
   * mutation queue: reads never look below the log start, so they are not blocked meanwhile.
   */
  async compact(compactIndex: number): Promise<void> {
    this.assertOpen();
    return this.exclusive(async () => {
      const log = this.state.log;
      if (compactIndex <= log.startIndex) throw new CompactedError(compactIndex, log.startIndex + 1);
      if (compactIndex > log.lastIndex) throw new UnavailableError(compactIndex, log.lastIndex);
      const plan = new WritePlan(this.state);
      const term = await this.termOf(compactIndex);
      plan.log = { ...log, startIndex: compactIndex, startTerm: term };
      plan.setLogStart({ index: compactIndex, term });
      plan.garbage.push(entryRange(log.startIndex, compactIndex + 1));
      await this.commit(plan);
    });
  }

  /**
   * Starts writing a snapshot in chunks (for snapshots too big to hold in memory, e.g. one being
   * received from the leader, §7). The chunks are invisible until `finish()`; a crash before then
   * leaves garbage that the next open deletes.
   */
  beginSnapshot(metadata: SnapshotMetadata): SnapshotWriter {
    this.assertOpen();
    checkSnapshotMetadata(metadata);
    const current = this.state.snapshot.index;
    if (current > 0 && metadata.index <= current) throw new SnapshotOutOfDateError(metadata.index, current);
    return new ChunkedSnapshotWriter(this.nextGeneration++, this.chunkSize, {
      putChunk: (key, value) => this.putDurably(key, value),
      finish: (content) => this.finishSnapshot(metadata, content),
      discard: (generation) => this.exclusive(() => this.db.clear(generationRange(generation))),
    });
  }

  /** Waits for queued writes and deletions, then closes the database and releases its lock. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (let tail = this.queue; ; tail = this.queue) {
      await tail;
      if (tail === this.queue) break;
    }
    await this.db.close();
  }

  // --- internals -------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) throw new StoppedError(`disk storage at ${this.dir}`);
  }

  /** Runs a mutation after every earlier one, whatever their outcome. */
  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.then(noop, noop);
    return run;
  }

  /** The one durable batch of a write; the cached state moves only once it is on disk. */
  private async commit(plan: WritePlan, sync = true): Promise<void> {
    if (plan.ops.length === 0) return;
    this.batchesInFlight++;
    try {
      await writeDurably(this.db, plan.ops, sync);
    } finally {
      this.batchesInFlight--;
    }
    this.state = plan.result();
    for (const range of plan.garbage) this.deleteGarbage(range);
  }

  /**
   * Deletes keys nothing reads any more. A failure here loses nothing (the keys stay ignored) and
   * the next open deletes them again, so it is not reported.
   */
  private deleteGarbage(range: KeyRange): void {
    this.exclusive(() => this.db.clear(range)).catch(noop);
  }

  private async putDurably(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.assertOpen();
    await writeDurably(this.db, [{ type: 'put', key, value }]);
  }

  /** Splits whole snapshot data into chunk puts for the write's own batch, under a fresh generation. */
  private splitSnapshotData(data: Uint8Array): SnapshotContent {
    return splitSnapshotData(this.nextGeneration++, this.chunkSize, data);
  }

  private finishSnapshot(metadata: SnapshotMetadata, content: SnapshotContent): Promise<void> {
    this.assertOpen();
    return this.exclusive(async () => {
      const plan = new WritePlan(this.state);
      await this.planSnapshot(plan, metadata, content);
      await this.commit(plan);
    });
  }

  /**
   * Plans replacing the log with a snapshot (§7): entries it covers are dropped; entries after it
   * are kept only if the log agrees with the snapshot at its index ("if existing log entry has same
   * index and term as snapshot's last included entry, retain log entries following it").
   */
  private async planSnapshot(plan: WritePlan, metadata: SnapshotMetadata, content: SnapshotContent): Promise<void> {
    const current = plan.snapshot.index;
    if (current > 0 && metadata.index <= current) throw new SnapshotOutOfDateError(metadata.index, current);
    const { index, term } = metadata;
    const log = plan.log;
    const keepsTail = index > log.startIndex && index <= log.lastIndex && (await this.termOf(index)) === term;
    if (keepsTail) {
      plan.log = { startIndex: index, startTerm: term, lastIndex: log.lastIndex, lastTerm: log.lastTerm };
    } else {
      plan.deleteEntriesAbove(index, log.lastIndex);
      plan.log = { startIndex: index, startTerm: term, lastIndex: index, lastTerm: term };
    }
    if (index > log.startIndex) plan.garbage.push(entryRange(log.startIndex, index + 1));
    plan.setLogStart({ index, term });
    for (const op of content.chunkPuts) plan.ops.push(op);
    const record: SnapshotRecord = {
      index,
      term,
      confState: metadata.confState,
      size: content.size,
      chunkSize: content.chunkSize,
      generation: content.generation,
    };
    plan.put(diskKeys.snapshotMeta, encodeSnapshotRecord(record));
    plan.garbage.push(generationRange(plan.snapshot.generation));
    plan.snapshot = record;
    plan.confState = metadata.confState;
    plan.put(diskKeys.confState, encodeConfState(metadata.confState));
  }

  /** Entries in [lo, hi) read with one iterator (an implicit LevelDB snapshot: atomic w.r.t. batches). */
  private async readEntries(lo: number, hi: number): Promise<Entry[]> {
    const out: Entry[] = [];
    const it = this.db.iterator(entryRange(lo, hi));
    try {
      for (;;) {
        const rows = await it.nextv(Math.min(1024, hi - lo - out.length) || 1);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const expected = lo + out.length;
          if (readUint64(key, 1) !== expected) throw this.holeAt(expected);
          out.push(decodeEntry(key, value));
        }
      }
    } finally {
      await it.close();
    }
    if (out.length < hi - lo) throw this.missingEntries(lo + out.length);
    return out;
  }

  /**
   * The log ends early: either a log batch that truncates it is landing right now (the read saw
   * the new log before the cached bounds moved — the answer is then the one a read just after the
   * write would get), or an entry between first and last index is gone from disk.
   */
  private missingEntries(index: number): Error {
    if (this.batchesInFlight > 0) return new UnavailableError(index, index - 1);
    return this.holeAt(index);
  }

  private holeAt(index: number): StorageCorruptionError {
    const log = this.state.log;
    return corrupt(entryKey(index), `entry is missing although the log spans ${log.startIndex + 1}..${log.lastIndex}`);
  }
}
