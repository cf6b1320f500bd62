/**
 * The storage actor: group commit (one storage write in flight, everything submitted meanwhile
 * merged into the next), merging that preserves log-overwrite and snapshot semantics, the failure
 * path (never report what was not written), and stop() draining the queue. Real DiskStorage
 * underneath wherever timing does not need to be controlled.
 */
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageActor } from '../src/actors/storage-actor.ts';
import { mergeWrites, type QueuedWrite } from '../src/actors/merge-writes.ts';
import { StoppedError, StorageWriteFailedError, UnavailableError } from '../src/errors.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import type { Storage, StorageWrite } from '../src/io/storage.ts';
import type { Snapshot } from '../src/raft/raftpb.ts';
import { RecordingStorage } from './fixtures/recording-store.ts';
import { entries, entry, observeStorage, plainEntries, seededRandom, tempDir } from './fixtures/log-fixtures.ts';

async function withDisk<T>(fn: (disk: DiskStorage) => Promise<T>): Promise<T> {
  const dir = tempDir('storage-actor-');
  const disk = await DiskStorage.open(dir.path, { nodeId: 1 });
  try {
    return await fn(disk);
  } finally {
    await disk.close();
    dir.remove();
  }
}

function collect(actor: StorageActor): { seqs: number[]; error?: unknown; completed: boolean } {
  const seen: { seqs: number[]; error?: unknown; completed: boolean } = { seqs: [], completed: false };
  actor.persisted$.subscribe({
    next: (seq) => seen.seqs.push(seq),
    error: (err: unknown) => (seen.error = err),
    complete: () => (seen.completed = true),
  });
  return seen;
}


function snapshot(index: number, term: number): Snapshot {
  return { data: Uint8Array.of(index, term), metadata: { index, term, confState: { voters: [1, 2, 3], learners: [] } } };
}

test('an idle actor writes at once: storage.write is called inside submit()', async () => {
  await withDisk(async (disk) => {
    const storage = new RecordingStorage(disk);
    const actor = new StorageActor(storage);
    const seq = actor.submit({ entries: [entry(1, 1)] });
    assert.is(seq, 1);
    assert.is(storage.writes.length, 1, 'no batching delay when idle');
    assert.is(await firstValueFrom(actor.persisted$), 1);
    assert.is(actor.persistedSeq, 1);
    await actor.stop();
  });
});

test('group commit: writes submitted while one is in flight go to disk in ONE next write, all reported in order', async () => {
  await withDisk(async (disk) => {
    const storage = new RecordingStorage(disk);
    const actor = new StorageActor(storage);
    const seen = collect(actor);
    storage.hold();
    actor.submit({ entries: [entry(1, 1)], hardState: { term: 1, vote: 1, commit: 0 } });
    for (let i = 2; i <= 200; i++) actor.submit({ entries: [entry(i, 1)], hardState: { term: 1, vote: 1, commit: i - 1 } });
    assert.is(storage.writes.length, 1, 'only the first write is in flight');
    storage.release();
    await actor.stop();
    assert.is(storage.writes.length, 2, 'the 199 queued writes became one storage write');
    assert.equal(plainEntries(storage.writes[1]!.entries ?? []), plainEntries(entries(2, 200, 1)));
    assert.equal(storage.writes[1]!.hardState, { term: 1, vote: 1, commit: 199 }, 'the latest hard state wins');
    assert.equal(seen.seqs, [1, 200]);
    assert.ok(seen.completed, 'persisted$ completes on stop()');
    assert.equal(actor.stats, { submitted: 200, persisted: 200, storageWrites: 2, entriesWritten: 200, syncedWrites: 2 });
    assert.equal(plainEntries(await disk.entries(1, 201)), plainEntries(entries(1, 200, 1)));
    assert.equal((await disk.initialState()).hardState, { term: 1, vote: 1, commit: 199 });
  });
});

test('group commit under a steady stream: fewer storage writes than submissions, every sequence acknowledged once, in order', async () => {
  await withDisk(async (disk) => {
    const storage = new RecordingStorage(disk);
    const actor = new StorageActor(storage);
    const seen = collect(actor);
    let next = 1;
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 5; k++) {
        actor.submit({ entries: entries(next, next + 9, 1) });
        next += 10;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await actor.stop();
    assert.ok(storage.writes.length < 200, `expected merging, got ${storage.writes.length} writes for 200 submissions`);
    assert.ok(seen.seqs.every((s, k) => k === 0 || s > seen.seqs[k - 1]!), 'strictly increasing');
    assert.is(seen.seqs[seen.seqs.length - 1], 200);
    assert.is(await disk.lastIndex(), 2000);
    assert.equal(plainEntries(await disk.entries(1, 2001)), plainEntries(entries(1, 2000, 1)));
  });
});

/**
 * Scenarios submitted while a first write is held in flight: the outcome on disk through the actor
 * must equal applying the same writes one by one to a MemoryStorage.
 */
const mergeScenarios: { name: string; initial: StorageWrite; queued: StorageWrite[]; storageWrites: number; maxBatchEntries?: number }[] = [
  { name: 'appends concatenate', initial: { entries: entries(1, 3, 1) }, queued: [{ entries: entries(4, 5, 1) }, { entries: entries(6, 9, 1) }], storageWrites: 2 },
  {
    name: 'an overwrite truncates the merged list',
    initial: { entries: entries(1, 3, 1) },
    queued: [{ entries: entries(4, 8, 1) }, { entries: entries(6, 7, 2) }, { entries: entries(8, 8, 2) }],
    storageWrites: 2,
  },
  {
    name: 'an overwrite starting at the merged list replaces it',
    initial: { entries: entries(1, 6, 1) },
    queued: [{ entries: entries(7, 9, 1) }, { entries: entries(7, 8, 3) }],
    storageWrites: 2,
  },
  {
    name: 'an overwrite reaching before the merged list starts a new write (and truncates the disk)',
    initial: { entries: entries(1, 6, 1) },
    queued: [{ entries: entries(7, 9, 1) }, { entries: entries(5, 6, 3) }, { entries: entries(7, 7, 3) }],
    storageWrites: 3,
  },
  {
    name: 'hard and conf state: the latest of each wins',
    initial: { entries: entries(1, 2, 1) },
    queued: [
      { hardState: { term: 2, vote: 1, commit: 1 }, confState: { voters: [1, 2], learners: [] } },
      { entries: entries(3, 3, 2), hardState: { term: 2, vote: 1, commit: 2 } },
      { hardState: { term: 3, vote: 0, commit: 3 } },
    ],
    storageWrites: 2,
  },
  {
    name: 'a snapshot starts a new storage write; later entries join it',
    initial: { entries: entries(1, 4, 1) },
    queued: [{ entries: entries(5, 8, 1) }, { snapshot: snapshot(6, 1) }, { entries: entries(9, 10, 1) }, { hardState: { term: 1, vote: 2, commit: 9 } }],
    storageWrites: 3,
  },
  {
    name: 'a conflicting snapshot discards the merged entries before it',
    initial: { entries: entries(1, 4, 1) },
    queued: [{ entries: entries(5, 8, 1) }, { snapshot: snapshot(7, 2) }, { entries: entries(6, 9, 2) }],
    storageWrites: 3,
  },
  {
    name: 'entries a leading snapshot covers are dropped',
    initial: { entries: entries(1, 2, 1) },
    queued: [{ snapshot: snapshot(10, 3) }, { entries: entries(8, 12, 3) }, { entries: entries(4, 9, 3) }],
    storageWrites: 2,
  },
  { name: 'maxBatchEntries splits a group', initial: { entries: entries(1, 1, 1) }, queued: [{ entries: entries(2, 4, 1) }, { entries: entries(5, 7, 1) }, { entries: entries(8, 10, 1) }], storageWrites: 3, maxBatchEntries: 6 },
];

for (const s of mergeScenarios) {
  test(`merging: ${s.name}`, async () => {
    const reference = new MemoryStorage();
    for (const w of [s.initial, ...s.queued]) await reference.write(w);
    await withDisk(async (disk) => {
      const storage = new RecordingStorage(disk);
      const actor = new StorageActor(storage, s.maxBatchEntries ? { maxBatchEntries: s.maxBatchEntries } : {});
      const seen = collect(actor);
      storage.hold();
      actor.submit(s.initial);
      for (const w of s.queued) actor.submit(w);
      storage.release();
      await actor.stop();
      assert.is(storage.writes.length, s.storageWrites, 'storage writes');
      assert.is(seen.seqs[seen.seqs.length - 1], 1 + s.queued.length, 'every submission acknowledged');
      assert.equal(await observeStorage(disk), await observeStorage(reference));
    });
  });
}

test('mergeWrites equals writing one by one, for random write sequences (seeded)', async () => {
  for (let seed = 1; seed <= 60; seed++) {
    const random = seededRandom(seed);
    const pick = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    const sequential = new MemoryStorage();
    const accepted: QueuedWrite[] = [];
    // Only writes that succeed one by one (a refused write ends the actor anyway), and, like Raft's,
    // never entries at or below the compaction point.
    for (let k = 0; accepted.length < 25 && k < 200; k++) {
      const first = await sequential.firstIndex();
      const last = await sequential.lastIndex();
      const term = pick(1, 4);
      const from = pick(first, last + 1);
      const write: StorageWrite = {
        ...(random() < 0.12 ? { snapshot: snapshot(pick(first, last + 3), random() < 0.5 && last >= first ? await sequential.term(pick(first, last)) : term) } : {}),
        ...(random() < 0.8 ? { entries: entries(from, from + pick(0, 5) - 1, term) } : {}),
        ...(random() < 0.5 ? { hardState: { term, vote: pick(0, 3), commit: pick(0, 9) } } : {}),
      };
      try {
        await sequential.write(write);
        accepted.push({ seq: accepted.length + 1, write });
      } catch {
        // refused one by one: not part of the sequence
      }
    }
    const merged = mergeWrites(accepted, { maxBatchEntries: pick(3, 40), maxBatchBytes: 1 << 20 });
    const viaMerge = new MemoryStorage();
    for (const m of merged) await viaMerge.write(m.write);
    assert.equal(await observeStorage(viaMerge), await observeStorage(sequential), `seed ${seed}: ${merged.length} merged writes`);
    assert.equal(
      merged.map((m) => m.lastSeq),
      merged.map((m) => m.lastSeq).sort((a, b) => a - b),
      'merged writes cover the sequence in order',
    );
    assert.is(merged[merged.length - 1]?.lastSeq, accepted.length);
  }
});

test('a failed write is never reported: errors$ and persisted$ error, later submits throw', async () => {
  await withDisk(async (disk) => {
    const storage = new RecordingStorage(disk);
    const actor = new StorageActor(storage);
    const seen = collect(actor);
    const errors: Error[] = [];
    actor.errors$.subscribe((err) => errors.push(err));
    storage.failWrite(2, new Error('EIO: disk on fire'));
    actor.submit({ entries: entries(1, 2, 1) });
    storage.hold();
    await new Promise((resolve) => setImmediate(resolve));
    actor.submit({ entries: entries(3, 4, 1) }); // write #2: fails
    actor.submit({ entries: entries(5, 6, 1) }); // queued behind it
    storage.release();
    await actor.stop();
    assert.equal(seen.seqs, [1], 'only the write that reached the disk is reported');
    assert.instance(seen.error, StorageWriteFailedError);
    assert.is(errors.length, 1);
    assert.instance(errors[0], StorageWriteFailedError);
    assert.match(errors[0]!.message, /disk on fire/);
    assert.match(errors[0]!.message, /after sequence 1/);
    assert.is(actor.persistedSeq, 1);
    assert.throws(() => actor.submit({ entries: entries(3, 3, 1) }), (err: unknown) => err instanceof StorageWriteFailedError);
    assert.is(await disk.lastIndex(), 2, 'nothing after the failure reached the disk');
    await lastValueFrom(actor.persisted$).then(
      () => assert.unreachable('persisted$ must error for late subscribers too'),
      (err: unknown) => assert.instance(err, StorageWriteFailedError),
    );
  });
});

test('a write the storage itself refuses (a log gap) stops the actor the same way', async () => {
  const storage = new MemoryStorage();
  const actor = new StorageActor(storage);
  const seen = collect(actor);
  actor.submit({ entries: entries(1, 3, 1) });
  actor.submit({ entries: entries(7, 8, 1) });
  actor.submit({ entries: entries(4, 5, 1) });
  await actor.stop();
  assert.equal(seen.seqs, [1]);
  assert.instance(seen.error, StorageWriteFailedError);
  assert.instance((seen.error as StorageWriteFailedError).cause, UnavailableError);
  assert.is(await storage.lastIndex(), 3);
});

test('stop() drains every queued write, then refuses new ones; the storage stays open', async () => {
  await withDisk(async (disk) => {
    const actor = new StorageActor(disk);
    const all = lastValueFrom(actor.persisted$.pipe(toArray()));
    for (let i = 1; i <= 50; i++) actor.submit({ entries: [entry(i, 1)] });
    await actor.stop();
    assert.is(actor.persistedSeq, 50);
    const seqs = await all;
    assert.is(seqs[seqs.length - 1], 50);
    assert.throws(() => actor.submit({ entries: [entry(51, 1)] }), (err: unknown) => err instanceof StoppedError);
    assert.is(await disk.lastIndex(), 50, 'the storage is still open and has everything');
    await actor.stop(); // idempotent
  });
});

test('reads on the DiskStorage do not wait behind a large write in flight', async () => {
  await withDisk(async (disk) => {
    await disk.saveEntries(entries(1, 10, 1));
    const actor = new StorageActor(disk, { maxBatchEntries: 100_000, maxBatchBytes: 64 << 20 });
    const big = Array.from({ length: 30_000 }, (_, k) => ({ ...entry(11 + k, 1), data: new Uint8Array(1024).fill(k & 0xff) }));
    const order: string[] = [];
    const written = firstValueFrom(actor.persisted$).then(() => order.push('write'));
    actor.submit({ entries: big });
    const read = disk.entries(2, 6).then((got) => {
      order.push('read');
      assert.equal(plainEntries(got), plainEntries(entries(2, 5, 1)));
    });
    await Promise.all([written, read]);
    assert.equal(order, ['read', 'write']);
    await actor.stop();
  });
});

test.run();
