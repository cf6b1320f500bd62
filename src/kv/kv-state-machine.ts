/**
 * The replicated key-value store of the example: a StateMachine whose commands are put, delete
 * and compare-and-swap, encoded with msgpack. Reads are local (`get`), after a ReadIndex barrier
 * when they must be linearizable.
 *
 * Keys and values are strings. `apply` never throws on a bad command: a command that does not
 * decode or does not validate applies as an error result, identically on every node, so one
 * client's garbage cannot stop the cluster (a throwing apply is fatal for a RaftNode).
 */
import { createHash } from 'node:crypto';
import { decode, encode } from '../raft/codec.ts';
import type { StateMachine } from '../state-machine.ts';

/** Longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** Sets `key` to `value`. */
export interface PutCommand {
  readonly op: 'put';
  readonly key: string;
  readonly value: string;
}

/** Removes `key`. With `prev` set, only when the current value equals it. */
export interface DeleteCommand {
  readonly op: 'delete';
  readonly key: string;
  readonly prev?: string;
}

/**
 * Sets `key` to `value` only when its current value equals `prev`; `prev: null` means "only when
 * the key does not exist" (create).
 */
export interface CasCommand {
  readonly op: 'cas';
  readonly key: string;
  readonly prev: string | null;
  readonly value: string;
}

export type KvCommand = PutCommand | DeleteCommand | CasCommand;

/** What `apply` returns for a command. `index` is the log index the command was applied at. */
export type KvResult =
  /** put, cas that matched, delete: `prev` is the value before (null: the key did not exist). */
  | { readonly ok: true; readonly op: 'put' | 'cas' | 'delete'; readonly key: string; readonly prev: string | null; readonly index: number }
  /** cas or conditional delete whose comparison failed: `current` is the value found (null: none). */
  | { readonly ok: false; readonly op: 'cas' | 'delete'; readonly error: 'compare failed'; readonly key: string; readonly current: string | null; readonly index: number }
  /** The command did not decode or validate. Nothing changed. */
  | { readonly ok: false; readonly error: 'bad command'; readonly reason: string; readonly index: number };

/** Encodes a command for `RaftNode.propose`. Throws TypeError on an invalid command (caught early, on the client side). */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  const reason = validateCommand(cmd);
  if (reason) throw new TypeError(`invalid kv command: ${reason}`);
  return encode(cmd);
}

/** Decodes and validates a command; a string is the reason it is invalid. */
export function decodeCommand(data: Uint8Array): KvCommand | string {
  let value: unknown;
  try {
    value = decode(data);
  } catch (err) {
    return `not msgpack (${(err as Error).message})`;
  }
  return validateCommand(value) ?? (value as KvCommand);
}

function validKey(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'key must be a string';
  if (key.length === 0) return 'key must not be empty';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `key longer than ${MAX_KEY_BYTES} bytes`;
  return undefined;
}

/** Undefined when `cmd` is a well-formed command, else the reason. */
export function validateCommand(cmd: unknown): string | undefined {
  if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) return 'command must be a map';
  const c = cmd as Record<string, unknown>;
  const allowed: Record<string, readonly string[]> = { put: ['op', 'key', 'value'], delete: ['op', 'key', 'prev'], cas: ['op', 'key', 'prev', 'value'] };
  if (typeof c.op !== 'string' || !Object.hasOwn(allowed, c.op)) return `unknown op ${JSON.stringify(c.op)}`;
  for (const field of Object.keys(c)) if (!allowed[c.op]!.includes(field)) return `unexpected field ${JSON.stringify(field)} in ${c.op}`;
  const keyProblem = validKey(c.key);
  if (keyProblem) return keyProblem;
  switch (c.op) {
    case 'put':
      if (typeof c.value !== 'string') return 'value must be a string';
      return undefined;
    case 'delete':
      if (c.prev !== undefined && typeof c.prev !== 'string') return 'prev must be a string when set';
      return undefined;
    case 'cas':
      if (!('prev' in c) || (c.prev !== null && typeof c.prev !== 'string')) return 'prev must be a string or null';
      if (typeof c.value !== 'string') return 'value must be a string';
      return undefined;
  }
  return undefined;
}

/** The replicated map. One instance per RaftNode. */
export class KvStateMachine implements StateMachine<KvResult> {
  private readonly map = new Map<string, string>();
  private appliedIndex = 0;

  apply(data: Uint8Array, index: number): KvResult {
    this.appliedIndex = Math.max(this.appliedIndex, index);
    const cmd = decodeCommand(data);
    if (typeof cmd === 'string') return { ok: false, error: 'bad command', reason: cmd, index };
    const current = this.map.get(cmd.key) ?? null;
    switch (cmd.op) {
      case 'put':
        this.map.set(cmd.key, cmd.value);
        return { ok: true, op: 'put', key: cmd.key, prev: current, index };
      case 'cas':
        if (current !== cmd.prev) return { ok: false, op: 'cas', error: 'compare failed', key: cmd.key, current, index };
        this.map.set(cmd.key, cmd.value);
        return { ok: true, op: 'cas', key: cmd.key, prev: current, index };
      case 'delete':
        if (cmd.prev !== undefined && current !== cmd.prev) return { ok: false, op: 'delete', error: 'compare failed', key: cmd.key, current, index };
        this.map.delete(cmd.key);
        return { ok: true, op: 'delete', key: cmd.key, prev: current, index };
    }
  }

  /** The whole map and the applied index, as msgpack, keys sorted so equal states give equal bytes. */
  snapshot(): Uint8Array {
    return encode({ v: 1, index: this.appliedIndex, entries: this.sortedEntries() });
  }

  restore(data: Uint8Array): void {
    const snap = parseKvSnapshot(data);
    const entries = snap.entries;
    this.map.clear();
    for (const [k, v] of entries as [string, string][]) this.map.set(k, v);
    this.appliedIndex = snap.index;
  }

  /** Checks a snapshot from the leader before the node installs it; the map is not touched. */
  validateSnapshot(data: Uint8Array): void {
    parseKvSnapshot(data);
  }

  /** A local read: call it after `node.readIndex()` resolved for a linearizable one. */
  get(key: string): string | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get size(): number {
    return this.map.size;
  }

  /** The last log index applied (every entry counts, also a bad command). */
  get applied(): number {
    return this.appliedIndex;
  }

  /** Keys in sorted order, optionally only those starting with `prefix`. */
  keys(prefix = ''): string[] {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /**
   * SHA-256 (hex) of the map's contents in key order: nodes with equal maps give equal digests,
   * whatever order the keys were written in. The applied index is not part of it.
   */
  digest(): string {
    const h = createHash('sha256');
    for (const [k, v] of this.sortedEntries()) {
      const kb = Buffer.from(k, 'utf8');
      const vb = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(8);
      len.writeUInt32BE(kb.length, 0);
      len.writeUInt32BE(vb.length, 4);
      h.update(len).update(kb).update(vb);
    }
    return h.digest('hex');
  }

  private sortedEntries(): [string, string][] {
    return [...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

/** Decodes and checks a kv snapshot; throws a message naming what is wrong. */
function parseKvSnapshot(data: Uint8Array): { index: number; entries: [string, string][] } {
  let snap: { v?: unknown; index?: unknown; entries?: unknown };
  try {
    snap = decode<{ v?: unknown; index?: unknown; entries?: unknown }>(data);
  } catch (err) {
    throw new Error(`not a kv snapshot: ${(err as Error).message}`, { cause: err });
  }
  if (snap === null || typeof snap !== 'object' || snap.v !== 1 || !Array.isArray(snap.entries) || typeof snap.index !== 'number') {
    throw new Error('not a kv snapshot (version 1)');
  }
  const entries = snap.entries as unknown[];
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string') throw new Error('kv snapshot holds a malformed entry');
  }
  return { index: snap.index, entries: entries as [string, string][] };
}
