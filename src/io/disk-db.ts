/**
 * The LevelDB database under a DiskStorage, and the few ways it is touched: one durable batch,
 * one row, one record.
 */
import type { Level } from 'level';

export type Db = Level<Uint8Array, Uint8Array>;

export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/**
 * Writes operations as one atomic LevelDB batch, with `sync: true` (fsync of the write-ahead log
 * before it resolves) unless `sync` is false (a commit-index-only write; see StorageWrite.sync). Built as a chained batch: abstract-level's array form clones every operation
 * together with the options, which costs several times more per entry on the hot path.
 */
export async function writeDurably(db: Db, ops: readonly BatchOp[], sync = true): Promise<void> {
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
  await batch.write({ sync });
}

/** The first row of a range (the last with `reverse`), or undefined when it is empty. */
export async function firstRow(db: Db, options: { readonly gte: Uint8Array; readonly lt: Uint8Array; readonly reverse?: boolean }): Promise<[Uint8Array, Uint8Array] | undefined> {
  const it = db.iterator({ ...options, limit: 1 });
  try {
    const rows = await it.nextv(1);
    return rows[0];
  } finally {
    await it.close();
  }
}

/** The record under `key`, decoded, or undefined when it was never written. */
export async function getRecord<T>(db: Db, key: Uint8Array, decodeValue: (key: Uint8Array, bytes: Uint8Array) => T): Promise<T | undefined> {
  const bytes = await db.get(key);
  return bytes === undefined ? undefined : decodeValue(key, bytes);
}
