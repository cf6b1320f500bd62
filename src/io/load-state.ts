/**
 * Loads what a Storage holds into the in-memory form the node actor runs on: the stable log (a
 * MemoryStorage bounded by compaction, as etcd keeps its raft log), the hard state and the conf
 * state. Read in chunks so a long log is not one giant range read.
 */
import type { ConfState, HardState, Snapshot } from '../raft/raftpb.ts';
import { MemoryStorage } from './memory-storage.ts';
import type { Storage } from './storage.ts';

export interface LoadedState {
  readonly stable: MemoryStorage;
  readonly hardState: HardState;
  readonly confState: ConfState;
  readonly snapshot: Snapshot;
}

const CHUNK = 4096;

export async function loadPersistedState(storage: Storage): Promise<LoadedState> {
  const { hardState, confState } = await storage.initialState();
  const snapshot = await storage.snapshot();
  const stable = new MemoryStorage();
  if (snapshot.metadata.index > 0) stable.applySnapshotSync(snapshot);
  const first = await storage.firstIndex();
  const last = await storage.lastIndex();
  for (let lo = first; lo <= last; lo += CHUNK) {
    stable.appendSync(await storage.entries(lo, Math.min(last + 1, lo + CHUNK)));
  }
  stable.writeSync({ hardState, confState });
  return { stable, hardState, confState, snapshot };
}
