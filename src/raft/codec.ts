/**
 * The one codec (msgpackr) for Raft's records: the data of a ConfChange entry (./confchange.ts),
 * and the records at rest (log entries, hard state and snapshots on disk). It lives in the core
 * because the ConfChange encoding is part of the replicated log's format; it does no I/O.
 *
 * Plain msgpack maps (no records extension) so that every stored value decodes on its own,
 * whatever was written before it. Binary fields come back as views into the input: `decode`
 * copies nothing, so callers that keep a value beyond the input buffer's life must copy it.
 */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decode<T = unknown>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
