/**
 * The plan of one DiskStorage write: the operations of its one durable batch, the state they lead
 * to (cached in memory once the batch is on disk, so boundary reads touch no disk), and the garbage
 * to delete afterwards.
 */
import { UnavailableError } from '../errors.ts';
import { encode } from '../raft/codec.ts';
import type { ConfState, Entry, HardState } from '../raft/raftpb.ts';
import type { BatchOp } from './disk-db.ts';
import { type KeyRange, diskKeys, entryKey } from './disk-keys.ts';
import { type LogStart, type SnapshotRecord, encodeEntry } from './disk-records.ts';

/** The log's bounds: the dummy start entry and the last entry, both cached with their terms. */
export interface LogBounds {
  readonly startIndex: number;
  readonly startTerm: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

/** What is on disk as of the last completed batch, cached so boundary reads touch no disk. */
export interface DurableState {
  readonly log: LogBounds;
  readonly snapshot: SnapshotRecord;
  readonly hardState: HardState;
  readonly confState: ConfState;
}

/** Snapshot data about to become current: chunks already staged under `generation`, and the rest. */
export interface SnapshotContent {
  readonly generation: number;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkPuts: readonly BatchOp[];
}

/**
 * One durable write being planned: the batch operations, the state they lead to, and the garbage
 * (ranges below the new log start, replaced snapshot chunks) to delete once the batch is durable.
 */
export class WritePlan {
  readonly ops: BatchOp[] = [];
  readonly garbage: KeyRange[] = [];
  log: LogBounds;
  snapshot: SnapshotRecord;
  hardState: HardState;
  confState: ConfState;

  constructor(state: DurableState) {
    this.log = state.log;
    this.snapshot = state.snapshot;
    this.hardState = state.hardState;
    this.confState = state.confState;
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
  }

  /** Deletes the entries in (newLast, oldLast] so no stale entry outlives a truncation. */
  deleteEntriesAbove(newLast: number, oldLast: number): void {
    for (let i = newLast + 1; i <= oldLast; i++) this.ops.push({ type: 'del', key: entryKey(i) });
  }

  setLogStart(start: LogStart): void {
    this.put(diskKeys.logStart, encode(start));
  }

  result(): DurableState {
    return { log: this.log, snapshot: this.snapshot, hardState: this.hardState, confState: this.confState };
  }
}

/**
 * Plans appending entries with etcd's rules: entries already compacted are skipped, existing
 * entries at and above the first new index are replaced (§5.3: "if an existing entry conflicts with
 * a new one, delete the existing entry and all that follow it"), and a gap is refused.
 */
export function planEntries(plan: WritePlan, entries: readonly Entry[]): void {
  const log = plan.log;
  const first = log.startIndex + 1;
  const last = entries[0]!.index + entries.length - 1;
  if (last < first) return;
  const skip = first > entries[0]!.index ? first - entries[0]!.index : 0;
  const freshFirst = entries[skip]!.index;
  if (freshFirst > log.lastIndex + 1) throw new UnavailableError(freshFirst, log.lastIndex);
  for (let k = skip; k < entries.length; k++) plan.put(entryKey(entries[k]!.index), encodeEntry(entries[k]!));
  plan.deleteEntriesAbove(last, log.lastIndex);
  plan.log = { ...log, lastIndex: last, lastTerm: entries[entries.length - 1]!.term };
}
