/**
 * The simulation's default state machine: it folds every applied entry into a running hash, so
 * two nodes that applied the same entries in the same order have the same digest, whatever the
 * mix of log replay and snapshots that got them there. Its snapshot is the digest itself, plus
 * optional padding so tests can make snapshots of any size.
 */
import { decode, encode } from '../raft/codec.ts';

export interface SimStateMachine {
  apply(data: Uint8Array, index: number): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

/** The digest of the empty state. */
export const emptyDigest = 0x811c9dc5;

/**
 * One step of the running hash (FNV-1a over the index and the bytes). The SafetyChecker folds the
 * applied history with the same function, so it knows the digest a correct state machine has at
 * every index and can check snapshots against it.
 */
export function foldDigest(digest: number, index: number, data: Uint8Array): number {
  let h = digest ^ index;
  h = Math.imul(h, 0x01000193) >>> 0;
  for (let i = 0; i < data.byteLength; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class DigestStateMachine implements SimStateMachine {
  digest = emptyDigest;
  applied = 0;

  constructor(private readonly snapshotPadding = 0) {}

  apply(data: Uint8Array, index: number): number {
    this.digest = foldDigest(this.digest, index, data);
    this.applied = index;
    return this.digest;
  }

  snapshot(): Uint8Array {
    return encode({ digest: this.digest, applied: this.applied, padding: new Uint8Array(this.snapshotPadding) });
  }

  /** The digest a snapshot of this state machine holds. */
  static digestOf(snapshot: Uint8Array): number {
    return decode<{ digest: number }>(snapshot).digest;
  }

  restore(data: Uint8Array): void {
    const s = decode<{ digest: number; applied: number }>(data);
    this.digest = s.digest;
    this.applied = s.applied;
  }
}
