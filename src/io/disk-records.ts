/**
 * The records of a DiskStorage directory: how each value is encoded (msgpack maps, through the
 * one codec), and decoding that checks every field. A value that does not decode into exactly what
 * was written came from a damaged disk: it fails with StorageCorruptionError naming its key, never
 * reaches Raft as a plausible number.
 */
import { StorageCorruptionError } from '../errors.ts';
import { decode, encode } from '../raft/codec.ts';
import { type PeerIncarnation, type PeerIncarnations, isIncarnation } from '../raft/member-identity.ts';
import { type ConfState, type Entry, EntryType, type HardState, type SnapshotMetadata } from '../raft/raftpb.ts';
import { FORMAT_VERSION, describeKey, readUint64 } from './disk-keys.ts';
/** The dummy entry at the front of the log (etcd's `ents[0]`). */
export interface LogStart {
  readonly index: number;
  readonly term: number;
}

/** Where the current snapshot is: its metadata plus the chunk generation holding its data. */
export interface SnapshotRecord {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
  readonly size: number;
  readonly chunkSize: number;
  readonly generation: number;
}

export interface IdentityRecord {
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

export function show(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function corrupt(key: Uint8Array, detail: string, cause?: unknown): StorageCorruptionError {
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

export function encodeEntry(e: Entry): Uint8Array {
  return encode({ index: e.index, term: e.term, type: e.type, data: e.data });
}

export function decodeEntry(key: Uint8Array, bytes: Uint8Array): Entry {
  const fields = decodeFields(key, bytes);
  const index = uintField(key, fields, 'index');
  const keyIndex = readUint64(key, 1);
  if (index !== keyIndex) throw corrupt(key, `entry says index ${index} but is stored under index ${keyIndex}`);
  const term = uintField(key, fields, 'term');
  const type = uintField(key, fields, 'type');
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw corrupt(key, `unknown entry type ${type}`);
  return { index, term, type, data: bytesField(key, fields, 'data') };
}

export function decodeHardState(key: Uint8Array, bytes: Uint8Array): HardState {
  const fields = decodeFields(key, bytes);
  return { term: uintField(key, fields, 'term'), vote: uintField(key, fields, 'vote'), commit: uintField(key, fields, 'commit') };
}

function confStateFields(cs: ConfState): Record<string, unknown> {
  const out: Record<string, unknown> = { voters: [...cs.voters], learners: [...cs.learners] };
  if (cs.addresses) out['addresses'] = { ...cs.addresses };
  return out;
}

export function encodeConfState(cs: ConfState): Uint8Array {
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

export function decodeConfState(key: Uint8Array, bytes: Uint8Array): ConfState {
  return confStateFromFields(key, decodeFields(key, bytes));
}

export function decodeLogStart(key: Uint8Array, bytes: Uint8Array): LogStart {
  const fields = decodeFields(key, bytes);
  return { index: uintField(key, fields, 'index'), term: uintField(key, fields, 'term') };
}

export function encodeSnapshotRecord(r: SnapshotRecord): Uint8Array {
  return encode({ ...r, confState: confStateFields(r.confState) });
}

export function decodeSnapshotRecord(key: Uint8Array, bytes: Uint8Array): SnapshotRecord {
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

export function decodeIdentity(key: Uint8Array, bytes: Uint8Array): IdentityRecord {
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
export function encodePeerIncarnations(peers: PeerIncarnations): Uint8Array {
  return encode(Object.entries(peers).map(([id, p]) => [Number(id), p.incarnation, p.since]));
}

export function decodePeerIncarnations(key: Uint8Array, bytes: Uint8Array): PeerIncarnations {
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

export function snapshotMetadataOf(record: SnapshotRecord): SnapshotMetadata {
  return { index: record.index, term: record.term, confState: record.confState };
}
