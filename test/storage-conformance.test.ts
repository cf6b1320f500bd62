/**
 * One suite, run against every Storage: MemoryStorage (the reference, etcd's MemoryStorage
 * semantics) and DiskStorage (real LevelDB in a temp dir). Whatever one does, the other must do.
 * A seeded differential run at the end drives both with the same random operations and compares
 * everything observable after each one.
 */
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from '../src/errors.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { MemoryStorage } from '../src/io/memory-storage.ts';
import type { Storage } from '../src/io/storage.ts';
import { type ConfState, type Entry, EntryType, type HardState, type Snapshot } from '../src/raft/raftpb.ts';
import { entries, entry, observeStorage, plainEntries, rejects, seededRandom, tempDir } from './fixtures/log-fixtures.ts';

interface StorageUnderTest {
  storage: Storage;
  /** Closes and opens the same store again (durable stores only). */
  reopen?: () => Promise<void>;
  dispose(): Promise<void>;
}

type Factory = () => Promise<StorageUnderTest>;

const memoryFactory: Factory = async () => ({ storage: new MemoryStorage(), dispose: async () => {} });

const diskFactory: Factory = async () => {
  const dir = tempDir('conformance-');
  const sut: StorageUnderTest = {
    storage: await DiskStorage.open(dir.path, { nodeId: 1, snapshotChunkSize: 16 }),
    reopen: async () => {
      await sut.storage.close();
      sut.storage = await DiskStorage.open(dir.path, { nodeId: 1, snapshotChunkSize: 16 });
    },
    dispose: async () => {
      await sut.storage.close();
      dir.remove();
    },
  };
  return sut;
};

const confState = (voters: number[], learners: number[] = []): ConfState => ({ voters, learners });

function snapshot(index: number, term: number, cs: ConfState = confState([1, 2, 3]), data = `state machine at ${index}`): Snapshot {
  return { data: new TextEncoder().encode(data), metadata: { index, term, confState: cs } };
}

async function logOf(s: Storage): Promise<{ first: number; last: number; entries: ReturnType<typeof plainEntries> }> {
  const first = await s.firstIndex();
  const last = await s.lastIndex();
  return { first, last, entries: plainEntries(await s.entries(first, last + 1)) };
}

async function expectLog(s: Storage, first: number, expected: readonly Entry[]): Promise<void> {
  const got = await logOf(s);
  assert.equal(got.first, first, 'firstIndex');
  assert.equal(got.last, expected.length > 0 ? expected[expected.length - 1]!.index : first - 1, 'lastIndex');
  assert.equal(got.entries, plainEntries(expected));
}

/** Registers the suite for one Storage; `durable` stores also get the close-and-reopen case. */
function conformance(name: string, factory: Factory, durable: boolean): void {
  const it = suite<{ sut: StorageUnderTest }>(`${name} conformance`, {} as { sut: StorageUnderTest });
  it.before.each(async (ctx) => {
    ctx.sut = await factory();
  });
  it.after.each(async (ctx) => {
    await ctx.sut.dispose();
  });

  it('a fresh store is empty: zero hard state, index 0 with term 0, empty snapshot', async ({ sut }) => {
    const s = sut.storage;
    assert.equal(await s.initialState(), { hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [], learners: [] } });
    assert.is(await s.firstIndex(), 1);
    assert.is(await s.lastIndex(), 0);
    assert.is(await s.term(0), 0);
    assert.equal(await s.entries(1, 1), []);
    const snap = await s.snapshot();
    assert.is(snap.metadata.index, 0);
    assert.is(snap.data.length, 0);
    await rejects(s.term(1), UnavailableError);
    await rejects(s.entries(0, 1), CompactedError);
    await rejects(s.entries(1, 2), UnavailableError);
  });

  it('saveState and initialState round-trip the hard state', async ({ sut }) => {
    const hs: HardState = { term: 7, vote: 3, commit: 5 };
    await sut.storage.saveState(hs);
    assert.equal((await sut.storage.initialState()).hardState, hs);
    await sut.storage.saveState({ term: 8, vote: 0, commit: 5 });
    assert.equal((await sut.storage.initialState()).hardState, { term: 8, vote: 0, commit: 5 });
  });

  it('entries and term over ranges of a log 1..5 (terms 1,1,2,2,3)', async ({ sut }) => {
    const s = sut.storage;
    const log = [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2), entry(5, 3, EntryType.ConfChange)];
    await s.saveEntries(log);
    const ranges: [lo: number, hi: number, expected: Entry[] | typeof CompactedError | typeof UnavailableError][] = [
      [1, 6, log],
      [1, 1, []],
      [3, 3, []],
      [2, 4, log.slice(1, 3)],
      [5, 6, log.slice(4)],
      [6, 6, []],
      [0, 2, CompactedError],
      [4, 7, UnavailableError],
      [7, 9, UnavailableError],
    ];
    for (const [lo, hi, expected] of ranges) {
      if (Array.isArray(expected)) assert.equal(plainEntries(await s.entries(lo, hi)), plainEntries(expected), `entries(${lo}, ${hi})`);
      else await rejects(s.entries(lo, hi), expected);
    }
    const terms: [i: number, expected: number | typeof UnavailableError][] = [
      [0, 0],
      [1, 1],
      [3, 2],
      [4, 2],
      [5, 3],
      [6, UnavailableError],
    ];
    for (const [i, expected] of terms) {
      if (typeof expected === 'number') assert.is(await s.term(i), expected, `term(${i})`);
      else await rejects(s.term(i), expected);
    }
  });

  it('saveEntries overwrites the log at and above the first new index (§5.3)', async ({ sut }) => {
    const cases: { name: string; append: Entry[]; expected: Entry[] }[] = [
      { name: 'append after the end', append: entries(6, 7, 1), expected: entries(1, 7, 1) },
      { name: 'overwrite the tail', append: entries(4, 6, 2), expected: [...entries(1, 3, 1), ...entries(4, 6, 2)] },
      { name: 'truncate to a shorter log', append: [entry(2, 3)], expected: [entry(1, 1), entry(2, 3)] },
      { name: 'replace everything', append: entries(1, 2, 4), expected: entries(1, 2, 4) },
      { name: 'rewrite the same entries', append: entries(3, 5, 1), expected: entries(1, 5, 1) },
      { name: 'nothing', append: [], expected: entries(1, 5, 1) },
    ];
    // Each case starts from the log 1..5 (term 1), restored by overwriting from index 1.
    for (const c of cases) {
      await sut.storage.saveEntries(entries(1, 5, 1));
      await sut.storage.saveEntries(c.append);
      await expectLog(sut.storage, 1, c.expected);
      if (c.expected.length < 5) {
        await rejects(sut.storage.term(c.expected.length + 1), UnavailableError);
      }
    }
  });

  it('saveEntries refuses a gap and leaves the log unchanged', async ({ sut }) => {
    await sut.storage.saveEntries(entries(1, 3, 1));
    await rejects(sut.storage.saveEntries(entries(5, 6, 1)), UnavailableError);
    await expectLog(sut.storage, 1, entries(1, 3, 1));
  });

  it('compact moves the first index; the compaction point keeps its term', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries([...entries(1, 3, 1), ...entries(4, 6, 2)]);
    await s.compact(4);
    assert.is(await s.firstIndex(), 5);
    assert.is(await s.lastIndex(), 6);
    assert.is(await s.term(4), 2, 'term of the compaction point');
    await rejects(s.term(3), CompactedError);
    await rejects(s.entries(4, 6), CompactedError);
    assert.equal(plainEntries(await s.entries(5, 7)), plainEntries(entries(5, 6, 2)));
    const invalid: [index: number, error: typeof CompactedError | typeof UnavailableError][] = [
      [3, CompactedError],
      [4, CompactedError],
      [7, UnavailableError],
    ];
    for (const [i, error] of invalid) await rejects(s.compact(i), error);
    await s.compact(6);
    await expectLog(s, 7, []);
    assert.is(await s.term(6), 2);
    await s.saveEntries(entries(7, 8, 3));
    await expectLog(s, 7, entries(7, 8, 3));
  });

  it('saveEntries skips entries already compacted away', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries(entries(1, 5, 1));
    await s.compact(3);
    await s.saveEntries(entries(1, 2, 9)); // entirely compacted: ignored
    await expectLog(s, 4, entries(4, 5, 1));
    await s.saveEntries(entries(2, 6, 2)); // 2..3 compacted, 4..6 overwrite
    await expectLog(s, 4, entries(4, 6, 2));
  });

  it('a snapshot that matches the log keeps the tail after it (§7)', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries([...entries(1, 3, 1), ...entries(4, 6, 2)]);
    await s.saveSnapshot(snapshot(4, 2));
    await expectLog(s, 5, entries(5, 6, 2));
    assert.is(await s.term(4), 2);
    const snap = await s.snapshot();
    assert.equal(snap.metadata, { index: 4, term: 2, confState: confState([1, 2, 3]) });
    assert.is(new TextDecoder().decode(snap.data), 'state machine at 4');
    assert.equal((await s.initialState()).confState, confState([1, 2, 3]), 'the snapshot brings its conf state');
  });

  it('a snapshot that conflicts with the log, or lies beyond it, replaces the whole log', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries(entries(1, 6, 1));
    await s.saveSnapshot(snapshot(4, 2)); // term 2 at index 4 conflicts with term 1
    await expectLog(s, 5, []);
    assert.is(await s.term(4), 2);
    await rejects(s.term(5), UnavailableError);
    await s.saveSnapshot(snapshot(10, 3));
    await expectLog(s, 11, []);
    await s.saveEntries(entries(11, 12, 3));
    await expectLog(s, 11, entries(11, 12, 3));
    await rejects(s.saveEntries([entry(14, 3)]), UnavailableError);
  });

  it('an older or equal snapshot is refused with SnapshotOutOfDateError and changes nothing', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries(entries(1, 6, 1));
    await s.saveSnapshot(snapshot(4, 1));
    for (const index of [4, 3, 1]) await rejects(s.saveSnapshot(snapshot(index, 1)), SnapshotOutOfDateError);
    assert.is((await s.snapshot()).metadata.index, 4);
    await expectLog(s, 5, entries(5, 6, 1));
  });

  it('write() applies snapshot, entries, hard state and conf state together', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries(entries(1, 3, 1));
    await s.write({
      snapshot: snapshot(5, 2, confState([1, 2])),
      entries: entries(6, 8, 2),
      hardState: { term: 2, vote: 1, commit: 6 },
      confState: confState([1, 2, 3], [4]),
    });
    await expectLog(s, 6, entries(6, 8, 2));
    assert.equal(await s.initialState(), { hardState: { term: 2, vote: 1, commit: 6 }, confState: confState([1, 2, 3], [4]) });
    assert.is((await s.snapshot()).metadata.index, 5);
    await s.write({ hardState: { term: 3, vote: 2, commit: 7 } });
    await expectLog(s, 6, entries(6, 8, 2));
    assert.equal((await s.initialState()).hardState, { term: 3, vote: 2, commit: 7 });
    await s.write({});
    await expectLog(s, 6, entries(6, 8, 2));
  });

  it('a write() that fails changes nothing (atomic)', async ({ sut }) => {
    const s = sut.storage;
    await s.saveEntries(entries(1, 3, 1));
    await s.saveState({ term: 1, vote: 1, commit: 1 });
    // The snapshot is valid, the entries leave a gap after it: the whole write must be refused.
    await rejects(s.write({ snapshot: snapshot(5, 2), entries: entries(9, 9, 2), hardState: { term: 2, vote: 2, commit: 5 } }), UnavailableError);
    await expectLog(s, 1, entries(1, 3, 1));
    assert.equal((await s.initialState()).hardState, { term: 1, vote: 1, commit: 1 });
    assert.is((await s.snapshot()).metadata.index, 0);
    await rejects(s.write({ entries: entries(5, 5, 1), hardState: { term: 9, vote: 9, commit: 9 } }), UnavailableError);
    assert.equal((await s.initialState()).hardState, { term: 1, vote: 1, commit: 1 });
  });

  if (durable) it('survives close and open: log, compaction point, snapshot, hard and conf state', async (ctx) => {
    const sut = ctx.sut;
    await sut.storage.saveEntries(entries(1, 10, 1));
    await sut.storage.saveSnapshot(snapshot(4, 1, confState([1, 2, 3]), 'a snapshot longer than one 16 byte chunk'));
    await sut.storage.compact(6);
    await sut.storage.saveEntries(entries(9, 12, 2));
    await sut.storage.write({ hardState: { term: 2, vote: 3, commit: 9 }, confState: confState([1, 2], [3]) });
    const before = {
      log: await logOf(sut.storage),
      state: await sut.storage.initialState(),
      snap: await sut.storage.snapshot(),
      term6: await sut.storage.term(6),
    };
    await sut.reopen!();
    const after = {
      log: await logOf(sut.storage),
      state: await sut.storage.initialState(),
      snap: await sut.storage.snapshot(),
      term6: await sut.storage.term(6),
    };
    assert.equal(after.log, before.log);
    assert.equal(after.state, before.state);
    assert.equal(after.snap.metadata, before.snap.metadata);
    assert.equal([...after.snap.data], [...before.snap.data]);
    assert.is(after.term6, 1);
    assert.is(after.log.first, 7);
    assert.is(after.log.last, 12);
  });

  it.run();
}

conformance('MemoryStorage', memoryFactory, false);
conformance('DiskStorage', diskFactory, true);

// ---------------------------------------------------------------------------------------------
// Differential: the same random operations on both, everything observable compared after each.
// ---------------------------------------------------------------------------------------------


async function outcome(op: Promise<void>): Promise<string> {
  try {
    await op;
    return 'ok';
  } catch (err) {
    return (err as Error).constructor.name;
  }
}

type Operation = { describe: string; apply(s: Storage): Promise<void> };

async function randomOperation(random: () => number, reference: MemoryStorage): Promise<Operation> {
  const first = await reference.firstIndex();
  const last = await reference.lastIndex();
  const pick = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const term = pick(1, 6);
  const roll = random();
  if (roll < 0.45) {
    const from = pick(Math.max(1, first - 2), last + 2);
    const list = entries(from, from + pick(0, 6) - 1, term);
    return { describe: `saveEntries(${from}.., ${list.length}, t${term})`, apply: (s) => s.saveEntries(list) };
  }
  if (roll < 0.6) {
    const i = pick(first - 2, last + 1);
    return { describe: `compact(${i})`, apply: (s) => s.compact(i) };
  }
  if (roll < 0.75) {
    const index = pick(Math.max(0, first - 3), last + 3);
    let snapTerm = term;
    if (random() < 0.6 && index >= first - 1 && index <= last) snapTerm = await reference.term(index);
    const snap = snapshot(index, snapTerm, confState([1, pick(2, 5)]), `image ${index}/${snapTerm} ${'x'.repeat(pick(0, 40))}`);
    return { describe: `saveSnapshot(${index}, t${snapTerm})`, apply: (s) => s.saveSnapshot(snap) };
  }
  if (roll < 0.85) {
    const hs = { term, vote: pick(0, 3), commit: pick(0, last) };
    return { describe: `saveState(${JSON.stringify(hs)})`, apply: (s) => s.saveState(hs) };
  }
  const from = pick(Math.max(1, first - 1), last + 2);
  const snapIndex = pick(first - 1, last + 2);
  const write = {
    ...(random() < 0.3 ? { snapshot: snapshot(snapIndex, term) } : {}),
    entries: entries(from, from + pick(0, 4) - 1, term),
    hardState: { term, vote: 1, commit: 0 },
    ...(random() < 0.5 ? { confState: confState([1, 2, pick(3, 9)]) } : {}),
  };
  return { describe: `write(${JSON.stringify({ snap: write.snapshot?.metadata.index, from, n: write.entries.length })})`, apply: (s) => s.write(write) };
}

for (const seed of [1, 2, 3, 4]) {
  test(`DiskStorage behaves exactly like MemoryStorage under random operations (seed ${seed})`, async () => {
    const random = seededRandom(seed);
    const reference = new MemoryStorage();
    const dir = tempDir('differential-');
    let disk = await DiskStorage.open(dir.path, { snapshotChunkSize: 8, checkRaftInvariants: false });
    const history: string[] = [];
    try {
      for (let step = 0; step < 150; step++) {
        const op = await randomOperation(random, reference);
        history.push(op.describe);
        const expected = await outcome(op.apply(reference));
        const got = await outcome(op.apply(disk));
        const where = `seed ${seed}, step ${step}: ${history.slice(-5).join(' ; ')}`;
        assert.is(got, expected, `outcome differs at ${where}`);
        if (step % 25 === 24) {
          await disk.close();
          disk = await DiskStorage.open(dir.path, { snapshotChunkSize: 8, checkRaftInvariants: false });
        }
        assert.equal(await observeStorage(disk), await observeStorage(reference), `state differs at ${where}`);
      }
    } finally {
      await disk.close();
      dir.remove();
    }
  });
}

test.run();
