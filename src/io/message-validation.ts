/**
 * Nothing from the network is trusted before it passes through here. `validateMessage` checks
 * every field of a decoded value against the `Message` shape and returns a fresh Message that
 * shares no memory with the input.
 *
 * Why so strict: a decoded frame is whatever bytes a peer (or anyone who got past the handshake)
 * chose to send. A float term, a negative index, a string where a number belongs or an index above
 * 2^53 would silently corrupt log arithmetic far away from the socket that let it in.
 *
 * Why copy: msgpackr returns binary fields as views into the frame, and the frame is a view into a
 * socket chunk that may hold other frames. Keeping an entry would pin all of it. All binary fields
 * of one message are copied into one fresh allocation (one allocation per message, not per entry),
 * so a message retains exactly its own bytes.
 */
import { InvalidMessageError } from '../errors.ts';
import { isValidAddress } from '../config.ts';
import { MAX_RAFT_NUMBER } from '../raft/bounds.ts';
import { EntryType, MAX_MESSAGE_TYPE, MessageType } from '../raft/raftpb.ts';
import type { ConfState, Entry, Message, Snapshot } from '../raft/raftpb.ts';

type Fields = Record<string, unknown>;

const entryTypes = new Set<unknown>(Object.values(EntryType));

/**
 * Message kinds that only ever travel inside one node (etcd's `IsLocalMsg`): a peer that sends
 * one is either broken or hostile, e.g. a remote MsgHup would force an election.
 */
const localOnlyTypes = new Set<number>([
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
]);

/** Check `value` is a well-formed Message and return a copy of it. Throws InvalidMessageError. */
export function validateMessage(value: unknown): Message {
  const binaryBytes = checkMessage(value);
  return buildMessage(value as Fields, new Arena(binaryBytes));
}

/**
 * `validateMessage`, plus the rules that depend on the connection it arrived on: the sender must
 * be the authenticated peer, the receiver must be us, and the kind must be one peers exchange.
 */
export function validatePeerMessage(value: unknown, peer: { from: number; to: number }): Message {
  const msg = validateMessage(value);
  if (msg.from !== peer.from) fail(`message.from is ${msg.from} but the connection is authenticated as node ${peer.from}`);
  if (msg.to !== peer.to) fail(`message.to is ${msg.to} but this node is ${peer.to}`);
  if (localOnlyTypes.has(msg.type)) fail(`message.type ${msg.type} is local to a node and never sent over the network`);
  if (msg.term === 0 && !termZeroTypes.has(msg.type) && !(msg.type === MessageType.MsgPreVoteResp && msg.reject)) {
    // Term 0 marks a message that skips the term rules (a forwarded proposal or read): only those may carry it.
    fail(`message.term 0 is only allowed on forwarded proposals and reads, not on type ${msg.type}`);
  }
  if (msg.type === MessageType.MsgApp) checkAppendEntries(msg);
  return msg;
}

/** Message kinds a peer may send with term 0: they are forwarded to the leader and skip the term rules. */
const termZeroTypes = new Set<number>([MessageType.MsgProp, MessageType.MsgReadIndex]);

/**
 * An append's entries must continue its previous entry: indexes index+1, index+2, ..., terms never
 * decreasing, none before the previous entry's term nor after the message's term (Raft §5.3).
 */
function checkAppendEntries(msg: Message): void {
  let prevTerm = msg.logTerm;
  for (let i = 0; i < msg.entries.length; i++) {
    const e = msg.entries[i]!;
    if (e.index !== msg.index + 1 + i) fail(`message.entries[${i}].index must be ${msg.index + 1 + i}, got ${e.index}`);
    if (e.term < prevTerm) fail(`message.entries[${i}].term ${e.term} is below the term before it (${prevTerm})`);
    if (e.term > msg.term) fail(`message.entries[${i}].term ${e.term} is after the message's term ${msg.term}`);
    prevTerm = e.term;
  }
}

function fail(detail: string): never {
  throw new InvalidMessageError(`invalid message: ${detail}`);
}

// ---- checking: walks the value once, returns the number of binary bytes to copy --------------

function checkMessage(value: unknown): number {
  const m = requireObject(value, 'message');
  const type = requireCount(m.type, 'message.type');
  if (type > MAX_MESSAGE_TYPE) fail(`message.type must be a MessageType (0..${MAX_MESSAGE_TYPE}), got ${type}`);
  for (const f of ['to', 'from'] as const) requireCount(m[f], `message.${f}`);
  for (const f of ['term', 'logTerm', 'index', 'commit', 'rejectHint'] as const) requireBounded(m[f], `message.${f}`);
  if (typeof m.reject !== 'boolean') fail(`message.reject must be a boolean, got ${describe(m.reject)}`);
  if (!Array.isArray(m.entries)) fail(`message.entries must be an array, got ${describe(m.entries)}`);
  let bytes = 0;
  for (let i = 0; i < m.entries.length; i++) bytes += checkEntry(m.entries[i], `message.entries[${i}]`);
  if (m.snapshot !== undefined && m.snapshot !== null) bytes += checkSnapshot(m.snapshot, 'message.snapshot');
  if (m.context !== undefined && m.context !== null) bytes += requireBytes(m.context, 'message.context').length;
  if (m.chunk !== undefined && m.chunk !== null) checkChunk(m, requireObject(m.chunk, 'message.chunk'));
  return bytes;
}

/** Largest snapshot a follower agrees to receive: it allocates the whole buffer up front. */
export const MAX_SNAPSHOT_SIZE = 2 ** 32 - 1;

/** A snapshot chunk must say which bytes it holds, and they must lie inside the snapshot. */
function checkChunk(m: Fields, chunk: Fields): void {
  if (m.type !== MessageType.MsgSnap) fail('message.chunk is only allowed on MsgSnap');
  const offset = requireCount(chunk.offset, 'message.chunk.offset');
  const size = requireCount(chunk.size, 'message.chunk.size');
  if (size > MAX_SNAPSHOT_SIZE) fail(`message.chunk.size ${size} exceeds the largest snapshot accepted (${MAX_SNAPSHOT_SIZE} bytes)`);
  const snap = m.snapshot as Fields | undefined | null;
  if (!snap) fail('message.chunk needs message.snapshot');
  const len = (snap.data as Uint8Array).length;
  if (offset + len > size) fail(`message.chunk [${offset}, ${offset + len}) lies outside a snapshot of ${size} bytes`);
}

function checkEntry(value: unknown, path: string): number {
  const e = requireObject(value, path);
  requireBounded(e.term, `${path}.term`);
  requireBounded(e.index, `${path}.index`);
  if (!entryTypes.has(e.type)) fail(`${path}.type must be an EntryType (0 or 1), got ${describe(e.type)}`);
  return requireBytes(e.data, `${path}.data`).length;
}

function checkSnapshot(value: unknown, path: string): number {
  const s = requireObject(value, path);
  const meta = requireObject(s.metadata, `${path}.metadata`);
  requireBounded(meta.index, `${path}.metadata.index`);
  requireBounded(meta.term, `${path}.metadata.term`);
  const conf = requireObject(meta.confState, `${path}.metadata.confState`);
  requireNodeIds(conf.voters, `${path}.metadata.confState.voters`);
  requireNodeIds(conf.learners, `${path}.metadata.confState.learners`);
  if (conf.addresses !== undefined && conf.addresses !== null) checkAddresses(conf.addresses, `${path}.metadata.confState.addresses`);
  return requireBytes(s.data, `${path}.data`).length;
}

/** Member addresses: node id → host:port. */
function checkAddresses(value: unknown, path: string): void {
  const map = requireObject(value, path);
  const ids = Object.keys(map);
  if (ids.length > 10_000) fail(`${path} lists ${ids.length} members`);
  for (const id of ids) {
    if (!/^[1-9][0-9]{0,15}$/.test(id) || !Number.isSafeInteger(Number(id))) fail(`${path} has a key that is not a node id: ${describe(id)}`);
    if (!isValidAddress(map[id])) fail(`${path}[${id}] must be host:port, got ${describe(map[id])}`);
  }
}

function requireObject(value: unknown, path: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    fail(`${path} must be an object, got ${describe(value)}`);
  }
  return value as Fields;
}

/** Terms, indexes, ids: safe, non-negative integers (msgpack floats and bigints are refused). */
function requireCount(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${path} must be a non-negative safe integer, got ${describe(value)}`);
  }
  return value;
}

/** Terms, indexes, commits, hints: also at most MAX_RAFT_NUMBER (2^48), so no increment can overflow. */
function requireBounded(value: unknown, path: string): number {
  const n = requireCount(value, path);
  if (n > MAX_RAFT_NUMBER) fail(`${path} ${n} is above the bound 2^48 (${MAX_RAFT_NUMBER})`);
  return n;
}

function requireBytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${path} must be bytes (Uint8Array), got ${describe(value)}`);
  return value;
}

function requireNodeIds(value: unknown, path: string): void {
  if (!Array.isArray(value)) fail(`${path} must be an array of node ids, got ${describe(value)}`);
  for (let i = 0; i < value.length; i++) {
    const id = requireCount(value[i], `${path}[${i}]`);
    if (id === 0) fail(`${path}[${i}] must be a non-zero node id`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `bigint ${value}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value;
}

// ---- building: the value is known good; construct a fresh Message -----------------------------

/** One allocation that every binary field of a message is copied into. */
class Arena {
  private readonly buffer: Buffer;
  private used = 0;

  constructor(size: number) {
    // allocUnsafeSlow: outside Node's shared 8 KiB pool, so the message pins only its own bytes.
    this.buffer = size === 0 ? Buffer.alloc(0) : Buffer.allocUnsafeSlow(size);
  }

  copy(src: Uint8Array): Uint8Array {
    const start = this.used;
    this.buffer.set(src, start);
    this.used += src.length;
    return new Uint8Array(this.buffer.buffer, this.buffer.byteOffset + start, src.length);
  }
}

function buildMessage(m: Fields, arena: Arena): Message {
  const entries = (m.entries as Fields[]).map((e) => buildEntry(e, arena));
  const msg: {
    -readonly [K in keyof Message]: Message[K];
  } = {
    type: m.type as MessageType,
    to: m.to as number,
    from: m.from as number,
    term: m.term as number,
    logTerm: m.logTerm as number,
    index: m.index as number,
    entries,
    commit: m.commit as number,
    reject: m.reject as boolean,
    rejectHint: m.rejectHint as number,
  };
  if (m.snapshot !== undefined && m.snapshot !== null) msg.snapshot = buildSnapshot(m.snapshot as Fields, arena);
  if (m.context !== undefined && m.context !== null) msg.context = arena.copy(m.context as Uint8Array);
  if (m.chunk !== undefined && m.chunk !== null) {
    const c = m.chunk as Fields;
    msg.chunk = { offset: c.offset as number, size: c.size as number };
  }
  return msg;
}

function buildEntry(e: Fields, arena: Arena): Entry {
  return { term: e.term as number, index: e.index as number, type: e.type as EntryType, data: arena.copy(e.data as Uint8Array) };
}

function buildSnapshot(s: Fields, arena: Arena): Snapshot {
  const meta = s.metadata as Fields;
  const conf = meta.confState as Fields;
  const confState: ConfState =
    conf.addresses !== undefined && conf.addresses !== null
      ? {
          voters: [...(conf.voters as number[])],
          learners: [...(conf.learners as number[])],
          addresses: Object.fromEntries(Object.entries(conf.addresses as Record<string, string>).map(([id, a]) => [Number(id), a])),
        }
      : { voters: [...(conf.voters as number[])], learners: [...(conf.learners as number[])] };
  return { data: arena.copy(s.data as Uint8Array), metadata: { index: meta.index as number, term: meta.term as number, confState } };
}
