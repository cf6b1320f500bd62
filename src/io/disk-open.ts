/**
 * Opening a DiskStorage directory: the lock, the identity check, the durable state read into
 * memory, the consistency checks, and the garbage a crash may have left.
 */
import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  StorageCorruptionError,
  StorageFullError,
  StorageIdentityError,
  StorageInconsistentError,
  StorageLockedError,
  StorageOpenError,
} from '../errors.ts';
import { encode } from '../raft/codec.ts';
import { INCARNATION_BYTES } from '../raft/member-identity.ts';
import { emptyConfState, emptyHardState } from '../raft/raftpb.ts';
import { isDiskFull } from './disk-full.ts';
import { type Db, firstRow, getRecord, writeDurably } from './disk-db.ts';
import { FORMAT_VERSION, KeyPrefix, type KeyRange, allEntries, diskKeys, entryKey, entryRange, generationRange, readUint64, snapshotChunkKey, stagingRange } from './disk-keys.ts';
import {
  type IdentityRecord,
  type LogStart,
  corrupt,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeIdentity,
  decodeLogStart,
  decodeSnapshotRecord,
} from './disk-records.ts';
import type { DiskStorageOptions } from './disk-storage-options.ts';
import type { DurableState, LogBounds } from './disk-write-plan.ts';
import { findInconsistency } from './durable-consistency.ts';

export function checkOpenOptions(opts: DiskStorageOptions): void {
  if (opts.nodeId !== undefined && (!Number.isSafeInteger(opts.nodeId) || opts.nodeId <= 0)) {
    throw new ConfigError('nodeId', `must be a positive safe integer, got ${opts.nodeId}`);
  }
  if (opts.clusterId !== undefined && (typeof opts.clusterId !== 'string' || opts.clusterId === '')) {
    throw new ConfigError('clusterId', 'must be a non-empty string');
  }
  const size = opts.snapshotChunkSize;
  if (size !== undefined && (!Number.isSafeInteger(size) || size <= 0)) {
    throw new ConfigError('snapshotChunkSize', `must be a positive safe integer, got ${size}`);
  }
}

/**
 * Opens the database, turning LevelDB's failures into typed errors that keep the underlying error
 * as `cause`: abstract-level reports every open failure as "Database failed to open" and puts the
 * reason (a lock, corruption, "No space left on device") one level down, where a log line that
 * prints only the message would lose it.
 */
export async function openLocked(db: Db, dir: string): Promise<void> {
  try {
    await db.open();
  } catch (err) {
    throw openFailure(err, dir);
  }
}

/** A damaged record found while opening: the error names the data directory as well as the key. */
export function inDirectory(err: unknown, dir: string): unknown {
  if (!(err instanceof StorageCorruptionError) || err instanceof StorageInconsistentError || err.message.includes(dir)) return err;
  return new StorageCorruptionError(err.key, `${err.detail} (data directory ${dir})`, { cause: err });
}

/** The typed error for a failed `db.open()`, naming the reason found anywhere in the cause chain. */
function openFailure(err: unknown, dir: string): Error {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'LEVEL_LOCKED') return new StorageLockedError(dir, { cause: err });
  if (cause?.code === 'LEVEL_CORRUPTION') {
    return new StorageCorruptionError(`(LevelDB files in ${dir})`, cause.message ?? 'corrupted', { cause: err });
  }
  const reason = causeMessages(err);
  if (isDiskFull(err)) return new StorageFullError(dir, `LevelDB says: ${reason}`, { cause: err });
  return new StorageOpenError(dir, reason, { cause: err });
}

/** The messages of a cause chain joined, so the specific one ("IO error: …: No space left on device") is not lost behind "Database failed to open". */
function causeMessages(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (typeof e.message === 'string' && e.message !== '') parts.push(e.message);
  }
  return parts.length === 0 ? String(err) : parts.join(': ');
}

/**
 * Checks the directory belongs to this node and cluster, recording them the first time they are
 * known. Raft's persistent state is per server: another server's term and vote must never be used.
 */
export async function loadIdentity(db: Db, dir: string, opts: DiskStorageOptions): Promise<IdentityRecord & { readonly incarnation: string }> {
  const stored = await getRecord(db, diskKeys.identity, decodeIdentity);
  if (stored?.nodeId !== undefined && opts.nodeId !== undefined && stored.nodeId !== opts.nodeId) {
    throw new StorageIdentityError(dir, 'nodeId', stored.nodeId, opts.nodeId);
  }
  if (stored?.clusterId !== undefined && opts.clusterId !== undefined && stored.clusterId !== opts.clusterId) {
    throw new StorageIdentityError(dir, 'clusterId', stored.clusterId, opts.clusterId);
  }
  const nodeId = stored?.nodeId ?? opts.nodeId;
  const clusterId = stored?.clusterId ?? opts.clusterId;
  // Drawn once, when the directory is created (or first opened by a build that records it).
  const incarnation = stored?.incarnation ?? randomBytes(INCARNATION_BYTES).toString('hex');
  const identity = {
    format: FORMAT_VERSION,
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(clusterId === undefined ? {} : { clusterId }),
    incarnation,
  };
  if (stored === undefined || stored.nodeId !== nodeId || stored.clusterId !== clusterId || stored.incarnation !== incarnation) {
    await writeDurably(db, [{ type: 'put', key: diskKeys.identity, value: encode(identity) }]);
  }
  return identity;
}

export async function loadState(db: Db, chunkSize: number): Promise<DurableState> {
  const hardState = (await getRecord(db, diskKeys.hardState, decodeHardState)) ?? emptyHardState;
  const confState = (await getRecord(db, diskKeys.confState, decodeConfState)) ?? emptyConfState;
  const start = (await getRecord(db, diskKeys.logStart, decodeLogStart)) ?? { index: 0, term: 0 };
  const snapshot = (await getRecord(db, diskKeys.snapshotMeta, decodeSnapshotRecord)) ?? {
    index: 0,
    term: 0,
    confState: emptyConfState,
    size: 0,
    chunkSize,
    generation: 0,
  };
  const log = await loadLogBounds(db, start);
  return { log, snapshot, hardState, confState };
}

/** The last entry is the highest entry key above the log start; the first must follow the start. */
async function loadLogBounds(db: Db, start: LogStart): Promise<LogBounds> {
  const afterStart = { gte: entryKey(start.index + 1), lt: allEntries.lt };
  const last = await firstRow(db, { ...afterStart, reverse: true });
  if (last === undefined) return { startIndex: start.index, startTerm: start.term, lastIndex: start.index, lastTerm: start.term };
  const lastEntry = decodeEntry(last[0], last[1]);
  const first = await firstRow(db, afterStart);
  const firstIndex = readUint64(first![0], 1);
  if (firstIndex !== start.index + 1) {
    throw corrupt(entryKey(start.index + 1), `entry is missing: the log starts after ${start.index} but the first entry is ${firstIndex}`);
  }
  decodeEntry(first![0], first![1]);
  return { startIndex: start.index, startTerm: start.term, lastIndex: lastEntry.index, lastTerm: lastEntry.term };
}

/**
 * Refuses a directory whose records contradict each other (see durable-consistency.ts): a log
 * ending below the durable commit, a hard state older than the log, a hole in the entries, a log
 * that does not follow the snapshot, missing snapshot chunks. Reads only keys and the records
 * `loadState` already decoded, so it costs one key scan of the log.
 */
export async function checkConsistency(db: Db, dir: string, state: DurableState, raftInvariants: boolean): Promise<void> {
  const hasHardState = (await db.get(diskKeys.hardState)) !== undefined;
  const hasConfState = (await db.get(diskKeys.confState)) !== undefined;
  const hasSnapshot = (await db.get(diskKeys.snapshotMeta)) !== undefined;
  const { log, snapshot } = state;
  const entries = await scanKeys(db, entryRange(log.startIndex + 1, log.lastIndex + 1), (key) => readUint64(key, 1), log.startIndex + 1);
  const chunks = hasSnapshot ? await scanKeys(db, generationRange(snapshot.generation), (key) => readUint64(key, 9), 0) : { count: 0, missing: undefined };
  const found = findInconsistency({
    hardState: hasHardState ? state.hardState : undefined,
    confState: hasConfState ? state.confState : undefined,
    log,
    missingEntry: entries.missing,
    snapshot: hasSnapshot ? { ...snapshot, chunkCount: chunks.count, missingChunk: chunks.missing } : undefined,
    raftInvariants,
  });
  if (found) throw new StorageInconsistentError(dir, found.key, found.detail);
}

/** Counts the keys of a range whose numbers should run first, first+1, ...; finds the first one missing. */
async function scanKeys(db: Db, range: KeyRange, numberOf: (key: Uint8Array) => number, first: number): Promise<{ count: number; missing: number | undefined }> {
  let count = 0;
  let missing: number | undefined;
  const it = db.keys(range);
  try {
    for (;;) {
      const keys = await it.nextv(4096);
      if (keys.length === 0) break;
      for (const key of keys) {
        if (missing === undefined && numberOf(key) !== first + count) missing = first + count;
        count++;
      }
    }
  } finally {
    await it.close();
  }
  return { count, missing };
}

/**
 * Deletes what a crash may have left: entries at or below the log start, unreferenced snapshot
 * chunks, and the staging area of a snapshot that was being received (the transfer starts again
 * from the leader; staged bytes are never taken for a snapshot).
 */
export async function collectGarbage(db: Db, state: DurableState): Promise<void> {
  await db.clear(stagingRange);
  await db.clear({ gte: allEntries.gte, lt: entryKey(state.log.startIndex + 1) });
  const generation = state.snapshot.generation;
  await db.clear({ gte: Uint8Array.of(KeyPrefix.snapshotChunk), lt: snapshotChunkKey(generation, 0) });
  await db.clear({ gte: snapshotChunkKey(generation + 1, 0), lt: Uint8Array.of(KeyPrefix.snapshotChunk + 1) });
}
