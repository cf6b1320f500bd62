/**
 * Snapshot data in a DiskStorage is stored in fixed-size chunks under a generation number, so a
 * leader can stream a large snapshot to a follower (§7, InstallSnapshot "offset"/"data") reading
 * only the chunks a range needs, and a new snapshot never overwrites the one readers still see.
 */
import type { BatchOp, Db } from './disk-db.ts';
import { readUint64, snapshotChunkKey } from './disk-keys.ts';
import { type SnapshotRecord, corrupt } from './disk-records.ts';
import type { SnapshotContent } from './disk-write-plan.ts';

/** Splits whole snapshot data into chunk puts under `generation`, for a write's own batch. */
export function splitSnapshotData(generation: number, chunkSize: number, data: Uint8Array): SnapshotContent {
  const chunkPuts: BatchOp[] = [];
  for (let n = 0, offset = 0; offset < data.length; n++, offset += chunkSize) {
    chunkPuts.push({ type: 'put', key: snapshotChunkKey(generation, n), value: data.subarray(offset, offset + chunkSize) });
  }
  return { generation, size: data.length, chunkSize, chunkPuts };
}

/** Bytes [offset, end) of a snapshot's data, from only the chunks that hold them. */
export async function readSnapshotBytes(db: Db, record: SnapshotRecord, offset: number, end: number): Promise<Uint8Array> {
  if (end <= offset) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  const firstChunk = Math.floor(offset / record.chunkSize);
  const lastChunk = Math.floor((end - 1) / record.chunkSize);
  const it = db.iterator({
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
