/**
 * The staging area of a DiskStorage: chunks of a snapshot being received from the leader, kept as
 * they arrived under their snapshot index and byte offset. Never read as this node's snapshot; a
 * received snapshot is read back from here once complete, to restore it. A crash mid-transfer
 * leaves only garbage, which the next open deletes (the transfer starts again from the leader).
 */
import type { StorageWrite } from './storage.ts';
import { type Db, firstRow } from './disk-db.ts';
import { readUint64, stagedChunkKey, stagingRange } from './disk-keys.ts';
import type { WritePlan } from './disk-write-plan.ts';

/**
 * Plans a write's staging: emptied first when the write says so or a chunk starts a new transfer
 * (a separate deletion: staging is never part of the durable state, and the next open empties it
 * anyway), then the chunks go into the write's own batch.
 */
export async function planStaging(db: Db, plan: WritePlan, batch: StorageWrite): Promise<void> {
  const chunks = batch.stagedSnapshotChunks ?? [];
  let from = 0;
  for (let k = 0; k < chunks.length; k++) if (chunks[k]!.offset === 0) from = k;
  if (batch.discardStagedSnapshot || chunks[from]?.offset === 0) await db.clear(stagingRange);
  for (let k = from; k < chunks.length; k++) plan.put(stagedChunkKey(chunks[k]!.index, chunks[k]!.offset), chunks[k]!.data);
}

/**
 * The staged snapshot at `index`, joined into one buffer: read once its last chunk is written, to
 * restore it (the one full copy a received snapshot ever takes in memory). `where` names the
 * directory in the error when the area does not hold exactly `size` contiguous bytes.
 */
export async function readStagedSnapshot(db: Db, where: string, index: number, size: number): Promise<Uint8Array> {
  if (size === 0) return new Uint8Array(0);
  const out = new Uint8Array(size);
  let at = 0;
  const it = db.iterator({ gte: stagedChunkKey(index, 0), lt: stagedChunkKey(index + 1, 0) });
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
  if (at !== size) throw new Error(`the staging area in ${where} holds ${at} contiguous bytes of snapshot ${index}, not ${size}`);
  return out;
}

/** How far the staging area reaches (offset + length of its last chunk), touching one chunk. */
export async function stagedSnapshotBytes(db: Db): Promise<number> {
  const last = await firstRow(db, { ...stagingRange, reverse: true });
  return last === undefined ? 0 : readUint64(last[0], 9) + last[1].byteLength;
}
