/**
 * The simulation's default state machine: it folds every applied entry into a running hash, so
 * two nodes that applied the same entries in the same order have the same digest, whatever the
 * mix of log replay and snapshots that got them there. Its snapshot is the digest itself, plus
 * optional padding so tests can make snapshots of any size.
 */
import { decode, encode } from '../io/codec.ts';

export interface SimStateMachine {
  apply(data: Uint8Array, index: number): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export class DigestStateMachine implements SimStateMachine {
  digest = 0x811c9dc5;
  applied = 0;

  constructor(private readonly snapshotPadding = 0) {}

  apply(data: Uint8Array, index: number): number {
    let h = this.digest ^ index;
    h = Math.imul(h, 0x01000193) >>> 0;
    for (let i = 0; i < data.byteLength; i++) {
      h ^= data[i]!;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    this.digest = h;
    this.applied = index;
    return h;
  }

  snapshot(): Uint8Array {
    return encode({ digest: this.digest, applied: this.applied, padding: new Uint8Array(this.snapshotPadding) });
  }

  restore(data: Uint8Array): void {
    const s = decode<{ digest: number; applied: number }>(data);
    this.digest = s.digest;
    this.applied = s.applied;
  }
}
