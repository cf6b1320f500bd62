/**
 * Storage benchmark (`npm run bench -- storage`): durable entries per second through the storage
 * actor on a real DiskStorage, fsyncs per second, and entries per fsync — how well group commit
 * shares one fsync among the Ready batches that arrive while a write is in flight.
 *
 * The producer plays a busy leader: Ready batches of BATCH_ENTRIES entries (plus a hard state with
 * the new commit index) arrive a few per event-loop turn, with at most WINDOW batches submitted and
 * not yet durable (the node's pipeline depth). Each configuration runs ROUNDS times in a fresh
 * directory; the median is printed. A reference row writes the same batches one fsync each, as a
 * node without group commit would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageActor } from '../src/actors/storage-actor.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import type { StorageWrite } from '../src/io/storage.ts';
import { type Entry, EntryType } from '../src/raft/raftpb.ts';

const ROUNDS = 5;
const BATCH_ENTRIES = 64;
const BATCHES_PER_TURN = 4;
const WINDOW = 64;

interface Measurement {
  readonly entriesPerSecond: number;
  readonly fsyncsPerSecond: number;
  readonly entriesPerFsync: number;
}

/** Ready batches built before the clock starts, so the numbers measure storage, not the producer. */
function readyBatches(entrySize: number, totalEntries: number): StorageWrite[] {
  const payload = new Uint8Array(entrySize).fill(0x5a);
  const batches: StorageWrite[] = [];
  for (let first = 1; first <= totalEntries; first += BATCH_ENTRIES) {
    const entries: Entry[] = [];
    for (let i = first; i < first + BATCH_ENTRIES && i <= totalEntries; i++) entries.push({ index: i, term: 1, type: EntryType.Normal, data: payload });
    batches.push({ entries, hardState: { term: 1, vote: 1, commit: first - 1 } });
  }
  return batches;
}

async function withFreshStorage<T>(fn: (storage: DiskStorage) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'storage-bench-'));
  const storage = await DiskStorage.open(dir, { nodeId: 1 });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** All batches through the storage actor, several per turn, at most WINDOW outstanding. */
async function throughActor(batches: readonly StorageWrite[]): Promise<Measurement> {
  return withFreshStorage(async (storage) => {
    const actor = new StorageActor(storage);
    let wake: (() => void) | undefined;
    actor.persisted$.subscribe(() => wake?.());
    const start = process.hrtime.bigint();
    let k = 0;
    while (k < batches.length) {
      for (let n = 0; n < BATCHES_PER_TURN && k < batches.length; n++) actor.submit(batches[k++]!);
      if (actor.stats.submitted - actor.persistedSeq >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
      else await nextTurn();
    }
    await actor.stop();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const { entriesWritten, storageWrites } = actor.stats;
    return { entriesPerSecond: entriesWritten / seconds, fsyncsPerSecond: storageWrites / seconds, entriesPerFsync: entriesWritten / storageWrites };
  });
}

/** The reference: each Ready batch written and fsynced on its own, one after another. */
async function oneFsyncPerBatch(batches: readonly StorageWrite[]): Promise<Measurement> {
  return withFreshStorage(async (storage) => {
    const start = process.hrtime.bigint();
    let entries = 0;
    for (const b of batches) {
      await storage.write(b);
      entries += b.entries!.length;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { entriesPerSecond: entries / seconds, fsyncsPerSecond: batches.length / seconds, entriesPerFsync: entries / batches.length };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function report(name: string, rounds: number, run: () => Promise<Measurement>): Promise<void> {
  const results: Measurement[] = [];
  for (let r = 0; r < rounds; r++) {
    (globalThis as { gc?: () => void }).gc?.();
    results.push(await run());
  }
  const eps = results.map((m) => m.entriesPerSecond);
  console.log(
    `${name.padEnd(44)} ${fmt(median(eps)).padStart(9)} entries/s  ` +
      `${fmt(median(results.map((m) => m.fsyncsPerSecond))).padStart(6)} fsyncs/s  ` +
      `${median(results.map((m) => m.entriesPerFsync)).toFixed(1).padStart(7)} entries/fsync  ` +
      `(entries/s min ${fmt(Math.min(...eps))}, max ${fmt(Math.max(...eps))}; median of ${rounds})`,
  );
}

console.log(`Ready batches of ${BATCH_ENTRIES} entries, ${BATCHES_PER_TURN} per event-loop turn, at most ${WINDOW} outstanding`);
for (const [entrySize, total] of [
  [16, 400_000],
  [1024, 100_000],
] as const) {
  const batches = readyBatches(entrySize, total);
  await report(`storage actor, ${entrySize} B entries (${fmt(total)})`, ROUNDS, () => throughActor(batches));
  const reference = batches.slice(0, Math.min(batches.length, 400));
  await report(`one fsync per batch, ${entrySize} B entries (${fmt(reference.length * BATCH_ENTRIES)})`, 3, () => oneFsyncPerBatch(reference));
}
