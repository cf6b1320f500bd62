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
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Level } from 'level';
import {
  CompactedError,
  ConfigError,
  SnapshotOutOfDateError,
  StorageCorruptionError,
  StorageFullError,
  StorageIdentityError,
  StorageInconsistentError,
  StorageLockedError,
  StorageOpenError,
  StoppedError,
  UnavailableError,
} from '../errors.ts';
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
  type SnapshotMetadata,
  emptyConfState,
  emptyHardState,
} from '../raft/raftpb.ts';
import { INCARNATION_BYTES, type PeerIncarnation, type PeerIncarnations, isIncarnation } from '../raft/member-identity.ts';
import { decode, encode } from '../raft/codec.ts';
import { isDiskFull } from './disk-full.ts';
import { findInconsistency } from './durable-consistency.ts';
import type { InitialState, MemberIdentityRecord, Storage, StorageWrite } from './storage.ts';

// ---------------------------------------------------------------------------------------------
// Key layout
// ---------------------------------------------------------------------------------------------

/** First byte of every key: one ASCII letter per record kind, so raw dumps stay readable. */
const KeyPrefix = {
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
const FORMAT_VERSION = 1;

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

function readUint64(source: Uint8Array, offset: number): number {
  const high = ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
  const low = ((source[offset + 4]! << 24) | (source[offset + 5]! << 16) | (source[offset + 6]! << 8) | source[offset + 7]!) >>> 0;
  return high * TWO_POW_32 + low;
}

function singletonKey(prefix: number): Uint8Array {
  return Uint8Array.of(prefix);
}

function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = KeyPrefix.entry;
  writeUint64(key, 1, index);
  return key;
}

function snapshotChunkKey(generation: number, chunk: number): Uint8Array {
  const key = new Uint8Array(17);
  key[0] = KeyPrefix.snapshotChunk;
  writeUint64(key, 1, generation);
  writeUint64(key, 9, chunk);
  return key;
}

function stagedChunkKey(index: number, offset: number): Uint8Array {
  const key = new Uint8Array(17);
  key[0] = KeyPrefix.stagedChunk;
  writeUint64(key, 1, index);
  writeUint64(key, 9, offset);
  return key;
}

/** The whole staging area. */
const stagingRange = { gte: Uint8Array.of(KeyPrefix.stagedChunk), lt: Uint8Array.of(KeyPrefix.stagedChunk + 1) };

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
interface KeyRange {
  readonly gte: Uint8Array;
  readonly lt: Uint8Array;
}

/** Entry keys for indexes in [lo, hi). */
function entryRange(lo: number, hi: number): KeyRange {
  return { gte: entryKey(lo), lt: entryKey(hi) };
}

/** Every entry key: 'e' + anything sorts below the next prefix byte. */
const allEntries: KeyRange = { gte: Uint8Array.of(KeyPrefix.entry), lt: Uint8Array.of(KeyPrefix.entry + 1) };

/** Every chunk of one snapshot generation. */
function generationRange(generation: number): KeyRange {
  return { gte: snapshotChunkKey(generation, 0), lt: snapshotChunkKey(generation + 1, 0) };
}

// ---------------------------------------------------------------------------------------------
// Records: encoding and validated decoding
// ---------------------------------------------------------------------------------------------

/** The dummy entry at the front of the log (etcd's `ents[0]`). */
interface LogStart {
  readonly index: number;
  readonly term: number;
}

/** Where the current snapshot is: its metadata plus the chunk generation holding its data. */
interface SnapshotRecord {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
  readonly size: number;
  readonly chunkSize: number;
  readonly generation: number;
}

interface IdentityRecord {
  readonly format: number;
  readonly nodeId?: number;
  readonly clusterId?: string;
  /**
   * Random, drawn when the directory is created (hex): who this member is towards its peers. A
   * wiped directory gets a new one, so peers can tell the member forgot its votes and log.
   */
  readonly incarnation?: string;
}

type Fields = Record<string, unknown>;

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function corrupt(key: Uint8Array, detail: string, cause?: unknown): StorageCorruptionError {
  return new StorageCorruptionError(describeKey(key), detail, cause === undefined ? undefined : { cause });
}

/** Decodes a msgpack map, or fails naming the key: a value that does not decode is corruption. */
function decodeFields(key: Uint8Array, bytes: Uint8Array): Fields {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    throw corrupt(key, `value does not decode as msgpack (${(err as Error).message})`, err);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw corrupt(key, `expected a map, found ${show(value)}`);
  }
  return value as Fields;
}

/** Indexes, terms, node ids and sizes: anything else came from a damaged disk. */
function uintField(key: Uint8Array, fields: Fields, name: string): number {
  const value = fields[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw corrupt(key, `field ${name} is ${show(value)}, expected a non-negative safe integer`);
  }
  return value;
}

function uintListField(key: Uint8Array, fields: Fields, name: string): number[] {
  const value = fields[name];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    throw corrupt(key, `field ${name} is ${show(value)}, expected a list of non-negative safe integers`);
  }
  return value as number[];
}

/** Copies: msgpackr hands out views into the value buffer, which must not leak to callers. */
function bytesField(key: Uint8Array, fields: Fields, name: string): Uint8Array {
  const value = fields[name];
  if (!(value instanceof Uint8Array)) throw corrupt(key, `field ${name} is ${show(value)}, expected bytes`);
  return new Uint8Array(value);
}

function encodeEntry(e: Entry): Uint8Array {
  return encode({ index: e.index, term: e.term, type: e.type, data: e.data });
}

function decodeEntry(key: Uint8Array, bytes: Uint8Array): Entry {
  const fields = decodeFields(key, bytes);
  const index = uintField(key, fields, 'index');
  const keyIndex = readUint64(key, 1);
  if (index !== keyIndex) throw corrupt(key, `entry says index ${index} but is stored under index ${keyIndex}`);
  const term = uintField(key, fields, 'term');
  const type = uintField(key, fields, 'type');
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw corrupt(key, `unknown entry type ${type}`);
  return { index, term, type, data: bytesField(key, fields, 'data') };
}

function decodeHardState(key: Uint8Array, bytes: Uint8Array): HardState {
  const fields = decodeFields(key, bytes);
  return { term: uintField(key, fields, 'term'), vote: uintField(key, fields, 'vote'), commit: uintField(key, fields, 'commit') };
}

function confStateFields(cs: ConfState): Record<string, unknown> {
  const out: Record<string, unknown> = { voters: [...cs.voters], learners: [...cs.learners] };
  if (cs.addresses) out['addresses'] = { ...cs.addresses };
  return out;
}

function encodeConfState(cs: ConfState): Uint8Array {
  return encode(confStateFields(cs));
}

function confStateFromFields(key: Uint8Array, fields: Fields): ConfState {
  const cs = { voters: uintListField(key, fields, 'voters'), learners: uintListField(key, fields, 'learners') };
  const raw = fields['addresses'];
  if (raw === undefined || raw === null) return cs;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw corrupt(key, `field addresses is ${show(raw)}, expected a map`);
  const addresses: Record<number, string> = {};
  for (const [id, addr] of Object.entries(raw as Record<string, unknown>)) {
    if (!/^[1-9][0-9]*$/.test(id) || typeof addr !== 'string') throw corrupt(key, `field addresses has an invalid entry ${show(id)}`);
    addresses[Number(id)] = addr;
  }
  return { ...cs, addresses };
}

function decodeConfState(key: Uint8Array, bytes: Uint8Array): ConfState {
  return confStateFromFields(key, decodeFields(key, bytes));
}

function decodeLogStart(key: Uint8Array, bytes: Uint8Array): LogStart {
  const fields = decodeFields(key, bytes);
  return { index: uintField(key, fields, 'index'), term: uintField(key, fields, 'term') };
}

function encodeSnapshotRecord(r: SnapshotRecord): Uint8Array {
  return encode({ ...r, confState: confStateFields(r.confState) });
}

function decodeSnapshotRecord(key: Uint8Array, bytes: Uint8Array): SnapshotRecord {
  const fields = decodeFields(key, bytes);
  const cs = fields['confState'];
  if (cs === null || typeof cs !== 'object' || Array.isArray(cs)) throw corrupt(key, `field confState is ${show(cs)}, expected a map`);
  const chunkSize = uintField(key, fields, 'chunkSize');
  if (chunkSize === 0) throw corrupt(key, 'field chunkSize is 0');
  return {
    index: uintField(key, fields, 'index'),
    term: uintField(key, fields, 'term'),
    confState: confStateFromFields(key, cs as Fields),
    size: uintField(key, fields, 'size'),
    chunkSize,
    generation: uintField(key, fields, 'generation'),
  };
}

function decodeIdentity(key: Uint8Array, bytes: Uint8Array): IdentityRecord {
  const fields = decodeFields(key, bytes);
  const format = uintField(key, fields, 'format');
  if (format !== FORMAT_VERSION) {
    throw corrupt(key, `on-disk format version ${format} is not the version ${FORMAT_VERSION} this build reads`);
  }
  const nodeId = fields['nodeId'] === undefined ? undefined : uintField(key, fields, 'nodeId');
  const clusterId = fields['clusterId'];
  if (clusterId !== undefined && typeof clusterId !== 'string') throw corrupt(key, `field clusterId is ${show(clusterId)}, expected a string`);
  const incarnation = fields['incarnation'];
  if (incarnation !== undefined && !isIncarnation(incarnation)) throw corrupt(key, `field incarnation is ${show(incarnation)}, expected 32 hex digits`);
  return {
    format,
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(clusterId === undefined ? {} : { clusterId }),
    ...(incarnation === undefined ? {} : { incarnation }),
  };
}

/** Peer incarnations are stored as [[id, incarnation, since], ...]. */
function encodePeerIncarnations(peers: PeerIncarnations): Uint8Array {
  return encode(Object.entries(peers).map(([id, p]) => [Number(id), p.incarnation, p.since]));
}

function decodePeerIncarnations(key: Uint8Array, bytes: Uint8Array): PeerIncarnations {
  let rows: unknown;
  try {
    rows = decode(bytes);
  } catch (err) {
    throw corrupt(key, 'does not decode', err);
  }
  if (!Array.isArray(rows)) throw corrupt(key, `is ${show(rows)}, expected a list`);
  const out: Record<number, PeerIncarnation> = {};
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 3) throw corrupt(key, `row ${show(row)} is not [id, incarnation, since]`);
    const [id, incarnation, since] = row as unknown[];
    if (!Number.isSafeInteger(id) || (id as number) <= 0) throw corrupt(key, `node id ${show(id)} is not a positive integer`);
    if (!isIncarnation(incarnation)) throw corrupt(key, `incarnation ${show(incarnation)} of node ${id} is not 32 hex digits`);
    if (!Number.isSafeInteger(since) || (since as number) < 0) throw corrupt(key, `index ${show(since)} of node ${id} is not an index`);
    out[id as number] = { incarnation, since: since as number };
  }
  return out;
}

function checkPeerIncarnations(peers: PeerIncarnations): void {
  for (const [id, p] of Object.entries(peers)) {
    if (!isIncarnation(p?.incarnation) || !Number.isSafeInteger(p.since) || p.since < 0) {
      throw new TypeError(`invalid peer incarnation for node ${id}: ${show(p)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Input validation: what is written must be readable back
// ---------------------------------------------------------------------------------------------

function checkUint(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
}

/** Entries are keyed by index, so a gap or a non-integer index would silently corrupt the log. */
function checkEntries(entries: readonly Entry[]): void {
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

function checkHardState(hs: HardState): void {
  checkUint('hardState.term', hs.term);
  checkUint('hardState.vote', hs.vote);
  checkUint('hardState.commit', hs.commit);
}

function checkSnapshotMetadata(m: SnapshotMetadata): void {
  checkUint('snapshot index', m.index);
  checkUint('snapshot term', m.term);
}

// ---------------------------------------------------------------------------------------------
// The durable state kept in memory, and the plan of one write
// ---------------------------------------------------------------------------------------------

/** The log's bounds: the dummy start entry and the last entry, both cached with their terms. */
interface LogBounds {
  readonly startIndex: number;
  readonly startTerm: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

/** What is on disk as of the last completed batch, cached so boundary reads touch no disk. */
interface DurableState {
  readonly log: LogBounds;
  readonly snapshot: SnapshotRecord;
  readonly hardState: HardState;
  readonly confState: ConfState;
}

type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** Snapshot data about to become current: chunks already staged under `generation`, and the rest. */
interface SnapshotContent {
  readonly generation: number;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkPuts: readonly BatchOp[];
}

/**
 * One durable write being planned: the batch operations, the state they lead to, and the garbage
 * (ranges below the new log start, replaced snapshot chunks) to delete once the batch is durable.
 */
class WritePlan {
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

// ---------------------------------------------------------------------------------------------
// DiskStorage
// ---------------------------------------------------------------------------------------------

export interface DiskStorageOptions {
  /** This node's id: recorded at first open, checked at every later open. */
  readonly nodeId?: number;
  /** The cluster's id: recorded at first open (or the first open that gives one), checked later. */
  readonly clusterId?: string;
  /** Size of the chunks new snapshots are stored in (default 1 MiB). Existing snapshots keep theirs. */
  readonly snapshotChunkSize?: number;
  /**
   * Refuse to open when the hard state contradicts the log: a commit index beyond the last entry,
   * a term older than the last entry's (default true; a Raft member always wants this). Only a
   * store used as a plain log outside Raft, where any values are allowed, turns it off.
   */
  readonly checkRaftInvariants?: boolean;
}

/** Streams a snapshot to disk chunk by chunk; nothing changes for readers until `finish()`. */
export interface SnapshotWriter {
  /** Appends bytes; every full chunk is written (durably) as soon as it fills. */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the snapshot current in one durable batch, like `saveSnapshot`; returns its size in bytes. */
  finish(): Promise<number>;
  /** Discards what was written. */
  abort(): Promise<void>;
}

type Db = Level<Uint8Array, Uint8Array>;

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
    const data = await this.readSnapshotBytes(record, 0, record.size);
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
    return this.readSnapshotBytes(record, offset, Math.min(record.size, offset + length));
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
      await this.planStaging(plan, batch);
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
      await this.commit(plan);
      if (batch.peerIncarnations) this.peers = batch.peerIncarnations;
    });
  }

  /**
   * The staged snapshot at `index`, joined into one buffer: read once its last chunk is written,
   * to restore it (the one full copy a received snapshot ever takes in memory).
   */
  async readStagedSnapshot(index: number, size: number): Promise<Uint8Array> {
    this.assertOpen();
    if (size === 0) return new Uint8Array(0);
    const out = new Uint8Array(size);
    let at = 0;
    const it = this.db.iterator({ gte: stagedChunkKey(index, 0), lt: stagedChunkKey(index + 1, 0) });
    try {
      for (;;) {
        const rows = await it.nextv(16);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          if (readUint64(key, 9) !== at || value.byteLength > size - at) break;
          out.set(value, at);
          at += value.byteLength;
        }
      }
    } finally {
      await it.close();
    }
    if (at !== size) throw new Error(`the staging area in ${this.dir} holds ${at} contiguous bytes of snapshot ${index}, not ${size}`);
    return out;
  }

  /**
   * How far the staging area reaches (offset + length of its last chunk), read from disk, touching
   * one chunk: for tests and status while a snapshot is being received.
   */
  async stagedSnapshotBytes(): Promise<number> {
    this.assertOpen();
    const last = await firstRow(this.db, { ...stagingRange, reverse: true });
    return last === undefined ? 0 : readUint64(last[0], 9) + last[1].byteLength;
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
  private async commit(plan: WritePlan): Promise<void> {
    if (plan.ops.length === 0) return;
    this.batchesInFlight++;
    try {
      await writeDurably(this.db, plan.ops);
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

  /**
   * Staging of a snapshot being received: emptied first when the write says so or a chunk starts a
   * new transfer (a separate deletion: staging is never part of the durable state, and the next open
   * empties it anyway), then the chunks go into the write's own batch.
   */
  private async planStaging(plan: WritePlan, batch: StorageWrite): Promise<void> {
    const chunks = batch.stagedSnapshotChunks ?? [];
    let from = 0;
    for (let k = 0; k < chunks.length; k++) if (chunks[k]!.offset === 0) from = k;
    if (batch.discardStagedSnapshot || chunks[from]?.offset === 0) await this.db.clear(stagingRange);
    for (let k = from; k < chunks.length; k++) plan.put(stagedChunkKey(chunks[k]!.index, chunks[k]!.offset), chunks[k]!.data);
  }

  /** Splits whole snapshot data into chunk puts for the write's own batch. */
  private splitSnapshotData(data: Uint8Array): SnapshotContent {
    const generation = this.nextGeneration++;
    const chunkPuts: BatchOp[] = [];
    for (let n = 0, offset = 0; offset < data.length; n++, offset += this.chunkSize) {
      chunkPuts.push({ type: 'put', key: snapshotChunkKey(generation, n), value: data.subarray(offset, offset + this.chunkSize) });
    }
    return { generation, size: data.length, chunkSize: this.chunkSize, chunkPuts };
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

  /** Bytes [offset, end) of a snapshot's data, from only the chunks that hold them. */
  private async readSnapshotBytes(record: SnapshotRecord, offset: number, end: number): Promise<Uint8Array> {
    if (end <= offset) return new Uint8Array(0);
    const out = new Uint8Array(end - offset);
    const firstChunk = Math.floor(offset / record.chunkSize);
    const lastChunk = Math.floor((end - 1) / record.chunkSize);
    const it = this.db.iterator({
      gte: snapshotChunkKey(record.generation, firstChunk),
      lt: snapshotChunkKey(record.generation, lastChunk + 1),
    });
    let expected = firstChunk;
    try {
      for (;;) {
        const rows = await it.nextv(4);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          if (readUint64(key, 9) !== expected) throw corrupt(snapshotChunkKey(record.generation, expected), 'snapshot chunk is missing');
          copyChunkOverlap(record, expected, key, value, offset, end, out);
          expected++;
        }
      }
    } finally {
      await it.close();
    }
    if (expected !== lastChunk + 1) throw corrupt(snapshotChunkKey(record.generation, expected), 'snapshot chunk is missing');
    return out;
  }
}

/**
 * Writes operations as one atomic LevelDB batch with `sync: true` (fsync of the write-ahead log
 * before it resolves). Built as a chained batch: abstract-level's array form clones every operation
 * together with the options, which costs several times more per entry on the hot path.
 */
async function writeDurably(db: Db, ops: readonly BatchOp[]): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (err) {
    await batch.close();
    throw err;
  }
  await batch.write({ sync: true });
}

/** Copies the part of chunk `n` that falls inside [offset, end) into `out`, checking its length. */
function copyChunkOverlap(
  record: SnapshotRecord,
  n: number,
  key: Uint8Array,
  value: Uint8Array,
  offset: number,
  end: number,
  out: Uint8Array,
): void {
  const chunkStart = n * record.chunkSize;
  const expectedLength = Math.min(record.chunkSize, record.size - chunkStart);
  if (value.length !== expectedLength) {
    throw corrupt(key, `snapshot chunk has ${value.length} bytes, expected ${expectedLength}`);
  }
  const from = Math.max(offset, chunkStart);
  const to = Math.min(end, chunkStart + expectedLength);
  out.set(value.subarray(from - chunkStart, to - chunkStart), from - offset);
}

function snapshotMetadataOf(record: SnapshotRecord): SnapshotMetadata {
  return { index: record.index, term: record.term, confState: record.confState };
}

/**
 * Plans appending entries with etcd's rules: entries already compacted are skipped, existing
 * entries at and above the first new index are replaced (§5.3: "if an existing entry conflicts with
 * a new one, delete the existing entry and all that follow it"), and a gap is refused.
 */
function planEntries(plan: WritePlan, entries: readonly Entry[]): void {
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

// ---------------------------------------------------------------------------------------------
// Opening: lock, identity, cached state, garbage
// ---------------------------------------------------------------------------------------------

function checkOpenOptions(opts: DiskStorageOptions): void {
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
async function openLocked(db: Db, dir: string): Promise<void> {
  try {
    await db.open();
  } catch (err) {
    throw openFailure(err, dir);
  }
}

/** A damaged record found while opening: the error names the data directory as well as the key. */
function inDirectory(err: unknown, dir: string): unknown {
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

async function getRecord<T>(db: Db, key: Uint8Array, decodeValue: (key: Uint8Array, bytes: Uint8Array) => T): Promise<T | undefined> {
  const bytes = await db.get(key);
  return bytes === undefined ? undefined : decodeValue(key, bytes);
}

/**
 * Checks the directory belongs to this node and cluster, recording them the first time they are
 * known. Raft's persistent state is per server: another server's term and vote must never be used.
 */
async function loadIdentity(db: Db, dir: string, opts: DiskStorageOptions): Promise<IdentityRecord & { readonly incarnation: string }> {
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

async function loadState(db: Db, chunkSize: number): Promise<DurableState> {
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

async function firstRow(db: Db, options: KeyRange & { reverse?: boolean }): Promise<[Uint8Array, Uint8Array] | undefined> {
  const it = db.iterator({ ...options, limit: 1 });
  try {
    const rows = await it.nextv(1);
    return rows[0];
  } finally {
    await it.close();
  }
}

/**
 * Refuses a directory whose records contradict each other (see durable-consistency.ts): a log
 * ending below the durable commit, a hard state older than the log, a hole in the entries, a log
 * that does not follow the snapshot, missing snapshot chunks. Reads only keys and the records
 * `loadState` already decoded, so it costs one key scan of the log.
 */
async function checkConsistency(db: Db, dir: string, state: DurableState, raftInvariants: boolean): Promise<void> {
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
async function collectGarbage(db: Db, state: DurableState): Promise<void> {
  await db.clear(stagingRange);
  await db.clear({ gte: allEntries.gte, lt: entryKey(state.log.startIndex + 1) });
  const generation = state.snapshot.generation;
  await db.clear({ gte: Uint8Array.of(KeyPrefix.snapshotChunk), lt: snapshotChunkKey(generation, 0) });
  await db.clear({ gte: snapshotChunkKey(generation + 1, 0), lt: Uint8Array.of(KeyPrefix.snapshotChunk + 1) });
}

// ---------------------------------------------------------------------------------------------
// Chunked snapshot writing
// ---------------------------------------------------------------------------------------------

interface SnapshotWriterHost {
  putChunk(key: Uint8Array, value: Uint8Array): Promise<void>;
  finish(content: SnapshotContent): Promise<void>;
  discard(generation: number): Promise<void>;
}

/**
 * Re-chunks whatever sizes the caller writes into fixed-size chunks under a fresh generation.
 * Full chunks are written with `sync` as they fill (so the final batch, which makes them current,
 * never refers to chunks that a power loss could still take away); the last partial chunk goes
 * into the final batch itself.
 */
class ChunkedSnapshotWriter implements SnapshotWriter {
  private pending: Uint8Array;
  private filled = 0;
  private written = 0;
  private chunks = 0;
  private done = false;
  private failure: unknown;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly generation: number,
    private readonly chunkSize: number,
    private readonly host: SnapshotWriterHost,
  ) {
    this.pending = new Uint8Array(chunkSize);
  }

  write(bytes: Uint8Array): Promise<void> {
    try {
      this.assertWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.tail.then(() => this.append(bytes));
    this.tail = run.catch((err: unknown) => {
      this.failure ??= err;
    });
    return run;
  }

  async finish(): Promise<number> {
    this.assertWritable();
    this.done = true;
    await this.tail;
    if (this.failure !== undefined) {
      await this.host.discard(this.generation).catch(noop);
      throw this.failure;
    }
    const chunkPuts: BatchOp[] = [];
    if (this.filled > 0) {
      chunkPuts.push({ type: 'put', key: snapshotChunkKey(this.generation, this.chunks), value: this.pending.subarray(0, this.filled) });
    }
    const size = this.written;
    try {
      await this.host.finish({ generation: this.generation, size, chunkSize: this.chunkSize, chunkPuts });
    } catch (err) {
      await this.host.discard(this.generation).catch(noop);
      throw err;
    }
    return size;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.tail;
    await this.host.discard(this.generation);
  }

  private assertWritable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.done) throw new StoppedError('snapshot writer (finish or abort was called)');
  }

  private async append(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(this.chunkSize - this.filled, bytes.length - offset);
      this.pending.set(bytes.subarray(offset, offset + n), this.filled);
      this.filled += n;
      this.written += n;
      offset += n;
      if (this.filled === this.chunkSize) {
        await this.host.putChunk(snapshotChunkKey(this.generation, this.chunks), this.pending);
        this.chunks++;
        this.pending = new Uint8Array(this.chunkSize);
        this.filled = 0;
      }
    }
  }
}
