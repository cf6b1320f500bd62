/**
 * Loads what a Storage holds into the in-memory form the node actor runs on: the stable log (a
 * MemoryStorage bounded by compaction, as etcd keeps its raft log), the hard state and the conf
 * state. Read in chunks so a long log is not one giant range read.
 *
 * Reading every entry anyway, it checks what only the entries' contents can show, for any Storage:
 * terms never decrease along the log (a leader appends entries of its own term after those it
 * inherited, §5.3), the first entry is not older than the snapshot before it, and the log starts
 * right after the snapshot. A log that breaks one of these was not written by Raft; it is refused
 * with StorageInconsistentError before the node runs on it.
 */
import { StorageInconsistentError } from '../errors.ts';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/raftpb.ts';
import { MemoryStorage } from './memory-storage.ts';
import type { Storage } from './storage.ts';

export interface LoadedState {
  readonly stable: MemoryStorage;
  readonly hardState: HardState;
  readonly confState: ConfState;
  readonly snapshot: Snapshot;
}

const CHUNK = 4096;

/** `where` names the store in errors (the data directory). */
export async function loadPersistedState(storage: Storage, where = '(storage)'): Promise<LoadedState> {
  const { hardState, confState } = await storage.initialState();
  const snapshot = await storage.snapshot();
  const stable = new MemoryStorage();
  if (snapshot.metadata.index > 0) stable.applySnapshotSync(snapshot);
  const first = await storage.firstIndex();
  const last = await storage.lastIndex();
  const snap = snapshot.metadata;
  if (snap.index > 0 && first !== snap.index + 1) {
    throw new StorageInconsistentError(where, 'logStart, snapshotMeta', `the log starts at index ${first} but the snapshot ends at index ${snap.index}: the entries do not follow the snapshot`);
  }
  let prev = { index: snap.index, term: snap.term };
  for (let lo = first; lo <= last; lo += CHUNK) {
    const batch = await storage.entries(lo, Math.min(last + 1, lo + CHUNK));
    prev = checkTerms(where, prev, batch);
    stable.appendSync(batch);
  }
  stable.writeSync({ hardState, confState });
  return { stable, hardState, confState, snapshot };
}

/** Terms must not decrease from the entry (or snapshot) before `batch` to its end. */
function checkTerms(where: string, prev: { index: number; term: number }, batch: readonly Entry[]): { index: number; term: number } {
  for (const e of batch) {
    if (e.term < prev.term) {
      throw new StorageInconsistentError(
        where,
        `entry/${e.index}`,
        `entry ${e.index} has term ${e.term}, older than term ${prev.term} of ${prev.index === 0 ? 'the log before it' : `index ${prev.index}`}: terms never decrease along a Raft log`,
      );
    }
    prev = { index: e.index, term: e.term };
  }
  return prev;
}
