/**
 * What DiskStorage checks before it writes: whatever it writes must be readable back. Entries are
 * keyed by index, so a gap or a non-integer index would silently corrupt the log; a number that
 * is not a non-negative safe integer would come back as something else.
 */
import { isIncarnation, type PeerIncarnations } from '../raft/member-identity.ts';
import type { Entry, HardState, SnapshotMetadata } from '../raft/raftpb.ts';
import { show } from './disk-records.ts';

export function checkUint(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
}

/** Entries are keyed by index, so a gap or a non-integer index would silently corrupt the log. */
export function checkEntries(entries: readonly Entry[]): void {
  const first = entries[0]!.index;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    if (e.index !== first + k) {
      throw new RangeError(`entries must have consecutive indexes: entry ${k} has index ${e.index}, expected ${first + k}`);
    }
    checkUint('entry index', e.index);
    checkUint('entry term', e.term);
    if (!(e.data instanceof Uint8Array)) throw new TypeError(`entry ${e.index} data must be a Uint8Array`);
  }
}

export function checkHardState(hs: HardState): void {
  checkUint('hardState.term', hs.term);
  checkUint('hardState.vote', hs.vote);
  checkUint('hardState.commit', hs.commit);
}

export function checkSnapshotMetadata(m: SnapshotMetadata): void {
  checkUint('snapshot index', m.index);
  checkUint('snapshot term', m.term);
}

export function checkPeerIncarnations(peers: PeerIncarnations): void {
  for (const [id, p] of Object.entries(peers)) {
    if (!isIncarnation(p?.incarnation) || !Number.isSafeInteger(p.since) || p.since < 0) {
      throw new TypeError(`invalid peer incarnation for node ${id}: ${show(p)}`);
    }
  }
}
