/**
 * Membership changes as log entries (Raft §6, thesis §4.1). A ConfChange entry's data is the
 * msgpack of the ConfChange; every node applies it when the entry is applied, so every node goes
 * through the same sequence of configurations.
 *
 * A new cluster is bootstrapped the way etcd does it: every founding member starts its log with
 * one AddNode entry per founding member, at term 1, already committed. The configuration then
 * lives in the log like any other change, so a node that joins later replays the same history
 * and arrives at the same configuration.
 */
import { decode, encode } from './codec.ts';
import { type ConfChange, ConfChangeType, type Entry, EntryType } from './raftpb.ts';

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encode({ type: cc.type, nodeId: cc.nodeId, context: cc.context });
}

/** Decodes a ConfChange entry's data; throws on anything that is not a valid ConfChange. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = decode<Record<string, unknown>>(data);
  const types: readonly unknown[] = Object.values(ConfChangeType);
  if (!v || typeof v !== 'object' || !types.includes(v.type) || typeof v.nodeId !== 'number' || !Number.isSafeInteger(v.nodeId) || v.nodeId < 1) {
    throw new Error('invalid ConfChange entry');
  }
  const context = v.context instanceof Uint8Array ? v.context : new Uint8Array(0);
  return { type: v.type as ConfChange['type'], nodeId: v.nodeId, context };
}

/** The log a founding member starts with: AddNode for every founding member, at term 1. */
export function bootstrapEntries(peers: readonly { id: number; address: string }[]): Entry[] {
  const sorted = [...peers].sort((a, b) => a.id - b.id);
  return sorted.map((p, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: p.id, context: new TextEncoder().encode(p.address) }),
  }));
}
