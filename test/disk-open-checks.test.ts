/**
 * DiskStorage.open refuses a data directory whose records contradict each other, naming the
 * directory, the records, the numbers and the replace procedure (StorageInconsistentError).
 *
 * The damage is done on a real LevelDB directory through the store's own key layout (`diskKeys`)
 * and record format, behind DiskStorage's back: each case is what a lost or mixed-up write leaves.
 * The last test damages the LevelDB files themselves (a `.log` tail cut off) and shows what open
 * cannot see: the directory is then an earlier, consistent state (the run-time guard covers it).
 */
import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StorageCorruptionError, StorageInconsistentError } from '../src/errors.ts';
import { decode, encode } from '../src/raft/codec.ts';
import { DiskStorage } from '../src/io/disk-storage.ts';
import { describeKey, diskKeys } from '../src/io/disk-keys.ts';
import { loadPersistedState } from '../src/io/load-state.ts';
import { entries, rejects, tempDir, type RawDb, withRawDb } from './fixtures/log-fixtures.ts';


/** A healthy member's directory: snapshot at 5 (term 2), entries 6..12 (term 3), term 4, commit 10. */
async function healthyDir(): Promise<{ path: string; remove(): void }> {
  const dir = tempDir('open-checks-');
  const s = await DiskStorage.open(dir.path, { nodeId: 1 });
  await s.saveEntries(entries(1, 5, 2));
  await s.write({
    snapshot: { metadata: { index: 5, term: 2, confState: { voters: [1, 2, 3], learners: [] } }, data: new TextEncoder().encode('state at 5') },
    hardState: { term: 2, vote: 1, commit: 5 },
  });
  await s.write({ entries: entries(6, 12, 3), hardState: { term: 4, vote: 1, commit: 10 }, confState: { voters: [1, 2, 3], learners: [] } });
  await s.close();
  return dir;
}

interface Damage {
  readonly name: string;
  readonly damage: (db: RawDb) => Promise<void>;
  /** The records the error names. */
  readonly key: string;
  /** What it says is inconsistent, with the numbers. */
  readonly detail: RegExp;
}

const damages: Damage[] = [
  {
    name: 'log tail lost below the durable commit index',
    damage: async (db) => {
      for (let i = 9; i <= 12; i++) await db.del(diskKeys.entry(i));
    },
    key: 'hardState',
    detail: /durable commit index is 10 but the log ends at index 8: committed entries 9\.\.10 are gone/,
  },
  {
    name: 'hard state commit ahead of the log',
    damage: (db) => db.put(diskKeys.hardState, encode({ term: 4, vote: 1, commit: 40 })),
    key: 'hardState',
    detail: /durable commit index is 40 but the log ends at index 12/,
  },
  {
    name: 'hard state term below the last entry\'s term',
    damage: (db) => db.put(diskKeys.hardState, encode({ term: 2, vote: 1, commit: 10 })),
    key: 'hardState, entry/12',
    detail: /term is 2 but the last entry \(index 12\) has term 3/,
  },
  {
    name: 'gap in the entries',
    damage: (db) => db.del(diskKeys.entry(8)),
    key: 'entry/8',
    detail: /entry is missing although the log spans 6\.\.12/,
  },
  {
    name: 'log start of another term than the snapshot',
    damage: (db) => db.put(diskKeys.logStart, encode({ index: 5, term: 1 })),
    key: 'logStart, snapshotMeta',
    detail: /log starts after index 5 of term 1 but the snapshot at that index has term 2/,
  },
  {
    name: 'snapshot beyond the log start (entries do not follow the snapshot)',
    damage: async (db) => {
      const record = decode<Record<string, unknown>>((await db.get(diskKeys.snapshotMeta))!);
      await db.put(diskKeys.snapshotMeta, encode({ ...record, index: 7 }));
    },
    key: 'logStart, snapshotMeta',
    detail: /log starts after index 5 but the snapshot covers up to index 7/,
  },
  {
    name: 'conf state missing although the snapshot has members',
    damage: (db) => db.del(diskKeys.confState),
    key: 'confState, snapshotMeta',
    detail: /snapshot at index 5 has 3 members but the stored membership is empty/,
  },
  {
    name: 'a voter that is also a learner',
    damage: (db) => db.put(diskKeys.confState, encode({ voters: [1, 2, 3], learners: [3] })),
    key: 'confState',
    detail: /node\(s\) 3 are both voters and learners/,
  },
  {
    name: 'snapshot chunk missing',
    damage: async (db) => {
      const generation = await generationOf(db);
      await db.del(diskKeys.snapshotChunk(generation, 0));
    },
    key: 'snapshotMeta, snapshotChunk/0',
    detail: /snapshot at index 5 has 10 bytes in chunks of \d+ \(1 chunks\) but 0 chunks are stored/,
  },
];

async function generationOf(db: RawDb): Promise<number> {
  for await (const key of db.keys()) {
    const name = describeKey(key);
    if (name.startsWith('snapshotChunk/')) return Number(name.split('/')[1]);
  }
  throw new Error('no snapshot chunk');
}

test('a healthy directory opens (the baseline every damage below departs from)', async () => {
  const dir = await healthyDir();
  try {
    const s = await DiskStorage.open(dir.path, { nodeId: 1 });
    assert.equal(await s.initialState(), { hardState: { term: 4, vote: 1, commit: 10 }, confState: { voters: [1, 2, 3], learners: [] } });
    assert.is(await s.firstIndex(), 6);
    assert.is(await s.lastIndex(), 12);
    await s.close();
    assert.ok((await withRawDb(dir.path, generationOf)) > 0, 'the snapshot is stored in chunks');
  } finally {
    dir.remove();
  }
});

for (const d of damages) {
  test(`open refuses: ${d.name}`, async () => {
    const dir = await healthyDir();
    try {
      await withRawDb(dir.path, d.damage);
      const err = (await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageInconsistentError, d.detail)) as StorageInconsistentError;
      assert.instance(err, StorageCorruptionError, 'callers that catch StorageCorruptionError see it too');
      assert.is(err.key, d.key);
      assert.is(err.dataDir, dir.path);
      assert.ok(err.message.includes(dir.path), 'the message names the directory');
      assert.match(err.message, /actor-raft member remove <id>.*actor-raft member add <id> <addr>.*--join.*empty data directory/);
      assert.match(err.message, /Replace a failed member/);
      // Refused, not repaired: the directory is left as it was for an operator to look at.
      await rejects(DiskStorage.open(dir.path, { nodeId: 1 }), StorageInconsistentError, d.detail);
    } finally {
      dir.remove();
    }
  });
}

test('loading a log whose terms decrease is refused, naming the entry and the directory', async () => {
  const dir = tempDir('open-checks-terms-');
  try {
    const s = await DiskStorage.open(dir.path, { nodeId: 1 });
    // Each write is allowed by the Storage contract; together they are no Raft log.
    await s.write({ entries: entries(1, 3, 3), hardState: { term: 3, vote: 1, commit: 1 } });
    await s.saveEntries(entries(4, 5, 2));
    const err = (await rejects(loadPersistedState(s, dir.path), StorageInconsistentError, /entry 4 has term 2, older than term 3 of index 3/)) as StorageInconsistentError;
    assert.is(err.key, 'entry/4');
    assert.is(err.dataDir, dir.path);
    await s.close();
  } finally {
    dir.remove();
  }
});

test('a LevelDB .log tail cut off after a crash leaves an earlier, consistent state: open cannot see it', async () => {
  const dir = tempDir('open-checks-tail-');
  try {
    const s = await DiskStorage.open(dir.path, { nodeId: 1 });
    // One batch per entry, each with the commit that covers it, as a follower writes them.
    for (let i = 1; i <= 200; i++) await s.write({ entries: entries(i, i, 1), hardState: { term: 1, vote: 1, commit: i } });
    await s.close();
    const logs = readdirSync(dir.path).filter((f) => f.endsWith('.log') && f !== 'LOG');
    assert.is(logs.length, 1, `one LevelDB write-ahead log (found ${logs.join(', ')})`);
    const file = join(dir.path, logs[0]!);
    truncateSync(file, Math.floor(statSync(file).size * 0.6));
    const reopened = await DiskStorage.open(dir.path, { nodeId: 1 });
    try {
      const last = await reopened.lastIndex();
      const { hardState } = await reopened.initialState();
      assert.ok(last < 200 && last > 0, `the tail is gone (last index ${last})`);
      assert.is(hardState.commit, last, 'the hard state lost its tail with the entries: nothing contradicts');
    } finally {
      await reopened.close();
    }
  } finally {
    dir.remove();
  }
});

test.run();
