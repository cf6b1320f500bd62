/**
 * The benchmark's replicated state: it counts applied entries and their bytes. Small on purpose,
 * so the figures measure Raft and not an application; its snapshot is 16 bytes.
 */
import type { StateMachine } from '../../src/index.ts';

export class CountingStateMachine implements StateMachine<number> {
  entries = 0;
  bytes = 0;
  lastIndex = 0;

  apply(data: Uint8Array, index: number): number {
    this.entries++;
    this.bytes += data.byteLength;
    this.lastIndex = index;
    return this.entries;
  }

  snapshot(): Uint8Array {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setFloat64(0, this.entries);
    v.setFloat64(8, this.bytes);
    return b;
  }

  restore(data: Uint8Array): void {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.entries = v.getFloat64(0);
    this.bytes = v.getFloat64(8);
  }
}
