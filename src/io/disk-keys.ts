/**
 * The key layout of a DiskStorage directory. Keys are a one-letter prefix (so raw dumps stay
 * readable) followed by fixed-width big-endian numbers, so LevelDB's key order is log order: the
 * last entry is one reverse seek, a range of entries one forward iterator.
 */

/** First byte of every key: one ASCII letter per record kind, so raw dumps stay readable. */
export const KeyPrefix = {
  /** 'e' + u64 index: one log entry. */
  entry: 0x65,
  /** 'h': the HardState (term, vote, commit). */
  hardState: 0x68,
  /** 'c': the ConfState. */
  confState: 0x63,
  /** 'l': the log start (etcd's dummy `ents[0]`): index and term of the compaction point. */
  logStart: 0x6c,
  /** 's': the current snapshot's metadata and where its chunks are. */
  snapshotMeta: 0x73,
  /** 'k' + u64 generation + u64 chunk number: one chunk of snapshot data. */
  snapshotChunk: 0x6b,
  /** 'i': which node and cluster this directory belongs to, its incarnation, and the format version. */
  identity: 0x69,
  /**
   * 't' + u64 snapshot index + u64 byte offset: one chunk of a snapshot being received from the
   * leader, as it arrived. Staging only: never read as this node's snapshot, emptied at open.
   */
  stagedChunk: 0x74,
  /** 'p': the incarnations of peers this member recorded (docs/membership.md). */
  peerIncarnations: 0x70,
} as const;

/** The on-disk format this code reads and writes; recorded in the identity record. */
export const FORMAT_VERSION = 1;

/** Default snapshot chunk size: large enough that per-key overhead vanishes, small enough to stream. */
export const DEFAULT_SNAPSHOT_CHUNK_SIZE = 1 << 20;

const TWO_POW_32 = 2 ** 32;

function writeUint64(target: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  const low = value % TWO_POW_32;
  target[offset] = high >>> 24;
  target[offset + 1] = (high >>> 16) & 0xff;
  target[offset + 2] = (high >>> 8) & 0xff;
  target[offset + 3] = high & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = (low >>> 16) & 0xff;
  target[offset + 6] = (low >>> 8) & 0xff;
  target[offset + 7] = low & 0xff;
}

export function readUint64(source: Uint8Array, offset: number): number {
  const high = ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
  const low = ((source[offset + 4]! << 24) | (source[offset + 5]! << 16) | (source[offset + 6]! << 8) | source[offset + 7]!) >>> 0;
  return high * TWO_POW_32 + low;
}

function singletonKey(prefix: number): Uint8Array {
  return Uint8Array.of(prefix);
}

export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = KeyPrefix.entry;
  writeUint64(key, 1, index);
  return key;
}

/** A prefix and two fixed-width big-endian numbers: ordered by the first, then the second. */
function twoNumberKey(prefix: number, first: number, second: number): Uint8Array {
  const key = new Uint8Array(17);
  key[0] = prefix;
  writeUint64(key, 1, first);
  writeUint64(key, 9, second);
  return key;
}

export function snapshotChunkKey(generation: number, chunk: number): Uint8Array {
  return twoNumberKey(KeyPrefix.snapshotChunk, generation, chunk);
}

export function stagedChunkKey(index: number, offset: number): Uint8Array {
  return twoNumberKey(KeyPrefix.stagedChunk, index, offset);
}

/** The whole staging area. */
export const stagingRange = { gte: Uint8Array.of(KeyPrefix.stagedChunk), lt: Uint8Array.of(KeyPrefix.stagedChunk + 1) };

/**
 * The key layout, exported for tools that inspect a data directory (and for tests that damage one
 * on purpose). Keys are `Uint8Array`s; values are msgpack maps (snapshot chunks are raw bytes).
 */
export const diskKeys = {
  entry: entryKey,
  hardState: singletonKey(KeyPrefix.hardState),
  confState: singletonKey(KeyPrefix.confState),
  logStart: singletonKey(KeyPrefix.logStart),
  snapshotMeta: singletonKey(KeyPrefix.snapshotMeta),
  snapshotChunk: snapshotChunkKey,
  stagedChunk: stagedChunkKey,
  identity: singletonKey(KeyPrefix.identity),
  peerIncarnations: singletonKey(KeyPrefix.peerIncarnations),
} as const;

/** A human name for a key, used in corruption errors: `entry/42`, `hardState`, `snapshotChunk/3/0`. */
export function describeKey(key: Uint8Array): string {
  const prefix = key[0];
  if (prefix === KeyPrefix.entry && key.length === 9) return `entry/${readUint64(key, 1)}`;
  if (prefix === KeyPrefix.snapshotChunk && key.length === 17) return `snapshotChunk/${readUint64(key, 1)}/${readUint64(key, 9)}`;
  if (prefix === KeyPrefix.stagedChunk && key.length === 17) return `stagedChunk/${readUint64(key, 1)}/${readUint64(key, 9)}`;
  if (key.length === 1) {
    for (const [name, p] of Object.entries(KeyPrefix)) if (p === prefix) return name;
  }
  return `0x${Buffer.from(key).toString('hex')}`;
}

/** Keys in [gte, lt), for iterators and `db.clear`. */
export interface KeyRange {
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
}

/** Entry keys for indexes in [lo, hi). */
export function entryRange(lo: number, hi: number): KeyRange {
  return { gte: entryKey(lo), lt: entryKey(hi) };
}

/** Every entry key: 'e' + anything sorts below the next prefix byte. */
export const allEntries: KeyRange = { gte: Uint8Array.of(KeyPrefix.entry), lt: Uint8Array.of(KeyPrefix.entry + 1) };

/** Every chunk of one snapshot generation. */
export function generationRange(generation: number): KeyRange {
  return { gte: snapshotChunkKey(generation, 0), lt: snapshotChunkKey(generation + 1, 0) };
}
